//! The stack simulators over real HTTP (loopback, port 0, servers in-process): every
//! service in 3.1-eu, 2.0 and UXP (SOAP 1.1 and 1.2) with the header echoed byte for
//! byte; legacy and UXP answers equal after translation; requestHash; fault and
//! divergence rates; errors as SOAP faults; keep-alive, latency, shutdown; the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha512};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use dualroad::mapping::Mappings;
use dualroad::translate::{Options, Translator};
use dualroad::wire::dialect::NS_XROAD;
use dualroad::wire::envelope::Envelope;
use dualroad::wire::fault::Fault;
use dualroad::wire::message::{Input, Message, DEFAULT_MAX_MESSAGE_BYTES};
use dualroad::wire::SoapVersion;
use dualroad_sim::{self as sim, SimConfig, SimKind};

use crate::support::{cases, mappings, repo};

// === harness ===

struct Sim {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn start(cfg: SimConfig) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sim::serve(listener, cfg, async {
        let _ = stopped.await;
    }));
    Sim { addr, stop, task }
}

impl Sim {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn fault(&self) -> Fault {
        let env =
            Envelope::scan(&self.body, None).unwrap_or_else(|e| panic!("{e}: {}", self.text()));
        let f = env
            .body
            .fault
            .as_ref()
            .unwrap_or_else(|| panic!("not a fault: {}", self.text()));
        Fault::from_elem(&env, f)
    }
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sim");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(addr: SocketAddr, content_type: Option<&str>, body: &[u8]) -> Reply {
    let mut s = connect(addr).await;
    send(&mut s, "POST", "/", content_type, body).await
}

/// A request message and the Content-Type it travels with.
#[derive(Clone)]
struct Msg {
    name: String,
    bytes: Vec<u8>,
    content_type: String,
}

impl Msg {
    fn input(&self) -> Input<'_> {
        Input::new(&self.bytes).with_content_type(Some(&self.content_type))
    }

    /// The SOAP part (the whole body unless multipart).
    fn soap(&self) -> Vec<u8> {
        let m = Message::parse(self.input(), DEFAULT_MAX_MESSAGE_BYTES).unwrap();
        m.env.src.to_vec()
    }
}

fn fixture(file: &str) -> Msg {
    let case = cases()
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("{file} is not in cases.toml"));
    Msg {
        name: file.to_string(),
        bytes: case.bytes(),
        content_type: case
            .content_type
            .clone()
            .unwrap_or_else(|| "text/xml; charset=utf-8".into()),
    }
}

fn maps() -> &'static Mappings {
    mappings(&repo().join("mappings"))
}

/// The worked mappings with a 2.0 legacy stack.
fn v2_maps() -> Mappings {
    let dir = repo().join("mappings");
    let mut sources: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text.replace("dialect = \"v3.1-eu\"", "dialect = \"v2\""))
        })
        .collect();
    sources.sort();
    let m = Mappings::from_sources(&sources).unwrap();
    assert_eq!(m.legacy_dialect(), dualroad::wire::Dialect::V2);
    m
}

fn opts(soap: SoapVersion) -> Options {
    Options {
        uxp_soap: soap,
        ..Options::default()
    }
}

fn to_uxp(req: &Msg, soap: SoapVersion) -> Msg {
    let t = Translator::new(maps(), opts(soap))
        .request_to_uxp(req.input())
        .unwrap_or_else(|e| panic!("{}: {e}", req.name));
    Msg {
        name: format!("{} as UXP {soap:?}", req.name),
        bytes: t.bytes,
        content_type: t.content_type,
    }
}

fn uxp_to_v2(req: &Msg) -> Msg {
    let t = Translator::new(&v2_maps(), Options::default())
        .request_to_legacy(req.input())
        .unwrap_or_else(|e| panic!("{}: {e}", req.name));
    Msg {
        name: format!("{} as v2", req.name),
        bytes: t.bytes,
        content_type: t.content_type,
    }
}

/// The scanned SOAP envelope of a plain answer.
fn env_of(bytes: &[u8]) -> Envelope<'_> {
    Envelope::scan(bytes, None)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn head(soap: &[u8]) -> &[u8] {
    &soap[..env_of(soap).body.start]
}

