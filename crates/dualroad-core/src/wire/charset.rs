//! Character sets. X-Road takes the charset only from the HTTP `Content-Type`
//! (UTF-8 by default); ISO-8859-1 responses exist in the wild. Element names are ASCII in
//! every dialect, so the scanner works on raw bytes and only header *text* is decoded here.
//! Re-encoding writes back in the message's own charset, so the body never changes.

/// A charset dualroad can decode header text in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    #[default]
    Utf8,
    /// ISO-8859-1 (and its `latin1` aliases): one byte per code point.
    Latin1,
}

impl Charset {
    /// Recognises a charset label; `None` for labels dualroad does not support.
    pub fn from_label(label: &str) -> Option<Charset> {
        let l = label.trim().trim_matches('"').to_ascii_lowercase();
        match l.as_str() {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(Charset::Utf8),
            "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "iso_8859-1" => {
                Some(Charset::Latin1)
            }
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Latin1 => "ISO-8859-1",
        }
    }

    /// Decodes raw bytes; `None` when the bytes are not valid in this charset.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Charset::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_string),
            Charset::Latin1 => Some(bytes.iter().map(|&b| b as char).collect()),
        }
    }

    /// Encodes text for insertion into a message of this charset. Characters that
    /// Latin-1 cannot hold become numeric character references, which XML allows anywhere
    /// in text and attribute values, so nothing is lost.
    pub fn encode(self, text: &str, out: &mut Vec<u8>) {
        match self {
            Charset::Utf8 => out.extend_from_slice(text.as_bytes()),
            Charset::Latin1 => {
                for c in text.chars() {
                    let cp = c as u32;
                    if cp < 0x100 {
                        out.push(cp as u8);
                    } else {
                        out.extend_from_slice(format!("&#{cp};").as_bytes());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trip_and_escape() {
        let raw = [b'J', 0xF6, b'r', b'g'];
        let s = Charset::Latin1.decode(&raw).unwrap();
        assert_eq!(s, "Jörg");
        let mut out = Vec::new();
        Charset::Latin1.encode(&s, &mut out);
        assert_eq!(out, raw);
        let mut out = Vec::new();
        Charset::Latin1.encode("ا", &mut out);
        assert_eq!(out, b"&#1575;");
        assert!(Charset::Utf8.decode(&raw).is_none());
        assert_eq!(Charset::from_label("\"ISO-8859-1\""), Some(Charset::Latin1));
        assert_eq!(Charset::from_label("koi8-r"), None);
    }
}
