//! `mesh rotate` on one host: its steps over the host's session and their
//! order (`rotate_host`); the fleet-wide staging and switching is described
//! in `cli/mesh_rotate.rs`, which runs this on every mesh host at once.

use std::time::{Duration, Instant};

use crate::controls::mesh::{self, Directory};
use crate::engine::resource::{Change, Handler, Resource};
use crate::inventory::Inventory;
use crate::ops::converge::{apply_changes, ApplyError};
use crate::ops::fleet::Rendezvous;
use crate::ops::Prepared;
use crate::transport::{Reconnect, Session, TransportError};

pub const NEXT_KEY: &str = "/etc/wireguard/wg0.key.next";
pub const PREVIOUS_KEY: &str = "/etc/wireguard/wg0.key.prev";
/// How long a host waits for fresh handshakes with all its peers.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(30);

/// What one host reports after the rotation.
pub struct Rotated {
    pub recovered_after: Duration,
}

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
    // The rotation changes the host: its integrity database follows, as
    // after a harden (LOG-15).
    let refresh = Change {
        resource: crate::controls::refresh_integrity_database(),
        action: '~',
        summary: "AIDE database rebuilt where one exists".into(),
        diff: None,
    };
    let applied = apply_changes(session, reconnect, vec![change, refresh], stamp).await?;
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

/// One host's rotation: stage its next key, wait until every host has
/// staged (else abort, nothing switched), switch, confirm handshakes, and
/// drop the previous key once every host has confirmed.
pub async fn rotate_host(
    p: &Prepared,
    staged: &Rendezvous,
    switched: &Rendezvous,
    session: &Session,
    reconnect: &Reconnect,
    name: &str,
    stamp: &str,
) -> Result<Rotated, MeshRotateError> {
    let next = stage_key(session).await?;
    staged.report(name, Some(next));
    let wait = Duration::from_secs(p.inventory.ssh.command_timeout_secs);
    let directory = staged.complete(wait).await;
    let absent: Vec<&String> = p
        .setups
        .iter()
        .map(|s| &s.host.name)
        .filter(|h| directory.key_of(h).is_none())
        .collect();
    if !absent.is_empty() {
        discard_staged_key(session).await;
        return Err(MeshRotateError::Step(format!(
            "aborted before any switch: {} could not stage a key; the old keys stay in use",
            absent
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let switch_started = Instant::now();
    let fresh_since = switch_host(p, session, reconnect, name, &directory, stamp).await?;
    let recovered_after = confirm_handshakes(session, fresh_since, switch_started).await?;
    switched.report(name, directory.key_of(name).map(String::from));
    // The previous key goes only once every host has its handshakes back.
    let all = switched.complete(CONFIRM_WITHIN * 2).await;
    if p.setups.iter().all(|s| all.key_of(&s.host.name).is_some()) {
        forget_previous_key(session).await;
    }
    Ok(Rotated { recovered_after })
}

/// The host's new configuration (its peers' new keys), then the switch.
async fn switch_host(
    p: &Prepared,
    session: &Session,
    reconnect: &Reconnect,
    name: &str,
    directory: &Directory,
    stamp: &str,
) -> Result<u64, MeshRotateError> {
    let setup = p
        .setup(name)
        .ok_or_else(|| MeshRotateError::Step(format!("no setup for {name}")))?;
    let conf = mesh::render(&p.inventory, &setup.host, directory).map_err(MeshRotateError::Step)?;
    switch(session, reconnect, conf, stamp).await
}
