//! The evidence of one exchange: the record dualroad keeps of every request it served
//! (and, in shadow stages, of the comparison), the diff of a divergent pair, the
//! capture of a request for replay. One home: these types are defined here only, and
//! an exchange's record is built in one function ([`build`]).
//!
//! Where it sits: the pipeline (`proxy::pipeline`) and the shadow copy
//! (`proxy::mirror`, `dualroad replay`) collect [`Facts`] about an exchange; [`build`]
//! turns them and the comparison (`shadow::compare`) into an [`ExchangeEvent`] for the
//! store's writer (`store::writer`), which redacts and stores it; the reports
//! (`report`) and `dualroad diffs` read the records back. Pure: no I/O, no clock
//! (times come in as numbers).
//!
//! Serialized form: JSON members as documented in docs/report-schema.md; the store
//! wraps each value with its record version (`store::exchanges`). Adding an optional
//! field keeps the version; see docs/ARCHITECTURE.md for where a field is added.

mod build;
mod labels;
mod served;

pub use crate::shadow::NotComparedReason;
pub use build::{build, Facts, RawBodies};
pub use labels::{ExchangeOutcome, ServedBy, Stage, UnknownLabel};
pub use served::{Answered, Asked, Rejected, Seen, Served};

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// === keys ===

/// Where a record is stored: its time, then a sequence number that makes it unique.
/// Also the id of a diff (`dualroad diffs show 1700000000123-42`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub at_unix_ms: u64,
    pub seq: u64,
}

/// A diff is stored under its exchange's key, which is its id.
pub type DiffId = RecordKey;

impl RecordKey {
    pub const LEN: usize = 16;

    /// The first key at or after `at_unix_ms`.
    pub fn first_at(at_unix_ms: u64) -> RecordKey {
        RecordKey { at_unix_ms, seq: 0 }
    }

    /// Big-endian time then sequence: byte order is time order.
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut key = [0u8; Self::LEN];
        key[..8].copy_from_slice(&self.at_unix_ms.to_be_bytes());
        key[8..].copy_from_slice(&self.seq.to_be_bytes());
        key
    }

    /// `None` for anything that is not a 16-byte key.
    pub fn from_bytes(raw: &[u8]) -> Option<RecordKey> {
        let raw: &[u8; Self::LEN] = raw.try_into().ok()?;
        let (time, seq) = raw.split_at(8);
        Some(RecordKey {
            at_unix_ms: u64::from_be_bytes(time.try_into().ok()?),
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.at_unix_ms, self.seq)
    }
}

/// A diff id that is not `MILLIS-SEQ`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a record id (expected MILLIS-SEQ, e.g. 1700000000123-42)")]
pub struct BadRecordKey(pub String);

impl FromStr for RecordKey {
    type Err = BadRecordKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadRecordKey(s.to_string());
        let (time, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        Ok(RecordKey {
            at_unix_ms: time.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

// Ids travel as strings: JSON readers (dashboards) lose precision on large integers.
impl Serialize for RecordKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// === records ===

/// One served request: what happened, not what was said (bodies only with
/// `store_bodies`). Built by [`build`] alone; `Default` is for tests and sample data
/// that set only what they are about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExchangeRecord {
    pub at_unix_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The mirrored copy's own message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_message_id: Option<String>,
    pub agency: String,
    pub service: String,
    pub stage: Stage,
    /// The stack whose answer the client got, or `dualroad` for its own fault.
    pub served_by: ServedBy,
    pub listener: String,
    /// A non-finite latency is stored as `null` and read back as NaN.
    #[serde(deserialize_with = "f64_or_nan")]
    pub primary_latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_latency_ms: Option<f64>,
    pub outcome: ExchangeOutcome,
    /// With `outcome = not-compared`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_compared_reason: Option<NotComparedReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_fault_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_fault_code: Option<String>,
    /// Legacy header fields seen that UXP cannot carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lossy_fields: Vec<String>,
    /// Identifiers with no mapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<String>,
    /// Ignore rules (their `path`) that matched a node of either answer: a rule that
    /// never appears here over a period is stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_rules: Vec<String>,
    /// The X-Road fault code dualroad itself answered with when it rejected the
    /// request (`outcome = "rejected"`): bad input, unknown member, upstream down…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_code: Option<String>,
    /// Hash of the canonical request: both stacks got the same logical request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    /// Differences on paths learned as noise by calibration (`Comparison::noise_count`):
    /// not counted against the shadow stack, so a `match` with noise differences
    /// matched only through the noise. Absent (0) in records written before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise_diffs: u64,
    /// The dualroad build that made the record (`dualroad 0.1.0`), so that evidence
    /// gathered by a build later found wrong can be told apart. Absent in records
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    /// Set by the writer when the exchange has a diff (its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<DiffId>,
    /// Redacted bodies, present only when the rule has `store_bodies = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<Bodies>,
}

/// The three messages of an exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bodies {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Body>,
}

/// One message as it was on the wire. Bytes, not text: ISO-8859-1 and multipart
/// messages exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(with = "bytes_as_text")]
    pub bytes: Bytes,
}

/// How one path differs between the two answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffPath {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
    /// Learned by calibration: differs between two primary answers too.
    #[serde(default)]
    pub noise: bool,
}

