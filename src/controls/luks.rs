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
//! (the host's whole plan, see engine::safety) unless the operator names
//! `HOST:DEVICE` with `harden --wipe` for that run.
//!
//! Opening, mkfs and mounting need device-mapper; on a kernel without it
//! (the lab) they are reported not applicable and the rest still applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Action, Destroys, Resource};
use crate::engine::secret::{shell_binding, Escrow, Secret};
use crate::facts::{BlockDevice, EscrowTest, Facts, Probe};
use crate::inventory::{Host, Inventory};
use crate::transport::shell_quote;

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

// ---------------------------------------------------------------- state

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
fn slots(header: &serde_json::Value) -> Vec<(u32, &serde_json::Value)> {
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
fn token_slots(header: &serde_json::Value, kind: &str) -> Vec<u32> {
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
fn token_ids(header: &serde_json::Value, kind: &str) -> Vec<u32> {
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

fn device_size(facts: &Facts, device: &str) -> Option<u64> {
    let majmin = facts.disks.get(device)?.majmin.as_deref()?;
    find_device(&facts.block_devices, majmin).map(|d| d.size)
}

// ---------------------------------------------------------------- checks

/// Runs `judge` on every declared volume; not applicable without disks.
fn per_volume(
    ctx: &HostCtx,
    expected: &str,
    command: &str,
    judge: impl Fn(&Volume, &DiskState) -> Result<Option<String>, String>,
) -> Outcome {
    let vols = volumes(ctx.host);
    if vols.is_empty() {
        return Outcome::not_applicable("not applicable: the host declares no disks", expected);
    }
    let mut problems = Vec::new();
    let mut errors = Vec::new();
    for v in &vols {
        match judge(v, &disk_state(ctx.facts, &v.device)) {
            Ok(None) => {}
            Ok(Some(p)) => problems.push(format!("{}: {p}", v.device)),
            Err(e) => errors.push(format!("{}: {e}", v.device)),
        }
    }
    if problems.is_empty() && !errors.is_empty() {
        return Outcome::error(
            errors.join("; "),
            expected,
            evidence(command, errors.join("\n")),
        );
    }
    problems.extend(errors);
    let names: Vec<&str> = vols.iter().map(|v| v.device.as_str()).collect();
    Outcome::from_problems(
        problems,
        format!("{}: as expected", names.join(", ")),
        expected,
        command,
    )
}

fn not_luks(state: &DiskState) -> Option<String> {
    match state {
        DiskState::Missing => Some("not present on the host".into()),
        DiskState::Blank => Some("blank: not encrypted yet".into()),
        DiskState::NotBlank(found) => Some(format!("not encrypted: found {}", found.join(", "))),
        DiskState::Luks { .. } => None,
    }
}

fn header_of(state: &DiskState) -> Result<&serde_json::Value, Option<String>> {
    match state {
        DiskState::Luks {
            header: Some(h), ..
        } => Ok(h),
        DiskState::Luks { header: None, .. } => Err(None),
        other => Err(not_luks(other)),
    }
}

/// LUKS-02: every declared device is a LUKS2 volume.
pub fn evaluate_encrypted(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "every declared disk is a LUKS2 volume",
        "blkid -p; wipefs; lsblk",
        |_, state| {
            Ok(match state {
                DiskState::Luks { version, .. } if version == "2" => None,
                DiskState::Luks { version, .. } => {
                    Some(format!("LUKS version {version:?}, expected 2"))
                }
                other => not_luks(other),
            })
        },
    )
}

/// LUKS-03: cipher, key size and sector size.
pub fn evaluate_cipher(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "aes-xts-plain64 with a 512-bit volume key; 4096-byte sectors where the size allows",
        "cryptsetup luksDump --dump-json-metadata",
        |v, state| match header_of(state) {
            Ok(h) => {
                let p = header_problems(h, device_size(ctx.facts, &v.device));
                Ok((!p.is_empty()).then(|| p.join(", ")))
            }
            Err(Some(p)) => Ok(Some(p)),
            Err(None) => Err("the LUKS header could not be read (is cryptsetup installed?)".into()),
        },
    )
}

/// LUKS-04: every keyslot derives its key with argon2id.
pub fn evaluate_pbkdf(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "every keyslot uses argon2id",
        "cryptsetup luksDump --dump-json-metadata",
        |_, state| match header_of(state) {
            Ok(h) => {
                let weak: Vec<String> = slots(h)
                    .iter()
                    .filter_map(|(n, s)| {
                        let kdf = s
                            .pointer("/kdf/type")
                            .and_then(|t| t.as_str())
                            .unwrap_or("?");
                        (kdf != PBKDF).then(|| format!("keyslot {n} uses {kdf}"))
                    })
                    .collect();
                Ok((!weak.is_empty()).then(|| weak.join(", ")))
            }
            Err(Some(p)) => Ok(Some(p)),
            Err(None) => Err("the LUKS header could not be read (is cryptsetup installed?)".into()),
        },
    )
}

/// LUKS-05: exactly the escrow and host-keyfile keyslots.
pub fn evaluate_keyslots(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "two keyslots: the escrowed key and the host keyfile (rampart's tokens name them)",
        "cryptsetup luksDump --dump-json-metadata",
        |_, state| match header_of(state) {
            Ok(h) => Ok(keyslot_problems(h)),
            Err(Some(p)) => Ok(Some(p)),
            Err(None) => Err("the LUKS header could not be read (is cryptsetup installed?)".into()),
        },
    )
}

fn keyslot_problems(h: &serde_json::Value) -> Option<String> {
    let all: Vec<u32> = slots(h).iter().map(|(n, _)| *n).collect();
    let escrow = token_slots(h, ESCROW_TOKEN);
    let keyfile = token_slots(h, KEYFILE_TOKEN);
    let mut p = Vec::new();
    if escrow.len() != 1 {
        p.push(format!(
            "{} escrow keyslot(s) recorded (expected 1)",
            escrow.len()
        ));
    }
    if keyfile.len() != 1 {
        p.push(format!(
            "{} host-keyfile keyslot(s) recorded (expected 1)",
            keyfile.len()
        ));
    }
    let extra: Vec<String> = all
        .iter()
        .filter(|n| !escrow.contains(n) && !keyfile.contains(n))
        .map(|n| n.to_string())
        .collect();
    if !extra.is_empty() {
        p.push(format!(
            "{} keyslots; keyslot(s) {} beyond the expected ones",
            all.len(),
            extra.join(", ")
        ));
    }
    for n in escrow.iter().chain(&keyfile) {
        if !all.contains(n) {
            p.push(format!("a token names keyslot {n}, which is empty"));
        }
    }
    (!p.is_empty()).then(|| p.join(", "))
}

/// LUKS-06: the escrow file exists next to the inventory.
pub fn evaluate_escrow(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "the volume key is escrowed in secrets/luks/<host>-<device>.age",
        "test -s secrets/luks/<host>-<device>.age (on the control machine)",
        |v, _| {
            let path = escrow_path(ctx.inventory, &ctx.host.name, v);
            let present = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 0);
            Ok((!present).then(|| format!("no escrow at {}", path.display())))
        },
    )
}

