//! Translation between dialects: pure functions from bytes to bytes, no I/O.
//!
//! One value does it: a [`Translator`] — the [`Mappings`] and the [`Options`] a
//! translation is made with — has one method per direction. Each direction is decode
//! (source dialect) → map identifiers → encode (target dialect) → assemble with the
//! untouched Body:
//! 1. [`Translator::request_to_uxp`]: a legacy client's request → UXP request.
//! 2. [`Translator::response_to_legacy`]: the UXP answer → the legacy client's response,
//!    its header rebuilt from the client's own request (legacy-only fields restored
//!    exactly).
//! 3. [`Translator::request_to_legacy`]: a UXP client's request → the legacy stack's
//!    dialect.
//! 4. [`Translator::response_to_uxp`]: the legacy answer → UXP response, its header
//!    echoed from the UXP request.
//!
//! The client's request each direction starts from or echoes is a [`ClientRequest`]:
//! the bytes (decoded there) or a [`Decoded`] message (the gateway decodes once to
//! route). A shadow copy goes under its own message id
//! ([`Translator::with_message_id`]): requests then carry that id, answers must echo it,
//! and [`Translator::reissue`] re-encodes a request in its own dialect under it.
//! [`Translator::same_request`] and [`Translator::fingerprint`] prove a copy asks what
//! the original asked; [`Translator::route_names`] gives every name a request's client
//! and service are known by. What only reads a message and maps nothing —
//! [`Options::decode`], [`Options::identity`], [`Options::rescue_for`] — is the
//! options' own (the simulators use it without mappings).
//!
//! Nothing here knows element names or a dialect's rules (what it requires, carries,
//! and in which order): that is the codecs' business (`wire::codec`, one per dialect,
//! asked through `codec::of(dialect)`).

pub mod belongs;
mod error;
mod shadow_copy;

use belongs::Sent;

pub use error::TranslateError;

use crate::error::Side;
use crate::mapping::{LegacyMember, Mappings, ServiceMapError};
use crate::wire::assemble::{assemble, BodyEdit};
use crate::wire::codec::{self, Family, HeaderLayout, Kind, Source, Target};
use crate::wire::envelope::{Envelope, ScanLimits};
use crate::wire::fault::{Fault, Rescue};
use crate::wire::header::{Header, Party, RequestHash, ServiceRef};
use crate::wire::ids::{ClientId, ServiceId};
use crate::wire::message::{Input, Message, DEFAULT_MAX_MESSAGE_BYTES};
use crate::wire::{Dialect, SoapVersion};

/// Knobs of a translation (from the gateway's settings or CLI flags).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// SOAP version to send toward the UXP stack (UXP accepts both).
    pub uxp_soap: SoapVersion,
    pub max_message_bytes: usize,
    /// Dialect of the legacy side when it differs from the mappings' `[legacy] dialect`
    /// (a provider listener's adapter names its own).
    pub legacy_dialect: Option<Dialect>,
    /// Per-element attribute and namespace-declaration caps of the envelope scanner.
    pub scan: ScanLimits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            uxp_soap: SoapVersion::Soap11,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            legacy_dialect: None,
            scan: ScanLimits::default(),
        }
    }
}

/// Translates between the dialects with one set of mappings and options: one method
/// per direction. Cheap to copy (it borrows the mappings).
#[derive(Debug, Clone, Copy)]
pub struct Translator<'a> {
    maps: &'a Mappings,
    opts: Options,
    /// The message id a copy goes under instead of the request's own.
    message_id: Option<&'a str>,
}

/// The client's request a direction translates or echoes: as it came (decoded here,
/// from the client's side) or already decoded by the caller.
#[derive(Clone, Copy)]
pub enum ClientRequest<'m> {
    Raw(Input<'m>),
    Decoded(&'m Decoded<'m>),
}

impl<'m> From<Input<'m>> for ClientRequest<'m> {
    fn from(input: Input<'m>) -> Self {
        ClientRequest::Raw(input)
    }
}

