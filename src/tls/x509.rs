//! The two facts client identity binding needs from a certificate: its SHA-256
//! fingerprint and its subject name.
//!
//! rustls has already verified the certificate (chain, validity, key usage) by the time
//! this runs; this module only reads the subject out of the DER with a minimal,
//! non-recursive reader that returns `None` on anything it does not understand, so a
//! strange certificate can at worst match no subject binding, never panic.

use std::fmt;

use sha2::{Digest, Sha256};

/// A subject as an operator wrote it that [`Subject::parse`] refuses; the text is the
/// offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("`{0}` is not ATTRIBUTE=value (write the subject like \"C=EE, O=Ministry of Health, CN=moh-portal\")")]
    NotAttribute(String),
    #[error("`{0}` has an empty attribute or value")]
    EmptyPart(String),
    #[error("the subject is empty")]
    Empty,
}

/// Text that [`parse_fingerprint`] cannot read as a SHA-256 fingerprint (the text as
/// written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SHA-256 fingerprint (64 hex digits, colons optional; `openssl x509 -noout -fingerprint -sha256 -in cert.pem` prints one)")]
pub struct BadFingerprint(pub String);

/// A distinguished name as a list of `(attribute, value)` pairs in certificate order,
/// attributes by their short names (`CN`, `O`, `C`, …) or dotted OID. Two subjects are
/// equal when they hold the same pairs in any order, so `C=EE, O=X, CN=y` (openssl's
/// order) and `CN=y,O=X,C=EE` (RFC 4514's) name the same certificate.
#[derive(Debug, Clone, Eq)]
pub struct Subject(Vec<(String, String)>);

impl PartialEq for Subject {
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

impl Subject {
    fn sorted(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        v.sort_unstable();
        v
    }

    pub fn attrs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Parses a subject as an operator writes it: `C=EE, O=Ministry of Health,
    /// CN=moh-portal` (openssl's `-subject` output, with or without `subject=`), the RFC
    /// 4514 form `CN=moh-portal,O=Ministry of Health,C=EE`, or the slash form
    /// `/C=EE/O=…/CN=…`. `\,` escapes a comma inside a value.
    pub fn parse(text: &str) -> Result<Subject, SubjectError> {
        let t = text.trim();
        let t = t.strip_prefix("subject=").unwrap_or(t).trim();
        let parts: Vec<String> = if let Some(rest) = t.strip_prefix('/') {
            rest.split('/').map(str::to_string).collect()
        } else {
            let mut parts = vec![String::new()];
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let (Some(next), Some(last)) = (chars.next(), parts.last_mut()) {
                            last.push(next);
                        }
                    }
                    ',' | ';' => parts.push(String::new()),
                    c => {
                        if let Some(last) = parts.last_mut() {
                            last.push(c);
                        }
                    }
                }
            }
            parts
        };
        let mut attrs = Vec::new();
        for part in parts {
            let Some((k, v)) = part.split_once('=') else {
                return Err(SubjectError::NotAttribute(part.trim().to_string()));
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() {
                return Err(SubjectError::EmptyPart(part.trim().to_string()));
            }
            attrs.push((short_name(k), v.to_string()));
        }
        if attrs.is_empty() {
            return Err(SubjectError::Empty);
        }
        Ok(Subject(attrs))
    }

    /// The subject of a DER certificate; `None` if the DER is not the shape expected.
    pub fn from_cert_der(der: &[u8]) -> Option<Subject> {
        let (cert, _) = tlv(der, 0x30)?;
        let (mut tbs, _) = tlv(cert, 0x30)?;
        if tbs.first() == Some(&0xA0) {
            tbs = any(tbs)?.2; // [0] version
        }
        let tbs = expect(tbs, 0x02)?; // serialNumber
        let tbs = expect(tbs, 0x30)?; // signature algorithm
        let tbs = expect(tbs, 0x30)?; // issuer
        let tbs = expect(tbs, 0x30)?; // validity
        let (mut name, _) = tlv(tbs, 0x30)?; // subject
        let mut attrs = Vec::new();
        while !name.is_empty() {
            let (mut set, rest) = tlv(name, 0x31)?;
            name = rest;
            while !set.is_empty() {
                let (atv, rest) = tlv(set, 0x30)?;
                set = rest;
                let (oid, rest) = tlv(atv, 0x06)?;
                let (tag, value, _) = any(rest)?;
                attrs.push((oid_name(oid)?, string_value(tag, value)));
            }
        }
        Some(Subject(attrs))
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Parses a fingerprint as tools print it: hex, any case, colons or spaces optional.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], BadFingerprint> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '\t'))
        .collect();
    let digits = digits.strip_prefix("sha256=").unwrap_or(&digits);
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| BadFingerprint(text.to_string()))?;
    Ok(out)
}

