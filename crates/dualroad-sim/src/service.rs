//! The services behind the simulated security servers (those of `mappings/`), and what
//! each one answers.
//!
//! A service is identified by its operation name (the legacy method, or the UXP service
//! code where UXP renamed it) and reads one key parameter, found as the first element
//! with one of a few local names anywhere in the wrapper (so 2.0 multi-refs, 3.x
//! `request` bodies and bare 4.0 bodies all work). The answer is an [`xml::Node`] tree
//! derived only from that key (see [`data`]); [`diverge`] is the small, deliberate
//! change the UXP simulator makes when asked to.
//!
//! [`xml::Node`]: super::xml::Node
//! [`data`]: super::data

use super::body::BodyScan;
use super::data::{person, personal_code, Address, Rng, FAMILY, FEMALE, MALE, TOWNS};
use super::xml::{Content, Node, Xsd};

/// One simulated service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Population register person lookup, `pop.findPerson.v1`.
    FindPerson,
    /// Residence lookup, `pop.RR19IsikuElukoht.v1` (UXP service code `getResidence`).
    Residence,
    /// Health summary, `moh.getPatientSummary.v2`.
    PatientSummary,
    /// Business register company card, `bizreg.getCompany.v1`.
    Company,
    /// Business register history, `bizreg.getCompanyHistory.v1`.
    CompanyHistory,
    /// Application filing (a write service; accepts attachments), `bizreg.fileApplication.v1`.
    FileApplication,
    /// Payment status, `pay.getPaymentStatus`.
    PaymentStatus,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::FindPerson,
        Service::Residence,
        Service::PatientSummary,
        Service::Company,
        Service::CompanyHistory,
        Service::FileApplication,
        Service::PaymentStatus,
    ];

    /// The legacy service name, as in `mappings/services.toml`.
    pub fn legacy_name(self) -> &'static str {
        match self {
            Service::FindPerson => "pop.findPerson.v1",
            Service::Residence => "pop.RR19IsikuElukoht.v1",
            Service::PatientSummary => "moh.getPatientSummary.v2",
            Service::Company => "bizreg.getCompany.v1",
            Service::CompanyHistory => "bizreg.getCompanyHistory.v1",
            Service::FileApplication => "bizreg.fileApplication.v1",
            Service::PaymentStatus => "pay.getPaymentStatus",
        }
    }

    /// Names the operation goes by on the wire: the legacy method, then the UXP
    /// service code where UXP renamed it.
    pub fn operation_names(self) -> &'static [&'static str] {
        match self {
            Service::FindPerson => &["findPerson"],
            Service::Residence => &["RR19IsikuElukoht", "getResidence"],
            Service::PatientSummary => &["getPatientSummary"],
            Service::Company => &["getCompany"],
            Service::CompanyHistory => &["getCompanyHistory"],
            Service::FileApplication => &["fileApplication"],
            Service::PaymentStatus => &["getPaymentStatus"],
        }
    }

    /// Local names the key parameter may have (the first one found in the Body wins).
    pub fn key_params(self) -> &'static [&'static str] {
        match self {
            Service::FindPerson | Service::Residence => &["personalCode", "isikukood"],
            Service::PatientSummary => &["patientCode", "personalCode", "isikukood"],
            Service::Company | Service::CompanyHistory => &["registryCode"],
            // An application has no key: its whole content is.
            Service::FileApplication => &[],
            Service::PaymentStatus => &["paymentId", "paymentReference"],
        }
    }

    /// The service an operation name (wrapper local name or service code) belongs to.
    pub fn from_operation(name: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|s| s.operation_names().contains(&name))
    }

    /// The key the answer is derived from: the key parameter, or for requests without
    /// one (a person search by name, an application) all parameters together.
    fn key(self, scan: &BodyScan) -> String {
        match scan.first(self.key_params()) {
            Some(k) => k.to_string(),
            None => scan.canonical(),
        }
    }
}