impl<'m, 'd: 'm> From<&'m Decoded<'d>> for ClientRequest<'m> {
    fn from(d: &'m Decoded<'d>) -> Self {
        ClientRequest::Decoded(d)
    }
}

impl<'a> Translator<'a> {
    pub fn new(maps: &'a Mappings, opts: Options) -> Translator<'a> {
        Translator {
            maps,
            opts,
            message_id: None,
        }
    }

    /// The same translator for a copy sent under message id `id` (a shadow or
    /// calibration copy's own): requests carry `id` instead of their own, and an
    /// answer must echo `id` ([`belongs`]).
    pub fn with_message_id(self, id: &'a str) -> Translator<'a> {
        Translator {
            message_id: Some(id),
            ..self
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The message id a translated request carries: the copy's, else the request's.
    fn out_id(&self, h: &Header) -> Option<String> {
        self.message_id.map(str::to_string).or_else(|| h.id.clone())
    }

    /// Runs `f` on the client's request, decoding it first when it came as bytes
    /// (`family`: the client's).
    fn with_request<T>(
        &self,
        request: ClientRequest,
        family: Family,
        f: impl FnOnce(&Decoded) -> Result<T, TranslateError>,
    ) -> Result<T, TranslateError> {
        match request {
            ClientRequest::Raw(input) => {
                let d = self
                    .opts
                    .decode(input, family, Kind::Request, Side::Client)?;
                f(&d)
            }
            ClientRequest::Decoded(d) => f(d),
        }
    }

    /// Every name the client and service of a request from `family` (its header `h`)
    /// are known by, in both vocabularies.
    pub fn route_names(&self, h: &Header, family: Family) -> RouteNames {
        match family {
            Family::Legacy => route_names_legacy(self.maps, h),
            Family::Uxp => route_names_uxp(self.maps, h),
        }
    }
}

/// Every name a request's client and service are known by, in both vocabularies, for
/// routing rules written in either. Mapping failures just leave a name out: an
/// unmapped agency can still be served by the legacy stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteNames {
    pub agency: Vec<String>,
    pub service: Vec<String>,
}

/// Names of a legacy client's request.
fn route_names_legacy(maps: &Mappings, h: &Header) -> RouteNames {
    let mut n = RouteNames::default();
    if let Some(c) = party_str(&h.client) {
        n.agency.push(c);
    }
    if let Some(Ok(id)) = h.client.as_ref().map(|p| map_client_to_uxp(maps, p)) {
        // A 4.x client naming itself by its UXP id is also known by its legacy name,
        // so a binding or rule written in either vocabulary covers it.
        if let Some(legacy) = maps.legacy_for_uxp(&id) {
            n.agency.push(legacy.to_string());
        }
        n.agency.push(id.to_string());
    }
    // First occurrence wins: the first name is the one logs and records show.
    let mut seen = std::collections::HashSet::new();
    n.agency.retain(|a| seen.insert(a.clone()));
    if let Some(s) = service_str(&h.service) {
        n.service.push(s);
    }
    if let Ok((sid, _, _)) = map_service_to_uxp(maps, h) {
        n.service.push(sid.to_string());
    }
    n
}

/// Names of a UXP client's request (provider side).
fn route_names_uxp(maps: &Mappings, h: &Header) -> RouteNames {
    let mut n = RouteNames::default();
    if let Some(Party::Id(cid)) = &h.client {
        n.agency.push(cid.to_string());
        if let Some(m) = maps.legacy_for_uxp(cid) {
            n.agency.push(m.to_string());
        }
    }
    if let Some(ServiceRef::Id(sid)) = &h.service {
        n.service.push(sid.to_string());
        if let Some(sm) = maps.service_for_uxp(sid) {
            n.service.push(sm.legacy.to_string());
        }
    }
    n
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Request,
    Response,
    Fault,
}

/// A translated message plus what the caller should log or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub soap_action: Option<String>,
    pub from: Dialect,
    pub to: Dialect,
    pub kind: MessageKind,
    pub soap: SoapVersion,
    /// Legacy-only header fields seen (no UXP equivalent; restored on the way back).
    pub lossy: Vec<&'static str>,
    /// Fields dropped from the output with their values (e.g. the UXP `requestHash`
    /// that a legacy message cannot carry), kept for the caller to log.
    pub dropped: Vec<(String, String)>,
    /// `(from, to)` wrapper local names when a service mapping renamed the wrapper.
    pub wrapper_renamed: Option<(String, String)>,
    pub request_hash: Option<RequestHash>,
    /// The client as the message named it, and as the other side names it.
    pub client: Option<String>,
    pub mapped_client: Option<String>,
    pub service: Option<String>,
    pub mapped_service: Option<String>,
    /// The message id (`id`), for correlation.
    pub message_id: Option<String>,
    /// For faults: the fault code carried.
    pub fault_code: Option<String>,
}

impl Translation {
    /// One line for logs and the CLI's stderr.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} → {} (SOAP {})",
            kind_str(self.kind),
            self.from,
            self.to,
            soap_str(self.soap)
        );
        if let (Some(c), Some(m)) = (&self.client, &self.mapped_client) {
            s.push_str(&format!("; client {c} → {m}"));
        }
        if let (Some(c), Some(m)) = (&self.service, &self.mapped_service) {
            s.push_str(&format!("; service {c} → {m}"));
        }
        if let Some((a, b)) = &self.wrapper_renamed {
            s.push_str(&format!("; wrapper {a} → {b}"));
        }
        if let Some(code) = &self.fault_code {
            s.push_str(&format!("; fault {code}"));
        }
        s.push_str("; lossy fields: ");
        if self.lossy.is_empty() {
            s.push_str("none");
        } else {
            s.push_str(&self.lossy.join(", "));
        }
        if !self.dropped.is_empty() {
            let names: Vec<&str> = self.dropped.iter().map(|(n, _)| n.as_str()).collect();
            s.push_str(&format!("; dropped: {}", names.join(", ")));
        }
        s
    }
}

