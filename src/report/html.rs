//! The report as one self-contained HTML file: styles inline, charts as
//! inline SVG, no script, no font, no image and no link that would make a
//! browser contact anyone (a Content-Security-Policy of `default-src
//! 'none'` says so to the browser too). The page reads top-down the way an
//! auditor works: the headline score, scores per host and per control
//! family, the failing controls ranked by severity, residency, the profile
//! areas, then every host's controls with their evidence.
//!
//! Layout lives in `templates/report/report.html.tera` (autoescaped);
//! this module computes what the template shows: chart geometry, labels,
//! and the results in reading order.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::diff::severity;
use super::document::{status_rank, AreaState, FleetState, Report, Tally};
use super::markdown::{host_state, pct};
use super::residency::Verdict;
use super::{ControlResult, HostState};
use crate::controls::Status;

const TEMPLATE: &str = include_str!("../../templates/report/report.html.tera");

/// Width of the bar charts' drawing, in SVG user units.
const CHART_W: f64 = 520.0;
const VALUE_W: f64 = 62.0;
const ROW_H: f64 = 26.0;
/// Average width of a label character at the charts' font size.
const CHAR_W: f64 = 7.0;

#[derive(Serialize)]
struct Bar {
    label: String,
    full_label: String,
    value: String,
    y: f64,
    text_y: f64,
    x: f64,
    track_w: f64,
    pass_w: f64,
    fail_x: f64,
    fail_w: f64,
    error_x: f64,
    error_w: f64,
    value_x: f64,
    /// Hover text with the counts.
    detail: String,
}

#[derive(Serialize)]
struct Chart {
    height: f64,
    bars: Vec<Bar>,
}

fn chart<'a>(label_w: f64, rows: impl Iterator<Item = (String, Tally, Option<&'a str>)>) -> Chart {
    let track_w = CHART_W - label_w - VALUE_W;
    let max_chars = ((label_w - 8.0) / CHAR_W) as usize;
    let bars: Vec<Bar> = rows
        .enumerate()
        .map(|(i, (label, t, note))| {
            let y = i as f64 * ROW_H + 4.0;
            let judged = t.judged() as f64;
            let w = |n: usize| {
                if judged == 0.0 {
                    0.0
                } else {
                    (n as f64 / judged * track_w * 10.0).round() / 10.0
                }
            };
            // A host that could not be verified gets an empty bar, whatever
            // was judged without it (residency).
            let (pass_w, fail_w, error_w) = if note.is_some() {
                (0.0, 0.0, 0.0)
            } else {
                (w(t.pass), w(t.fail), w(t.error))
            };
            let short = if label.chars().count() > max_chars {
                format!("{}…", label.chars().take(max_chars - 1).collect::<String>())
            } else {
                label.clone()
            };
            Bar {
                label: short,
                full_label: label,
                value: note.map_or_else(|| pct(t.score()), str::to_string),
                y,
                text_y: y + 13.5,
                x: label_w,
                track_w,
                pass_w,
                fail_x: label_w + pass_w,
                fail_w,
                error_x: label_w + pass_w + fail_w,
                error_w,
                value_x: CHART_W,
                detail: format!(
                    "{} passed, {} failed, {} errors, {} waived, {} not applicable",
                    t.pass, t.fail, t.error, t.waived, t.not_applicable
                ),
            }
        })
        .collect();
    Chart {
        height: bars.len() as f64 * ROW_H + 8.0,
        bars,
    }
}

#[derive(Serialize)]
struct Donut {
    circumference: f64,
    pass: f64,
    rest: f64,
    label: String,
}

fn donut(t: &Tally) -> Donut {
    let c = 2.0 * std::f64::consts::PI * 52.0;
    let judged = t.judged() as f64;
    let pass = if judged == 0.0 {
        0.0
    } else {
        t.pass as f64 / judged * c
    };
    Donut {
        circumference: (c * 100.0).round() / 100.0,
        pass: (pass * 100.0).round() / 100.0,
        rest: ((c - pass) * 100.0).round() / 100.0,
        label: pct(t.score()),
    }
}

/// One control on one host, ready to show.
#[derive(Serialize)]
struct Card<'a> {
    anchor: String,
    r: &'a ControlResult,
    status: &'static str,
    status_label: &'static str,
    severity: &'static str,
    refs: Vec<String>,
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
        Status::Waived => "WAIVED",
        Status::NotApplicable => "N/A",
    }
}

