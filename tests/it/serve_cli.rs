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