fn kind_str(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Request => "request",
        MessageKind::Response => "response",
        MessageKind::Fault => "fault",
    }
}

fn soap_str(s: SoapVersion) -> &'static str {
    match s {
        SoapVersion::Soap11 => "1.1",
        SoapVersion::Soap12 => "1.2",
    }
}

/// A parsed and decoded message.
pub struct Decoded<'a> {
    pub msg: Message<'a>,
    pub dialect: Dialect,
    pub header: Header,
    pub layout: HeaderLayout,
}

impl Decoded<'_> {
    pub fn source(&self, same_document: bool) -> Source<'_> {
        Source {
            layout: &self.layout,
            src: self.msg.env.src,
            same_document,
        }
    }

    fn kind(&self) -> MessageKind {
        if self.msg.env.is_fault() {
            MessageKind::Fault
        } else if self.msg.env.body.wrapper.local.ends_with("Response") {
            MessageKind::Response
        } else {
            MessageKind::Request
        }
    }

    fn fault_code(&self) -> Option<String> {
        self.msg
            .env
            .body
            .fault
            .as_ref()
            .map(|f| Fault::from_elem(&self.msg.env, f).code)
    }
}

impl Options {
    /// Parses and decodes a message of `family` and `kind` coming from `side`; its
    /// dialect is detected (a fault without a header takes the family's).
    pub fn decode<'a>(
        &self,
        input: Input<'a>,
        family: Family,
        kind: Kind,
        side: Side,
    ) -> Result<Decoded<'a>, TranslateError> {
        let wire = |e| TranslateError::Wire { side, error: e };
        let msg = match kind {
            Kind::Request => Message::parse_with(input, self.max_message_bytes, self.scan),
            Kind::Response => Message::parse_answer(input, self.max_message_bytes, self.scan),
        }
        .map_err(wire)?;
        if family == Family::Legacy && msg.env.soap == SoapVersion::Soap12 && side == Side::Client {
            return Err(wire(crate::wire::WireError::WrongSoapVersion(
                "legacy X-Road messages are SOAP 1.1; SOAP 1.2 is only accepted from UXP".into(),
            )));
        }
        let dialect = match (&msg.env.header, msg.env.is_fault()) {
            // A fault may come without a header; its dialect is then the family's.
            (None, true) => family.headerless_dialect(),
            _ => codec::detect(&msg.env, family).map_err(wire)?,
        };
        let (header, layout) = codec::decode(&msg.env, dialect, kind).map_err(wire)?;
        Ok(Decoded {
            msg,
            dialect,
            header,
            layout,
        })
    }

    /// Decode → encode into the same dialect, unchanged. Byte-identical for every valid
    /// message; used by the invariant tests and as a sanity check of the codecs.
    pub fn identity(&self, input: Input, family: Family) -> Result<Vec<u8>, TranslateError> {
        let d = self.decode(input, family, Kind::Response, Side::Client)?;
        let env = &d.msg.env;
        let target = target_for(env, d.dialect);
        let hx = codec::encode_header(&d.header, &target, Some(d.source(true)))
            .map_err(TranslateError::Encode)?;
        let soap = if env.header.is_some() {
            assemble(env, &hx, env.soap, &BodyEdit::default())
        } else {
            env.src.to_vec()
        };
        Ok(d.msg.rebuild(soap, env.soap).bytes)
    }

    /// How to answer the sender of `input` with a fault: its SOAP version and, when the
    /// header can be read, the header echoed in its own dialect.
    pub fn rescue_for(&self, input: Input, family: Family) -> Rescue {
        let Ok(msg) = Message::parse_with(input, self.max_message_bytes, self.scan) else {
            // Even when the message as a whole is broken, answer SOAP 1.2 clients in 1.2.
            let soap12 = input
                .content_type
                .is_some_and(|c| c.to_ascii_lowercase().contains("application/soap+xml"));
            return Rescue {
                soap: if soap12 {
                    SoapVersion::Soap12
                } else {
                    SoapVersion::Soap11
                },
                header_xml: None,
            };
        };
        let soap = msg.env.soap;
        let header_xml = codec::detect(&msg.env, family).ok().and_then(|dialect| {
            let (h, layout) = codec::decode(&msg.env, dialect, Kind::Response).ok()?;
            let env = &msg.env;
            let target = Target {
                dialect,
                env_prefix: Some("SOAP-ENV"),
                env_decls: &[],
                charset: crate::wire::charset::Charset::Utf8,
            };
            let src = Source {
                layout: &layout,
                src: env.src,
                same_document: false,
            };
            // The fault is always written in UTF-8; re-encode rather than copy when the
            // request was in another charset.
            let src = (env.charset == crate::wire::charset::Charset::Utf8).then_some(src);
            codec::encode_header(&h, &target, src).ok()
        });
        Rescue { soap, header_xml }
    }
}

