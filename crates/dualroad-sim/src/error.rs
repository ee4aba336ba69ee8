//! Why a simulator answers with a fault, and the X-Road style code it answers with.
//! Message problems reuse the wire layer's and the translation core's errors (and their
//! codes); what is the simulated provider's own doing has a variant here.

use http::StatusCode;

use crate::translate::TranslateError;
use crate::wire::{Dialect, WireError};
use dualroad_core::error::{FaultCode, Side};

use super::SimKind;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("HTTP method {0} is not allowed: X-Road messages are sent with POST")]
    Method(String),
    /// The request could not be read (from `translate::Options::decode`).
    #[error("{0}")]
    Decode(#[from] TranslateError),
    /// The request's Body could not be read.
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("the {sim} simulator does not accept {dialect} messages (accepts: {accepts})")]
    WrongDialect {
        sim: SimKind,
        dialect: Dialect,
        accepts: String,
    },
    #[error("message is not a request: {0}")]
    NotARequest(String),
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("simulated service failure: the service did not answer (fault rate {0})")]
    Injected(f64),
}

impl SimError {
    /// The X-Road style code of the fault answered.
    pub fn fault_code(&self) -> FaultCode {
        match self {
            SimError::Method(_) => FaultCode::for_side(Side::Client, "InvalidHttpMethod"),
            SimError::Decode(e) => e.fault_code(),
            SimError::Wire(e) => FaultCode::for_side(Side::Client, e.code()),
            SimError::WrongDialect { .. } | SimError::NotARequest(_) => {
                FaultCode::for_side(Side::Client, "InvalidMessage")
            }
            SimError::UnknownService(_) => FaultCode("Server.ServerProxy.UnknownService".into()),
            SimError::Injected(_) => {
                FaultCode("Server.ServerProxy.ServiceFailed.InternalError".into())
            }
        }
    }

    /// HTTP status: SOAP faults travel as 500 (SOAP 1.1 §6.2), a wrong method as 405.
    pub fn status(&self) -> StatusCode {
        match self {
            SimError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
