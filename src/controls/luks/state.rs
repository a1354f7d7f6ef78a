//! What a declared device is, judged from facts: missing, blank, in use
//! (refused), or LUKS with its header read back from `cryptsetup luksDump`.

use super::{CIPHER, KEY_BITS, SECTOR_SIZE};
use crate::facts::{BlockDevice, Facts, Probe};

/// What a declared device is, judged from facts.
#[derive(Debug, Clone, PartialEq)]
pub enum DiskState {
    /// Not a block device on the host.
    Missing,
    /// Nothing on it: safe to format.
    Blank,
    /// Something on it or using it (what was found).
    NotBlank(Vec<String>),
    /// A LUKS volume; `header` is `luksDump --dump-json-metadata` when
    /// cryptsetup could read it.
    Luks {
        version: String,
        header: Option<serde_json::Value>,
    },
}

fn find_device<'a>(devs: &'a [BlockDevice], majmin: &str) -> Option<&'a BlockDevice> {
    devs.iter().find_map(|d| {
        if d.majmin == majmin {
            Some(d)
        } else {
            find_device(&d.children, majmin)
        }
    })
}

pub fn disk_state(facts: &Facts, device: &str) -> DiskState {
    let Some(probe) = facts.disks.get(device).filter(|p| p.present) else {
        return DiskState::Missing;
    };
    let sig = &probe.signature;
    if sig.get("TYPE").map(String::as_str) == Some("crypto_LUKS") {
        return DiskState::Luks {
            version: sig.get("VERSION").cloned().unwrap_or_default(),
            header: probe.luks.clone(),
        };
    }
    let mut found = Vec::new();
    if let Some(t) = sig.get("TYPE") {
        found.push(match sig.get("UUID") {
            Some(u) => format!("{t} (UUID {u})"),
            None => t.clone(),
        });
    }
    if let Some(pt) = sig.get("PTTYPE") {
        found.push(format!("a {pt} partition table"));
    }
    let luks = facts.luks.disks.get(device);
    match luks.map(|l| &l.wipefs) {
        Some(Probe::Ok(sigs)) => {
            for s in sigs {
                let listed = sig.get("TYPE") == Some(&s.kind) || sig.get("PTTYPE") == Some(&s.kind);
                if !listed {
                    found.push(format!("a {} signature at offset {}", s.kind, s.offset));
                }
            }
        }
        Some(Probe::Failed(m)) => found.push(format!("something wipefs could not probe ({m})")),
        _ => found.push("something wipefs did not probe".into()),
    }
    if let Some(l) = luks {
        if !l.holders.is_empty() {
            found.push(format!("holders {} (in use)", l.holders.join(", ")));
        }
        if !l.swap.is_empty() {
            found.push("active swap on it".into());
        }
    }
    match probe
        .majmin
        .as_deref()
        .and_then(|m| find_device(&facts.block_devices, m))
    {
        Some(node) => {
            if !node.children.is_empty() {
                let names: Vec<&str> = node.children.iter().map(|c| c.name.as_str()).collect();
                found.push(format!("partitions {}", names.join(", ")));
            }
            let mut mounts = node.mountpoints.clone();
            mounts.retain(|m| !m.is_empty());
            if !mounts.is_empty() {
                found.push(format!("mounts at {}", mounts.join(", ")));
            }
        }
        None => found.push("no lsblk entry (state unknown)".into()),
    }
    if let Some(m) = facts.mounts.iter().find(|m| m.source == device) {
        let line = format!("mounts at {}", m.target);
        if !found.iter().any(|f| f.contains(&m.target)) {
            found.push(line);
        }
    }
    if found.is_empty() {
        DiskState::Blank
    } else {
        DiskState::NotBlank(found)
    }
}

/// Where the parameters of a LUKS header differ from the profile's.
pub fn header_problems(header: &serde_json::Value, device_size: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    let segment = header
        .pointer("/segments/0")
        .or_else(|| header.get("segments").and_then(first_value));
    match segment
        .and_then(|s| s.get("encryption"))
        .and_then(|e| e.as_str())
    {
        Some(CIPHER) => {}
        Some(other) => out.push(format!("cipher {other} (expected {CIPHER})")),
        None => out.push("no encrypted segment".into()),
    }
    let bits: Vec<u64> = slots(header)
        .iter()
        .filter_map(|(_, s)| s.get("key_size").and_then(|k| k.as_u64()))
        .map(|bytes| bytes * 8)
        .collect();
    match bits.first() {
        Some(&KEY_BITS) => {}
        Some(b) => out.push(format!("{b}-bit volume key (expected {KEY_BITS})")),
        None => out.push("no keyslot: volume key size unknown".into()),
    }
    let sector = segment
        .and_then(|s| s.get("sector_size"))
        .and_then(|s| s.as_u64());
    if let Some(sector) = sector {
        let supported = device_size.is_none_or(|n| n % SECTOR_SIZE == 0);
        if sector != SECTOR_SIZE && supported {
            out.push(format!("{sector}-byte sectors (expected {SECTOR_SIZE})"));
        }
    }
    out
}

fn first_value(v: &serde_json::Value) -> Option<&serde_json::Value> {
    v.as_object().and_then(|o| o.values().next())
}

/// The keyslots of a header: (number, object), in number order.
pub(super) fn slots(header: &serde_json::Value) -> Vec<(u32, &serde_json::Value)> {
    let mut out: Vec<(u32, &serde_json::Value)> = header
        .get("keyslots")
        .and_then(|k| k.as_object())
        .map(|o| {
            o.iter()
                .filter_map(|(n, v)| Some((n.parse().ok()?, v)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(n, _)| *n);
    out
}

/// The keyslots rampart's tokens of `kind` point at.
pub(super) fn token_slots(header: &serde_json::Value, kind: &str) -> Vec<u32> {
    let mut out: Vec<u32> = header
        .get("tokens")
        .and_then(|t| t.as_object())
        .map(|o| {
            o.values()
                .filter(|t| t.get("type").and_then(|k| k.as_str()) == Some(kind))
                .flat_map(|t| {
                    t.get("keyslots")
                        .and_then(|k| k.as_array())
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|s| s.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out.dedup();
    out
}

/// The token IDs of rampart's tokens of `kind`.
pub(super) fn token_ids(header: &serde_json::Value, kind: &str) -> Vec<u32> {
    header
        .get("tokens")
        .and_then(|t| t.as_object())
        .map(|o| {
            o.iter()
                .filter(|(_, t)| t.get("type").and_then(|k| k.as_str()) == Some(kind))
                .filter_map(|(id, _)| id.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn device_size(facts: &Facts, device: &str) -> Option<u64> {
    let majmin = facts.disks.get(device)?.majmin.as_deref()?;
    find_device(&facts.block_devices, majmin).map(|d| d.size)
}
