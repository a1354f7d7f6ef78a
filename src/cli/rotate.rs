//! `rampart mesh rotate`: new WireGuard keys on every mesh host.
//!
//! Staged, then switched: every host first generates its next key beside
//! the current one (the interface keeps running on the old key) and reports
//! the public half. Only when all have staged does any host switch; then
//! all switch at once (new peer keys through `wg syncconf`, which never
//! takes the interface down, and the new private key). A failed stage
//! switches nothing. Handshakes resume within seconds; open TCP
//! connections over the mesh survive the gap. The previous key is kept
//! until every host has confirmed fresh handshakes with all its peers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::calendar;
use crate::controls::mesh::{self, Directory};
use crate::engine::resource::{Change, Handler, Resource};
use crate::ops::converge::apply_changes;
use crate::ops::fleet::{self, Rendezvous};
use crate::transport::{Reconnect, Session};

use super::args::GlobalArgs;
use super::context::{connect_options, on_hosts_observed, Prepared};
use super::{summarize, Exit, UsageError};

const NEXT_KEY: &str = "/etc/wireguard/wg0.key.next";
const PREVIOUS_KEY: &str = "/etc/wireguard/wg0.key.prev";
/// How long a host waits for fresh handshakes with all its peers.
const CONFIRM_WITHIN: Duration = Duration::from_secs(30);

/// What one host reports after the rotation.
struct Rotated {
    recovered_after: Duration,
}

pub async fn run(g: &GlobalArgs) -> anyhow::Result<Exit> {
    let p = Arc::new(super::mesh::mesh_only(g)?);
    refuse_partial_fleet(&p)?;
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let hosts: std::collections::BTreeSet<String> =
        p.setups.iter().map(|s| s.host.name.clone()).collect();
    let staged = Arc::new(Rendezvous::new(hosts.clone(), Default::default()));
    let switched = Arc::new(Rendezvous::new(hosts, Default::default()));
    let report_failure = {
        let (staged, switched) = (staged.clone(), switched.clone());
        move |host: &str| {
            for r in [&staged, &switched] {
                if !r.has_reported(host) {
                    r.report(host, None);
                }
            }
        }
    };
    let mut g = g.clone();
    g.jobs = g
        .jobs
        .max(u16::try_from(p.setups.len()).unwrap_or(u16::MAX));
    let stamp = calendar::compact(calendar::now_secs());
    let outcomes = on_hosts_observed(
        &p,
        &opts,
        &g,
        "mesh rotate",
        &report_failure,
        |session, name, reconnect| {
            let (p, staged, switched, stamp) =
                (p.clone(), staged.clone(), switched.clone(), stamp.clone());
            async move {
                let result =
                    rotate_host(&p, &staged, &switched, &session, &reconnect, &name, &stamp).await;
                if result.is_err() {
                    for r in [&staged, &switched] {
                        if !r.has_reported(&name) {
                            r.report(&name, None);
                        }
                    }
                }
                result
            }
        },
    )
    .await;
    let new_keys = switched.learned();
    if let Err(e) = fleet::record(&fleet::keys_file(&p.inventory), &new_keys) {
        eprintln!("warning: {e}");
    }
    for o in &outcomes {
        if let Ok(r) = &o.result {
            println!(
                "{}: new key in use; handshakes with every peer {:.1} s after the switch",
                o.host,
                r.recovered_after.as_secs_f64()
            );
        }
    }
    Ok(summarize(&outcomes, "rotate their mesh key"))
}

/// Rotating some mesh hosts and not their peers would cut the pairs
/// between them: the run must hold every mesh host.
fn refuse_partial_fleet(p: &Prepared) -> Result<(), UsageError> {
    let missing: Vec<&str> = p
        .inventory
        .hosts
        .iter()
        .filter(|h| h.has_profile("mesh") && p.setup(&h.name).is_none())
        .map(|h| h.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "refused: mesh rotate changes every mesh host's key at once, and --limit leaves out {}; their peers would lose them. Run it without --limit.",
        missing.join(", ")
    )))
}

