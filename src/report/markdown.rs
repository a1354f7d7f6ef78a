//! The report as Markdown, sized for a pull-request comment: the headline,
//! hosts, failing controls (bounded), families, residency, areas and the
//! run's identity. Evidence stays in the HTML and JSON reports.

use std::fmt::Write;

use super::diff::severity;
use super::document::{AreaState, FleetState, Report};
use super::residency::Verdict;
use super::HostState;

/// Failure rows listed before "and N more" (GitHub comments stop at
/// 65,536 characters).
pub const MAX_FAILURES: usize = 40;
/// Hosts named per failure row.
const HOSTS_PER_ROW: usize = 8;

/// A table cell: one line, no pipes, bounded.
fn cell(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let bounded = super::redact::bound(&one_line, 120).replace('\n', " ");
    bounded.replace('|', "\\|")
}

fn code(s: &str) -> String {
    let c = cell(s).replace('`', "'");
    if c.is_empty() {
        "—".into()
    } else {
        format!("`{c}`")
    }
}

pub fn pct(s: Option<f64>) -> String {
    s.map_or("—".into(), |v| format!("{v:.1} %"))
}

pub fn fleet_state(s: FleetState) -> &'static str {
    match s {
        FleetState::Compliant => "COMPLIANT",
        FleetState::Drift => "DRIFT",
        FleetState::Incomplete => "INCOMPLETE",
    }
}

