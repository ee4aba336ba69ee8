//! Crash safety: `dualroad serve` as a child process under a small load, rollbacks and
//! releases issued through the admin API, then SIGKILL at a random moment (seeded; the
//! seed is printed, `DUALROAD_CRASH_SEED` replays it) and a restart on the same data
//! dir. After every restart: the store opens, the audit chain verifies, and the switch
//! state is the last acknowledged one (an admin call that returned 200 survives; a call
//! cut off by the kill may or may not have landed, nothing else may differ).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dualroad::admin::client;
use dualroad::routing::SwitchState;
use dualroad::store::{SledStore, Store};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::gateway::{config_text, env_with, temp_dir, V31EU};
use crate::stub::Behaviour;
use crate::support::repo;

const ROUNDS: usize = 21;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A running `dualroad serve`, with the addresses it printed.
struct Served {
    child: Child,
    consumer: SocketAddr,
    admin: SocketAddr,
}

fn serve(config: &std::path::Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualroad"))
        .current_dir(repo())
        .env("RUST_LOG", "warn")
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dualroad serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let (mut consumer, mut admin) = (None, None);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix("dualroad: listener agencies on ") {
            consumer = rest.trim().parse().ok();
        }
        if let Some(rest) = line.strip_prefix("dualroad: admin on ") {
            admin = rest.trim().parse().ok();
            break;
        }
        seen.push(line);
    }
    std::thread::spawn(move || for _ in lines.by_ref() {});
    match (consumer, admin) {
        (Some(consumer), Some(admin)) => Served {
            child,
            consumer,
            admin,
        },
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not start:\n{}", seen.join("\n"));
        }
    }
}

/// The switch as a set of scopes (agency, service); reasons and times are not compared.
type Scopes = BTreeSet<(Option<String>, Option<String>)>;

fn scopes(s: &SwitchState) -> Scopes {
    s.entries
        .iter()
        .map(|e| (e.agency.clone(), e.service.clone()))
        .collect()
}

const SCOPES: [(Option<&str>, Option<&str>); 3] = [
    (Some("10000042"), None),
    (None, Some("getPatientSummary")),
    (None, None),
];

/// One switch change and its expected effect on the scope set.
#[derive(Clone, Debug)]
struct Op {
    rollback: bool,
    scope: (Option<String>, Option<String>),
}

impl Op {
    fn apply(&self, s: &mut Scopes) {
        if self.rollback {
            s.insert(self.scope.clone());
        } else {
            s.remove(&self.scope);
        }
    }

    fn body(&self, round: usize) -> Vec<u8> {
        serde_json::json!({
            "action": if self.rollback { "rollback" } else { "release" },
            "agency": self.scope.0,
            "service": self.scope.1,
            "reason": format!("crash test round {round}"),
            "actor": "crash-test",
        })
        .to_string()
        .into_bytes()
    }
}

/// Acknowledged state, plus the change that was in flight (sent, no answer yet).
#[derive(Default, Clone)]
struct Acked {
    scopes: Scopes,
    in_flight: Option<Op>,
    count: usize,
}

async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    client::call(addr, http::Method::GET, path, None, "crash-test")
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Checks a freshly restarted gateway against what was acknowledged before the kill.
async fn check_restarted(served: &Served, acked: &Acked, seed: u64, round: usize) {
    let (status, body) = admin_get(served.admin, "/admin/switch").await;
    assert_eq!(status, 200, "seed {seed} round {round}: {body}");
    let state: SwitchState = serde_json::from_str(&body).expect("switch state JSON");
    let got = scopes(&state);
    let mut alt = acked.scopes.clone();
    if let Some(op) = &acked.in_flight {
        op.apply(&mut alt);
    }
    assert!(
        got == acked.scopes || got == alt,
        "seed {seed} round {round}: switch after restart {got:?}, last acknowledged {:?} (in flight {:?})",
        acked.scopes,
        acked.in_flight
    );
    let (status, body) = admin_get(served.admin, "/admin/audit/verify").await;
    assert_eq!(status, 200, "seed {seed} round {round}: {body}");
    assert!(
        body.contains("\"ok\": true") || body.contains("\"ok\":true"),
        "seed {seed} round {round}: audit chain: {body}"
    );
}

