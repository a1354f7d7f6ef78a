//! The compliance report: a verify run plus what an auditor reads first
//! (scores per host and per control family, failing controls ranked by
//! severity), the residency of each host, a section per profile area, and
//! where the data came from. The JSON form follows
//! `schemas/report.schema.json`; HTML and Markdown render the same value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::residency::Residency;
use super::{ControlResult, HostState, VerifyRun};
use crate::controls::firewall::AdmittedFlow;
use crate::controls::{Severity, Status};

pub const REPORT_SCHEMA_ID: &str = "https://rampart.invalid/schemas/report-1.json";

/// Signature namespace of report files (`ssh-keygen -Y verify -n`).
pub const SIGNATURE_NAMESPACE: &str = "rampart-report";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: String,
    /// When the report was written (RFC 3339, UTC).
    pub generated_at: String,
    /// Version of the rampart that wrote the report (the run's own version
    /// is `verify.rampart_version`).
    pub generator: String,
    pub source: Source,
    /// The key the report files are signed with, when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
    pub summary: Summary,
    pub hosts: Vec<HostReport>,
    pub families: Vec<FamilyReport>,
    /// Failing controls, most severe first, each with the hosts it fails on.
    pub failures: Vec<Failure>,
    pub residency: Residency,
    pub areas: Vec<Area>,
    /// The verify run the report is made of (schemas/verify.schema.json).
    pub verify: VerifyRun,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Verified while the report was made.
    Live,
    /// Read from a saved `verify --format json` (or report JSON) file.
    Saved,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    /// The saved file, for `--from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 of the saved file as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The inventory the report read hosts' providers and locations from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryRef>,
}

/// Who signs the report files (`FILE.sig`, SSH signature format).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signing {
    pub namespace: String,
    /// `SHA256:…` of the signing key, as `ssh-keygen -l` shows it.
    pub key_fingerprint: String,
    /// The public key (`type base64`), for an allowed_signers file.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InventoryRef {
    pub path: String,
    pub sha256: String,
    /// False when it is not the inventory the run was verified with.
    pub matches_verify: bool,
}

/// Counts of results by status.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tally {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub waived: usize,
    pub not_applicable: usize,
}

impl Tally {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ControlResult>) -> Tally {
        let mut t = Tally::default();
        for r in results {
            t.add(r.status);
        }
        t
    }

    pub fn add(&mut self, s: Status) {
        match s {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Error => self.error += 1,
            Status::Waived => self.waived += 1,
            Status::NotApplicable => self.not_applicable += 1,
        }
    }

    /// Results that count towards the score.
    pub fn judged(&self) -> usize {
        self.pass + self.fail + self.error
    }

    pub fn total(&self) -> usize {
        self.judged() + self.waived + self.not_applicable
    }

    /// Percentage of judged controls that pass, to one decimal; `None` when
    /// nothing was judged (an unreachable host has no score, not zero).
    pub fn score(&self) -> Option<f64> {
        let judged = self.judged();
        (judged > 0).then(|| (self.pass as f64 * 1000.0 / judged as f64).floor() / 10.0)
    }
}

