//! `dualroad demo`: the main job with no arguments and no config file. Everything it
//! needs (mappings, sample messages) is embedded in the binary.
//!
//! Part 1 walks a few real-shaped messages through the translation core in every
//! direction and shows what changed and what a legacy client would get back.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::mapping::Mappings;
use crate::translate::{self, Options, Translation};
use crate::wire::codec::Family;
use crate::wire::message::Input;

/// The worked mappings shipped in `mappings/`, embedded.
pub fn embedded_mappings() -> anyhow::Result<Mappings> {
    let sources = vec![
        (
            PathBuf::from("mappings/agencies.toml"),
            include_str!("../../mappings/agencies.toml").to_string(),
        ),
        (
            PathBuf::from("mappings/services.toml"),
            include_str!("../../mappings/services.toml").to_string(),
        ),
    ];
    Mappings::from_sources(&sources)
        .map_err(|e| anyhow::anyhow!("embedded mappings are invalid:\n{e}"))
}

const V2_REQUEST: &[u8] =
    include_bytes!("../../fixtures/messages/v2/request-getPatientSummary.xml");
const V31EU_RENAMED: &[u8] =
    include_bytes!("../../fixtures/messages/v3.1-eu/request-RR19IsikuElukoht.xml");
const UXP_SOAP12: &[u8] =
    include_bytes!("../../fixtures/messages/uxp/request-soap12-getPatientSummary.xml");
const UXP_RESPONSE_TO_V2: &[u8] =
    include_bytes!("../../fixtures/messages/uxp/response-to-v2-getPatientSummary.xml");
const XXE: &[u8] = include_bytes!("../../fixtures/messages/malformed/xxe-external-entity.xml");
const UNMAPPED: &[u8] = include_bytes!("../../fixtures/messages/malformed/unmapped-consumer.xml");

fn show(
    title: &str,
    r: Result<Translation, translate::TranslateError>,
    rescue_of: Input,
    family: Family,
) {
    println!("\n▸ {title}");
    match r {
        Ok(t) => {
            println!("  {}", t.summary());
            let text = String::from_utf8_lossy(&t.bytes);
            let header: Vec<&str> = text
                .lines()
                .skip_while(|l| !l.contains("Header"))
                .take_while(|l| !l.contains("Body"))
                .take(14)
                .collect();
            for l in header {
                println!("  │ {l}");
            }
        }
        Err(e) => {
            let rescue = translate::rescue_for(rescue_of, family, &Options::default());
            let fault = rescue.fault_message(&e.fault_code(), &e.to_string(), "demo");
            println!("  rejected ({} side) → {}", e.side(), e.fault_code());
            println!(
                "  │ {}",
                String::from_utf8_lossy(&fault)
                    .lines()
                    .last()
                    .unwrap_or_default()
            );
        }
    }
}

pub fn run() -> anyhow::Result<ExitCode> {
    let maps = embedded_mappings()?;
    let opts = Options::default();
    println!(
        "dualroad demo — part 1: translation core (embedded mappings: {} members, {} services)",
        maps.members().count(),
        maps.services().count()
    );
    show(
        "2.0 rpc/encoded request from the health portal → UXP",
        translate::request_to_uxp(&maps, &opts, Input::new(V2_REQUEST)),
        Input::new(V2_REQUEST),
        Family::Legacy,
    );
    show(
        "UXP answer → back to the 2.0 client (its own header restored, requestHash dropped)",
        translate::response_to_legacy(
            &maps,
            &opts,
            Input::new(UXP_RESPONSE_TO_V2),
            Input::new(V2_REQUEST),
        ),
        Input::new(V2_REQUEST),
        Family::Legacy,
    );
    show(
        "3.1-eu request whose operation was renamed on UXP (wrapper rename)",
        translate::request_to_uxp(&maps, &opts, Input::new(V31EU_RENAMED)),
        Input::new(V31EU_RENAMED),
        Family::Legacy,
    );
    let ct = Some("application/soap+xml; charset=utf-8; action=\"urn:getPatientSummary\"");
    show(
        "SOAP 1.2 UXP client → service still on the legacy stack (v3.1-eu)",
        translate::request_to_legacy(&maps, &opts, Input::new(UXP_SOAP12).with_content_type(ct)),
        Input::new(UXP_SOAP12).with_content_type(ct),
        Family::Uxp,
    );
    show(
        "XXE attempt",
        translate::request_to_uxp(&maps, &opts, Input::new(XXE)),
        Input::new(XXE),
        Family::Legacy,
    );
    show(
        "consumer with no mapping",
        translate::request_to_uxp(&maps, &opts, Input::new(UNMAPPED)),
        Input::new(UNMAPPED),
        Family::Legacy,
    );
    Ok(ExitCode::SUCCESS)
}