async fn rotate_host(
    p: &Prepared,
    staged: &Rendezvous,
    switched: &Rendezvous,
    session: &Session,
    reconnect: &Reconnect,
    name: &str,
    stamp: &str,
) -> anyhow::Result<Rotated> {
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
        anyhow::bail!(
            "aborted before any switch: {} could not stage a key; the old keys stay in use",
            absent
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let switch_started = Instant::now();
    let fresh_since = switch(p, session, reconnect, name, &directory, stamp).await?;
    let recovered_after = confirm_handshakes(session, fresh_since, switch_started).await?;
    switched.report(name, directory.key_of(name).map(String::from));
    // The previous key goes only once every host has its handshakes back.
    let all = switched.complete(CONFIRM_WITHIN * 2).await;
    if p.setups.iter().all(|s| all.key_of(&s.host.name).is_some()) {
        let _ = session.run(&format!("rm -f {PREVIOUS_KEY}"), b"").await;
    }
    Ok(Rotated { recovered_after })
}

/// Generates the next key beside the current one; returns its public half.
async fn stage_key(session: &Session) -> anyhow::Result<String> {
    let script = format!(
        "set -e\numask 077\n[ -s {NEXT_KEY} ] || {{ wg genkey > {NEXT_KEY}.tmp && mv -f {NEXT_KEY}.tmp {NEXT_KEY}; }}\nwg pubkey < {NEXT_KEY}\n"
    );
    let out = session.run("sh -s", script.as_bytes()).await?;
    let key = out.stdout_text().trim().to_string();
    if !out.success() || key.len() != 44 {
        anyhow::bail!(
            "staging the next key failed: {}",
            out.stderr_text().lines().last().unwrap_or_default()
        );
    }
    Ok(key)
}

async fn discard_staged_key(session: &Session) {
    let _ = session.run(&format!("rm -f {NEXT_KEY}"), b"").await;
}

/// The new private key, then the peers' new keys: the configuration file
/// and its handler (`wg syncconf`, then PostUp sets the private key).
/// Returns the host's clock at the switch (handshakes after it are new).
async fn switch(
    p: &Prepared,
    session: &Session,
    reconnect: &Reconnect,
    name: &str,
    directory: &Directory,
    stamp: &str,
) -> anyhow::Result<u64> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    let conf = mesh::render(&p.inventory, &setup.host, directory).map_err(anyhow::Error::msg)?;
    let promote = format!(
        "set -e\ndate +%s\ncp -a {key} {PREVIOUS_KEY}\nmv -f {NEXT_KEY} {key}\n",
        key = mesh::KEY_FILE
    );
    let out = session.run("sh -s", promote.as_bytes()).await?;
    if !out.success() {
        anyhow::bail!("switching the key file failed: {}", out.stderr_text());
    }
    let host_clock: u64 = out
        .stdout_text()
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("the host did not report its clock"))?;
    let change = Change {
        resource: Resource::root_file(mesh::CONFIG_FILE, conf, 0o600, vec![Handler::SyncMesh]),
        action: '~',
        summary: format!("file {} (new peer keys)", mesh::CONFIG_FILE),
        diff: None,
    };
    let applied = apply_changes(session, reconnect, vec![change], stamp).await?;
    if !applied.succeeded() {
        anyhow::bail!(
            "the new configuration did not apply: {:?}; previous key kept at {PREVIOUS_KEY}",
            applied.failures
        );
    }
    Ok(host_clock)
}

/// Waits (bounded) until every peer has a handshake newer than the switch.
async fn confirm_handshakes(
    session: &Session,
    since: u64,
    started: Instant,
) -> anyhow::Result<Duration> {
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
            anyhow::bail!(
                "no fresh handshake with every peer within {} s of the switch; the previous key is kept at {PREVIOUS_KEY}",
                CONFIRM_WITHIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
