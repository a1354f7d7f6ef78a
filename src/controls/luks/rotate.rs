//! `luks rotate`: replace a volume's escrowed key. The new key is added
//! and proven before the old slot is killed, so a failure never leaves a
//! volume without a working escrowed key.

use super::checks::not_luks;
use super::harden::token_json;
use super::state::{disk_state, slots, token_ids, token_slots, DiskState};
use super::vars::pbkdf_flags;
use super::{volumes, Volume, ESCROW_TOKEN, KEYFILE_TOKEN};
use crate::controls::context::HostCtx;
use crate::engine::secret::{shell_binding, Secret};
use crate::transport::{shell_quote, SCRIPT_ENV};

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
    let mut s = format!("set -u\n{SCRIPT_ENV}");
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
