//! Encrypted, rotated database backups (profile `backup`). Two sides:
//!
//! - a **source** (`db` host declaring `databases:`) dumps each database
//!   inside one snapshot, encrypts it with age to `secrets.recipients` and
//!   streams it to every target (`source.rs`): it holds no identity that
//!   could decrypt a backup, and its drop key was generated on it;
//! - a **target** (a `backup:` target) runs the drop: a second sshd on its
//!   mesh address whose only account has the write-only receiver as its
//!   login shell, and the rotation (`drop.rs`).
//!
//! The db hosts' drop public keys and the targets' host keys travel through
//! harden's rendezvous (`ops::fleet`) like the mesh keys, so both sides
//! converge in one run. Each control is not applicable on the other side.

mod drop;
mod source;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use super::context::HostCtx;
use super::custom::{CustomCheck, Files};
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{changes, Resource};
use crate::facts::Facts;
use crate::inventory::{Host, Inventory};

pub use drop::allowed_sources;

/// The drop's sshd port, on the target's mesh address only.
pub const DROP_PORT: u16 = 2223;
/// The account the db hosts upload as; its login shell is the receiver.
pub const DROP_USER: &str = "rampart-drop";
/// The account that runs the backup on a db host.
pub const BACKUP_USER: &str = "rampart-backup";
/// The backup's state on a db host: its drop key and last successes.
pub const STATE_DIR: &str = "/var/lib/rampart-backup";
pub const CLIENT_KEY: &str = "/var/lib/rampart-backup/drop_ed25519";
/// The drop's store on a target: one directory per source.
pub const STORE: &str = "/var/lib/rampart/backups";
pub const RECEIVER: &str = "/usr/local/lib/rampart/backup-receive";
/// The reply of every refusal of the receiver (and its exit status).
pub const REFUSED: &str = "rampart-drop: refused";
pub const REFUSED_STATUS: i32 = 77;

/// Public keys of the backup, learned across the fleet: what each side
/// needs of the other. Only public halves; they travel like mesh keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupKeys {
    /// db host → the public half of its drop key (`ssh-ed25519 AAAA…`).
    pub clients: BTreeMap<String, String>,
    /// backup host → its SSH host key, which its drop presents.
    pub hosts: BTreeMap<String, String>,
}

impl BackupKeys {
    pub fn extend(&mut self, other: &BackupKeys) {
        self.clients.extend(other.clients.clone());
        self.hosts.extend(other.hosts.clone());
    }
}

/// Whether `host` backs databases up.
pub fn is_source(inv: &Inventory, host: &Host) -> bool {
    inv.backup.is_some() && !host.databases.is_empty()
}

/// Whether `host` receives backups.
pub fn is_target(inv: &Inventory, host: &Host) -> bool {
    inv.is_backup_target(&host.name)
}

fn targets(inv: &Inventory) -> Vec<&Host> {
    let names = inv
        .backup
        .as_ref()
        .map(|b| b.targets.clone())
        .unwrap_or_default();
    inv.hosts
        .iter()
        .filter(|h| names.contains(&h.name))
        .collect()
}

/// The drops a source uploads to, `ADDRESS,PORT` (its mesh address).
pub fn probe_targets(inv: &Inventory, host: &Host) -> Vec<String> {
    if !is_source(inv, host) {
        return Vec::new();
    }
    targets(inv)
        .iter()
        .filter_map(|t| t.mesh_address.map(|a| format!("{a},{DROP_PORT}")))
        .collect()
}

/// What this host contributes to the fleet's backup keys, from its facts.
pub fn own_keys(inv: &Inventory, host: &Host, facts: &Facts) -> BackupKeys {
    let mut keys = BackupKeys::default();
    if is_source(inv, host) {
        if let Some(k) = facts
            .backup
            .client_key
            .clone()
            .filter(|k| valid_public_key(k))
        {
            keys.clients.insert(host.name.clone(), k);
        }
    }
    if is_target(inv, host) {
        if let Some(k) = facts
            .backup
            .host_key
            .clone()
            .filter(|k| valid_public_key(k))
        {
            keys.hosts.insert(host.name.clone(), k);
        }
    }
    keys
}

