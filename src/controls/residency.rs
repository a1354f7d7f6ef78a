//! Residency as verify results: RES-01 (the inventory's locations against
//! the residency policy, judged without connecting, so unreachable hosts
//! are judged too) and RES-02 (the inventory's locations against what the
//! providers report, when their credentials are present).

use super::outcome::{Evidence, Status};
use super::{References, Severity};
use crate::inventory::residency::{self, HostResidency};
use crate::inventory::{Host, Inventory};
use crate::providers::live::{LiveLocation, LiveStatus};
use crate::report::ControlResult;

/// What identifies a residency control in results.
struct Meta {
    id: &'static str,
    title: &'static str,
    command: &'static str,
}

const RES01: Meta = Meta {
    id: residency::RES_01,
    title: "The host is located in a country of the residency policy",
    command: "inventory: provider + location → site table",
};

const RES02: Meta = Meta {
    id: "RES-02",
    title: "The inventory's location matches the provider's",
    command: "provider API: server location",
};

fn result(
    meta: &Meta,
    host: &str,
    status: Status,
    observed: String,
    expected: String,
    reason: Option<String>,
    checked_at: &str,
) -> ControlResult {
    ControlResult {
        id: meta.id.to_string(),
        host: host.to_string(),
        profile: "residency".into(),
        title: meta.title.into(),
        severity: Severity::High,
        status,
        observed: observed.clone(),
        expected,
        reason,
        rationale: "Customer data must stay in the countries the contract names (France or Germany); a host elsewhere breaks that promise whatever its hardening.".into(),
        references: References::default(),
        evidence: Evidence { command: meta.command.into(), excerpt: observed },
        checked_at: checked_at.into(),
    }
}

/// RES-01 for every selected host; empty when the inventory has no policy.
pub fn res01(inv: &Inventory, hosts: &[&Host], checked_at: &str) -> Vec<ControlResult> {
    let report = residency::judge(inv, hosts);
    let expected = format!("location in one of {}", report.policy_text());
    report
        .hosts
        .iter()
        .map(|h: &HostResidency| {
            let status = if h.verdict.passed() {
                Status::Pass
            } else {
                Status::Fail
            };
            result(
                &RES01,
                &h.host,
                status,
                h.to_string(),
                expected.clone(),
                None,
                checked_at,
            )
        })
        .collect()
}

/// RES-02 from the providers' answer.
pub fn res02(live: &[LiveLocation], checked_at: &str) -> Vec<ControlResult> {
    live.iter()
        .map(|l| {
            let (status, reason) = match &l.status {
                LiveStatus::NotChecked { reason } => (
                    Status::NotApplicable,
                    Some(format!("not applicable: {reason}")),
                ),
                _ if l.failed() => (Status::Fail, None),
                _ => (Status::Pass, None),
            };
            let expected = format!(
                "the provider reports location {}",
                l.inventory_location.as_deref().unwrap_or("(none)")
            );
            result(
                &RES02,
                &l.host,
                status,
                l.to_string(),
                expected,
                reason,
                checked_at,
            )
        })
        .collect()
}

/// RES-02 when the provider could not be asked: an error for every host.
pub fn res02_error(hosts: &[&Host], error: &str, checked_at: &str) -> Vec<ControlResult> {
    hosts
        .iter()
        .map(|h| {
            result(
                &RES02,
                &h.name,
                Status::Error,
                String::new(),
                "the provider reports the inventory's location".into(),
                Some(error.to_string()),
                checked_at,
            )
        })
        .collect()
}