/// How scores are computed, stated in every report.
pub const SCORE_RULE: &str = "score = passed ÷ (passed + failed + errors); waived and not-applicable controls are listed, not scored";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FleetState {
    Compliant,
    Drift,
    /// At least one host could not be verified.
    Incomplete,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub state: FleetState,
    /// Fleet score in percent (see `score_rule`); absent when nothing was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub score_rule: String,
    pub tally: Tally,
    pub hosts: usize,
    pub hosts_compliant: usize,
    pub hosts_drift: usize,
    pub hosts_unreachable: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostReport {
    pub host: String,
    pub state: HostState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub tally: Tally,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles_not_built: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FamilyReport {
    /// The control ID prefix: SSH, KRN, FS, PKG, LOG, SYS, ACC, …
    pub family: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub tally: Tally,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub hosts: Vec<FailingHost>,
}

/// Hosts on which a control fails the same way (same observed and
/// expected values), for compact listings.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureGroup<'a> {
    pub hosts: Vec<&'a str>,
    pub error: bool,
    /// The observed value, or `error: <reason>`.
    pub observed: String,
    pub expected: &'a str,
}

impl Failure {
    pub fn groups(&self) -> Vec<FailureGroup<'_>> {
        let mut groups: Vec<FailureGroup> = Vec::new();
        for h in &self.hosts {
            let error = h.status == Status::Error;
            let observed = if error {
                format!("error: {}", h.reason.as_deref().unwrap_or_default())
            } else {
                h.observed.clone()
            };
            match groups
                .iter_mut()
                .find(|g| g.error == error && g.observed == observed && g.expected == h.expected)
            {
                Some(g) => g.hosts.push(&h.host),
                None => groups.push(FailureGroup {
                    hosts: vec![&h.host],
                    error,
                    observed,
                    expected: &h.expected,
                }),
            }
        }
        groups
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailingHost {
    pub host: String,
    /// `fail` or `error`.
    pub status: Status,
    pub observed: String,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AreaState {
    /// Controls of the area were judged.
    Judged,
    /// No host of the run has the area's profile.
    NotInRun,
    /// The profile that covers the area is not built in this version.
    NotBuilt,
}

/// One profile area (ssh, kernel, firewall, mesh, disks, proxy).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Area {
    pub area: String,
    pub title: String,
    pub state: AreaState,
    /// What the section shows, or plainly why it has no data.
    pub note: String,
    /// The profile whose results make up the area.
    pub profile: String,
    /// Only this control family of the profile (kernel: KRN of baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub tally: Tally,
    /// Hosts whose roles ask for the area's profile while it is not built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts_declaring: Vec<String>,
    /// Firewall area: what each host's rendered table admits, from the
    /// inventory (FW-02 judges the live table against it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<HostFlows>,
}

impl Area {
    /// Whether a result belongs to the area.
    pub fn covers(&self, r: &ControlResult) -> bool {
        r.profile == self.profile && self.family.as_deref().is_none_or(|f| family_of(&r.id) == f)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostFlows {
    pub host: String,
    pub flows: Vec<AdmittedFlow>,
}

/// A saved run: `verify --format json` output, or a report JSON (whose
/// `verify` member is the run).
pub fn read_run(text: &str) -> Result<VerifyRun, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or_default();
    // serde_path_to_error names the member (`hosts[2].results[0].status`),
    // which serde_json alone does not for a value.
    let run = match schema {
        super::SCHEMA_ID => serde_path_to_error::deserialize::<_, VerifyRun>(value),
        REPORT_SCHEMA_ID => serde_path_to_error::deserialize::<_, Report>(value).map(|r| r.verify),
        other => {
            return Err(format!(
                "schema {other:?} is neither a verify result ({}) nor a report ({REPORT_SCHEMA_ID}); expected the output of `rampart verify --format json` or a report JSON",
                super::SCHEMA_ID
            ))
        }
    };
    run.map_err(|e| {
        format!(
            "member `{}` does not follow the schema: {}; expected the file exactly as `rampart verify --format json` or `rampart report --format json` wrote it",
            e.path(),
            e.inner()
        )
    })
}

/// The family of a control ID: its prefix (`SSH-05` → `SSH`).
pub fn family_of(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

pub fn family_name(family: &str) -> &'static str {
    match family {
        "SSH" => "SSH server",
        "KRN" => "Kernel",
        "FS" => "Files and permissions",
        "PKG" => "Packages and services",
        "LOG" => "Logging and audit",
        "SYS" => "System",
        "ACC" => "Accounts and access",
        "RES" => "Residency",
        "NET" | "FW" => "Firewall",
        "MESH" | "WG" => "Mesh",
        "LUKS" | "DSK" => "Disk encryption",
        "PRX" | "TLS" => "Edge proxy",
        _ => "Other controls",
    }
}

/// Rank of a status among results to show first.
pub fn status_rank(s: Status) -> u8 {
    match s {
        Status::Fail => 0,
        Status::Error => 1,
        Status::Waived => 2,
        Status::NotApplicable => 3,
        Status::Pass => 4,
    }
}

/// Hosts' places (provider, location, country) as the inventory gives them.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub provider: Option<String>,
    pub location: Option<String>,
    pub country: Option<String>,
}

/// What a report is built from besides the run itself.
pub struct Context {
    pub generated_at: String,
    pub source: Source,
    pub signing: Option<Signing>,
    pub residency: Residency,
    /// Profiles this version defines (an area whose profile is not among
    /// them says so).
    pub built_profiles: Vec<String>,
    /// What each firewalled host's table admits, when the inventory is known.
    pub flows: Vec<HostFlows>,
}

/// The profile areas the report has a section for, in order: (area, title,
/// profile, control family within the profile).
const AREAS: &[(&str, &str, &str, Option<&str>)] = &[
    ("ssh", "SSH server", "ssh", None),
    ("kernel", "Kernel", "baseline", Some("KRN")),
    ("firewall", "Firewall flows", "firewall", None),
    ("mesh", "Mesh peers and handshakes", "mesh", None),
    ("disks", "Disks and their encryption", "luks", None),
    ("proxy", "Edge proxy TLS", "proxy", None),
];

/// Builds the report; `run` should already be sanitized.
pub fn build(run: VerifyRun, ctx: Context) -> Report {
    let places: BTreeMap<String, Place> = ctx
        .residency
        .hosts
        .iter()
        .map(|h| {
            (
                h.host.clone(),
                Place {
                    provider: Some(h.provider.clone()),
                    location: h.location.clone(),
                    country: h.country.clone(),
                },
            )
        })
        .collect();
    let hosts: Vec<HostReport> = run
        .hosts
        .iter()
        .map(|h| {
            let tally = Tally::of(run.results.iter().filter(|r| r.host == h.host));
            let place = places.get(&h.host).cloned().unwrap_or_default();
            HostReport {
                host: h.host.clone(),
                state: h.state,
                // An unreachable host has no score, whatever was judged
                // without it (residency).
                score: if h.state == HostState::Unreachable {
                    None
                } else {
                    tally.score()
                },
                tally,
                provider: place.provider,
                location: place.location,
                country: place.country,
                error: h.error.clone(),
                profiles_not_built: h.profiles_not_built.clone(),
            }
        })
        .collect();
    let tally = Tally::of(&run.results);
    let count = |s: HostState| run.hosts.iter().filter(|h| h.state == s).count();
    let summary = Summary {
        state: if count(HostState::Unreachable) > 0 {
            FleetState::Incomplete
        } else if count(HostState::Drift) > 0 {
            FleetState::Drift
        } else {
            FleetState::Compliant
        },
        score: tally.score(),
        score_rule: SCORE_RULE.into(),
        tally,
        hosts: run.hosts.len(),
        hosts_compliant: count(HostState::Compliant),
        hosts_drift: count(HostState::Drift),
        hosts_unreachable: count(HostState::Unreachable),
    };
    let families = families(&run.results);
    let failures = failures(&run.results);
    let areas = areas(&run, &ctx.built_profiles, &ctx.flows);
    Report {
        schema: REPORT_SCHEMA_ID.into(),
        generated_at: ctx.generated_at,
        generator: format!("rampart {}", env!("CARGO_PKG_VERSION")),
        source: ctx.source,
        signing: ctx.signing,
        summary,
        hosts,
        families,
        failures,
        residency: ctx.residency,
        areas,
        verify: run,
    }
}

fn families(results: &[ControlResult]) -> Vec<FamilyReport> {
    // Catalog order: first appearance of each family.
    let mut order: Vec<&str> = Vec::new();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for r in results {
        let f = family_of(&r.id);
        if !order.contains(&f) {
            order.push(f);
        }
        tallies.entry(f).or_default().add(r.status);
    }
    order
        .into_iter()
        .map(|f| {
            let tally = tallies[f];
            FamilyReport {
                family: f.to_string(),
                name: family_name(f).to_string(),
                score: tally.score(),
                tally,
            }
        })
        .collect()
}

fn failures(results: &[ControlResult]) -> Vec<Failure> {
    let mut by_id: BTreeMap<&str, Failure> = BTreeMap::new();
    for r in results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
    {
        by_id
            .entry(&r.id)
            .or_insert_with(|| Failure {
                id: r.id.clone(),
                title: r.title.clone(),
                severity: r.severity,
                hosts: Vec::new(),
            })
            .hosts
            .push(FailingHost {
                host: r.host.clone(),
                status: r.status,
                observed: r.observed.clone(),
                expected: r.expected.clone(),
                reason: r.reason.clone(),
            });
    }
    let mut out: Vec<Failure> = by_id.into_values().collect();
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.hosts.len().cmp(&a.hosts.len()))
            .then(a.id.cmp(&b.id))
    });
    out
}

