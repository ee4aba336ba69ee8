//! Does an upstream answer belong to the request dualroad sent? Pure.
//!
//! Where it sits: every answer that comes back from a stack passes here before its Body
//! is delivered or compared — the UXP answer in
//! [`Translator::response_to_legacy`](super::Translator::response_to_legacy), the legacy
//! answer to a 4.x client in
//! [`Translator::response_to_uxp`](super::Translator::response_to_uxp), the legacy
//! answer passed through raw (`proxy::pipeline`) and both kinds of shadow answer
//! (`shadow::exchange::to_client_dialect`).
//!
//! Why: X-Road's security servers refuse an answer whose header names another message
//! id, client or service than the request's, so a confused or hostile service cannot
//! hand one agency's data to another. dualroad sits where the security server's check
//! used to be and does the same: the answer's header fields, where it echoes them, must
//! equal what dualroad *sent upstream* (after translation, with a shadow copy's own
//! message id), never only what the client wrote. Fields the answer leaves out are not
//! held against it (a fault may come without a header).

use crate::error::Side;
use crate::wire::codec::{self, Family, Kind};
use crate::wire::header::{Header, Party, ServiceRef};
use crate::wire::message::Message;

use super::TranslateError;

/// What the request dualroad sent upstream carried: the answer must echo these.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent<'a> {
    pub id: Option<&'a str>,
    pub client: Option<&'a Party>,
    pub service: Option<&'a ServiceRef>,
}

impl<'a> Sent<'a> {
    /// The fields of a request header as it went upstream.
    pub fn from_header(h: &'a Header) -> Sent<'a> {
        Sent {
            id: h.id.as_deref(),
            client: h.client.as_ref(),
            service: h.service.as_ref(),
        }
    }

    /// The same, with the message id a copy was sent under (a shadow or calibration
    /// copy carries its own id, and its answer must echo that one).
    pub fn with_id(mut self, id: Option<&'a str>) -> Sent<'a> {
        if id.is_some() {
            self.id = id;
        }
        self
    }
}

fn party(p: &Party) -> String {
    match p {
        Party::Legacy(n) => n.clone(),
        Party::Id(id) => id.to_string(),
    }
}

fn service(s: &ServiceRef) -> String {
    match s {
        ServiceRef::Legacy(n) => n.clone(),
        ServiceRef::Id(id) => id.to_string(),
    }
}

/// Checks the answer's decoded header against what was sent; `stack` is the side to
/// blame. The error names the first field that differs, with both values.
pub fn check(answer: &Header, sent: &Sent<'_>, stack: Side) -> Result<(), TranslateError> {
    let mismatch = |why: String| TranslateError::AnswerMismatch { side: stack, why };
    if let (Some(a), Some(b)) = (answer.id.as_deref(), sent.id) {
        if a != b {
            return Err(mismatch(format!(
                "it names message id `{a}`, the request's is `{b}`"
            )));
        }
    }
    if let (Some(a), Some(b)) = (&answer.client, sent.client) {
        if a != b {
            return Err(mismatch(format!(
                "it names client `{}`, the request was from `{}`",
                party(a),
                party(b)
            )));
        }
    }
    if let (Some(a), Some(b)) = (&answer.service, sent.service) {
        if a != b {
            return Err(mismatch(format!(
                "it names service `{}`, the request was for `{}`",
                service(a),
                service(b)
            )));
        }
    }
    Ok(())
}

/// [`check`] for a legacy stack's answer that is not decoded otherwise (passed through
/// raw, or a legacy shadow copy's). An answer without a header, or one whose header is
/// not a legacy X-Road header, is left to the caller's other checks (the comparator,
/// the pass-through's SOAP check): there is nothing here to hold against it.
pub fn check_legacy(m: &Message<'_>, sent: &Sent<'_>) -> Result<(), TranslateError> {
    if m.env.header.is_none() {
        return Ok(());
    }
    let Ok(dialect) = codec::detect(&m.env, Family::Legacy) else {
        return Ok(());
    };
    let Ok((h, _)) = codec::decode(&m.env, dialect, Kind::Response) else {
        return Ok(());
    };
    check(&h, sent, Side::Legacy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ids::{ClientId, ServiceId};

    fn header(id: &str, client: &str, service: &str) -> Header {
        Header {
            id: Some(id.into()),
            client: Some(Party::Id(ClientId::parse(client).unwrap())),
            service: Some(ServiceRef::Id(ServiceId::parse(service).unwrap())),
            ..Header::default()
        }
    }

    const C: &str = "PS-UXP/GOV/10000001/health";
    const S: &str = "PS-UXP/GOV/10000004/tax/getTaxDebt/v1";

    #[test]
    fn an_answer_echoing_the_request_belongs_to_it() {
        let sent = header("m-1", C, S);
        let answer = header("m-1", C, S);
        assert_eq!(check(&answer, &Sent::from_header(&sent), Side::Uxp), Ok(()));
    }

    #[test]
    fn each_differing_field_is_named_with_both_values() {
        let sent = header("m-1", C, S);
        let cases = [
            (
                header("m-2", C, S),
                "message id `m-2`, the request's is `m-1`",
            ),
            (
                header("m-1", "PS-UXP/GOV/10000009/police", S),
                "client `PS-UXP/GOV/10000009/police`",
            ),
            (
                header("m-1", C, "PS-UXP/GOV/10000004/tax/getOther/v1"),
                "service `PS-UXP/GOV/10000004/tax/getOther/v1`",
            ),
        ];
        for (answer, want) in cases {
            let e = check(&answer, &Sent::from_header(&sent), Side::Uxp).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(
                e.fault_code().as_str(),
                "Server.ServerProxy.ServiceFailed.InvalidResponse"
            );
        }
    }

    #[test]
    fn a_copy_is_checked_against_its_own_id() {
        let sent = header("client-id", C, S);
        let answer = header("copy-id", C, S);
        let s = Sent::from_header(&sent);
        assert!(check(&answer, &s, Side::Legacy).is_err());
        assert_eq!(
            check(&answer, &s.with_id(Some("copy-id")), Side::Legacy),
            Ok(())
        );
    }

    #[test]
    fn fields_the_answer_leaves_out_are_not_held_against_it() {
        let sent = header("m-1", C, S);
        let answer = Header::default();
        assert_eq!(check(&answer, &Sent::from_header(&sent), Side::Uxp), Ok(()));
    }
}
