//! The X-Road dialects dualroad speaks and the namespaces that identify them.
//!
//! Detection (in `envelope`) looks only at the namespace URI of the required header
//! *elements*; this module is the table it consults. Nothing else in the crate should
//! compare namespace strings.

use std::fmt;
use std::str::FromStr;

pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_V2: &str = "http://x-tee.riik.ee/xsd/xtee.xsd";
pub const NS_V30: &str = "http://x-rd.net/xsd/xroad.xsd";
pub const NS_V31: &str = "http://x-road.ee/xsd/x-road.xsd";
pub const NS_V31_EU: &str = "http://x-road.eu/xsd/x-road.xsd";
/// Early X-Road 6 (`v6.0`), protocol 4.x and UXP share this header namespace.
pub const NS_XROAD: &str = "http://x-road.eu/xsd/xroad.xsd";
pub const NS_IDENTIFIERS: &str = "http://x-road.eu/xsd/identifiers";
pub const NS_REPRESENTATION: &str = "http://x-road.eu/xsd/representation.xsd";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const NS_XSD: &str = "http://www.w3.org/2001/XMLSchema";
pub const NS_SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";

/// One X-Road message dialect.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Dialect {
    /// Protocol 2.0, rpc/encoded, `xtee` namespace, Estonian element names.
    #[serde(rename = "v2")]
    V2,
    /// Protocol 3.0 (`x-rd.net`).
    #[serde(rename = "v3.0")]
    V30,
    /// Protocol 3.1 (`x-road.ee`).
    #[serde(rename = "v3.1")]
    V31,
    /// Protocol 3.1, international builds (`x-road.eu/xsd/x-road.xsd`).
    #[serde(rename = "v3.1-eu")]
    V31Eu,
    /// Early X-Road 6 (2014–2015): structured identifiers, no `protocolVersion`.
    #[serde(rename = "v6.0")]
    V60,
    /// X-Road 6/7 message protocol 4.x.
    #[serde(rename = "v4")]
    V4,
    /// UXP SOAP: the 4.0 profile plus SOAP 1.2 and an opaque `requestHash` algorithm.
    #[serde(rename = "uxp")]
    Uxp,
}

/// The dialects a legacy stack can speak (everything except `uxp`).
pub const LEGACY_DIALECTS: [Dialect; 6] = [
    Dialect::V2,
    Dialect::V30,
    Dialect::V31,
    Dialect::V31Eu,
    Dialect::V60,
    Dialect::V4,
];

impl Dialect {
    pub const ALL: [Dialect; 7] = [
        Dialect::V2,
        Dialect::V30,
        Dialect::V31,
        Dialect::V31Eu,
        Dialect::V60,
        Dialect::V4,
        Dialect::Uxp,
    ];

    /// Namespace URI of this dialect's header elements.
    pub fn header_ns(self) -> &'static str {
        match self {
            Dialect::V2 => NS_V2,
            Dialect::V30 => NS_V30,
            Dialect::V31 => NS_V31,
            Dialect::V31Eu => NS_V31_EU,
            Dialect::V60 | Dialect::V4 | Dialect::Uxp => NS_XROAD,
        }
    }

    /// The conventional prefix we use when we write this dialect's headers ourselves.
    pub fn header_prefix(self) -> &'static str {
        match self {
            Dialect::V2 => "xtee",
            Dialect::V30 | Dialect::V31 | Dialect::V31Eu => "xrd",
            Dialect::V60 | Dialect::V4 => "xrd",
            Dialect::Uxp => "xro",
        }
    }

    /// Dialects with typed (instance/class/code) identifiers in the header.
    pub fn has_structured_ids(self) -> bool {
        matches!(self, Dialect::V60 | Dialect::V4 | Dialect::Uxp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::V2 => "v2",
            Dialect::V30 => "v3.0",
            Dialect::V31 => "v3.1",
            Dialect::V31Eu => "v3.1-eu",
            Dialect::V60 => "v6.0",
            Dialect::V4 => "v4",
            Dialect::Uxp => "uxp",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dialect `{0}` (expected one of v2, v3.0, v3.1, v3.1-eu, v6.0, v4, uxp)")]
pub struct UnknownDialect(pub String);

impl FromStr for Dialect {
    type Err = UnknownDialect;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDialect(s.to_string()))
    }
}

/// SOAP envelope version. Legacy dialects are always 1.1; UXP accepts 1.2 as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SoapVersion {
    #[serde(rename = "1.1")]
    Soap11,
    #[serde(rename = "1.2")]
    Soap12,
}

impl SoapVersion {
    pub fn envelope_ns(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => NS_SOAP11,
            SoapVersion::Soap12 => NS_SOAP12,
        }
    }

    pub fn from_ns(ns: &[u8]) -> Option<Self> {
        if ns == NS_SOAP11.as_bytes() {
            Some(SoapVersion::Soap11)
        } else if ns == NS_SOAP12.as_bytes() {
            Some(SoapVersion::Soap12)
        } else {
            None
        }
    }

    /// The HTTP media type a plain (non-multipart) message of this version travels as.
    pub fn media_type(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => "text/xml",
            SoapVersion::Soap12 => "application/soap+xml",
        }
    }
}