/// `2026-11-23T18:04:05Z` → `2026-11-23 18:04:05 UTC`.
fn readable_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => rfc3339.to_string(),
    }
}

/// What a residency verdict says, and its colour class.
fn residency_label(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Inside => ("inside the policy", "ok"),
        Verdict::Outside => ("OUTSIDE the policy", "bad"),
        Verdict::UnknownLocation => ("unknown location: unproven", "warn"),
        Verdict::NoLocation => ("no location: unproven", "warn"),
        Verdict::NoPolicy => ("", "muted"),
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Fragment of one control on one host (`#c-HOST-ID`).
fn anchor(host: &str, id: &str) -> String {
    format!("c-{}-{}", slug(host), slug(id))
}

/// Fragment of a host's section (`#h-HOST`).
fn host_anchor(host: &str) -> String {
    format!("h-{}", slug(host))
}

fn card(r: &ControlResult) -> Card<'_> {
    let mut refs = Vec::new();
    if let Some(c) = &r.references.cis {
        refs.push(format!("CIS Debian 12 {c}"));
    }
    if let Some(a) = &r.references.anssi {
        refs.push(format!("ANSSI BP-028 {a}"));
    }
    if let Some(b) = &r.references.bsi {
        refs.push(format!("BSI {b}"));
    }
    Card {
        anchor: anchor(&r.host, &r.id),
        r,
        status: r.status.as_str(),
        status_label: status_label(r.status),
        severity: severity(r.severity),
        refs,
    }
}

#[derive(Serialize)]
struct HostSection<'a> {
    host: &'a str,
    anchor: String,
    state: &'static str,
    score: String,
    tally: Tally,
    place: String,
    error: Option<&'a str>,
    profiles_not_built: String,
    attention: Vec<Card<'a>>,
    others: Vec<Card<'a>>,
}

#[derive(Serialize)]
struct FailureRow<'a> {
    id: &'a str,
    title: &'a str,
    severity: &'static str,
    /// Hosts failing the same way share a row.
    groups: Vec<FailureGroup<'a>>,
}

#[derive(Serialize)]
struct FailureGroup<'a> {
    hosts: Vec<HostLink<'a>>,
    /// Hosts of the group not listed (see each host's section).
    more: usize,
    error: bool,
    observed: String,
    expected: &'a str,
}

#[derive(Serialize)]
struct HostLink<'a> {
    host: &'a str,
    anchor: String,
}

/// Hosts listed per failure row before "and N more".
const HOSTS_PER_ROW: usize = 12;

fn failure_groups<'a>(f: &'a super::document::Failure) -> Vec<FailureGroup<'a>> {
    f.groups()
        .into_iter()
        .map(|g| FailureGroup {
            more: g.hosts.len().saturating_sub(HOSTS_PER_ROW),
            hosts: g
                .hosts
                .iter()
                .take(HOSTS_PER_ROW)
                .map(|h| HostLink {
                    host: h,
                    anchor: anchor(h, &f.id),
                })
                .collect(),
            error: g.error,
            observed: g.observed,
            expected: g.expected,
        })
        .collect()
}

/// A judged area as a matrix: one row per control, one column per host.
#[derive(Serialize)]
struct AreaView<'a> {
    title: &'a str,
    flows: Vec<FlowTable<'a>>,
    judged: bool,
    note: &'a str,
    score: String,
    tally: Tally,
    hosts: Vec<&'a str>,
    rows: Vec<MatrixRow<'a>>,
}

#[derive(Serialize)]
struct FlowTable<'a> {
    host: &'a str,
    rows: Vec<FlowRow<'a>>,
}

#[derive(Serialize)]
struct FlowRow<'a> {
    port: String,
    from: String,
    via: &'static str,
    comment: &'a str,
}

#[derive(Serialize)]
struct MatrixRow<'a> {
    id: &'a str,
    title: &'a str,
    severity: &'static str,
    cells: Vec<MatrixCell>,
}

#[derive(Serialize)]
struct MatrixCell {
    status: &'static str,
    mark: &'static str,
    anchor: String,
    hint: String,
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Error => "!",
        Status::Waived => "W",
        Status::NotApplicable => "–",
    }
}

