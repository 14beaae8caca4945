//! Which resources to show a person, for a country, region, language, topics and risk. Pure.
//!
//! Crisis lines of the country (those for everyone, not a youth line) come first when risk is
//! raised, then music-industry resources
//! of the country, then general ones, then international ones in the person's language.
//! Inactive and unverified records are never offered; active records not verified within 24
//! months are flagged and left out.

use super::model::Resource;
use crate::domain::{CountryCode, LanguageCode, Risk};

#[derive(Debug, Clone)]
pub struct MatchQuery {
    pub country: Option<CountryCode>,
    /// ISO 3166-2, e.g. `GB-NIR`, when known.
    pub region: Option<String>,
    pub language: Option<LanguageCode>,
    /// Topics of the need, e.g. `mental_health`, `substance_use`; empty means any.
    pub topics: Vec<String>,
    pub risk: Risk,
    /// Today, as days since the epoch (see `model::day_of`).
    pub today: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matched {
    /// The country's emergency numbers.
    pub emergency: Vec<Resource>,
    /// The country's crisis lines for everyone; empty when the country is unknown or has none
    /// verified. Lines for one group only (a youth line) are left out: they are not offered
    /// to someone we know nothing about (navigators can pick them).
    pub crisis_lines: Vec<Resource>,
    /// The ordered list for a "resources for you" reply.
    pub resources: Vec<Resource>,
    /// International directories, in the person's language first.
    pub international: Vec<Resource>,
    /// Active records left out because they were not verified within 24 months.
    pub stale: Vec<String>,
}

fn by_priority(resources: &mut [Resource], language: Option<&LanguageCode>) {
    let speaks = |r: &Resource| {
        language.is_some_and(|l| {
            r.languages
                .iter()
                .any(|rl| rl.split('-').next() == Some(l.as_str()))
        })
    };
    resources.sort_by(|a, b| {
        speaks(b)
            .cmp(&speaks(a))
            .then(b.priority.cmp(&a.priority))
            .then(a.id.cmp(&b.id))
    });
}

/// Someone in crisis may read the mail at any hour: lines open 24/7 go first (the order
/// among them, and among the others, stays as it was).
pub fn prefer_around_the_clock(crisis_lines: &mut [Resource]) {
    crisis_lines.sort_by_key(|line| {
        !line
            .contacts
            .iter()
            .any(|contact| contact.is_live_channel() && contact.is_24_7())
    });
}

pub fn match_resources(directory: &[Resource], query: &MatchQuery) -> Matched {
    let mut matched = Matched::default();
    let mut usable: Vec<&Resource> = Vec::new();
    for resource in directory {
        if resource.is_stale(query.today) {
            matched.stale.push(resource.id.clone());
        } else if resource.is_fresh(query.today) {
            usable.push(resource);
        }
    }
    let in_region = |r: &Resource| {
        r.regions.is_empty()
            || query
                .region
                .as_ref()
                .is_some_and(|region| r.regions.contains(region))
    };
    let language = query.language.as_ref();

    if let Some(country) = query.country {
        let of_country: Vec<&Resource> = usable
            .iter()
            .copied()
            .filter(|r| r.serves_country(country) && in_region(r))
            .collect();
        matched.emergency = of_country
            .iter()
            .filter(|r| r.is_emergency())
            .map(|r| (*r).clone())
            .collect();
        matched.crisis_lines = of_country
            .iter()
            .filter(|r| r.is_crisis_line() && !r.is_for_a_group())
            .map(|r| (*r).clone())
            .collect();
        by_priority(&mut matched.emergency, language);
        by_priority(&mut matched.crisis_lines, language);
        if query.risk == Risk::Crisis {
            prefer_around_the_clock(&mut matched.crisis_lines);
        }
        let mut music: Vec<Resource> = of_country
            .iter()
            .filter(|r| {
                !r.is_crisis_line()
                    && !r.is_emergency()
                    && r.topics.iter().any(|t| t == "music_industry")
            })
            .map(|r| (*r).clone())
            .collect();
        let mut general: Vec<Resource> = of_country
            .iter()
            .filter(|r| {
                !r.is_crisis_line()
                    && !r.is_emergency()
                    && !r.topics.iter().any(|t| t == "music_industry")
            })
            .filter(|r| {
                query.topics.is_empty() || r.topics.iter().any(|t| query.topics.contains(t))
            })
            .map(|r| (*r).clone())
            .collect();
        by_priority(&mut music, language);
        by_priority(&mut general, language);
        if query.risk > Risk::None {
            matched
                .resources
                .extend(matched.crisis_lines.iter().cloned());
        }
        matched.resources.extend(music);
        matched.resources.extend(general);
    }

    let mut international: Vec<Resource> = usable
        .iter()
        .filter(|r| r.is_international())
        .filter(|r| {
            r.languages.is_empty()
                || r.languages.iter().any(|l| {
                    l == "en"
                        || language.is_some_and(|own| l.split('-').next() == Some(own.as_str()))
                })
        })
        .map(|r| (*r).clone())
        .collect();
    by_priority(&mut international, language);
    matched.resources.extend(international.iter().cloned());
    matched.international = international;

    // Records that must be shown together: a crisis line brings its emergency number.
    let mut with_partners: Vec<Resource> = Vec::new();
    for resource in &matched.resources {
        if with_partners.iter().any(|r| r.id == resource.id) {
            continue;
        }
        with_partners.push(resource.clone());
        if !resource.pairing_group.is_empty() {
            for partner in usable
                .iter()
                .filter(|r| r.pairing_group == resource.pairing_group && r.id != resource.id)
                // A youth line shares its country's group with the emergency number, but is
                // not brought along for someone who is not in its group.
                .filter(|r| !r.is_for_a_group())
            {
                if !with_partners.iter().any(|r| r.id == partner.id)
                    && !matched.resources.iter().any(|r| r.id == partner.id)
                {
                    with_partners.push((*partner).clone());
                }
            }
        }
    }
    matched.resources = with_partners;
    matched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::model::{parse_date, Contact, Status};

    fn resource(
        id: &str,
        countries: &[&str],
        topics: &[&str],
        priority: i64,
        verified: &str,
        status: Status,
        group: &str,
    ) -> Resource {
        Resource {
            id: id.into(),
            name: id.into(),
            local_name: id.into(),
            organisation: "org".into(),
            countries: countries.iter().map(|c| c.to_string()).collect(),
            regions: vec![],
            languages: vec!["de".into(), "en".into()],
            topics: topics.iter().map(|t| t.to_string()).collect(),
            audience: vec!["everyone".into()],
            priority,
            pairing_group: group.into(),
            source_url: "https://example.org".into(),
            verified_at: verified.into(),
            verification: "test".into(),
            verified_by: "test".into(),
            status,
            notes: String::new(),
            contacts: vec![Contact {
                channel: "phone".into(),
                value: "0800 111".into(),
                languages: vec!["de".into()],
                hours: "24/7".into(),
                timezone: String::new(),
                free: true,
                anonymous: true,
            }],
        }
    }

    fn directory() -> Vec<Resource> {
        vec![
            resource(
                "de-emergency",
                &["DE"],
                &["emergency"],
                100,
                "2026-01-01",
                Status::Active,
                "de-crisis",
            ),
            resource(
                "de-crisis",
                &["DE"],
                &["crisis", "suicide"],
                90,
                "2026-01-01",
                Status::Active,
                "de-crisis",
            ),
            resource(
                "de-old-crisis",
                &["DE"],
                &["crisis"],
                95,
                "2023-01-01",
                Status::Active,
                "de-crisis",
            ),
            resource(
                "de-unverified",
                &["DE"],
                &["crisis"],
                99,
                "",
                Status::Unverified,
                "de-crisis",
            ),
            resource(
                "de-music",
                &["DE"],
                &["music_industry", "mental_health"],
                50,
                "2026-01-01",
                Status::Active,
                "",
            ),
            resource(
                "de-general",
                &["DE"],
                &["mental_health"],
                40,
                "2026-01-01",
                Status::Active,
                "",
            ),
            resource(
                "de-closed",
                &["DE"],
                &["mental_health"],
                45,
                "2026-01-01",
                Status::Inactive,
                "",
            ),
            resource(
                "int-directory",
                &["*"],
                &["directory"],
                10,
                "2026-01-01",
                Status::Active,
                "",
            ),
            resource(
                "fr-crisis",
                &["FR"],
                &["crisis"],
                90,
                "2026-01-01",
                Status::Active,
                "fr-crisis",
            ),
        ]
    }

    fn query(country: Option<&str>, risk: Risk) -> MatchQuery {
        MatchQuery {
            country: country.map(|c| CountryCode::parse(c).unwrap()),
            region: None,
            language: Some(LanguageCode::parse("de").unwrap()),
            topics: vec![],
            risk,
            today: parse_date("2026-11-25").unwrap(),
        }
    }

    fn ids(resources: &[Resource]) -> Vec<&str> {
        resources.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn crisis_lines_first_when_risk_is_raised_and_never_stale_or_unverified() {
        let matched = match_resources(&directory(), &query(Some("DE"), Risk::Crisis));
        assert_eq!(ids(&matched.crisis_lines), ["de-crisis"]);
        assert_eq!(ids(&matched.emergency), ["de-emergency"]);
        assert_eq!(
            ids(&matched.resources),
            [
                "de-crisis",
                "de-emergency",
                "de-music",
                "de-general",
                "int-directory"
            ]
        );
        assert_eq!(matched.stale, ["de-old-crisis"]);
    }

    #[test]
    fn in_a_crisis_a_line_open_around_the_clock_comes_first() {
        let mut directory = directory();
        // The main line is open in the evenings only; a smaller one is open 24/7.
        let main = directory.iter_mut().find(|r| r.id == "de-crisis").unwrap();
        main.contacts[0].hours = "Mon-Sun 16:00-21:00".into();
        main.contacts[0].timezone = "Europe/Berlin".into();
        let mut always = main.clone();
        always.id = "de-always".into();
        always.priority = 80;
        always.contacts[0].hours = "24/7".into();
        always.contacts[0].timezone = String::new();
        directory.push(always);
        let matched = match_resources(&directory, &query(Some("DE"), Risk::Crisis));
        assert_eq!(ids(&matched.crisis_lines), ["de-always", "de-crisis"]);
        // Without a crisis the order is by priority.
        let matched = match_resources(&directory, &query(Some("DE"), Risk::Concern));
        assert_eq!(ids(&matched.crisis_lines), ["de-crisis", "de-always"]);
    }

    #[test]
    fn a_line_for_one_group_is_never_offered_as_the_crisis_line() {
        let mut directory = directory();
        let main = directory
            .iter()
            .find(|r| r.id == "de-crisis")
            .unwrap()
            .clone();
        for (id, audience) in [
            ("de-youth", vec!["youth"]),
            ("de-lgbtq-youth", vec!["lgbtq", "youth"]),
            ("de-crew", vec!["crew"]),
            ("de-youth-and-all", vec!["youth", "everyone"]),
        ] {
            let mut line = main.clone();
            line.id = id.into();
            line.priority = 95;
            line.audience = audience.into_iter().map(String::from).collect();
            directory.push(line);
        }
        let matched = match_resources(&directory, &query(Some("DE"), Risk::Crisis));
        // A crew line is for the people who write to us; one open to everyone stays too.
        assert_eq!(
            ids(&matched.crisis_lines),
            ["de-crew", "de-youth-and-all", "de-crisis"]
        );
        assert!(!ids(&matched.resources).contains(&"de-youth"));
        assert!(!ids(&matched.resources).contains(&"de-lgbtq-youth"));

        // A country whose only verified line is a youth line gets no crisis line at all
        // (the acknowledgement then gives the international directories), never the youth one.
        directory.retain(|r| r.id == "de-youth" || r.id == "de-emergency");
        let matched = match_resources(&directory, &query(Some("DE"), Risk::Crisis));
        assert!(matched.crisis_lines.is_empty());
        assert_eq!(ids(&matched.emergency), ["de-emergency"]);
        assert!(!ids(&matched.resources).contains(&"de-youth"));
    }

    #[test]
    fn without_risk_music_resources_lead() {
        let matched = match_resources(&directory(), &query(Some("DE"), Risk::None));
        assert_eq!(
            ids(&matched.resources),
            ["de-music", "de-general", "int-directory"]
        );
    }

    #[test]
    fn an_unknown_country_gets_international_options_only() {
        let matched = match_resources(&directory(), &query(None, Risk::Crisis));
        assert!(matched.crisis_lines.is_empty() && matched.emergency.is_empty());
        assert_eq!(ids(&matched.resources), ["int-directory"]);
        assert_eq!(ids(&matched.international), ["int-directory"]);
    }
}
