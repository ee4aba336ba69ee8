//! The pure core of both simulators: one HTTP request in, one HTTP answer out, no I/O,
//! no clock, no randomness (the UXP transaction id is handed in by the shell).
//!
//! 1. Parse and decode with the wire layer (`translate::Options::decode`), as the
//!    security server would; unreadable input gets a `fault::Rescue` fault.
//! 2. Check the dialect is one this stack speaks and the message is a request.
//! 3. Identify the service: UXP by the header's serviceCode, legacy by the Body wrapper.
//! 4. Decide, from the message id, whether to fail (`fault_rate`) or, on UXP, to
//!    diverge (`divergence_rate`).
//! 5. Answer: the request's bytes up to the Body unchanged (prolog, Envelope start tag,
//!    the whole Header), plus `requestHash` after `id` on UXP, then the new Body.

use http::{Method, StatusCode};
use sha2::{Digest, Sha256, Sha512};

use crate::translate::{Decoded, Options};
use crate::wire::codec::Kind;
use crate::wire::dialect::{Dialect, SoapVersion, LEGACY_DIALECTS, NS_SOAP11, NS_SOAP12, NS_XROAD};
use crate::wire::envelope::Envelope;
use crate::wire::fault::Fault;
use crate::wire::header::ServiceRef;
use crate::wire::message::{Input, Packaging};
use crate::wire::WireError;
use dualroad_core::error::Side;

use super::body::{compose, compose_fault, BodyScan, Convention};
use super::data::{decide, Rng};
use super::error::SimError;
use super::service::{answer, diverge, Attachment, Service};
use super::{SimConfig, SimKind, REQUEST_HASH_ALGORITHM};

/// An HTTP request as the simulator sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub content_type: Option<&'a str>,
    pub soap_action: Option<&'a str>,
    pub body: &'a [u8],
    /// The `uxp-transaction-id` to answer with; `None` derives one from the body, which
    /// keeps `respond` deterministic (the server passes a fresh one per request).
    pub transaction_id: Option<uuid::Uuid>,
}

impl<'a> Request<'a> {
    /// A POST of `body` with no Content-Type (plain SOAP 1.1).
    pub fn post(body: &'a [u8]) -> Request<'a> {
        Request {
            method: Method::POST,
            content_type: None,
            soap_action: None,
            body,
            transaction_id: None,
        }
    }

    pub fn with_content_type(mut self, ct: Option<&'a str>) -> Request<'a> {
        self.content_type = ct;
        self
    }
}

/// What became of a request (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered {
        service: Service,
        dialect: Dialect,
        /// What the UXP simulator changed on purpose, if anything.
        diverged: Option<&'static str>,
    },
    Fault {
        code: String,
        reason: String,
    },
}

/// The answer to send.
#[derive(Debug, Clone)]
pub struct SimResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
    /// `uxp-transaction-id` header value (UXP only).
    pub transaction_id: Option<String>,
    /// `Allow` header value (with 405).
    pub allow: Option<&'static str>,
    pub outcome: Outcome,
}

/// `requestHash` value for a request SOAP message: base64 of its SHA-512. For
/// multipart requests pass the SOAP part only (X-Road hashes the first MIME part).
pub fn request_hash(soap: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha512::digest(soap))
}