pub fn host_state(s: HostState) -> &'static str {
    match s {
        HostState::Compliant => "compliant",
        HostState::Drift => "drift",
        HostState::Unreachable => "unreachable",
    }
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let _ = writeln!(
        o,
        "## rampart compliance report — {}\n",
        fleet_state(s.state)
    );
    let _ = writeln!(
        o,
        "**Fleet score: {}** — {} passed, {} failed, {} errors; {} waived, {} not applicable  ",
        pct(s.score),
        s.tally.pass,
        s.tally.fail,
        s.tally.error,
        s.tally.waived,
        s.tally.not_applicable
    );
    let _ = writeln!(
        o,
        "{} hosts: {} compliant, {} drift, {} unreachable · verified {} · {}\n",
        s.hosts,
        s.hosts_compliant,
        s.hosts_drift,
        s.hosts_unreachable,
        r.verify.started_at,
        cell(&s.score_rule)
    );

    let _ = writeln!(o, "| host | state | score | passed | failed | errors | waived | n/a | provider | location | country |");
    let _ = writeln!(o, "|---|---|--:|--:|--:|--:|--:|--:|---|---|---|");
    for h in &r.hosts {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&h.host),
            host_state(h.state),
            pct(h.score),
            h.tally.pass,
            h.tally.fail,
            h.tally.error,
            h.tally.waived,
            h.tally.not_applicable,
            cell(h.provider.as_deref().unwrap_or("—")),
            cell(h.location.as_deref().unwrap_or("—")),
            cell(h.country.as_deref().unwrap_or("—")),
        );
    }
    for h in r.hosts.iter().filter(|h| h.error.is_some()) {
        let _ = writeln!(
            o,
            "\n> **{}** could not be verified: {}",
            cell(&h.host),
            cell(h.error.as_deref().unwrap_or_default())
        );
    }

    let _ = writeln!(o, "\n### Failing controls, most severe first\n");
    if r.failures.is_empty() {
        let _ = writeln!(o, "No control fails on any verified host.");
    } else {
        let _ = writeln!(o, "| severity | control | host | observed | expected |");
        let _ = writeln!(o, "|---|---|---|---|---|");
        let mut rows = 0;
        let mut listed = 0;
        'failures: for f in &r.failures {
            for g in f.groups() {
                if rows == MAX_FAILURES {
                    break 'failures;
                }
                rows += 1;
                listed += g.hosts.len();
                let mut hosts = g
                    .hosts
                    .iter()
                    .take(HOSTS_PER_ROW)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ");
                if g.hosts.len() > HOSTS_PER_ROW {
                    hosts.push_str(&format!(" and {} more", g.hosts.len() - HOSTS_PER_ROW));
                }
                let _ = writeln!(
                    o,
                    "| {} | **{}** {} | {} | {} | {} |",
                    severity(f.severity),
                    cell(&f.id),
                    cell(&f.title),
                    cell(&hosts),
                    code(&g.observed),
                    code(g.expected)
                );
            }
        }
        let total: usize = r.failures.iter().map(|f| f.hosts.len()).sum();
        if total > listed {
            let _ = writeln!(
                o,
                "\n…and {} more failing results: see the HTML or JSON report.",
                total - listed
            );
        }
    }

    let _ = writeln!(o, "\n### Control families\n");
    let _ = writeln!(
        o,
        "| family | score | passed | failed | errors | waived | n/a |"
    );
    let _ = writeln!(o, "|---|--:|--:|--:|--:|--:|--:|");
    for f in &r.families {
        let _ = writeln!(
            o,
            "| {} {} | {} | {} | {} | {} | {} | {} |",
            f.family,
            cell(&f.name),
            pct(f.score),
            f.tally.pass,
            f.tally.fail,
            f.tally.error,
            f.tally.waived,
            f.tally.not_applicable
        );
    }

    let _ = writeln!(o, "\n### Residency\n");
    let _ = writeln!(o, "{}", cell(&r.residency.conclusion()));
    if !r.residency.hosts.is_empty() {
        let _ = writeln!(
            o,
            "\n| host | provider | location | site | country | verdict |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        for h in &r.residency.hosts {
            let verdict = match h.verdict {
                Verdict::NoPolicy => "no policy",
                Verdict::Inside => "inside policy",
                Verdict::Outside => "OUTSIDE policy",
                Verdict::UnknownLocation => "unknown location",
                Verdict::NoLocation => "no location",
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {verdict} |",
                cell(&h.host),
                cell(&h.provider),
                cell(h.location.as_deref().unwrap_or("—")),
                cell(h.site.as_deref().unwrap_or("—")),
                cell(h.country.as_deref().unwrap_or("unknown")),
            );
        }
    }

    let _ = writeln!(o, "\n### Profile areas\n");
    for a in &r.areas {
        let figures = match a.state {
            AreaState::Judged if a.tally.total() > 0 => format!(
                " — {}: {} passed, {} failed, {} errors",
                pct(a.tally.score()),
                a.tally.pass,
                a.tally.fail,
                a.tally.error
            ),
            _ => String::new(),
        };
        let _ = writeln!(o, "- **{}**{figures}: {}", cell(&a.title), cell(&a.note));
    }

    let _ = writeln!(o, "\n<details><summary>Run identity</summary>\n");
    let _ = writeln!(o, "- rampart (run): {}", cell(&r.verify.rampart_version));
    let _ = writeln!(
        o,
        "- report written by: {} at {}",
        cell(&r.generator),
        r.generated_at
    );
    let _ = writeln!(
        o,
        "- inventory: `{}` sha256 `{}`",
        cell(&r.verify.inventory),
        r.verify.inventory_sha256
    );
    let _ = writeln!(o, "- profiles sha256: `{}`", r.verify.profiles_sha256);
    let _ = writeln!(
        o,
        "- verified: {} → {}",
        r.verify.started_at, r.verify.finished_at
    );
    let _ = writeln!(o, "\n</details>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::build;
    use crate::report::document::tests::{context, run};

    #[test]
    fn headline_hosts_failures_and_areas() {
        let md = render(&build(run(), context()));
        assert!(
            md.starts_with("## rampart compliance report — INCOMPLETE\n"),
            "{md}"
        );
        assert!(md.contains("**Fleet score: 50.0 %**"), "{md}");
        assert!(
            md.contains("| a | drift | 66.6 % | 2 | 1 | 0 | 0 | 1 |"),
            "{md}"
        );
        assert!(md.contains("| c | unreachable | — |"), "{md}");
        assert!(
            md.contains(
                "| critical | **SSH-02** title of SSH-02 | a, b | `observed` | `expected` |"
            ),
            "{md}"
        );
        assert!(
            md.contains("firewall profile not built in this version"),
            "{md}"
        );
        assert!(md.contains("not judged: no inventory"), "{md}");
    }

    #[test]
    fn cells_stay_in_their_column() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(code("x`y"), "`x'y`");
        assert_eq!(code(""), "—");
    }
}