fn short_name(k: &str) -> String {
    let up = k.to_ascii_uppercase();
    match up.as_str() {
        "COMMONNAME" => "CN",
        "COUNTRYNAME" => "C",
        "ORGANIZATIONNAME" => "O",
        "ORGANIZATIONALUNITNAME" => "OU",
        "LOCALITYNAME" => "L",
        "STATEORPROVINCENAME" | "S" => "ST",
        "EMAIL" | "E" => "EMAILADDRESS",
        "SERIAL" => "SERIALNUMBER",
        _ => return up,
    }
    .to_string()
}

fn oid_name(oid: &[u8]) -> Option<String> {
    // Dotted form first; short names for the attributes subjects actually use.
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = if acc < 80 { acc / 40 } else { 2 };
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    let dotted = arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let short = match dotted.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SURNAME",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "TITLE",
        "2.5.4.42" => "GIVENNAME",
        "2.5.4.97" => "ORGANIZATIONIDENTIFIER",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "EMAILADDRESS",
        _ => return Some(dotted),
    };
    Some(short.to_string())
}

fn string_value(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1E => {
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // T61String is close enough to Latin-1 for names.
        0x14 => v.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

/// One TLV: (tag, content, rest).
fn any(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*buf.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, buf.get(header..end)?, buf.get(end..)?))
}

fn tlv(buf: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    match any(buf)? {
        (tag, content, rest) if tag == want => Some((content, rest)),
        _ => None,
    }
}

fn expect(buf: &[u8], want: u8) -> Option<&[u8]> {
    tlv(buf, want).map(|(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_der(name: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/tls")
            .join(name);
        rustls::pki_types::CertificateDer::from_pem_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_vec()
    }

    #[test]
    fn reads_the_subject_of_a_certificate() {
        let s = Subject::from_cert_der(&fixture_der("client-moh.pem")).expect("subject");
        assert_eq!(s.to_string(), "C=EE, O=Ministry of Health, CN=moh-portal");
        for written in [
            "C=EE, O=Ministry of Health, CN=moh-portal",
            "subject=C = EE, O = Ministry of Health, CN = moh-portal",
            "CN=moh-portal,O=Ministry of Health,C=EE",
            "/C=EE/O=Ministry of Health/CN=moh-portal",
            "countryName=EE, organizationName=Ministry of Health, commonName=moh-portal",
        ] {
            assert_eq!(Subject::parse(written).as_ref(), Ok(&s), "{written}");
        }
        assert_ne!(
            Subject::parse("C=EE, O=Tax Board, CN=tax-office").ok(),
            Some(s)
        );
        assert_eq!(
            Subject::parse(r"O=Smith\, Jones and Co, CN=x").map(|s| s.to_string()),
            Ok("O=Smith, Jones and Co, CN=x".to_string())
        );
        assert!(Subject::parse("moh-portal").is_err());
        assert!(Subject::parse("").is_err());
    }

    #[test]
    fn garbage_der_has_no_subject() {
        let der = fixture_der("client-moh.pem");
        for cut in [0, 1, 2, 10, 50, der.len() / 2] {
            assert_eq!(Subject::from_cert_der(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            Subject::from_cert_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    #[test]
    fn fingerprints_parse_in_the_usual_spellings() {
        let der = fixture_der("client-moh.pem");
        let fp = fingerprint(&der);
        let hex = hex::encode_upper(fp);
        let colons = fp
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(parse_fingerprint(&hex), Ok(fp));
        assert_eq!(parse_fingerprint(&hex.to_lowercase()), Ok(fp));
        assert_eq!(parse_fingerprint(&colons), Ok(fp));
        assert!(parse_fingerprint("abcd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
