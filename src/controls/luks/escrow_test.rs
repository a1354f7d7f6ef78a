//! Verify's escrow test: each volume's escrowed key, opened on the control
//! machine, is tried against its keyslot on the host (`--test-passphrase`).

use super::state::{disk_state, token_slots, DiskState};
use super::{escrow_path, volumes, ESCROW_TOKEN};
use crate::controls::context::HostCtx;
use crate::engine::secret::shell_binding;
use crate::facts::EscrowTest;
use crate::transport::{shell_quote, SCRIPT_ENV};
use std::collections::BTreeMap;

/// The script that tests each volume's escrowed key on the host, and the
/// devices it tests. Keys travel in the script on stdin, bound by `read`.
pub struct EscrowProbe {
    pub script: String,
    /// Results known without asking the host (escrow unreadable, …).
    pub known: BTreeMap<String, EscrowTest>,
}

pub fn escrow_probe(ctx: &HostCtx, identities: &[Box<dyn age::Identity>]) -> EscrowProbe {
    let mut script = String::from(SCRIPT_ENV);
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
