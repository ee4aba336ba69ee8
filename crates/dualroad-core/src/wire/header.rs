//! The canonical X-Road header: one typed model that every dialect codec decodes into
//! and encodes from.
//!
//! Flow: `wire::codec::decode` (dialect A bytes → `Header`) → `translate` (maps
//! identifiers with `mapping`, never touches bytes) → `wire::codec::encode`
//! (`Header` → dialect B bytes). Identifiers stay in the form the message carried
//! (`Party::Legacy` short name or `Party::Id`) until `translate` maps them.

use crate::wire::ids::{ClientId, ServiceId};

/// Who calls (client / consumer / asutus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// An X-Road ≤5 short name (`consumer`, `asutus`).
    Legacy(String),
    /// A structured member or subsystem identifier.
    Id(ClientId),
}

/// Which service is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRef {
    /// An X-Road ≤5 `service`/`nimi` string, `producer.method[.vN]`, kept verbatim.
    Legacy(String),
    /// A structured service identifier.
    Id(ServiceId),
}

/// Third party on whose behalf the request is made (`repr:representedParty`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepresentedParty {
    pub party_class: Option<String>,
    pub party_code: String,
}

/// `requestHash` as the provider's security server wrote it. The algorithm is opaque:
/// UXP instances use their own (GOST 34.311 has been seen), so we never recompute it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash {
    pub algorithm_id: Option<String>,
    pub value: String,
}

/// Legacy-only header fields with no equivalent in protocol 4.0 / UXP.
/// Named by their 3.x element; the 2.0 Estonian name is in `v2_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LegacyKey {
    Unit,
    Position,
    UserName,
    Async,
    Authenticator,
    Paid,
    Encrypt,
    EncryptCert,
    Encrypted,
    EncryptedCert,
    Encode,
    /// 2.0 `ametnik`: the official's personal code without a country prefix.
    Official,
}

impl LegacyKey {
    pub const ALL: [LegacyKey; 12] = [
        LegacyKey::Unit,
        LegacyKey::Position,
        LegacyKey::UserName,
        LegacyKey::Async,
        LegacyKey::Authenticator,
        LegacyKey::Paid,
        LegacyKey::Encrypt,
        LegacyKey::EncryptCert,
        LegacyKey::Encrypted,
        LegacyKey::EncryptedCert,
        LegacyKey::Encode,
        LegacyKey::Official,
    ];

    /// Element name in the 3.x dialects (`None` where 3.x has no such field).
    pub fn v3_name(self) -> Option<&'static str> {
        Some(match self {
            LegacyKey::Unit => "unit",
            LegacyKey::Position => "position",
            LegacyKey::UserName => "userName",
            LegacyKey::Async => "async",
            LegacyKey::Authenticator => "authenticator",
            LegacyKey::Paid => "paid",
            LegacyKey::Encrypt => "encrypt",
            LegacyKey::EncryptCert => "encryptCert",
            LegacyKey::Encrypted => "encrypted",
            LegacyKey::EncryptedCert => "encryptedCert",
            LegacyKey::Encode => "encode",
            LegacyKey::Official => return None,
        })
    }

    /// Element name in the 2.0 dialect (`None` where 2.0 has no such field).
    pub fn v2_name(self) -> Option<&'static str> {
        Some(match self {
            LegacyKey::Unit => "allasutus",
            LegacyKey::Position => "amet",
            LegacyKey::UserName => "ametniknimi",
            LegacyKey::Async => "asynkroonne",
            LegacyKey::Authenticator => "autentija",
            LegacyKey::Paid => "makstud",
            LegacyKey::Encrypt => "salastada",
            LegacyKey::EncryptCert => "salastada_sertifikaadiga",
            LegacyKey::Encrypted => "salastatud",
            LegacyKey::EncryptedCert => "salastatud_sertifikaadiga",
            LegacyKey::Official => "ametnik",
            LegacyKey::Encode => return None,
        })
    }

    /// Stable name used in reports and summaries (the 3.x name, or `ametnik`).
    pub fn report_name(self) -> &'static str {
        self.v3_name().unwrap_or("ametnik")
    }
}

/// A header element that dualroad does not model (an unknown header, `securityToken`,
/// `securityServer`, the 6.0 `xroadHeader` container …). Kept as raw XML so it passes
/// through unchanged; `ns_decls` are the in-scope namespace declarations it may rely on,
/// re-declared when the element is moved into another envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    pub namespace: Option<String>,
    pub local_name: String,
    /// The element's bytes, start tag to end tag, in the message's charset.
    pub xml: Vec<u8>,
    pub ns_decls: Vec<(String, String)>,
}

/// Which header element a position in `Header::order` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldTag {
    Client,
    /// Legacy `producer` / `andmekogu`.
    Producer,
    Service,
    Id,
    UserId,
    Issue,
    RepresentedParty,
    ProtocolVersion,
    RequestHash,
    Legacy(LegacyKey),
    /// Index into `Header::extensions`.
    Extension(usize),
}

/// The canonical header. `Some("")` is an empty element and differs from `None`
/// (4.0 compares `issue` between request and response, so empty must stay empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub client: Option<Party>,
    /// Legacy producer (`producer`/`andmekogu`); structured dialects carry it in `service`.
    pub producer: Option<String>,
    pub service: Option<ServiceRef>,
    pub id: Option<String>,
    pub user_id: Option<String>,
    pub issue: Option<String>,
    pub represented_party: Option<RepresentedParty>,
    pub protocol_version: Option<String>,
    pub request_hash: Option<RequestHash>,
    /// Fields with no 4.0 equivalent, in the order they appeared.
    pub legacy: Vec<(LegacyKey, String)>,
    pub extensions: Vec<RawHeader>,
    /// Order in which elements appeared; encoders follow it so echoes keep the sequence.
    pub order: Vec<FieldTag>,
}

impl Header {
    pub fn legacy_value(&self, key: LegacyKey) -> Option<&str> {
        self.legacy
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Records `tag` in `order` unless already present.
    pub fn note(&mut self, tag: FieldTag) {
        if !self.order.contains(&tag) {
            self.order.push(tag);
        }
    }

    /// Legacy-only fields present, by report name (what a move to UXP drops).
    pub fn lossy_fields(&self) -> Vec<&'static str> {
        self.legacy.iter().map(|(k, _)| k.report_name()).collect()
    }
}
