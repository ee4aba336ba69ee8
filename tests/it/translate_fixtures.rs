//! Every fixture in `fixtures/cases.toml` through the translation core, with the
//! invariants the issue sets: decode → encode to the same dialect is byte-identical;
//! the Body bytes are identical before and after any translation (unless the mapping
//! renames the wrapper, and then they differ by exactly that rename); legacy → UXP →
//! legacy restores the legacy header exactly (and UXP → legacy → UXP the UXP header);
//! rejected input gets the expected X-Road fault code, and the fault parses.
//! Translations are snapshotted with insta (`tests/it/snapshots/`).

use dualroad::translate::{self, Options, Translation, Translator};
use dualroad::wire::codec::Family;
use dualroad::wire::envelope::Envelope;
use dualroad::wire::fault::Fault;
use dualroad::wire::message::{Input, Message};

use crate::support::{cases, mappings, Case};

fn input<'a>(bytes: &'a [u8], ct: &'a Option<String>) -> Input<'a> {
    Input::new(bytes).with_content_type(ct.as_deref())
}

fn run(
    case: &Case,
    bytes: &[u8],
    req: Option<&[u8]>,
    req_ct: &Option<String>,
) -> Result<Translation, translate::TranslateError> {
    let tr = Translator::new(mappings(&case.mappings_dir()), Options::default());
    let inp = input(bytes, &case.content_type);
    match (case.to.as_str(), req) {
        ("uxp", None) => tr.request_to_uxp(inp),
        ("legacy", None) => tr.request_to_legacy(inp),
        ("legacy", Some(r)) => tr.response_to_legacy(inp, input(r, req_ct)),
        ("uxp", Some(r)) => tr.response_to_uxp(inp, input(r, req_ct)),
        (other, _) => panic!("{}: bad `to` {other}", case.name),
    }
}

fn parse<'a>(bytes: &'a [u8], ct: Option<&'a str>) -> Message<'a> {
    Message::parse(Input::new(bytes).with_content_type(ct), usize::MAX).expect("parses")
}

fn body(env: &Envelope) -> Vec<u8> {
    env.src[env.body.start..].to_vec()
}

