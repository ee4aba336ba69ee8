//! The one place where a gateway error becomes a wire answer: a SOAP Fault in the
//! caller's SOAP version, with the caller's header echoed in its own dialect when it
//! could be read (`translate::rescue_for`), an X-Road style code, and an error id that
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

/// Builds the fault response for `err`.
pub fn fault_response(
    err: &GatewayError,
    rescue: &Rescue,
    role: Role,
    metrics: &Metrics,
) -> Response<Body> {
    let code = err.fault_code(role);
    let error_id = uuid::Uuid::new_v4().to_string();
    let message = err.to_string();
    FaultRaised {
        code: code.as_str(),
        side: err.side().as_str(),
        message: &message,
        error_id: &error_id,
    }
    .emit(metrics);
    let body = rescue.fault_message(&code, &message, &error_id);
    let ct = match rescue.soap {
        SoapVersion::Soap11 => "text/xml; charset=utf-8",
        SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = http::StatusCode::from_u16(err.http_status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(ct) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    if matches!(err, GatewayError::Method(_)) {
        resp.headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    }
    resp
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