/// LUKS-07: the escrowed key opens the volume (needs RAMPART_AGE_IDENTITY).
pub fn evaluate_escrow_opens(ctx: &HostCtx) -> Outcome {
    let expected = "the escrowed key opens the volume (cryptsetup open --test-passphrase)";
    let tests = &ctx.facts.luks.escrow_tests;
    if !ctx.host.disks.is_empty() && tests.is_empty() {
        return Outcome::not_applicable(
            "not applicable: RAMPART_AGE_IDENTITY is not set, so the escrowed keys were not tested on the host",
            expected,
        );
    }
    per_volume(
        ctx,
        expected,
        "cryptsetup open --test-passphrase --key-file=- (escrowed key on stdin)",
        |v, _| match tests.get(&v.device) {
            Some(EscrowTest::Opens) => Ok(None),
            Some(EscrowTest::DoesNotOpen(why)) => {
                Ok(Some(format!("the escrowed key does not open it ({why})")))
            }
            Some(EscrowTest::Error(e)) => Err(e.clone()),
            None => Err("not tested".into()),
        },
    )
}

/// LUKS-08: /etc/crypttab opens the volume at boot with the host keyfile.
pub fn evaluate_boot_unlock(ctx: &HostCtx) -> Outcome {
    per_volume(
        ctx,
        "an /etc/crypttab entry with the host keyfile (0400 root:root) and nofail",
        "cat /etc/crypttab; stat /etc/cryptsetup-keys.d/*.key",
        |v, state| {
            let DiskState::Luks { .. } = state else {
                return Ok(not_luks(state));
            };
            let uuid = ctx
                .facts
                .disks
                .get(&v.device)
                .and_then(|d| d.signature.get("UUID"));
            Ok(boot_unlock_problems(v, uuid.map(String::as_str), ctx.facts))
        },
    )
}

fn crypttab_entry<'a>(crypttab: &'a str, mapper: &str) -> Option<Vec<&'a str>> {
    crypttab
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&mapper) && !f[0].starts_with('#'))
}

fn boot_unlock_problems(v: &Volume, uuid: Option<&str>, facts: &Facts) -> Option<String> {
    let mut p = Vec::new();
    // Without the generator nothing reads /etc/crypttab: the boot waits for
    // the mapper device, gives up, and the volume stays closed (LUKS-11).
    if facts.luks.crypttab_generator == Some(false) {
        p.push("nothing reads /etc/crypttab at boot (no systemd-cryptsetup-generator)".to_string());
    }
    match crypttab_entry(facts.luks.crypttab.as_deref().unwrap_or(""), &v.mapper) {
        None => p.push(format!("no /etc/crypttab entry {}", v.mapper)),
        Some(f) => {
            let source_ok = match uuid {
                Some(u) => f.get(1) == Some(&format!("UUID={u}").as_str()),
                None => f.get(1) == Some(&v.device.as_str()),
            };
            if !source_ok {
                p.push(format!(
                    "crypttab {} names {} instead of this device",
                    v.mapper,
                    f.get(1).unwrap_or(&"nothing")
                ));
            }
            if f.get(2) != Some(&v.keyfile.as_str()) {
                p.push(format!("crypttab {} does not use {}", v.mapper, v.keyfile));
            }
            let opts: Vec<&str> = f.get(3).map(|o| o.split(',').collect()).unwrap_or_default();
            for want in ["luks", "nofail"] {
                if !opts.contains(&want) {
                    p.push(format!("crypttab {} lacks option {want}", v.mapper));
                }
            }
        }
    }
    match facts.luks.keyfiles.get(&v.keyfile) {
        None => p.push(format!("{} is missing", v.keyfile)),
        Some(m) if m.mode & 0o377 != 0 || m.owner != "root" || m.group != "root" => {
            p.push(format!(
                "{} is {:o} {}:{} (expected 400 root:root)",
                v.keyfile, m.mode, m.owner, m.group
            ))
        }
        Some(_) => {}
    }
    (!p.is_empty()).then(|| p.join(", "))
}

/// LUKS-09: the opened volume carries the filesystem and is mounted.
pub fn evaluate_mounted(ctx: &HostCtx) -> Outcome {
    let expected = "the opened volume is mounted from /etc/fstab with nofail";
    if !ctx.facts.luks.device_mapper && !ctx.host.disks.is_empty() {
        return Outcome::not_applicable(
            format!("{NO_DM}: the kernel cannot open LUKS volumes here, so there is no filesystem to mount"),
            expected,
        );
    }
    per_volume(ctx, expected, "cat /etc/fstab; findmnt", |v, _| {
        let target = mountpoint(ctx, v);
        let source = format!("/dev/mapper/{}", v.mapper);
        let mut p = Vec::new();
        let entry = ctx
            .facts
            .luks
            .fstab
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&source.as_str()));
        match entry {
            None => p.push(format!("no /etc/fstab entry for {source}")),
            Some(f) => {
                if f.get(1) != Some(&target.as_str()) {
                    p.push(format!(
                        "fstab mounts {source} at {}",
                        f.get(1).unwrap_or(&"?")
                    ));
                }
                if !f
                    .get(3)
                    .is_some_and(|o| o.split(',').any(|o| o == "nofail"))
                {
                    p.push("fstab entry lacks nofail".into());
                }
            }
        }
        if !ctx
            .facts
            .mounts
            .iter()
            .any(|m| m.target == target && m.source == source)
        {
            p.push(format!("{source} is not mounted at {target}"));
        }
        Ok((!p.is_empty()).then(|| p.join(", ")))
    })
}

// ---------------------------------------------------------------- vars

/// The filesystem the profile creates on opened volumes.
fn filesystem(ctx: &HostCtx) -> String {
    match ctx.var_str("luks_filesystem") {
        s if s.is_empty() => "ext4".into(),
        s => s,
    }
}

/// `luks_mountpoint` for a single disk; with several, each gets
/// `<mountpoint>-<device>`. `luks_mounts: {/dev/vdb: /srv/pg}` overrides.
fn mountpoint(ctx: &HostCtx, v: &Volume) -> String {
    if let Some(serde_yaml::Value::Mapping(m)) = ctx.vars.get("luks_mounts") {
        if let Some(t) = m
            .get(serde_yaml::Value::String(v.device.clone()))
            .and_then(|t| t.as_str())
        {
            return t.to_string();
        }
    }
    let base = match ctx.var_str("luks_mountpoint") {
        s if s.is_empty() => "/srv/data".to_string(),
        s => s,
    };
    if ctx.host.disks.len() > 1 {
        format!("{base}-{}", v.short)
    } else {
        base
    }
}

/// argon2id cost settings (`luks_pbkdf_memory_kib`,
/// `luks_pbkdf_iterations`); an empty value lets cryptsetup decide.
fn pbkdf_flags(ctx: &HostCtx) -> String {
    let mut f = format!("--pbkdf {PBKDF}");
    if let Ok(memory) = ctx.var_str("luks_pbkdf_memory_kib").parse::<u32>() {
        f.push_str(&format!(" --pbkdf-memory {memory}"));
    }
    if let Ok(iterations) = ctx.var_str("luks_pbkdf_iterations").parse::<u32>() {
        f.push_str(&format!(" --pbkdf-force-iterations {iterations}"));
    }
    f
}

// ---------------------------------------------------------------- harden

/// Everything a format step needs, rendered into its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatPlan {
    pub volume: Volume,
    /// `wipefs -a` first (the operator named the device with --wipe).
    pub wipe: bool,
    pub sector_size: u64,
    pub pbkdf: String,
    /// Open, mkfs and mount (only where the kernel has device-mapper).
    pub mount: Option<MountPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub filesystem: String,
    pub target: String,
}

fn token_json(kind: &str, slot: u32) -> String {
    format!("{{\"type\":\"{kind}\",\"keyslots\":[\"{slot}\"]}}")
}

