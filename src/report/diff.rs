//! `rampart report --diff OLD.json NEW.json`: what changed between two runs
//! (verify or report JSON): hosts added and removed, controls whose status
//! changed per host, and score deltas for the fleet, hosts and families.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use super::document::{family_name, family_of, Tally};
use super::{ControlResult, HostState, VerifyRun};
use crate::controls::{Severity, Status};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunDiff {
    pub old: RunRef,
    pub new: RunRef,
    pub hosts_added: Vec<String>,
    pub hosts_removed: Vec<String>,
    pub score: ScoreDelta,
    pub hosts: Vec<HostDiff>,
    pub families: Vec<FamilyDelta>,
}

/// What identifies a run, so a reader sees whether the inputs changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRef {
    pub started_at: String,
    pub rampart_version: String,
    pub inventory_sha256: String,
    pub profiles_sha256: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ScoreDelta {
    pub old: Option<f64>,
    pub new: Option<f64>,
}

impl ScoreDelta {
    pub fn delta(&self) -> Option<f64> {
        Some(((self.new? - self.old?) * 10.0).round() / 10.0)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostDiff {
    pub host: String,
    pub state_old: HostState,
    pub state_new: HostState,
    pub score: ScoreDelta,
    /// Controls whose status changed, most severe first.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// Absent: the control was not judged in that run (catalog changed).
    pub old: Option<Status>,
    pub new: Option<Status>,
    /// `regression`, `fixed` or `changed`.
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Regression,
    Fixed,
    Changed,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FamilyDelta {
    pub family: String,
    pub name: String,
    pub score: ScoreDelta,
}

impl RunDiff {
    pub fn is_empty(&self) -> bool {
        self.hosts_added.is_empty()
            && self.hosts_removed.is_empty()
            && self
                .hosts
                .iter()
                .all(|h| h.changes.is_empty() && h.state_old == h.state_new)
    }

    pub fn regressions(&self) -> usize {
        self.count(ChangeKind::Regression)
    }

    pub fn fixes(&self) -> usize {
        self.count(ChangeKind::Fixed)
    }

    fn count(&self, kind: ChangeKind) -> usize {
        self.hosts
            .iter()
            .flat_map(|h| &h.changes)
            .filter(|c| c.kind == kind)
            .count()
    }
}

fn run_ref(run: &VerifyRun) -> RunRef {
    RunRef {
        started_at: run.started_at.clone(),
        rampart_version: run.rampart_version.clone(),
        inventory_sha256: run.inventory_sha256.clone(),
        profiles_sha256: run.profiles_sha256.clone(),
    }
}

fn bad(s: Option<Status>) -> bool {
    matches!(s, Some(Status::Fail | Status::Error))
}

fn kind(old: Option<Status>, new: Option<Status>) -> ChangeKind {
    match (bad(old), bad(new)) {
        (false, true) => ChangeKind::Regression,
        (true, false) if new.is_some() => ChangeKind::Fixed,
        _ => ChangeKind::Changed,
    }
}

fn by_id<'a>(run: &'a VerifyRun, host: &str) -> BTreeMap<&'a str, &'a ControlResult> {
    run.results
        .iter()
        .filter(|r| r.host == host)
        .map(|r| (r.id.as_str(), r))
        .collect()
}

pub fn diff(old: &VerifyRun, new: &VerifyRun) -> RunDiff {
    let names =
        |r: &VerifyRun| -> BTreeSet<String> { r.hosts.iter().map(|h| h.host.clone()).collect() };
    let (old_hosts, new_hosts) = (names(old), names(new));
    let mut hosts = Vec::new();
    for h in new.hosts.iter().filter(|h| old_hosts.contains(&h.host)) {
        let before = old.hosts.iter().find(|o| o.host == h.host).map(|o| o.state);
        let (o, n) = (by_id(old, &h.host), by_id(new, &h.host));
        let mut changes: Vec<Change> = o
            .keys()
            .chain(n.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|id| {
                let (a, b) = (o.get(id), n.get(id));
                let (sa, sb) = (a.map(|r| r.status), b.map(|r| r.status));
                if sa == sb {
                    return None;
                }
                let r = b.or(a)?;
                Some(Change {
                    id: id.to_string(),
                    title: r.title.clone(),
                    severity: r.severity,
                    old: sa,
                    new: sb,
                    kind: kind(sa, sb),
                })
            })
            .collect();
        changes.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        hosts.push(HostDiff {
            host: h.host.clone(),
            state_old: before.unwrap_or(h.state),
            state_new: h.state,
            score: ScoreDelta {
                old: Tally::of(o.values().copied()).score(),
                new: Tally::of(n.values().copied()).score(),
            },
            changes,
        });
    }
    let mut families: Vec<String> = Vec::new();
    for r in old.results.iter().chain(&new.results) {
        let f = family_of(&r.id).to_string();
        if !families.contains(&f) {
            families.push(f);
        }
    }
    let family_score = |run: &VerifyRun, f: &str| {
        Tally::of(run.results.iter().filter(|r| family_of(&r.id) == f)).score()
    };
    RunDiff {
        old: run_ref(old),
        new: run_ref(new),
        hosts_added: new_hosts.difference(&old_hosts).cloned().collect(),
        hosts_removed: old_hosts.difference(&new_hosts).cloned().collect(),
        score: ScoreDelta {
            old: Tally::of(&old.results).score(),
            new: Tally::of(&new.results).score(),
        },
        hosts,
        families: families
            .into_iter()
            .map(|f| FamilyDelta {
                name: family_name(&f).to_string(),
                score: ScoreDelta {
                    old: family_score(old, &f),
                    new: family_score(new, &f),
                },
                family: f,
            })
            .collect(),
    }
}

fn pct(s: Option<f64>) -> String {
    s.map_or("—".into(), |v| format!("{v:.1} %"))
}

fn delta(d: &ScoreDelta) -> String {
    match d.delta() {
        Some(0.0) => format!("{} (=)", pct(d.new)),
        Some(x) => format!("{} → {} ({x:+.1})", pct(d.old), pct(d.new)),
        None => format!("{} → {}", pct(d.old), pct(d.new)),
    }
}

fn status(s: Option<Status>) -> &'static str {
    s.map_or("absent", Status::as_str)
}

fn state(s: HostState) -> &'static str {
    match s {
        HostState::Compliant => "compliant",
        HostState::Drift => "drift",
        HostState::Unreachable => "unreachable",
    }
}

