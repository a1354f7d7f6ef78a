//! Facts: everything later stages need to know about a host, gathered in a
//! single SSH exec per host. The collector script only runs commands and
//! delimits their output; all parsing happens here, in Rust.

mod model;
pub mod parse;

use std::path::PathBuf;

pub use model::*;

use crate::transport::{shell_quote, Session, TransportError};

/// The collector, sent on stdin to `sh -s` so it needs no file on the host.
pub const COLLECTOR: &str = include_str!("collect.sh");

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the facts collector produced no output (exit status {status:?}): {stderr}")]
    Collector { status: Option<u32>, stderr: String },
}

/// The collector with the host's declared disks bound in.
pub fn collector_for(disks: &[PathBuf]) -> String {
    let list: Vec<String> = disks
        .iter()
        .map(|d| d.to_string_lossy().to_string())
        .collect();
    format!(
        "RAMPART_DISKS={}\n{COLLECTOR}",
        shell_quote(&list.join(" "))
    )
}

/// Gathers facts over an open session: one exec, one round trip.
pub async fn gather(session: &Session, disks: &[PathBuf]) -> Result<Facts, FactsError> {
    let out = session
        .run("sh -s", collector_for(disks).as_bytes())
        .await?;
    let text = out.stdout_text();
    if !text.contains("@@rampart-section hostname") {
        return Err(FactsError::Collector {
            status: out.status,
            stderr: out.stderr_text().trim().to_string(),
        });
    }
    Ok(parse::parse(&text))
}