/// A UUID derived from `bytes`, for ids that must be unique per message yet stable.
fn derived_uuid(salt: &str, bytes: &[u8]) -> uuid::Uuid {
    let d = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0u8])
        .chain_update(bytes)
        .finalize();
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// Answers one request. Never panics, whatever the bytes.
pub fn respond(cfg: &SimConfig, req: &Request) -> SimResponse {
    let transaction_id = (cfg.kind == SimKind::Uxp).then(|| {
        req.transaction_id
            .unwrap_or_else(|| derived_uuid("uxp-transaction", req.body))
            .to_string()
    });
    let input = Input {
        bytes: req.body,
        content_type: req.content_type,
        soap_action: req.soap_action,
    };
    let opts = Options::default();
    if req.method != Method::POST {
        let mut r = rescue(cfg, input, &opts, SimError::Method(req.method.to_string()));
        r.allow = Some("POST");
        r.transaction_id = transaction_id;
        return r;
    }
    let decoded = match opts.decode(input, cfg.kind.family(), Kind::Request, Side::Client) {
        Ok(d) => d,
        Err(e) => {
            let mut r = rescue(cfg, input, &opts, SimError::Decode(e));
            r.transaction_id = transaction_id;
            return r;
        }
    };
    let env = &decoded.msg.env;
    let scan = BodyScan::scan(env);
    let result = accept(cfg, &decoded).and_then(|()| match &scan {
        Ok(scan) => answer_request(cfg, &decoded, scan),
        Err(e) => Err(SimError::Wire(e.clone())),
    });
    let (status, body, outcome) = match result {
        Ok((body, outcome)) => (StatusCode::OK, body, outcome),
        Err(err) => {
            let id = decoded.header.id.as_deref().unwrap_or("");
            let fault = fault_element(env, &err, &derived_uuid("fault", id.as_bytes()).to_string());
            let body = compose_fault(env, scan.as_ref().ok(), &fault);
            (err.status(), body, fault_outcome(&err))
        }
    };
    let mut out = echo_head(cfg.kind, env);
    out.extend_from_slice(&body);
    SimResponse {
        status,
        content_type: content_type(env.soap, env.charset.label()),
        body: out,
        transaction_id,
        allow: None,
        outcome,
    }
}

fn content_type(soap: SoapVersion, charset: &str) -> String {
    format!("{}; charset={charset}", soap.media_type())
}

fn fault_outcome(err: &SimError) -> Outcome {
    Outcome::Fault {
        code: err.fault_code().0,
        reason: err.to_string(),
    }
}

/// A fault for a request that could not be decoded: `fault::Rescue` in the caller's SOAP
/// version, with its header echoed when it could be read.
fn rescue(cfg: &SimConfig, input: Input, opts: &Options, err: SimError) -> SimResponse {
    let r = opts.rescue_for(input, cfg.kind.family());
    let error_id = derived_uuid("rescue", input.bytes).to_string();
    // (Derived, not random: `respond` stays a pure function of its input.)
    let body = r.fault_message(&err.fault_code(), &err.to_string(), &error_id);
    SimResponse {
        status: err.status(),
        content_type: content_type(r.soap, "utf-8"),
        body,
        transaction_id: None,
        allow: None,
        outcome: fault_outcome(&err),
    }
}

/// A fault for a request whose body never arrived whole (too large, connection broken).
pub(crate) fn reject(
    cfg: &SimConfig,
    content_type: Option<&str>,
    transaction_id: Option<uuid::Uuid>,
    err: SimError,
) -> SimResponse {
    let input = Input::new(b"").with_content_type(content_type);
    let mut r = rescue(cfg, input, &Options::default(), err);
    r.transaction_id = transaction_id.map(|t| t.to_string());
    r
}

/// Whether this stack speaks the request's dialect and the message is a request.
fn accept(cfg: &SimConfig, d: &Decoded) -> Result<(), SimError> {
    let ok = match cfg.kind {
        SimKind::Uxp => d.dialect == Dialect::Uxp,
        SimKind::Legacy => match cfg.dialect {
            Some(only) => d.dialect == only,
            None => LEGACY_DIALECTS.contains(&d.dialect),
        },
    };
    if !ok {
        let accepts = match (cfg.kind, cfg.dialect) {
            (SimKind::Uxp, _) => "uxp".to_string(),
            (SimKind::Legacy, Some(only)) => only.to_string(),
            (SimKind::Legacy, None) => LEGACY_DIALECTS
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        };
        return Err(SimError::WrongDialect {
            sim: cfg.kind,
            dialect: d.dialect,
            accepts,
        });
    }
    let env = &d.msg.env;
    if env.is_fault() {
        return Err(SimError::NotARequest("the Body holds a SOAP Fault".into()));
    }
    if env.body.wrapper.local.ends_with("Response") {
        return Err(SimError::NotARequest(format!(
            "`{}` is a response wrapper",
            env.body.wrapper.local
        )));
    }
    Ok(())
}

/// The service a request calls: UXP by the header's service code (the Body wrapper must
/// start with it, as a security server checks), legacy by the Body wrapper.
fn identify(kind: SimKind, d: &Decoded) -> Result<Service, SimError> {
    let wrapper = &d.msg.env.body.wrapper.local;
    let name = match (kind, &d.header.service) {
        (SimKind::Uxp, Some(ServiceRef::Id(sid))) => {
            if !wrapper.starts_with(&sid.service_code) {
                return Err(SimError::Wire(WireError::InconsistentHeaders {
                    wrapper: wrapper.clone(),
                    service_code: sid.service_code.clone(),
                }));
            }
            sid.service_code.as_str()
        }
        _ => wrapper.as_str(),
    };
    Service::from_operation(name).ok_or_else(|| SimError::UnknownService(name.to_string()))
}