/// An attachment that came with the request (multipart), as the answer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachment {
    pub content_id: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
    /// Lower-case hex SHA-256 of the part body.
    pub sha256: String,
}

/// The answer's content (what goes in `response`, `keha`, or the bare wrapper).
pub(crate) fn answer(service: Service, scan: &BodyScan, attachments: &[Attachment]) -> Vec<Node> {
    let key = service.key(scan);
    match service {
        Service::FindPerson => find_person(scan, &key),
        Service::Residence => residence(scan, &key),
        Service::PatientSummary => patient_summary(scan, &key),
        Service::Company => company(scan, &key),
        Service::CompanyHistory => company_history(scan, &key),
        Service::FileApplication => file_application(scan, &key, attachments),
        Service::PaymentStatus => payment_status(&key),
    }
}

fn address_node(name: &'static str, a: &Address) -> Node {
    Node::parent(
        name,
        vec![
            Node::leaf("governorate", a.governorate),
            Node::leaf("locality", a.locality),
            Node::leaf("street", a.street),
            Node::typed("building", a.building.to_string(), Xsd::Int),
        ],
    )
}

fn last_updated(ts: &str) -> Node {
    Node::typed("lastUpdated", ts, Xsd::DateTime)
}

/// `k` distinct entries of `table`, in a deterministic order.
fn distinct<T: Copy>(rng: &mut Rng, table: &[T], k: usize) -> Vec<T> {
    let mut idx: Vec<usize> = (0..table.len()).collect();
    let mut out = Vec::new();
    while out.len() < k && !idx.is_empty() {
        let i = rng.below(idx.len() as u64) as usize;
        let j = idx.swap_remove(i);
        out.extend(table.get(j).copied());
    }
    out
}

fn find_person(scan: &BodyScan, key: &str) -> Vec<Node> {
    let persons = match scan.first(Service::FindPerson.key_params()) {
        Some(code) => vec![person(code)],
        None => {
            // A search by name: one to three matches that carry the searched names.
            let mut rng = Rng::new("findPerson", key);
            let family = scan.first(&["familyName", "perenimi"]).map(str::to_string);
            let given = scan.first(&["givenName", "eesnimi"]).map(str::to_string);
            let year = scan
                .first(&["birthYear"])
                .and_then(|y| y.parse::<u64>().ok())
                .filter(|y| (1900..=2100).contains(y));
            (0..rng.range(1, 3))
                .map(|_| {
                    let mut p = person(&personal_code(&mut rng));
                    if let Some(f) = &family {
                        p.family = f.clone();
                    }
                    if let Some(g) = &given {
                        p.given = g.clone();
                        // Keep the gender consistent with a name we know.
                        if FEMALE.contains(&g.as_str()) {
                            p.gender = "F";
                        } else if MALE.contains(&g.as_str()) {
                            p.gender = "M";
                        }
                    }
                    if let Some(y) = year {
                        // Keep month and day, but never a 29 February in a common year.
                        let md = p.birth_date.get(4..).unwrap_or("-01-01");
                        let md = if md == "-02-29" { "-02-28" } else { md };
                        p.birth_date = format!("{y:04}{md}");
                    }
                    p
                })
                .collect()
        }
    };
    let total = persons.len();
    vec![
        Node::typed("totalFound", total.to_string(), Xsd::Int),
        Node::parent(
            "persons",
            persons
                .iter()
                .map(|p| {
                    Node::parent(
                        "person",
                        vec![
                            Node::leaf("personalCode", &p.code),
                            Node::leaf("givenName", &p.given),
                            Node::leaf("fatherName", p.father),
                            Node::leaf("familyName", &p.family),
                            Node::leaf("fullName", p.full_name()),
                            Node::leaf("gender", p.gender),
                            Node::typed("birthDate", &p.birth_date, Xsd::Date),
                            address_node("address", &p.address),
                        ],
                    )
                })
                .collect(),
        ),
        last_updated(
            &persons
                .first()
                .map(|p| p.last_updated.clone())
                .unwrap_or_default(),
        ),
    ]
}

