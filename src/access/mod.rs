//! Access evidence: who logged in to a host, with which key, from where,
//! what they ran with sudo, and what failed, read from the host's journal in
//! one exec (the reader script in [`script`], its parser in `parse.rs` side
//! by side, like `facts`; lines recorded from a lab host in
//! tests/fixtures/access/), then judged against the operators the inventory
//! declares (`judge.rs`, on a [`Policy`] built by `ops::access`).
//!
//! Nothing here knows the inventory: the policy is plain data, so this
//! module sits beside `facts` in the layers.

pub mod judge;
mod model;
pub mod parse;
pub mod since;

pub use judge::{
    judge, Finding, FindingKind, HostAccess, Policy, BURST_THRESHOLD, BURST_WINDOW_SECS,
};
pub use model::*;

use crate::transport::{Session, TransportError, SCRIPT_ENV};

/// The journal identifiers read: sshd (OpenSSH 10 splits it into
/// sshd-session and sshd-auth on Debian 13), sudo and su. Sessions are
/// sshd's own pam_unix lines: logind does not run in every container, and
/// would count the same session twice where it does.
pub const IDENTIFIERS: &[&str] = &["sshd", "sshd-session", "sshd-auth", "sudo", "su"];

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the journal could not be read (exit status {status:?}): {stderr}")]
    Reader { status: Option<u32>, stderr: String },
}

/// The one command run on a host: its clock, when its identity was born
/// (to tell a fresh host from a cleared journal), journald's retention, the
/// journal's first entry, then the access entries since `since_secs`.
/// Only numbers and fixed names reach the shell.
pub fn script(since_secs: u64) -> String {
    let matches: Vec<String> = IDENTIFIERS
        .iter()
        .map(|i| format!("SYSLOG_IDENTIFIER={i}"))
        .collect();
    format!(
        "{SCRIPT_ENV}\
         echo '@@rampart-access now'; date +%s\n\
         echo '@@rampart-access machine'; stat -c '%W %Y' /etc/machine-id 2>/dev/null\n\
         echo '@@rampart-access retention'; systemd-analyze cat-config systemd/journald.conf 2>/dev/null | sed -n 's/^[[:space:]]*MaxRetentionSec=//p' | tail -n 1\n\
         echo '@@rampart-access first'; journalctl -q --no-pager -o json --output-fields=MESSAGE 2>/dev/null | head -n 1\n\
         echo '@@rampart-access journal'\n\
         journalctl -q --no-pager -o json --output-fields=MESSAGE,SYSLOG_IDENTIFIER,_PID --since @{since_secs} {}\n\
         status=$?\n\
         echo '@@rampart-access end'\n\
         exit $status\n",
        matches.join(" ")
    )
}

/// Reads one host's access journal since `since_secs`: one exec.
pub async fn read(session: &Session, since_secs: u64) -> Result<Journal, AccessError> {
    let out = session.run("sh -s", script(since_secs).as_bytes()).await?;
    let text = out.stdout_text();
    if !text.contains("@@rampart-access end") || out.status != Some(0) {
        return Err(AccessError::Reader {
            status: out.status,
            stderr: out.stderr_text().trim().to_string(),
        });
    }
    Ok(parse::parse(&text))
}

mod render;
pub use render::{render_markdown, render_text};

/// One `rampart access` run over the selected hosts (JSON:
/// `schemas/access.schema.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessRun {
    pub rampart_version: String,
    pub generated: String,
    /// The window's start (RFC 3339).
    pub since: String,
    pub burst_threshold: usize,
    pub burst_window_secs: u64,
    pub hosts: Vec<HostAccess>,
    /// Hosts whose journal could not be read, and why.
    pub unreadable: Vec<Unreadable>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Unreadable {
    pub host: String,
    pub error: String,
}

impl AccessRun {
    pub fn new(since: u64, hosts: Vec<HostAccess>, unreadable: Vec<Unreadable>) -> AccessRun {
        AccessRun {
            rampart_version: env!("CARGO_PKG_VERSION").to_string(),
            generated: crate::calendar::rfc3339(crate::calendar::now_secs()),
            since: crate::calendar::rfc3339(since),
            burst_threshold: BURST_THRESHOLD,
            burst_window_secs: BURST_WINDOW_SECS,
            hosts,
            unreadable,
        }
    }

    pub fn findings(&self) -> usize {
        self.hosts.iter().map(|h| h.findings.len()).sum()
    }
}