/// The format step. The key is only ever `"$RAMPART_SECRET"`, handed to
/// cryptsetup on stdin by the `printf` builtin; the host keyfile is made
/// on the host and never leaves it.
pub fn format_script(p: &FormatPlan) -> String {
    let v = &p.volume;
    let dev = shell_quote(&v.device);
    let kf = shell_quote(&v.keyfile);
    let mut s = format!("dev={dev}\nkf={kf}\n[ -b \"$dev\" ] || {{ echo \"$dev is not a block device\"; exit 1; }}\n");
    if p.wipe {
        s.push_str("wipefs -a -q \"$dev\"\n");
    } else {
        // Facts may be stale: the device must still be blank right now.
        s.push_str(
            "if [ -n \"$(wipefs --noheadings -o TYPE \"$dev\")\" ] || [ -n \"$(blkid -p -o value -s TYPE \"$dev\")$(blkid -p -o value -s PTTYPE \"$dev\")\" ]; then echo \"$dev is no longer blank; nothing was changed\"; exit 1; fi\n",
        );
    }
    s.push_str(&format!(
        "printf '%s' \"$RAMPART_SECRET\" | cryptsetup luksFormat --batch-mode --type luks2 --cipher {CIPHER} --key-size {KEY_BITS} --hash sha256 {pbkdf} --sector-size {sector} --label {label} --key-slot {ESCROW_SLOT} --key-file=- \"$dev\"\n",
        pbkdf = p.pbkdf,
        sector = p.sector_size,
        label = shell_quote(&v.label),
    ));
    s.push_str(&format!(
        "install -d -m 0700 -o root -g root {KEYFILE_DIR}\nrm -f \"$kf.new\"\n( umask 0377; head -c {KEY_BYTES} /dev/urandom > \"$kf.new\" )\nchown root:root \"$kf.new\"\nmv -f \"$kf.new\" \"$kf\"\n"
    ));
    s.push_str(&format!(
        "printf '%s' \"$RAMPART_SECRET\" | cryptsetup luksAddKey --batch-mode {pbkdf} --key-slot {ESCROW_SLOT} --new-key-slot {KEYFILE_SLOT} --key-file=- \"$dev\" \"$kf\"\n",
        pbkdf = p.pbkdf
    ));
    for (kind, slot, id) in [
        (ESCROW_TOKEN, ESCROW_SLOT, 0),
        (KEYFILE_TOKEN, KEYFILE_SLOT, 1),
    ] {
        s.push_str(&format!(
            "printf '%s' '{}' | cryptsetup token import --token-id {id} \"$dev\"\n",
            token_json(kind, slot)
        ));
    }
    s.push_str(&crypttab_script(v));
    if let Some(m) = &p.mount {
        s.push_str(&mount_script(v, m));
    }
    s
}

/// Replaces the volume's /etc/crypttab line (other lines stay as they
/// are), through a temporary file, the previous file backed up.
pub fn crypttab_script(v: &Volume) -> String {
    format!(
        "uuid=$(cryptsetup luksUUID \"$dev\")\nline=$(printf '%s UUID=%s %s luks,nofail' {m} \"$uuid\" {kf})\ntouch /etc/crypttab\nbackup /etc/crypttab\n{{ grep -v {pattern} /etc/crypttab || true; echo \"$line\"; }} > /etc/crypttab.rampart-new\nchmod 0644 /etc/crypttab.rampart-new\nmv -f /etc/crypttab.rampart-new /etc/crypttab\n",
        m = shell_quote(&v.mapper),
        kf = shell_quote(&v.keyfile),
        pattern = shell_quote(&line_start_pattern(&v.mapper)),
    )
}

/// A grep pattern (BRE) for lines whose first field is `word`: every
/// character that BRE gives a meaning is escaped.
fn line_start_pattern(word: &str) -> String {
    let mut p = String::from("^");
    for c in word.chars() {
        if ".[]\\*^$".contains(c) {
            p.push('\\');
        }
        p.push(c);
    }
    p.push_str("[[:space:]]");
    p
}

/// Open with the host keyfile, mkfs only a mapping that holds nothing,
/// an fstab line with nofail, mount.
pub fn mount_script(v: &Volume, m: &MountPlan) -> String {
    let raw_map = format!("/dev/mapper/{}", v.mapper);
    let map = shell_quote(&raw_map);
    let target = shell_quote(&m.target);
    format!(
        "[ -e {map} ] || cryptsetup open --key-file \"$kf\" \"$dev\" {mapper}\n\
         if [ -z \"$(blkid -p -o value -s TYPE {map})\" ]; then mkfs -t {fs} -q {map}; fi\n\
         mkdir -p {target}\n\
         backup /etc/fstab\n\
         {{ grep -v {pattern} /etc/fstab || true; echo {line}; }} > /etc/fstab.rampart-new\n\
         chmod 0644 /etc/fstab.rampart-new\nmv -f /etc/fstab.rampart-new /etc/fstab\n\
         mountpoint -q {target} || mount {target}\n",
        mapper = shell_quote(&v.mapper),
        fs = shell_quote(&m.filesystem),
        pattern = shell_quote(&line_start_pattern(&raw_map)),
        line = shell_quote(&format!(
            "{raw_map} {} {} defaults,nofail 0 2",
            m.target, m.filesystem
        )),
    )
}

fn format_action(
    ctx: &HostCtx,
    v: &Volume,
    destroys: Option<Destroys>,
) -> Result<Resource, String> {
    let size = device_size(ctx.facts, &v.device);
    let sector_size = if size.is_none_or(|n| n % SECTOR_SIZE == 0) {
        SECTOR_SIZE
    } else {
        512
    };
    let mount = ctx.facts.luks.device_mapper.then(|| MountPlan {
        filesystem: filesystem(ctx),
        target: mountpoint(ctx, v),
    });
    let plan = FormatPlan {
        volume: v.clone(),
        wipe: destroys.is_some(),
        sector_size,
        pbkdf: pbkdf_flags(ctx),
        mount,
    };
    if ctx.inventory.secrets.recipients.is_empty() {
        return Err(format!(
            "{}: cannot format {} without secrets.recipients to escrow its key",
            ctx.host.name, v.device
        ));
    }
    let secret = Secret::random_hex(KEY_BYTES).map_err(|e| e.to_string())?;
    let escrow = Escrow {
        path: escrow_path(ctx.inventory, &ctx.host.name, v),
        recipients: ctx.inventory.secrets.recipients.clone(),
    };
    let after = match &plan.mount {
        Some(m) => format!("open, mkfs {}, mount at {}", m.filesystem, m.target),
        None => format!("open, mkfs, mount: {NO_DM}"),
    };
    Ok(Resource::Action(Box::new(Action {
        summary: format!(
            "luks format {} (LUKS2 {CIPHER} {KEY_BITS}-bit, {PBKDF}, {sector_size}-byte sectors, label {}; key escrowed to {}; host keyfile {}; crypttab {}; {after}){}",
            v.device,
            v.label,
            escrow.path.display(),
            v.keyfile,
            v.mapper,
            if plan.wipe { "; WIPES the device first (--wipe)" } else { "" },
        ),
        script: format_script(&plan),
        secret: Some(secret),
        escrow: Some(escrow),
        destroys,
    })))
}

fn simple_action(summary: String, script: String) -> Resource {
    Resource::Action(Box::new(Action {
        summary,
        script,
        secret: None,
        escrow: None,
        destroys: None,
    }))
}