fn residence(scan: &BodyScan, key: &str) -> Vec<Node> {
    let p = person(key);
    let mut out = vec![
        Node::leaf("personalCode", key),
        Node::leaf("fullName", p.full_name()),
        Node::parent(
            "residence",
            vec![
                Node::leaf("governorate", p.address.governorate),
                Node::leaf("locality", p.address.locality),
                Node::leaf("street", p.address.street),
                Node::typed("building", p.address.building.to_string(), Xsd::Int),
                Node::typed("registeredSince", &p.registered_since, Xsd::Date),
            ],
        ),
    ];
    if scan.flag("includeHistory") == Some(true) {
        let mut rng = Rng::new("residence-history", key);
        let mut previous = Vec::new();
        for _ in 0..rng.range(1, 3) {
            let a = Address::random(&mut rng);
            let mut n = address_node("residence", &a);
            if let Some(c) = n.children_mut() {
                c.push(Node::typed(
                    "registeredSince",
                    rng.date(1990, 2007),
                    Xsd::Date,
                ));
            }
            previous.push(n);
        }
        out.push(Node::parent("history", previous));
    }
    out.push(last_updated(&p.last_updated));
    out
}

const ALLERGIES: &[(&str, &str)] = &[
    ("Penicillin", "Urticaria"),
    ("Aspirin", "Bronchospasm"),
    ("Shellfish", "Angioedema"),
    ("Peanuts", "Anaphylaxis"),
    ("Latex", "Contact dermatitis"),
    ("Sulfonamides", "Maculopapular rash"),
    ("Ibuprofen", "Urticaria"),
    ("Eggs", "Vomiting"),
];
const SEVERITY: &[&str] = &["MILD", "MODERATE", "SEVERE"];
const CONDITIONS: &[(&str, &str)] = &[
    ("E11", "Type 2 diabetes mellitus"),
    ("I10", "Essential hypertension"),
    ("J45", "Asthma"),
    ("E78.0", "Pure hypercholesterolaemia"),
    ("M17", "Osteoarthritis of knee"),
    ("E03.9", "Hypothyroidism"),
    ("K21.9", "Gastro-oesophageal reflux disease"),
    ("D56.1", "Beta thalassaemia"),
];
/// `(name, dose, frequency)`.
const MEDICATIONS: &[(&str, &str, &str)] = &[
    ("Metformin", "500 mg", "twice daily"),
    ("Amlodipine", "5 mg", "once daily"),
    ("Salbutamol inhaler", "100 mcg", "as needed"),
    ("Atorvastatin", "20 mg", "once daily at night"),
    ("Levothyroxine", "50 mcg", "once daily"),
    ("Omeprazole", "20 mg", "once daily"),
    ("Folic acid", "5 mg", "once daily"),
];
const BLOOD: &[&str] = &["O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-"];

