//! The one place where a gateway error becomes a wire answer: a SOAP Fault in the
//! caller's SOAP version, with the caller's header echoed in its own dialect when it
//! could be read (`Options::rescue_for`), an X-Road style code, and an error id that
//! also appears in the log line, so an operator can find the cause from a client report.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use crate::proxy::error::{GatewayError, Role};
use crate::telemetry::events::FaultRaised;
use crate::telemetry::metrics::Metrics;
use crate::wire::fault::Rescue;
use crate::wire::SoapVersion;

pub type Body = Full<Bytes>;

/// The wire answer to one gateway error: status, content type and SOAP Fault. Every
/// refusal goes through it, whether hyper writes it ([`FaultAnswer::into_response`])
/// or it is written raw on a connection refused before hyper saw it
/// ([`FaultAnswer::into_closing_http1`]).
#[derive(Debug, Clone)]
pub struct FaultAnswer {
    pub status: http::StatusCode,
    pub content_type: &'static str,
    /// `Allow: POST` (a wrong method).
    pub allow_post: bool,
    pub body: Vec<u8>,
}

impl FaultAnswer {
    /// The answer to `err` on a listener of `role`; `error_id` also goes in the log.
    pub fn new(err: &GatewayError, rescue: &Rescue, role: Role, error_id: &str) -> FaultAnswer {
        let code = err.fault_code(role);
        FaultAnswer {
            status: http::StatusCode::from_u16(err.http_status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
            content_type: match rescue.soap {
                SoapVersion::Soap11 => "text/xml; charset=utf-8",
                SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
            },
            allow_post: matches!(err, GatewayError::Method(_)),
            body: rescue.fault_message(&code, &err.to_string(), error_id),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(Full::new(Bytes::from(self.body)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(self.content_type),
        );
        if self.allow_post {
            resp.headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        resp
    }

    /// The complete HTTP/1.1 response, with `retry-after: 1` and `connection: close`,
    /// for a connection answered and closed without hyper (a connection limit).
    pub fn into_closing_http1(self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Builds the fault response for `err`, counted and logged with a fresh error id.
pub fn fault_response(
    err: &GatewayError,
    rescue: &Rescue,
    role: Role,
    metrics: &Metrics,
) -> Response<Body> {
    let error_id = uuid::Uuid::new_v4().to_string();
    let answer = FaultAnswer::new(err, rescue, role, &error_id);
    FaultRaised {
        code: err.fault_code(role).as_str(),
        side: err.side().as_str(),
        message: &err.to_string(),
        error_id: &error_id,
    }
    .emit(metrics);
    answer.into_response()
}

/// The answer written on a connection a limit refused, before any request was read:
/// a 503 with a SOAP 1.1 fault (the client's SOAP version is not known yet) and no
/// error id (nothing is logged per refusal; the refusals are counted instead).
pub fn connection_refusal(reason: &'static str) -> Vec<u8> {
    let err = GatewayError::OutOfCapacity(reason);
    FaultAnswer::new(&err, &Rescue::bare(), Role::Consumer, "-").into_closing_http1()
}

/// A successful SOAP answer.
pub fn soap_response(status: u16, content_type: &str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_refusal_is_a_closing_503_with_an_out_of_capacity_fault() {
        let raw = String::from_utf8(connection_refusal("at max_connections")).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml; charset=utf-8\r\n\
                 content-length: {}\r\nretry-after: 1\r\nconnection: close",
                body.len()
            )
        );
        assert!(body.contains("Server.ClientProxy.OutOfCapacity"), "{body}");
        assert!(body.contains("at max_connections"), "{body}");
    }

    #[test]
    fn a_wrong_method_answer_says_what_is_allowed() {
        let err = GatewayError::Method("GET".into());
        let resp = FaultAnswer::new(&err, &Rescue::bare(), Role::Consumer, "id").into_response();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()[http::header::ALLOW], "POST");
        assert_eq!(
            resp.headers()[http::header::CONTENT_TYPE],
            "text/xml; charset=utf-8"
        );
    }
}
