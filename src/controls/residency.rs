//! Residency as verify results: RES-01 (the inventory's locations against
//! the residency policy, judged without connecting, so unreachable hosts
//! are judged too) and RES-02 (the inventory's locations against what the
//! providers report, when their credentials are present). The controls
//! themselves are the `residency` profile's (`profiles/residency.yaml`).

use super::context::HostCtx;
use super::custom::CustomCheck;
use super::outcome::{Evidence, Outcome, Status};
use super::result::ControlResult;
use super::{CatalogError, Control, Profile};
use crate::inventory::residency::{self, HostResidency};
use crate::inventory::{Host, Inventory};
use crate::providers::live::{LiveLocation, LiveStatus, RES_02};

/// The profile that holds RES-01 and RES-02.
pub const PROFILE: &str = "residency";

/// This area's custom checks (see `custom.rs`). They name the profile's
/// controls in the registry; `verify` judges them for every host from the
/// inventory and the providers, never from a host's facts.
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::judged("residency_policy", not_from_facts),
    CustomCheck::judged("residency_provider", not_from_facts),
];

fn not_from_facts(_: &HostCtx) -> Outcome {
    Outcome::not_applicable(
        "not applicable: residency is judged for every host by verify, from the inventory and the providers, not from a host's facts",
        "",
    )
}

/// How each residency control is judged, for its evidence.
const RES01_COMMAND: &str = "inventory: provider + location → site table";
const RES02_COMMAND: &str = "provider API: server location";

/// RES-01 and RES-02 as the catalog defines them, rationale rendered with
/// the inventory's policy. An inventory's `profiles_dir` without the
/// residency profile gets the built-in one.
pub struct Residency {
    res01: Judged,
    res02: Judged,
}

/// One residency control and how it is judged.
struct Judged {
    control: Control,
    command: &'static str,
}

impl Residency {
    pub fn new(profiles: &[Profile], inv: &Inventory) -> Result<Residency, CatalogError> {
        let builtin;
        let profile = match profiles.iter().find(|p| p.profile == PROFILE) {
            Some(p) => p,
            None => {
                builtin = super::builtin_profiles()?;
                builtin
                    .iter()
                    .find(|p| p.profile == PROFILE)
                    .ok_or_else(|| CatalogError::Missing(PROFILE.into()))?
            }
        };
        let control = |id: &str, command: &'static str| {
            let mut c = profile
                .controls
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(|| CatalogError::Invalid {
                    file: format!("{PROFILE}.yaml"),
                    message: format!("no control {id}"),
                })?;
            c.rationale = render_rationale(&c.rationale, inv)?;
            Ok::<_, CatalogError>(Judged {
                control: c,
                command,
            })
        };
        Ok(Residency {
            res01: control(residency::RES_01, RES01_COMMAND)?,
            res02: control(RES_02, RES02_COMMAND)?,
        })
    }
}

/// `{{ countries }}`: the policy's countries, or that there is none.
fn render_rationale(text: &str, inv: &Inventory) -> Result<String, CatalogError> {
    let countries = match &inv.residency {
        Some(c) => c.join(", "),
        None => "none set in the inventory".into(),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("countries", &countries);
    tera::Tera::one_off(text, &ctx, false)
        .map(|r| r.trim().to_string())
        .map_err(|e| CatalogError::Invalid {
            file: format!("{PROFILE}.yaml"),
            message: format!("rationale: {e}"),
        })
}

fn result(
    judged: &Judged,
    host: &str,
    status: Status,
    observed: String,
    expected: String,
    reason: Option<String>,
    checked_at: &str,
) -> ControlResult {
    let Judged { control, command } = judged;
    ControlResult {
        id: control.id.clone(),
        host: host.to_string(),
        profile: PROFILE.into(),
        title: control.title.clone(),
        severity: control.severity,
        status,
        observed: observed.clone(),
        expected,
        reason,
        rationale: control.rationale.clone(),
        references: control.refs.clone(),
        evidence: Evidence {
            command: command.to_string(),
            excerpt: observed,
        },
        checked_at: checked_at.into(),
    }
}

/// RES-01 for every selected host; empty when the inventory has no policy.
pub fn res01(
    r: &Residency,
    inv: &Inventory,
    hosts: &[&Host],
    checked_at: &str,
) -> Vec<ControlResult> {
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
                &r.res01,
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
pub fn res02(r: &Residency, live: &[LiveLocation], checked_at: &str) -> Vec<ControlResult> {
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
                &r.res02,
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
pub fn res02_error(
    r: &Residency,
    hosts: &[&Host],
    error: &str,
    checked_at: &str,
) -> Vec<ControlResult> {
    hosts
        .iter()
        .map(|h| {
            result(
                &r.res02,
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
