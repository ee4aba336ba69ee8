//! Value treatments: when two different strings mean the same value.
//!
//! The comparator ([`super::compare`](mod@super::compare)) compares text exactly unless
//! the config names a path as *numeric* or as a *timestamp*; then the two strings are
//! parsed here and compared as values. Numbers are parsed by hand (no float rounding);
//! dates are checked and placed on the calendar by the `time` crate:
//!
//! - [`Decimal`]: `007` = `7`, `1.50` = `1.5`, `+2` = `2`, `-0` = `0`, `1.5E2` = `150`.
//!   Exact: digits are kept as digits, so 20-digit account numbers and amounts with many
//!   decimals compare correctly where `f64` would round.
//! - [`Timestamp`]: ISO-8601 / `xs:dateTime` in extended format,
//!   `YYYY-MM-DDThh:mm:ss[.fraction][Z|±hh:mm]`. Two zoned values compare as instants (so
//!   `12:00:00+02:00` = `10:00:00Z`); two unzoned values compare as wall-clock times; a
//!   zoned and an unzoned value are not comparable and fall back to exact text.
//! - [`Date`]: a calendar date `YYYY-MM-DD`, used for ignore-rule expiry.
//!
//! A value that does not parse is never an error here: the caller falls back to comparing
//! the text exactly, so a malformed number still shows up as a difference.

use std::fmt;
use std::str::FromStr;

/// Whitespace as XML defines it (space, tab, CR, LF); `char::is_whitespace` is wider.
pub(crate) fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Largest decimal exponent accepted; beyond it a "number" is treated as text (and a
/// hostile `1E999999999999` cannot make rendering allocate gigabytes).
const MAX_EXPONENT: i64 = 100_000;

/// A decimal number in canonical form: `0.d₁d₂d₃… × 10^exp`, with no leading or
/// trailing zero digits. Zero has no digits and is never negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    digits: String,
    exp: i64,
}

impl Decimal {
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (surrounding XML whitespace allowed).
    /// `INF`, `NaN`, hex and thousands separators are not numbers here.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim_matches(is_xml_ws);
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, s.get(1..)?),
            b'+' => (false, s.get(1..)?),
            _ => (false, s),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (rest.get(..i)?, Some(rest.get(i + 1..)?)),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let e: i64 = match exponent {
            None => 0,
            Some(x) => {
                let body = x.strip_prefix(['+', '-']).unwrap_or(x);
                if body.is_empty() || body.len() > 9 || !all_digits(body) {
                    return None;
                }
                x.parse().ok()?
            }
        };
        // Significant digits of int ++ frac, and where the decimal point sits in them.
        let leading = int.bytes().take_while(|b| *b == b'0').count();
        let digits: String = if leading == int.len() {
            // The integer part is all zeros: skip zeros at the start of the fraction too.
            let frac_leading = frac.bytes().take_while(|b| *b == b'0').count();
            let sig = frac.get(frac_leading..).unwrap_or("");
            let exp = e - frac_leading as i64;
            let sig = sig.trim_end_matches('0');
            if sig.is_empty() {
                return Some(Decimal::zero());
            }
            return Decimal::bounded(negative, sig.to_string(), exp);
        } else {
            let mut d = String::with_capacity(int.len() + frac.len());
            d.push_str(int.get(leading..).unwrap_or(""));
            d.push_str(frac);
            d
        };
        let exp = e + (int.len() - leading) as i64;
        let sig = digits.trim_end_matches('0');
        Decimal::bounded(negative, sig.to_string(), exp)
    }

    fn zero() -> Decimal {
        Decimal {
            negative: false,
            digits: String::new(),
            exp: 0,
        }
    }

    fn bounded(negative: bool, digits: String, exp: i64) -> Option<Decimal> {
        if exp.abs() > MAX_EXPONENT {
            return None;
        }
        Some(Decimal {
            negative,
            digits,
            exp,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }
}

impl fmt::Display for Decimal {
    /// Plain decimal notation (`-0.015`, `250000`) for ordinary magnitudes, scientific
    /// (`1.5E40`) beyond them, so the canonical text stays short.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let n = self.digits.len() as i64;
        if !(-20..=40).contains(&self.exp) {
            let (first, rest) = self.digits.split_at(1);
            f.write_str(first)?;
            if !rest.is_empty() {
                write!(f, ".{rest}")?;
            }
            return write!(f, "E{}", self.exp - 1);
        }
        if self.exp <= 0 {
            f.write_str("0.")?;
            for _ in 0..-self.exp {
                f.write_str("0")?;
            }
            f.write_str(&self.digits)
        } else if self.exp >= n {
            f.write_str(&self.digits)?;
            for _ in 0..self.exp - n {
                f.write_str("0")?;
            }
            Ok(())
        } else {
            let (int, frac) = self.digits.split_at(self.exp as usize);
            write!(f, "{int}.{frac}")
        }
    }
}