fn target_for<'e>(env: &'e Envelope, dialect: Dialect) -> Target<'e> {
    Target {
        dialect,
        env_prefix: env.env_prefix.as_deref(),
        env_decls: &env.env_ns_decls,
        charset: env.charset,
    }
}

// === identifier mapping ===

fn map_client_to_uxp(maps: &Mappings, p: &Party) -> Result<ClientId, TranslateError> {
    maps.client_to_uxp(p).ok_or_else(|| {
        TranslateError::UnmappedMember(match p {
            Party::Legacy(name) => name.clone(),
            Party::Id(id) => id.to_string(),
        })
    })
}

impl From<ServiceMapError> for TranslateError {
    fn from(e: ServiceMapError) -> Self {
        match e {
            ServiceMapError::BadName(n) => TranslateError::BadServiceName(n),
            ServiceMapError::ProducerMismatch { producer, service } => {
                TranslateError::ProducerMismatch { producer, service }
            }
            ServiceMapError::Unmapped(m) => TranslateError::UnmappedService(m),
        }
    }
}

/// The UXP service for a legacy request, the wrapper rename its mapping asks for, and
/// the legacy method name. Precedence and refusals live in [`Mappings::service_to_uxp`].
fn map_service_to_uxp(
    maps: &Mappings,
    h: &Header,
) -> Result<(ServiceId, Option<String>, String), TranslateError> {
    let Some(service) = &h.service else {
        return Err(TranslateError::Wire {
            side: Side::Client,
            error: crate::wire::WireError::MissingHeaderField("service".into()),
        });
    };
    let to = maps.service_to_uxp(service, h.producer.as_deref())?;
    Ok((to.id, to.entry.and_then(|e| e.wrapper.clone()), to.method))
}

