//! Identifier mappings (legacy ↔ UXP), loaded from `mappings/*.toml`.
//!
//! A legacy X-Road ≤5 message names its consumer and producer by one short token;
//! UXP needs `INSTANCE/CLASS/CODE[/SUBSYSTEM]`, and the producer's owner appears in
//! no legacy field at all (xroad-protocols.md §7.2, §10 gotchas 1–2). So identity
//! cannot be derived: it comes from an operator-maintained table, and because
//! responses and UXP-originated requests travel the other way, the table must be a
//! bijection — the loader refuses anything that would make the reverse ambiguous.
//!
//! File format (all `*.toml` in the directory are merged, in file-name order):
//!
//! ```toml
//! [legacy]
//! dialect = "v3.1-eu"   # v2 | v3.0 | v3.1 | v3.1-eu | v6.0 | v4 (not uxp)
//! instance = "PS"       # required for v6.0 / v4, forbidden otherwise
//! [uxp]
//! instance = "PS-UXP"
//! [[members]]
//! legacy = "10000042"                       # v6.0/v4: "PS/GOV/10000042/moh-portal"
//! uxp = "PS-UXP/GOV/10000042/moh-portal"
//! [[services]]
//! legacy = "moh.getPatientSummary.v2"       # v6.0/v4: a full service identifier
//! uxp = "PS-UXP/GOV/10000001/moh/getPatientSummary/v2"
//! effect = "read"                           # read | write (default write)
//! wrapper = "getPatientSummary"             # optional UXP-side Body wrapper name
//! [[services]]                              # a service of a member (no subsystem)
//! legacy = "tax.getTaxDebt.v1"
//! uxp = { member = "PS-UXP/GOV/10000004", service = "getTaxDebt", version = "v1" }
//! ```
//!
//! A service entry takes precedence over its producer's `[[members]]` mapping in both
//! directions, so one legacy producer's services may move to several UXP providers
//! ("services that move"). A service without an entry maps through its producer's
//! mapping, unless that would land on an identity another entry owns: then it is
//! refused rather than translated one way and back another ([`Mappings::service_to_uxp`],
//! [`Mappings::service_to_legacy`]). docs/identifiers.md has the whole contract.
//!
//! `[legacy]` and `[uxp]` live in exactly one file. [`Mappings::from_read`] validates
//! everything and reports every problem at once ([`MappingErrors`]); the resulting
//! [`Mappings`] is immutable and indexed both ways for translation.
//! [`import::import_identifier_mapping`] turns an X-Road 6 `identifiermapping.xml`
//! into this format.

pub mod import;
mod load;
mod problem;
mod tree;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::wire::header::{Party, ServiceRef};
use crate::wire::ids::{ClientId, LegacyServiceName, ServiceId};
use crate::wire::Dialect;

pub use import::{import_identifier_mapping, ImportError};
pub use problem::{MappingErrors, Problem};

/// Whether a service changes state. Shadow mode mirrors only `read` services; an
/// entry without `effect` is treated as `write`, the safe assumption.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Read,
    #[default]
    Write,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Effect::Read),
            "write" => Ok(Effect::Write),
            _ => Err(format!("unknown effect `{s}` (expected `read` or `write`)")),
        }
    }
}

/// The legacy side of a member mapping: a short name on X-Road ≤5 stacks
/// (v2, v3.x), a structured identifier on X-Road 6/7 stacks (v6.0, v4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LegacyMember {
    Name(String),
    Id(ClientId),
}

impl fmt::Display for LegacyMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyMember::Name(n) => f.write_str(n),
            LegacyMember::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Where an entry was written: the file and the line of its `legacy` key, so a problem
/// found later (resolving rollout rules, refusing a request) can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The legacy side of a service mapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LegacyService {
    /// X-Road ≤5 stacks (v2, v3.x): `producer.method[.vN]` exactly as written.
    Name(String),
    /// X-Road 6/7 stacks (v6.0, v4): a service identifier, of a subsystem or a member.
    Id(ServiceId),
}

impl LegacyService {
    /// The method (legacy operation) name, which the Body wrapper starts with.
    pub fn method(&self) -> String {
        match self {
            LegacyService::Name(n) => LegacyServiceName::parse(n)
                .map(|n| n.method)
                .unwrap_or_default(),
            LegacyService::Id(id) => id.service_code.clone(),
        }
    }