fn areas(run: &VerifyRun, built: &[String], flows: &[HostFlows]) -> Vec<Area> {
    AREAS
        .iter()
        .map(|(area, title, profile, family)| {
            let results: Vec<&ControlResult> = run
                .results
                .iter()
                .filter(|r| r.profile == *profile && family.is_none_or(|f| family_of(&r.id) == f))
                .collect();
            let hosts_declaring: Vec<String> = run
                .hosts
                .iter()
                .filter(|h| h.profiles_not_built.iter().any(|p| p == profile))
                .map(|h| h.host.clone())
                .collect();
            let judged_hosts = results
                .iter()
                .map(|r| &r.host)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let (state, note) = if !built.iter().any(|b| b == profile) {
                let who = if hosts_declaring.is_empty() {
                    "no host's roles ask for it".to_string()
                } else {
                    format!("declared by {}", hosts_declaring.join(", "))
                };
                (
                    AreaState::NotBuilt,
                    format!(
                        "{profile} profile not built in this version: nothing is applied or judged for this area ({who})"
                    ),
                )
            } else if results.is_empty() {
                (
                    AreaState::NotInRun,
                    format!("no host in this run has the {profile} profile"),
                )
            } else {
                (
                    AreaState::Judged,
                    format!(
                        "{} results on {judged_hosts} host(s), from the {profile} profile",
                        results.len()
                    ),
                )
            };
            Area {
                area: area.to_string(),
                title: title.to_string(),
                state,
                note,
                profile: profile.to_string(),
                family: family.map(str::to_string),
                tally: Tally::of(results.iter().copied()),
                hosts_declaring,
                flows: if *area == "firewall" {
                    flows.to_vec()
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controls::{Evidence, References};
    use crate::report::HostSummary;

    pub fn result(host: &str, id: &str, severity: Severity, status: Status) -> ControlResult {
        ControlResult {
            id: id.into(),
            host: host.into(),
            profile: if id.starts_with("SSH") {
                "ssh".into()
            } else {
                "baseline".into()
            },
            title: format!("title of {id}"),
            severity,
            status,
            observed: "observed".into(),
            expected: "expected".into(),
            reason: None,
            rationale: "because".into(),
            references: References {
                cis: Some("5.1.1".into()),
                anssi: Some("R1".into()),
                bsi: None,
            },
            evidence: Evidence {
                command: "sshd -T".into(),
                excerpt: "permitrootlogin no".into(),
            },
            checked_at: "2026-11-23T18:04:05Z".into(),
        }
    }

    pub fn run() -> VerifyRun {
        use Severity::*;
        use Status::*;
        let results = vec![
            result("a", "SSH-01", High, Pass),
            result("a", "SSH-02", Critical, Fail),
            result("a", "KRN-01", Medium, Pass),
            result("a", "KRN-02", Low, NotApplicable),
            result("b", "SSH-01", High, Pass),
            result("b", "SSH-02", Critical, Fail),
            result("b", "KRN-01", Medium, Error),
            result("b", "KRN-02", Low, Waived),
        ];
        let mut hosts = vec![
            HostSummary::from_results("a", &results[..4], vec![]),
            HostSummary::from_results("b", &results[4..], vec!["firewall".into()]),
        ];
        hosts.push(HostSummary::unreachable("c", "connection refused".into()));
        VerifyRun {
            schema: crate::report::SCHEMA_ID.into(),
            rampart_version: "0.1.0".into(),
            inventory: "inventory.yaml".into(),
            inventory_sha256: "a".repeat(64),
            profiles_sha256: "b".repeat(64),
            started_at: "2026-11-23T18:04:00Z".into(),
            finished_at: "2026-11-23T18:04:09Z".into(),
            hosts,
            results,
        }
    }

    pub fn context() -> Context {
        Context {
            generated_at: "2026-11-23T18:05:00Z".into(),
            source: Source {
                kind: SourceKind::Live,
                path: None,
                sha256: None,
                inventory: None,
            },
            signing: None,
            residency: Residency::unavailable(),
            built_profiles: vec!["baseline".into(), "ssh".into()],
            flows: Vec::new(),
        }
    }

    #[test]
    fn scores_count_judged_controls_only() {
        let r = build(run(), context());
        assert_eq!(r.summary.state, FleetState::Incomplete);
        // 3 pass of 6 judged (2 fail, 1 error); waived and n/a not scored.
        assert_eq!(r.summary.score, Some(50.0));
        assert_eq!(r.hosts[0].score, Some(66.6), "rounded down, never up");
        assert_eq!(r.hosts[2].score, None, "unreachable: no score");
        let ssh = r.families.iter().find(|f| f.family == "SSH").unwrap();
        assert_eq!(ssh.score, Some(50.0));
        assert_eq!(r.families[0].family, "SSH", "catalog order");
    }

    #[test]
    fn failures_are_grouped_by_control_most_severe_first() {
        let r = build(run(), context());
        let ids: Vec<_> = r.failures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["SSH-02", "KRN-01"]);
        assert_eq!(r.failures[0].hosts.len(), 2);
        let groups = r.failures[0].groups();
        assert_eq!(groups.len(), 1, "same observed value: one group");
        assert_eq!(groups[0].hosts, ["a", "b"]);
        assert_eq!(r.failures[1].groups()[0].observed, "error: ");
        assert_eq!(r.failures[1].hosts[0].status, Status::Error);
    }

    #[test]
    fn saved_runs_are_read_from_verify_or_report_json() {
        let verify = serde_json::to_string(&run()).unwrap();
        assert_eq!(read_run(&verify).unwrap(), run());
        let report = serde_json::to_string(&build(run(), context())).unwrap();
        assert_eq!(read_run(&report).unwrap(), run());
        assert!(read_run("{\"schema\": \"x\"}")
            .unwrap_err()
            .contains("neither"));
        assert!(read_run("nope").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn areas_without_a_profile_say_so() {
        let r = build(run(), context());
        let fw = r.areas.iter().find(|a| a.area == "firewall").unwrap();
        assert_eq!(fw.state, AreaState::NotBuilt);
        assert!(fw
            .note
            .contains("firewall profile not built in this version"));
        assert_eq!(fw.hosts_declaring, ["b"]);
        let ssh = r.areas.iter().find(|a| a.area == "ssh").unwrap();
        assert_eq!(ssh.state, AreaState::Judged);
        assert_eq!(ssh.tally.fail, 2);
    }
}