#[derive(Serialize)]
struct ResidencyRow<'a> {
    host: &'a str,
    provider: &'a str,
    location: &'a str,
    site: &'a str,
    city: &'a str,
    country: &'a str,
    verdict: &'static str,
    class: &'static str,
}

pub fn render(r: &Report) -> Result<String, tera::Error> {
    let mut ctx = tera::Context::new();
    ctx.insert("r", r);
    let (state_label, state_class) = match r.summary.state {
        FleetState::Compliant => ("COMPLIANT", "ok"),
        FleetState::Drift => ("DRIFT", "bad"),
        FleetState::Incomplete => ("INCOMPLETE", "warn"),
    };
    ctx.insert("state_label", state_label);
    ctx.insert("state_class", state_class);
    ctx.insert("donut", &donut(&r.summary.tally));
    ctx.insert("score", &pct(r.summary.score));
    ctx.insert("verified_at", &readable_time(&r.verify.started_at));
    ctx.insert("generated_at", &readable_time(&r.generated_at));
    ctx.insert(
        "host_chart",
        &chart(
            150.0,
            r.hosts.iter().map(|h| {
                let note = (h.state == HostState::Unreachable).then_some("unreachable");
                (h.host.clone(), h.tally, note)
            }),
        ),
    );
    ctx.insert(
        "family_chart",
        &chart(
            215.0,
            r.families
                .iter()
                .map(|f| (format!("{} ({})", f.name, f.family), f.tally, None)),
        ),
    );
    let host_rows: Vec<_> = r
        .hosts
        .iter()
        .map(|h| {
            serde_json::json!({
                "host": h.host,
                "anchor": host_anchor(&h.host),
                "state": host_state(h.state),
                "score": pct(h.score),
                "tally": h.tally,
                "provider": h.provider.as_deref().unwrap_or("—"),
                "location": h.location.as_deref().unwrap_or("—"),
                "country": h.country.as_deref().unwrap_or("—"),
                "residency": r
                    .residency
                    .hosts
                    .iter()
                    .find(|x| x.host == h.host)
                    .map(|x| residency_label(x.verdict))
                    .unwrap_or(("", "muted")),
            })
        })
        .collect();
    ctx.insert("host_rows", &host_rows);

    let failures: Vec<FailureRow> = r
        .failures
        .iter()
        .map(|f| FailureRow {
            id: &f.id,
            title: &f.title,
            severity: severity(f.severity),
            groups: failure_groups(f),
        })
        .collect();
    ctx.insert("failures", &failures);
    let failing_results: usize = r.failures.iter().map(|f| f.hosts.len()).sum();
    ctx.insert("failing_results", &failing_results);

    let residency: Vec<ResidencyRow> = r
        .residency
        .hosts
        .iter()
        .map(|h| {
            let (verdict, class) = residency_label(h.verdict);
            ResidencyRow {
                host: &h.host,
                provider: &h.provider,
                location: h.location.as_deref().unwrap_or("—"),
                site: h.site.as_deref().unwrap_or("—"),
                city: h.city.as_deref().unwrap_or("—"),
                country: h.country.as_deref().unwrap_or("unknown"),
                verdict,
                class,
            }
        })
        .collect();
    ctx.insert("residency_rows", &residency);
    ctx.insert("residency_conclusion", &r.residency.conclusion());
    let residency_alert = r
        .residency
        .hosts
        .iter()
        .any(|h| h.verdict != Verdict::Inside && h.verdict != Verdict::NoPolicy);
    ctx.insert("residency_alert", &residency_alert);

    let verified: Vec<&str> = r
        .hosts
        .iter()
        .filter(|h| h.state != HostState::Unreachable)
        .map(|h| h.host.as_str())
        .collect();
    let by_key: HashMap<(&str, &str), &ControlResult> = r
        .verify
        .results
        .iter()
        .map(|x| ((x.host.as_str(), x.id.as_str()), x))
        .collect();
    let areas: Vec<AreaView> = r
        .areas
        .iter()
        .map(|a| {
            let mut ids: Vec<&ControlResult> = Vec::new();
            let mut seen = HashSet::new();
            let mut with_results = HashSet::new();
            for res in r.verify.results.iter().filter(|res| a.covers(res)) {
                with_results.insert(res.host.as_str());
                if seen.insert(res.id.as_str()) {
                    ids.push(res);
                }
            }
            // Columns: the verified hosts the area has results for.
            let hosts: Vec<&str> = verified
                .iter()
                .copied()
                .filter(|h| with_results.contains(h))
                .collect();
            let rows = ids
                .iter()
                .map(|first| MatrixRow {
                    id: &first.id,
                    title: &first.title,
                    severity: severity(first.severity),
                    cells: hosts
                        .iter()
                        .map(|host| match by_key.get(&(*host, first.id.as_str())) {
                            Some(x) => MatrixCell {
                                status: x.status.as_str(),
                                mark: mark(x.status),
                                anchor: anchor(host, &x.id),
                                hint: format!(
                                    "{host}: {} — {}",
                                    status_label(x.status),
                                    x.reason.as_deref().unwrap_or(&x.observed)
                                ),
                            },
                            None => MatrixCell {
                                status: "absent",
                                mark: "",
                                anchor: String::new(),
                                hint: format!("{host}: not judged"),
                            },
                        })
                        .collect(),
                })
                .collect();
            AreaView {
                title: &a.title,
                flows: a
                    .flows
                    .iter()
                    .map(|hf| FlowTable {
                        host: &hf.host,
                        rows: hf
                            .flows
                            .iter()
                            .map(|f| FlowRow {
                                port: format!("{}/{}", f.port, f.proto),
                                from: match &f.from {
                                    None => "anywhere".into(),
                                    Some(v) if v.is_empty() => {
                                        "no matching host: nothing admitted".into()
                                    }
                                    Some(v) => v.join(", "),
                                },
                                via: if f.via_mesh {
                                    "mesh (wg0)"
                                } else {
                                    "any interface"
                                },
                                comment: &f.comment,
                            })
                            .collect(),
                    })
                    .collect(),
                judged: a.state == AreaState::Judged,
                note: &a.note,
                score: pct(a.tally.score()),
                tally: a.tally,
                hosts,
                rows,
            }
        })
        .collect();
    ctx.insert("areas", &areas);

    let sections: Vec<HostSection> = r
        .hosts
        .iter()
        .map(|h| {
            let mut results: Vec<&ControlResult> = r
                .verify
                .results
                .iter()
                .filter(|x| x.host == h.host)
                .collect();
            results.sort_by_key(|x| (status_rank(x.status), std::cmp::Reverse(x.severity)));
            let (attention, others): (Vec<_>, Vec<_>) = results
                .into_iter()
                .partition(|x| matches!(x.status, Status::Fail | Status::Error | Status::Waived));
            let place = match (&h.provider, &h.location, &h.country) {
                (Some(p), Some(l), Some(c)) => format!("{p} · {l} · {c}"),
                (Some(p), Some(l), None) => format!("{p} · {l} · country unknown"),
                (Some(p), None, _) => format!("{p} · no location"),
                _ => String::new(),
            };
            HostSection {
                host: &h.host,
                anchor: host_anchor(&h.host),
                state: host_state(h.state),
                score: pct(h.score),
                tally: h.tally,
                place,
                error: h.error.as_deref(),
                profiles_not_built: h.profiles_not_built.join(", "),
                attention: attention.into_iter().map(card).collect(),
                others: others.into_iter().map(card).collect(),
            }
        })
        .collect();
    ctx.insert("sections", &sections);

    tera::Tera::one_off(TEMPLATE, &ctx, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::build;
    use crate::report::document::tests::{context, run};

    #[test]
    fn renders_a_self_contained_page() {
        let html = render(&build(run(), context())).expect("renders");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("default-src 'none'"));
        for forbidden in [
            "<script", "<link", "<img", "@import", "url(", "http://", "https://",
        ] {
            assert!(!html.contains(forbidden), "{forbidden} in the report");
        }
        assert!(html.contains("INCOMPLETE"));
        assert!(html.contains("50.0 %"));
        assert!(
            html.contains("id=\"c-a-SSH-02\""),
            "anchor of a failing control"
        );
        assert!(html.contains("firewall profile not built in this version"));
        assert!(html.contains("1 host could not be verified"));
        assert!(
            html.contains(">unreachable</text>"),
            "no score bar for host c"
        );
    }

    #[test]
    fn text_is_escaped() {
        let mut run = run();
        run.results[1].observed = "<script>alert(1)</script>".into();
        let html = render(&build(run, context())).expect("renders");
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)"));
    }
}
