//! The typed labels of an exchange record: its stage, the stack that served it and its
//! outcome. Stored, counted in reports and shown in metrics as the same kebab-case
//! strings they always were (`uxp-shadow`, `body-diff`), so records written before
//! these types existed read back unchanged; a value no build knows does not decode,
//! and the store's readers skip and count such a record.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::shadow::OutcomeClass;

/// Defines a fieldless label enum with its one string form (serde, `as_str`,
/// `Display`, `FromStr`, comparison with `&str`).
macro_rules! label {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownLabel {
                        what: stringify!($name),
                        value: s.to_string(),
                    })
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// A string that names no label of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownLabel {
    pub what: &'static str,
    pub value: String,
}

label! {
    /// The stage an exchange was served in: a rollout stage, or how else it came.
    Stage {
        Legacy => "legacy",
        Shadow => "shadow",
        Canary => "canary",
        Uxp => "uxp",
        UxpShadow => "uxp-shadow",
        /// The rollback switch sent it to legacy, whatever its rule said.
        Rollback => "rollback",
        /// A UXP client's request on a provider listener, toward a legacy adapter.
        Provider => "provider",
        /// `dualroad replay` sent a recorded request to both stacks.
        Replay => "replay",
        /// Refused before any rule was looked up (bad input, unknown client…).
        Unrouted => "unrouted",
    }
}

/// Before routing, a request is unrouted.
impl Default for Stage {
    fn default() -> Stage {
        Stage::Unrouted
    }
}

/// A record says `served` until a comparison or a refusal says more.
impl Default for ExchangeOutcome {
    fn default() -> ExchangeOutcome {
        ExchangeOutcome::Served
    }
}

/// Until a stack answers, dualroad does.
impl Default for ServedBy {
    fn default() -> ServedBy {
        ServedBy::Dualroad
    }
}

label! {
    /// Who answered the client.
    ServedBy {
        Legacy => "legacy",
        Uxp => "uxp",
        /// dualroad answered with its own fault (see the record's `rejected_code`).
        Dualroad => "dualroad",
    }
}

label! {
    /// The result of an exchange: a comparison's class, or `served` (no shadow in this
    /// stage) or `rejected` (dualroad answered with its own fault).
    ExchangeOutcome {
        Match => "match",
        BodyDiff => "body-diff",
        FaultMismatch => "fault-mismatch",
        FaultCodeDiff => "fault-code-diff",
        ShadowError => "shadow-error",
        NotCompared => "not-compared",
        Served => "served",
        Rejected => "rejected",
    }
}

impl ExchangeOutcome {
    /// Both answers were in hand and compared, whatever the result — or the shadow's
    /// answer could not be read, which counts against the shadow stack.
    pub fn is_compared(self) -> bool {
        matches!(
            self,
            ExchangeOutcome::Match
                | ExchangeOutcome::BodyDiff
                | ExchangeOutcome::FaultMismatch
                | ExchangeOutcome::FaultCodeDiff
                | ExchangeOutcome::ShadowError
        )
    }
}

impl From<OutcomeClass> for ExchangeOutcome {
    fn from(c: OutcomeClass) -> ExchangeOutcome {
        match c {
            OutcomeClass::Match => ExchangeOutcome::Match,
            OutcomeClass::BodyDiff => ExchangeOutcome::BodyDiff,
            OutcomeClass::FaultMismatch => ExchangeOutcome::FaultMismatch,
            OutcomeClass::FaultCodeDiff => ExchangeOutcome::FaultCodeDiff,
            OutcomeClass::ShadowError => ExchangeOutcome::ShadowError,
            OutcomeClass::NotCompared => ExchangeOutcome::NotCompared,
        }
    }
}

impl From<crate::routing::Stage> for Stage {
    fn from(s: crate::routing::Stage) -> Stage {
        match s {
            crate::routing::Stage::Legacy => Stage::Legacy,
            crate::routing::Stage::Shadow => Stage::Shadow,
            crate::routing::Stage::Canary { .. } => Stage::Canary,
            crate::routing::Stage::Uxp => Stage::Uxp,
            crate::routing::Stage::UxpShadow => Stage::UxpShadow,
        }
    }
}

impl From<crate::routing::Stack> for ServedBy {
    fn from(s: crate::routing::Stack) -> ServedBy {
        match s {
            crate::routing::Stack::Legacy => ServedBy::Legacy,
            crate::routing::Stack::Uxp => ServedBy::Uxp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_their_stored_strings_both_ways() {
        for s in Stage::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Stage>(&json).unwrap(), *s);
            assert_eq!(s.as_str().parse::<Stage>(), Ok(*s));
        }
        for o in ExchangeOutcome::ALL {
            let json = serde_json::to_string(o).unwrap();
            assert_eq!(serde_json::from_str::<ExchangeOutcome>(&json).unwrap(), *o);
        }
        assert_eq!(Stage::UxpShadow.as_str(), "uxp-shadow");
        assert_eq!(ExchangeOutcome::BodyDiff, "body-diff");
        assert!("bogus".parse::<ServedBy>().is_err());
        // Every comparison class has a record outcome of the same name.
        for c in [
            OutcomeClass::Match,
            OutcomeClass::BodyDiff,
            OutcomeClass::FaultMismatch,
            OutcomeClass::FaultCodeDiff,
            OutcomeClass::ShadowError,
            OutcomeClass::NotCompared,
        ] {
            assert_eq!(ExchangeOutcome::from(c).as_str(), c.as_str());
        }
    }
}