    /// The legacy producer (`producer`/`andmekogu` header) of a short-name service.
    pub fn producer(&self) -> Option<String> {
        match self {
            LegacyService::Name(n) => LegacyServiceName::parse(n).map(|n| n.producer),
            LegacyService::Id(_) => None,
        }
    }

    /// The header value that names this service.
    pub fn to_ref(&self) -> ServiceRef {
        match self {
            LegacyService::Name(n) => ServiceRef::Legacy(n.clone()),
            LegacyService::Id(id) => ServiceRef::Id(id.clone()),
        }
    }
}

impl fmt::Display for LegacyService {
    /// The name as a header carries it; identifiers in their string form (member-level
    /// services with the `//` of [`ServiceId`]'s docs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyService::Name(n) => f.write_str(n),
            LegacyService::Id(id) => write!(f, "{id}"),
        }
    }
}

/// One `[[services]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMapping {
    pub legacy: LegacyService,
    pub uxp: ServiceId,
    pub effect: Effect,
    /// Body wrapper local name on the UXP side, when it differs from the legacy one.
    pub wrapper: Option<String>,
    pub origin: Origin,
}

/// A legacy service resolved to its UXP identity by [`Mappings::service_to_uxp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToUxp<'m> {
    pub id: ServiceId,
    /// The `[[services]]` entry that decided it; `None` when the producer's member
    /// mapping did.
    pub entry: Option<&'m ServiceMapping>,
    /// The legacy method name (the Body wrapper must start with it).
    pub method: String,
}

/// A UXP service resolved to the legacy stack's vocabulary by
/// [`Mappings::service_to_legacy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToLegacy<'m> {
    pub service: ServiceRef,
    /// The `producer`/`andmekogu` header for short-name dialects.
    pub producer: Option<String>,
    pub method: String,
    pub entry: Option<&'m ServiceMapping>,
}

/// Why a service has no translation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceMapError {
    #[error("service name `{0}` is not `producer.method[.vN]`")]
    BadName(String),
    #[error("service `{service}` does not belong to producer `{producer}`")]
    ProducerMismatch { producer: String, service: String },
    /// No translation; the text names the service and why.
    #[error("{0}")]
    Unmapped(String),
}

/// A validated mapping set, indexed both ways. Built only by the loader, so every
/// index is a bijection and lookups never have to choose between candidates
/// (except the documented version-less service fallback).
#[derive(Debug, Clone)]
pub struct Mappings {
    legacy_dialect: Dialect,
    legacy_instance: Option<String>,
    uxp_instance: String,
    /// File order (files sorted by name), for reports.
    members: Vec<(LegacyMember, ClientId)>,
    /// Where each member entry was written, parallel to `members`.
    member_origins: Vec<Origin>,
    member_by_legacy: HashMap<LegacyMember, usize>,
    member_by_uxp: HashMap<ClientId, usize>,
    services: Vec<ServiceMapping>,
    service_by_legacy: HashMap<LegacyService, usize>,
    service_by_uxp: HashMap<ServiceId, usize>,
    /// (provider, service code) → every entry with that code, any version.
    service_by_uxp_code: HashMap<(ClientId, String), Vec<usize>>,
    fingerprint: String,
}

impl Mappings {
    /// Validates and merges a set the shell has read: `(path, text)` pairs of every
    /// `*.toml` file of `dir`, and the problems it met reading them (an unreadable file,
    /// bad UTF-8). All problems are returned together; `dualroad::mapping::load_dir` is
    /// the loader.
    pub fn from_read(
        dir: &Path,
        sources: Vec<(PathBuf, String)>,
        problems: Vec<Problem>,
    ) -> Result<Mappings, MappingErrors> {
        load::from_read(dir, sources, problems)
    }

    /// Same as [`Mappings::from_read`] over in-memory `(path, text)` pairs; the paths
    /// only name the files in problems and decide the merge order.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> Result<Mappings, MappingErrors> {
        let origin = sources
            .first()
            .and_then(|(p, _)| p.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        load::from_sources(&origin, sources)
    }

    pub fn legacy_dialect(&self) -> Dialect {
        self.legacy_dialect
    }

    /// The legacy X-Road instance; `Some` exactly when the dialect is v6.0 or v4.
    pub fn legacy_instance(&self) -> Option<&str> {
        self.legacy_instance.as_deref()
    }

    pub fn uxp_instance(&self) -> &str {
        &self.uxp_instance
    }

