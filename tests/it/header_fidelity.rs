//! Header rules of issue 11 through the running gateway and the translation core:
//! one X-Road namespace per header, re-issued copies well-formed whatever the client's
//! namespace declaration style, header values carried exactly, and missing fields named
//! in the message's own dialect.

use crate::gateway::{config_text, env_with, post, start, V31EU};
use crate::stub::Behaviour;

const XML: &str = "text/xml; charset=utf-8";

/// A 3.1 `consumer` smuggled beside the 3.1-eu one, and a 2.0 `asutus` added to the
/// 3.1-eu header: refused before routing, in every stage, never forwarded.
#[tokio::test]
async fn identity_fields_in_a_second_xroad_namespace_are_refused_at_the_gateway() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let addr = gw.addr("agencies").unwrap();
    for smuggled in [
        r#"<c:consumer xmlns:c="http://x-road.ee/xsd/x-road.xsd">10000099</c:consumer>"#,
        r#"<t:asutus xmlns:t="http://x-tee.riik.ee/xsd/xtee.xsd">10000099</t:asutus>"#,
    ] {
        let msg = V31EU.replacen(
            "</SOAP-ENV:Header>",
            &format!("{smuggled}</SOAP-ENV:Header>"),
            1,
        );
        assert_ne!(msg, V31EU, "fixture has a SOAP-ENV:Header");
        let (status, body) = post(addr, &msg, XML).await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("<faultcode>Client.InconsistentHeaders</faultcode>")
                && body.contains("two X-Road namespaces"),
            "{body}"
        );
    }
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (0, 0));
    // The unaltered request is served.
    let (status, _) = post(addr, V31EU, XML).await;
    assert_eq!(status, 200);
    gw.shutdown().await;
}