/// Exactly `n` ASCII digits at the start of `s`, as a number, and the rest.
fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, s.get(n..)?))
}

/// Parses `YYYY-MM-DD` (a real calendar date) and returns the rest of the string.
fn parse_ymd(s: &str) -> Option<(time::Date, &str)> {
    let (y, s) = digits(s, 4)?;
    let s = s.strip_prefix('-')?;
    let (m, s) = digits(s, 2)?;
    let s = s.strip_prefix('-')?;
    let (d, s) = digits(s, 2)?;
    Some((calendar_date(i32::try_from(y).ok()?, m, d)?, s))
}

/// The Gregorian date `y-m-d`, if it exists (the `time` crate knows the calendar).
fn calendar_date(y: i32, m: u32, d: u32) -> Option<time::Date> {
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    time::Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()
}

/// A calendar date, `YYYY-MM-DD`, years 0000–9999 as written in config. Ordered
/// chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// A date from its parts; `None` unless it exists in the Gregorian calendar.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        calendar_date(i32::from(year), u32::from(month), u32::from(day)).map(Date)
    }

    /// The UTC date of a Unix time in seconds. The gateway passes today's date in (this
    /// module reads no clock): `Date::from_unix_seconds(now.duration_since(UNIX_EPOCH)…)`.
    /// Times outside years 0000–9999 give the nearest end of that range.
    pub fn from_unix_seconds(secs: i64) -> Date {
        let first = calendar_date(0, 1, 1).unwrap_or(time::Date::MIN);
        let last = calendar_date(9999, 12, 31).unwrap_or(time::Date::MAX);
        let date = match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => t.date(),
            Err(_) if secs < 0 => first,
            Err(_) => last,
        };
        Date(date.clamp(first, last))
    }

    pub fn year(self) -> u16 {
        u16::try_from(self.0.year()).unwrap_or(0)
    }
    pub fn month(self) -> u8 {
        u8::from(self.0.month())
    }
    pub fn day(self) -> u8 {
        self.0.day()
    }
}

/// Why a date string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a calendar date in the form YYYY-MM-DD")]
pub struct BadDate(pub String);