fn patient_summary(scan: &BodyScan, key: &str) -> Vec<Node> {
    let p = person(key);
    let mut rng = Rng::new("health", key);
    // Sections: an explicit list (3.x `sections/section`), else the 2.0 include flags.
    let listed: Vec<&str> = scan.all("section").collect();
    let wants = |name: &str, flag: &str| {
        if listed.is_empty() {
            scan.flag(flag) != Some(false)
        } else {
            listed.contains(&name)
        }
    };
    let mut out = vec![Node::parent(
        "patient",
        vec![
            Node::leaf("personalCode", key),
            Node::leaf("fullName", p.full_name()),
            Node::typed("birthDate", &p.birth_date, Xsd::Date),
            Node::leaf("gender", p.gender),
            Node::leaf("bloodType", rng.pick(BLOOD)),
        ],
    )];
    // Draw every section so the data of one does not depend on which others were asked.
    let n_allergies = rng.range(0, 3) as usize;
    let allergies: Vec<Node> = distinct(&mut rng, ALLERGIES, n_allergies)
        .into_iter()
        .map(|(substance, reaction)| {
            Node::parent(
                "allergy",
                vec![
                    Node::leaf("substance", substance),
                    Node::leaf("reaction", reaction),
                    Node::leaf("severity", rng.pick(SEVERITY)),
                    Node::typed("recorded", rng.date(2005, 2024), Xsd::Date),
                ],
            )
        })
        .collect();
    let n_conditions = rng.range(0, 3) as usize;
    let conditions: Vec<Node> = distinct(&mut rng, CONDITIONS, n_conditions)
        .into_iter()
        .map(|(code, name)| Node::leaf("condition", name).attr("code", code))
        .collect();
    let n_meds = rng.range(0, 3) as usize;
    let medications: Vec<Node> = distinct(&mut rng, MEDICATIONS, n_meds)
        .into_iter()
        .map(|(name, dose, freq)| {
            Node::parent(
                "medication",
                vec![
                    Node::leaf("name", name),
                    Node::leaf("dose", dose),
                    Node::leaf("frequency", freq),
                    Node::typed("since", rng.date(2010, 2025), Xsd::Date),
                ],
            )
        })
        .collect();
    let updated = rng.timestamp(2024, 2025);
    if wants("allergies", "includeAllergies") {
        out.push(Node::parent("allergies", allergies));
    }
    if wants("chronicConditions", "includeChronicConditions") {
        out.push(Node::parent("chronicConditions", conditions));
    }
    if wants("medication", "includeMedication") {
        out.push(Node::parent("medications", medications));
    }
    out.push(last_updated(&updated));
    out
}

const TRADES: &[&str] = &[
    "Trading",
    "Stone & Marble Works",
    "Olive Oil Press",
    "Pharmaceuticals Distribution",
    "Construction",
    "Software House",
    "Bakery",
    "Textiles",
    "Logistics",
    "Printing House",
    "Dairy",
];
const LEGAL_FORMS: &[&str] = &[
    "SOLE_PROPRIETOR",
    "GENERAL_PARTNERSHIP",
    "LIMITED_PARTNERSHIP",
    "PRIVATE_SHAREHOLDING",
    "PUBLIC_SHAREHOLDING",
];
const COMPANY_STATUS: &[&str] = &[
    "ACTIVE",
    "ACTIVE",
    "ACTIVE",
    "ACTIVE",
    "SUSPENDED",
    "IN_LIQUIDATION",
];
const ROLES: &[&str] = &["CHAIRMAN", "GENERAL_MANAGER", "DIRECTOR", "BOARD_MEMBER"];

