//! Verify as JUnit XML: one testsuite per host, one testcase per control,
//! so CI systems show drift natively. Not applicable and waived controls
//! are `skipped` with their reason; failures carry observed vs expected.

use std::fmt::Write;

use super::{HostState, VerifyRun};
use crate::controls::Status;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(run: &VerifyRun) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = run.results.len()
        + run
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Unreachable)
            .count();
    let failures = run
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .count();
    let errors = run
        .results
        .iter()
        .filter(|r| r.status == Status::Error)
        .count()
        + run
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Unreachable)
            .count();
    let _ = writeln!(out, "<testsuites name=\"rampart verify\" tests=\"{total}\" failures=\"{failures}\" errors=\"{errors}\">");
    for h in &run.hosts {
        let results: Vec<_> = run.results.iter().filter(|r| r.host == h.host).collect();
        if h.state == HostState::Unreachable {
            let _ = writeln!(out, "  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" timestamp=\"{}\">", escape(&h.host), run.started_at);
            let _ = writeln!(out, "    <testcase classname=\"rampart.{0}\" name=\"reachable\"><error message=\"{1}\"/></testcase>", escape(&h.host), escape(h.error.as_deref().unwrap_or("unreachable")));
            let _ = writeln!(out, "  </testsuite>");
            continue;
        }
        let skipped = h.not_applicable + h.waived;
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\" timestamp=\"{}\">",
            escape(&h.host),
            results.len(),
            h.fail,
            h.error_count,
            run.started_at
        );
        for r in results {
            let name = escape(&format!("{} {}", r.id, r.title));
            let class = escape(&format!("rampart.{}.{}", r.host, r.profile));
            let detail = escape(&format!(
                "observed: {}\nexpected: {}\nevidence: {}\n{}",
                r.observed, r.expected, r.evidence.command, r.evidence.excerpt
            ));
            let body = match r.status {
                Status::Pass => String::new(),
                Status::Fail => format!(
                    "<failure message=\"{}\" type=\"drift\">{detail}</failure>",
                    escape(&format!("observed {}; expected {}", r.observed, r.expected))
                ),
                Status::Error => format!(
                    "<error message=\"{}\">{detail}</error>",
                    escape(r.reason.as_deref().unwrap_or("error"))
                ),
                Status::NotApplicable | Status::Waived => format!(
                    "<skipped message=\"{}\"/>",
                    escape(r.reason.as_deref().unwrap_or_default())
                ),
            };
            let _ = writeln!(
                out,
                "    <testcase classname=\"{class}\" name=\"{name}\">{body}</testcase>"
            );
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_special_characters_are_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(escape("bell\u{7}"), "bell");
    }
}
