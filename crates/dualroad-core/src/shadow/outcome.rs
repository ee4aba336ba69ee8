//! Outcome classes of a shadow comparison, shared by the mirror (which decides
//! `not-compared` before any answer exists), the comparator, the exchange store and
//! the reports. Serialized in kebab-case (`body-diff`, `not-compared`), as in issue 4.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which of the two answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The stack that served the client.
    Primary,
    /// The stack the copy was mirrored to.
    Shadow,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Shadow => "shadow",
        }
    }
}

/// Why a request was not compared. Every dropped or skipped shadow copy gets one, so
/// nothing is dropped silently (the anchors' Envoy/Istio failure mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotComparedReason {
    /// The shadow stack did not answer within its timeout.
    Timeout,
    /// The mirror's concurrency limit was reached; the copy was dropped.
    Overload,
    /// An answer (or the request) exceeded the byte budget or a compare limit.
    TooLarge,
    /// The shadow call failed below SOAP: connection refused, TLS, HTTP 5xx without a
    /// SOAP body.
    UpstreamError,
    /// Not selected by the rule's `sample` fraction.
    SampledOut,
    /// A `write` service with no sandbox upstream: never mirrored.
    WriteService,
    /// The primary's own answer is not a SOAP message, so there is no reference to
    /// compare the shadow against (the client got it anyway).
    PrimaryInvalid,
}

impl NotComparedReason {
    pub const ALL: [NotComparedReason; 7] = [
        NotComparedReason::Timeout,
        NotComparedReason::Overload,
        NotComparedReason::TooLarge,
        NotComparedReason::UpstreamError,
        NotComparedReason::SampledOut,
        NotComparedReason::WriteService,
        NotComparedReason::PrimaryInvalid,
    ];

    /// The label used in metrics, reports and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            NotComparedReason::Timeout => "timeout",
            NotComparedReason::Overload => "overload",
            NotComparedReason::TooLarge => "too-large",
            NotComparedReason::UpstreamError => "upstream-error",
            NotComparedReason::SampledOut => "sampled-out",
            NotComparedReason::WriteService => "write-service",
            NotComparedReason::PrimaryInvalid => "primary-invalid",
        }
    }
}

impl fmt::Display for NotComparedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown not-compared reason `{0}`")]
pub struct UnknownReason(pub String);

impl FromStr for NotComparedReason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotComparedReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_string()))
    }
}

/// The result class of one shadow exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Outcome {
    /// Equal after canonicalization, volatile fields, ignore rules, treatments and noise.
    Match,
    /// Neither is a fault and the trees differ.
    BodyDiff,
    /// Exactly one side answered with a SOAP Fault.
    FaultMismatch {
        faulted: Role,
        /// That side's fault code, as written.
        code: String,
    },
    /// Both faulted, with codes that differ after `crate::error::normalize_fault_code`.
    FaultCodeDiff { primary: String, shadow: String },
    /// The shadow's answer could not be read as SOAP (HTML error page, truncated, DTD…).
    ShadowError { error: String },
    NotCompared {
        reason: NotComparedReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// [`Outcome`] without its data: a metrics label and a grouping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeClass {
    Match,
    BodyDiff,
    FaultMismatch,
    FaultCodeDiff,
    ShadowError,
    NotCompared,
}

impl OutcomeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Match => "match",
            OutcomeClass::BodyDiff => "body-diff",
            OutcomeClass::FaultMismatch => "fault-mismatch",
            OutcomeClass::FaultCodeDiff => "fault-code-diff",
            OutcomeClass::ShadowError => "shadow-error",
            OutcomeClass::NotCompared => "not-compared",
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    pub fn class(&self) -> OutcomeClass {
        match self {
            Outcome::Match => OutcomeClass::Match,
            Outcome::BodyDiff => OutcomeClass::BodyDiff,
            Outcome::FaultMismatch { .. } => OutcomeClass::FaultMismatch,
            Outcome::FaultCodeDiff { .. } => OutcomeClass::FaultCodeDiff,
            Outcome::ShadowError { .. } => OutcomeClass::ShadowError,
            Outcome::NotCompared { .. } => OutcomeClass::NotCompared,
        }
    }

    /// Both answers were read and compared (whatever the result).
    pub fn compared(&self) -> bool {
        !matches!(
            self,
            Outcome::ShadowError { .. } | Outcome::NotCompared { .. }
        )
    }

    /// Counts against the shadow stack: a difference or an unreadable shadow answer.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            Outcome::BodyDiff
                | Outcome::FaultMismatch { .. }
                | Outcome::FaultCodeDiff { .. }
                | Outcome::ShadowError { .. }
        )
    }

    /// The outcome the mirror records when it drops or skips a copy.
    pub fn not_compared(reason: NotComparedReason) -> Outcome {
        Outcome::NotCompared {
            reason,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_serialize_in_kebab_case() {
        let j = |o: &Outcome| serde_json::to_string(o).unwrap();
        assert_eq!(j(&Outcome::Match), r#"{"class":"match"}"#);
        assert_eq!(j(&Outcome::BodyDiff), r#"{"class":"body-diff"}"#);
        assert_eq!(
            j(&Outcome::not_compared(NotComparedReason::TooLarge)),
            r#"{"class":"not-compared","reason":"too-large"}"#
        );
        assert_eq!(
            j(&Outcome::FaultMismatch {
                faulted: Role::Shadow,
                code: "Server.X".into()
            }),
            r#"{"class":"fault-mismatch","faulted":"shadow","code":"Server.X"}"#
        );
        for r in NotComparedReason::ALL {
            let o = Outcome::not_compared(r);
            let back: Outcome = serde_json::from_str(&j(&o)).unwrap();
            assert_eq!(back, o);
            assert_eq!(r.as_str().parse::<NotComparedReason>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(
            serde_json::to_string(&OutcomeClass::FaultCodeDiff).unwrap(),
            format!("\"{}\"", OutcomeClass::FaultCodeDiff.as_str())
        );
    }
}