fn body(soap: &[u8]) -> &[u8] {
    &soap[env_of(soap).body.start..]
}

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Checks an answer to `req`: 200, the request's head echoed byte for byte (UXP: plus
/// a correct requestHash right after `id`), the wrapper answered, the SOAP version kept.
fn check_answer(kind: SimKind, req: &Msg, reply: &Reply) {
    let ctx = format!("{} → {:?}: {}", req.name, kind, reply.text());
    assert_eq!(reply.status, 200, "{ctx}");
    let soap = req.soap();
    let req_env = env_of(&soap);
    let resp_env = env_of(&reply.body);
    assert_eq!(resp_env.soap, req_env.soap, "{ctx}");
    assert!(
        reply.content_type().starts_with(req_env.soap.media_type()),
        "{ctx}: {}",
        reply.content_type()
    );
    assert_eq!(
        resp_env.body.wrapper.qname,
        format!("{}Response", req_env.body.wrapper.qname),
        "{ctx}"
    );
    let mut echoed = head(&reply.body).to_vec();
    if kind == SimKind::Uxp {
        let h = resp_env.header.as_ref().unwrap();
        let i = h
            .children
            .iter()
            .position(|c| c.is(NS_XROAD, "requestHash"))
            .unwrap_or_else(|| panic!("no requestHash: {ctx}"));
        assert!(
            h.children[i - 1].is(NS_XROAD, "id"),
            "requestHash right after id: {ctx}"
        );
        let rh = &h.children[i];
        assert_eq!(
            rh.attr(None, "algorithmId"),
            Some("http://www.w3.org/2001/04/xmlenc#sha512")
        );
        assert_eq!(
            b64_decode(&rh.text),
            Sha512::digest(&soap).to_vec(),
            "{ctx}"
        );
        let cut = h.gaps[i].start..rh.span.end;
        echoed.drain(cut);
        assert!(reply.headers.get("uxp-transaction-id").is_some(), "{ctx}");
    } else {
        assert!(reply.headers.get("uxp-transaction-id").is_none(), "{ctx}");
    }
    assert_eq!(
        String::from_utf8_lossy(&echoed),
        String::from_utf8_lossy(head(&soap)),
        "header echoed byte for byte: {ctx}"
    );
}

