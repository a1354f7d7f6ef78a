//! Progress on stderr: an overall bar and a status line per host on a
//! terminal; plain lines otherwise (CI logs). NO_COLOR is honoured.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::transport::Progress;

pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

pub enum Reporter {
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        lines: Mutex<HashMap<String, ProgressBar>>,
        color: bool,
    },
    Lines,
}

impl Reporter {
    pub fn new(total: usize, what: &str) -> Reporter {
        if !std::io::stderr().is_terminal() {
            return Reporter::Lines;
        }
        let color = color_enabled();
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let template = if color {
            "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {elapsed}"
        } else {
            "{prefix} [{bar:30}] {pos}/{len} {elapsed}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let overall = multi.add(
            ProgressBar::new(total as u64)
                .with_style(style)
                .with_prefix(what.to_string()),
        );
        Reporter::Bars {
            multi,
            overall,
            lines: Mutex::new(HashMap::new()),
            color,
        }
    }

    pub fn finish(&self) {
        if let Reporter::Bars { overall, multi, .. } = self {
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

impl Progress for Reporter {
    fn started(&self, host: &str, stage: &str) {
        match self {
            Reporter::Lines => {}
            Reporter::Bars {
                multi,
                lines,
                color,
                ..
            } => {
                let template = if *color {
                    "  {spinner:.dim} {prefix:.bold} {msg:.dim}"
                } else {
                    "  {spinner} {prefix} {msg}"
                };
                let style = ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = multi.add(
                    ProgressBar::new_spinner()
                        .with_style(style)
                        .with_prefix(host.to_string())
                        .with_message(stage.to_string()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut l) = lines.lock() {
                    l.insert(host.to_string(), bar);
                }
            }
        }
    }

    fn finished(&self, host: &str, ok: bool, summary: &str) {
        match self {
            Reporter::Lines => {
                let first = summary.lines().next().unwrap_or_default();
                eprintln!("{host}: {} {first}", if ok { "ok" } else { "FAILED" });
            }
            Reporter::Bars { overall, lines, .. } => {
                if let Some(bar) = lines.lock().ok().and_then(|mut l| l.remove(host)) {
                    bar.finish_and_clear();
                }
                overall.inc(1);
                if !ok {
                    overall.println(format!(
                        "{host}: FAILED {}",
                        summary.lines().next().unwrap_or_default()
                    ));
                }
            }
        }
    }
}