/// Small background load: one request at a time, errors ignored (the gateway dies
/// under it on purpose).
fn spawn_load(addr: SocketAddr, stop: Arc<AtomicBool>, sent: Arc<AtomicUsize>) {
    tokio::spawn(async move {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        while !stop.load(Ordering::SeqCst) {
            let Ok(req) = http::Request::post(format!("http://{addr}/cgi-bin/consumer_proxy"))
                .header("content-type", "text/xml; charset=utf-8")
                .body(Full::new(Bytes::from_static(V31EU.as_bytes())))
            else {
                return;
            };
            let r = tokio::time::timeout(Duration::from_secs(5), client.request(req)).await;
            match r {
                Ok(Ok(resp)) => {
                    let _ = resp.into_body().collect().await;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_switch_change() {
    let seed: u64 = std::env::var("DUALROAD_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("crash test seed {seed} (DUALROAD_CRASH_SEED={seed} replays it)");
    let mut rng = XorShift(seed | 1);

    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let dir = temp_dir("crash");
    let config = dir.join("dualroad.toml");
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp\"\n";
    std::fs::write(&config, config_text(&env, "shadow", rules, "", 2000)).unwrap();

    let acked = Arc::new(Mutex::new(Acked::default()));
    let started = Instant::now();
    let mut load_total = 0usize;
    // Rounds where the kill cut a switch change off before its answer.
    let mut cut_off = 0usize;
    for round in 0..ROUNDS {
        let mut served = serve(&config);
        if round > 0 {
            let a = acked.lock().unwrap().clone();
            check_restarted(&served, &a, seed, round).await;
        }
        // What survived is now the acknowledged state (an in-flight change either
        // landed or not; read it back).
        {
            let (_, body) = admin_get(served.admin, "/admin/switch").await;
            let state: SwitchState = serde_json::from_str(&body).expect("switch JSON");
            let mut a = acked.lock().unwrap();
            a.scopes = scopes(&state);
            a.in_flight = None;
        }

        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        spawn_load(served.consumer, stop.clone(), sent.clone());

        // Switch changes, one after the other, until the kill cuts them off.
        let ops: Vec<Op> = (0..1 + rng.below(12))
            .map(|_| {
                let (a, s) = SCOPES[rng.below(SCOPES.len() as u64) as usize];
                Op {
                    rollback: rng.below(3) > 0,
                    scope: (a.map(str::to_string), s.map(str::to_string)),
                }
            })
            .collect();
        let admin = served.admin;
        let acked_w = acked.clone();
        let changes = tokio::spawn(async move {
            for op in ops {
                acked_w.lock().unwrap().in_flight = Some(op.clone());
                let r = client::call(
                    admin,
                    http::Method::POST,
                    "/admin/switch",
                    Some(op.body(round)),
                    "crash-test",
                )
                .await;
                let mut a = acked_w.lock().unwrap();
                match r {
                    // 200: durable and acknowledged. 409: releasing a scope that is
                    // not rolled back, refused with nothing written.
                    Ok((200, body)) => {
                        let state: SwitchState =
                            serde_json::from_str(&body).expect("switch state JSON");
                        a.scopes = scopes(&state);
                        a.in_flight = None;
                        a.count += 1;
                    }
                    Ok((409, _)) => a.in_flight = None,
                    Ok((status, body)) => panic!("switch change answered {status}: {body}"),
                    // Killed under it: stays in flight.
                    Err(_) => return,
                }
            }
        });

        tokio::time::sleep(Duration::from_micros(rng.below(40_000))).await;
        served.child.kill().expect("SIGKILL");
        let _ = served.child.wait();
        stop.store(true, Ordering::SeqCst);
        let _ = changes.await;
        load_total += sent.load(Ordering::SeqCst);
        if acked.lock().unwrap().in_flight.is_some() {
            cut_off += 1;
        }
    }

    // The last kill, checked on a final restart, then a direct look at the store.
    let mut served = serve(&config);
    let a = acked.lock().unwrap().clone();
    check_restarted(&served, &a, seed, ROUNDS).await;
    served.child.kill().expect("SIGKILL");
    let _ = served.child.wait();
    let store = SledStore::open_existing(&env.data).unwrap_or_else(|e| {
        panic!("seed {seed}: store after the last kill does not open: {e}");
    });
    let report = store.verify_audit().expect("audit verifies");
    assert!(report.ok, "seed {seed}: {report:?}");
    let acked_changes = acked.lock().unwrap().count;
    println!(
        "crash test: {ROUNDS} kills ({cut_off} with a switch change in flight), {acked_changes} acknowledged switch changes, {load_total} requests served, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked_changes > 0,
        "seed {seed}: no switch change got through"
    );
}
