//! Where each host runs, for the report's residency section: provider and
//! location from the inventory, the site, city and country they name, and
//! the verdict of the inventory's residency judgement (RES-01,
//! [`crate::inventory::residency`]) when the inventory declares a policy.
//! Without a policy the places are still shown, with no verdict.

use serde::{Deserialize, Serialize};

use crate::inventory::residency as policy;
use crate::inventory::{Host, Inventory};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
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

/// Residency of `hosts`: places from the inventory's site table, verdicts
/// from its residency judgement (none without a policy).
pub fn judge(inv: &Inventory, hosts: &[&Host]) -> Residency {
    let judged = policy::judge(inv, hosts);
    let hosts = hosts
        .iter()
        .map(|h| {
            let site = h
                .location
                .as_deref()
                .and_then(|l| policy::site_of(h.provider, l));
            let verdict = match judged
                .hosts
                .iter()
                .find(|j| j.host == h.name)
                .map(|j| &j.verdict)
            {
                None => Verdict::NoPolicy,
                Some(policy::Verdict::Inside { .. }) => Verdict::Inside,
                Some(policy::Verdict::Outside { .. }) => Verdict::Outside,
                Some(policy::Verdict::NoLocation) => Verdict::NoLocation,
                Some(policy::Verdict::UnknownLocation) => Verdict::UnknownLocation,
            };
            HostResidency {
                host: h.name.clone(),
                provider: h.provider.as_str().to_string(),
                location: h.location.clone(),
                site: site.map(|s| s.code.to_string()),
                city: site.map(|s| s.city.to_string()),
                country: site.map(|s| s.country.to_string()),
                verdict,
            }
        })
        .collect();
    Residency {
        policy: judged.countries,
        inventory_available: true,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory(residency: &str) -> Inventory {
        let text = format!(
            "{residency}hosts:\n  a: {{address: 192.0.2.1, provider: hetzner, location: fsn1, roles: [base]}}\n  b: {{address: 192.0.2.2, provider: hetzner, location: hel1, roles: [base]}}\n  c: {{address: 192.0.2.3, provider: ovh, location: gra3, roles: [base]}}\n"
        );
        Inventory::parse(Path::new("inventory.yaml"), &text).expect("valid inventory")
    }

    #[test]
    fn hosts_are_judged_against_the_policy() {
        let inv = inventory("residency: {countries: [FR, DE]}\n");
        let hosts: Vec<&Host> = inv.hosts.iter().collect();
        let r = judge(&inv, &hosts);
        let verdicts: Vec<_> = r.hosts.iter().map(|h| h.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::Inside, Verdict::Outside, Verdict::Inside]
        );
        assert_eq!(r.hosts[1].country.as_deref(), Some("FI"));
        assert_eq!(r.hosts[2].site.as_deref(), Some("gra"));
        assert_eq!(r.policy, Some(vec!["FR".to_string(), "DE".to_string()]));
        assert_eq!(r.conclusion(), "1 host(s) outside the policy (FR, DE)");
    }

    #[test]
    fn without_a_policy_places_are_shown_and_not_judged() {
        let inv = inventory("");
        let hosts: Vec<&Host> = inv.hosts.iter().collect();
        let r = judge(&inv, &hosts);
        assert!(r.hosts.iter().all(|h| h.verdict == Verdict::NoPolicy));
        assert_eq!(r.hosts[0].country.as_deref(), Some("DE"));
        assert!(r.hosts[0].city.is_some());
        assert!(r.conclusion().starts_with("no residency policy"));
        assert!(Residency::unavailable()
            .conclusion()
            .starts_with("not judged"));
    }
}
