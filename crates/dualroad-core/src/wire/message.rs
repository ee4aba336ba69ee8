//! A whole HTTP payload: plain SOAP or `multipart/related` (SwA, MTOM), with its
//! Content-Type, charset and SOAP part located and scanned.
//!
//! Translation rewrites only the SOAP part's header; [`Message::rebuild`] puts the new
//! SOAP part back and copies every other byte (other parts, part headers, delimiters)
//! unchanged.

use std::ops::Range;

use crate::wire::charset::Charset;
use crate::wire::dialect::SoapVersion;
use crate::wire::envelope::{Envelope, ScanLimits};
use crate::wire::error::WireError;
use crate::wire::multipart::{ContentType, Multipart};

/// Largest message accepted (a configurable limit; X-Road messages are small, but
/// attachments are not).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// How the SOAP envelope travels.
#[derive(Debug, Clone)]
pub enum Packaging<'a> {
    Plain,
    Multipart {
        multipart: Multipart<'a>,
        root: usize,
    },
}

/// An incoming payload and what it was sent with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    /// HTTP Content-Type; `None` means plain SOAP 1.1 in UTF-8 (or the XML declaration's
    /// encoding), as for a file on the command line.
    pub content_type: Option<&'a str>,
    /// HTTP SOAPAction header (SOAP 1.1).
    pub soap_action: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Input {
            bytes,
            content_type: None,
            soap_action: None,
        }
    }
    pub fn with_content_type(mut self, ct: Option<&'a str>) -> Self {
        self.content_type = ct;
        self
    }
}

/// Whose message is parsed: requests are held to the framing rules strictly, upstream
/// answers are read leniently at the MIME level (see [`Message::parse_answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Request,
    Answer,
}

/// A parsed payload.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub input: Input<'a>,
    pub content_type: Option<ContentType>,
    pub packaging: Packaging<'a>,
    /// Range of the SOAP envelope within `input.bytes`.
    pub soap_range: Range<usize>,
    pub env: Envelope<'a>,
}

fn charset_of(ct: &ContentType) -> Result<Option<Charset>, WireError> {
    match ct.charset() {
        None => Ok(None),
        Some(l) => Charset::from_label(l)
            .map(Some)
            .ok_or_else(|| WireError::UnsupportedCharset(l.to_string())),
    }
}

impl<'a> Message<'a> {
    pub fn parse(input: Input<'a>, max_bytes: usize) -> Result<Message<'a>, WireError> {
        Self::parse_with(input, max_bytes, ScanLimits::default())
    }

    /// [`Message::parse`] with the scanner's per-element caps from the config.
    pub fn parse_with(
        input: Input<'a>,
        max_bytes: usize,
        limits: ScanLimits,
    ) -> Result<Message<'a>, WireError> {
        Self::parse_framed(input, max_bytes, limits, Framing::Request)
    }

