//! What an upstream answer must be, and how requests are held to stricter framing
//! (issue "Real traffic" §4, §5). MIME framing: strict on requests, lenient on answers.
//! X-Road delivers a service's multipart answer whose last part ends without the
//! close delimiter, so its fault must reach the client as that fault; a request whose
//! SOAP part does not say it is SOAP is refused with `Client.InvalidContentType`.

use dualroad::translate::{MessageKind, Options, Translator};
use dualroad::wire::message::Input;

use crate::support::{mappings, repo};

const FAULT_CT: &str = "multipart/related; type=\"text/xml\"; boundary=\"=_uxp_fault_51c0\"";
const SWA_CT: &str = "multipart/related; type=\"text/xml\"; boundary=\"=_ps_legacy_9f2c41\"";

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join("fixtures/messages").join(rel)).expect("fixture")
}

/// The fixture's close delimiter (and epilogue) cut off.
fn without_close_delimiter(text: &str, boundary: &str) -> String {
    let close = format!("--{boundary}--");
    let at = text.rfind(&close).expect("has a close delimiter");
    text[..at].to_string()
}

#[test]
fn a_fault_in_a_multipart_answer_without_close_delimiter_reaches_the_client() {
    let maps = mappings(&repo().join("mappings"));
    let answer = without_close_delimiter(
        &read("multipart/uxp-fault-response.mime"),
        "=_uxp_fault_51c0",
    );
    let request = read("multipart/v31eu-swa-fileApplication.mime");
    let t = Translator::new(maps, Options::default())
        .response_to_legacy(
            Input::new(answer.as_bytes()).with_content_type(Some(FAULT_CT)),
            Input::new(request.as_bytes()).with_content_type(Some(SWA_CT)),
        )
        .expect("delivered as the service's fault, not MimeParsingFailed");
    assert_eq!(t.kind, MessageKind::Fault);
    let text = String::from_utf8_lossy(&t.bytes);
    assert!(text.contains("failed schema validation"), "{text}");
}

#[test]
fn requests_stay_strict_about_mime_framing() {
    let maps = mappings(&repo().join("mappings"));
    let swa = read("multipart/v31eu-swa-fileApplication.mime");
    let code = |body: &str| {
        Translator::new(maps, Options::default())
            .request_to_uxp(Input::new(body.as_bytes()).with_content_type(Some(SWA_CT)))
            .map(|_| ())
            .map_err(|e| e.fault_code().to_string())
    };
    assert_eq!(code(&swa), Ok(()), "the fixture itself is fine");
    // A truncated request is still refused.
    let truncated = without_close_delimiter(&swa, "=_ps_legacy_9f2c41");
    assert_eq!(
        code(&truncated),
        Err("Client.MimeParsingFailed".to_string())
    );
    // A broken part header: the SOAP part has no Content-Type at all.
    let broken = swa.replacen(
        "Content-Type: text/xml; charset=UTF-8",
        "Cont-Type: text/xml; charset=UTF-8",
        1,
    );
    assert_ne!(broken, swa);
    assert_eq!(code(&broken), Err("Client.InvalidContentType".to_string()));
    // No SOAP part: the root part is an attachment.
    let no_soap = swa.replacen(
        "Content-Type: text/xml; charset=UTF-8",
        "Content-Type: application/octet-stream",
        1,
    );
    assert_eq!(code(&no_soap), Err("Client.InvalidContentType".to_string()));
}

/// §4: a UXP answer naming another client or another service than the request it
/// answers is the UXP stack's fault, never delivered to the client.
#[test]
fn a_uxp_answer_for_another_client_or_service_is_refused() {
    let maps = mappings(&repo().join("mappings"));
    let answer = read("uxp/response-to-v31eu-getResidence.xml");
    let request = read("v3.1-eu/request-RR19IsikuElukoht.xml");
    let back = |a: &str| {
        Translator::new(maps, Options::default())
            .response_to_legacy(Input::new(a.as_bytes()), Input::new(request.as_bytes()))
            .map(|_| ())
            .map_err(|e| (e.fault_code().to_string(), e.to_string()))
    };
    assert_eq!(back(&answer), Ok(()));
    let other_client = answer.replacen(
        "<iden:memberCode>10000055</iden:memberCode>",
        "<iden:memberCode>10000099</iden:memberCode>",
        1,
    );
    assert_ne!(other_client, answer);
    let (code, text) = back(&other_client).expect_err("another client's answer");
    assert_eq!(code, "Server.ServerProxy.ServiceFailed.InvalidResponse");
    assert!(text.contains("10000099"), "{text}");
    let other_service = answer.replacen(
        "<iden:serviceCode>getResidence</iden:serviceCode>",
        "<iden:serviceCode>getTaxDebt</iden:serviceCode>",
        1,
    );
    let (code, text) = back(&other_service).expect_err("another service's answer");
    assert_eq!(code, "Server.ServerProxy.ServiceFailed.InvalidResponse");
    assert!(text.contains("getTaxDebt"), "{text}");
}