    /// UXP identity of a legacy short name (v2/v3.x stacks). Exact, case-sensitive.
    pub fn uxp_for_legacy_name(&self, name: &str) -> Option<&ClientId> {
        // Building a key costs one allocation; a borrowed-key map would need a second
        // index type for little gain at header-translation rates.
        self.member_by_legacy
            .get(&LegacyMember::Name(name.to_string()))
            .map(|&i| &self.members[i].1)
    }

    /// UXP identity of a legacy structured identifier (v6.0/v4 stacks). Exact only:
    /// there is no subsystem → member fallback this way, because the answer would
    /// silently drop the caller's subsystem.
    pub fn uxp_for_legacy_id(&self, id: &ClientId) -> Option<&ClientId> {
        self.member_by_legacy
            .get(&LegacyMember::Id(id.clone()))
            .map(|&i| &self.members[i].1)
    }

    /// Legacy identity of a UXP client or provider. Exact match first; if `id` names a
    /// subsystem that is not mapped but its member is, the member's mapping answers
    /// (a UXP member may add subsystems the legacy side never had).
    pub fn legacy_for_uxp(&self, id: &ClientId) -> Option<&LegacyMember> {
        if let Some(&i) = self.member_by_uxp.get(id) {
            return Some(&self.members[i].0);
        }
        if id.subsystem.is_some() {
            let member = member_of(id);
            if let Some(&i) = self.member_by_uxp.get(&member) {
                return Some(&self.members[i].0);
            }
        }
        None
    }

    /// The entry for exactly this legacy service (the name as written, or the
    /// identifier).
    pub fn service_for_legacy(&self, legacy: &LegacyService) -> Option<&ServiceMapping> {
        self.service_by_legacy
            .get(legacy)
            .map(|&i| &self.services[i])
    }

    /// [`Mappings::service_for_legacy`] for a service written as text: a short name on
    /// short-name stacks, an identifier (string form) on v6.0/v4 stacks — the dialect
    /// decides, never the text's shape.
    pub fn service_for_legacy_text(&self, text: &str) -> Option<&ServiceMapping> {
        let key = if self.legacy_dialect.has_structured_ids() {
            LegacyService::Id(ServiceId::parse(text).ok()?)
        } else {
            LegacyService::Name(text.to_string())
        };
        self.service_for_legacy(&key)
    }

    /// [`Mappings::service_for_legacy`] for a header value.
    pub fn service_for_legacy_ref(&self, service: &ServiceRef) -> Option<&ServiceMapping> {
        self.service_for_legacy(&match service {
            ServiceRef::Legacy(n) => LegacyService::Name(n.clone()),
            ServiceRef::Id(id) => LegacyService::Id(id.clone()),
        })
    }

    /// The entry for a UXP service: exact match first; otherwise, ignoring the
    /// version on both sides, the single entry with that provider and service code.
    /// Several versions mapped and none matching exactly gives `None`, not a guess.
    pub fn service_for_uxp(&self, id: &ServiceId) -> Option<&ServiceMapping> {
        if let Some(&i) = self.service_by_uxp.get(id) {
            return Some(&self.services[i]);
        }
        match self
            .service_by_uxp_code
            .get(&(id.provider.clone(), id.service_code.clone()))
            .map(Vec::as_slice)
        {
            Some(&[i]) => Some(&self.services[i]),
            _ => None,
        }
    }

    /// The UXP identity of the client a legacy-side header names: a short name or a
    /// legacy X-Road 6/7 identifier through `[[members]]`; an identifier already in the
    /// UXP instance (a 4.x client that speaks UXP identifiers, on any legacy stack) is
    /// its own UXP identity. `None`: unmapped.
    pub fn client_to_uxp(&self, client: &Party) -> Option<ClientId> {
        match client {
            Party::Legacy(name) => self.uxp_for_legacy_name(name).cloned(),
            Party::Id(id) => self
                .uxp_for_legacy_id(id)
                .cloned()
                .or_else(|| (id.instance == self.uxp_instance).then(|| id.clone())),
        }
    }

    /// Every legacy name of a UXP client (exact mapping, or its member's).
    pub fn legacy_names_of(&self, id: &ClientId) -> Option<&LegacyMember> {
        self.legacy_for_uxp(id)
    }

