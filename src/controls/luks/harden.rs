//! What `harden` does to a declared device: format a blank one (key on
//! stdin, escrowed first), write crypttab, open, mkfs and mount, and repair
//! a formatted one's missing pieces.

use super::checks::boot_unlock_problems;
use super::state::{device_size, disk_state, header_problems, token_slots, DiskState};
use super::vars::{filesystem, mountpoint, pbkdf_flags};
use super::{
    escrow_path, volumes, Volume, CIPHER, ESCROW_SLOT, ESCROW_TOKEN, KEYFILE_DIR, KEYFILE_SLOT,
    KEYFILE_TOKEN, KEY_BITS, KEY_BYTES, NO_DM, PBKDF, SECTOR_SIZE,
};
use crate::controls::context::HostCtx;
use crate::engine::resource::{Action, Destroys, Resource};
use crate::engine::secret::{Escrow, Secret};
use crate::transport::shell_quote;

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

pub(super) fn token_json(kind: &str, slot: u32) -> String {
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
    Resource::Action(Box::new(Action::plain(summary, script)))
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
