//! What serving one request gave, as values the pipeline passes on: [`Asked`] (what
//! the request says about itself) and [`Served`] (the serving step's outcome); the
//! record's facts are made from a plan and a `Served` by `plan::Facts::of`.

use super::{Facts, Stage};
use crate::shadow::copy;
use crate::shadow::exchange::Answer;
use crate::translate::RouteNames;
use crate::wire::header::Header;

/// What a decoded request says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    /// The client's first name (empty when the request was not read that far).
    pub agency: String,
    pub service: String,
    pub message_id: Option<String>,
    /// Legacy header fields seen that UXP cannot carry.
    pub lossy_fields: Vec<String>,
    /// Identifiers with no counterpart ([`copy::unmapped`]).
    pub unmapped: Vec<String>,
}

impl Asked {
    /// Who asks for what, by the first name of each: all that is known of a request
    /// refused before its header is read further (e.g. for its connection's identity).
    pub fn named(names: &RouteNames) -> Asked {
        Asked {
            agency: names.agency.first().cloned().unwrap_or_default(),
            service: names.service.first().cloned().unwrap_or_default(),
            ..Asked::default()
        }
    }

    /// Everything: who asks for what, the message id, the lossy fields and the
    /// unmapped identifiers.
    pub fn of(names: &RouteNames, header: &Header) -> Asked {
        Asked {
            message_id: header.id.clone(),
            lossy_fields: header
                .lossy_fields()
                .iter()
                .map(|f| f.to_string())
                .collect(),
            unmapped: copy::unmapped(names),
            ..Asked::named(names)
        }
    }
}

/// The primary stack's answer as the client got it (after translation back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub answer: Answer,
    /// The fault code when the answer is a SOAP fault.
    pub fault_code: Option<String>,
}

/// dualroad answered the client with its own fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The X-Road fault code it answered with.
    pub code: String,
    /// Because the UXP stack failed (the gate counts it against UXP).
    pub uxp_failed: bool,
}

/// What serving one request gave: what it asked, how long the primary stack took
/// (when it answered at all), and the answer or dualroad's own fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub asked: Asked,
    pub primary_latency_ms: Option<f64>,
    pub outcome: Result<Answered, Rejected>,
}

impl Served {
    /// The answer the client got from a stack; `None` for dualroad's own fault.
    pub fn answer(&self) -> Option<&Answer> {
        self.outcome.as_ref().ok().map(|a| &a.answer)
    }

    pub fn uxp_failed(&self) -> bool {
        self.outcome.as_ref().is_err_and(|r| r.uxp_failed)
    }
}

/// Where and when an exchange is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub listener: &'a str,
    pub at_unix_ms: u64,
    /// The whole request's time, the primary latency when the stack gave none.
    pub elapsed_ms: f64,
    /// The stage of a request refused before it had a plan (`unrouted`, `provider`).
    pub unplanned: Stage,
}

/// The facts a request gives about itself; the rest is left at its default.
impl From<Asked> for Facts {
    fn from(a: Asked) -> Facts {
        Facts {
            message_id: a.message_id,
            agency: a.agency,
            service: a.service,
            lossy_fields: a.lossy_fields,
            unmapped: a.unmapped,
            ..Facts::default()
        }
    }
}
