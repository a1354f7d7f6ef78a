//! Facts: everything later stages need to know about a host, gathered in a
//! single SSH exec per host. The collector script only runs commands and
//! delimits their output; all parsing happens here, in Rust.

mod backup;
mod model;
pub mod pam;
pub mod parse;

use std::path::PathBuf;

pub use model::*;
pub use pam::{PamFacts, PamRule};

use crate::transport::{shell_quote, Session, TransportError, SCRIPT_ENV};

/// The collector, sent on stdin to `sh -s` so it needs no file on the host.
pub const COLLECTOR: &str = include_str!("collect.sh");

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the facts collector produced no output (exit status {status:?}): {stderr}")]
    Collector { status: Option<u32>, stderr: String },
}

/// What a run needs beyond the standard facts: declared disks to probe,
/// paths to stat, files to read (managed files, settings files).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub disks: Vec<PathBuf>,
    pub stat: Vec<String>,
    pub read: Vec<String>,
    /// Secret files compared by SHA-256 on the host, never read.
    pub hash: Vec<String>,
    /// A db host's backup targets (`ADDRESS,PORT`) that verify's probe
    /// asks, with the host's own drop key, to list, read and delete.
    pub backup_probe: Vec<String>,
}

fn word_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    shell_quote(&items.join(" "))
}

/// The collector with the request bound in as shell variables. Paths come
/// from the inventory and profiles, never from a host, and are quoted.
pub fn collector_for(req: &Request) -> String {
    format!(
        "{SCRIPT_ENV}RAMPART_DISKS={}\nRAMPART_STAT={}\nRAMPART_READ={}\nRAMPART_HASH={}\nRAMPART_BACKUP_PROBE={}\n{COLLECTOR}",
        word_list(req.disks.iter().map(|d| d.to_string_lossy().to_string())),
        word_list(req.stat.iter().cloned()),
        word_list(req.read.iter().cloned()),
        word_list(req.hash.iter().cloned()),
        word_list(req.backup_probe.iter().cloned()),
    )
}

/// Gathers facts over an open session: one exec, one round trip.
pub async fn gather(session: &Session, req: &Request) -> Result<Facts, FactsError> {
    // SSH_CONNECTION is read before sudo, which does not keep it: it says
    // which address the host sees rampart coming from.
    let out = session
        .run_after(
            r#"printf '@@from %s\n' "$SSH_CONNECTION" >&2"#,
            "sh -s",
            collector_for(req).as_bytes(),
        )
        .await?;
    let text = out.stdout_text();
    if !text.contains("@@rampart-section hostname") {
        return Err(FactsError::Collector {
            status: out.status,
            stderr: out.stderr_text().trim().to_string(),
        });
    }
    let mut facts = parse::parse(&text);
    facts.connection_from = parse::connection_from(&out.stderr_text());
    Ok(facts)
}
