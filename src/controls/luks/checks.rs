//! The `luks_*` checks: each judges every declared volume from facts.

use super::state::{device_size, disk_state, header_problems, slots, token_slots, DiskState};
use super::vars::mountpoint;
use super::{escrow_path, volumes, Volume, ESCROW_TOKEN, KEYFILE_TOKEN, NO_DM, PBKDF};
use crate::controls::context::HostCtx;
use crate::controls::outcome::{evidence, Outcome};
use crate::facts::{EscrowTest, Facts};

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

pub(super) fn not_luks(state: &DiskState) -> Option<String> {
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

pub(super) fn keyslot_problems(h: &serde_json::Value) -> Option<String> {
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

pub(super) fn boot_unlock_problems(
    v: &Volume,
    uuid: Option<&str>,
    facts: &Facts,
) -> Option<String> {
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
