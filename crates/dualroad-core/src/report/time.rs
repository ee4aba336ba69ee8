//! Dates for reports: `--since`/`--until` parsing and UTC formatting of stored times.
//! The calendar is the `time` crate's; this module only reads and writes the forms
//! the CLI documents.

use std::fmt;

/// A `--since`/`--until` value that is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date: write YYYY-MM-DD (midnight UTC) or YYYY-MM-DDThh:mm[:ss][Z] (UTC), e.g. 2026-03-01 or 2026-03-01T14:30Z")]
pub struct BadDate(pub String);

fn number(s: &str, lo: u32, hi: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (lo..=hi).contains(n))
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDThh:mm[:ss][Z]` as UTC into Unix milliseconds.
pub fn parse_utc(text: &str) -> Result<u64, BadDate> {
    let bad = || BadDate(text.to_string());
    let s = text.trim();
    let (day, clock) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t.strip_suffix(['Z', 'z']).unwrap_or(t))),
        None => (s, None),
    };
    let mut parts = day.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y = number(y, 1970, 9999).ok_or_else(bad)?;
    let m = number(m, 1, 12).ok_or_else(bad)?;
    let d = number(d, 1, 31).ok_or_else(bad)?;
    // `number` bounded every part, so the narrowing casts below are exact.
    let date = time::Month::try_from(m as u8)
        .and_then(|m| time::Date::from_calendar_date(y as i32, m, d as u8))
        .map_err(|_| bad())?;
    let time_of_day = match clock {
        None => time::Time::MIDNIGHT,
        Some(t) => {
            let f: Vec<&str> = t.split(':').collect();
            if !(2..=3).contains(&f.len()) || f.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            let h = number(f[0], 0, 23).ok_or_else(bad)?;
            let mi = number(f[1], 0, 59).ok_or_else(bad)?;
            let sec = match f.get(2) {
                Some(p) => number(p, 0, 59).ok_or_else(bad)?,
                None => 0,
            };
            time::Time::from_hms(h as u8, mi as u8, sec as u8).map_err(|_| bad())?
        }
    };
    let secs = date.with_time(time_of_day).assume_utc().unix_timestamp();
    u64::try_from(secs).map(|s| s * 1000).map_err(|_| bad())
}

/// A Unix time in milliseconds, shown as UTC `YYYY-MM-DDThh:mm:ssZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc(pub u64);

impl Utc {
    /// The time as a UTC date and time; beyond the `time` crate's last year (999999),
    /// its last instant.
    pub fn datetime(self) -> time::OffsetDateTime {
        i64::try_from(self.0 / 1000)
            .ok()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
    }
}

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// `Utc` as a string.
pub fn utc(ms: u64) -> String {
    Utc(ms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_utc() {
        assert_eq!(parse_utc("1970-01-01"), Ok(0));
        assert_eq!(parse_utc("2026-03-01"), Ok(1_772_323_200_000));
        assert_eq!(
            parse_utc("2026-03-01T14:30Z"),
            Ok(1_772_323_200_000 + 52_200_000)
        );
        assert_eq!(
            parse_utc("2026-03-01T14:30:15"),
            Ok(1_772_323_200_000 + 52_215_000)
        );
        assert_eq!(
            parse_utc("2024-02-29").map(utc).as_deref(),
            Ok("2024-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "yesterday",
            "2026-02-30",
            "2026-3-01",
            "2026-03-01T25:00",
            "2026-13-01",
            "01.03.2026",
            "2026-03-01T14",
        ] {
            let e = parse_utc(bad).expect_err(bad);
            assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        }
    }

    #[test]
    fn times_format_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_772_375_415_999), "2026-03-01T14:30:15Z");
    }
}

/// What `parse_utc` accepts and refuses and how `utc` prints, written against the
/// hand-written calendar code before it was replaced by the `time` crate.
#[cfg(test)]
mod table {
    use super::*;

    const DAY: u64 = 86_400_000;
    const MAR_1_2026: u64 = 1_772_323_200_000;

    #[test]
    fn report_dates_accepted() {
        for (input, ms) in [
            ("1970-01-01", 0),
            ("1970-01-02", DAY),
            ("2026-03-01", MAR_1_2026),
            (" 2026-03-01\n", MAR_1_2026),
            ("2026-03-01T00:00", MAR_1_2026),
            ("2026-03-01t14:30", MAR_1_2026 + 52_200_000),
            ("2026-03-01 14:30", MAR_1_2026 + 52_200_000),
            ("2026-03-01T14:30Z", MAR_1_2026 + 52_200_000),
            ("2026-03-01T14:30z", MAR_1_2026 + 52_200_000),
            ("2026-03-01T14:30:15", MAR_1_2026 + 52_215_000),
            ("2026-03-01T14:30:15Z", MAR_1_2026 + 52_215_000),
            ("2026-03-01T23:59:59", MAR_1_2026 + DAY - 1000),
            ("2024-02-29", 1_709_164_800_000),
            ("2000-02-29", 951_782_400_000),
            ("9999-12-31T23:59:59", 253_402_300_799_000),
        ] {
            assert_eq!(parse_utc(input), Ok(ms), "{input:?}");
        }
    }

    #[test]
    fn report_dates_refused() {
        for input in [
            "",
            "1969-12-31",
            "0000-01-01",
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-00-01",
            "2026-13-01",
            "2026-01-00",
            "2026-01-32",
            "2026-3-01",
            "2026-03-1",
            "26-03-01",
            "+2026-03-01",
            "12026-03-01",
            "2026-03-01-01",
            "2026/03/01",
            "2026-03-01T",
            "2026-03-01T14",
            "2026-03-01T14:3",
            "2026-03-01T4:30",
            "2026-03-01T24:00",
            "2026-03-01T14:60",
            "2026-03-01T14:30:60",
            "2026-03-01T14:30:15:00",
            "2026-03-01T14:30:15.5",
            "2026-03-01T14:30:15+02:00",
            "2026-03-01T14:30ZZ",
            "2026-03-01T+1:30",
            "yesterday",
        ] {
            let e = parse_utc(input).expect_err(input);
            assert_eq!(e, BadDate(input.to_string()));
        }
    }

    #[test]
    fn report_times_print_as_utc() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (999, "1970-01-01T00:00:00Z"),
            (DAY - 1, "1970-01-01T23:59:59Z"),
            (951_782_400_000, "2000-02-29T00:00:00Z"),
            (MAR_1_2026 - 1, "2026-02-28T23:59:59Z"),
            (MAR_1_2026 + 52_215_999, "2026-03-01T14:30:15Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(utc(ms), text, "{ms}");
            assert_eq!(Utc(ms).to_string(), text, "{ms}");
        }
    }
}
