//! LUKS2 on the data volumes a host declares in `disks:`.
//!
//! A blank declared device is formatted LUKS2 (aes-xts-plain64, 512-bit
//! key, argon2id, 4096-byte sectors where the size allows) with a random key
//! that rampart generates, escrows age-encrypted next to the inventory
//! (`secrets/luks/<host>-<device>.age`) before the host sees it, and sends
//! on stdin only. A second keyslot holds a keyfile generated on the host
//! (`/etc/cryptsetup-keys.d/<name>.key`, 0400) that /etc/crypttab uses to
//! open the volume at boot. Two LUKS2 tokens (`rampart-escrow`,
//! `rampart-keyfile`) record which keyslot is which, so verify can tell
//! unexpected keyslots and rotate knows which slot to replace.
//!
//! "Blank" is decided from facts: no `blkid -p` signature, nothing `wipefs`
//! lists, no partitions, holders, mounts or swap. Anything else is refused
//! (the host's whole plan, see ops::safety) unless the operator names
//! `HOST:DEVICE` with `harden --wipe` for that run.
//!
//! Opening, mkfs and mounting need device-mapper; on a kernel without it
//! (the lab) they are reported not applicable and the rest still applies.
//!
//! One file per concern: `state` (what a device is), `checks`, `vars`,
//! `harden`, `escrow_test` (verify's), `status` and `rotate`.

mod checks;
mod escrow_test;
mod harden;
mod rotate;
mod state;
mod status;
mod vars;

use super::custom::CustomCheck;
use crate::inventory::{Host, Inventory};
pub use checks::{
    evaluate_boot_unlock, evaluate_cipher, evaluate_encrypted, evaluate_escrow,
    evaluate_escrow_opens, evaluate_keyslots, evaluate_mounted, evaluate_pbkdf,
};
pub use escrow_test::{escrow_probe, escrow_test_line, parse_escrow_probe, EscrowProbe};
pub use harden::{crypttab_script, format_script, mount_script, resources, FormatPlan, MountPlan};
pub use rotate::{plan_rotation, rotate_outcome, rotate_script, Rotation};
pub use state::{disk_state, header_problems, DiskState};
pub use status::{host_status, root_on_dm_crypt, DeviceStatus, HostStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CIPHER: &str = "aes-xts-plain64";
/// Volume key size in bits (AES-256 in XTS mode uses two 256-bit keys).
pub const KEY_BITS: u64 = 512;
pub const PBKDF: &str = "argon2id";
pub const SECTOR_SIZE: u64 = 4096;
/// Bytes of randomness in a generated key (sent and escrowed as hex).
pub const KEY_BYTES: usize = 64;
pub const KEYFILE_DIR: &str = "/etc/cryptsetup-keys.d";
pub const ESCROW_TOKEN: &str = "rampart-escrow";
pub const KEYFILE_TOKEN: &str = "rampart-keyfile";
/// Keyslots a fresh volume gets: the escrowed key and the host keyfile.
const ESCROW_SLOT: u32 = 0;
const KEYFILE_SLOT: u32 = 1;
const NO_DM: &str = "not applicable: no device-mapper";

/// The names one declared device goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The device as declared, e.g. `/dev/vdb`.
    pub device: String,
    /// The path below /dev with `/` as `-`, e.g. `vdb`, `disk-by-id-x`.
    pub short: String,
    /// The device-mapper / crypttab name, e.g. `vdb_crypt`.
    pub mapper: String,
    /// The host-local keyfile in the second keyslot.
    pub keyfile: String,
    /// The LUKS2 label naming host and device (at most 47 bytes).
    pub label: String,
}

impl Volume {
    pub fn new(host: &str, device: &Path) -> Volume {
        let device = device.to_string_lossy().to_string();
        let short = device
            .strip_prefix("/dev/")
            .unwrap_or(&device)
            .replace('/', "-");
        let mapper = format!("{}_crypt", short.replace('-', "_"));
        let mut label = format!("{host}:{short}");
        while label.len() > 47 {
            label.pop();
        }
        Volume {
            keyfile: format!("{KEYFILE_DIR}/{mapper}.key"),
            device,
            short,
            mapper,
            label,
        }
    }

    /// What `harden --wipe` must name to allow destroying this device.
    pub fn consent(&self, host: &str) -> String {
        format!("{host}:{}", self.device)
    }
}

pub fn volumes(host: &Host) -> Vec<Volume> {
    host.disks
        .iter()
        .map(|d| Volume::new(&host.name, d))
        .collect()
}

/// `secrets/luks/<host>-<device>.age` next to the inventory.
pub fn escrow_path(inv: &Inventory, host: &str, v: &Volume) -> PathBuf {
    inv.dir()
        .join("secrets")
        .join("luks")
        .join(format!("{host}-{}.age", v.short))
}

/// Problems judged from the inventory alone, before connecting: keys can
/// only be generated if they can be escrowed, and two volumes must not
/// share an escrow file.
pub fn preflight(inv: &Inventory, hosts: &[&Host]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    for h in hosts.iter().filter(|h| h.has_profile("luks")) {
        if !h.disks.is_empty() && inv.secrets.recipients.is_empty() {
            out.push(format!(
                "{}: the luks profile escrows each volume key to secrets.recipients, and the inventory has none; add an age recipient (age-keygen -y IDENTITY) under secrets.recipients",
                h.name
            ));
        }
        for v in volumes(h) {
            let path = escrow_path(inv, &h.name, &v);
            let me = format!("{}:{}", h.name, v.device);
            if let Some(other) = seen.insert(path.clone(), me.clone()) {
                out.push(format!(
                    "{me} and {other} would share the escrow file {}; rename a host or declare the device by another path",
                    path.display()
                ));
            }
        }
    }
    out
}

/// `harden --wipe` values must be `HOST:DEVICE` naming a declared disk of
/// a selected host: a bare device could match the same path on every host.
pub fn check_wipe(wipe: &[String], hosts: &[&Host]) -> Result<(), String> {
    for w in wipe {
        let Some((host, dev)) = w.split_once(':') else {
            return Err(format!(
                "--wipe {w}: name the host too, as HOST:DEVICE (e.g. --wipe web-1:{w}), so a device path never matches on several hosts"
            ));
        };
        let Some(h) = hosts.iter().find(|h| h.name == host) else {
            return Err(format!(
                "--wipe {w}: host `{host}` is not among the hosts this run acts on"
            ));
        };
        if !h.disks.iter().any(|d| d.as_os_str() == dev) {
            return Err(format!(
                "--wipe {w}: {dev} is not one of {host}'s declared disks ({})",
                h.disks
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::enforced("luks_encrypted", evaluate_encrypted, resources),
    CustomCheck::judged("luks_cipher", evaluate_cipher),
    CustomCheck::judged("luks_pbkdf", evaluate_pbkdf),
    CustomCheck::judged("luks_keyslots", evaluate_keyslots),
    CustomCheck::judged("luks_escrow", evaluate_escrow),
    CustomCheck::judged("luks_escrow_opens", evaluate_escrow_opens),
    CustomCheck::judged("luks_boot_unlock", evaluate_boot_unlock),
    CustomCheck::judged("luks_mounted", evaluate_mounted),
];

#[cfg(test)]
mod tests;