impl FromStr for Date {
    type Err = BadDate;
    fn from_str(s: &str) -> Result<Date, BadDate> {
        match parse_ymd(s) {
            Some((date, "")) => Ok(Date(date)),
            _ => Err(BadDate(s.to_string())),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.year(),
            self.month(),
            self.day()
        )
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A parsed `xs:dateTime`: a date and time of day, in UTC when `zoned`, else on an
/// unspecified wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Built with `time`'s `large-dates`, so that normalizing `9999-12-31T23:00:00-05:00`
    /// to UTC (year 10000) still has a date.
    at: time::PrimitiveDateTime,
    zoned: bool,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]` (surrounding whitespace allowed).
    /// `24:00:00` is the end of the day, as `xs:dateTime` allows.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim_matches(is_xml_ws);
        let (date, s) = parse_ymd(s)?;
        let s = s.strip_prefix(['T', 't'])?;
        let (h, s) = digits(s, 2)?;
        let s = s.strip_prefix(':')?;
        let (mi, s) = digits(s, 2)?;
        let s = s.strip_prefix(':')?;
        let (sec, mut s) = digits(s, 2)?;
        let mut nanos = 0u32;
        if let Some(rest) = s.strip_prefix(['.', ',']) {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            // Nanosecond precision; further digits are below any tolerance we offer.
            for (i, b) in rest.bytes().take(9).enumerate() {
                if i < n {
                    nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
                }
            }
            s = rest.get(n..)?;
        }
        let end_of_day = h == 24 && mi == 0 && sec == 0 && nanos == 0;
        let at = if end_of_day {
            date.next_day()?.midnight()
        } else {
            let hms = |n: u32| u8::try_from(n).ok();
            date.with_hms_nano(hms(h)?, hms(mi)?, hms(sec)?, nanos)
                .ok()?
        };
        let (offset, zoned) = match s {
            "" => (0i64, false),
            "Z" | "z" => (0, true),
            _ => {
                let sign = match s.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (oh, r) = digits(s.get(1..)?, 2)?;
                let r = r.strip_prefix(':')?;
                let (om, r) = digits(r, 2)?;
                if !r.is_empty() || oh > 14 || om > 59 {
                    return None;
                }
                (sign * i64::from(oh * 3600 + om * 60), true)
            }
        };
        let at = at.checked_sub(time::Duration::seconds(offset))?;
        Some(Timestamp { at, zoned })
    }

    /// Whether `self` and `other` are at most `tolerance_secs` apart. `None` when one is
    /// zoned and the other is not: they cannot be placed on one time line.
    pub fn within(&self, other: &Timestamp, tolerance_secs: u32) -> Option<bool> {
        if self.zoned != other.zoned {
            return None;
        }
        Some((self.at - other.at).abs() <= time::Duration::seconds(i64::from(tolerance_secs)))
    }
}

impl fmt::Display for Timestamp {
    /// Canonical form: UTC with `Z` when zoned, fraction without trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if t.nanosecond() > 0 {
            let frac = format!("{:09}", t.nanosecond());
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        if self.zoned {
            f.write_str("Z")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(dec("007"), dec("7"));
        assert_eq!(dec("1.50"), dec("1.5"));
        assert_eq!(dec("+2"), dec("2.000"));
        assert_eq!(dec("-0"), dec("0.00"));
        assert_eq!(dec("1.5E2"), dec("150"));
        assert_eq!(dec("0.015"), dec("1.5e-2"));
        assert_eq!(dec(" 42\n"), dec("42"));
        assert_eq!(dec(".5"), dec("0.5"));
        assert_eq!(dec("5."), dec("5"));
        assert_ne!(dec("1.5"), dec("15"));
        assert_ne!(dec("-1"), dec("1"));
        // Exact beyond f64 precision.
        assert_ne!(dec("12345678901234567890"), dec("12345678901234567891"));
        for bad in [
            "",
            "-",
            ".",
            "1.2.3",
            "1e",
            "INF",
            "NaN",
            "0x10",
            "1,5",
            "1 000",
            "1e99999999999",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimals_render_canonically() {
        for (i, o) in [
            ("007", "7"),
            ("1.50", "1.5"),
            ("250000.00", "250000"),
            ("-0.0150", "-0.015"),
            ("-0", "0"),
            ("1.5E2", "150"),
            ("1.5E60", "1.5E60"),
            ("2e-30", "2E-30"),
        ] {
            assert_eq!(dec(i).to_string(), o, "{i}");
        }
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let t = |s: &str| Timestamp::parse(s).unwrap_or_else(|| panic!("{s} parses"));
        let a = t("2026-03-01T12:00:00+02:00");
        assert_eq!(a.within(&t("2026-03-01T10:00:00Z"), 0), Some(true));
        assert_eq!(a.within(&t("2026-03-01T10:00:04.5Z"), 5), Some(true));
        assert_eq!(a.within(&t("2026-03-01T10:00:05.001Z"), 5), Some(false));
        assert_eq!(a.within(&t("2026-03-01T10:00:00"), 5), None);
        assert_eq!(
            t("2024-02-28T23:59:59").within(&t("2024-02-29T00:00:01"), 2),
            Some(true)
        );
        assert_eq!(
            t("2025-12-31T24:00:00Z").to_string(),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            t("2026-03-01T12:00:00.250+02:00").to_string(),
            "2026-03-01T10:00:00.25Z"
        );
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-03-01",
            "2026-03-01T25:00:00Z",
            "2026-03-01T10:00Z",
            "2026-03-01T10:00:00+2:00",
            "2026-03-01T10:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_parse_order_and_convert() {
        let d: Date = "2024-02-29".parse().unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        assert!("2025-02-29".parse::<Date>().is_err());
        assert!("2025-1-01".parse::<Date>().is_err());
        assert!("2025-01-01x".parse::<Date>().is_err());
        assert!(d < "2024-03-01".parse().unwrap());
        assert_eq!(Date::from_unix_seconds(0).to_string(), "1970-01-01");
        assert_eq!(
            Date::from_unix_seconds(1_772_323_200).to_string(),
            "2026-03-01"
        );
        assert_eq!(Date::from_unix_seconds(-1).to_string(), "1969-12-31");
    }
}

/// What `Timestamp::parse`, `Date::from_str` and `Date::from_unix_seconds` accept, refuse
/// and print, written against the hand-written calendar code before it was replaced by
/// the `time` crate: the swap must not change any row.
#[cfg(test)]
mod table {
    use super::*;

    #[test]
    fn timestamps_accepted_and_their_canonical_form() {
        for (input, canonical) in [
            ("2026-03-01T10:00:00", "2026-03-01T10:00:00"),
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
            ("2026-03-01t10:00:00z", "2026-03-01T10:00:00Z"),
            ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T00:30:00+01:00", "2026-02-28T23:30:00Z"),
            ("2026-03-01T23:30:00-01:00", "2026-03-02T00:30:00Z"),
            ("2026-03-01T10:00:00+14:00", "2026-02-28T20:00:00Z"),
            ("2026-03-01T10:00:00-14:59", "2026-03-02T00:59:00Z"),
            ("2026-03-01T10:00:00+00:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T10:00:00-00:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T10:00:00.5", "2026-03-01T10:00:00.5"),
            ("2026-03-01T10:00:00,5Z", "2026-03-01T10:00:00.5Z"),
            ("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00Z"),
            (
                "2026-03-01T10:00:00.123456789Z",
                "2026-03-01T10:00:00.123456789Z",
            ),
            (
                "2026-03-01T10:00:00.1234567891234Z",
                "2026-03-01T10:00:00.123456789Z",
            ),
            (
                "2026-03-01T10:00:00.000000001",
                "2026-03-01T10:00:00.000000001",
            ),
            ("2026-03-01T24:00:00", "2026-03-02T00:00:00"),
            ("2025-12-31T24:00:00Z", "2026-01-01T00:00:00Z"),
            ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"),
            ("2000-02-29T00:00:00", "2000-02-29T00:00:00"),
            (" \t2026-03-01T10:00:00Z\r\n", "2026-03-01T10:00:00Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("1969-12-31T23:59:59.75Z", "1969-12-31T23:59:59.75Z"),
            ("0000-01-01T00:00:00", "0000-01-01T00:00:00"),
            ("0001-01-01T00:00:00+01:00", "0000-12-31T23:00:00Z"),
            ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
            ("9999-12-31T23:00:00-05:00", "10000-01-01T04:00:00Z"),
        ] {
            let t = Timestamp::parse(input).unwrap_or_else(|| panic!("{input:?} parses"));
            assert_eq!(t.to_string(), canonical, "{input:?}");
        }
    }

    #[test]
    fn timestamps_compare_across_days_offsets_and_fractions() {
        let t = |s: &str| Timestamp::parse(s).unwrap_or_else(|| panic!("{s:?} parses"));
        for (a, b, tolerance, within) in [
            (
                "2026-03-01T24:00:00Z",
                "2026-03-02T00:00:00Z",
                0,
                Some(true),
            ),
            (
                "2026-03-01T00:30:00+01:00",
                "2026-02-28T23:30:00Z",
                0,
                Some(true),
            ),
            (
                "2026-03-01T23:30:00-01:00",
                "2026-03-02T00:30:00+00:00",
                0,
                Some(true),
            ),
            (
                "2024-02-28T23:59:59Z",
                "2024-03-01T00:00:00Z",
                86_401,
                Some(true),
            ),
            (
                "2024-02-28T23:59:59Z",
                "2024-03-01T00:00:00Z",
                86_400,
                Some(false),
            ),
            (
                "2026-03-01T10:00:00.999999999",
                "2026-03-01T10:00:01",
                0,
                Some(false),
            ),
            (
                "2026-03-01T10:00:00.9999999999",
                "2026-03-01T10:00:00.999999999",
                0,
                Some(true),
            ),
            (
                "1969-12-31T23:59:59.5Z",
                "1970-01-01T00:00:00.5Z",
                1,
                Some(true),
            ),
            (
                "0000-01-01T00:00:00",
                "9999-12-31T23:59:59",
                u32::MAX,
                Some(false),
            ),
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00", 0, None),
        ] {
            assert_eq!(t(a).within(&t(b), tolerance), within, "{a} {b} {tolerance}");
            assert_eq!(t(b).within(&t(a), tolerance), within, "{b} {a} {tolerance}");
        }
    }

    #[test]
    fn timestamps_refused() {
        for input in [
            "",
            "2026-03-01",
            "2026-03-01T",
            "2026-03-01 10:00:00",
            "2026-03-01T10:00",
            "2026-03-01T10:00Z",
            "2026-03-01T1:00:00",
            "2026-03-01T10:00:0",
            "2026-3-01T10:00:00",
            "26-03-01T10:00:00",
            "+2026-03-01T10:00:00",
            "-2026-03-01T10:00:00",
            "12026-03-01T10:00:00",
            "2026-02-29T00:00:00",
            "1900-02-29T00:00:00",
            "2026-04-31T00:00:00",
            "2026-00-01T00:00:00",
            "2026-13-01T00:00:00",
            "2026-01-00T00:00:00",
            "2026-03-01T25:00:00",
            "2026-03-01T24:00:01",
            "2026-03-01T24:01:00",
            "2026-03-01T24:00:00.1",
            "2026-03-01T10:60:00",
            "2026-03-01T10:00:60",
            "2026-03-01T10:00:00.",
            "2026-03-01T10:00:00.Z",
            "2026-03-01T10:00:00.5.5",
            "2026-03-01T10:00:00+2:00",
            "2026-03-01T10:00:00+02",
            "2026-03-01T10:00:00+0200",
            "2026-03-01T10:00:00+15:00",
            "2026-03-01T10:00:00+02:60",
            "2026-03-01T10:00:00+02:00:00",
            "2026-03-01T10:00:00ZZ",
            "2026-03-01T10:00:00 Z",
            "2026-03-01T10:00:00UTC",
            "2026-03-01T10:00:00[Europe/Tallinn]",
            "2026-03-01T10:00:00Z\u{a0}",
            "2026-03-01T10:00:00+02:00x",
            "٢٠٢٦-03-01T10:00:00",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse(input), None, "{input:?}");
        }
    }

    #[test]
    fn dates_accepted_refused_and_from_unix_seconds() {
        for ok in [
            "2024-02-29",
            "2000-02-29",
            "0000-01-01",
            "9999-12-31",
            "1970-01-01",
        ] {
            assert_eq!(ok.parse::<Date>().map(|d| d.to_string()).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            "2025-02-29",
            "1900-02-29",
            "2025-04-31",
            "2025-00-10",
            "2025-13-10",
            "2025-01-00",
            "2025-1-01",
            "2025-01-1",
            "25-01-01",
            "12025-01-01",
            " 2025-01-01",
            "2025-01-01 ",
            "2025-01-01T00:00:00",
            "2025/01/01",
        ] {
            assert_eq!(
                bad.parse::<Date>(),
                Err(BadDate(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            Date::new(2024, 2, 29).map(|d| d.to_string()).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(Date::new(2023, 2, 29), None);
        assert_eq!(Date::new(2023, 0, 1), None);
        assert_eq!(Date::new(2023, 1, 32), None);
        let d = Date::new(2024, 2, 29).unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (2024, 2, 29));
        for (secs, date) in [
            (0, "1970-01-01"),
            (86_399, "1970-01-01"),
            (86_400, "1970-01-02"),
            (-1, "1969-12-31"),
            (-86_400, "1969-12-31"),
            (-86_401, "1969-12-30"),
            (951_782_400, "2000-02-29"),
            (1_772_323_199, "2026-02-28"),
            (1_772_323_200, "2026-03-01"),
            (253_402_300_799, "9999-12-31"),
            (-62_167_219_200, "0000-01-01"),
        ] {
            assert_eq!(Date::from_unix_seconds(secs).to_string(), date, "{secs}");
        }
        assert!(Date::new(2024, 2, 28) < Date::new(2024, 2, 29));
        assert!(Date::new(2023, 12, 31) < Date::new(2024, 1, 1));
    }
}
