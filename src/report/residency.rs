//! Where each host runs, for the report's residency section: provider and
//! location from the inventory, the site and country they name (through
//! the providers' location helpers), and the verdict against the
//! inventory's residency policy when there is one.
//!
//! This is the report's own small judgement, kept in one place so it can
//! give way to the inventory's residency module once that lands: a
//! location the tables do not know is "unknown", never "inside".

use serde::{Deserialize, Serialize};

use crate::inventory::{Host, Inventory, Provider};
use crate::providers::{
    country_code, normalise_hcloud_location, normalise_ovh_datacenter, normalise_ovh_region,
    normalise_robot_dc,
};

/// The countries the inventory allows hosts to run in; `None`: no policy.
///
/// The inventory key `residency: {countries: [..]}` is not part of this
/// version's inventory model, so there is never a policy yet.
pub fn policy_of(_inv: &Inventory) -> Option<Vec<String>> {
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The site's country is in the policy.
    Inside,
    /// The site's country is not in the policy.
    Outside,
    /// The location is not one the site tables know: residency unproven.
    UnknownLocation,
    /// The host has no location: residency unproven.
    NoLocation,
    /// There is no policy to judge against.
    NoPolicy,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Inside => "inside",
            Verdict::Outside => "outside",
            Verdict::UnknownLocation => "unknown_location",
            Verdict::NoLocation => "no_location",
            Verdict::NoPolicy => "no_policy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResidency {
    pub host: String,
    pub provider: String,
    /// The location as the inventory writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The normalised site code the location names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// ISO 3166-1 alpha-2 country of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub verdict: Verdict,
}

/// The residency section of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residency {
    /// The policy's countries; absent when the inventory declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Vec<String>>,
    /// False when the report was built without an inventory (`--from`
    /// with no inventory to read): hosts' locations are then unknown.
    pub inventory_available: bool,
    pub hosts: Vec<HostResidency>,
}

impl Residency {
    pub fn unavailable() -> Residency {
        Residency {
            policy: None,
            inventory_available: false,
            hosts: Vec::new(),
        }
    }

    /// One line for the summary: what the section concludes.
    pub fn conclusion(&self) -> String {
        if !self.inventory_available {
            return "not judged: no inventory was available to read hosts' locations".into();
        }
        let Some(policy) = &self.policy else {
            return "no residency policy: the inventory declares no residency countries".into();
        };
        let outside = self.count(Verdict::Outside);
        let unproven = self.count(Verdict::UnknownLocation) + self.count(Verdict::NoLocation);
        match (outside, unproven) {
            (0, 0) => format!(
                "every host runs in a country of the policy ({})",
                policy.join(", ")
            ),
            (o, 0) => format!("{o} host(s) outside the policy ({})", policy.join(", ")),
            (0, u) => format!("{u} host(s) whose residency cannot be proven"),
            (o, u) => format!(
                "{o} host(s) outside the policy ({}), {u} whose residency cannot be proven",
                policy.join(", ")
            ),
        }
    }

    fn count(&self, v: Verdict) -> usize {
        self.hosts.iter().filter(|h| h.verdict == v).count()
    }
}