fn check_wrapper(wrapper: &str, code: &str) -> Result<(), TranslateError> {
    if wrapper.starts_with(code) {
        Ok(())
    } else {
        Err(TranslateError::Wire {
            side: Side::Client,
            error: crate::wire::WireError::InconsistentHeaders {
                wrapper: wrapper.to_string(),
                service_code: code.to_string(),
            },
        })
    }
}

/// Renames a wrapper whose name starts with `from` so it starts with `to` instead
/// (`getResidenceResponse` → `RR19IsikuElukohtResponse`).
fn renamed(local: &str, from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    local.strip_prefix(from).map(|rest| format!("{to}{rest}"))
}

fn party_str(p: &Option<Party>) -> Option<String> {
    p.as_ref().map(|p| match p {
        Party::Legacy(n) => n.clone(),
        Party::Id(id) => id.to_string(),
    })
}

fn service_str(s: &Option<ServiceRef>) -> Option<String> {
    s.as_ref().map(|s| match s {
        ServiceRef::Legacy(n) => n.clone(),
        ServiceRef::Id(id) => id.to_string(),
    })
}

// === 1. legacy request → UXP request ===

impl Translator<'_> {
    /// Direction 1: a legacy client's request → UXP request (under the copy's message
    /// id when one is set).
    pub fn request_to_uxp<'m>(
        &self,
        request: impl Into<ClientRequest<'m>>,
    ) -> Result<Translation, TranslateError> {
        self.with_request(request.into(), Family::Legacy, |d| {
            request_to_uxp(self.maps, &self.opts, d, self.out_id(&d.header))
        })
    }

    /// Direction 3: a UXP client's request → the legacy stack's dialect (the options'
    /// `legacy_dialect`, else the mappings').
    pub fn request_to_legacy<'m>(
        &self,
        request: impl Into<ClientRequest<'m>>,
    ) -> Result<Translation, TranslateError> {
        self.with_request(request.into(), Family::Uxp, |d| {
            request_to_legacy(self.maps, &self.opts, d, self.out_id(&d.header))
        })
    }

    /// Direction 2: UXP response → the legacy client's response. `legacy_request` is
    /// the request the legacy client sent (before translation); the answer must belong
    /// to it as it was sent (under the copy's message id when one is set).
    pub fn response_to_legacy<'m>(
        &self,
        uxp_response: Input,
        legacy_request: impl Into<ClientRequest<'m>>,
    ) -> Result<Translation, TranslateError> {
        self.with_request(legacy_request.into(), Family::Legacy, |req| {
            response_to_legacy(self.maps, &self.opts, uxp_response, req, self.message_id)
        })
    }

    /// Direction 4: legacy response → UXP response. `uxp_request` is the request the
    /// UXP client sent; the answer must belong to it as it went to the legacy stack.
    pub fn response_to_uxp<'m>(
        &self,
        legacy_response: Input,
        uxp_request: impl Into<ClientRequest<'m>>,
    ) -> Result<Translation, TranslateError> {
        self.with_request(uxp_request.into(), Family::Uxp, |req| {
            response_to_uxp(self.maps, &self.opts, legacy_response, req, self.message_id)
        })
    }
}

