//! The CLI contract of `dualroad translate` and `dualroad mappings`: exit codes,
//! stdout/stderr split, `-` for stdin.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::repo;

fn dualroad() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dualroad"));
    c.current_dir(repo());
    c
}

const REQ: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/x-road.xsd">
  <SOAP-ENV:Header>
    <xrd:consumer>10000042</xrd:consumer>
    <xrd:producer>moh</xrd:producer>
    <xrd:userId>PS400123456</xrd:userId>
    <xrd:id>cli-test-1</xrd:id>
    <xrd:service>moh.getPatientSummary.v2</xrd:service>
    <xrd:position>nurse</xrd:position>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body><moh:getPatientSummary xmlns:moh="http://moh.ps/producer"><request><patientId>PS400123456</patientId></request></moh:getPatientSummary></SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;

fn run_stdin(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = dualroad()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dualroad");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn translate_from_stdin_succeeds_with_summary() {
    let out = run_stdin(
        &["translate", "--mappings", "mappings", "--to", "uxp", "-"],
        REQ.as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("<id:memberCode>10000042</id:memberCode>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<xro:protocolVersion>4.0</xro:protocolVersion>"),
        "{stdout}"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one summary line: {stderr}");
    assert!(
        stderr.contains("v3.1-eu → uxp") && stderr.contains("lossy fields: position"),
        "{stderr}"
    );
}

#[test]
fn rejected_message_exits_1_with_fault_in_sender_dialect() {
    let bad = REQ.replace(
        "<xrd:consumer>10000042</xrd:consumer>",
        "<xrd:consumer>99999999</xrd:consumer>",
    );
    let out = run_stdin(
        &["translate", "--mappings", "mappings", "--to", "uxp", "-"],
        bad.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("<faultcode>Server.ClientProxy.UnknownMember</faultcode>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("99999999"),
        "fault names the missing legacy name: {stdout}"
    );
    // The caller's own header is echoed, in its dialect.
    assert!(
        stdout.contains("<xrd:consumer>99999999</xrd:consumer>"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("rejected"));
}

#[test]
fn garbage_exits_1_with_bare_fault() {
    let out = run_stdin(&["translate", "--to", "uxp", "-"], b"this is not xml");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Client.InvalidXml"));
}

#[test]
fn usage_and_mapping_errors_exit_2() {
    let out = dualroad()
        .args(["translate", "--to", "sideways", "x.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = dualroad()
        .args([
            "translate",
            "--mappings",
            "no/such/dir",
            "--to",
            "uxp",
            "x.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir"));
    let out = dualroad()
        .args(["translate", "--to", "uxp", "no/such/file.xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn mappings_check_reports_ok_and_problems() {
    let out = dualroad()
        .args(["mappings", "check", "mappings"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    let out = dualroad()
        .args(["mappings", "check", "fixtures/mappings/invalid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() >= 3, "every problem listed: {err}");
}
