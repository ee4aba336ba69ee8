//! Typed X-Road / UXP identifiers and their `/`-separated string form.
//!
//! Sits at the bottom of the flow: codecs decode header elements into these types,
//! `mapping` maps legacy short names onto them, `routing` matches rules against them.
//! String form follows the mappings contract: members `INSTANCE/CLASS/CODE[/SUBSYSTEM]`,
//! services `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`. A *member-level* service
//! (X-Road 6/7 `objectType="SERVICE"` without `subsystemCode`) is written with an empty
//! subsystem part, `INSTANCE/CLASS/CODE//SERVICE[/VERSION]`: counting parts alone cannot
//! tell `…/CODE/getX/v1` (member, service, version) from `…/CODE/sub/getX` (subsystem,
//! service), so the member-level form is never guessed from a part count. Empty parts
//! are invalid everywhere else, so `//` cannot be mistaken for anything. Mapping files
//! also accept the table form `{ member = "I/C/M", service = "getX", version = "v1" }`
//! (`mapping::load`). See docs/identifiers.md.

use std::fmt;

/// Why an identifier string could not be parsed. Carries the offending text so an
/// operator sees exactly which value in which file is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("member identifier `{0}` must have 3 or 4 `/`-separated parts: INSTANCE/CLASS/CODE[/SUBSYSTEM]")]
    MemberParts(String),
    #[error("service identifier `{0}` must have 5 or 6 `/`-separated parts: INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION], or INSTANCE/CLASS/CODE//SERVICE[/VERSION] for a service of a member without subsystem")]
    ServiceParts(String),
    #[error("identifier `{0}` has an empty part")]
    EmptyPart(String),
    #[error("identifier `{0}` contains a character not allowed in identifiers (whitespace, control or `:;\\%`)")]
    BadChar(String),
}

/// A client or provider identity: a member, or a subsystem of a member.
/// `objectType` on the wire is `MEMBER` when `subsystem` is `None`, `SUBSYSTEM` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    pub instance: String,
    pub member_class: String,
    pub member_code: String,
    pub subsystem: Option<String>,
}

/// A service identifier. `provider.subsystem` is `None` for a member-level service
/// (X-Road 6/7 services offered by a member itself, as in X-Road's own 4.0 test
/// messages and its `identifiermapping.xml`, which maps legacy producers to members).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    pub provider: ClientId,
    pub service_code: String,
    pub service_version: Option<String>,
}

fn check_part(whole: &str, part: &str) -> Result<(), IdError> {
    if part.is_empty() {
        return Err(IdError::EmptyPart(whole.to_string()));
    }
    if part
        .chars()
        // `/` cannot come out of a split, but `ServiceId::of` checks single parts.
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, ':' | ';' | '\\' | '%' | '/'))
    {
        return Err(IdError::BadChar(whole.to_string()));
    }
    Ok(())
}

impl ClientId {
    pub fn new(instance: &str, class: &str, code: &str, subsystem: Option<&str>) -> Self {
        ClientId {
            instance: instance.to_string(),
            member_class: class.to_string(),
            member_code: code.to_string(),
            subsystem: subsystem.map(str::to_string),
        }
    }

    /// Parses `INSTANCE/CLASS/CODE[/SUBSYSTEM]`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(IdError::MemberParts(s.to_string()));
        }
        for p in &parts {
            check_part(s, p)?;
        }
        Ok(ClientId::new(
            parts[0],
            parts[1],
            parts[2],
            parts.get(3).copied(),
        ))
    }

    /// The wire `objectType` for this identifier.
    pub fn object_type(&self) -> &'static str {
        if self.subsystem.is_some() {
            "SUBSYSTEM"
        } else {
            "MEMBER"
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.instance, self.member_class, self.member_code
        )?;
        if let Some(s) = &self.subsystem {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

impl ServiceId {
    /// Parses `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`, or the member-level
    /// `INSTANCE/CLASS/CODE//SERVICE[/VERSION]` (empty subsystem part).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(5..=6).contains(&parts.len()) {
            return Err(IdError::ServiceParts(s.to_string()));
        }
        let member_level = parts[3].is_empty();
        for (i, p) in parts.iter().enumerate() {
            if i == 3 && member_level {
                continue;
            }
            check_part(s, p)?;
        }
        let subsystem = (!member_level).then_some(parts[3]);
        Ok(ServiceId {
            provider: ClientId::new(parts[0], parts[1], parts[2], subsystem),
            service_code: parts[4].to_string(),
            service_version: parts.get(5).map(|v| v.to_string()),
        })
    }

    /// A service of `provider` (member or subsystem), checking each part like `parse`.
    pub fn of(
        provider: ClientId,
        service_code: &str,
        service_version: Option<&str>,
    ) -> Result<Self, IdError> {
        let whole = || {
            let mut w = format!("{provider}/{service_code}");
            if let Some(v) = service_version {
                w.push('/');
                w.push_str(v);
            }
            w
        };
        for p in std::iter::once(service_code).chain(service_version) {
            check_part(&whole(), p)?;
        }
        Ok(ServiceId {
            provider,
            service_code: service_code.to_string(),
            service_version: service_version.map(str::to_string),
        })
    }

    /// Whether the provider is a member rather than one of its subsystems.
    pub fn is_member_level(&self) -> bool {
        self.provider.subsystem.is_none()
    }
}

