//! The two facts client identity binding needs from a certificate: its SHA-256
//! fingerprint and its subject name.
//!
//! rustls has already verified the certificate (chain, validity, key usage) by the time
//! this runs; this module only reads the subject, with the `x509-cert` crate's DER
//! decoder. A certificate it cannot decode has no subject (an error naming what is wrong),
//! so a strange certificate can at worst match no subject binding, never panic.

use std::fmt;

use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::Certificate;

/// Why the subject of a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the certificate is not DER X.509: {0}")]
pub struct BadCertificate(String);

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

    /// The subject of a DER certificate, attributes in certificate order (within a
    /// multi-valued RDN, in DER order).
    pub fn read_cert_der(der: &[u8]) -> Result<Subject, BadCertificate> {
        let cert = Certificate::from_der(der).map_err(|e| BadCertificate(e.to_string()))?;
        let attrs = cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .map(|atv| {
                let name = oid_name(&atv.oid.to_string());
                (name, string_value(atv.value.tag(), atv.value.value()))
            })
            .collect();
        Ok(Subject(attrs))
    }

    /// [`Subject::read_cert_der`], for callers to whom an unreadable subject is no subject.
    pub fn from_cert_der(der: &[u8]) -> Option<Subject> {
        Subject::read_cert_der(der).ok()
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

/// Short names for the attributes subjects actually use; any other by its dotted OID.
fn oid_name(dotted: &str) -> String {
    let short = match dotted {
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
        _ => dotted,
    };
    short.to_string()
}

/// The text of an attribute value. Lenient on purpose (a name is compared, not
/// validated): bytes that are not valid in their string type become U+FFFD.
fn string_value(tag: Tag, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        Tag::BmpString => {
            let units: Vec<u16> = v
                .chunks(2)
                .map(|c| match c {
                    [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                    [hi] => u16::from_be_bytes([*hi, 0]),
                    _ => 0xFFFD,
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        // T61String is close enough to Latin-1 for names.
        Tag::TeletexString => v.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
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

    /// A DER builder for test certificates, so each subject edge can be written exactly.
    mod der {
        pub(super) fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
            let content: Vec<u8> = parts.concat();
            let mut out = vec![tag];
            let len = content.len();
            if len < 0x80 {
                out.push(len as u8);
            } else {
                let bytes: Vec<u8> = len
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|b| *b == 0)
                    .collect();
                out.push(0x80 | bytes.len() as u8);
                out.extend(bytes);
            }
            out.extend(content);
            out
        }

        pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];
        pub(super) const C: &[u8] = &[0x55, 0x04, 0x06];
        pub(super) const L: &[u8] = &[0x55, 0x04, 0x07];
        pub(super) const O: &[u8] = &[0x55, 0x04, 0x0A];
        pub(super) const OU: &[u8] = &[0x55, 0x04, 0x0B];
        pub(super) const EMAIL: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01];
        /// 1.3.6.1.4.1.99999.1, an attribute with no short name.
        pub(super) const PRIVATE: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8D, 0x1F, 0x01];

        pub(super) const UTF8: u8 = 0x0C;
        pub(super) const PRINTABLE: u8 = 0x13;
        pub(super) const T61: u8 = 0x14;
        pub(super) const IA5: u8 = 0x16;
        pub(super) const BMP: u8 = 0x1E;

        /// One attribute: `(oid, string tag, value bytes)`.
        pub(super) type Atv<'a> = (&'a [u8], u8, &'a [u8]);

        /// A Name: a sequence of RDNs, each a SET of attributes (more than one makes a
        /// multi-valued RDN).
        pub(super) fn name(rdns: &[&[Atv]]) -> Vec<u8> {
            let sets: Vec<Vec<u8>> = rdns
                .iter()
                .map(|atvs| {
                    let seqs: Vec<Vec<u8>> = atvs
                        .iter()
                        .map(|(oid, tag, v)| tlv(0x30, &[&tlv(0x06, &[oid]), &tlv(*tag, &[v])]))
                        .collect();
                    let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
                    tlv(0x31, &refs)
                })
                .collect();
            let refs: Vec<&[u8]> = sets.iter().map(Vec::as_slice).collect();
            tlv(0x30, &refs)
        }

        /// A structurally complete v3 certificate (never verified: the signature is
        /// zeros) with the given subject.
        pub(super) fn cert(subject: &[u8]) -> Vec<u8> {
            // sha256WithRSAEncryption, NULL parameters.
            let alg = tlv(
                0x30,
                &[
                    &tlv(
                        0x06,
                        &[&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B]],
                    ),
                    &[0x05, 0x00],
                ],
            );
            let issuer = name(&[&[(CN, UTF8, b"Test CA")]]);
            let time = tlv(0x17, &[b"250101000000Z"]);
            let validity = tlv(0x30, &[&time, &time]);
            // An Ed25519 key of zeros.
            let spki = tlv(
                0x30,
                &[
                    &tlv(0x30, &[&tlv(0x06, &[&[0x2B, 0x65, 0x70]])]),
                    &tlv(0x03, &[&[0], &[0; 32]]),
                ],
            );
            let tbs = tlv(
                0x30,
                &[
                    &tlv(0xA0, &[&tlv(0x02, &[&[2]])]),
                    &tlv(0x02, &[&[1]]),
                    &alg,
                    &issuer,
                    &validity,
                    subject,
                    &spki,
                ],
            );
            tlv(0x30, &[&tbs, &alg, &tlv(0x03, &[&[0], &[0; 64]])])
        }
    }

    fn subject_of(rdns: &[&[der::Atv]]) -> Subject {
        let cert = der::cert(&der::name(rdns));
        Subject::from_cert_der(&cert).expect("subject")
    }

    fn pairs(s: &Subject) -> Vec<(&str, &str)> {
        s.attrs()
            .iter()
            .map(|(a, v)| (a.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn the_test_builder_matches_the_openssl_fixture() {
        // The builder's own check: the fixture's subject, rebuilt, reads the same.
        let s = subject_of(&[
            &[(der::C, der::PRINTABLE, b"EE")],
            &[(der::O, der::UTF8, b"Ministry of Health")],
            &[(der::CN, der::UTF8, b"moh-portal")],
        ]);
        let fixture = Subject::from_cert_der(&fixture_der("client-moh.pem")).expect("subject");
        assert_eq!(s, fixture);
        assert_eq!(s.to_string(), fixture.to_string());
    }

    #[test]
    fn a_multi_valued_rdn_gives_every_attribute() {
        // CN and OU in one RDN (`CN=ab+OU=cd`), in DER order (CN's OID sorts first).
        let s = subject_of(&[
            &[(der::C, der::PRINTABLE, b"EE")],
            &[(der::CN, der::UTF8, b"ab"), (der::OU, der::UTF8, b"cd")],
        ]);
        assert_eq!(pairs(&s), [("C", "EE"), ("CN", "ab"), ("OU", "cd")]);
        assert_eq!(Subject::parse("OU=cd, CN=ab, C=EE"), Ok(s.clone()));
        assert_ne!(Subject::parse("CN=ab, C=EE"), Ok(s));
        // Written out of DER order, the same attributes still match the same binding.
        let unsorted = subject_of(&[
            &[(der::C, der::PRINTABLE, b"EE")],
            &[(der::OU, der::UTF8, b"cd"), (der::CN, der::UTF8, b"ab")],
        ]);
        assert_eq!(Subject::parse("C=EE, CN=ab, OU=cd"), Ok(unsorted));
    }

    #[test]
    fn string_types_all_read_as_text() {
        let bmp: Vec<u8> = "Üks€".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let s = subject_of(&[
            &[(der::C, der::PRINTABLE, b"EE")],
            &[(der::O, der::UTF8, "Terviseamet ÄÖ".as_bytes())],
            &[(der::OU, der::BMP, &bmp)],
            &[(der::L, der::T61, b"J\xF5geva")],
            &[(der::EMAIL, der::IA5, b"ops@example.ee")],
            &[(der::CN, der::PRINTABLE, b"portal")],
        ]);
        assert_eq!(
            pairs(&s),
            [
                ("C", "EE"),
                ("O", "Terviseamet ÄÖ"),
                ("OU", "Üks€"),
                ("L", "Jõgeva"),
                ("EMAILADDRESS", "ops@example.ee"),
                ("CN", "portal"),
            ]
        );
        // UTF8String and PrintableString of the same text are the same subject.
        let utf8 = subject_of(&[
            &[(der::C, der::UTF8, b"EE")],
            &[(der::CN, der::UTF8, b"portal")],
        ]);
        let printable = subject_of(&[
            &[(der::C, der::PRINTABLE, b"EE")],
            &[(der::CN, der::PRINTABLE, b"portal")],
        ]);
        assert_eq!(utf8, printable);
    }

    #[test]
    fn an_attribute_twice_is_kept_twice() {
        let s = subject_of(&[
            &[(der::O, der::UTF8, b"A")],
            &[(der::O, der::UTF8, b"B")],
            &[(der::PRIVATE, der::UTF8, b"x")],
        ]);
        assert_eq!(
            pairs(&s),
            [("O", "A"), ("O", "B"), ("1.3.6.1.4.1.99999.1", "x")]
        );
        assert_eq!(
            Subject::parse("O=B, O=A, 1.3.6.1.4.1.99999.1=x"),
            Ok(s.clone())
        );
        assert_ne!(Subject::parse("O=A, 1.3.6.1.4.1.99999.1=x"), Ok(s.clone()));
        assert_ne!(Subject::parse("O=A, O=A, 1.3.6.1.4.1.99999.1=x"), Ok(s));
    }

    #[test]
    fn every_truncation_and_corruption_has_no_subject() {
        for der in [
            fixture_der("client-moh.pem"),
            der::cert(&der::name(&[&[
                (der::CN, der::UTF8, b"ab"),
                (der::OU, der::UTF8, b"cd"),
            ]])),
        ] {
            for cut in 0..der.len() {
                assert_eq!(Subject::from_cert_der(&der[..cut]), None, "cut at {cut}");
            }
            // A long-form length claiming gigabytes, at every position: never a panic,
            // and where it hits a structure's length, no subject.
            let mut refused = 0;
            for at in 0..der.len() {
                let mut bad = der.clone();
                bad[at] = 0x84;
                refused += usize::from(Subject::from_cert_der(&bad).is_none());
            }
            let mut outer = der.clone();
            outer[1] = 0x84;
            assert_eq!(Subject::from_cert_der(&outer), None);
            assert!(refused > 0);
        }
        // A subject that is not a Name: an RDN that is a SEQUENCE, not a SET.
        let not_a_set = der::tlv(0x30, &[&der::tlv(0x30, &[&der::tlv(0x30, &[])])]);
        assert_eq!(Subject::from_cert_der(&der::cert(&not_a_set)), None);
        // An attribute whose type is not an OID.
        let not_an_oid = der::tlv(
            0x30,
            &[&der::tlv(
                0x31,
                &[&der::tlv(
                    0x30,
                    &[&der::tlv(0x02, &[&[1]]), &der::tlv(0x0C, &[b"x"])],
                )],
            )],
        );
        assert_eq!(Subject::from_cert_der(&der::cert(&not_an_oid)), None);
        assert_eq!(Subject::from_cert_der(&[]), None);
        assert_eq!(Subject::from_cert_der(b"-----BEGIN CERTIFICATE-----"), None);
    }

    #[test]
    fn a_malformed_certificate_is_a_clear_error() {
        let der = fixture_der("client-moh.pem");
        for bad in [
            &[][..],
            &der[..der.len() / 2],
            b"-----BEGIN CERTIFICATE-----",
        ] {
            let e = Subject::read_cert_der(bad).expect_err("malformed");
            assert!(
                e.to_string()
                    .starts_with("the certificate is not DER X.509: "),
                "{e}"
            );
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(Subject::read_cert_der(&trailing).is_err());
        assert_eq!(
            Subject::read_cert_der(&der).map(|s| s.to_string()),
            Ok("C=EE, O=Ministry of Health, CN=moh-portal".to_string())
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