    /// The UXP service of a legacy request's `service` (and, for short-name dialects,
    /// its `producer` header, which is authoritative for dotted producer names).
    ///
    /// Precedence: a `[[services]]` entry for exactly this service; else the producer's
    /// `[[members]]` mapping (a member or a subsystem) + method + version. The second is
    /// refused when its result is a UXP service that an entry gives to another legacy
    /// service (the way back would not lead here).
    pub fn service_to_uxp(
        &self,
        service: &ServiceRef,
        producer: Option<&str>,
    ) -> Result<ToUxp<'_>, ServiceMapError> {
        if let Some(sm) = self.service_for_legacy_ref(service) {
            return Ok(ToUxp {
                id: sm.uxp.clone(),
                entry: Some(sm),
                method: sm.legacy.method(),
            });
        }
        let (id, written) = match service {
            ServiceRef::Legacy(name) => {
                let producer = producer.unwrap_or_default();
                let parsed = LegacyServiceName::parse_with_producer(name, producer)
                    .or_else(|| LegacyServiceName::parse(name))
                    .ok_or_else(|| ServiceMapError::BadName(name.clone()))?;
                if parsed.producer != producer {
                    return Err(ServiceMapError::ProducerMismatch {
                        producer: producer.to_string(),
                        service: name.clone(),
                    });
                }
                let provider = self.uxp_for_legacy_name(producer).ok_or_else(|| {
                    ServiceMapError::Unmapped(format!(
                        "{name} (producer `{producer}` is not mapped)"
                    ))
                })?;
                let id = ServiceId {
                    provider: provider.clone(),
                    service_code: parsed.method,
                    service_version: parsed.version,
                };
                (id, name.clone())
            }
            ServiceRef::Id(sid) => {
                let provider = self.uxp_for_legacy_id(&sid.provider).ok_or_else(|| {
                    ServiceMapError::Unmapped(format!(
                        "{sid} (provider `{}` is not mapped)",
                        sid.provider
                    ))
                })?;
                let id = ServiceId {
                    provider: provider.clone(),
                    service_code: sid.service_code.clone(),
                    service_version: sid.service_version.clone(),
                };
                (id, sid.to_string())
            }
        };
        if let Some(&i) = self.service_by_uxp.get(&id) {
            let owner = &self.services[i];
            return Err(ServiceMapError::Unmapped(format!(
                "{written} (through its producer it would be {id}, which {} maps to `{}`; add a [[services]] entry for it)",
                owner.origin, owner.legacy
            )));
        }
        let method = id.service_code.clone();
        Ok(ToUxp {
            id,
            entry: None,
            method,
        })
    }

    /// The legacy service for a UXP service id, for a legacy stack speaking `dialect`.
    ///
    /// Precedence: a `[[services]]` entry (exact, or the single entry with that provider
    /// and code, whatever the version); else the provider's exact `[[members]]` mapping
    /// + code + version (no subsystem → member fallback here: it would turn a
    ///   subsystem's service into its member's, and the way back would differ). That is
    ///   refused when it names a legacy service an entry sends elsewhere.
    pub fn service_to_legacy(
        &self,
        sid: &ServiceId,
        dialect: Dialect,
    ) -> Result<ToLegacy<'_>, ServiceMapError> {
        if let Some(sm) = self.service_for_uxp(sid) {
            return match (&sm.legacy, dialect.has_structured_ids()) {
                (LegacyService::Id(id), true) => Ok(ToLegacy {
                    service: ServiceRef::Id(id.clone()),
                    producer: None,
                    method: id.service_code.clone(),
                    entry: Some(sm),
                }),
                (LegacyService::Name(n), false) => {
                    let parsed = LegacyServiceName::parse(n)
                        .ok_or_else(|| ServiceMapError::BadName(n.clone()))?;
                    Ok(ToLegacy {
                        service: ServiceRef::Legacy(n.clone()),
                        producer: Some(parsed.producer),
                        method: parsed.method,
                        entry: Some(sm),
                    })
                }
                // The loader checks every entry against the dialect; a provider
                // listener's adapter may speak another one.
                (l, _) => Err(ServiceMapError::Unmapped(format!(
                    "{sid} (its mapping `{l}` at {} cannot be written in dialect {dialect})",
                    sm.origin
                ))),
            };
        }
        let exact = self
            .member_by_uxp
            .get(&sid.provider)
            .map(|&i| &self.members[i].0);
        let (legacy, producer) = match exact {
            Some(LegacyMember::Name(p)) if !dialect.has_structured_ids() => {
                let n = LegacyServiceName {
                    producer: p.clone(),
                    method: sid.service_code.clone(),
                    version: sid.service_version.clone(),
                };
                (LegacyService::Name(n.to_string()), Some(p.clone()))
            }
            Some(LegacyMember::Id(pid)) if dialect.has_structured_ids() => (
                LegacyService::Id(ServiceId {
                    provider: pid.clone(),
                    service_code: sid.service_code.clone(),
                    service_version: sid.service_version.clone(),
                }),
                None,
            ),
            _ => {
                return Err(ServiceMapError::Unmapped(format!(
                    "{sid} (provider `{}` is not mapped)",
                    sid.provider
                )))
            }
        };
        if let Some(owner) = self.service_for_legacy(&legacy) {
            return Err(ServiceMapError::Unmapped(format!(
                "{sid} (through its provider it would be `{legacy}`, which {} maps to {}; add a [[services]] entry for it)",
                owner.origin, owner.uxp
            )));
        }
        Ok(ToLegacy {
            service: legacy.to_ref(),
            producer,
            method: sid.service_code.clone(),
            entry: None,
        })
    }

    /// Where the member entry mapping this UXP identity (exactly) was written.
    pub fn member_origin(&self, uxp: &ClientId) -> Option<&Origin> {
        self.member_by_uxp
            .get(uxp)
            .and_then(|&i| self.member_origins.get(i))
    }

    /// Every service entry, in file order.
    pub fn services(&self) -> impl Iterator<Item = &ServiceMapping> {
        self.services.iter()
    }

    /// Every member mapping, in file order.
    pub fn members(&self) -> impl Iterator<Item = (&LegacyMember, &ClientId)> {
        self.members.iter().map(|(l, u)| (l, u))
    }

    /// SHA-256 (lowercase hex) of the normalized content: independent of comments,
    /// formatting, entry order and how entries are split across files, so audit logs
    /// show whether two gateways really ran with the same table.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Assembles the indexes. Only the loader calls this, after validation proved
    /// both sides unique; a duplicate here would be a loader bug, and the first entry
    /// would win.
    fn build(
        legacy_dialect: Dialect,
        legacy_instance: Option<String>,
        uxp_instance: String,
        members: Vec<(LegacyMember, ClientId, Origin)>,
        services: Vec<ServiceMapping>,
    ) -> Mappings {
        let (members, member_origins): (Vec<_>, Vec<_>) =
            members.into_iter().map(|(l, u, o)| ((l, u), o)).unzip();
        let mut member_by_legacy = HashMap::new();
        let mut member_by_uxp = HashMap::new();
        for (i, (l, u)) in members.iter().enumerate() {
            member_by_legacy.entry(l.clone()).or_insert(i);
            member_by_uxp.entry(u.clone()).or_insert(i);
        }
        let mut service_by_legacy = HashMap::new();
        let mut service_by_uxp = HashMap::new();
        let mut service_by_uxp_code: HashMap<(ClientId, String), Vec<usize>> = HashMap::new();
        for (i, s) in services.iter().enumerate() {
            service_by_legacy.entry(s.legacy.clone()).or_insert(i);
            service_by_uxp.entry(s.uxp.clone()).or_insert(i);
            service_by_uxp_code
                .entry((s.uxp.provider.clone(), s.uxp.service_code.clone()))
                .or_default()
                .push(i);
        }
        let fingerprint = fingerprint_of(
            legacy_dialect,
            legacy_instance.as_deref(),
            &uxp_instance,
            &members,
            &services,
        );
        Mappings {
            legacy_dialect,
            legacy_instance,
            uxp_instance,
            members,
            member_origins,
            member_by_legacy,
            member_by_uxp,
            services,
            service_by_legacy,
            service_by_uxp,
            service_by_uxp_code,
            fingerprint,
        }
    }
}

