//! Data residency (control RES-01), judged from the inventory alone.
//!
//! The inventory may declare `residency: {countries: [FR, DE]}`. Each host's
//! `provider` + `location` names a site in the one site table
//! ([`crate::sites::SITES`]), and the site's country must be one of the
//! policy's. The judgement never connects anywhere:
//!
//! * a host in a listed country passes;
//! * a host in another country fails RES-01 (drift: the file is valid, the
//!   fleet is not compliant);
//! * a location the table does not know, or a host with no location, is an
//!   *input* error under a policy, because residency cannot be proven. Those
//!   are reported by inventory validation with file:line:column, so a
//!   loaded [`Inventory`] with a policy has a known site for every host.
//!
//! Later code (verify, report) calls [`judge`] for the whole fleet, and
//! [`check_location`] for one location (provision refuses to create a
//! server outside the policy before any API call).

use std::fmt;

use serde::Serialize;

use super::model::Provider;
use super::{Host, Inventory};
use crate::sites::{resolve_site, ProviderKind, Site, SITES};

/// The control id of "every host runs in a country of the residency policy".
pub const RES_01: &str = "RES-01";

/// The provider an inventory host names, as the site table knows them.
pub fn provider_kind(provider: Provider) -> Option<ProviderKind> {
    match provider {
        Provider::Hetzner => Some(ProviderKind::Hetzner),
        Provider::Ovh => Some(ProviderKind::Ovh),
        Provider::Other => None,
    }
}

/// The site an inventory location names. For `provider: other` any
/// provider's site is accepted (Hetzner first), since the host may run at
/// either without rampart managing it through their API.
pub fn site_of(provider: Provider, location: &str) -> Option<&'static Site> {
    match provider_kind(provider) {
        Some(kind) => resolve_site(kind, location),
        None => resolve_site(ProviderKind::Hetzner, location)
            .or_else(|| resolve_site(ProviderKind::Ovh, location)),
    }
}

/// The site codes accepted for a provider, for "expected one of" messages.
pub fn known_codes(provider: Provider) -> String {
    let kind = provider_kind(provider);
    let mut codes: Vec<&str> = Vec::new();
    for site in SITES
        .iter()
        .filter(|s| kind.is_none_or(|k| s.provider == k))
    {
        if !codes.contains(&site.code) {
            codes.push(site.code);
        }
    }
    codes.join(", ")
}

/// What RES-01 says about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// The site's country is in the policy.
    Inside {
        site: &'static str,
        city: &'static str,
        country: &'static str,
    },
    /// The site's country is not in the policy.
    Outside {
        site: &'static str,
        city: &'static str,
        country: &'static str,
    },
    /// The host has no location: residency cannot be proven.
    NoLocation,
    /// The location is not in the site table: residency cannot be proven.
    UnknownLocation,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Inside { .. })
    }
}

/// RES-01 for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostResidency {
    pub host: String,
    pub provider: Provider,
    /// The location as the inventory writes it.
    pub location: Option<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl fmt::Display for HostResidency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = self.location.as_deref().unwrap_or("-");
        match &self.verdict {
            Verdict::Inside { city, country, .. } => write!(
                f,
                "{}: location {location} ({city}) is in {country}",
                self.host
            ),
            Verdict::Outside { city, country, .. } => write!(
                f,
                "{}: location {location} ({city}) is in {country}, outside the residency policy",
                self.host
            ),
            Verdict::NoLocation => write!(
                f,
                "{}: no location, so residency cannot be proven",
                self.host
            ),
            Verdict::UnknownLocation => write!(
                f,
                "{}: location {location} is unknown for provider {}, so residency cannot be proven",
                self.host,
                self.provider.as_str()
            ),
        }
    }
}

/// RES-01 for a set of hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidencyReport {
    /// The policy's countries; `None` when the inventory declares none.
    pub countries: Option<Vec<String>>,
    pub hosts: Vec<HostResidency>,
}

