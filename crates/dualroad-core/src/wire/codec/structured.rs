//! What the structured-identifier dialects (6.0, 4.x, UXP) share: the typed `client` and
//! `service` identifiers of the `identifiers` namespace, `requestHash`, and the fields
//! they all name alike. Each of those codecs adds its own fields on top (`v60`, `v4`,
//! `uxp`).

use super::*;

fn id_text(e: &Elem, local: &str) -> Option<String> {
    e.child(NS_IDENTIFIERS, local)
        .map(|c| c.text.trim().to_string())
}

fn decode_client(e: &Elem) -> Result<ClientId, WireError> {
    let need = |l: &str| {
        id_text(e, l).ok_or_else(|| bad(&e.local, format!("missing identifier part `{l}`")))
    };
    let ot = e.attr(Some(NS_IDENTIFIERS), "objectType").unwrap_or("");
    if !matches!(ot, "MEMBER" | "SUBSYSTEM") {
        return Err(bad(
            &e.local,
            format!("objectType `{ot}` is not MEMBER or SUBSYSTEM"),
        ));
    }
    Ok(ClientId {
        instance: need("xRoadInstance")?,
        member_class: need("memberClass")?,
        member_code: need("memberCode")?,
        // UXP documentation shows objectType MEMBER together with a subsystemCode; keep it.
        subsystem: id_text(e, "subsystemCode"),
    })
}

fn decode_service(e: &Elem) -> Result<ServiceId, WireError> {
    let need = |l: &str| {
        id_text(e, l).ok_or_else(|| bad("service", format!("missing identifier part `{l}`")))
    };
    let ot = e.attr(Some(NS_IDENTIFIERS), "objectType").unwrap_or("");
    if ot != "SERVICE" {
        return Err(bad("service", format!("objectType `{ot}` is not SERVICE")));
    }
    Ok(ServiceId {
        provider: ClientId {
            instance: need("xRoadInstance")?,
            member_class: need("memberClass")?,
            member_code: need("memberCode")?,
            subsystem: id_text(e, "subsystemCode"),
        },
        service_code: need("serviceCode")?,
        service_version: id_text(e, "serviceVersion"),
    })
}

/// The element names [`decode_shared`] models.
pub(super) const SHARED_FIELDS: [&str; 5] = ["client", "service", "id", "userId", "requestHash"];

/// Decodes the fields every structured dialect names alike; `None` for any other name.
pub(super) fn decode_shared(h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
    Ok(Some(match c.local.as_str() {
        "client" => {
            put(&mut h.client, Party::Id(decode_client(c)?), "client").map(|_| FieldTag::Client)?
        }
        "service" => put(
            &mut h.service,
            ServiceRef::Id(decode_service(c)?),
            "service",
        )
        .map(|_| FieldTag::Service)?,
        "id" => put(&mut h.id, value(c), "id").map(|_| FieldTag::Id)?,
        "userId" => put(&mut h.user_id, value(c), "userId").map(|_| FieldTag::UserId)?,
        "requestHash" => put(
            &mut h.request_hash,
            RequestHash {
                algorithm_id: c.attr(None, "algorithmId").map(str::to_string),
                value: c.text.clone(),
            },
            "requestHash",
        )
        .map(|_| FieldTag::RequestHash)?,
        _ => return Ok(None),
    }))
}

