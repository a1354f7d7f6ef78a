//! `luks status`: the host's block devices and volumes as an operator
//! reads them, and whether the root filesystem sits on dm-crypt.

use super::state::slots;
use crate::facts::{BlockDevice, Facts};
use crate::inventory::Host;
use std::collections::BTreeMap;

/// One block device as `luks status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceStatus {
    pub name: String,
    pub path: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    pub fstype: Option<String>,
    pub mountpoints: Vec<String>,
    /// Declared in the host's `disks:`.
    pub declared: bool,
    /// `luks2`, `luks1`, `dm-crypt` (an open mapping), `none`, or
    /// `unknown` (the host shows no node for it, so it was not probed).
    pub encryption: String,
    /// Cipher and key size, when known; or what was found.
    pub detail: Option<String>,
    pub children: Vec<DeviceStatus>,
}

/// A host's block devices and whether / sits on dm-crypt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostStatus {
    pub host: String,
    /// `yes`, `no`, or `unknown` (with the reason in `root_detail`).
    pub root_on_dm_crypt: String,
    pub root_detail: String,
    pub device_mapper: bool,
    pub devices: Vec<DeviceStatus>,
    /// Declared disks that the host does not have.
    pub missing: Vec<String>,
}

pub fn host_status(host: &Host, facts: &Facts) -> HostStatus {
    let declared: BTreeMap<String, String> = host
        .disks
        .iter()
        .filter_map(|d| {
            let p = d.to_string_lossy().to_string();
            let mm = facts.disks.get(&p)?.majmin.clone()?;
            Some((mm, p))
        })
        .collect();
    let missing = host
        .disks
        .iter()
        .map(|d| d.to_string_lossy().to_string())
        .filter(|d| !facts.disks.get(d).is_some_and(|p| p.present))
        .collect();
    let (root, root_detail) = root_on_dm_crypt(facts);
    HostStatus {
        host: host.name.clone(),
        root_on_dm_crypt: root.into(),
        root_detail,
        device_mapper: facts.luks.device_mapper,
        devices: facts
            .block_devices
            .iter()
            .map(|d| device_status(d, facts, &declared))
            .collect(),
        missing,
    }
}

fn device_status(
    d: &BlockDevice,
    facts: &Facts,
    declared: &BTreeMap<String, String>,
) -> DeviceStatus {
    let declared_path = declared.get(&d.majmin);
    // A declared disk is probed under its declared path (in a container
    // that is the only node for it); any other device under its own.
    let probe = declared_path
        .and_then(|p| facts.disks.get(p).map(|x| &x.signature))
        .or_else(|| d.path.as_ref().and_then(|p| facts.luks.probes.get(p)));
    let header = declared_path
        .and_then(|p| facts.disks.get(p))
        .and_then(|x| x.luks.as_ref());
    let fstype = probe
        .and_then(|p| p.get("TYPE").cloned())
        .or_else(|| d.fstype.clone());
    let (encryption, detail) = if d.kind == "crypt" {
        (
            "dm-crypt".to_string(),
            Some("an open dm-crypt mapping".to_string()),
        )
    } else if fstype.as_deref() == Some("crypto_LUKS") {
        let version = probe
            .and_then(|p| p.get("VERSION"))
            .cloned()
            .unwrap_or_default();
        let detail = header.map(|h| {
            let cipher = h
                .pointer("/segments/0/encryption")
                .and_then(|c| c.as_str())
                .unwrap_or("?");
            let bits = slots(h)
                .first()
                .and_then(|(_, s)| s.get("key_size"))
                .and_then(|k| k.as_u64())
                .map(|b| b * 8);
            format!(
                "{cipher}, {}-bit key, {} keyslot(s)",
                bits.map(|b| b.to_string()).unwrap_or("?".into()),
                slots(h).len()
            )
        });
        (format!("luks{version}"), detail)
    } else if probe.is_some() {
        (
            "none".to_string(),
            fstype.clone().map(|f| format!("holds {f}")),
        )
    } else {
        (
            "unknown".to_string(),
            Some("no device node on the host: not probed".to_string()),
        )
    };
    DeviceStatus {
        name: d.name.clone(),
        path: declared_path.cloned().or_else(|| d.path.clone()),
        kind: d.kind.clone(),
        size: d.size,
        fstype,
        mountpoints: {
            // lsblk repeats a mount point per mount namespace entry.
            let mut m: Vec<String> = d
                .mountpoints
                .iter()
                .filter(|m| !m.is_empty())
                .cloned()
                .collect();
            m.sort();
            m.dedup();
            m
        },
        declared: declared_path.is_some(),
        encryption,
        detail,
        children: d
            .children
            .iter()
            .map(|c| device_status(c, facts, declared))
            .collect(),
    }
}

/// Whether the root filesystem sits on dm-crypt: the chain of block
/// devices from a disk down to the one mounted at / contains a crypt
/// mapping.
pub fn root_on_dm_crypt(facts: &Facts) -> (&'static str, String) {
    fn chain<'a>(devs: &'a [BlockDevice], trail: &mut Vec<&'a BlockDevice>) -> bool {
        for d in devs {
            trail.push(d);
            if d.mountpoints.iter().any(|m| m == "/") || chain(&d.children, trail) {
                return true;
            }
            trail.pop();
        }
        false
    }
    let mut trail = Vec::new();
    if chain(&facts.block_devices, &mut trail) {
        let names: Vec<String> = trail
            .iter()
            .map(|d| format!("{} ({})", d.name, d.kind))
            .collect();
        let on_crypt = trail.iter().any(|d| d.kind == "crypt");
        return (
            if on_crypt { "yes" } else { "no" },
            format!("/ is on {}", names.join(" > ")),
        );
    }
    let root = facts.mounts.iter().find(|m| m.target == "/");
    match root {
        Some(m) if facts.virtualization.is_container() => (
            "unknown",
            format!(
                "/ is {} ({}) inside a container: the disk that holds it belongs to the container's host",
                m.source, m.fstype
            ),
        ),
        Some(m) => ("unknown", format!("/ is {} ({}), not a block device lsblk lists", m.source, m.fstype)),
        None => ("unknown", "no mount information for /".into()),
    }
}
