//! Deterministic, realistic-looking registry data.
//!
//! Everything is derived from a SHA-256 of a key value (a personal code, a registry
//! code, a payment reference), never from a clock or a random source: the same key
//! always yields the same person, company or payment, in both simulators and across
//! runs. A person is seeded by the personal code alone, so the population register,
//! the residence service and the health summary agree about who someone is.
//!
//! All names and places are invented combinations of common Arabic names (in Latin
//! script) and Palestinian towns.

use sha2::{Digest, Sha256};

/// A small deterministic generator (splitmix64) seeded from a hash.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Seeds from `salt` and `key`; different salts give independent streams.
    pub(super) fn new(salt: &str, key: &str) -> Rng {
        let d = Sha256::new()
            .chain_update(salt.as_bytes())
            .chain_update([0u8])
            .chain_update(key.as_bytes())
            .finalize();
        Rng(d.iter().take(8).fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// One item of a non-empty constant table.
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // Tables are compile-time constants with at least one entry.
        items[self.below(items.len() as u64) as usize]
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        unit(self.next_u64()) < p
    }

    /// `n` decimal digits.
    pub(super) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// A calendar date `YYYY-MM-DD` in `from..=to` (years).
    pub(super) fn date(&mut self, from: u64, to: u64) -> String {
        let y = self.range(from, to);
        let m = self.range(1, 12);
        let d = self.range(1, days_in_month(y, m));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// A timestamp in local (Palestine, UTC+3 in summer) time.
    pub(super) fn timestamp(&mut self, from: u64, to: u64) -> String {
        let date = self.date(from, to);
        let (h, mi, s) = (self.range(7, 18), self.below(60), self.below(60));
        format!("{date}T{h:02}:{mi:02}:{s:02}+03:00")
    }
}

/// Maps 64 random bits to `[0, 1)` (53 bits, so 1.0 is never reached).
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether an event of probability `rate` happens to message `id`; `salt` keeps
/// different decisions (fault, divergence) independent of each other.
pub(crate) fn decide(salt: &str, id: &str, rate: f64) -> bool {
    // NaN and negative rates never fire; rates ≥ 1 always do.
    rate > 0.0 && Rng::new(salt, id).chance(rate)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok());
    match (month, i32::try_from(y)) {
        (Some(month), Ok(year)) => u64::from(month.length(year)),
        // Callers pass 1..=12 and a four-digit year; any other month has no days.
        _ => 0,
    }
}

pub(crate) const MALE: &[&str] = &[
    "Ahmad", "Mohammad", "Omar", "Khaled", "Samir", "Yousef", "Ibrahim", "Mahmoud", "Tareq",
    "Nasser", "Hani", "Fadi", "Rami", "Jamal", "Bilal", "Issa", "Karim", "Walid", "Ziad", "Hasan",
];
pub(crate) const FEMALE: &[&str] = &[
    "Layla", "Rania", "Huda", "Nour", "Maryam", "Salma", "Dina", "Amal", "Reem", "Lina", "Yasmin",
    "Hiba", "Suha", "Aya", "Farah", "Rasha", "Abeer", "Mona",
];
pub(crate) const FAMILY: &[&str] = &[
    "Haddad",
    "Khalil",
    "Nasser",
    "Odeh",
    "Jaber",
    "Darwish",
    "Khoury",
    "Barghouti",
    "Masri",
    "Husseini",
    "Tamimi",
    "Shaath",
    "Abu Eid",
    "Qasem",
    "Saleh",
    "Hamdan",
    "Awad",
    "Zeidan",
    "Sabbagh",
    "Dajani",
];
/// `(locality, governorate)`.
pub(crate) const TOWNS: &[(&str, &str)] = &[
    ("Ramallah", "Ramallah and al-Bireh"),
    ("al-Bireh", "Ramallah and al-Bireh"),
    ("Birzeit", "Ramallah and al-Bireh"),
    ("Nablus", "Nablus"),
    ("Hebron", "Hebron"),
    ("Dura", "Hebron"),
    ("Halhul", "Hebron"),
    ("Bethlehem", "Bethlehem"),
    ("Beit Sahour", "Bethlehem"),
    ("Beit Jala", "Bethlehem"),
    ("Jenin", "Jenin"),
    ("Tulkarm", "Tulkarm"),
    ("Qalqilya", "Qalqilya"),
    ("Jericho", "Jericho"),
    ("Salfit", "Salfit"),
    ("Tubas", "Tubas"),
    ("Gaza", "Gaza"),
    ("Khan Yunis", "Khan Yunis"),
    ("Rafah", "Rafah"),
    ("Deir al-Balah", "Deir al-Balah"),
    ("Jabalia", "North Gaza"),
];
pub(crate) const STREETS: &[&str] = &[
    "Al-Quds Street",
    "Radio Street",
    "Main Street",
    "Abu Bakr Street",
    "Al-Irsal Street",
    "Omar al-Mukhtar Street",
    "Faisal Street",
    "Al-Nahda Street",
    "Salah al-Din Street",
    "Al-Shuhada Street",
    "Manger Street",
    "Star Street",
    "Jaffa Street",
    "Al-Masyoun Street",
];

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub governorate: &'static str,
    pub locality: &'static str,
    pub street: &'static str,
    pub building: u64,
}

