//! The identifier model on real shapes (issue: "Real traffic: X-Road's own
//! identifiers"): member-level services from an X-Road 6 identifier mapping, services
//! that moved to another UXP provider, and UXP clients on short-name stacks — each
//! through the translation core both ways.

use std::path::PathBuf;

use dualroad::mapping::{import_identifier_mapping, Mappings};
use dualroad::translate::{self, Options, Translator};
use dualroad::wire::message::Input;
use dualroad::wire::Dialect;

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn load(name: &str, toml: &str) -> Mappings {
    Mappings::from_sources(&[(name.into(), toml.to_string())])
        .unwrap_or_else(|e| panic!("{e}\n---\n{toml}"))
}

/// A v3.1 request as a v5 information system sends it.
fn v31_request(consumer: &str, producer: &str, service: &str, method: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.ee/xsd/x-road.xsd">
<SOAP-ENV:Header>
<xrd:consumer>{consumer}</xrd:consumer>
<xrd:producer>{producer}</xrd:producer>
<xrd:userId>EE30101010006</xrd:userId>
<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>
<xrd:service>{service}</xrd:service>
</SOAP-ENV:Header>
<SOAP-ENV:Body><ns1:{method} xmlns:ns1="http://producer.x-road.ee"><request><seed>100</seed></request></ns1:{method}></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#
    )
}