/// What the business register knows about a company.
struct Company {
    name: String,
    legal_form: &'static str,
    status: &'static str,
    registered: String,
    address: Address,
    capital: u64,
    directors: Vec<(String, &'static str, String)>,
    last_updated: String,
}

fn company_profile(key: &str) -> Company {
    let mut rng = Rng::new("company", key);
    let owner = if rng.chance(0.7) {
        rng.pick(FAMILY)
    } else {
        rng.pick(TOWNS).0
    };
    let name = format!("{owner} {}", rng.pick(TRADES));
    let registered = rng.date(1994, 2024);
    let reg_year = registered
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(2000);
    let directors = (0..rng.range(1, 4))
        .map(|_| {
            let code = personal_code(&mut rng);
            (code, rng.pick(ROLES), rng.date(reg_year, 2025))
        })
        .collect();
    Company {
        name,
        legal_form: rng.pick(LEGAL_FORMS),
        status: rng.pick(COMPANY_STATUS),
        registered,
        address: Address::random(&mut rng),
        capital: rng.range(1, 500) * 1000,
        directors,
        last_updated: rng.timestamp(2024, 2025),
    }
}

fn company(scan: &BodyScan, key: &str) -> Vec<Node> {
    let c = company_profile(key);
    let mut card = vec![
        Node::leaf("registryCode", key),
        Node::leaf("name", &c.name),
        Node::leaf("legalForm", c.legal_form),
        Node::leaf("status", c.status),
        Node::typed("registered", &c.registered, Xsd::Date),
        Node::leaf("address", c.address.line()),
        Node::typed("shareCapital", c.capital.to_string(), Xsd::Decimal).attr("currency", "JOD"),
    ];
    if scan.flag("withDirectors") != Some(false) {
        card.push(Node::parent(
            "directors",
            c.directors
                .iter()
                .map(|(code, role, since)| {
                    Node::parent(
                        "director",
                        vec![
                            Node::leaf("personalCode", code),
                            // Directors are real residents of the population register.
                            Node::leaf("fullName", person(code).full_name()),
                            Node::leaf("role", *role),
                            Node::typed("since", since, Xsd::Date),
                        ],
                    )
                })
                .collect(),
        ));
    }
    vec![Node::parent("company", card), last_updated(&c.last_updated)]
}

const EVENTS: &[(&str, &str)] = &[
    ("ADDRESS_CHANGED", "Registered address changed"),
    ("DIRECTOR_APPOINTED", "Director appointed"),
    ("DIRECTOR_RESIGNED", "Director resigned"),
    ("CAPITAL_INCREASED", "Share capital increased"),
    ("ANNUAL_REPORT_FILED", "Annual report filed"),
    ("NAME_CHANGED", "Trade name changed"),
];

fn company_history(scan: &BodyScan, key: &str) -> Vec<Node> {
    let c = company_profile(key);
    let mut rng = Rng::new("company-history", key);
    let from_year = c
        .registered
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(2000);
    let mut events = vec![(c.registered.clone(), "REGISTERED", "Company registered")];
    for _ in 0..rng.range(1, 5) {
        let (kind, text) = rng.pick(EVENTS);
        events.push((rng.date(from_year, 2025), kind, text));
    }
    events.sort();
    // `from` (an ISO date) filters; ISO dates compare correctly as strings.
    if let Some(from) = scan.first(&["from"]) {
        events.retain(|(d, _, _)| d.as_str() >= from);
    }
    vec![
        Node::leaf("registryCode", key),
        Node::leaf("name", &c.name),
        Node::parent(
            "events",
            events
                .into_iter()
                .map(|(date, kind, text)| {
                    Node::parent(
                        "event",
                        vec![
                            Node::typed("date", date, Xsd::Date),
                            Node::leaf("type", kind),
                            Node::leaf("description", text),
                        ],
                    )
                })
                .collect(),
        ),
        last_updated(&c.last_updated),
    ]
}

fn file_application(scan: &BodyScan, key: &str, attachments: &[Attachment]) -> Vec<Node> {
    let mut seed = key.to_string();
    for a in attachments {
        seed.push_str(&a.sha256);
    }
    let mut rng = Rng::new("application", &seed);
    let fee = match scan.first(&["applicationType"]) {
        Some("NEW_REGISTRATION") => "250.00",
        Some("TRADE_NAME_RESERVATION") => "40.00",
        Some("BRANCH_OPENING") => "120.00",
        _ => "80.00",
    };
    let mut out = vec![
        Node::leaf("applicationNumber", format!("APP-2025-{}", rng.digits(6))),
        Node::leaf("status", "RECEIVED"),
        Node::typed("received", rng.timestamp(2025, 2025), Xsd::DateTime),
        Node::typed("feeDue", fee, Xsd::Decimal).attr("currency", "ILS"),
        Node::leaf("paymentReference", format!("PAY-2025-{}", rng.digits(7))),
    ];
    if !attachments.is_empty() {
        out.push(Node::parent(
            "attachments",
            attachments
                .iter()
                .map(|a| {
                    let mut n = Node::parent("attachment", vec![]);
                    if let Some(id) = &a.content_id {
                        n = n.attr("contentId", id);
                    }
                    if let Some(ct) = &a.content_type {
                        n = n.attr("contentType", ct);
                    }
                    n.attr("size", a.size.to_string()).attr("sha256", &a.sha256)
                })
                .collect(),
        ));
    }
    out
}

const PAYMENT_STATUS: &[&str] = &[
    "PAID",
    "PAID",
    "PAID",
    "PAID",
    "PAID",
    "PENDING",
    "PENDING",
    "FAILED",
    "REFUNDED",
    "CANCELLED",
];
const PURPOSES: &[&str] = &[
    "Business registration fee",
    "Trade name reservation fee",
    "Civil registry certificate",
    "Vehicle licence renewal",
    "Building permit fee",
    "Passport issuance fee",
];

fn payment_status(key: &str) -> Vec<Node> {
    let mut rng = Rng::new("payment", key);
    let status = rng.pick(PAYMENT_STATUS);
    let payer = person(&personal_code(&mut rng));
    let created = rng.timestamp(2024, 2025);
    let mut out = vec![
        Node::leaf("paymentReference", key),
        Node::leaf("status", status),
        Node::typed(
            "amount",
            format!("{}.{:02}", rng.range(5, 900), rng.below(4) * 25),
            Xsd::Decimal,
        )
        .attr("currency", "ILS"),
        Node::leaf("purpose", rng.pick(PURPOSES)),
        Node::parent(
            "payer",
            vec![
                Node::leaf("personalCode", &payer.code),
                Node::leaf("fullName", payer.full_name()),
            ],
        ),
        Node::typed("created", &created, Xsd::DateTime),
    ];
    if matches!(status, "PAID" | "REFUNDED") {
        // Paid a few days after the order: same date prefix, a later hour is enough.
        out.push(Node::typed("paidAt", later(&created), Xsd::DateTime));
    }
    out.push(last_updated(&later(&created)));
    out
}

/// A timestamp an hour later (on the same day, wrapping at midnight), or a fixed
/// different one when `ts` is not in the expected shape.
fn later(ts: &str) -> String {
    let hour = ts.get(11..13).and_then(|h| h.parse::<u8>().ok());
    match (hour, ts.get(..11), ts.get(13..)) {
        (Some(h), Some(head), Some(tail)) => format!("{head}{:02}{tail}", (h + 1) % 24),
        _ if ts != "2025-09-30T12:00:00+03:00" => "2025-09-30T12:00:00+03:00".into(),
        _ => "2025-10-01T12:00:00+03:00".into(),
    }
}

/// Lists an answer may carry; dropping an item of one is a divergence.
const LISTS: &[&str] = &[
    "persons",
    "allergies",
    "chronicConditions",
    "medications",
    "directors",
    "events",
    "history",
    "attachments",
];
const STATUS_ALTERNATIVES: &[(&str, &str)] = &[
    ("ACTIVE", "SUSPENDED"),
    ("PAID", "PENDING"),
    ("RECEIVED", "REGISTERED"),
];

/// Changes the answer slightly: drops the last item of a list, changes a status, or
/// moves `lastUpdated`; `rng` picks which is tried first. Returns what changed.
pub(crate) fn diverge(nodes: &mut [Node], rng: &mut Rng) -> Option<&'static str> {
    let start = rng.below(3) as usize;
    for k in 0..3 {
        let changed = match (start + k) % 3 {
            0 => visit(nodes, &mut |n| {
                if !LISTS.contains(&n.name) {
                    return false;
                }
                n.children_mut().and_then(Vec::pop).is_some()
            })
            .then_some("list item missing"),
            1 => visit(nodes, &mut |n| {
                if n.name != "status" {
                    return false;
                }
                let Content::Text(t, _) = &mut n.content else {
                    return false;
                };
                let alt = STATUS_ALTERNATIVES
                    .iter()
                    .find(|(a, _)| a == t)
                    .map_or("UNDER_REVIEW", |(_, b)| *b);
                *t = alt.to_string();
                true
            })
            .then_some("status changed"),
            _ => visit(nodes, &mut |n| {
                if n.name != "lastUpdated" {
                    return false;
                }
                let Content::Text(t, _) = &mut n.content else {
                    return false;
                };
                *t = later(t);
                true
            })
            .then_some("lastUpdated changed"),
        };
        if changed.is_some() {
            return changed;
        }
    }
    None
}

