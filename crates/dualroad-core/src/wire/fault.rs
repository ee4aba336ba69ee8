//! SOAP Faults: reading a service's fault, re-enveloping it for another SOAP version,
//! and writing the faults dualroad raises itself.
//!
//! [`Rescue`] is the one place where an error becomes a wire answer: every rejected
//! message, unmapped identifier or failed upstream is turned into a SOAP Fault here, in
//! the caller's SOAP version and with the caller's header echoed when it could be read.

use crate::error::FaultCode;
use crate::wire::dialect::{SoapVersion, NS_SOAP11, NS_SOAP12};
use crate::wire::envelope::{slice, Elem, Envelope};

/// A SOAP Fault in version-neutral form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// SOAP 1.1 `faultcode` as written (`SOAP-ENV:Server`, `Server.ClientProxy.X`,
    /// `foo:FOOCODE`); for SOAP 1.2 the most specific Subcode value, else the Code value.
    pub code: String,
    pub string: String,
    pub actor: Option<String>,
    /// Raw XML of the detail's children, copied unchanged.
    pub detail_xml: Option<Vec<u8>>,
}

impl Fault {
    /// Reads a Fault element found by the envelope scanner.
    pub fn from_elem(env: &Envelope, f: &Elem) -> Fault {
        let detail_of = |d: &Elem| -> Vec<u8> {
            // The detail's children, verbatim, so namespaced detail content survives.
            let inner_start = d.children.first().map(|c| c.span.start);
            let inner_end = d.children.last().map(|c| c.span.end);
            match (inner_start, inner_end) {
                (Some(s), Some(e)) => slice(env.src, s..e).to_vec(),
                _ => quick_xml::escape::escape(d.text.as_str())
                    .as_bytes()
                    .to_vec(),
            }
        };
        match env.soap {
            SoapVersion::Soap11 => {
                let find = |l: &str| f.children.iter().find(|c| c.local == l && c.ns.is_none());
                Fault {
                    code: find("faultcode")
                        .map(|e| e.text.trim().to_string())
                        .unwrap_or_default(),
                    string: find("faultstring")
                        .map(|e| e.text.clone())
                        .unwrap_or_default(),
                    actor: find("faultactor").map(|e| e.text.clone()),
                    detail_xml: find("detail").map(detail_of),
                }
            }
            SoapVersion::Soap12 => {
                let code = f.child(NS_SOAP12, "Code");
                let mut value = code
                    .and_then(|c| c.child(NS_SOAP12, "Value"))
                    .map(|v| v.text.trim().to_string())
                    .unwrap_or_default();
                let mut sub = code.and_then(|c| c.child(NS_SOAP12, "Subcode"));
                while let Some(s) = sub {
                    if let Some(v) = s.child(NS_SOAP12, "Value") {
                        value = v.text.trim().to_string();
                    }
                    sub = s.child(NS_SOAP12, "Subcode");
                }
                Fault {
                    code: value,
                    string: f
                        .child(NS_SOAP12, "Reason")
                        .and_then(|r| r.child(NS_SOAP12, "Text"))
                        .map(|t| t.text.clone())
                        .unwrap_or_default(),
                    actor: f.child(NS_SOAP12, "Role").map(|r| r.text.clone()),
                    detail_xml: f.child(NS_SOAP12, "Detail").map(detail_of),
                }
            }
        }
    }

    /// Code without a namespace prefix (`SOAP-ENV:Server` → `Server`).
    pub fn local_code(&self) -> &str {
        match self.code.split_once(':') {
            Some((_, l)) => l,
            None => &self.code,
        }
    }

    /// True for client-caused codes (`Client…`, `soap:Client`, 1.2 `Sender`).
    pub fn is_client_fault(&self) -> bool {
        let l = self.local_code().to_ascii_lowercase();
        l.starts_with("client") || l.starts_with("sender")
    }