/// The diff for people (also what the Markdown wraps).
pub fn render_text(d: &RunDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "old: run of {} (rampart {})",
        d.old.started_at, d.old.rampart_version
    );
    let _ = writeln!(
        out,
        "new: run of {} (rampart {})",
        d.new.started_at, d.new.rampart_version
    );
    if d.old.inventory_sha256 != d.new.inventory_sha256 {
        let _ = writeln!(
            out,
            "inventory changed: {} → {}",
            short(&d.old.inventory_sha256),
            short(&d.new.inventory_sha256)
        );
    }
    if d.old.profiles_sha256 != d.new.profiles_sha256 {
        let _ = writeln!(
            out,
            "profiles changed: {} → {}",
            short(&d.old.profiles_sha256),
            short(&d.new.profiles_sha256)
        );
    }
    let _ = writeln!(out, "fleet score: {}", delta(&d.score));
    let _ = writeln!(
        out,
        "{} regression(s), {} fixed",
        d.regressions(),
        d.fixes()
    );
    for h in &d.hosts_added {
        let _ = writeln!(out, "host added: {h}");
    }
    for h in &d.hosts_removed {
        let _ = writeln!(out, "host removed: {h}");
    }
    for h in &d.hosts {
        let st = if h.state_old == h.state_new {
            state(h.state_new).to_string()
        } else {
            format!("{} → {}", state(h.state_old), state(h.state_new))
        };
        let _ = writeln!(out, "\n{} — {st}; score {}", h.host, delta(&h.score));
        if h.changes.is_empty() {
            let _ = writeln!(out, "  no control changed status");
        }
        for c in &h.changes {
            let mark = match c.kind {
                ChangeKind::Regression => "-",
                ChangeKind::Fixed => "+",
                ChangeKind::Changed => "~",
            };
            let _ = writeln!(
                out,
                "  {mark} {:<7} {:<10} {} → {}  {}",
                c.id,
                format!("[{}]", severity(c.severity)),
                status(c.old),
                status(c.new),
                c.title
            );
        }
    }
    let changed: Vec<_> = d
        .families
        .iter()
        .filter(|f| f.score.delta() != Some(0.0))
        .collect();
    if !changed.is_empty() {
        let _ = writeln!(out, "\nfamilies:");
        for f in changed {
            let _ = writeln!(out, "  {:<4} {:<28} {}", f.family, f.name, delta(&f.score));
        }
    }
    if d.is_empty() {
        let _ = writeln!(out, "\nno differences in hosts or control statuses");
    }
    out
}

/// The diff for a pull-request comment.
pub fn render_markdown(d: &RunDiff) -> String {
    format!(
        "### rampart: changes between two runs\n\n**Fleet score:** {} · {} regression(s), {} fixed\n\n```diff\n{}```\n",
        delta(&d.score),
        d.regressions(),
        d.fixes(),
        render_text(d)
    )
}

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::tests::{result, run};
    use crate::report::HostSummary;

    #[test]
    fn changes_hosts_and_scores() {
        let old = run();
        let mut new = run();
        // b: SSH-02 fixed, KRN-01 error -> pass; a: KRN-01 regresses.
        for r in &mut new.results {
            match (r.host.as_str(), r.id.as_str()) {
                ("b", "SSH-02") | ("b", "KRN-01") => r.status = Status::Pass,
                ("a", "KRN-01") => r.status = Status::Fail,
                _ => {}
            }
        }
        new.hosts.retain(|h| h.host != "c");
        new.results
            .push(result("d", "SSH-01", Severity::High, Status::Pass));
        new.hosts
            .push(HostSummary::from_results("d", &new.results[8..], vec![]));
        let d = diff(&old, &new);
        assert_eq!(d.hosts_added, ["d"]);
        assert_eq!(d.hosts_removed, ["c"]);
        let b = d.hosts.iter().find(|h| h.host == "b").unwrap();
        assert_eq!(b.changes.len(), 2);
        assert_eq!(b.changes[0].id, "SSH-02", "most severe first");
        assert_eq!(b.changes[0].kind, ChangeKind::Fixed);
        assert_eq!(b.score.old, Some(33.3));
        assert_eq!(b.score.new, Some(100.0));
        assert_eq!(d.regressions(), 1);
        assert_eq!(d.fixes(), 2);
        let text = render_text(&d);
        assert!(text.contains("host added: d"), "{text}");
        assert!(text.contains("host removed: c"), "{text}");
        assert!(text.contains("+ SSH-02  [critical] fail → pass"), "{text}");
        assert!(text.contains("- KRN-01  [medium]   pass → fail"), "{text}");
        assert!(!d.is_empty());
        assert!(diff(&old, &old).is_empty());
        assert!(render_text(&diff(&old, &old)).contains("no differences"));
    }
}