/// The resources of LUKS-02: a format step for each blank device (or one
/// the operator may wipe), repairs of crypttab and mounts for volumes that
/// are already rampart's.
pub fn resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    for v in volumes(ctx.host) {
        let state = disk_state(ctx.facts, &v.device);
        match &state {
            DiskState::Missing => {
                return Err(format!(
                    "{}: declared disk {} is not a block device on the host",
                    ctx.host.name, v.device
                ))
            }
            DiskState::Blank => out.push(format_action(ctx, &v, None)?),
            DiskState::NotBlank(found) => out.push(format_action(
                ctx,
                &v,
                Some(Destroys {
                    target: v.consent(&ctx.host.name),
                    found: format!("found {}", found.join(", ")),
                }),
            )?),
            DiskState::Luks { version, header } => {
                let wrong = match header {
                    _ if version != "2" => vec![format!("LUKS version {version:?}")],
                    Some(h) => header_problems(h, device_size(ctx.facts, &v.device)),
                    None => Vec::new(), // unreadable until cryptsetup is installed
                };
                if !wrong.is_empty() {
                    out.push(format_action(
                        ctx,
                        &v,
                        Some(Destroys {
                            target: v.consent(&ctx.host.name),
                            found: format!("is a LUKS volume with {}", wrong.join(", ")),
                        }),
                    )?);
                    continue;
                }
                out.extend(repairs(ctx, &v, header.as_ref()));
            }
        }
    }
    Ok(out)
}