fn answer_request(
    cfg: &SimConfig,
    d: &Decoded,
    scan: &BodyScan,
) -> Result<(Vec<u8>, Outcome), SimError> {
    let service = identify(cfg.kind, d)?;
    let id = d.header.id.as_deref().unwrap_or("");
    if decide("fault", id, cfg.fault_rate) {
        return Err(SimError::Injected(cfg.fault_rate));
    }
    let mut content = answer(service, scan, &attachments(d));
    let diverged = match cfg.kind {
        SimKind::Uxp if decide("divergence", id, cfg.divergence_rate) => {
            diverge(&mut content, &mut Rng::new("divergence-kind", id))
        }
        _ => None,
    };
    let env = &d.msg.env;
    let resp_qname = format!("{}Response", env.body.wrapper.qname);
    let convention = Convention::of(scan, d.dialect);
    let body = compose(env, scan, &resp_qname, convention, &content);
    Ok((
        body,
        Outcome::Answered {
            service,
            dialect: d.dialect,
            diverged,
        },
    ))
}

/// The non-root parts of a multipart request.
fn attachments(d: &Decoded) -> Vec<Attachment> {
    let Packaging::Multipart { multipart, root } = &d.msg.packaging else {
        return Vec::new();
    };
    multipart
        .parts()
        .iter()
        .enumerate()
        .filter(|(i, _)| i != root)
        .map(|(_, p)| Attachment {
            content_id: p.content_id(),
            content_type: p.content_type().map(str::to_string),
            size: p.body.len(),
            sha256: hex::encode(Sha256::digest(p.body)),
        })
        .collect()
}

/// The request's bytes up to the Body, unchanged; on UXP with `requestHash` (SHA-512 of
/// the request SOAP message) inserted right after `id`, with `id`'s prefix and leading
/// whitespace, replacing any `requestHash` the client sent.
fn echo_head(kind: SimKind, env: &Envelope) -> Vec<u8> {
    let src = env.src;
    let head = src.get(..env.body.start).unwrap_or(&[]);
    let header = match (kind, &env.header) {
        (SimKind::Uxp, Some(h)) => h,
        _ => return head.to_vec(),
    };
    // (range replaced, replacement), in source order.
    let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
    for (i, c) in header.children.iter().enumerate() {
        let gap = header
            .gaps
            .get(i)
            .cloned()
            .unwrap_or(c.span.start..c.span.start);
        if c.is(NS_XROAD, "requestHash") {
            edits.push((gap.start..c.span.end, Vec::new()));
        } else if c.is(NS_XROAD, "id") {
            let qname = qname_at(src, c.span.start);
            let prefix = qname.split_once(':').map_or("", |(p, _)| p);
            let p = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}:")
            };
            // If `id` declares its own prefix, the new sibling needs the declaration too.
            let decl = c
                .ns_decls
                .iter()
                .find(|(dp, _)| dp == prefix)
                .map(|(dp, uri)| match dp.as_str() {
                    "" => format!(" xmlns=\"{uri}\""),
                    dp => format!(" xmlns:{dp}=\"{uri}\""),
                })
                .unwrap_or_default();
            let mut el = src.get(gap).unwrap_or(&[]).to_vec();
            el.extend_from_slice(
                format!(
                    "<{p}requestHash{decl} algorithmId=\"{REQUEST_HASH_ALGORITHM}\">{}</{p}requestHash>",
                    request_hash(src)
                )
                .as_bytes(),
            );
            edits.push((c.span.end..c.span.end, el));
        }
    }
    let mut out = Vec::with_capacity(head.len() + 200);
    let mut at = 0;
    for (range, with) in edits {
        out.extend_from_slice(src.get(at..range.start).unwrap_or(&[]));
        out.extend_from_slice(&with);
        at = range.end.max(at);
    }
    out.extend_from_slice(src.get(at..env.body.start).unwrap_or(&[]));
    out
}