/// The evidence of one difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffRecord {
    /// The key of the exchange it belongs to; assigned by the writer (a value given
    /// on submission is replaced).
    pub id: DiffId,
    pub at_unix_ms: u64,
    pub agency: String,
    pub service: String,
    pub outcome: ExchangeOutcome,
    pub paths: Vec<DiffPath>,
    /// `similar`'s unified diff of the two canonical forms.
    pub unified: String,
}

/// A request recorded for `dualroad replay`, after redaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRecord {
    pub at_unix_ms: u64,
    pub agency: String,
    pub service: String,
    pub listener: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<String>,
    #[serde(with = "bytes_as_text")]
    pub body: Bytes,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Bytes as a JSON string when they are UTF-8 (SOAP nearly always is: readable in a
/// dump, no size penalty), else as `{"base64": "…"}`.
mod bytes_as_text {
    use bytes::Bytes;
    use serde::de::{self, MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("base64", &super::base64::encode(b))?;
                map.end()
            }
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or {\"base64\": …}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes::copy_from_slice(v.as_bytes()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Bytes, E> {
                Ok(Bytes::from(v.into_bytes()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
                let mut out = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "base64" {
                        let text: std::borrow::Cow<'de, str> = map.next_value()?;
                        out = Some(
                            super::base64::decode(&text)
                                .ok_or_else(|| de::Error::custom("invalid base64"))?,
                        );
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                out.map(Bytes::from)
                    .ok_or_else(|| de::Error::missing_field("base64"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the rare non-UTF-8 body. Bits
/// past the last whole byte are dropped on decoding rather than refused, as the store
/// always has, so a record from any past encoder reads back.
pub(crate) mod base64 {
    use ::base64::alphabet;
    use ::base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    use ::base64::Engine as _;

    const BODY: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );

    pub(crate) fn encode(input: &[u8]) -> String {
        BODY.encode(input)
    }

    /// `None` on anything that is not padded base64.
    pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
        BODY.decode(input).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn padded_standard_base64_round_trips_and_refuses_the_rest() {
            for len in 0..20 {
                let data: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
                assert_eq!(super::decode(&super::encode(&data)), Some(data));
            }
            assert_eq!(super::encode(b"foobar"), "Zm9vYmFy");
            assert_eq!(super::encode(b"fo"), "Zm8=");
            for bad in ["Zm9", "Zm=v", "Z===", "Zm8=Zm8=", "Zm9v!A=="] {
                assert_eq!(super::decode(bad), None, "{bad}");
            }
            for bad in [
                "====",
                "Zm9v====",
                "Zg==Zg==",
                "Zm9v Zg==",
                "Zm9v\nZg==",
                "Zg=",
                "Zm9v-_==",
            ] {
                assert_eq!(super::decode(bad), None, "{bad:?}");
            }
            // Bits past the last whole byte are dropped, not refused: records written by any
            // encoder of the past still read back.
            assert_eq!(super::decode("Zm9="), Some(b"fo".to_vec()));
            assert_eq!(super::decode("Zh=="), Some(b"f".to_vec()));
            assert_eq!(super::decode(""), Some(Vec::new()));
        }
    }
}

/// One served exchange as the proxy hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeEvent {
    /// `record.bodies` carries the raw, unredacted bodies. They are redacted by the
    /// writer, used to scrub the diff (which quotes them), and stored only when
    /// `store_bodies` is true. Pass them whenever there is a diff: without them the
    /// diff's unified text cannot be checked and is withheld. `record.diff_id` is
    /// set by the writer.
    pub record: ExchangeRecord,
    pub diff: Option<DiffRecord>,
    /// The rule's `store_bodies`.
    pub store_bodies: bool,
}