/// Depth-first until `f` reports a change.
fn visit(nodes: &mut [Node], f: &mut impl FnMut(&mut Node) -> bool) -> bool {
    for n in nodes.iter_mut() {
        if f(n) {
            return true;
        }
        if let Some(c) = n.children_mut() {
            if visit(c, f) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::Envelope;

    fn scan_of(body: &str) -> (String, BodyScan) {
        let x = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/><s:Body>{body}</s:Body></s:Envelope>"
        );
        let env = Envelope::scan(x.as_bytes(), None).unwrap();
        let scan = BodyScan::scan(&env).unwrap();
        (x, scan)
    }

    fn find<'n>(nodes: &'n [Node], name: &str) -> Option<&'n Node> {
        nodes.iter().find(|n| n.name == name)
    }

    #[test]
    fn operations_map_to_services() {
        assert_eq!(
            Service::from_operation("getResidence"),
            Some(Service::Residence)
        );
        assert_eq!(
            Service::from_operation("RR19IsikuElukoht"),
            Some(Service::Residence)
        );
        assert_eq!(Service::from_operation("findPersonResponse"), None);
        assert_eq!(Service::from_operation("deletePerson"), None);
    }

    #[test]
    fn the_same_person_everywhere() {
        let (_, by_code) =
            scan_of("<op><request><personalCode>PS401234567</personalCode></request></op>");
        let (_, patient) = scan_of("<op><keha><patientCode>PS401234567</patientCode></keha></op>");
        let a = answer(Service::FindPerson, &by_code, &[]);
        let b = answer(Service::PatientSummary, &patient, &[]);
        let full = |n: &Node| {
            n.children()
                .iter()
                .find(|c| c.name == "fullName")
                .and_then(Node::text)
                .map(str::to_string)
        };
        let found = &find(&a, "persons").unwrap().children()[0];
        assert_eq!(full(found), full(find(&b, "patient").unwrap()));
        assert_eq!(answer(Service::FindPerson, &by_code, &[]), a);
    }

    #[test]
    fn parameters_shape_the_answer() {
        let (_, s) = scan_of("<op><request><patientCode>PS4</patientCode><sections><section>medication</section></sections></request></op>");
        let a = answer(Service::PatientSummary, &s, &[]);
        assert!(find(&a, "medications").is_some() && find(&a, "allergies").is_none());
        let (_, s) = scan_of("<op><request><registryCode>562345671</registryCode><withDirectors>false</withDirectors></request></op>");
        let a = answer(Service::Company, &s, &[]);
        assert!(find(find(&a, "company").unwrap().children(), "directors").is_none());
        let (_, s) = scan_of("<op><request><familyName>Haddad</familyName><givenName>Layla</givenName><birthYear>1987</birthYear></request></op>");
        let a = answer(Service::FindPerson, &s, &[]);
        for p in find(&a, "persons").unwrap().children() {
            assert_eq!(
                find(p.children(), "familyName").and_then(Node::text),
                Some("Haddad")
            );
            assert_eq!(find(p.children(), "gender").and_then(Node::text), Some("F"));
            assert!(find(p.children(), "birthDate")
                .and_then(Node::text)
                .unwrap()
                .starts_with("1987-"));
        }
    }

    #[test]
    fn divergence_always_changes_something() {
        for service in Service::ALL {
            let (_, s) = scan_of("<op><request><personalCode>PS400000001</personalCode><registryCode>1</registryCode><paymentId>P-1</paymentId><patientCode>PS4</patientCode></request></op>");
            let base = answer(service, &s, &[]);
            for i in 0..6 {
                let mut d = base.clone();
                let what = diverge(&mut d, &mut Rng::new("t", &i.to_string()));
                assert!(what.is_some(), "{service:?}");
                assert_ne!(d, base, "{service:?} {what:?}");
            }
        }
    }
}