/// Hetzner's sites in [`country_code`]'s table; every other site there is
/// OVHcloud's. (The providers' unified site table, once it lands, knows
/// each site's provider itself.)
const HETZNER_SITES: &[&str] = &["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];

type Normalise = fn(&str) -> String;
const HETZNER_SPELLINGS: [Normalise; 2] = [normalise_hcloud_location, normalise_robot_dc];
const OVH_SPELLINGS: [Normalise; 2] = [normalise_ovh_datacenter, normalise_ovh_region];

/// The site code and country a provider's location names, if known; a
/// site of the other provider is not a match.
pub fn site_and_country(provider: Provider, location: &str) -> Option<(String, &'static str)> {
    let known = |hetzner: bool, site: &String| {
        HETZNER_SITES.contains(&site.as_str()) == hetzner && country_code(site).is_some()
    };
    let hetzner = || {
        HETZNER_SPELLINGS
            .iter()
            .map(|f| f(location))
            .find(|s| known(true, s))
    };
    let ovh = || {
        OVH_SPELLINGS
            .iter()
            .map(|f| f(location))
            .find(|s| known(false, s))
    };
    let site = match provider {
        Provider::Hetzner => hetzner(),
        Provider::Ovh => ovh(),
        Provider::Other => hetzner().or_else(ovh),
    }?;
    country_code(&site).map(|c| (site, c))
}

/// Residency of `hosts` against `policy` (`None`: no policy).
pub fn judge(policy: Option<Vec<String>>, hosts: &[&Host]) -> Residency {
    let hosts = hosts
        .iter()
        .map(|h| {
            let found = h
                .location
                .as_deref()
                .and_then(|l| site_and_country(h.provider, l));
            let verdict = match (&policy, &h.location, &found) {
                (None, _, _) => Verdict::NoPolicy,
                (Some(_), None, _) => Verdict::NoLocation,
                (Some(_), Some(_), None) => Verdict::UnknownLocation,
                (Some(p), Some(_), Some((_, country))) => {
                    if p.iter().any(|c| c == country) {
                        Verdict::Inside
                    } else {
                        Verdict::Outside
                    }
                }
            };
            HostResidency {
                host: h.name.clone(),
                provider: h.provider.as_str().to_string(),
                location: h.location.clone(),
                site: found.as_ref().map(|(s, _)| s.clone()),
                country: found.map(|(_, c)| c.to_string()),
                verdict,
            }
        })
        .collect();
    Residency {
        policy,
        inventory_available: true,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, provider: Provider, location: Option<&str>) -> Host {
        Host {
            name: name.into(),
            address: "192.0.2.1".into(),
            port: 22,
            provider,
            location: location.map(str::to_string),
            roles: vec![],
            profiles: vec![],
            mesh_address: None,
            disks: vec![],
            vars: Default::default(),
        }
    }

    #[test]
    fn locations_name_countries() {
        assert_eq!(
            site_and_country(Provider::Hetzner, "fsn1"),
            Some(("fsn1".into(), "DE"))
        );
        assert_eq!(
            site_and_country(Provider::Hetzner, "HEL1-DC2"),
            Some(("hel1".into(), "FI"))
        );
        assert_eq!(
            site_and_country(Provider::Ovh, "gra3"),
            Some(("gra".into(), "FR"))
        );
        assert_eq!(
            site_and_country(Provider::Ovh, "EU-WEST-PAR"),
            Some(("par".into(), "FR"))
        );
        assert_eq!(
            site_and_country(Provider::Other, "sbg"),
            Some(("sbg".into(), "FR"))
        );
        // A Hetzner host cannot be in an OVH city.
        assert_eq!(site_and_country(Provider::Hetzner, "gra"), None);
        assert_eq!(site_and_country(Provider::Ovh, "atlantis"), None);
    }

    #[test]
    fn hosts_are_judged_against_the_policy() {
        let hosts = [
            host("a", Provider::Hetzner, Some("fsn1")),
            host("b", Provider::Hetzner, Some("hel1")),
            host("c", Provider::Ovh, Some("atlantis")),
            host("d", Provider::Other, None),
        ];
        let refs: Vec<&Host> = hosts.iter().collect();
        let r = judge(Some(vec!["FR".into(), "DE".into()]), &refs);
        let verdicts: Vec<_> = r.hosts.iter().map(|h| h.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Inside,
                Verdict::Outside,
                Verdict::UnknownLocation,
                Verdict::NoLocation
            ]
        );
        assert_eq!(r.hosts[1].country.as_deref(), Some("FI"));
        assert!(r
            .conclusion()
            .contains("1 host(s) outside the policy (FR, DE)"));
        assert!(r
            .conclusion()
            .contains("2 whose residency cannot be proven"));

        let none = judge(None, &refs);
        assert!(none.hosts.iter().all(|h| h.verdict == Verdict::NoPolicy));
        assert_eq!(none.hosts[0].country.as_deref(), Some("DE"));
        assert!(none.conclusion().starts_with("no residency policy"));
        assert!(Residency::unavailable()
            .conclusion()
            .starts_with("not judged"));
    }
}