fn request_to_uxp(
    maps: &Mappings,
    opts: &Options,
    d: &Decoded,
    id: Option<String>,
) -> Result<Translation, TranslateError> {
    if d.msg.env.is_fault() {
        return Err(TranslateError::NotARequest);
    }
    let h = &d.header;
    let client = map_client_to_uxp(maps, h.client.as_ref().ok_or(TranslateError::NotARequest)?)?;
    let (service, wrapper, method) = map_service_to_uxp(maps, h)?;
    let w = &d.msg.env.body.wrapper;
    check_wrapper(&w.local, &method)?;
    let new_wrapper = wrapper
        .as_deref()
        .and_then(|to| renamed(&w.local, &method, to));
    check_wrapper(
        new_wrapper.as_deref().unwrap_or(&w.local),
        &service.service_code,
    )?;

    let mut out = Header {
        client: Some(Party::Id(client.clone())),
        service: Some(ServiceRef::Id(service.clone())),
        id,
        user_id: h.user_id.clone(),
        issue: h.issue.clone(),
        extensions: h.extensions.clone(),
        ..Header::default()
    };
    let dropped = codec::of(Dialect::Uxp).complete_request(h, &mut out);
    let target_soap = opts.uxp_soap;
    let env = &d.msg.env;
    let target = target_for(env, Dialect::Uxp);
    // Written fresh: a codec copies elements only from a header of its own dialect, and
    // a legacy request's never is UXP's.
    let hx = codec::encode_header(&out, &target, None).map_err(TranslateError::Encode)?;
    let soap = assemble(
        env,
        &hx,
        target_soap,
        &BodyEdit {
            rename_wrapper: new_wrapper.clone(),
        },
    );
    let rebuilt = d.msg.rebuild(soap, target_soap);
    Ok(Translation {
        bytes: rebuilt.bytes,
        content_type: rebuilt.content_type,
        soap_action: rebuilt.soap_action,
        from: d.dialect,
        to: Dialect::Uxp,
        kind: MessageKind::Request,
        soap: target_soap,
        lossy: h.lossy_fields(),
        dropped,
        wrapper_renamed: new_wrapper.map(|n| (w.local.clone(), n)),
        request_hash: None,
        client: party_str(&h.client),
        mapped_client: Some(client.to_string()),
        service: service_str(&h.service),
        mapped_service: Some(service.to_string()),
        message_id: out.id.clone(),
        fault_code: None,
    })
}

// === 3. UXP request → legacy request ===

fn request_to_legacy(
    maps: &Mappings,
    opts: &Options,
    d: &Decoded,
    id: Option<String>,
) -> Result<Translation, TranslateError> {
    if d.msg.env.is_fault() {
        return Err(TranslateError::NotARequest);
    }
    let h = &d.header;
    let dialect = opts.legacy_dialect.unwrap_or_else(|| maps.legacy_dialect());
    let Some(Party::Id(cid)) = &h.client else {
        return Err(TranslateError::NotARequest);
    };
    let Some(ServiceRef::Id(sid)) = &h.service else {
        return Err(TranslateError::NotARequest);
    };
    let w = &d.msg.env.body.wrapper;
    check_wrapper(&w.local, &sid.service_code)?;
    let legacy_client = legacy_client(maps, cid)?;
    // Service: an explicit mapping, else the provider's member mapping + code + version
    // (precedence and refusals in `Mappings::service_to_legacy`).
    let to = maps.service_to_legacy(sid, dialect)?;
    let wrapper_to = to.entry.and_then(|e| e.wrapper.clone());
    let (legacy_service, producer, method) = (to.service, to.producer, to.method);
    // On the way to the legacy stack the UXP wrapper name turns back into the method.
    let new_wrapper = wrapper_to
        .as_deref()
        .and_then(|uxp_name| renamed(&w.local, uxp_name, &method));
    if wrapper_to.is_some() {
        check_wrapper(new_wrapper.as_deref().unwrap_or(&w.local), &method)?;
    }

    let message_id = id.clone();
    let mut out = Header {
        client: Some(legacy_client.clone()),
        producer: producer.clone(),
        service: Some(legacy_service.clone()),
        id,
        user_id: h.user_id.clone(),
        issue: h.issue.clone(),
        extensions: h.extensions.clone(),
        ..Header::default()
    };
    // What only the target dialect carries or requires, and its field order.
    let dropped = codec::of(dialect).complete_request(h, &mut out);
    let env = &d.msg.env;
    let target = target_for(env, dialect);
    let hx = codec::encode_header(&out, &target, None).map_err(TranslateError::Encode)?;
    let soap = assemble(
        env,
        &hx,
        SoapVersion::Soap11,
        &BodyEdit {
            rename_wrapper: new_wrapper.clone(),
        },
    );
    let rebuilt = d.msg.rebuild(soap, SoapVersion::Soap11);
    Ok(Translation {
        bytes: rebuilt.bytes,
        content_type: rebuilt.content_type,
        soap_action: rebuilt.soap_action,
        from: Dialect::Uxp,
        to: dialect,
        kind: MessageKind::Request,
        soap: SoapVersion::Soap11,
        lossy: Vec::new(),
        dropped,
        wrapper_renamed: new_wrapper.map(|n| (w.local.clone(), n)),
        request_hash: None,
        client: Some(cid.to_string()),
        mapped_client: party_str(&Some(legacy_client)),
        service: Some(sid.to_string()),
        mapped_service: service_str(&Some(legacy_service)),
        message_id,
        fault_code: None,
    })
}