fn header_children(env: &Envelope) -> Vec<Vec<u8>> {
    env.header
        .as_ref()
        .map(|h| {
            h.children
                .iter()
                .map(|c| env.src[c.span.clone()].to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// Strips `xmlns:*` declarations dualroad adds when moving an element to another
/// envelope, so raw header elements can be compared with their source.
fn strip_added_decls(el: &[u8]) -> String {
    let s = String::from_utf8_lossy(el).into_owned();
    let end = s.find('>').unwrap_or(s.len());
    let (mut tag, rest) = (s[..end].to_string(), &s[end..]);
    while let Some(i) = tag.find(" xmlns") {
        let Some(q1) = tag[i..].find('"').map(|q| i + q) else {
            break;
        };
        let Some(q2) = tag[q1 + 1..].find('"').map(|q| q1 + 1 + q) else {
            break;
        };
        tag.replace_range(i..=q2, "");
    }
    tag + rest
}

#[test]
fn manifest_is_substantial() {
    let c = cases();
    assert!(c.len() >= 60, "only {} cases", c.len());
    for dialect in [
        "v2",
        "v3.0",
        "v3.1",
        "v3.1-eu",
        "v6.0",
        "v4",
        "uxp",
        "multipart",
        "malformed",
    ] {
        assert!(
            c.iter()
                .any(|x| x.file.contains(&format!("messages/{dialect}/"))),
            "no fixture for {dialect}"
        );
    }
    let mut names: Vec<&str> = c.iter().map(|x| x.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), c.len(), "case names must be unique");
    for x in c {
        assert!(
            matches!(x.kind.as_str(), "request" | "response" | "fault"),
            "{}: kind {}",
            x.name,
            x.kind
        );
        assert!(
            x.notes.as_deref().is_some_and(|n| !n.trim().is_empty()),
            "{}: every case says what it exercises",
            x.name
        );
        assert_eq!(
            x.request.is_some(),
            x.kind != "request",
            "{}: responses and faults name their request",
            x.name
        );
    }
}

#[test]
fn every_case() {
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(e) = std::panic::catch_unwind(|| check_case(case)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_case(case: &Case) {
    let bytes = case.bytes();
    let req = case.request_bytes();
    let req_ct = case.request_content_type();
    let result = run(case, &bytes, req.as_deref(), &req_ct);
    match case.expect.as_str() {
        "fault" => {
            let want = case.fault_code.as_deref().expect("fault_code");
            let err = match result {
                Ok(t) => panic!("expected fault {want}, got a translation: {}", t.summary()),
                Err(e) => e,
            };
            assert_eq!(err.fault_code().as_str(), want, "error was: {err}");
            // The answer a client would get parses as a SOAP fault with that code.
            let family = if case.to == "uxp" {
                Family::Legacy
            } else {
                Family::Uxp
            };
            let (ri, fam) = match &req {
                Some(r) => (
                    input(r, &req_ct),
                    if case.to == "uxp" {
                        Family::Uxp
                    } else {
                        Family::Legacy
                    },
                ),
                None => (input(&bytes, &case.content_type), family),
            };
            let rescue = Options::default().rescue_for(ri, fam);
            let msg = rescue.fault_message(&err.fault_code(), &err.to_string(), "ERROR-ID");
            let env = Envelope::scan(&msg, None).expect("fault parses");
            let f = Fault::from_elem(&env, env.body.fault.as_ref().expect("is a fault"));
            assert_eq!(f.code, want);
            insta::assert_snapshot!(
                format!("fault__{}", case.name),
                format!(
                    "{}\n---\n{}",
                    err.fault_code(),
                    String::from_utf8_lossy(&msg)
                )
            );
        }
        "ok" => {
            let t = result.unwrap_or_else(|e| panic!("expected ok, got {} ({e})", e.fault_code()));
            check_invariants(case, &bytes, req.as_deref(), &req_ct, &t);
            insta::assert_snapshot!(
                format!("ok__{}", case.name),
                format!(
                    "{}\ncontent-type: {}\nsoap-action: {:?}\n---\n{}",
                    t.summary(),
                    t.content_type,
                    t.soap_action,
                    String::from_utf8_lossy(&t.bytes)
                )
            );
        }
        other => panic!("bad expect `{other}`"),
    }
}

fn check_invariants(
    case: &Case,
    bytes: &[u8],
    req: Option<&[u8]>,
    req_ct: &Option<String>,
    t: &Translation,
) {
    let family = if case.to == "uxp" {
        Family::Legacy
    } else {
        Family::Uxp
    };
    // 1. decode → encode to the same dialect is byte-identical.
    let same = Options::default()
        .identity(input(bytes, &case.content_type), family)
        .unwrap_or_else(|e| panic!("identity failed: {e}"));
    assert!(
        same == bytes,
        "identity re-encode differs:\n{}",
        String::from_utf8_lossy(&same)
    );

    // 2. Body bytes unchanged (modulo a requested wrapper rename).
    let src = parse(bytes, case.content_type.as_deref());
    let out = parse(&t.bytes, Some(&t.content_type));
    let (b_in, mut b_out) = (body(&src.env), body(&out.env));
    let refaulted = src.env.is_fault() && src.env.soap != out.env.soap;
    if let Some((from, to)) = &t.wrapper_renamed {
        assert!(
            case.wrapper_renamed,
            "unexpected wrapper rename {from} → {to}"
        );
        let w = &out.env.body.wrapper;
        let prefix = w
            .qname
            .split_once(':')
            .map(|(p, _)| format!("{p}:"))
            .unwrap_or_default();
        let s = String::from_utf8_lossy(&b_out)
            .replacen(&format!("<{prefix}{to}"), &format!("<{prefix}{from}"), 1)
            .replacen(
                &format!("</{prefix}{to}>"),
                &format!("</{prefix}{from}>"),
                1,
            );
        b_out = s.into_bytes();
    } else {
        assert!(!case.wrapper_renamed, "expected a wrapper rename");
    }
    if !refaulted && src.env.charset == out.env.charset {
        assert!(b_in == b_out, "body bytes changed");
    }
    // Attachments: every part other than the SOAP part is byte-identical.
    if let (
        dualroad::wire::message::Packaging::Multipart {
            multipart: a,
            root: ra,
        },
        dualroad::wire::message::Packaging::Multipart {
            multipart: b,
            root: rb,
        },
    ) = (&src.packaging, &out.packaging)
    {
        assert_eq!(a.parts().len(), b.parts().len());
        for (i, (pa, pb)) in a.parts().iter().zip(b.parts()).enumerate() {
            if i != *ra && i != *rb {
                assert!(
                    pa.body == pb.body && pa.raw_headers == pb.raw_headers,
                    "attachment part {i} changed"
                );
            }
        }
    }

    // 3. Round trip restores the original header exactly.
    let tr = Translator::new(mappings(&case.mappings_dir()), Options::default());
    if req.is_none() && t.kind == translate::MessageKind::Request {
        // Use the translated request as the other stack's "answer": the echo rebuilt for
        // the original client must reproduce its header element for element.
        let back = if case.to == "uxp" {
            tr.response_to_legacy(
                Input::new(&t.bytes).with_content_type(Some(&t.content_type)),
                input(bytes, &case.content_type),
            )
        } else {
            tr.response_to_uxp(
                Input::new(&t.bytes).with_content_type(Some(&t.content_type)),
                input(bytes, &case.content_type),
            )
        }
        .unwrap_or_else(|e| panic!("round trip failed: {e}"));
        let back_msg = parse(&back.bytes, Some(&back.content_type));
        let got: Vec<String> = header_children(&back_msg.env)
            .iter()
            .map(|e| strip_added_decls(e))
            .collect();
        let want: Vec<String> = header_children(&src.env)
            .iter()
            .map(|e| strip_added_decls(e))
            .collect();
        assert_eq!(got, want, "round trip header differs");
        assert_eq!(
            back.lossy, t.lossy,
            "lossy fields reported differently on the way back"
        );
    }
    if let Some(r) = req {
        // A response's header is the original request's header, element for element.
        let req_msg = parse(r, req_ct.as_deref());
        let got: Vec<String> = header_children(&out.env)
            .iter()
            .map(|e| strip_added_decls(e))
            .collect();
        let want: Vec<String> = header_children(&req_msg.env)
            .iter()
            .map(|e| strip_added_decls(e))
            .collect();
        assert_eq!(got, want, "response header is not the request's echo");
        // A UXP response has the SOAP version of the UXP request it answers; legacy is 1.1.
        let want_soap = if case.to == "uxp" {
            req_msg.env.soap
        } else {
            dualroad::wire::SoapVersion::Soap11
        };
        assert_eq!(out.env.soap, want_soap);
    }
}