/// §4: the UXP answer must also carry the request's message id (X-Road's security
/// servers check id, client and service alike).
#[test]
fn a_uxp_answer_with_another_message_id_is_refused() {
    let maps = mappings(&repo().join("mappings"));
    let answer = read("uxp/response-to-v31eu-getResidence.xml");
    let request = read("v3.1-eu/request-RR19IsikuElukoht.xml");
    let other_id = answer.replacen(
        "<xro:id>da91096e-139f-45aa-810c-aa2214d9c05e</xro:id>",
        "<xro:id>0f0f0f0f-1111-4222-8333-444444444444</xro:id>",
        1,
    );
    assert_ne!(other_id, answer);
    let e = Translator::new(maps, Options::default())
        .response_to_legacy(
            Input::new(other_id.as_bytes()),
            Input::new(request.as_bytes()),
        )
        .expect_err("an answer to another message");
    assert_eq!(
        e.fault_code().as_str(),
        "Server.ServerProxy.ServiceFailed.InvalidResponse"
    );
    let text = e.to_string();
    assert!(
        text.contains("uxp stack answered another request")
            && text.contains("0f0f0f0f-1111-4222-8333-444444444444")
            && text.contains("da91096e-139f-45aa-810c-aa2214d9c05e"),
        "{text}"
    );
}

/// §4, the other direction: a legacy stack's answer to a 4.x client's translated
/// request must echo that request's id, client and service.
#[test]
fn a_legacy_answer_to_a_translated_uxp_request_must_belong_to_it() {
    let maps = mappings(&repo().join("mappings"));
    let request = read("uxp/request-getPatientSummary.xml");
    let answer = read("v3.1-eu/response-getPatientSummary.xml");
    let back = |a: &str| {
        Translator::new(maps, Options::default())
            .response_to_uxp(Input::new(a.as_bytes()), Input::new(request.as_bytes()))
            .map(|_| ())
            .map_err(|e| (e.fault_code().to_string(), e.to_string()))
    };
    assert_eq!(back(&answer), Ok(()));
    let cases = [
        (
            answer.replacen("594629e9-476b-428c-9189-43606f4acecd", "another-id", 1),
            "message id `another-id`",
        ),
        (
            answer.replacen(
                "<xrd:consumer>10000042</xrd:consumer>",
                "<xrd:consumer>10000077</xrd:consumer>",
                1,
            ),
            "client `10000077`",
        ),
        (
            answer.replacen(
                "<xrd:service>moh.getPatientSummary.v2</xrd:service>",
                "<xrd:service>moh.getPrescriptions.v1</xrd:service>",
                1,
            ),
            "service `moh.getPrescriptions.v1`",
        ),
    ];
    for (wrong, want) in cases {
        assert_ne!(wrong, answer);
        let (code, text) = back(&wrong).expect_err(want);
        assert_eq!(code, "Server.ServerProxy.ServiceFailed.InvalidResponse");
        assert!(
            text.contains("legacy stack answered another request") && text.contains(want),
            "{text}"
        );
    }
}

/// A copy under its own message id (`Translator::with_message_id`), in every direction:
/// the translated request carries the copy's id, and the answer must echo the copy's
/// id, not the client's.
#[test]
fn a_copy_goes_under_its_own_id_and_its_answer_must_echo_it() {
    let maps = mappings(&repo().join("mappings"));
    let copy = Translator::new(maps, Options::default()).with_message_id("copy-1");
    let cases = [
        (
            "v3.1-eu/request-RR19IsikuElukoht.xml",
            "uxp/response-to-v31eu-getResidence.xml",
            "da91096e-139f-45aa-810c-aa2214d9c05e",
        ),
        (
            "uxp/request-getPatientSummary.xml",
            "v3.1-eu/response-getPatientSummary.xml",
            "594629e9-476b-428c-9189-43606f4acecd",
        ),
    ];
    for (request, answer, client_id) in cases {
        let (request, answer) = (read(request), read(answer));
        let req = Input::new(request.as_bytes());
        let to_legacy = request.contains("<xro:id>");
        let sent = if to_legacy {
            copy.request_to_legacy(req)
        } else {
            copy.request_to_uxp(req)
        }
        .expect("translates");
        assert_eq!(sent.message_id.as_deref(), Some("copy-1"));
        let text = String::from_utf8_lossy(&sent.bytes);
        assert!(
            text.contains(">copy-1<") && !text.contains(client_id),
            "{text}"
        );
        let back = |a: &str| {
            let a = Input::new(a.as_bytes());
            if to_legacy {
                copy.response_to_uxp(a, req)
            } else {
                copy.response_to_legacy(a, req)
            }
            .map(|t| t.message_id)
            .map_err(|e| e.fault_code().to_string())
        };
        // The client's own id in the answer: not the copy's answer.
        assert_eq!(
            back(&answer),
            Err("Server.ServerProxy.ServiceFailed.InvalidResponse".to_string()),
            "{client_id}"
        );
        // The copy's id: it belongs, and the client's header is echoed.
        let echoed = answer.replacen(client_id, "copy-1", 1);
        assert_eq!(back(&echoed), Ok(Some(client_id.to_string())));
    }
}
