//! Typed X-Road / UXP identifiers and their `/`-separated string form.
//!
//! Sits at the bottom of the flow: codecs decode header elements into these types,
//! `mapping` maps legacy short names onto them, `routing` matches rules against them.
//! String form follows the mappings contract: members `INSTANCE/CLASS/CODE[/SUBSYSTEM]`,
//! services `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]` (subsystem required).

use std::fmt;

/// Why an identifier string could not be parsed. Carries the offending text so an
/// operator sees exactly which value in which file is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("member identifier `{0}` must have 3 or 4 `/`-separated parts: INSTANCE/CLASS/CODE[/SUBSYSTEM]")]
    MemberParts(String),
    #[error("service identifier `{0}` must have 5 or 6 `/`-separated parts: INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]")]
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

/// A service identifier; the subsystem is always present in the string form,
/// and optional only for what old X-Road 6 members sent on the wire.
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
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, ':' | ';' | '\\' | '%'))
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
    /// Parses `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(5..=6).contains(&parts.len()) {
            return Err(IdError::ServiceParts(s.to_string()));
        }
        for p in &parts {
            check_part(s, p)?;
        }
        Ok(ServiceId {
            provider: ClientId::new(parts[0], parts[1], parts[2], Some(parts[3])),
            service_code: parts[4].to_string(),
            service_version: parts.get(5).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.service_code)?;
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