    /// [`Message::parse_with`] for an upstream answer: lenient about MIME framing at
    /// the end (a last part without the close delimiter) and about the SOAP part's
    /// own Content-Type, strict about everything else.
    pub fn parse_answer(
        input: Input<'a>,
        max_bytes: usize,
        limits: ScanLimits,
    ) -> Result<Message<'a>, WireError> {
        Self::parse_framed(input, max_bytes, limits, Framing::Answer)
    }

    fn parse_framed(
        input: Input<'a>,
        max_bytes: usize,
        limits: ScanLimits,
        framing: Framing,
    ) -> Result<Message<'a>, WireError> {
        let bytes = input.bytes;
        if bytes.len() > max_bytes {
            return Err(WireError::TooLarge {
                size: bytes.len(),
                limit: max_bytes,
            });
        }
        let Some(ct_raw) = input.content_type else {
            let env = Envelope::scan_with(bytes, None, limits)?;
            return Ok(Message {
                input,
                content_type: None,
                packaging: Packaging::Plain,
                soap_range: 0..bytes.len(),
                env,
            });
        };
        let ct = ContentType::parse(ct_raw)
            .map_err(|_| WireError::InvalidContentType(ct_raw.to_string()))?;
        match ct.media_type.as_str() {
            "text/xml" | "application/soap+xml" | "application/xop+xml" => {
                let env = Envelope::scan_with(bytes, charset_of(&ct)?, limits)?;
                Ok(Message {
                    input,
                    content_type: Some(ct),
                    packaging: Packaging::Plain,
                    soap_range: 0..bytes.len(),
                    env,
                })
            }
            "multipart/related" => {
                let boundary = ct.multipart_boundary()?.to_string();
                let multipart = match framing {
                    Framing::Request => Multipart::parse(bytes, &boundary)?,
                    Framing::Answer => Multipart::parse_lenient(bytes, &boundary)?,
                };
                let root = multipart.root_index(ct.start())?;
                let part = multipart.parts().get(root).ok_or_else(|| {
                    WireError::Mime(crate::wire::multipart::MultipartError::NoParts(
                        boundary.clone(),
                    ))
                })?;
                // A request's SOAP part must say it is SOAP, as X-Road checks: a part
                // whose header is broken (`Cont-Type:`) or a message whose root part
                // is an attachment is refused, never guessed at.
                if framing == Framing::Request {
                    let soap_type = part
                        .content_type()
                        .and_then(|v| ContentType::parse(v).ok())
                        .is_some_and(|pct| {
                            matches!(
                                pct.media_type.as_str(),
                                "text/xml" | "application/soap+xml" | "application/xop+xml"
                            )
                        });
                    if !soap_type {
                        return Err(WireError::InvalidContentType(format!(
                            "{ct_raw} (its SOAP part {root} has {})",
                            part.content_type()
                                .map(|c| format!("Content-Type `{c}`, which is not SOAP"))
                                .unwrap_or_else(|| "no Content-Type header".to_string())
                        )));
                    }
                }
                let range = part.body_range();
                // The root part's own Content-Type carries the charset (MTOM puts it on
                // `application/xop+xml`); fall back to the outer one.
                let part_cs = match part.content_type().map(ContentType::parse) {
                    Some(Ok(pct)) => charset_of(&pct)?,
                    _ => None,
                };
                let cs = match part_cs {
                    Some(c) => Some(c),
                    None => charset_of(&ct)?,
                };
                let soap = bytes.get(range.clone()).unwrap_or(&[]);
                let env = Envelope::scan_with(soap, cs, limits)?;
                Ok(Message {
                    input,
                    content_type: Some(ct),
                    packaging: Packaging::Multipart { multipart, root },
                    soap_range: range,
                    env,
                })
            }
            _ => Err(WireError::InvalidContentType(ct_raw.to_string())),
        }
    }

    /// The SOAP 1.2 `action` parameter, or the SOAP 1.1 SOAPAction header.
    pub fn action(&self) -> Option<String> {
        match self.env.soap {
            SoapVersion::Soap12 => self
                .content_type
                .as_ref()
                .and_then(|c| c.param("action"))
                .map(str::to_string)
                .or_else(|| {
                    self.input
                        .soap_action
                        .map(|s| s.trim_matches('"').to_string())
                }),
            SoapVersion::Soap11 => self
                .input
                .soap_action
                .map(|s| s.trim_matches('"').to_string()),
        }
    }

    pub fn is_multipart(&self) -> bool {
        matches!(self.packaging, Packaging::Multipart { .. })
    }

    /// Puts `soap` in place of the SOAP envelope and returns the payload with its
    /// Content-Type and the SOAPAction to send with it.
    pub fn rebuild(&self, soap: Vec<u8>, target: SoapVersion) -> Rebuilt {
        let action = self.action();
        let same = target == self.env.soap;
        match &self.packaging {
            Packaging::Plain => {
                let content_type = match (&self.input.content_type, same) {
                    (Some(ct), true) => ct.to_string(),
                    _ => {
                        let cs = self.env.charset.label();
                        match target {
                            SoapVersion::Soap11 => format!("text/xml; charset={cs}"),
                            SoapVersion::Soap12 => match &action {
                                Some(a) => {
                                    format!("application/soap+xml; charset={cs}; action=\"{a}\"")
                                }
                                None => format!("application/soap+xml; charset={cs}"),
                            },
                        }
                    }
                };
                Rebuilt {
                    bytes: soap,
                    content_type,
                    soap_action: soap_action_for(target, &action, self.input.soap_action, same),
                }
            }
            Packaging::Multipart { multipart, root } => {
                let bytes = multipart.replace_part_body(*root, &soap);
                let mut content_type = self.input.content_type.unwrap_or_default().to_string();
                if !same {
                    // Only the outer `type` parameter names the root's media type.
                    let (from, to) = match target {
                        SoapVersion::Soap11 => ("application/soap+xml", "text/xml"),
                        SoapVersion::Soap12 => ("text/xml", "application/soap+xml"),
                    };
                    content_type =
                        content_type.replacen(&format!("\"{from}\""), &format!("\"{to}\""), 1);
                }
                Rebuilt {
                    bytes,
                    content_type,
                    soap_action: soap_action_for(target, &action, self.input.soap_action, same),
                }
            }
        }
    }
}

fn soap_action_for(
    target: SoapVersion,
    action: &Option<String>,
    original: Option<&str>,
    same: bool,
) -> Option<String> {
    match target {
        // SOAP 1.2 carries the action in the Content-Type.
        SoapVersion::Soap12 => None,
        SoapVersion::Soap11 if same => original.map(str::to_string),
        SoapVersion::Soap11 => Some(format!("\"{}\"", action.clone().unwrap_or_default())),
    }
}

/// A payload ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub soap_action: Option<String>,
}
