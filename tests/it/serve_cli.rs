//! `dualroad serve` as a real child process, driven like an operator would: the rollback
//! switch through `dualroad switch` (admin API while running, the data dir when not),
//! reload on SIGHUP, `audit list|verify`, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gateway::{config_text, env_with, post, temp_dir, V31EU};
use crate::stub::Behaviour;
use crate::support::repo;
use dualroad::store::{SledStore, Store};

fn dualroad() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dualroad"));
    c.current_dir(repo()).env("RUST_LOG", "info");
    c
}

/// Starts `dualroad serve` and reads the bound addresses from its stderr.
fn serve(config: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = dualroad()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut consumer = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.strip_prefix("dualroad: listener agencies on ") {
            consumer = rest.trim().parse().ok();
        }
        if line.starts_with("dualroad: admin on ") {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, consumer.expect("serve printed its listener"))
}

fn run(args: &[&str], config: &std::path::Path) -> (i32, String, String) {
    let out = dualroad()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_workflow_against_a_running_gateway() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let dir = temp_dir("serve");
    let config = dir.join("dualroad.toml");
    // The admin listener needs a fixed port for the CLI to find it: pick a free one.
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rules = "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"uxp\"\n";
    let text = config_text(&env, "legacy", rules, "", 2000).replacen(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        &format!("[admin]\nlisten = \"{admin}\""),
        1,
    );
    std::fs::write(&config, &text).unwrap();
    let (mut child, addr) = serve(&config);

    post(addr, V31EU, "text/xml").await;
    assert_eq!(env.uxp.hits(), 1);

    // Rollback through the CLI: applied by the running gateway.
    let (code, out, err) = run(
        &[
            "switch",
            "rollback",
            "--agency",
            "10000042",
            "--reason",
            "INC-7 test",
            "--actor",
            "ops-alice",
        ],
        &config,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("running gateway"), "{err}");
    post(addr, V31EU, "text/xml").await;
    assert_eq!(
        (env.legacy.hits(), env.uxp.hits()),
        (1, 1),
        "rolled back at once"
    );
    let (code, out, _) = run(&["switch", "status"], &config);
    assert_eq!(code, 0);
    assert!(
        out.contains("ops-alice") && out.contains("INC-7 test"),
        "{out}"
    );

    // SIGHUP reload: a new fallback and no rules.
    std::fs::write(
        &config,
        text.replace(
            "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"uxp\"\n",
            "",
        )
        .replace("fallback = \"legacy\"", "fallback = \"shadow\""),
    )
    .unwrap();
    signal(&child, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = run(&["audit", "list"], &config);
        if out.contains("config-reload") || Instant::now() > deadline {
            assert!(
                out.contains("config-reload") && out.contains("fallback"),
                "reload audited with its diff: {out}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, out, _) = run(&["audit", "verify"], &config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"ok\": true"), "{out}");

    // SIGTERM: a clean stop.
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // Offline: the CLI works on the data dir directly, and the rollback is still there.
    let (code, out, err) = run(&["switch", "status"], &config);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("10000042") && err.contains("no gateway"),
        "{out}{err}"
    );
    let (code, _, _) = run(
        &[
            "switch", "release", "--agency", "10000042", "--reason", "fixed", "--actor", "ops-bob",
        ],
        &config,
    );
    assert_eq!(code, 0);
    let (code, out, _) = run(&["audit", "verify"], &config);
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = run(&["audit", "list"], &config);
    for needle in [
        "startup",
        "rollback",
        "config-reload",
        "release",
        "ops-alice",
        "ops-bob",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
}

#[test]
fn serve_refuses_a_config_without_fallback_with_a_clear_message() {
    let dir = temp_dir("nofallback");
    let config = dir.join("dualroad.toml");
    let text = std::fs::read_to_string(repo().join("dualroad.example.toml")).unwrap();
    std::fs::write(&config, text.replace("fallback = \"legacy\"", "")).unwrap();
    let out = dualroad()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fallback") && err.contains("dualroad.toml"),
        "{err}"
    );
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The store's flush policy, for a real gateway: `kill -9` loses at most the records of
/// the last flush interval. Requests answered well before the kill are all in the
/// store after a restart; the store opens cleanly and the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_with_sigkill_keeps_every_record_older_than_a_flush_interval() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let dir = temp_dir("kill9");
    let config = dir.join("dualroad.toml");
    let flush_ms = 200;
    let text = config_text(&env, "legacy", "", "", 2000)
        + &format!("[store]\nflush_interval_ms = {flush_ms}\n");
    std::fs::write(&config, &text).unwrap();
    let (mut child, addr) = serve(&config);
    let mut acked = Vec::new();
    for i in 0..20 {
        let (status, _) = post(
            addr,
            &V31EU.replace("b9a5b60b", &format!("early{i:03}")),
            "text/xml",
        )
        .await;
        assert_eq!(status, 200);
        acked.push(wall_ms());
    }
    // Several flush intervals pass: everything above must now be durable.
    tokio::time::sleep(Duration::from_millis(flush_ms * 5)).await;
    let durable_before = wall_ms();
    for i in 0..20 {
        let (status, _) = post(
            addr,
            &V31EU.replace("b9a5b60b", &format!("late{i:03}")),
            "text/xml",
        )
        .await;
        assert_eq!(status, 200);
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();

    let data = env.data.clone();
    let store = {
        let mut tries = 0;
        loop {
            match SledStore::open(&data) {
                Ok(s) => break s,
                Err(_) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("a killed gateway's store opens cleanly: {e}"),
            }
        }
    };
    let recs: Vec<_> = store
        .exchanges()
        .exchanges_between(0, u64::MAX)
        .map(|r| r.unwrap().1)
        .collect();
    let early = recs
        .iter()
        .filter(|r| {
            r.message_id
                .as_deref()
                .is_some_and(|m| m.starts_with("early"))
        })
        .count();
    assert_eq!(
        early, 20,
        "every request answered before {durable_before} (more than a flush interval before the kill) survives"
    );
    assert!(acked.iter().all(|t| *t < durable_before));
    // What survives is a prefix in time order: no late record without every early one.
    assert!(recs.len() <= 40);
    assert!(store.verify_audit().unwrap().ok);
}