/// Whether the host has every key its peers need from it (a source's drop
/// key is born in its first apply): until then it has not reported.
pub fn keys_ready(inv: &Inventory, host: &Host, facts: &Facts) -> bool {
    let own = own_keys(inv, host, facts);
    (!is_source(inv, host) || own.clients.contains_key(&host.name))
        && (!is_target(inv, host) || own.hosts.contains_key(&host.name))
}

/// An OpenSSH ed25519 public key, `ssh-ed25519 BASE64`: what may reach an
/// authorized_keys or known_hosts line.
pub fn valid_public_key(k: &str) -> bool {
    let Some(blob) = k.strip_prefix("ssh-ed25519 ") else {
        return false;
    };
    blob.len() == 68
        && blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// The schedule's longest gap, in seconds (validated in the inventory).
fn period(inv: &Inventory) -> u64 {
    inv.backup
        .as_ref()
        .map(|b| b.schedule.period_secs)
        .unwrap_or(86_400)
}

/// How long after the last success a backup is overdue: 1.5 × the period.
fn overdue_after(inv: &Inventory) -> u64 {
    period(inv) * 3 / 2
}

fn age(now: u64, t: u64) -> String {
    let secs = now.saturating_sub(t);
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7_200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

/// Renders `templates/backup/NAME` with `vars`.
fn render(name: &str, vars: &tera::Context) -> Result<String, String> {
    let text = super::files::template_text(&format!("backup/{name}"))?;
    tera::Tera::one_off(text, vars, false).map_err(|e| format!("template backup/{name}: {e}"))
}

/// The changes `resources` would make: what keeps a check from passing.
fn drift(resources: &[Resource], facts: &Facts) -> Vec<String> {
    changes(resources, facts)
        .into_iter()
        .map(|c| c.summary)
        .collect()
}

/// A check of one side: not applicable on the other; otherwise pass when
/// `problems` is empty.
fn judge_side(
    applies: bool,
    side: &str,
    problems: impl FnOnce() -> Vec<String>,
    all_good: impl FnOnce() -> String,
    expected: &str,
    command: &str,
) -> Outcome {
    if !applies {
        return Outcome::not_applicable(format!("not a backup {side}"), expected);
    }
    let problems = problems();
    let observed = if problems.is_empty() {
        all_good()
    } else {
        problems.join("; ")
    };
    Outcome::judge(
        problems.is_empty(),
        observed.clone(),
        expected,
        evidence(command, observed),
    )
}

/// Resources of a check on the side it belongs to, nothing elsewhere.
fn on_side(
    applies: bool,
    resources: impl FnOnce() -> Result<Vec<Resource>, String>,
) -> Result<Vec<Resource>, String> {
    if applies {
        resources()
    } else {
        Ok(Vec::new())
    }
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::enforced(
        "backup_database",
        source::evaluate_database,
        source::database_resources,
    ),
    CustomCheck {
        files: Files {
            read: source::FILES,
            hash: &[],
        },
        ..CustomCheck::enforced(
            "backup_service",
            source::evaluate_service,
            source::service_resources,
        )
    },
    CustomCheck::judged("backup_recent", source::evaluate_recent),
    CustomCheck::judged("backup_drop_refuses", source::evaluate_refusals),
    CustomCheck {
        files: Files {
            read: drop::FILES,
            hash: &[],
        },
        ..CustomCheck::enforced("backup_drop", drop::evaluate_drop, drop::drop_resources)
    },
    CustomCheck::judged("backup_store", drop::evaluate_store),
    CustomCheck {
        files: Files {
            read: drop::ROTATION_FILES,
            hash: &[],
        },
        ..CustomCheck::enforced(
            "backup_rotation",
            drop::evaluate_rotation,
            drop::rotation_resources,
        )
    },
];

/// The backup's keys known in this run (rendezvous or verify's facts).
fn known_keys<'a>(ctx: &'a HostCtx) -> &'a BackupKeys {
    &ctx.mesh.backup
}