/// One 3.1-eu request per service (the fileApplication one twice: plain and SwA).
fn v31eu_requests() -> Vec<Msg> {
    [
        "messages/v3.1-eu/request-findPerson-iso-8859-1.xml",
        "messages/v3.1-eu/request-RR19IsikuElukoht.xml",
        "messages/v3.1-eu/request-getPatientSummary.xml",
        "messages/v3.1-eu/request-getCompany-empty-issue.xml",
        "messages/v3.1-eu/request-getCompanyHistory-member-fallback.xml",
        "messages/v3.1-eu/request-fileApplication-envelope-prefix-xrd.xml",
        "messages/multipart/v31eu-swa-fileApplication.mime",
        "messages/v3.1-eu/request-getPaymentStatus.xml",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

fn v2_requests() -> Vec<Msg> {
    [
        "messages/v2/request-findPerson-soapenc-multiref.xml",
        "messages/v2/request-RR19IsikuElukoht.xml",
        "messages/v2/request-getPatientSummary.xml",
        "messages/v2/request-getCompany-all-optional-headers.xml",
        "messages/v2/request-fileApplication-empty-toimik.xml",
        "messages/v2/request-getPaymentStatus-no-version.xml",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

fn uxp_requests() -> Vec<Msg> {
    [
        "messages/uxp/request-findPerson-xrd-id.xml",
        "messages/uxp/request-getResidence.xml",
        "messages/uxp/request-getPatientSummary.xml",
        "messages/uxp/request-soap12-getPatientSummary.xml",
        "messages/uxp/request-getCompany-trembita-order.xml",
        "messages/uxp/request-fileApplication-member-objecttype.xml",
        "messages/uxp/request-getPaymentStatus-4x.xml",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}

fn answer_wrapper(reply: &Reply) -> String {
    env_of(&reply.body).body.wrapper.local.clone()
}

// === tests ===

#[tokio::test]
async fn sim_every_service_answers_in_every_dialect() {
    let legacy = start(SimConfig::legacy()).await;
    let uxp = start(SimConfig::uxp()).await;
    let mut wrappers = std::collections::BTreeSet::new();
    for req in v31eu_requests() {
        let r = post(legacy.addr, Some(&req.content_type), &req.bytes).await;
        check_answer(SimKind::Legacy, &req, &r);
        assert!(r.text().contains("<response>"), "{}", r.text());
        wrappers.insert(answer_wrapper(&r));
        for soap in [SoapVersion::Soap11, SoapVersion::Soap12] {
            let u = to_uxp(&req, soap);
            let r = post(uxp.addr, Some(&u.content_type), &u.bytes).await;
            check_answer(SimKind::Uxp, &u, &r);
            wrappers.insert(answer_wrapper(&r));
            if soap == SoapVersion::Soap11 {
                // The same request in 2.0, as the gateway would send it to a 2.0 stack.
                let v2 = uxp_to_v2(&u);
                let r = post(legacy.addr, Some(&v2.content_type), &v2.bytes).await;
                check_answer(SimKind::Legacy, &v2, &r);
            }
        }
    }
    for req in v2_requests() {
        let r = post(legacy.addr, Some(&req.content_type), &req.bytes).await;
        check_answer(SimKind::Legacy, &req, &r);
        let text = r.text();
        assert!(
            text.contains("<paring") && text.contains("<keha>"),
            "{text}"
        );
        assert!(
            text.contains("xsi:type=\"xsd:string\""),
            "2.0 answers are typed: {text}"
        );
    }
    for req in uxp_requests() {
        let r = post(uxp.addr, Some(&req.content_type), &req.bytes).await;
        check_answer(SimKind::Uxp, &req, &r);
    }
    let expected: std::collections::BTreeSet<String> = [
        "findPersonResponse",
        "RR19IsikuElukohtResponse",
        "getResidenceResponse",
        "getPatientSummaryResponse",
        "getCompanyResponse",
        "getCompanyHistoryResponse",
        "fileApplicationResponse",
        "getPaymentStatusResponse",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(wrappers, expected);
    legacy.shutdown().await;
    uxp.shutdown().await;
}

/// Shadow mode compares the legacy answer with the UXP answer translated back: for the
/// same request they must have the same Body.
#[tokio::test]
async fn sim_legacy_and_uxp_give_the_same_answer() {
    let legacy = start(SimConfig::legacy()).await;
    let uxp = start(SimConfig::uxp()).await;
    let mut renamed = 0;
    for req in v31eu_requests().into_iter().chain(v2_requests()) {
        let l = post(legacy.addr, Some(&req.content_type), &req.bytes).await;
        assert_eq!(l.status, 200, "{}", l.text());
        for soap in [SoapVersion::Soap11, SoapVersion::Soap12] {
            let u_req = to_uxp(&req, soap);
            let u = post(uxp.addr, Some(&u_req.content_type), &u_req.bytes).await;
            assert_eq!(u.status, 200, "{}", u.text());
            let back = Translator::new(maps(), opts(soap))
                .response_to_legacy(
                    Input::new(&u.body).with_content_type(Some(u.content_type())),
                    req.input(),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", req.name));
            if back.wrapper_renamed.is_some() {
                renamed += 1;
            }
            assert_eq!(
                String::from_utf8_lossy(body(&back.bytes)),
                String::from_utf8_lossy(body(&l.body)),
                "{} ({soap:?})",
                req.name
            );
        }
    }
    // RR19IsikuElukoht ⇄ getResidence, in 3.1-eu and 2.0, SOAP 1.1 and 1.2.
    assert_eq!(renamed, 4);
    legacy.shutdown().await;
    uxp.shutdown().await;
}

fn with_id(req: &Msg, id: &str) -> Msg {
    let text = String::from_utf8(req.bytes.clone()).unwrap();
    let env = env_of(req.bytes.as_slice());
    let h = env.header.as_ref().unwrap();
    let old = h
        .children
        .iter()
        .find(|c| c.local == "id")
        .unwrap()
        .text
        .clone();
    Msg {
        name: format!("{} #{id}", req.name),
        bytes: text.replacen(&old, id, 1).into_bytes(),
        content_type: req.content_type.clone(),
    }
}

#[tokio::test]
async fn sim_fault_rate_extremes_and_agreement() {
    let req = fixture("messages/v3.1-eu/request-getPatientSummary.xml");
    let always = SimConfig {
        fault_rate: 1.0,
        ..SimConfig::legacy()
    };
    let never = SimConfig {
        fault_rate: 0.0,
        ..SimConfig::legacy()
    };
    let half_legacy = SimConfig {
        fault_rate: 0.5,
        ..SimConfig::legacy()
    };
    let half_uxp = SimConfig {
        fault_rate: 0.5,
        ..SimConfig::uxp()
    };
    let (a, n, hl, hu) = (
        start(always).await,
        start(never).await,
        start(half_legacy).await,
        start(half_uxp).await,
    );
    let mut agreed_faults = 0;
    for i in 0..40 {
        let r = with_id(&req, &format!("fault-test-{i}"));
        let f = post(a.addr, Some(&r.content_type), &r.bytes).await;
        assert_eq!(f.status, 500);
        assert_eq!(
            f.fault().code,
            "Server.ServerProxy.ServiceFailed.InternalError"
        );
        assert!(!f.fault().string.is_empty());
        assert_eq!(
            head(&f.body),
            head(&r.bytes),
            "legacy header echoed in the fault"
        );
        let ok = post(n.addr, Some(&r.content_type), &r.bytes).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        // The same message id meets the same fate on both stacks.
        let l = post(hl.addr, Some(&r.content_type), &r.bytes).await;
        let u_req = to_uxp(&r, SoapVersion::Soap11);
        let u = post(hu.addr, Some(&u_req.content_type), &u_req.bytes).await;
        assert_eq!(l.status, u.status, "{}", r.name);
        if l.status == 500 {
            agreed_faults += 1;
            assert_eq!(
                u.fault().code,
                "Server.ServerProxy.ServiceFailed.InternalError"
            );
        }
    }
    assert!((5..35).contains(&agreed_faults), "{agreed_faults}");
    for s in [a, n, hl, hu] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn sim_divergence_changes_the_uxp_answer_only() {
    let plain = start(SimConfig::uxp()).await;
    let diverging = start(SimConfig {
        divergence_rate: 1.0,
        ..SimConfig::uxp()
    })
    .await;
    let legacy_div = start(SimConfig {
        divergence_rate: 1.0,
        ..SimConfig::legacy()
    })
    .await;
    let legacy = start(SimConfig::legacy()).await;
    for req in v31eu_requests() {
        let u_req = to_uxp(&req, SoapVersion::Soap11);
        let a = post(plain.addr, Some(&u_req.content_type), &u_req.bytes).await;
        let b = post(diverging.addr, Some(&u_req.content_type), &u_req.bytes).await;
        assert_eq!(b.status, 200);
        assert_ne!(body(&a.body), body(&b.body), "{}", req.name);
        // What shadow mode sees: the translated-back UXP answer differs from legacy.
        let back = Translator::new(maps(), Options::default())
            .response_to_legacy(
                Input::new(&b.body).with_content_type(Some(b.content_type())),
                req.input(),
            )
            .unwrap();
        let l = post(legacy.addr, Some(&req.content_type), &req.bytes).await;
        assert_ne!(body(&back.bytes), body(&l.body), "{}", req.name);
        let ld = post(legacy_div.addr, Some(&req.content_type), &req.bytes).await;
        assert_eq!(ld.body, l.body, "the legacy simulator never diverges");
    }
    for s in [plain, diverging, legacy_div, legacy] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn sim_errors_are_soap_faults() {
    let legacy = start(SimConfig::legacy()).await;
    let uxp = start(SimConfig::uxp()).await;
    for s in [&legacy, &uxp] {
        let r = post(s.addr, Some("text/xml"), b"this is not xml").await;
        assert_eq!(r.status, 500);
        assert_eq!(r.fault().code, "Client.InvalidXml");
        let r = post(s.addr, Some("text/xml"), b"").await;
        assert!(r.fault().code.starts_with("Client."), "{}", r.text());
        let r = post(s.addr, Some("application/json"), b"{}").await;
        assert_eq!(r.fault().code, "Client.InvalidContentType");
        for file in [
            "messages/malformed/truncated.xml",
            "messages/malformed/billion-laughs.xml",
            "messages/malformed/body-two-children.xml",
            "messages/malformed/missing-header.xml",
        ] {
            let m = std::fs::read(repo().join("fixtures").join(file)).unwrap();
            let r = post(s.addr, Some("text/xml; charset=utf-8"), &m).await;
            assert_eq!(r.status, 500, "{file}");
            assert!(
                r.fault().code.starts_with("Client."),
                "{file}: {}",
                r.text()
            );
        }
        let mut c = connect(s.addr).await;
        let r = send(&mut c, "GET", "/", None, b"").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.headers.get("allow").unwrap(), "POST");
        assert_eq!(r.fault().code, "Client.InvalidHttpMethod");
    }
    // SOAP 1.2 garbage is answered in SOAP 1.2.
    let r = post(
        uxp.addr,
        Some("application/soap+xml; charset=utf-8"),
        b"<<<",
    )
    .await;
    assert!(
        r.content_type().starts_with("application/soap+xml"),
        "{}",
        r.content_type()
    );
    assert_eq!(r.fault().code, "Client.InvalidXml");

    // Unknown services, with the header echoed.
    let req = fixture("messages/v3.1-eu/request-getPatientSummary.xml");
    let text = String::from_utf8(req.bytes.clone())
        .unwrap()
        .replace("getPatientSummary", "deletePatient");
    let r = post(legacy.addr, Some(&req.content_type), text.as_bytes()).await;
    assert_eq!(r.fault().code, "Server.ServerProxy.UnknownService");
    assert_eq!(head(&r.body), head(text.as_bytes()));
    let req = fixture("messages/uxp/request-getPatientSummary.xml");
    let text = String::from_utf8(req.bytes.clone())
        .unwrap()
        .replace("getPatientSummary", "deletePatient");
    let r = post(uxp.addr, Some(&req.content_type), text.as_bytes()).await;
    assert_eq!(r.fault().code, "Server.ServerProxy.UnknownService");

    // Each stack refuses the other's messages.
    let r = post(
        uxp.addr,
        Some("text/xml; charset=utf-8"),
        &fixture("messages/v3.1-eu/request-getPaymentStatus.xml").bytes,
    )
    .await;
    assert_eq!(r.fault().code, "Client.InvalidMessage");
    let soap12 = fixture("messages/uxp/request-soap12-getPatientSummary.xml");
    let r = post(legacy.addr, Some(&soap12.content_type), &soap12.bytes).await;
    assert_eq!(r.fault().code, "Client.InvalidSoap");
    legacy.shutdown().await;
    uxp.shutdown().await;
}

/// The simulated latency is time itself: on tokio's paused clock it passes at once, and
/// the check reads the same clock, so it holds on a busy machine and costs nothing.
#[tokio::test(start_paused = true)]
async fn sim_keep_alive_any_path_and_latency() {
    let cfg = SimConfig {
        latency: Duration::from_millis(60),
        ..SimConfig::legacy()
    };
    let s = start(cfg).await;
    let req = fixture("messages/v3.1-eu/request-getPaymentStatus.xml");
    let mut c = connect(s.addr).await;
    for path in ["/", "/cgi-bin/consumer_proxy", "/anything"] {
        let t = tokio::time::Instant::now();
        let r = send(&mut c, "POST", path, Some(&req.content_type), &req.bytes).await;
        assert!(t.elapsed() >= Duration::from_millis(60));
        check_answer(SimKind::Legacy, &req, &r);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn sim_shutdown_closes_the_listener() {
    let s = start(SimConfig::uxp()).await;
    let addr = s.addr;
    // An idle keep-alive connection must not hold shutdown up.
    let mut c = connect(addr).await;
    let req = fixture("messages/uxp/request-getResidence.xml");
    let r = send(&mut c, "POST", "/", Some(&req.content_type), &req.bytes).await;
    assert_eq!(r.status, 200);
    let t = Instant::now();
    s.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(TcpStream::connect(addr).await.is_err());
}

#[cfg(unix)]
#[test]
fn sim_cli_prints_the_address_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_dualroad"))
        .args(["sim", "uxp", "--listen", "127.0.0.1:0", "--latency-ms", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dualroad sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let req = fixture("messages/uxp/request-getCompany-trembita-order.xml");
    let r = rt.block_on(post(addr, Some(&req.content_type), &req.bytes));
    check_answer(SimKind::Uxp, &req, &r);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    let bad = Command::new(env!("CARGO_BIN_EXE_dualroad"))
        .args([
            "sim",
            "legacy",
            "--listen",
            "127.0.0.1:0",
            "--fault-rate",
            "1.5",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn sim_echo_returns_the_request_on_a_kept_alive_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sim::echo::serve(listener, async {
        let _ = stopped.await;
    }));
    let req = fixture("messages/v3.1-eu/request-getPatientSummary.xml");
    let mut c = connect(addr).await;
    for path in ["/", "/cgi-bin/consumer_proxy"] {
        let r = send(&mut c, "POST", path, Some(&req.content_type), &req.bytes).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type(), req.content_type);
        assert_eq!(r.body, req.bytes);
    }
    let r = send(&mut c, "POST", "/", None, b"").await;
    assert_eq!((r.status, r.content_type(), r.body.len()), (200, "", 0));
    let r = send(&mut c, "GET", "/", None, b"").await;
    assert_eq!(r.status, 405);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}