impl fmt::Display for ServiceId {
    /// The string form of the module docs; member-level services get the `//`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.provider)?;
        if self.is_member_level() {
            f.write_str("/")?;
        }
        f.write_str(&self.service_code)?;
        if let Some(v) = &self.service_version {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A legacy `service`/`nimi` string split by the X-Road 5 mediator's rule:
/// the last segment is a version only when it matches `v\d+`; the method is the segment
/// before it; everything earlier is the producer (which may itself contain dots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyServiceName {
    pub producer: String,
    pub method: String,
    pub version: Option<String>,
}

impl LegacyServiceName {
    /// Splits `producer.method[.vN]`. Returns `None` when there is no method part.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts: Vec<&str> = s.split('.').collect();
        let version = match parts.last() {
            Some(last) if parts.len() >= 3 && is_version(last) => {
                let v = last.to_string();
                parts.pop();
                Some(v)
            }
            _ => None,
        };
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let method = parts.pop()?.to_string();
        Some(LegacyServiceName {
            producer: parts.join("."),
            method,
            version,
        })
    }

    /// Splits with a known producer (the `producer`/`andmekogu` header is authoritative,
    /// which resolves dotted producer names).
    pub fn parse_with_producer(s: &str, producer: &str) -> Option<Self> {
        let rest = s.strip_prefix(producer)?.strip_prefix('.')?;
        let (method, version) = match rest.rsplit_once('.') {
            Some((m, v)) if is_version(v) => (m, Some(v.to_string())),
            _ => (rest, None),
        };
        if method.is_empty() || method.contains('.') && !method.ends_with(char::is_alphanumeric) {
            return None;
        }
        Some(LegacyServiceName {
            producer: producer.to_string(),
            method: method.to_string(),
            version,
        })
    }
}

impl fmt::Display for LegacyServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.producer, self.method)?;
        if let Some(v) = &self.version {
            write!(f, ".{v}")?;
        }
        Ok(())
    }
}

/// `v` followed by one or more ASCII digits.
pub fn is_version(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_and_subsystem_round_trip() {
        for s in ["PS-UXP/GOV/10000042", "PS-UXP/GOV/10000042/moh-portal"] {
            assert_eq!(ClientId::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(ClientId::parse("PS/GOV/1").unwrap().object_type(), "MEMBER");
        assert!(matches!(
            ClientId::parse("PS/GOV"),
            Err(IdError::MemberParts(_))
        ));
        assert!(matches!(
            ClientId::parse("PS//1"),
            Err(IdError::EmptyPart(_))
        ));
        assert!(matches!(
            ClientId::parse("PS/GOV/1 2"),
            Err(IdError::BadChar(_))
        ));
    }

    #[test]
    fn service_requires_subsystem() {
        let s = ServiceId::parse("PS-UXP/GOV/10000001/moh/getPatientSummary/v2").unwrap();
        assert_eq!(s.service_code, "getPatientSummary");
        assert_eq!(s.service_version.as_deref(), Some("v2"));
        assert_eq!(
            s.to_string(),
            "PS-UXP/GOV/10000001/moh/getPatientSummary/v2"
        );
        assert!(ServiceId::parse("PS-UXP/GOV/10000001/getPatientSummary").is_err());
    }

    #[test]
    fn member_level_services_have_an_explicit_form() {
        // Five parts are always subsystem + service: never read as member + version.
        let sub = ServiceId::parse("PS-UXP/GOV/10000001/getX/v1").unwrap();
        assert_eq!(sub.provider.subsystem.as_deref(), Some("getX"));
        assert_eq!(sub.service_code, "v1");
        assert!(!sub.is_member_level());
        // The empty subsystem part is the member-level form, with or without version.
        for (s, version) in [
            ("PS-UXP/GOV/10000001//getX/v1", Some("v1")),
            ("PS-UXP/GOV/10000001//getX", None),
        ] {
            let m = ServiceId::parse(s).unwrap();
            assert!(m.is_member_level(), "{s}");
            assert_eq!(m.provider, ClientId::parse("PS-UXP/GOV/10000001").unwrap());
            assert_eq!(m.service_code, "getX");
            assert_eq!(m.service_version.as_deref(), version);
            assert_eq!(m.to_string(), s, "round trip");
        }
        // Built from parts, it prints the same form.
        let built = ServiceId::of(
            ClientId::parse("EE/BUSINESS/producer").unwrap(),
            "getState",
            None,
        )
        .unwrap();
        assert_eq!(built.to_string(), "EE/BUSINESS/producer//getState");
        assert!(ServiceId::of(ClientId::parse("EE/B/p").unwrap(), "a b", None).is_err());
        // Only the subsystem part may be empty.
        for bad in ["PS//1//getX", "PS/GOV/1///", "PS/GOV/1//", "/GOV/1//x"] {
            assert!(ServiceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_service_names() {
        let n = LegacyServiceName::parse("moh.getPatientSummary.v2").unwrap();
        assert_eq!(
            (n.producer.as_str(), n.method.as_str(), n.version.as_deref()),
            ("moh", "getPatientSummary", Some("v2"))
        );
        let n = LegacyServiceName::parse("rr.RR19IsikuElukoht_v1").unwrap();
        assert_eq!(
            (n.method.as_str(), n.version),
            ("RR19IsikuElukoht_v1", None)
        );
        let n = LegacyServiceName::parse("reg.sub.findCompany.v10").unwrap();
        assert_eq!(
            (n.producer.as_str(), n.method.as_str()),
            ("reg.sub", "findCompany")
        );
        let n =
            LegacyServiceName::parse_with_producer("reg.sub.findCompany.v1", "reg.sub").unwrap();
        assert_eq!(
            (n.method.as_str(), n.version.as_deref()),
            ("findCompany", Some("v1"))
        );
        // "x.v1" is producer x with method v1, not a version without method.
        let n = LegacyServiceName::parse("x.v1").unwrap();
        assert_eq!((n.method.as_str(), n.version), ("v1", None));
        assert!(LegacyServiceName::parse("nodot").is_none());
    }
}