impl ResidencyReport {
    /// Hosts that do not pass (outside, or not provable).
    pub fn failures(&self) -> impl Iterator<Item = &HostResidency> {
        self.hosts.iter().filter(|h| !h.verdict.passed())
    }

    /// True when there is a policy and every host passes it.
    pub fn compliant(&self) -> bool {
        self.countries.is_none() || self.failures().next().is_none()
    }

    /// `[DE, FR]`, or `none`.
    pub fn policy_text(&self) -> String {
        match &self.countries {
            Some(c) => format!("[{}]", c.join(", ")),
            None => "none".to_string(),
        }
    }
}

/// Judges one location against a policy: the verdict RES-01 would give a
/// host there.
pub fn check_location(countries: &[String], provider: Provider, location: &str) -> Verdict {
    match site_of(provider, location) {
        None => Verdict::UnknownLocation,
        Some(site) if countries.iter().any(|c| c == site.country) => Verdict::Inside {
            site: site.code,
            city: site.city,
            country: site.country,
        },
        Some(site) => Verdict::Outside {
            site: site.code,
            city: site.city,
            country: site.country,
        },
    }
}

/// RES-01 for `hosts` of `inv`. With no policy, the report has no host
/// entries and [`ResidencyReport::compliant`] is true.
pub fn judge(inv: &Inventory, hosts: &[&Host]) -> ResidencyReport {
    let Some(countries) = &inv.residency else {
        return ResidencyReport {
            countries: None,
            hosts: Vec::new(),
        };
    };
    let hosts = hosts
        .iter()
        .map(|h| HostResidency {
            host: h.name.clone(),
            provider: h.provider,
            location: h.location.clone(),
            verdict: match &h.location {
                None => Verdict::NoLocation,
                Some(loc) => check_location(countries, h.provider, loc),
            },
        })
        .collect();
    ResidencyReport {
        countries: Some(countries.clone()),
        hosts,
    }
}

/// ISO 3166-1 alpha-2 codes officially assigned (249).
pub const ISO_3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Why a residency country code is refused, or `None` when it is valid.
pub fn country_error(code: &str) -> Option<String> {
    if ISO_3166_ALPHA2.contains(&code) {
        return None;
    }
    let hint = match code.to_ascii_uppercase().as_str() {
        "UK" => " (the United Kingdom is GB)".to_string(),
        "EU" => " (EU is not a country: list the member states, e.g. [DE, FR])".to_string(),
        upper if ISO_3166_ALPHA2.contains(&upper) => format!(" (write it in upper case: {upper})"),
        _ => String::new(),
    };
    Some(format!(
        "{code:?} is not an ISO 3166-1 alpha-2 country code{hint}; expected two upper-case letters such as DE or FR"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Vec<String> {
        vec!["FR".into(), "DE".into()]
    }

    #[test]
    fn the_country_list_is_complete_sorted_and_unique() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert!(ISO_3166_ALPHA2.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn country_codes_are_validated() {
        assert_eq!(country_error("DE"), None);
        assert!(country_error("UK").is_some_and(|m| m.contains("GB")));
        assert!(country_error("de").is_some_and(|m| m.contains("upper case: DE")));
        assert!(country_error("EU").is_some());
        assert!(country_error("XX").is_some());
    }

    #[test]
    fn fsn1_passes_and_hel1_fails() {
        assert!(check_location(&policy(), Provider::Hetzner, "fsn1").passed());
        assert!(matches!(
            check_location(&policy(), Provider::Hetzner, "hel1"),
            Verdict::Outside { country: "FI", .. }
        ));
        assert_eq!(
            check_location(&policy(), Provider::Hetzner, "atlantis"),
            Verdict::UnknownLocation
        );
        // A location of the other provider is unknown, not a pass.
        assert_eq!(
            check_location(&policy(), Provider::Hetzner, "gra"),
            Verdict::UnknownLocation
        );
        assert!(check_location(&policy(), Provider::Other, "gra").passed());
    }
}
