//! Mesh key rotation's steps on one host, over its session (the fleet's
//! staging and switching order is `cli/mesh_rotate.rs`'s doc).

use std::time::{Duration, Instant};

use crate::controls::mesh;
use crate::engine::converge::{apply_changes, ApplyError};
use crate::engine::resource::{Change, Handler, Resource};
use crate::inventory::Inventory;
use crate::transport::{Reconnect, Session, TransportError};

pub const NEXT_KEY: &str = "/etc/wireguard/wg0.key.next";
pub const PREVIOUS_KEY: &str = "/etc/wireguard/wg0.key.prev";
/// How long a host waits for fresh handshakes with all its peers.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MeshRotateError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A step the host refused or could not do, in words for the operator.
    #[error("{0}")]
    Step(String),
}

/// Mesh hosts of the inventory that the run leaves out: rotating some mesh
/// hosts and not their peers would cut the pairs between them.
pub fn left_out(inventory: &Inventory, in_run: impl Fn(&str) -> bool) -> Vec<&str> {
    inventory
        .hosts
        .iter()
        .filter(|h| h.has_profile("mesh") && !in_run(&h.name))
        .map(|h| h.name.as_str())
        .collect()
}

/// Generates the next key beside the current one; returns its public half.
pub async fn stage_key(session: &Session) -> Result<String, MeshRotateError> {
    let script = format!(
        "set -e\numask 077\n[ -s {NEXT_KEY} ] || {{ wg genkey > {NEXT_KEY}.tmp && mv -f {NEXT_KEY}.tmp {NEXT_KEY}; }}\nwg pubkey < {NEXT_KEY}\n"
    );
    let out = session.run("sh -s", script.as_bytes()).await?;
    let key = out.stdout_text().trim().to_string();
    // A WireGuard public key is 32 bytes in base64: 44 characters.
    if !out.success() || key.len() != 44 {
        return Err(MeshRotateError::Step(format!(
            "staging the next key failed: {}",
            out.stderr_text().lines().last().unwrap_or_default()
        )));
    }
    Ok(key)
}

/// Best effort: a staged key that will not be used is removed.
pub async fn discard_staged_key(session: &Session) {
    let _ = session.run(&format!("rm -f {NEXT_KEY}"), b"").await;
}

/// Best effort: the previous key goes once every host has its handshakes back.
pub async fn forget_previous_key(session: &Session) {
    let _ = session.run(&format!("rm -f {PREVIOUS_KEY}"), b"").await;
}

/// The new private key, then the peers' new keys: the configuration file
/// `conf` and its handler (`wg syncconf`, then PostUp sets the private key).
/// Returns the host's clock at the switch (handshakes after it are new).
pub async fn switch(
    session: &Session,
    reconnect: &Reconnect,
    conf: String,
    stamp: &str,
) -> Result<u64, MeshRotateError> {
    let promote = format!(
        "set -e\ndate +%s\ncp -a {key} {PREVIOUS_KEY}\nmv -f {NEXT_KEY} {key}\n",
        key = mesh::KEY_FILE
    );
    let out = session.run("sh -s", promote.as_bytes()).await?;
    if !out.success() {
        return Err(MeshRotateError::Step(format!(
            "switching the key file failed: {}",
            out.stderr_text()
        )));
    }
    let host_clock: u64 = out
        .stdout_text()
        .trim()
        .parse()
        .map_err(|_| MeshRotateError::Step("the host did not report its clock".into()))?;
    let change = Change {
        resource: Resource::root_file(mesh::CONFIG_FILE, conf, 0o600, vec![Handler::SyncMesh]),
        action: '~',
        summary: format!("file {} (new peer keys)", mesh::CONFIG_FILE),
        diff: None,
    };
    let applied = apply_changes(session, reconnect, vec![change], stamp).await?;
    if !applied.succeeded() {
        return Err(MeshRotateError::Step(format!(
            "the new configuration did not apply: {:?}; previous key kept at {PREVIOUS_KEY}",
            applied.failures
        )));
    }
    Ok(host_clock)
}

/// Waits (bounded) until every peer has a handshake newer than the switch.
pub async fn confirm_handshakes(
    session: &Session,
    since: u64,
    started: Instant,
) -> Result<Duration, MeshRotateError> {
    let deadline = Instant::now() + CONFIRM_WITHIN;
    loop {
        let out = session.run("wg show wg0 latest-handshakes", b"").await?;
        let text = out.stdout_text();
        let stamps: Vec<u64> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
            .collect();
        if !stamps.is_empty() && stamps.iter().all(|&t| t >= since) {
            return Ok(started.elapsed());
        }
        if Instant::now() >= deadline {
            return Err(MeshRotateError::Step(format!(
                "no fresh handshake with every peer within {} s of the switch; the previous key is kept at {PREVIOUS_KEY}",
                CONFIRM_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