// === responses ===

/// A wrapper rename: `(from, to)` local-name prefixes.
type Rename = (String, String);

/// Shared by both response directions: the response's Body under a header echoed from
/// the original request (decoded from `request`, in the request's own dialect).
fn echo_response(
    resp: &Decoded,
    req: &Decoded,
    target_soap: SoapVersion,
    rename: Option<Rename>,
) -> Result<(Vec<u8>, Option<Rename>), TranslateError> {
    let env = &resp.msg.env;
    let target = target_for(env, req.dialect);
    // Every element is copied from the request as the client wrote it.
    let hx = codec::encode_header(&req.header, &target, Some(req.source(false)))
        .map_err(TranslateError::Encode)?;
    let w = &env.body.wrapper;
    let new_wrapper = match (&rename, env.is_fault()) {
        (Some((from, to)), false) => renamed(&w.local, from, to),
        _ => None,
    };
    let soap = assemble(
        env,
        &hx,
        target_soap,
        &BodyEdit {
            rename_wrapper: new_wrapper.clone(),
        },
    );
    Ok((soap, new_wrapper.map(|n| (w.local.clone(), n))))
}

/// Fields of a response header that the echo does not carry, with their values.
fn response_only_fields(resp: &Header, req: &Header) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(rh) = &resp.request_hash {
        out.push(("requestHash".to_string(), rh.value.trim().to_string()));
    }
    for ext in &resp.extensions {
        if !req
            .extensions
            .iter()
            .any(|e| e.local_name == ext.local_name && e.namespace == ext.namespace)
        {
            out.push((
                ext.local_name.clone(),
                String::from_utf8_lossy(&ext.xml).into_owned(),
            ));
        }
    }
    out
}

/// A UXP client's identity on the legacy stack.
fn legacy_client(maps: &Mappings, cid: &ClientId) -> Result<Party, TranslateError> {
    match maps.legacy_for_uxp(cid) {
        Some(LegacyMember::Name(n)) => Ok(Party::Legacy(n.clone())),
        Some(LegacyMember::Id(id)) => Ok(Party::Id(id.clone())),
        None => Err(TranslateError::UnmappedMember(cid.to_string())),
    }
}