/// The qualified name of the element whose `<` is at `start`.
fn qname_at(src: &[u8], start: usize) -> String {
    let tag = src.get(start + 1..).unwrap_or(&[]);
    let end = tag
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
        .unwrap_or(tag.len());
    String::from_utf8_lossy(tag.get(..end).unwrap_or(&[])).into_owned()
}

/// The Fault element for `err`, in the request's SOAP version, Envelope prefix and
/// charset, with an X-Road style `faultDetail` error id.
fn fault_element(env: &Envelope, err: &SimError, error_id: &str) -> Vec<u8> {
    let fault = Fault {
        code: err.fault_code().0,
        string: err.to_string(),
        actor: None,
        detail_xml: Some(
            format!(
                "<faultDetail xmlns=\"\">{}</faultDetail>",
                quick_xml::escape::escape(error_id)
            )
            .into_bytes(),
        ),
    };
    let mut utf8 = Vec::new();
    match &env.env_prefix {
        Some(p) => fault.write_element(env.soap, &format!("{p}:"), &mut utf8),
        None => {
            // A default-namespace Envelope: declare a prefix on the Fault and undeclare
            // the default, so `faultcode` & co. stay unqualified as SOAP 1.1 wants.
            let ns = match env.soap {
                SoapVersion::Soap11 => NS_SOAP11,
                SoapVersion::Soap12 => NS_SOAP12,
            };
            fault.write_element(env.soap, "SOAP-ENV:", &mut utf8);
            let open = b"<SOAP-ENV:Fault>";
            if utf8.starts_with(open) {
                let mut fixed =
                    format!("<SOAP-ENV:Fault xmlns:SOAP-ENV=\"{ns}\" xmlns=\"\">").into_bytes();
                fixed.extend_from_slice(utf8.get(open.len()..).unwrap_or(&[]));
                utf8 = fixed;
            }
        }
    }
    // Written as UTF-8; re-encode for a Latin-1 request (text is all we generated).
    let text = String::from_utf8_lossy(&utf8);
    let mut out = Vec::with_capacity(utf8.len());
    env.charset.encode(&text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fault::Fault;

    const V31: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/x-road.xsd">
    <SOAP-ENV:Header>
        <xrd:consumer>10000077</xrd:consumer>
        <xrd:producer>bizreg</xrd:producer>
        <xrd:id>ID-1</xrd:id>
        <xrd:service>bizreg.getCompany.v1</xrd:service>
    </SOAP-ENV:Header>
    <SOAP-ENV:Body>
        <br:getCompany xmlns:br="http://bizreg.x-road.ps/producer/">
            <request>
                <registryCode>562345671</registryCode>
            </request>
        </br:getCompany>
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;

    const UXP: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:xro="http://x-road.eu/xsd/xroad.xsd" xmlns:iden="http://x-road.eu/xsd/identifiers">
  <s:Header>
    <xro:client iden:objectType="SUBSYSTEM"><iden:xRoadInstance>PS-UXP</iden:xRoadInstance><iden:memberClass>COM</iden:memberClass><iden:memberCode>10000077</iden:memberCode><iden:subsystemCode>kyc</iden:subsystemCode></xro:client>
    <xro:service iden:objectType="SERVICE"><iden:xRoadInstance>PS-UXP</iden:xRoadInstance><iden:memberClass>GOV</iden:memberClass><iden:memberCode>10000003</iden:memberCode><iden:subsystemCode>bizreg</iden:subsystemCode><iden:serviceCode>getCompany</iden:serviceCode><iden:serviceVersion>v1</iden:serviceVersion></xro:service>
    <xro:id>ID-1</xro:id>
    <xro:requestHash algorithmId="x">stale</xro:requestHash>
    <xro:protocolVersion>4.0</xro:protocolVersion>
  </s:Header>
  <s:Body>
    <br:getCompany xmlns:br="http://bizreg.x-road.ps/producer/">
      <request>
        <registryCode>562345671</registryCode>
      </request>
    </br:getCompany>
  </s:Body>
</s:Envelope>"#;

    fn post(cfg: &SimConfig, body: &str) -> SimResponse {
        respond(cfg, &Request::post(body.as_bytes()))
    }

    fn body_of(bytes: &[u8]) -> &[u8] {
        let env = Envelope::scan(bytes, None).unwrap();
        &bytes[env.body.start..]
    }

    fn fault_of(r: &SimResponse) -> Fault {
        let env = Envelope::scan(&r.body, None).unwrap();
        Fault::from_elem(&env, env.body.fault.as_ref().expect("a fault"))
    }

    #[test]
    fn legacy_echoes_header_and_answers_request_response() {
        let r = post(&SimConfig::legacy(), V31);
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type, "text/xml; charset=utf-8");
        assert!(r.transaction_id.is_none());
        let head = &V31[..V31.find("<SOAP-ENV:Body>").unwrap()];
        assert!(r.body.starts_with(head.as_bytes()));
        let s = String::from_utf8(r.body.clone()).unwrap();
        assert!(s.contains("<br:getCompanyResponse xmlns:br=\"http://bizreg.x-road.ps/producer/\">\n            <request>\n                <registryCode>562345671</registryCode>\n            </request>\n            <response>\n                <company>\n                    <registryCode>562345671</registryCode>"), "{s}");
        assert!(
            s.ends_with("</br:getCompanyResponse>\n    </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"),
            "{s}"
        );
        assert!(matches!(
            r.outcome,
            Outcome::Answered {
                service: Service::Company,
                dialect: Dialect::V31Eu,
                diverged: None
            }
        ));
        // Pure and deterministic.
        assert_eq!(post(&SimConfig::legacy(), V31).body, r.body);
    }

    #[test]
    fn request_hash_is_standard_padded_base64() {
        use base64::Engine as _;
        let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, b64) in cases {
            assert_eq!(encode(plain.as_bytes()), b64, "{plain:?}");
        }
        assert_eq!(encode(&[0xff, 0xfe, 0xfd]), "//79");
        // Python: base64.b64encode(hashlib.sha512(b"").digest())
        assert_eq!(
            request_hash(b""),
            "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }

    #[test]
    fn uxp_inserts_request_hash_after_id_and_answers_in_soap12() {
        let r = post(&SimConfig::uxp(), UXP);
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type, "application/soap+xml; charset=utf-8");
        assert!(r.transaction_id.is_some());
        let s = String::from_utf8(r.body.clone()).unwrap();
        let expected = format!(
            "<xro:id>ID-1</xro:id>\n    <xro:requestHash algorithmId=\"{REQUEST_HASH_ALGORITHM}\">{}</xro:requestHash>\n    <xro:protocolVersion>",
            request_hash(UXP.as_bytes())
        );
        assert!(s.contains(&expected), "{s}");
        assert!(!s.contains("stale"));
        // Same Body as the legacy simulator's for the same Body.
        let legacy = post(&SimConfig::legacy(), V31);
        let strip = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .unwrap()
                .split_whitespace()
                .collect::<String>()
        };
        let ub = strip(body_of(&r.body));
        let lb = strip(body_of(&legacy.body));
        let inner = |b: &str| {
            b[b.find("<br:getCompanyResponse").unwrap()
                ..b.find("</br:getCompanyResponse>").unwrap()]
                .to_string()
        };
        assert_eq!(inner(&ub), inner(&lb));
    }

    #[test]
    fn rates_decide_faults_and_divergence() {
        let mut cfg = SimConfig::legacy();
        cfg.fault_rate = 1.0;
        let r = post(&cfg, V31);
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            fault_of(&r).code,
            "Server.ServerProxy.ServiceFailed.InternalError"
        );
        assert!(r
            .body
            .starts_with(&V31.as_bytes()[..V31.find("<SOAP-ENV:Body>").unwrap()]));

        let mut cfg = SimConfig::uxp();
        cfg.divergence_rate = 1.0;
        let r = post(&cfg, UXP);
        assert!(matches!(
            r.outcome,
            Outcome::Answered {
                diverged: Some(_),
                ..
            }
        ));
        assert_ne!(
            body_of(&r.body),
            body_of(&post(&SimConfig::uxp(), UXP).body)
        );
        // The legacy simulator never diverges.
        let mut cfg = SimConfig::legacy();
        cfg.divergence_rate = 1.0;
        assert_eq!(post(&cfg, V31).body, post(&SimConfig::legacy(), V31).body);
    }

    #[test]
    fn errors_become_faults() {
        let r = respond(
            &SimConfig::legacy(),
            &Request {
                method: Method::GET,
                ..Request::post(b"")
            },
        );
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.allow, Some("POST"));
        assert_eq!(fault_of(&r).code, "Client.InvalidHttpMethod");

        let r = post(&SimConfig::legacy(), "garbage <<<");
        assert_eq!(fault_of(&r).code, "Client.InvalidXml");

        let unknown = V31.replace("getCompany", "deleteCompany");
        let r = post(&SimConfig::legacy(), &unknown);
        assert_eq!(fault_of(&r).code, "Server.ServerProxy.UnknownService");
        assert!(r
            .body
            .starts_with(&unknown.as_bytes()[..unknown.find("<SOAP-ENV:Body>").unwrap()]));

        // Each stack refuses the other's dialect.
        assert_eq!(
            fault_of(&post(&SimConfig::uxp(), V31)).code,
            "Client.InvalidMessage"
        );
        let mut only_v2 = SimConfig::legacy();
        only_v2.dialect = Some(Dialect::V2);
        assert_eq!(fault_of(&post(&only_v2, V31)).code, "Client.InvalidMessage");
        // SOAP 1.2 is UXP only.
        let r = post(&SimConfig::legacy(), UXP);
        assert_eq!(fault_of(&r).code, "Client.InvalidSoap");

        // UXP checks the wrapper against the service code.
        let r = post(
            &SimConfig::uxp(),
            &UXP.replace("br:getCompany", "br:getPerson"),
        );
        assert_eq!(fault_of(&r).code, "Client.InconsistentHeaders");

        // A broken Body (the envelope scanner does not read it) is a fault too.
        let r = post(
            &SimConfig::legacy(),
            &V31.replace("</registryCode>", "</registry>"),
        );
        assert_eq!(fault_of(&r).code, "Client.InvalidXml");

        // A response is not a request.
        let r = post(
            &SimConfig::legacy(),
            &V31.replace("getCompany>", "getCompanyResponse>")
                .replace("br:getCompany ", "br:getCompanyResponse "),
        );
        assert_eq!(
            fault_of(&r).code,
            "Client.InvalidMessage",
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }

    #[test]
    fn default_namespace_envelope_fault_keeps_faultcode_unqualified() {
        let x = V31
            .replace("SOAP-ENV:", "")
            .replace("xmlns:SOAP-ENV=", "xmlns=")
            .replace("getCompany", "nothing");
        let r = post(&SimConfig::legacy(), &x);
        let f = fault_of(&r);
        assert_eq!(f.code, "Server.ServerProxy.UnknownService");
    }

    #[test]
    fn latin1_requests_get_latin1_answers() {
        let x = V31.replace("UTF-8", "ISO-8859-1").replace(
            "<registryCode>562345671",
            "<note>Sa\u{ef}d</note><registryCode>562345671",
        );
        let bytes: Vec<u8> = x.chars().map(|c| c as u32 as u8).collect();
        let r = respond(&SimConfig::legacy(), &Request::post(&bytes));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.content_type, "text/xml; charset=ISO-8859-1");
        // The echo keeps the Latin-1 byte.
        assert!(r.body.windows(5).any(|w| w == b"Sa\xefd<"));
        assert!(Envelope::scan(&r.body, None).is_ok());
    }

    #[test]
    fn never_panics_on_mutated_input() {
        // Seeded xorshift mutations: byte flips, truncations, splices, duplications.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if n == 0 {
                0
            } else {
                (x % n as u64) as usize
            }
        };
        let splices: [&[u8]; 6] = [b"<", b"</", b"/>", b"&e;", b"\xff\xfe", b"<request>"];
        let cfgs = [
            SimConfig::legacy(),
            SimConfig {
                fault_rate: 0.5,
                divergence_rate: 0.5,
                ..SimConfig::uxp()
            },
        ];
        for src in [V31.as_bytes(), UXP.as_bytes()] {
            for _ in 0..1500 {
                let mut v = src.to_vec();
                for _ in 0..1 + next(3) {
                    let i = next(v.len());
                    match next(4) {
                        0 => {
                            if let Some(b) = v.get_mut(i) {
                                *b ^= 1 << next(8);
                            }
                        }
                        1 => v.truncate(i),
                        2 => {
                            let s = splices[next(splices.len())];
                            v.splice(i..i, s.iter().copied());
                        }
                        _ => {
                            let j = (i + next(64)).min(v.len());
                            let dup = v[i..j].to_vec();
                            v.splice(j..j, dup);
                        }
                    }
                }
                for cfg in &cfgs {
                    let r = respond(cfg, &Request::post(&v));
                    assert!(!r.body.is_empty());
                }
            }
        }
    }
}
