//! Gateway errors: everything that can stop a request, tagged with the failing side.

use crate::error::{FaultCode, Side};
use crate::proxy::upstream::UpstreamError;
use crate::routing::Stack;
use crate::translate::TranslateError;

/// The listener role a request arrived on; decides the fault-code origin of upstream
/// failures (a consumer-side gateway acts as X-Road's client proxy, a provider-side one
/// as its server proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Consumer,
    Provider,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Translate(#[from] TranslateError),
    #[error("{error}")]
    Upstream { stack: Stack, error: UpstreamError },
    #[error("{stack} stack answered HTTP {status} with {what}")]
    BadUpstreamAnswer {
        stack: Stack,
        status: u16,
        what: String,
    },
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// The HTTP header section is over `[limits] max_header_bytes` or `max_headers`
    /// (checked by `pipeline::header_excess`; hyper itself only cuts off far larger
    /// heads, see `proxy::server::HARD_HEADER_FACTOR`).
    #[error("request {what} {actual}, over the limit of {limit} (limits.{key})")]
    HeaderLimit {
        what: &'static str,
        key: &'static str,
        actual: usize,
        limit: usize,
    },
    #[error("request body not received within {timeout_ms} ms")]
    BodyTimeout { timeout_ms: u128 },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("method {0} is not allowed: X-Road SOAP requests are POSTs")]
    Method(String),
    #[error("no SOAP endpoint at `{0}` (use `/` or `/cgi-bin/consumer_proxy`)")]
    Path(String),
    #[error("dualroad is misconfigured: {0}")]
    Config(String),
    /// Client identity binding refused the request (`proxy::identity`).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// A connection limit refused the connection before any request was read
    /// (`proxy::server`); the text names the limit's key.
    #[error("{0}")]
    OutOfCapacity(&'static str),
}

fn stack_side(s: Stack) -> Side {
    match s {
        Stack::Legacy => Side::Legacy,
        Stack::Uxp => Side::Uxp,
    }
}

impl GatewayError {
    pub fn side(&self) -> Side {
        match self {
            GatewayError::Translate(e) => e.side(),
            GatewayError::Upstream { stack, .. }
            | GatewayError::BadUpstreamAnswer { stack, .. } => stack_side(*stack),
            GatewayError::BodyTooLarge { .. }
            | GatewayError::HeaderLimit { .. }
            | GatewayError::BodyTimeout { .. }
            | GatewayError::BodyRead(_)
            | GatewayError::Method(_)
            | GatewayError::Path(_)
            | GatewayError::AccessDenied(_) => Side::Client,
            GatewayError::Config(_) | GatewayError::OutOfCapacity(_) => Side::Internal,
        }
    }

    pub fn fault_code(&self, role: Role) -> FaultCode {
        let upstream = |code: &str| match role {
            Role::Consumer => FaultCode(format!("Server.ClientProxy.{code}")),
            Role::Provider => FaultCode(format!("Server.ServerProxy.ServiceFailed.{code}")),
        };
        match self {
            // An answer to another request is the stack answering wrongly, coded by
            // the listener's role like every other unusable upstream answer.
            GatewayError::Translate(TranslateError::AnswerMismatch { .. }) => {
                upstream("InvalidResponse")
            }
            GatewayError::Translate(e) => e.fault_code(),
            GatewayError::Upstream { error, .. } => upstream(error.code()),
            GatewayError::BadUpstreamAnswer { .. } => upstream("InvalidResponse"),
            GatewayError::BodyTooLarge { .. } => {
                FaultCode::for_side(Side::Client, "MessageTooLarge")
            }
            GatewayError::HeaderLimit { .. } => FaultCode::for_side(Side::Client, "BadRequest"),
            GatewayError::BodyTimeout { .. } => FaultCode::for_side(Side::Client, "Timeout"),
            GatewayError::BodyRead(_) => FaultCode::for_side(Side::Client, "IOError"),
            GatewayError::Method(_) => FaultCode::for_side(Side::Client, "InvalidHttpMethod"),
            GatewayError::Path(_) => FaultCode::for_side(Side::Client, "InvalidRequest"),
            GatewayError::Config(_) => FaultCode::for_side(Side::Internal, "InternalError"),
            GatewayError::AccessDenied(_) => FaultCode::for_side(Side::Client, "AccessDenied"),
            // Refused before a request was read, so before any role applies: the
            // gateway speaks as the client's proxy, whichever listener it is.
            GatewayError::OutOfCapacity(_) => FaultCode("Server.ClientProxy.OutOfCapacity".into()),
        }
    }

    /// HTTP status to answer with (SOAP 1.1 faults travel with 500; the method and size
    /// refusals get their own statuses so plain HTTP tooling reads them right).
    pub fn http_status(&self) -> u16 {
        match self {
            GatewayError::Method(_) => 405,
            GatewayError::Path(_) => 404,
            GatewayError::BodyTooLarge { .. } => 413,
            GatewayError::HeaderLimit { .. } => 431,
            GatewayError::BodyTimeout { .. } => 408,
            GatewayError::AccessDenied(_) => 403,
            GatewayError::OutOfCapacity(_) => 503,
            _ => 500,
        }
    }
}
