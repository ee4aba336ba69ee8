//! Framing through a running gateway: a request's Body is proven to be one Body before
//! either stack sees it (`wire::scan`), a legitimate Body is forwarded byte for byte,
//! and an upstream answer that fails the same proof reaches the client as a fault in
//! its own dialect naming the stack, never as a success.

use std::net::SocketAddr;

use bytes::Bytes;
use dualroad::gateway::Gateway;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::gateway::{config_text, env_with, start, V31EU};
use crate::stub::Behaviour;

const XML: &str = "text/xml; charset=utf-8";
const UXP_ALL: &str = "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"uxp\"\n";
const V31EU_RESPONSE: &str =
    include_str!("../../fixtures/messages/v3.1-eu/response-getPatientSummary.xml");
const UXP_RESPONSE: &str =
    include_str!("../../fixtures/messages/uxp/response-to-v31eu-getResidence.xml");

fn consumer(gw: &Gateway) -> SocketAddr {
    gw.addr("agencies").unwrap()
}

pub(crate) async fn post_bytes(addr: SocketAddr, body: Vec<u8>, ct: &str) -> (u16, Vec<u8>) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::post(format!("http://{addr}/cgi-bin/consumer_proxy"))
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// The V3.1-eu request with its wrapper's content replaced by `inner`.
fn request_with_body(inner: &str) -> String {
    let open = "<moh:getPatientSummary>";
    let close = "</moh:getPatientSummary>";
    let a = V31EU.find(open).unwrap() + open.len();
    let b = V31EU.rfind(close).unwrap();
    format!("{}{inner}{}", &V31EU[..a], &V31EU[b..])
}

fn faultcode(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.split("<faultcode>")
        .nth(1)
        .and_then(|r| r.split("</faultcode>").next())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_second_header_hidden_behind_a_comment_reaches_no_stack() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    // The first Header names 10000042 (the bound client); after the comment-balanced
    // wrapper, a second Header names another agency.
    let smuggled = V31EU.replace(
        "<moh:getPatientSummary>",
        "<moh:getPatientSummary><!--<moh:getPatientSummary>--></moh:getPatientSummary></SOAP-ENV:Body>\
         <SOAP-ENV:Header><xrd:consumer>10000055</xrd:consumer></SOAP-ENV:Header>\
         <SOAP-ENV:Body><moh:getPatientSummary>",
    );
    let (status, body) = post_bytes(consumer(&gw), smuggled.into_bytes(), XML).await;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    assert_eq!(faultcode(&body), "Client.InvalidSoap");
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (0, 0));
    assert_eq!(
        gw.shared
            .metrics
            .counter_sum("dualroad_faults_total", &[("code", "Client.InvalidSoap")]),
        1.0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_any_stack() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cdata-three-children",
            V31EU
                .replace(
                    "<moh:getPatientSummary>",
                    "<moh:getPatientSummary><![CDATA[<moh:getPatientSummary>]]></moh:getPatientSummary><other/><moh:getPatientSummary>",
                )
                .into_bytes(),
            "Client.InvalidBody",
        ),
        (
            "undeclared-entity",
            request_with_body("<request>&nbsp;</request>").into_bytes(),
            "Client.InvalidXml",
        ),
        (
            "unclosed-tag",
            request_with_body("<request><patientCode>1</request>").into_bytes(),
            "Client.InvalidXml",
        ),
        (
            "late-declaration",
            request_with_body("<?xml version=\"1.0\"?><request/>").into_bytes(),
            "Client.InvalidXml",
        ),
    ];
    // A Latin-1 `é` in a message declared UTF-8.
    let mut bad_utf8 = request_with_body("<request>cafQQ</request>").into_bytes();
    let q = bad_utf8.windows(2).position(|w| w == b"QQ").unwrap();
    bad_utf8.splice(q..q + 2, [0xE9]);
    cases.push(("invalid-utf8", bad_utf8, "Client.InvalidXml"));
    for (name, bytes, code) in cases {
        let (status, body) = post_bytes(consumer(&gw), bytes, XML).await;
        assert_eq!(status, 500, "{name}");
        assert_eq!(
            faultcode(&body),
            code,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        // A SOAP 1.1 fault, as the client spoke.
        assert!(
            String::from_utf8_lossy(&body).contains("http://schemas.xmlsoap.org/soap/envelope/"),
            "{name}"
        );
    }
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (0, 0));
    gw.shutdown().await;
}