    /// Writes the Fault element (not the envelope) for `soap`, using `p` as the envelope
    /// prefix (`p` includes the colon, or is empty for a default namespace).
    pub fn write_element(&self, soap: SoapVersion, p: &str, out: &mut Vec<u8>) {
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        match soap {
            SoapVersion::Soap11 => {
                // SOAP 1.2 codes become their 1.1 equivalents; X-Road style codes stay.
                let code = match self.code.rsplit_once(':') {
                    Some((_, "Sender")) => format!("{p}Client"),
                    Some((_, "Receiver")) => format!("{p}Server"),
                    _ => self.code.clone(),
                };
                out.extend_from_slice(
                    format!(
                        "<{p}Fault><faultcode>{}</faultcode><faultstring>{}</faultstring>",
                        esc(&code),
                        esc(&self.string)
                    )
                    .as_bytes(),
                );
                if let Some(a) = &self.actor {
                    out.extend_from_slice(
                        format!("<faultactor>{}</faultactor>", esc(a)).as_bytes(),
                    );
                }
                if let Some(d) = &self.detail_xml {
                    out.extend_from_slice(b"<detail>");
                    out.extend_from_slice(d);
                    out.extend_from_slice(b"</detail>");
                }
                out.extend_from_slice(format!("</{p}Fault>").as_bytes());
            }
            SoapVersion::Soap12 => {
                let top = if self.is_client_fault() {
                    "Sender"
                } else {
                    "Receiver"
                };
                let local = self.local_code();
                // 1.1's generic codes map onto the 1.2 top-level codes; anything more
                // specific (X-Road codes, service codes) is kept as a Subcode.
                let generic = matches!(local, "Client" | "Server" | "Sender" | "Receiver");
                out.extend_from_slice(
                    format!("<{p}Fault><{p}Code><{p}Value>{p}{top}</{p}Value>").as_bytes(),
                );
                if !generic {
                    out.extend_from_slice(
                        format!(
                            "<{p}Subcode><{p}Value>{}</{p}Value></{p}Subcode>",
                            esc(&self.code)
                        )
                        .as_bytes(),
                    );
                }
                out.extend_from_slice(
                    format!(
                        "</{p}Code><{p}Reason><{p}Text xml:lang=\"en\">{}</{p}Text></{p}Reason>",
                        esc(&self.string)
                    )
                    .as_bytes(),
                );
                if let Some(a) = &self.actor {
                    out.extend_from_slice(format!("<{p}Role>{}</{p}Role>", esc(a)).as_bytes());
                }
                if let Some(d) = &self.detail_xml {
                    out.extend_from_slice(format!("<{p}Detail>").as_bytes());
                    out.extend_from_slice(d);
                    out.extend_from_slice(format!("</{p}Detail>").as_bytes());
                }
                out.extend_from_slice(format!("</{p}Fault>").as_bytes());
            }
        }
    }
}

/// Everything needed to answer a caller with a fault in its own terms.
#[derive(Debug, Clone)]
pub struct Rescue {
    pub soap: SoapVersion,
    /// The caller's header, already encoded in its dialect, echoed so the client can
    /// correlate the fault (X-Road security servers omit it; legacy clients expect it).
    pub header_xml: Option<Vec<u8>>,
}

impl Rescue {
    /// A SOAP 1.1 answer with no header: for input so broken nothing could be read.
    pub fn bare() -> Rescue {
        Rescue {
            soap: SoapVersion::Soap11,
            header_xml: None,
        }
    }

    /// Builds the complete fault message for `code` and a human `message`. The detail
    /// carries an error id (as X-Road's `faultDetail`) for log correlation.
    pub fn fault_message(&self, code: &FaultCode, message: &str, error_id: &str) -> Vec<u8> {
        let ns = match self.soap {
            SoapVersion::Soap11 => NS_SOAP11,
            SoapVersion::Soap12 => NS_SOAP12,
        };
        let fault = Fault {
            code: code.0.clone(),
            string: message.to_string(),
            actor: None,
            detail_xml: Some(
                format!(
                    "<faultDetail xmlns=\"\">{}</faultDetail>",
                    quick_xml::escape::escape(error_id)
                )
                .into_bytes(),
            ),
        };
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.extend_from_slice(format!("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"{ns}\">").as_bytes());
        if let Some(h) = &self.header_xml {
            out.extend_from_slice(h);
        }
        out.extend_from_slice(b"<SOAP-ENV:Body>");
        fault.write_element(self.soap, "SOAP-ENV:", &mut out);
        out.extend_from_slice(b"</SOAP-ENV:Body></SOAP-ENV:Envelope>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap12_fault_reads_and_converts_to_11() {
        let x = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>Server.ServerProxy.AccessDenied</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Denied &amp; logged</env:Text></env:Reason><env:Detail><e:x xmlns:e="urn:e">1</e:x></env:Detail></env:Fault></env:Body></env:Envelope>"#;
        let env = Envelope::scan(x.as_bytes(), None).unwrap();
        let f = Fault::from_elem(&env, env.body.fault.as_ref().unwrap());
        assert_eq!(f.code, "Server.ServerProxy.AccessDenied");
        assert_eq!(f.string, "Denied & logged");
        let mut out = Vec::new();
        f.write_element(SoapVersion::Soap11, "s:", &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("<faultcode>Server.ServerProxy.AccessDenied</faultcode>"),
            "{s}"
        );
        assert!(
            s.contains("<detail><e:x xmlns:e=\"urn:e\">1</e:x></detail>"),
            "{s}"
        );
    }

    #[test]
    fn rescue_writes_parseable_fault() {
        let r = Rescue::bare();
        let msg = r.fault_message(&FaultCode("Client.InvalidXml".into()), "bad <xml>", "abc");
        let env = Envelope::scan(&msg, None).unwrap();
        let f = Fault::from_elem(&env, env.body.fault.as_ref().unwrap());
        assert_eq!(f.code, "Client.InvalidXml");
        assert_eq!(f.string, "bad <xml>");
    }
}