/// For a volume that is already rampart's: restore its crypttab line (the
/// keyfile is still there), and open/mount it where device-mapper exists.
fn repairs(ctx: &HostCtx, v: &Volume, header: Option<&serde_json::Value>) -> Vec<Resource> {
    let mut out = Vec::new();
    let has_keyfile = ctx.facts.luks.keyfiles.contains_key(&v.keyfile);
    let ours = header.is_some_and(|h| token_slots(h, KEYFILE_TOKEN).len() == 1);
    if !has_keyfile || !ours {
        return out; // nothing rampart can repair without a key; verify says so
    }
    let dev = shell_quote(&v.device);
    let kf = shell_quote(&v.keyfile);
    let uuid = ctx
        .facts
        .disks
        .get(&v.device)
        .and_then(|d| d.signature.get("UUID"));
    if boot_unlock_problems(v, uuid.map(String::as_str), ctx.facts)
        .is_some_and(|p| p.contains("crypttab"))
    {
        out.push(simple_action(
            format!("luks crypttab entry {} for {}", v.mapper, v.device),
            format!("dev={dev}\nkf={kf}\n{}", crypttab_script(v)),
        ));
    }
    if ctx.facts.luks.device_mapper {
        let m = MountPlan {
            filesystem: filesystem(ctx),
            target: mountpoint(ctx, v),
        };
        let source = format!("/dev/mapper/{}", v.mapper);
        let mounted = ctx
            .facts
            .mounts
            .iter()
            .any(|x| x.target == m.target && x.source == source);
        if !mounted {
            out.push(simple_action(
                format!(
                    "luks open {} as {} and mount it at {}",
                    v.device, v.mapper, m.target
                ),
                format!("dev={dev}\nkf={kf}\n{}", mount_script(v, &m)),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------- verify's escrow test

/// The script that tests each volume's escrowed key on the host, and the
/// devices it tests. Keys travel in the script on stdin, bound by `read`.
pub struct EscrowProbe {
    pub script: String,
    /// Results known without asking the host (escrow unreadable, …).
    pub known: BTreeMap<String, EscrowTest>,
}

pub fn escrow_probe(ctx: &HostCtx, identities: &[Box<dyn age::Identity>]) -> EscrowProbe {
    let mut script = String::from(
        "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
    let mut known = BTreeMap::new();
    for (i, v) in volumes(ctx.host).iter().enumerate() {
        let header = match disk_state(ctx.facts, &v.device) {
            DiskState::Luks { header, .. } => header,
            _ => {
                known.insert(
                    v.device.clone(),
                    EscrowTest::DoesNotOpen("not a LUKS volume".into()),
                );
                continue;
            }
        };
        let path = escrow_path(ctx.inventory, &ctx.host.name, v);
        let secret = match crate::engine::secret::open_escrow(&path, identities) {
            Ok(s) => s,
            Err(e) => {
                known.insert(v.device.clone(), EscrowTest::Error(e.to_string()));
                continue;
            }
        };
        let var = format!("K{i}");
        let slot = header
            .as_ref()
            .and_then(|h| token_slots(h, ESCROW_TOKEN).first().copied())
            .map(|s| format!(" --key-slot {s}"))
            .unwrap_or_default();
        script.push_str(&shell_binding(&var, &secret));
        script.push_str(&escrow_test_line(&var, &slot, &v.device));
    }
    EscrowProbe { script, known }
}

/// Tests the escrowed key in `$var` against `device` and reports it; the
/// device is quoted wherever it appears (the echo too: it once sat raw
/// inside single quotes).
pub fn escrow_test_line(var: &str, slot: &str, device: &str) -> String {
    let dev = shell_quote(device);
    format!(
        "if printf '%s' \"${var}\" | cryptsetup open --test-passphrase{slot} --key-file=- {dev} >/dev/null 2>&1; then echo '@@escrow ok '{dev}; else echo \"@@escrow no $? \"{dev}; fi\nunset {var}\n"
    )
}

/// Reads `@@escrow ok DEV` / `@@escrow no RC DEV` lines.
pub fn parse_escrow_probe(stdout: &str, probe: EscrowProbe) -> BTreeMap<String, EscrowTest> {
    let mut out = probe.known;
    for line in stdout.lines() {
        if let Some(dev) = line.strip_prefix("@@escrow ok ") {
            out.insert(dev.trim().to_string(), EscrowTest::Opens);
        } else if let Some(rest) = line.strip_prefix("@@escrow no ") {
            if let Some((rc, dev)) = rest.split_once(' ') {
                out.insert(
                    dev.trim().to_string(),
                    EscrowTest::DoesNotOpen(format!("cryptsetup exit status {rc}")),
                );
            }
        }
    }
    out
}

// ---------------------------------------------------------------- status

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

// ---------------------------------------------------------------- rotate

/// What rotating one volume's escrowed key does, decided from facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub volume: Volume,
    /// The slot of the escrowed key being replaced.
    pub old_slot: u32,
    /// The free slot the new key goes to.
    pub new_slot: u32,
    /// Token IDs of the old escrow token (removed) and the new one.
    pub old_tokens: Vec<u32>,
    pub new_token: u32,
    pub pbkdf: String,
}

pub fn plan_rotation(ctx: &HostCtx, device: &str) -> Result<Rotation, String> {
    let v = volumes(ctx.host)
        .into_iter()
        .find(|v| v.device == device)
        .ok_or_else(|| format!("{device} is not one of {}'s declared disks", ctx.host.name))?;
    let header = match disk_state(ctx.facts, device) {
        DiskState::Luks {
            header: Some(h), ..
        } => h,
        DiskState::Luks { header: None, .. } => {
            return Err(format!(
                "{device}: the LUKS header could not be read (is cryptsetup installed?)"
            ))
        }
        other => {
            return Err(format!(
                "{device} is not a LUKS volume: {}",
                not_luks(&other).unwrap_or_default()
            ))
        }
    };
    let escrow = token_slots(&header, ESCROW_TOKEN);
    let [old_slot] = escrow[..] else {
        return Err(format!(
            "{device}: expected one keyslot recorded as the escrowed key, found {escrow:?}"
        ));
    };
    if token_slots(&header, KEYFILE_TOKEN).is_empty()
        || !ctx.facts.luks.keyfiles.contains_key(&v.keyfile)
    {
        return Err(format!(
            "{device}: the host keyfile {} that authorises the new key is missing",
            v.keyfile
        ));
    }
    let used: Vec<u32> = slots(&header).iter().map(|(n, _)| *n).collect();
    let new_slot = (0..32)
        .find(|n| !used.contains(n))
        .ok_or("no free keyslot")?;
    let token_used: Vec<u32> = header
        .get("tokens")
        .and_then(|t| t.as_object())
        .map(|o| o.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default();
    let new_token = (0..32)
        .find(|n| !token_used.contains(n))
        .ok_or("no free token")?;
    Ok(Rotation {
        old_tokens: token_ids(&header, ESCROW_TOKEN),
        volume: v,
        old_slot,
        new_slot,
        new_token,
        pbkdf: pbkdf_flags(ctx),
    })
}

/// The rotation on the host: add the new key (authorised by the host
/// keyfile), prove it, and only then kill the old slot and move the token.
/// Each stage prints a marker so the caller knows how far it got.
pub fn rotate_script(r: &Rotation, secret: &Secret) -> String {
    let v = &r.volume;
    let mut s = String::from("set -u\nexport LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    s.push_str(&shell_binding("RAMPART_SECRET", secret));
    s.push_str(&format!(
        "dev={}\nkf={}\n",
        shell_quote(&v.device),
        shell_quote(&v.keyfile)
    ));
    s.push_str(&format!(
        "printf '%s' \"$RAMPART_SECRET\" | cryptsetup luksAddKey --batch-mode {pbkdf} --key-file \"$kf\" --new-key-slot {new} --new-keyfile=- \"$dev\" || {{ echo '@@rotate add-failed'; exit 1; }}\necho '@@rotate added'\n",
        pbkdf = r.pbkdf,
        new = r.new_slot
    ));
    s.push_str(&format!(
        "if ! printf '%s' \"$RAMPART_SECRET\" | cryptsetup open --test-passphrase --key-slot {new} --key-file=- \"$dev\"; then echo '@@rotate test-failed'; cryptsetup luksKillSlot --batch-mode --key-file \"$kf\" \"$dev\" {new}; exit 1; fi\necho '@@rotate tested'\nunset RAMPART_SECRET\n",
        new = r.new_slot
    ));
    s.push_str(&format!(
        "printf '%s' '{}' | cryptsetup token import --token-id {} \"$dev\" || {{ echo '@@rotate token-failed'; exit 1; }}\n",
        token_json(ESCROW_TOKEN, r.new_slot),
        r.new_token
    ));
    for t in &r.old_tokens {
        s.push_str(&format!("cryptsetup token remove --token-id {t} \"$dev\" || {{ echo '@@rotate token-failed'; exit 1; }}\n"));
    }
    s.push_str(&format!(
        "cryptsetup luksKillSlot --batch-mode --key-file \"$kf\" \"$dev\" {old} || {{ echo '@@rotate kill-failed'; exit 1; }}\necho '@@rotate done'\n",
        old = r.old_slot
    ));
    s
}

/// The rotation's last stage reached, from its markers.
pub fn rotate_outcome(stdout: &str) -> &'static str {
    let mut last = "nothing";
    for line in stdout.lines() {
        last = match line.trim() {
            "@@rotate added" => "added",
            "@@rotate tested" => "tested",
            "@@rotate done" => "done",
            "@@rotate add-failed" => "add-failed",
            "@@rotate test-failed" => "test-failed",
            "@@rotate token-failed" => "token-failed",
            "@@rotate kill-failed" => "kill-failed",
            _ => last,
        };
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{LuksDiskProbe, Mount, Signature};

    fn recorded(name: &str) -> Facts {
        let text = match name {
            "blank" => include_str!("../../tests/fixtures/facts/luks-blank.json"),
            "ext4" => include_str!("../../tests/fixtures/facts/luks-ext4.json"),
            _ => include_str!("../../tests/fixtures/facts/luks-formatted.json"),
        };
        serde_json::from_str(text).expect("recorded facts parse")
    }

    const RECIPIENT: &str = "age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74";

    fn inventory(dir: &Path, recipients: bool) -> Inventory {
        let secrets = if recipients {
            format!("secrets:\n  recipients: [\"{RECIPIENT}\"]\n")
        } else {
            String::new()
        };
        let text = format!(
            "{secrets}hosts:\n  luks-1:\n    address: 10.0.0.1\n    roles: [luks]\n    disks: [/dev/vdb]\n  plain:\n    address: 10.0.0.2\n    roles: [base]\n"
        );
        Inventory::parse(&dir.join("inventory.yaml"), &text).expect("valid inventory")
    }

    fn vars() -> crate::controls::Vars {
        let profiles = crate::controls::builtin_profiles().expect("profiles");
        let luks: Vec<&crate::controls::Profile> =
            profiles.iter().filter(|p| p.profile == "luks").collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = inventory(dir.path(), true);
        crate::controls::dispatch::host_vars(
            &Default::default(),
            &luks,
            "13",
            inv.host("luks-1").expect("host"),
        )
    }

    fn with_ctx<T>(facts: &Facts, recipients: bool, f: impl FnOnce(&HostCtx) -> T) -> T {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = inventory(dir.path(), recipients);
        let vars = vars();
        let ctx = HostCtx {
            host: inv.host("luks-1").expect("host"),
            inventory: &inv,
            facts,
            vars: &vars,
            mesh: &Default::default(),
        };
        f(&ctx)
    }

    fn actions(resources: &[Resource]) -> Vec<&Action> {
        resources
            .iter()
            .filter_map(|r| match r {
                Resource::Action(a) => Some(a.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_volume_is_named_after_host_and_device() {
        let v = Volume::new("web-1", Path::new("/dev/vdb"));
        assert_eq!(v.short, "vdb");
        assert_eq!(v.mapper, "vdb_crypt");
        assert_eq!(v.keyfile, "/etc/cryptsetup-keys.d/vdb_crypt.key");
        assert_eq!(v.label, "web-1:vdb");
        assert_eq!(v.consent("web-1"), "web-1:/dev/vdb");
        let by_id = Volume::new("db-1", Path::new("/dev/disk/by-id/scsi-0HC_Volume_1"));
        assert_eq!(by_id.short, "disk-by-id-scsi-0HC_Volume_1");
        assert_eq!(by_id.mapper, "disk_by_id_scsi_0HC_Volume_1_crypt");
        let long = Volume::new(&"h".repeat(60), Path::new("/dev/vdb"));
        assert_eq!(long.label.len(), 47, "LUKS2 labels hold 47 bytes");
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = inventory(dir.path(), true);
        assert_eq!(
            escrow_path(
                &inv,
                "luks-1",
                &Volume::new("luks-1", Path::new("/dev/vdb"))
            ),
            dir.path().join("secrets/luks/luks-1-vdb.age")
        );
    }

    #[test]
    fn blank_is_decided_from_signatures_wipefs_and_lsblk() {
        assert_eq!(disk_state(&recorded("blank"), "/dev/vdb"), DiskState::Blank);
        match disk_state(&recorded("ext4"), "/dev/vdb") {
            DiskState::NotBlank(found) => {
                assert!(found[0].starts_with("ext4 (UUID "), "{found:?}");
                assert_eq!(
                    found.len(),
                    1,
                    "wipefs's ext4 is the same signature: {found:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        match disk_state(&recorded("formatted"), "/dev/vdb") {
            DiskState::Luks { version, header } => {
                assert_eq!(version, "2");
                assert!(header.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            disk_state(&recorded("blank"), "/dev/vdc"),
            DiskState::Missing
        );
    }

    #[test]
    fn anything_using_the_device_makes_it_not_blank() {
        let found = |edit: &dyn Fn(&mut Facts)| {
            let mut f = recorded("blank");
            edit(&mut f);
            match disk_state(&f, "/dev/vdb") {
                DiskState::NotBlank(found) => found.join("; "),
                other => panic!("{other:?}"),
            }
        };
        let probe = |f: &mut Facts| f.luks.disks.get_mut("/dev/vdb").expect("probed").clone();
        assert!(found(&|f| {
            let mut p = probe(f);
            p.holders = vec!["dm-0".into()];
            f.luks.disks.insert("/dev/vdb".into(), p);
        })
        .contains("holders dm-0"));
        assert!(found(&|f| {
            let mut p = probe(f);
            p.swap = vec!["/dev/vdb".into()];
            f.luks.disks.insert("/dev/vdb".into(), p);
        })
        .contains("swap"));
        assert!(found(&|f| {
            let mut p = probe(f);
            p.wipefs = Probe::Ok(vec![Signature {
                kind: "xfs".into(),
                offset: "0x0".into(),
            }]);
            f.luks.disks.insert("/dev/vdb".into(), p);
        })
        .contains("a xfs signature at offset 0x0"));
        assert!(found(&|f| {
            f.luks
                .disks
                .insert("/dev/vdb".into(), LuksDiskProbe::default());
        })
        .contains("wipefs did not probe"));
        assert!(found(&|f| {
            f.disks
                .get_mut("/dev/vdb")
                .expect("disk")
                .signature
                .insert("PTTYPE".into(), "gpt".into());
        })
        .contains("a gpt partition table"));
        assert!(found(&|f| {
            let node = f
                .block_devices
                .iter_mut()
                .find(|d| d.majmin == "7:0")
                .expect("loop0");
            node.children.push(BlockDevice {
                name: "loop0p1".into(),
                kind: "part".into(),
                ..Default::default()
            });
        })
        .contains("partitions loop0p1"));
        assert!(found(&|f| {
            f.mounts.push(Mount {
                target: "/mnt".into(),
                source: "/dev/vdb".into(),
                fstype: "ext4".into(),
                options: String::new(),
            });
        })
        .contains("mounts at /mnt"));
        assert!(found(&|f| f.block_devices.clear()).contains("no lsblk entry"));
    }

    #[test]
    fn headers_are_judged_on_cipher_key_size_and_sectors() {
        let f = recorded("formatted");
        let DiskState::Luks {
            header: Some(h), ..
        } = disk_state(&f, "/dev/vdb")
        else {
            panic!("formatted");
        };
        assert!(header_problems(&h, Some(64 << 20)).is_empty());
        assert_eq!(keyslot_problems(&h), None);
        let mut weak = h.clone();
        weak["segments"]["0"]["encryption"] = "aes-cbc-essiv:sha256".into();
        weak["segments"]["0"]["sector_size"] = 512.into();
        for slot in ["0", "1"] {
            weak["keyslots"][slot]["key_size"] = 32.into();
        }
        assert_eq!(
            header_problems(&weak, Some(64 << 20)),
            [
                "cipher aes-cbc-essiv:sha256 (expected aes-xts-plain64)",
                "256-bit volume key (expected 512)",
                "512-byte sectors (expected 4096)"
            ]
        );
        assert_eq!(
            header_problems(&weak, Some(4096 * 3 + 512)).len(),
            2,
            "512-byte sectors where 4096 do not fit"
        );
        let mut extra = h.clone();
        extra["keyslots"]["2"] = h["keyslots"]["0"].clone();
        assert_eq!(
            keyslot_problems(&extra).as_deref(),
            Some("3 keyslots; keyslot(s) 2 beyond the expected ones")
        );
        let mut untracked = h.clone();
        untracked["tokens"] = serde_json::json!({});
        let p = keyslot_problems(&untracked).expect("problems");
        assert!(
            p.contains("0 escrow keyslot(s)") && p.contains("keyslot(s) 0, 1 beyond"),
            "{p}"
        );
    }

    #[test]
    fn a_blank_disk_gets_a_format_step_with_an_escrowed_secret() {
        let f = recorded("blank");
        with_ctx(&f, true, |ctx| {
            let r = resources(ctx).expect("resources");
            let a = actions(&r);
            assert_eq!(a.len(), 1);
            let a = a[0];
            let secret = a.secret.as_ref().expect("a key");
            assert_eq!(secret.expose().len(), KEY_BYTES * 2);
            assert!(a.destroys.is_none(), "blank: nothing destroyed");
            let escrow = a.escrow.as_ref().expect("escrow");
            assert!(escrow.path.ends_with("secrets/luks/luks-1-vdb.age"));
            assert_eq!(escrow.recipients, [RECIPIENT]);
            assert!(
                a.summary
                    .contains("open, mkfs, mount: not applicable: no device-mapper"),
                "{}",
                a.summary
            );
            // The key is nowhere but in the secret: not the script, the
            // summary, the plan's change, nor any Debug rendering.
            let change = Resource::Action(Box::new(a.clone()))
                .diff(&f)
                .expect("a change");
            for text in [
                a.script.clone(),
                a.summary.clone(),
                format!("{a:?}"),
                format!("{change:?}"),
                change.to_string(),
            ] {
                assert!(!text.contains(secret.expose()), "key leaked into {text}");
            }
        });
    }

    #[test]
    fn a_disk_holding_data_is_refused_unless_named_for_this_run() {
        let f = recorded("ext4");
        with_ctx(&f, true, |ctx| {
            let r = resources(ctx).expect("resources");
            let a = actions(&r);
            let d = a[0].destroys.as_ref().expect("destructive");
            assert_eq!(d.target, "luks-1:/dev/vdb");
            assert!(d.found.starts_with("found ext4 (UUID "), "{}", d.found);
            assert!(a[0].script.contains("wipefs -a -q \"$dev\""));
            let err =
                crate::engine::safety::refuse_destruction("luks-1", &r, &[]).expect_err("refused");
            assert!(
                err.contains("luks-1:/dev/vdb: found ext4")
                    && err.contains("--wipe luks-1:/dev/vdb"),
                "{err}"
            );
            assert!(crate::engine::safety::refuse_destruction(
                "luks-1",
                &r,
                &["luks-1:/dev/vdb".into()]
            )
            .is_ok());
        });
        let blank = recorded("blank");
        with_ctx(&blank, true, |ctx| {
            let r = resources(ctx).expect("resources");
            assert!(
                !actions(&r)[0].script.contains("wipefs -a"),
                "a blank disk is never wiped"
            );
        });
    }

    #[test]
    fn a_compliant_volume_needs_nothing_and_a_lost_crypttab_line_is_restored() {
        let mut f = recorded("formatted");
        with_ctx(&f, true, |ctx| {
            assert!(resources(ctx).expect("resources").is_empty())
        });
        f.luks.crypttab = Some(String::new());
        with_ctx(&f, true, |ctx| {
            let r = resources(ctx).expect("resources");
            let a = actions(&r);
            assert_eq!(a.len(), 1);
            assert!(a[0].summary.starts_with("luks crypttab entry vdb_crypt"));
            assert!(
                a[0].secret.is_none(),
                "the keyfile is on the host: no key travels"
            );
        });
        f.luks.device_mapper = true;
        with_ctx(&f, true, |ctx| {
            let r = resources(ctx).expect("resources");
            let mount = actions(&r)
                .into_iter()
                .find(|a| a.summary.starts_with("luks open"))
                .expect("mount step");
            assert!(mount.summary.contains("/srv/data"));
        });
    }

    #[test]
    fn a_declared_disk_the_host_lacks_fails_the_plan() {
        let mut f = recorded("blank");
        f.disks.get_mut("/dev/vdb").expect("disk").present = false;
        with_ctx(&f, true, |ctx| {
            let err = resources(ctx).expect_err("missing disk");
            assert!(
                err.contains("declared disk /dev/vdb is not a block device"),
                "{err}"
            );
        });
    }

    #[test]
    fn the_format_script_hands_the_key_to_cryptsetup_on_stdin_only() {
        let plan = FormatPlan {
            volume: Volume::new("luks-1", Path::new("/dev/vdb")),
            wipe: false,
            sector_size: 4096,
            pbkdf: "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4".into(),
            mount: None,
        };
        let s = format_script(&plan);
        assert!(s.contains("printf '%s' \"$RAMPART_SECRET\" | cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 --key-size 512 --hash sha256 --pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4 --sector-size 4096 --label luks-1:vdb --key-slot 0 --key-file=- \"$dev\""), "{s}");
        assert!(
            s.contains("--key-slot 0 --new-key-slot 1 --key-file=- \"$dev\" \"$kf\""),
            "{s}"
        );
        assert!(s.contains("rampart-escrow") && s.contains("rampart-keyfile"));
        assert!(s.contains("printf '%s UUID=%s %s luks,nofail' vdb_crypt \"$uuid\" /etc/cryptsetup-keys.d/vdb_crypt.key"), "{s}");
        assert!(
            s.contains("is no longer blank"),
            "blankness is checked again on the host"
        );
        for line in s.lines().filter(|l| l.contains("RAMPART_SECRET")) {
            assert!(
                line.starts_with("printf '%s' \"$RAMPART_SECRET\" | cryptsetup "),
                "only the printf builtin sees the key: {line}"
            );
            assert!(line.contains("--key-file=-"), "{line}");
        }
        assert!(!s.contains("set -x") && !s.contains("echo \"$RAMPART_SECRET"));
        assert!(
            !s.contains("mkfs") && !s.contains("/etc/fstab"),
            "no device-mapper: no mount steps"
        );
        syntax_ok(&s);
    }

    #[test]
    fn open_mkfs_and_mount_are_rendered_for_device_mapper_hosts() {
        // The lab's kernel has no device-mapper, so these steps cannot run
        // there; their rendering is checked here instead.
        let v = Volume::new("luks-1", Path::new("/dev/vdb"));
        let m = MountPlan {
            filesystem: "ext4".into(),
            target: "/srv/data".into(),
        };
        let s = mount_script(&v, &m);
        assert!(s.contains("[ -e /dev/mapper/vdb_crypt ] || cryptsetup open --key-file \"$kf\" \"$dev\" vdb_crypt"), "{s}");
        assert!(s.contains("if [ -z \"$(blkid -p -o value -s TYPE /dev/mapper/vdb_crypt)\" ]; then mkfs -t ext4 -q /dev/mapper/vdb_crypt; fi"), "mkfs only on an empty mapping: {s}");
        assert!(
            s.contains("echo '/dev/mapper/vdb_crypt /srv/data ext4 defaults,nofail 0 2'"),
            "{s}"
        );
        assert!(s.contains("mountpoint -q /srv/data || mount /srv/data"));
        let full = format_script(&FormatPlan {
            volume: v,
            wipe: true,
            sector_size: 4096,
            pbkdf: "--pbkdf argon2id".into(),
            mount: Some(m),
        });
        assert!(
            full.find("luksFormat") < full.find("cryptsetup open"),
            "format, then open"
        );
        syntax_ok(&full);
    }

    #[test]
    fn several_disks_and_overrides_choose_mountpoints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "secrets:\n  recipients: [\"age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74\"]\nhosts:\n  db-1:\n    address: 10.0.0.1\n    roles: [base]\n    disks: [/dev/vdb, /dev/vdc]\n    vars:\n      luks_mounts: {/dev/vdc: /srv/pg}\n";
        let inv = Inventory::parse(&dir.path().join("i.yaml"), text).expect("valid");
        let host = inv.host("db-1").expect("host");
        assert!(
            host.has_profile("luks"),
            "declaring disks puts the luks profile in force"
        );
        let mut vars = vars();
        vars.extend(host.vars.clone());
        let facts = Facts::default();
        let ctx = HostCtx {
            host,
            inventory: &inv,
            facts: &facts,
            vars: &vars,
            mesh: &Default::default(),
        };
        let vols = volumes(host);
        assert_eq!(mountpoint(&ctx, &vols[0]), "/srv/data-vdb");
        assert_eq!(mountpoint(&ctx, &vols[1]), "/srv/pg");
        assert_eq!(filesystem(&ctx), "ext4");
        assert_eq!(
            pbkdf_flags(&ctx),
            "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4"
        );
    }

    fn syntax_ok(script: &str) {
        let wrapped = Resource::Action(Box::new(Action {
            summary: String::new(),
            script: script.into(),
            secret: Some(Secret::from_text("00ff".into()).expect("secret")),
            escrow: None,
            destroys: None,
        }))
        .script();
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&wrapped)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{}\n{wrapped}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn input_problems_are_found_before_connecting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = inventory(dir.path(), false);
        let hosts: Vec<&Host> = inv.hosts.iter().collect();
        let p = preflight(&inv, &hosts);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("luks-1: the luks profile escrows"),
            "{p:?}"
        );
        let ok = inventory(dir.path(), true);
        let hosts: Vec<&Host> = ok.hosts.iter().collect();
        assert!(preflight(&ok, &hosts).is_empty());
        assert!(check_wipe(&["luks-1:/dev/vdb".into()], &hosts).is_ok());
        for (bad, says) in [
            ("/dev/vdb", "name the host too"),
            ("nope:/dev/vdb", "host `nope` is not among"),
            ("luks-1:/dev/vdc", "not one of luks-1's declared disks"),
            ("plain:/dev/vdb", "not one of plain's declared disks"),
        ] {
            let err = check_wipe(&[bad.into()], &hosts).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn checks_judge_recorded_hosts() {
        let judge = |f: &Facts, check: fn(&HostCtx) -> Outcome| with_ctx(f, true, check);
        let formatted = recorded("formatted");
        for check in [
            evaluate_encrypted,
            evaluate_cipher,
            evaluate_pbkdf,
            evaluate_keyslots,
            evaluate_boot_unlock,
        ] {
            let o = judge(&formatted, check);
            assert_eq!(o.status, crate::controls::Status::Pass, "{o:?}");
        }
        let ext4 = recorded("ext4");
        let o = judge(&ext4, evaluate_encrypted);
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(
            o.observed
                .starts_with("/dev/vdb: not encrypted: found ext4"),
            "{}",
            o.observed
        );
        let blank = recorded("blank");
        assert!(judge(&blank, evaluate_encrypted)
            .observed
            .contains("blank: not encrypted yet"));
        let mounted = judge(&formatted, evaluate_mounted);
        assert_eq!(mounted.status, crate::controls::Status::NotApplicable);
        assert!(mounted
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("not applicable: no device-mapper")));
        let escrow = judge(&formatted, evaluate_escrow);
        assert_eq!(
            escrow.status,
            crate::controls::Status::Fail,
            "no escrow in a fresh directory"
        );
        let untested = judge(&formatted, evaluate_escrow_opens);
        assert_eq!(
            untested.status,
            crate::controls::Status::NotApplicable,
            "never a pass without a test"
        );
        let mut tested = formatted.clone();
        tested.luks.escrow_tests.insert(
            "/dev/vdb".into(),
            EscrowTest::DoesNotOpen("cryptsetup exit status 2".into()),
        );
        assert_eq!(
            judge(&tested, evaluate_escrow_opens).status,
            crate::controls::Status::Fail
        );
        tested
            .luks
            .escrow_tests
            .insert("/dev/vdb".into(), EscrowTest::Opens);
        assert_eq!(
            judge(&tested, evaluate_escrow_opens).status,
            crate::controls::Status::Pass
        );
        let mut no_tool = formatted.clone();
        no_tool.disks.get_mut("/dev/vdb").expect("disk").luks = None;
        assert_eq!(
            judge(&no_tool, evaluate_cipher).status,
            crate::controls::Status::Error,
            "unread header: not a pass"
        );
        let mut loose = formatted.clone();
        loose
            .luks
            .keyfiles
            .values_mut()
            .for_each(|m| m.mode = 0o644);
        assert!(judge(&loose, evaluate_boot_unlock)
            .observed
            .contains("is 644 root:root (expected 400 root:root)"));
        let mut no_generator = formatted.clone();
        no_generator.luks.crypttab_generator = Some(false);
        let unread = judge(&no_generator, evaluate_boot_unlock);
        assert_eq!(unread.status, crate::controls::Status::Fail);
        assert!(unread
            .observed
            .contains("nothing reads /etc/crypttab at boot"));
    }

    #[test]
    fn root_on_dm_crypt_follows_the_device_chain() {
        let dev =
            |name: &str, kind: &str, mounts: &[&str], children: Vec<BlockDevice>| BlockDevice {
                name: name.into(),
                kind: kind.into(),
                mountpoints: mounts.iter().map(|m| m.to_string()).collect(),
                children,
                ..Default::default()
            };
        let mut f = Facts {
            block_devices: vec![dev(
                "sda",
                "disk",
                &[],
                vec![
                    dev("sda1", "part", &["/boot"], vec![]),
                    dev(
                        "sda2",
                        "part",
                        &[],
                        vec![dev(
                            "sda2_crypt",
                            "crypt",
                            &[],
                            vec![dev("vg-root", "lvm", &["/"], vec![])],
                        )],
                    ),
                ],
            )],
            ..Default::default()
        };
        let (yes, detail) = root_on_dm_crypt(&f);
        assert_eq!(yes, "yes");
        assert_eq!(
            detail,
            "/ is on sda (disk) > sda2 (part) > sda2_crypt (crypt) > vg-root (lvm)"
        );
        f.block_devices = vec![dev(
            "vda",
            "disk",
            &[],
            vec![dev("vda1", "part", &["/"], vec![])],
        )];
        assert_eq!(root_on_dm_crypt(&f).0, "no");
        let container = recorded("formatted");
        let (unknown, why) = root_on_dm_crypt(&container);
        assert_eq!(unknown, "unknown");
        assert!(why.contains("inside a container"), "{why}");
        let st = host_status(
            &Host {
                name: "luks-1".into(),
                address: String::new(),
                port: 22,
                provider: Default::default(),
                location: None,
                roles: vec![],
                profiles: vec![],
                mesh_address: None,
                disks: vec!["/dev/vdb".into(), "/dev/vdz".into()],
                vars: Default::default(),
                create: None,
            },
            &container,
        );
        let vdb = st
            .devices
            .iter()
            .find(|d| d.declared)
            .expect("declared disk listed");
        assert_eq!(vdb.encryption, "luks2");
        assert_eq!(
            vdb.detail.as_deref(),
            Some("aes-xts-plain64, 512-bit key, 2 keyslot(s)")
        );
        assert_eq!(st.missing, ["/dev/vdz"]);
    }

    #[test]
    fn the_escrow_test_sends_keys_on_stdin_and_reads_markers() {
        let f = recorded("formatted");
        let dir = tempfile::tempdir().expect("tempdir");
        let id = age::x25519::Identity::generate();
        let text = format!("secrets:\n  recipients: [\"{}\"]\nhosts:\n  luks-1:\n    address: 10.0.0.1\n    roles: [luks]\n    disks: [/dev/vdb]\n", id.to_public());
        let inv = Inventory::parse(&dir.path().join("inventory.yaml"), &text).expect("valid");
        let key = Secret::random_hex(KEY_BYTES).expect("key");
        let v = Volume::new("luks-1", Path::new("/dev/vdb"));
        Escrow {
            path: escrow_path(&inv, "luks-1", &v),
            recipients: inv.secrets.recipients.clone(),
        }
        .persist(&key)
        .expect("escrow");
        let vars = vars();
        let ctx = HostCtx {
            host: inv.host("luks-1").expect("host"),
            inventory: &inv,
            facts: &f,
            vars: &vars,
            mesh: &Default::default(),
        };
        let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(id)];
        let probe = escrow_probe(&ctx, &ids);
        assert!(probe.known.is_empty());
        assert!(
            probe.script.contains(&format!(
                "IFS= read -r K0 <<'RAMPART_SECRET_EOF'\n{}\n",
                key.expose()
            )),
            "the key travels in the script on stdin"
        );
        assert!(probe.script.contains("printf '%s' \"$K0\" | cryptsetup open --test-passphrase --key-slot 0 --key-file=- /dev/vdb"), "{}", probe.script);
        let results = parse_escrow_probe("@@escrow no 2 /dev/vdb\n", probe);
        assert_eq!(
            results["/dev/vdb"],
            EscrowTest::DoesNotOpen("cryptsetup exit status 2".into())
        );
        let wrong: Vec<Box<dyn age::Identity>> = vec![Box::new(age::x25519::Identity::generate())];
        let probe = escrow_probe(&ctx, &wrong);
        assert!(
            matches!(probe.known["/dev/vdb"], EscrowTest::Error(_)),
            "a wrong identity is an error, not a pass"
        );
    }

    #[test]
    fn rotation_adds_proves_then_removes_the_old_slot() {
        let mut f = recorded("formatted");
        let r = with_ctx(&f, true, |ctx| plan_rotation(ctx, "/dev/vdb")).expect("rotation");
        assert_eq!(
            (r.old_slot, r.new_slot, r.old_tokens.clone(), r.new_token),
            (0, 2, vec![0], 2)
        );
        let key = Secret::random_hex(KEY_BYTES).expect("key");
        let s = rotate_script(&r, &key);
        let add = s.find("luksAddKey").expect("add");
        let test = s.find("--test-passphrase --key-slot 2").expect("test");
        let kill = s
            .find("luksKillSlot --batch-mode --key-file \"$kf\" \"$dev\" 0")
            .expect("kill old");
        assert!(add < test && test < kill, "{s}");
        assert!(
            s.contains("--key-file \"$kf\" --new-key-slot 2 --new-keyfile=- \"$dev\""),
            "authorised by the host keyfile, new key on stdin"
        );
        assert_eq!(s.matches(key.expose()).count(), 1, "only in the binding");
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&s)
            .output()
            .expect("sh");
        assert!(out.status.success());
        assert_eq!(
            rotate_outcome("@@rotate added\n@@rotate tested\n@@rotate done\n"),
            "done"
        );
        assert_eq!(
            rotate_outcome("@@rotate added\n@@rotate test-failed\n"),
            "test-failed"
        );
        f.luks.keyfiles.clear();
        let err = with_ctx(&f, true, |ctx| plan_rotation(ctx, "/dev/vdb")).expect_err("no keyfile");
        assert!(err.contains("host keyfile"), "{err}");
        let err = with_ctx(&recorded("ext4"), true, |ctx| {
            plan_rotation(ctx, "/dev/vdb")
        })
        .expect_err("not luks");
        assert!(err.contains("is not a LUKS volume"), "{err}");
    }
}
