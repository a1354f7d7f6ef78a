//! Verify as text: per host, failing controls first with observed and
//! expected values, then a one-line tally.

use std::fmt::Write;

use super::document::status_rank;
use super::{HostState, VerifyRun};
use crate::controls::Status;

pub fn render(run: &VerifyRun, show_passed: bool) -> String {
    let mut out = String::new();
    for h in &run.hosts {
        let state = match h.state {
            HostState::Compliant => "compliant",
            HostState::Drift => "DRIFT",
            HostState::Unreachable => "UNREACHABLE",
        };
        let _ = writeln!(out, "{} — {state}", h.host);
        if let Some(e) = &h.error {
            let _ = writeln!(out, "  {e}");
            continue;
        }
        let mut results: Vec<_> = run.results.iter().filter(|r| r.host == h.host).collect();
        results.sort_by_key(|r| {
            (
                status_rank(r.status),
                std::cmp::Reverse(r.severity),
                r.id.clone(),
            )
        });
        for r in results {
            match r.status {
                Status::Fail | Status::Error => {
                    let _ = writeln!(
                        out,
                        "  {:<5} {:<7} [{:?}] {}",
                        if r.status == Status::Fail {
                            "FAIL"
                        } else {
                            "ERROR"
                        },
                        r.id,
                        r.severity,
                        r.title
                    );
                    let _ = writeln!(out, "        observed: {}", r.observed);
                    let _ = writeln!(out, "        expected: {}", r.expected);
                    if let Some(reason) = &r.reason {
                        let _ = writeln!(out, "        {reason}");
                    }
                }
                Status::Waived => {
                    let _ = writeln!(
                        out,
                        "  {:<5} {:<7} {} — {}",
                        "WAIVE",
                        r.id,
                        r.title,
                        r.reason.as_deref().unwrap_or_default()
                    );
                }
                Status::NotApplicable if show_passed => {
                    let _ = writeln!(
                        out,
                        "  {:<5} {:<7} {} — {}",
                        "N/A",
                        r.id,
                        r.title,
                        r.reason.as_deref().unwrap_or_default()
                    );
                }
                Status::Pass if show_passed => {
                    let _ = writeln!(out, "  {:<5} {:<7} {}", "pass", r.id, r.title);
                }
                _ => {}
            }
        }
        let _ = writeln!(
            out,
            "  {} passed, {} failed, {} errors, {} waived, {} not applicable",
            h.pass, h.fail, h.error_count, h.waived, h.not_applicable
        );
        if !h.profiles_not_built.is_empty() {
            let _ = writeln!(
                out,
                "  note: profiles not built yet in this version: {}",
                h.profiles_not_built.join(", ")
            );
        }
    }
    out
}
