//! Errors of the wire layer: what is wrong with a message's bytes. Each variant knows
//! its X-Road style code (the suffix after `Client.` or `…ServiceFailed.`); which side
//! sent the message is decided by the caller (`crate::error`).

use crate::wire::multipart::MultipartError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message is empty")]
    Empty,
    /// An element over one of the scanner's per-element caps (`[limits]` key `key`).
    #[error("element `{element}` has more than {limit} {what} (limits.{key})")]
    TooManyAttributes {
        element: String,
        what: &'static str,
        limit: usize,
        key: &'static str,
    },
    #[error("message is not well-formed XML: {0}")]
    InvalidXml(String),
    #[error("DTDs and entity declarations are refused (XXE and entity-expansion protection)")]
    Dtd,
    #[error("XML nesting deeper than {0} levels in the SOAP header")]
    TooDeep(usize),
    #[error("message is not a SOAP envelope: {0}")]
    InvalidSoap(String),
    #[error("{0}")]
    WrongSoapVersion(String),
    #[error("request has no SOAP Header")]
    MissingHeader,
    #[error("required header field `{0}` is missing")]
    MissingHeaderField(String),
    #[error("header field `{0}` appears more than once")]
    DuplicateHeaderField(String),
    #[error("header field `{field}` is malformed: {reason}")]
    BadHeaderField { field: String, reason: String },
    #[error("message has no SOAP Body")]
    MissingBody,
    #[error("SOAP Body must have exactly one child element: {0}")]
    InvalidBody(String),
    #[error("body wrapper `{wrapper}` does not start with the service code `{service_code}`")]
    InconsistentHeaders {
        wrapper: String,
        service_code: String,
    },
    /// A header element that is an X-Road field of another namespace than the header's
    /// own: two stacks would read two different identities from one message.
    #[error("header element `{element}` is an X-Road field of namespace `{namespace}`, but the header is {dialect}: identity fields in two X-Road namespaces")]
    MixedDialects {
        element: String,
        namespace: String,
        dialect: crate::wire::Dialect,
    },
    #[error("header elements are in no known X-Road namespace ({0})")]
    UnknownDialect(String),
    #[error("unsupported protocolVersion `{0}` (expected 4.x)")]
    InvalidProtocolVersion(String),
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("unsupported Content-Type `{0}`")]
    InvalidContentType(String),
    #[error("unsupported charset `{0}` (supported: UTF-8, ISO-8859-1)")]
    UnsupportedCharset(String),
    #[error("header text is not valid {0}")]
    BadEncoding(&'static str),
    #[error("multipart message is broken: {0}")]
    Mime(#[from] MultipartError),
}

impl WireError {
    /// X-Road error code for this problem, without the origin prefix.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Empty
            | WireError::InvalidXml(_)
            | WireError::Dtd
            | WireError::TooDeep(_)
            | WireError::TooManyAttributes { .. } => "InvalidXml",
            WireError::BadEncoding(_) => "InvalidXml",
            WireError::InvalidSoap(_) | WireError::WrongSoapVersion(_) => "InvalidSoap",
            WireError::MissingHeader => "MissingHeader",
            WireError::MissingHeaderField(_) => "MissingHeaderField",
            WireError::DuplicateHeaderField(_) => "DuplicateHeaderField",
            WireError::BadHeaderField { .. } => "InvalidXml",
            WireError::MissingBody => "MissingBody",
            WireError::InvalidBody(_) => "InvalidBody",
            WireError::InconsistentHeaders { .. } | WireError::MixedDialects { .. } => {
                "InconsistentHeaders"
            }
            WireError::UnknownDialect(_) => "InvalidMessage",
            WireError::InvalidProtocolVersion(_) => "InvalidProtocolVersion",
            WireError::TooLarge { .. } => "MessageTooLarge",
            WireError::InvalidContentType(_) | WireError::UnsupportedCharset(_) => {
                "InvalidContentType"
            }
            WireError::Mime(_) => "MimeParsingFailed",
        }
    }
}