impl Address {
    pub(super) fn random(rng: &mut Rng) -> Address {
        let (locality, governorate) = rng.pick(TOWNS);
        Address {
            governorate,
            locality,
            street: rng.pick(STREETS),
            building: rng.range(1, 120),
        }
    }

    pub(super) fn line(&self) -> String {
        format!("{} {}, {}", self.street, self.building, self.locality)
    }
}

/// A resident as the population register knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub code: String,
    pub given: String,
    pub father: &'static str,
    pub family: String,
    pub gender: &'static str,
    pub birth_date: String,
    pub address: Address,
    pub registered_since: String,
    pub last_updated: String,
}

impl Person {
    pub(super) fn full_name(&self) -> String {
        format!("{} {} {}", self.given, self.father, self.family)
    }
}

/// The person with personal code `code`.
pub(crate) fn person(code: &str) -> Person {
    let mut rng = Rng::new("person", code);
    let female = rng.chance(0.5);
    let given = if female {
        rng.pick(FEMALE)
    } else {
        rng.pick(MALE)
    }
    .to_string();
    let father = rng.pick(MALE);
    let family = rng.pick(FAMILY).to_string();
    Person {
        code: code.to_string(),
        given,
        father,
        family,
        gender: if female { "F" } else { "M" },
        birth_date: rng.date(1942, 2006),
        address: Address::random(&mut rng),
        registered_since: rng.date(2008, 2024),
        last_updated: rng.timestamp(2024, 2025),
    }
}

/// A new personal code (`PS4` and eight digits, like the fixtures').
pub(crate) fn personal_code(rng: &mut Rng) -> String {
    format!("PS4{}", rng.digits(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_person_and_dates_are_valid() {
        assert_eq!(person("PS401987654"), person("PS401987654"));
        assert_ne!(person("PS401987654"), person("PS401987655"));
        let mut rng = Rng::new("t", "dates");
        for _ in 0..2000 {
            let d = rng.date(1990, 2030);
            let (y, rest) = d.split_at(4);
            let m: u64 = rest[1..3].parse().unwrap();
            let day: u64 = rest[4..6].parse().unwrap();
            assert!((1..=12).contains(&m));
            assert!(
                day >= 1 && day <= days_in_month(y.parse().unwrap(), m),
                "{d}"
            );
            assert!(d.parse::<crate::shadow::Date>().is_ok(), "{d}");
        }
    }

    #[test]
    fn decisions_respect_the_extremes() {
        for i in 0..500 {
            let id = format!("id-{i}");
            assert!(decide("fault", &id, 1.0));
            assert!(!decide("fault", &id, 0.0));
            assert!(!decide("fault", &id, f64::NAN));
        }
        let hits = (0..2000)
            .filter(|i| decide("fault", &format!("m{i}"), 0.25))
            .count();
        assert!((400..600).contains(&hits), "{hits}");
        assert!(unit(u64::MAX) < 1.0);
    }
}
