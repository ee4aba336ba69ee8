//! Translation errors: what could not be translated, and whose fault it is.

use crate::error::{FaultCode, Side};
use crate::wire::codec::EncodeError;
use crate::wire::WireError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("{error}")]
    Wire { side: Side, error: WireError },
    #[error("no mapping for member `{0}` (add a [[members]] entry to the mappings)")]
    UnmappedMember(String),
    #[error("no mapping for service `{0}` (add a [[services]] entry or map its producer)")]
    UnmappedService(String),
    #[error("service name `{0}` is not `producer.method[.vN]`")]
    BadServiceName(String),
    #[error("service `{service}` does not belong to producer `{producer}`")]
    ProducerMismatch { producer: String, service: String },
    #[error("message is not a request")]
    NotARequest,
    #[error("internal encoding error: {0}")]
    Encode(EncodeError),
    /// An upstream answer that names another message id, client or service than the
    /// request it answers (X-Road's security servers refuse those too); never
    /// delivered. `side` is the stack that answered (see `translate::belongs`).
    #[error("the {} stack answered another request: {why}", side.as_str())]
    AnswerMismatch { side: Side, why: String },
}

impl TranslateError {
    /// Which side is to blame.
    pub fn side(&self) -> Side {
        match self {
            TranslateError::Wire { side, .. } => *side,
            TranslateError::AnswerMismatch { side, .. } => *side,
            TranslateError::UnmappedMember(_) | TranslateError::UnmappedService(_) => {
                Side::Internal
            }
            TranslateError::BadServiceName(_)
            | TranslateError::ProducerMismatch { .. }
            | TranslateError::NotARequest => Side::Client,
            TranslateError::Encode(_) => Side::Internal,
        }
    }

    /// The X-Road style fault code a caller receives.
    pub fn fault_code(&self) -> FaultCode {
        let code = match self {
            TranslateError::Wire { error, .. } => error.code(),
            TranslateError::UnmappedMember(_) => "UnknownMember",
            TranslateError::UnmappedService(_) => "UnknownService",
            TranslateError::BadServiceName(_) => "InvalidServiceName",
            TranslateError::ProducerMismatch { .. } => "InconsistentHeaders",
            TranslateError::NotARequest => "InvalidMessage",
            TranslateError::Encode(_) => "InternalError",
            TranslateError::AnswerMismatch { .. } => "InvalidResponse",
        };
        FaultCode::for_side(self.side(), code)
    }
}