/// A UXP (4.0) request; `service_provider` without subsystem gives a member's service.
fn uxp_request(
    client: [&str; 4],
    provider: [&str; 3],
    subsystem: Option<&str>,
    code: &str,
    version: &str,
) -> String {
    let sub = subsystem
        .map(|s| format!("<id:subsystemCode>{s}</id:subsystemCode>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
<SOAP-ENV:Header>
<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>{}</id:xRoadInstance><id:memberClass>{}</id:memberClass><id:memberCode>{}</id:memberCode><id:subsystemCode>{}</id:subsystemCode></xrd:client>
<xrd:service id:objectType="SERVICE"><id:xRoadInstance>{}</id:xRoadInstance><id:memberClass>{}</id:memberClass><id:memberCode>{}</id:memberCode>{sub}<id:serviceCode>{code}</id:serviceCode><id:serviceVersion>{version}</id:serviceVersion></xrd:service>
<xrd:userId>EE30101010006</xrd:userId>
<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>
<xrd:protocolVersion>4.0</xrd:protocolVersion>
</SOAP-ENV:Header>
<SOAP-ENV:Body><ns1:{code} xmlns:ns1="http://producer.x-road.eu"><request><seed>100</seed></request></ns1:{code}></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#,
        client[0], client[1], client[2], client[3], provider[0], provider[1], provider[2]
    )
}

fn to_uxp(maps: &Mappings, xml: &str) -> Result<String, translate::TranslateError> {
    let t = Translator::new(maps, Options::default()).request_to_uxp(
        Input::new(xml.as_bytes()).with_content_type(Some("text/xml; charset=utf-8")),
    )?;
    Ok(String::from_utf8(t.bytes).expect("UTF-8"))
}

fn to_legacy(maps: &Mappings, xml: &str) -> Result<String, translate::TranslateError> {
    let t = Translator::new(maps, Options::default()).request_to_legacy(
        Input::new(xml.as_bytes()).with_content_type(Some("text/xml; charset=utf-8")),
    )?;
    Ok(String::from_utf8(t.bytes).expect("UTF-8"))
}

/// The text of the `service` header element (start tag to end tag).
fn service_element(xml: &str) -> &str {
    let start = xml.find(":service").expect("a service element");
    let end = xml[start..].find("</").map(|i| start + i).expect("end");
    let close = xml[end..]
        .find(":service>")
        .map(|i| end + i)
        .expect("close");
    &xml[start..close]
}

#[test]
fn xroad_identifier_mapping_to_members_translates_both_ways() {
    // Before: `… maps to member EE/BUSINESS/producer, but a service needs a subsystem`.
    let toml = import_identifier_mapping(
        &fixture("mappings/xroad-import/identifiermapping.xml"),
        Dialect::V31,
        None,
    )
    .expect("imports");
    let maps = load("imported.toml", &toml);

    let req = v31_request("consumer", "producer", "producer.getRandom.v1", "getRandom");
    let uxp = to_uxp(&maps, &req).expect("a member-level service translates");
    let service = service_element(&uxp);
    assert!(service.contains("SERVICE"), "{service}");
    assert!(service.contains(">producer<"), "{service}");
    assert!(!service.contains("subsystemCode"), "{service}");
    assert!(
        service.contains(">getRandom<") && service.contains(">v1<"),
        "{service}"
    );
    assert!(uxp.contains(">ss1<"), "client keeps its subsystem: {uxp}");

    // And back: a UXP client calling the member's service reaches `producer.getRandom.v1`.
    let uxp_req = uxp_request(
        ["EE", "BUSINESS", "consumer", "ss1"],
        ["EE", "BUSINESS", "producer"],
        None,
        "getRandom",
        "v1",
    );
    let legacy = to_legacy(&maps, &uxp_req).expect("translates to the legacy stack");
    assert!(legacy.contains(">producer.getRandom.v1<"), "{legacy}");
    assert!(legacy.contains(":producer>producer<"), "{legacy}");
    assert!(legacy.contains(":consumer>consumer<"), "{legacy}");
}

#[test]
fn a_moved_service_goes_to_its_new_provider_and_back() {
    let maps = load(
        "moved.toml",
        r#"
[legacy]
dialect = "v3.1"
[uxp]
instance = "PS-UXP"
[[members]]
legacy = "10000042"
uxp = "PS-UXP/GOV/10000042/portal"
[[members]]
legacy = "tax"
uxp = "PS-UXP/GOV/10000004/tax"
[[services]]
legacy = "tax.getTaxDebt.v1"
uxp = "PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1"
[[services]]
legacy = "tax.getRate.v2"
uxp = { member = "PS-UXP/GOV/10000004", service = "getRate", version = "v2" }
"#,
    );
    let moved = to_uxp(
        &maps,
        &v31_request("10000042", "tax", "tax.getTaxDebt.v1", "getTaxDebt"),
    )
    .expect("moved service");
    assert!(service_element(&moved).contains(">tax-debt<"), "{moved}");
    let member = to_uxp(
        &maps,
        &v31_request("10000042", "tax", "tax.getRate.v2", "getRate"),
    )
    .expect("service moved to the member");
    assert!(
        !service_element(&member).contains("subsystemCode"),
        "{member}"
    );
    let stayed = to_uxp(
        &maps,
        &v31_request("10000042", "tax", "tax.getRefund.v1", "getRefund"),
    )
    .expect("not moved");
    assert!(service_element(&stayed).contains(">tax<"), "{stayed}");

    let client = ["PS-UXP", "GOV", "10000042", "portal"];
    let provider = ["PS-UXP", "GOV", "10000004"];
    for (sub, code, version, legacy) in [
        (Some("tax-debt"), "getTaxDebt", "v1", "tax.getTaxDebt.v1"),
        (None, "getRate", "v2", "tax.getRate.v2"),
        (Some("tax"), "getRefund", "v1", "tax.getRefund.v1"),
    ] {
        let back = to_legacy(&maps, &uxp_request(client, provider, sub, code, version))
            .unwrap_or_else(|e| panic!("{legacy}: {e}"));
        assert!(back.contains(&format!(">{legacy}<")), "{back}");
        assert!(back.contains(":producer>tax<"), "{back}");
    }
    // The moved service's old home is not a second way to reach it.
    let err = to_legacy(
        &maps,
        &uxp_request(client, provider, Some("tax"), "getTaxDebt", "v1"),
    )
    .expect_err("old home refused");
    assert!(err.to_string().contains("moved.toml:"), "{err}");
}

#[test]
fn a_4x_client_on_a_short_name_stack_is_known_by_both_names() {
    // Before: only the UXP id, so a `[[client_bindings]]` or rollout rule written with
    // the legacy name `10000042` did not cover the same agency's 4.x system.
    let maps = load(
        "short.toml",
        "[legacy]\ndialect = \"v3.1\"\n[uxp]\ninstance = \"PS-UXP\"\n\
         [[members]]\nlegacy = \"10000042\"\nuxp = \"PS-UXP/GOV/10000042/portal\"\n\
         [[members]]\nlegacy = \"tax\"\nuxp = \"PS-UXP/GOV/10000004/tax\"\n",
    );
    let req = uxp_request(
        ["PS-UXP", "GOV", "10000042", "portal"],
        ["PS-UXP", "GOV", "10000004"],
        Some("tax"),
        "getRefund",
        "v1",
    );
    let tr = Translator::new(&maps, Options::default());
    let d = Options::default()
        .decode(
            Input::new(req.as_bytes()),
            dualroad::wire::codec::Family::Legacy,
            dualroad::wire::codec::Kind::Request,
            dualroad::error::Side::Client,
        )
        .expect("a 4.x request decodes on the legacy side");
    let names = tr.route_names(&d.header, dualroad::wire::codec::Family::Legacy);
    assert_eq!(
        names.agency,
        vec![
            "PS-UXP/GOV/10000042/portal".to_string(),
            "10000042".to_string()
        ]
    );
    // And the legacy client's names are unchanged: legacy name first, then its UXP id.
    let legacy = v31_request("10000042", "tax", "tax.getRefund.v1", "getRefund");
    let d = Options::default()
        .decode(
            Input::new(legacy.as_bytes()),
            dualroad::wire::codec::Family::Legacy,
            dualroad::wire::codec::Kind::Request,
            dualroad::error::Side::Client,
        )
        .expect("decodes");
    assert_eq!(
        tr.route_names(&d.header, dualroad::wire::codec::Family::Legacy)
            .agency,
        vec![
            "10000042".to_string(),
            "PS-UXP/GOV/10000042/portal".to_string()
        ]
    );
}

/// §1: rules that fight after resolution are refused naming both rules' file and line,
/// so an operator goes straight to them.
#[tokio::test]
async fn rules_that_fight_are_refused_with_both_files_and_lines() {
    let env =
        crate::gateway::env_with(crate::stub::Behaviour::Echo, crate::stub::Behaviour::Echo).await;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp\"\n\n[[rollout.rules]]\nagency = \"PS-UXP/GOV/10000042/moh-portal\"\nservice = \"*\"\nstage = \"legacy\"\n";
    let text = crate::gateway::config_text(&env, "legacy", rules, "", 2000);
    let line_of = |needle: &str| {
        1 + text
            .lines()
            .position(|l| l.contains(needle))
            .expect("rule in the text")
    };
    let (first, second) = (
        line_of("agency = \"10000042\""),
        line_of("agency = \"PS-UXP/GOV/10000042/moh-portal\""),
    );
    let settings = dualroad::config::Settings::from_str("gw.toml", &text).expect("valid file");
    let maps =
        dualroad::mapping::load_dir(&crate::support::repo().join("mappings")).expect("mappings");
    let e = match dualroad::proxy::Active::build(settings, maps) {
        Ok(_) => panic!("two stages for one agency must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("rollout.rules[0] (agency = \"10000042\"")
            && e.contains(&format!("at gw.toml:{first}"))
            && e.contains(&format!("at gw.toml:{second}")),
        "lines {first} and {second}: {e}"
    );
}