/// Writes the fields every structured dialect names alike (client, service, id, userId,
/// requestHash); false for any other field and for an absent one.
pub(super) fn write_shared(
    o: &mut Out,
    h: &Header,
    tag: FieldTag,
    dialect: Dialect,
    indent: &str,
) -> Result<bool, EncodeError> {
    let shape = |what, found| EncodeError::Shape {
        dialect,
        what,
        found,
    };
    match tag {
        FieldTag::Client => match &h.client {
            Some(Party::Id(id)) => write_client(o, "client", id, indent),
            Some(Party::Legacy(_)) => {
                return Err(shape("structured client id", "a legacy short name"))
            }
            None => return Ok(false),
        },
        FieldTag::Service => match &h.service {
            Some(ServiceRef::Id(id)) => write_service(o, id, indent),
            Some(ServiceRef::Legacy(_)) => {
                return Err(shape("structured service id", "a legacy service name"))
            }
            None => return Ok(false),
        },
        FieldTag::Id => match &h.id {
            Some(v) => o.simple("id", "", v),
            None => return Ok(false),
        },
        FieldTag::UserId => match &h.user_id {
            Some(v) => o.simple("userId", "", v),
            None => return Ok(false),
        },
        FieldTag::RequestHash => match &h.request_hash {
            Some(rh) => {
                let p = o.prefix.to_string();
                o.open("requestHash");
                if let Some(a) = &rh.algorithm_id {
                    o.raw(" algorithmId=\"");
                    o.attr_text(a);
                    o.raw("\"");
                }
                o.raw(">");
                o.text(&rh.value);
                o.fmt(format_args!("</{p}:requestHash>"));
            }
            None => return Ok(false),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

/// The field order of a request a structured legacy dialect (6.0, 4.x) is sent.
pub(super) const REQUEST_ORDER: [FieldTag; 5] = [
    FieldTag::Client,
    FieldTag::Service,
    FieldTag::Id,
    FieldTag::UserId,
    FieldTag::Issue,
];

/// `representedParty` (4.x and UXP), in its own namespace.
pub(super) fn write_represented_party(o: &mut Out, h: &Header, indent: &str) -> bool {
    let Some(rp) = &h.represented_party else {
        return false;
    };
    o.fmt(format_args!(
        "<{REPR_PREFIX}:representedParty xmlns:{REPR_PREFIX}=\"{NS_REPRESENTATION}\">"
    ));
    if let Some(c) = &rp.party_class {
        o.fmt(format_args!("\n{indent}    <{REPR_PREFIX}:partyClass>"));
        o.text(c);
        o.fmt(format_args!("</{REPR_PREFIX}:partyClass>"));
    }
    o.fmt(format_args!("\n{indent}    <{REPR_PREFIX}:partyCode>"));
    o.text(&rp.party_code);
    o.fmt(format_args!(
        "</{REPR_PREFIX}:partyCode>\n{indent}</{REPR_PREFIX}:representedParty>"
    ));
    true
}

fn write_client(o: &mut Out, name: &str, id: &ClientId, indent: &str) {
    let p = o.prefix.to_string();
    o.open(name);
    o.fmt(format_args!(
        "{} {ID_PREFIX}:objectType=\"{}\">",
        o.own_decls.ids,
        id.object_type()
    ));
    let inner = Indent(indent);
    let part = |o: &mut Out, l: &str, v: &str| {
        o.fmt(format_args!("\n{inner}<{ID_PREFIX}:{l}>"));
        o.text(v);
        o.fmt(format_args!("</{ID_PREFIX}:{l}>"));
    };
    part(o, "xRoadInstance", &id.instance);
    part(o, "memberClass", &id.member_class);
    part(o, "memberCode", &id.member_code);
    if let Some(s) = &id.subsystem {
        part(o, "subsystemCode", s);
    }
    o.fmt(format_args!("\n{indent}</{p}:{name}>"));
}

fn write_service(o: &mut Out, id: &ServiceId, indent: &str) {
    let p = o.prefix.to_string();
    o.open("service");
    o.fmt(format_args!(
        "{} {ID_PREFIX}:objectType=\"SERVICE\">",
        o.own_decls.ids
    ));
    let inner = Indent(indent);
    let part = |o: &mut Out, l: &str, v: &str| {
        o.fmt(format_args!("\n{inner}<{ID_PREFIX}:{l}>"));
        o.text(v);
        o.fmt(format_args!("</{ID_PREFIX}:{l}>"));
    };
    part(o, "xRoadInstance", &id.provider.instance);
    part(o, "memberClass", &id.provider.member_class);
    part(o, "memberCode", &id.provider.member_code);
    if let Some(s) = &id.provider.subsystem {
        part(o, "subsystemCode", s);
    }
    part(o, "serviceCode", &id.service_code);
    if let Some(v) = &id.service_version {
        part(o, "serviceVersion", v);
    }
    o.fmt(format_args!("\n{indent}</{p}:service>"));
}

/// One indentation step deeper than `.0`, formatted without allocating.
struct Indent<'a>(&'a str);

impl std::fmt::Display for Indent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}    ", self.0)
    }
}