#[tokio::test]
async fn markup_inside_cdata_and_attributes_is_forwarded_byte_for_byte() {
    let inner = "<request note=\"a > b\"><patientCode><![CDATA[</moh:getPatientSummary><x>]]></patientCode><!-- </SOAP-ENV:Body> --><empty/></request>";
    let sent = request_with_body(inner);
    // Legacy stage: passed through untouched, answer (the echo) too.
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let (status, body) = post_bytes(consumer(&gw), sent.clone().into_bytes(), XML).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(env.legacy.last_body(), sent);
    assert_eq!(String::from_utf8_lossy(&body), sent);
    gw.shutdown().await;
    // UXP stage: the Body reaches UXP as the client wrote it, under a new header.
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", UXP_ALL, "", 2000)).await;
    let (status, body) = post_bytes(consumer(&gw), sent.clone().into_bytes(), XML).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body_of = |s: &str| s[s.find("<SOAP-ENV:Body>").unwrap()..].to_string();
    assert_eq!(body_of(&env.uxp.last_body()), body_of(&sent));
    gw.shutdown().await;
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test]
async fn a_broken_answer_is_the_stacks_fault_never_a_success() {
    // The legacy stack answers the request's own header, but its Body is not one Body.
    let id_of_request = "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418";
    let legacy_answer =
        V31EU_RESPONSE.replace("594629e9-476b-428c-9189-43606f4acecd", id_of_request);
    let legacy_answers = [
        legacy_answer.replace(
            "<moh:getPatientSummaryResponse>",
            "<moh:getPatientSummaryResponse><!--<moh:getPatientSummaryResponse>--></moh:getPatientSummaryResponse></SOAP-ENV:Body><SOAP-ENV:Body><moh:getPatientSummaryResponse>",
        ),
        legacy_answer.replace("<request>", "<request>&bogus;"),
        legacy_answer.replace("<SOAP-ENV:Body>", "<SOAP-ENV:Header/><SOAP-ENV:Body>"),
    ];
    for answer in legacy_answers {
        let env = env_with(Behaviour::Answer(leak(answer.clone())), Behaviour::Echo).await;
        let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
        let (status, body) = post_bytes(consumer(&gw), V31EU.as_bytes().to_vec(), XML).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 500, "{text}");
        assert_eq!(
            faultcode(&body),
            "Server.ClientProxy.InvalidResponse",
            "{text}"
        );
        assert!(text.contains("legacy stack answered"), "{text}");
        assert!(
            text.contains("<xrd:consumer>10000042</xrd:consumer>"),
            "{text}"
        );
        gw.shutdown().await;
    }
    // The same proof on a UXP answer, which is translated back.
    let uxp_answer = UXP_RESPONSE.replace("</soapenv:Body>", "<more/></soapenv:Body>");
    let env = env_with(Behaviour::Echo, Behaviour::Answer(leak(uxp_answer))).await;
    let gw = start(&config_text(&env, "legacy", UXP_ALL, "", 2000)).await;
    let (status, body) = post_bytes(consumer(&gw), V31EU.as_bytes().to_vec(), XML).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 500, "{text}");
    assert_eq!(
        faultcode(&body),
        "Server.ClientProxy.InvalidResponse",
        "{text}"
    );
    assert!(text.contains("uxp stack answered"), "{text}");
    gw.shutdown().await;
}

/// §4: a legacy answer passed through raw must be the answer to this request: another
/// message id or another consumer in its header is the stack's fault, never delivered.
#[tokio::test]
async fn a_legacy_answer_to_another_request_is_never_delivered() {
    let id_of_request = "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418";
    let own = V31EU_RESPONSE.replace("594629e9-476b-428c-9189-43606f4acecd", id_of_request);
    let cases = [
        (own.clone(), None),
        (V31EU_RESPONSE.to_string(), Some("message id `594629e9")),
        (
            own.replace(
                "<xrd:consumer>10000042</xrd:consumer>",
                "<xrd:consumer>10000077</xrd:consumer>",
            ),
            Some("client `10000077`"),
        ),
    ];
    for (answer, refused) in cases {
        let env = env_with(Behaviour::Answer(leak(answer)), Behaviour::Echo).await;
        let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
        let (status, body) = post_bytes(consumer(&gw), V31EU.as_bytes().to_vec(), XML).await;
        let text = String::from_utf8_lossy(&body);
        match refused {
            None => assert_eq!(status, 200, "{text}"),
            Some(why) => {
                assert_eq!(status, 500, "{text}");
                assert_eq!(
                    faultcode(&body),
                    "Server.ClientProxy.InvalidResponse",
                    "{text}"
                );
                assert!(
                    text.contains("another request") && text.contains(why),
                    "{text}"
                );
            }
        }
        let counted = gw.shared.metrics.counter_sum(
            "dualroad_answer_mismatch_total",
            &[("stack", "legacy"), ("role", "primary")],
        );
        assert_eq!(counted, f64::from(u8::from(refused.is_some())), "{text}");
        gw.shutdown().await;
    }
}