/// `id` without its subsystem.
fn member_of(id: &ClientId) -> ClientId {
    ClientId {
        subsystem: None,
        ..id.clone()
    }
}

/// Canonical text, one record per line, records sorted. Validation guarantees that no
/// value contains whitespace or control characters, so tab and newline separate
/// fields unambiguously. The first line versions the format: changing it changes
/// every fingerprint, which is what a format change should do.
fn fingerprint_of(
    dialect: Dialect,
    legacy_instance: Option<&str>,
    uxp_instance: &str,
    members: &[(LegacyMember, ClientId)],
    services: &[ServiceMapping],
) -> String {
    let mut records: Vec<String> = Vec::with_capacity(members.len() + services.len());
    for (l, u) in members {
        let kind = match l {
            LegacyMember::Name(_) => "name",
            LegacyMember::Id(_) => "id",
        };
        records.push(format!("member\t{kind}\t{l}\t{u}"));
    }
    for s in services {
        records.push(format!(
            "service\t{}\t{}\t{}\t{}",
            s.legacy,
            s.uxp,
            s.effect,
            s.wrapper.as_deref().unwrap_or("-")
        ));
    }
    records.sort();
    let mut text = String::from("dualroad-mappings/1\n");
    text.push_str(&format!(
        "legacy\t{dialect}\t{}\n",
        legacy_instance.unwrap_or("-")
    ));
    text.push_str(&format!("uxp\t{uxp_instance}\n"));
    for r in records {
        text.push_str(&r);
        text.push('\n');
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// XML 1.0 (5th ed.) `NCName`: a `Name` without `:`. A `wrapper` becomes an element
/// local name, so anything else would produce a malformed Body.
pub(crate) fn is_ncname(s: &str) -> bool {
    fn start(c: char) -> bool {
        matches!(c,
            'A'..='Z' | '_' | 'a'..='z'
            | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
            | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
            | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
            | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
    }
    fn rest(c: char) -> bool {
        start(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if start(c)) && chars.all(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }
    fn sid(s: &str) -> ServiceId {
        ServiceId::parse(s).unwrap()
    }

    fn v31() -> Mappings {
        let src = r#"
[legacy]
dialect = "v3.1"
[uxp]
instance = "PS-UXP"
[[members]]
legacy = "10000042"
uxp = "PS-UXP/GOV/10000042/moh-portal"
[[members]]
legacy = "moh"
uxp = "PS-UXP/GOV/10000001/moh"
[[members]]
legacy = "reg"
uxp = "PS-UXP/GOV/10000003"
[[services]]
legacy = "moh.getPatientSummary.v2"
uxp = "PS-UXP/GOV/10000001/moh/getPatientSummary/v2"
effect = "read"
[[services]]
legacy = "moh.getPatientSummary.v1"
uxp = "PS-UXP/GOV/10000001/moh/getPatientSummary/v1"
effect = "read"
[[services]]
legacy = "moh.updateRecord"
uxp = "PS-UXP/GOV/10000001/moh/updateRecord/v3"
wrapper = "updateRecord"
"#;
        Mappings::from_sources(&[("m/a.toml".into(), src.to_string())]).unwrap()
    }

    #[test]
    fn member_lookups_both_ways() {
        let m = v31();
        assert_eq!(m.legacy_dialect(), Dialect::V31);
        assert_eq!(m.legacy_instance(), None);
        assert_eq!(m.uxp_instance(), "PS-UXP");
        assert_eq!(
            m.uxp_for_legacy_name("10000042"),
            Some(&cid("PS-UXP/GOV/10000042/moh-portal"))
        );
        assert_eq!(m.uxp_for_legacy_name("MOH"), None, "case-sensitive");
        assert_eq!(m.uxp_for_legacy_name("nobody"), None);
        // A short-name stack has no structured legacy ids.
        assert_eq!(m.uxp_for_legacy_id(&cid("PS/GOV/10000001/moh")), None);
        assert_eq!(
            m.legacy_for_uxp(&cid("PS-UXP/GOV/10000001/moh")),
            Some(&LegacyMember::Name("moh".into()))
        );
        let names: Vec<String> = m.members().map(|(l, _)| l.to_string()).collect();
        assert_eq!(names, ["10000042", "moh", "reg"]);
    }

    #[test]
    fn legacy_for_uxp_falls_back_from_subsystem_to_member_only() {
        let m = v31();
        // Only the member PS-UXP/GOV/10000003 is mapped: any of its subsystems maps back.
        assert_eq!(
            m.legacy_for_uxp(&cid("PS-UXP/GOV/10000003/filings")),
            Some(&LegacyMember::Name("reg".into()))
        );
        // A mapped subsystem does not answer for its member, nor for a sibling subsystem.
        assert_eq!(m.legacy_for_uxp(&cid("PS-UXP/GOV/10000001")), None);
        assert_eq!(m.legacy_for_uxp(&cid("PS-UXP/GOV/10000001/other")), None);
        // Different instance: no match.
        assert_eq!(m.legacy_for_uxp(&cid("XX/GOV/10000003/filings")), None);
    }

    #[test]
    fn service_lookups() {
        let m = v31();
        let s = m
            .service_for_legacy_text("moh.getPatientSummary.v2")
            .unwrap();
        assert_eq!(s.uxp, sid("PS-UXP/GOV/10000001/moh/getPatientSummary/v2"));
        assert_eq!(s.effect, Effect::Read);
        assert_eq!(s.wrapper, None);
        assert!(
            m.service_for_legacy_text("moh.getPatientSummary").is_none(),
            "exact string only"
        );

        // Exact beats the version-less fallback.
        let v1 = m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/moh/getPatientSummary/v1"))
            .unwrap();
        assert_eq!(v1.legacy.to_string(), "moh.getPatientSummary.v1");
        // Two versions mapped, neither matching: ambiguous, so no answer.
        assert!(m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/moh/getPatientSummary/v9"))
            .is_none());
        assert!(m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/moh/getPatientSummary"))
            .is_none());
        // One candidate: the version is ignored either way.
        let up = m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/moh/updateRecord"))
            .unwrap();
        assert_eq!(up.legacy.to_string(), "moh.updateRecord");
        assert_eq!(up.effect, Effect::Write, "default effect is write");
        assert_eq!(up.wrapper.as_deref(), Some("updateRecord"));
        assert!(m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/moh/updateRecord/v4"))
            .is_some());
        // Another provider with the same code: no match.
        assert!(m
            .service_for_uxp(&sid("PS-UXP/GOV/10000001/other/updateRecord/v3"))
            .is_none());
        assert_eq!(m.services().count(), 3);
    }

    #[test]
    fn fingerprint_ignores_layout_but_not_content() {
        let a = v31();
        // Same content, split over two files in another order, different comments.
        let head = "# header\n[legacy]\ndialect = \"v3.1\"\n[uxp]\ninstance = \"PS-UXP\"\n";
        let rest = r#"
[[services]]
legacy = "moh.updateRecord"
uxp = "PS-UXP/GOV/10000001/moh/updateRecord/v3"
effect = "write"
wrapper = "updateRecord"
[[services]]
legacy = "moh.getPatientSummary.v1"
uxp = "PS-UXP/GOV/10000001/moh/getPatientSummary/v1"
effect = "read"
[[services]]
legacy = "moh.getPatientSummary.v2"
uxp = "PS-UXP/GOV/10000001/moh/getPatientSummary/v2"
effect = "read"
[[members]]
legacy = "reg"
uxp = "PS-UXP/GOV/10000003"
[[members]]
uxp = "PS-UXP/GOV/10000001/moh"    # key order inside an entry does not matter
legacy = "moh"
[[members]]
legacy = "10000042"
uxp = "PS-UXP/GOV/10000042/moh-portal"
"#;
        let b = Mappings::from_sources(&[
            ("x/2.toml".into(), rest.to_string()),
            ("x/1.toml".into(), head.to_string()),
        ])
        .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        assert!(a
            .fingerprint()
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

        let changed = rest.replace("effect = \"write\"", "effect = \"read\"");
        let c = Mappings::from_sources(&[
            ("x/1.toml".into(), head.into()),
            ("x/2.toml".into(), changed),
        ])
        .unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn effect_serde_and_parse() {
        assert_eq!(Effect::default(), Effect::Write);
        #[derive(serde::Deserialize)]
        struct W {
            e: Effect,
        }
        assert_eq!(toml::from_str::<W>("e = \"read\"").unwrap().e, Effect::Read);
        assert!(toml::from_str::<W>("e = \"Read\"").is_err());
        assert_eq!("write".parse::<Effect>(), Ok(Effect::Write));
        assert!("rw".parse::<Effect>().is_err());
    }

    #[test]
    fn ncname() {
        for ok in ["getResidence", "_x", "a-b.c_1", "ÄriRegister", "x\u{B7}y"] {
            assert!(is_ncname(ok), "{ok}");
        }
        for bad in [
            "", "1abc", "-x", ".x", "ns:local", "a b", "a/b", "a\u{0}", "<x>",
        ] {
            assert!(!is_ncname(bad), "{bad:?}");
        }
    }
}
