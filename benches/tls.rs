//! What TLS costs the gateway, measured in memory (no sockets, so the numbers are the
//! crypto and record work alone): a full handshake as a consumer listener does it for
//! each new connection (server certificate only, and mutual TLS with a client
//! certificate verified), and the record layer carrying a ~1 KB SOAP request and a
//! 1 MiB message one way, beside a `memcpy` of the same bytes. Client and server both
//! run on the measuring thread, so a handshake figure is the work of both ends.
//!
//! Keys are the committed ECDSA P-256 test certificates (fixtures/tls); TLS 1.3, ring.
//!
//! Run: `cargo bench --bench tls`.

// A bench is a measuring harness: a failure to set it up may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dualroad::config::ListenerTls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

fn tls_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

fn server(mutual: bool) -> Arc<ServerConfig> {
    dualroad::tls::server_config(&ListenerTls {
        cert: tls_file("server.pem"),
        key: tls_file("server.key"),
        client_ca: mutual.then(|| tls_file("ca.pem")),
        require_client_cert: mutual,
    })
    .expect("server config")
}

fn client(mutual: bool) -> Arc<ClientConfig> {
    let b = ClientConfig::builder_with_provider(dualroad::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(dualroad::tls::load_roots(&tls_file("ca.pem")).expect("ca"));
    let mut c = if mutual {
        b.with_client_auth_cert(
            dualroad::tls::load_certs(&tls_file("client-moh.pem")).expect("cert"),
            dualroad::tls::load_key(&tls_file("client-moh.key")).expect("key"),
        )
        .expect("client cert")
    } else {
        b.with_no_client_auth()
    };
    // A fresh full handshake every time: what a new client connection costs.
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// Moves every pending TLS byte from `from` to `to`.
fn pump(from: &mut dyn FnMut(&mut Vec<u8>), to: &mut dyn FnMut(&[u8]), buf: &mut Vec<u8>) -> bool {
    buf.clear();
    from(buf);
    if buf.is_empty() {
        return false;
    }
    to(buf);
    true
}

fn handshake(s: &Arc<ServerConfig>, c: &Arc<ClientConfig>) -> (ClientConnection, ServerConnection) {
    let name = ServerName::try_from("localhost").expect("name");
    let mut cl = ClientConnection::new(c.clone(), name).expect("client");
    let mut sv = ServerConnection::new(s.clone()).expect("server");
    let mut buf = Vec::new();
    loop {
        let a = pump(
            &mut |b| {
                while cl.wants_write() {
                    cl.write_tls(b).expect("write");
                }
            },
            &mut |b| {
                sv.read_tls(&mut &b[..]).expect("read");
                sv.process_new_packets().expect("server handshake");
            },
            &mut buf,
        );
        let z = pump(
            &mut |b| {
                while sv.wants_write() {
                    sv.write_tls(b).expect("write");
                }
            },
            &mut |b| {
                cl.read_tls(&mut &b[..]).expect("read");
                cl.process_new_packets().expect("client handshake");
            },
            &mut buf,
        );
        if !a && !z && !cl.is_handshaking() && !sv.is_handshaking() {
            return (cl, sv);
        }
    }
}

/// Client writes `msg`; the server decrypts it into `out`. Plaintext goes in as fast
/// as rustls's send buffer takes it, records are carried over as they are made.
fn carry(
    cl: &mut ClientConnection,
    sv: &mut ServerConnection,
    msg: &[u8],
    out: &mut Vec<u8>,
    wire: &mut Vec<u8>,
) {
    out.clear();
    let mut sent = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while sent < msg.len() || cl.wants_write() {
        if sent < msg.len() {
            sent += cl.writer().write(&msg[sent..]).expect("plaintext in");
        }
        wire.clear();
        while cl.wants_write() {
            cl.write_tls(wire).expect("write");
        }
        let mut rd = &wire[..];
        while !rd.is_empty() {
            sv.read_tls(&mut rd).expect("read");
            sv.process_new_packets().expect("records");
            while let Ok(n) = sv.reader().read(&mut chunk) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

fn benches(c: &mut Criterion) {
    let (s1, c1) = (server(false), client(false));
    let (s2, c2) = (server(true), client(true));
    let mut g = c.benchmark_group("tls_handshake");
    g.bench_function("server_cert", |b| b.iter(|| black_box(handshake(&s1, &c1))));
    g.bench_function("mutual", |b| b.iter(|| black_box(handshake(&s2, &c2))));
    g.finish();

    let soap = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/messages/v3.1-eu/request-getPatientSummary.xml"),
    )
    .expect("fixture");
    let big = vec![b'x'; 1 << 20];
    let (mut cl, mut sv) = handshake(&s2, &c2);
    let (mut out, mut wire) = (Vec::new(), Vec::new());
    for (label, msg) in [("soap_request", &soap), ("1MiB", &big)] {
        let mut g = c.benchmark_group(format!("tls_records_{label}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("encrypt_decrypt", |b| {
            b.iter(|| {
                carry(&mut cl, &mut sv, msg, &mut out, &mut wire);
                assert_eq!(out.len(), msg.len());
            })
        });
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(msg));
                black_box(&out);
            })
        });
        g.finish();
    }
}

criterion_group!(tls, benches);
criterion_main!(tls);
