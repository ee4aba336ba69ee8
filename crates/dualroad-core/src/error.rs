//! Errors that reach a caller, tagged with the side that failed.
//!
//! Every layer has its own error type (`wire::WireError`, `translate::TranslateError`,
//! …). This module only adds the vocabulary they share: [`Side`] (who is to blame) and
//! [`FaultCode`] (the X-Road style code a legacy client sees). Turning an error into a
//! wire answer happens in exactly one place, `wire::fault::Rescue`.

use std::fmt;

/// Which party a failure is attributed to. Drives the code prefix and, later, metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The calling information system sent something wrong.
    Client,
    /// The legacy X-Road stack (or legacy adapter) failed or answered wrongly.
    Legacy,
    /// The UXP stack failed or answered wrongly.
    Uxp,
    /// dualroad itself (configuration, mappings, a bug).
    Internal,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Legacy => "legacy",
            Side::Uxp => "uxp",
            Side::Internal => "dualroad",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An X-Road style fault code such as `Client.InvalidXml` or
/// `Server.ClientProxy.UnknownMember`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCode(pub String);

impl FaultCode {
    /// Builds the code for a problem `code` attributed to `side`: client problems are
    /// `Client.*`; problems of an upstream stack are `Server.ServerProxy.ServiceFailed.*`
    /// (X-Road puts `ServiceFailed` in front of errors from the other side); dualroad's
    /// own problems are `Server.ClientProxy.*`.
    pub fn for_side(side: Side, code: &str) -> FaultCode {
        FaultCode(match side {
            Side::Client => format!("Client.{code}"),
            Side::Legacy | Side::Uxp => format!("Server.ServerProxy.ServiceFailed.{code}"),
            Side::Internal => format!("Server.ClientProxy.{code}"),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Normalises a fault code for comparison: X-Road 7.8 renamed
/// `Server.ServerProxy.AccessDenied` to `server.serverproxy.access_denied`, and codes are
/// matched case-insensitively, so both forms normalise to `server.serverproxy.accessdenied`.
/// A namespace prefix on a service's own QName code (`foo:FOOCODE`) is kept.
pub fn normalize_fault_code(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_compare_across_spellings() {
        assert_eq!(
            normalize_fault_code("Server.ServerProxy.AccessDenied"),
            normalize_fault_code("server.serverproxy.access_denied")
        );
        assert_ne!(
            normalize_fault_code("Client.InvalidXml"),
            normalize_fault_code("Client.InvalidSoap")
        );
        assert_eq!(
            FaultCode::for_side(Side::Client, "InvalidXml").as_str(),
            "Client.InvalidXml"
        );
        assert_eq!(
            FaultCode::for_side(Side::Uxp, "InvalidXml").as_str(),
            "Server.ServerProxy.ServiceFailed.InvalidXml"
        );
    }
}
