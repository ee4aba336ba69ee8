//! The shadow copy of a request, and the fingerprint that proves it is the same request.
//!
//! Shadow mode sends a legacy client's request to the stack that does not serve it.
//! The copy carries its own message id (the two stacks must not see one id twice, and
//! the stored record links the two), so the legacy copy is re-encoded rather than
//! forwarded as is ([`Translator::reissue`]). [`Translator::fingerprint`] hashes what makes two requests the same
//! *logical* request — client and service (in UXP identifiers whichever dialect carried
//! them), user, issue and the Body content — so the gateway can check, and the store
//! can show, that both stacks were asked the same thing.

use sha2::{Digest, Sha256};

use super::{
    map_client_to_uxp, map_service_to_uxp, target_for, Decoded, MessageKind, TranslateError,
    Translation, Translator,
};
use crate::mapping::Mappings;
use crate::wire::assemble::{assemble, BodyEdit};
use crate::wire::codec;
use crate::wire::header::{Party, ServiceRef};

impl Translator<'_> {
    /// Whether `copy` (a translation of `d` for a stack of `family`), decoded from the
    /// bytes that are sent, is the same logical request as `d`: their
    /// [`fingerprint`](Translator::fingerprint)s are equal. A copy that does not decode
    /// is not.
    pub fn same_request(&self, d: &Decoded, copy: &Translation, family: codec::Family) -> bool {
        let input = crate::wire::message::Input::new(&copy.bytes)
            .with_content_type(Some(&copy.content_type));
        match self.opts.decode(
            input,
            family,
            codec::Kind::Request,
            crate::error::Side::Internal,
        ) {
            Ok(sent) => request_fingerprint(self.maps, &sent) == request_fingerprint(self.maps, d),
            Err(_) => false,
        }
    }

    /// The request `d` in its own dialect, byte for byte except the message id: the
    /// copy's ([`Translator::with_message_id`]), else its own.
    pub fn reissue(&self, d: &Decoded) -> Result<Translation, TranslateError> {
        reissue(d, self.out_id(&d.header))
    }

    /// SHA-256 (hex) of the request's logical content. Equal for a legacy request and
    /// its UXP translation (or its re-issued copy): identifiers are taken in their UXP
    /// form, the message id is left out, and of the Body only what lies inside the
    /// wrapper's name is hashed — a mapping's wrapper rename changes the name, never
    /// the content. An identifier without a mapping is hashed as written.
    pub fn fingerprint(&self, d: &Decoded) -> String {
        request_fingerprint(self.maps, d)
    }
}

fn reissue(d: &Decoded, id: Option<String>) -> Result<Translation, TranslateError> {
    if d.msg.env.is_fault() {
        return Err(TranslateError::NotARequest);
    }
    let mut h = d.header.clone();
    h.id = id.clone();
    let env = &d.msg.env;
    let target = target_for(env, d.dialect);
    let hx =
        codec::encode_header(&h, &target, Some(d.source(true))).map_err(TranslateError::Encode)?;
    let soap = assemble(env, &hx, env.soap, &BodyEdit::default());
    let rebuilt = d.msg.rebuild(soap, env.soap);
    Ok(Translation {
        bytes: rebuilt.bytes,
        content_type: rebuilt.content_type,
        soap_action: rebuilt.soap_action,
        from: d.dialect,
        to: d.dialect,
        kind: MessageKind::Request,
        soap: env.soap,
        lossy: Vec::new(),
        dropped: Vec::new(),
        wrapper_renamed: None,
        request_hash: None,
        client: super::party_str(&d.header.client),
        mapped_client: None,
        service: super::service_str(&d.header.service),
        mapped_service: None,
        message_id: id,
        fault_code: None,
    })
}

fn request_fingerprint(maps: &Mappings, d: &Decoded) -> String {
    let h = &d.header;
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    };
    let client = match &h.client {
        Some(Party::Id(id)) if d.dialect == crate::wire::Dialect::Uxp => id.to_string(),
        Some(p) => map_client_to_uxp(maps, p)
            .map(|id| id.to_string())
            .unwrap_or_else(|_| super::party_str(&h.client).unwrap_or_default()),
        None => String::new(),
    };
    field("client", client.as_bytes());
    let service = match &h.service {
        Some(ServiceRef::Id(id)) if d.dialect == crate::wire::Dialect::Uxp => id.to_string(),
        Some(_) => map_service_to_uxp(maps, h)
            .map(|(id, _, _)| id.to_string())
            .unwrap_or_else(|_| super::service_str(&h.service).unwrap_or_default()),
        None => String::new(),
    };
    field("service", service.as_bytes());
    field("userId", h.user_id.as_deref().unwrap_or("").as_bytes());
    field("issue", h.issue.as_deref().unwrap_or("").as_bytes());
    let w = &d.msg.env.body.wrapper;
    let src = d.msg.env.src;
    let inner = match &w.end_name {
        Some(end) if end.start >= w.start_name.end => src.get(w.start_name.end..end.start),
        // Self-closing (or multi-ref bodies): the rest of the start tag; what follows
        // is the envelope's closing, which differs between dialects.
        _ => src.get(w.start_name.end..).map(|rest| {
            let end = memchr::memchr(b'>', rest).map_or(rest.len(), |i| i + 1);
            &rest[..end]
        }),
    };
    field("body", inner.unwrap_or(&[]));
    hex::encode(hasher.finalize())
}