/// Direction 2 for the decoded legacy request `req`. `sent_id` is the message id the
/// UXP request carried when it is not the client's own (a shadow or calibration
/// copy's); the answer must echo it ([`belongs`]).
fn response_to_legacy(
    maps: &Mappings,
    opts: &Options,
    uxp_response: Input,
    req: &Decoded,
    sent_id: Option<&str>,
) -> Result<Translation, TranslateError> {
    let resp = opts.decode(uxp_response, Family::Uxp, Kind::Response, Side::Uxp)?;
    // The rename the request direction applied, reversed.
    let (sid, wrapper, method) = map_service_to_uxp(maps, &req.header)?;
    // The answer must be for this request as it was sent in UXP terms.
    let client = req
        .header
        .client
        .as_ref()
        .and_then(|c| map_client_to_uxp(maps, c).ok())
        .map(Party::Id);
    let service = ServiceRef::Id(sid);
    let sent = Sent {
        id: req.header.id.as_deref(),
        client: client.as_ref(),
        service: Some(&service),
    }
    .with_id(sent_id);
    belongs::check(&resp.header, &sent, Side::Uxp)?;
    let rename = wrapper.map(|uxp_name| (uxp_name, method));
    let (soap, wrapper_renamed) = echo_response(&resp, req, SoapVersion::Soap11, rename)?;
    let rebuilt = resp.msg.rebuild(soap, SoapVersion::Soap11);
    let kind = resp.kind();
    Ok(Translation {
        bytes: rebuilt.bytes,
        content_type: rebuilt.content_type,
        soap_action: None,
        from: Dialect::Uxp,
        to: req.dialect,
        kind,
        soap: SoapVersion::Soap11,
        lossy: req.header.lossy_fields(),
        dropped: response_only_fields(&resp.header, &req.header),
        wrapper_renamed,
        request_hash: resp.header.request_hash.clone(),
        client: party_str(&resp.header.client),
        mapped_client: party_str(&req.header.client),
        service: service_str(&resp.header.service),
        mapped_service: service_str(&req.header.service),
        message_id: req.header.id.clone(),
        fault_code: resp.fault_code(),
    })
}

/// Direction 4 for the decoded UXP request `req`; `sent_id` as for direction 2.
fn response_to_uxp(
    maps: &Mappings,
    opts: &Options,
    legacy_response: Input,
    req: &Decoded,
    sent_id: Option<&str>,
) -> Result<Translation, TranslateError> {
    let resp = opts.decode(
        legacy_response,
        Family::Legacy,
        Kind::Response,
        Side::Legacy,
    )?;
    // The answer must be for the request as it went to the legacy stack.
    let sent_client = match &req.header.client {
        Some(Party::Id(cid)) => legacy_client(maps, cid).ok(),
        _ => None,
    };
    let sent_service = match &req.header.service {
        Some(ServiceRef::Id(sid)) => {
            let dialect = opts.legacy_dialect.unwrap_or_else(|| maps.legacy_dialect());
            maps.service_to_legacy(sid, dialect).ok().map(|t| t.service)
        }
        _ => None,
    };
    let sent = Sent {
        id: req.header.id.as_deref(),
        client: sent_client.as_ref(),
        service: sent_service.as_ref(),
    }
    .with_id(sent_id);
    belongs::check(&resp.header, &sent, Side::Legacy)?;
    let rename = match &req.header.service {
        Some(ServiceRef::Id(sid)) => maps
            .service_for_uxp(sid)
            .and_then(|sm| sm.wrapper.clone().map(|w| (sm.legacy.method(), w))),
        _ => None,
    };
    // A UXP response has the SOAP version of the UXP request it answers.
    let soap_version = req.msg.env.soap;
    let (soap, wrapper_renamed) = echo_response(&resp, req, soap_version, rename)?;
    let rebuilt = resp.msg.rebuild(soap, soap_version);
    let kind = resp.kind();
    Ok(Translation {
        bytes: rebuilt.bytes,
        content_type: rebuilt.content_type,
        soap_action: None,
        from: resp.dialect,
        to: Dialect::Uxp,
        kind,
        soap: soap_version,
        lossy: resp.header.lossy_fields(),
        dropped: response_only_fields(&resp.header, &req.header),
        wrapper_renamed,
        request_hash: None,
        client: party_str(&resp.header.client),
        mapped_client: party_str(&req.header.client),
        service: service_str(&resp.header.service),
        mapped_service: service_str(&req.header.service),
        message_id: req.header.id.clone(),
        fault_code: resp.fault_code(),
    })
}
