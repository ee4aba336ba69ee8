//! `GET /admin/report` (HTML) and `GET /admin/report.json`: the migration report from
//! the gateway's own open store (sled lets one process open it, so while the gateway
//! runs this is where reports come from). Query: `agency`, `since`, `until` (as for
//! `dualroad report`). The store is read on Tokio's blocking pool: a report streams
//! every exchange of the period and must not stall the admin listener's thread.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use percent_encoding::percent_decode_str;

use crate::proxy::server::text;
use crate::proxy::Shared;
use crate::report::render::Format;
use crate::report::{self, parse_utc, BadDate, ReportOptions};

/// What a query asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    pub agency: Option<String>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

/// `%XX` and `+` decoding of one query component; `None` on a bad escape (a `%`
/// without two hex digits, which `percent_decode_str` would keep as written) or a
/// non-UTF-8 result.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let whole_escapes = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !whole_escapes {
        return None;
    }
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A report query the admin listener refuses (400); each names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A value with a broken `%` escape or not UTF-8 once decoded.
    #[error("{param}: not a valid query value")]
    BadValue { param: String },
    /// `since` or `until` that is not a date.
    #[error("{param}: {source}")]
    BadDate {
        param: &'static str,
        #[source]
        source: BadDate,
    },
    #[error("unknown parameter `{0}` (known: agency, since, until)")]
    Unknown(String),
}

/// Parses `agency=…&since=…&until=…`; the error names the parameter.
pub fn parse_query(query: Option<&str>) -> Result<ReportQuery, QueryError> {
    let mut q = ReportQuery::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v).ok_or_else(|| QueryError::BadValue {
            param: k.to_string(),
        })?;
        let date = |param: &'static str| move |source| QueryError::BadDate { param, source };
        match k {
            "agency" if !v.is_empty() => q.agency = Some(v),
            "agency" => {}
            "since" => q.since_ms = Some(parse_utc(&v).map_err(date("since"))?),
            "until" => q.until_ms = Some(parse_utc(&v).map_err(date("until"))?),
            other => return Err(QueryError::Unknown(other.to_string())),
        }
    }
    Ok(q)
}

pub async fn respond(
    shared: Arc<Shared>,
    query: Option<&str>,
    format: Format,
) -> Response<Full<Bytes>> {
    let q = match parse_query(query) {
        Ok(q) => q,
        Err(e) => return text(400, "text/plain", format!("{e}\n")),
    };
    let built = tokio::task::spawn_blocking(move || {
        let active = shared.active();
        let opts = ReportOptions {
            agency: q.agency,
            since_ms: q.since_ms,
            until_ms: q.until_ms,
            thresholds: active.settings.report,
            ignore_rules: &active.settings.compare.ignore,
            mappings: Some(&active.maps),
            now_ms: shared.now_ms(),
        };
        report::build(&*shared.store, &opts).map(|r| format.render(&r))
    })
    .await;
    match built {
        Ok(Ok(body)) => text(200, format.content_type(), body),
        Ok(Err(e @ report::ReportError::EmptyPeriod { .. })) => {
            text(400, "text/plain", format!("{e}\n"))
        }
        Ok(Err(e)) => text(500, "text/plain", format!("cannot build the report: {e}\n")),
        Err(e) => text(500, "text/plain", format!("report task failed: {e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_bad_ones_are_named() {
        let q = parse_query(Some(
            "agency=PS-UXP%2FGOV%2F10000042&since=2026-03-01&until=2026-03-02T12:00Z",
        ))
        .expect("valid");
        assert_eq!(q.agency.as_deref(), Some("PS-UXP/GOV/10000042"));
        assert_eq!(q.since_ms, Some(1_772_323_200_000));
        assert_eq!(
            q.until_ms,
            Some(1_772_323_200_000 + 86_400_000 + 43_200_000)
        );
        assert_eq!(parse_query(None), Ok(ReportQuery::default()));
        let e = parse_query(Some("since=yesterday")).expect_err("bad date");
        assert!(
            e.to_string()
                .starts_with("since: `yesterday` is not a date"),
            "{e}"
        );
        assert!(parse_query(Some("agnecy=x"))
            .expect_err("typo")
            .to_string()
            .contains("unknown parameter `agnecy`"));
        assert!(parse_query(Some("agency=%zz")).is_err());
    }

    #[test]
    fn query_values_decode_plus_and_whole_escapes_only() {
        let agency = |q: &str| parse_query(Some(q)).map(|q| q.agency);
        assert_eq!(agency("agency=a+b%20c"), Ok(Some("a b c".into())));
        assert_eq!(agency("agency=%2B%2b"), Ok(Some("++".into())));
        assert_eq!(agency("agency=%25zz"), Ok(Some("%zz".into())));
        assert_eq!(agency("agency=%C3%BC"), Ok(Some("\u{fc}".into())));
        assert_eq!(agency("agency=%252F"), Ok(Some("%2F".into())));
        for bad in [
            "agency=%",
            "agency=100%",
            "agency=%4",
            "agency=%41%4",
            "agency=%%41",
            "agency=%FF",
            "agency=%C3",
            // A sign is not a hex digit (`u8::from_str_radix` would take `+f`).
            "agency=%+f",
        ] {
            assert_eq!(
                parse_query(Some(bad)).map_err(|e| e.to_string()),
                Err("agency: not a valid query value".into()),
                "{bad}"
            );
        }
    }
}
