//! `rampart luks status` and `rampart luks rotate HOST DEV`, and verify's
//! escrow test (LUKS-07) with the identity from RAMPART_AGE_IDENTITY.

use std::path::PathBuf;
use std::sync::Arc;

use crate::controls::luks::{self, DeviceStatus, HostStatus};
use crate::controls::HostCtx;
use crate::engine::secret::{Escrow, Secret};
use crate::facts::Facts;
use crate::inventory::Inventory;
use crate::ops::host::{self, HostSetup};
use crate::transport::{HostOutcome, Session};

use super::args::{GlobalArgs, LuksCommand, ShowFormat};
use super::context::{
    connect_options, gather_all, load_inventory, on_hosts, prepare, refuse_uncreated, Prepared,
};
use super::{summarize, Exit, UsageError};

/// The variable naming an age identity file that can open the escrows
/// (the same one the mesh's sealed preshared keys use).
pub const IDENTITY_ENV: &str = crate::ca::identity::ENV;

pub async fn run(g: &GlobalArgs, cmd: LuksCommand) -> anyhow::Result<Exit> {
    match cmd {
        LuksCommand::Status { format } => status(g, format).await,
        LuksCommand::Rotate { host, device } => rotate(g, &host, &device).await,
    }
}

/// The identities in `$RAMPART_AGE_IDENTITY`, if it is set; an unusable
/// file is an input error (exit 2) rather than a silently skipped check.
pub fn identities_from_env() -> anyhow::Result<Option<Vec<Box<dyn age::Identity>>>> {
    // One reading of RAMPART_AGE_IDENTITY for the whole tool: a file path
    // or the AGE-SECRET-KEY- line itself.
    crate::ca::identity::Identity::from_env()
        .map(|id| id.map(|id| id.age_identities()))
        .map_err(|e| UsageError(format!("{IDENTITY_ENV}: {e}")).into())
}

/// Tests each declared volume's escrowed key on the host over the open
/// session (keys on stdin), and records the results in the facts.
pub async fn test_escrows(
    session: &Session,
    setup: &HostSetup,
    inv: &Inventory,
    facts: &mut Facts,
    identities: &[Box<dyn age::Identity>],
) -> anyhow::Result<()> {
    if !setup.host.has_profile("luks") || setup.host.disks.is_empty() {
        return Ok(());
    }
    let release = setup.for_facts(facts).map_err(anyhow::Error::msg)?;
    let probe = {
        let ctx = HostCtx {
            host: &setup.host,
            inventory: inv,
            facts,
            vars: &release.vars,
            mesh: &Default::default(),
        };
        luks::escrow_probe(&ctx, identities)
    };
    let out = session.run("sh -s", probe.script.as_bytes()).await?;
    facts.luks.escrow_tests = luks::parse_escrow_probe(&out.stdout_text(), probe);
    Ok(())
}

async fn status(g: &GlobalArgs, format: ShowFormat) -> anyhow::Result<Exit> {
    let p = Arc::new(prepare(g)?);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let outcomes: Vec<HostOutcome<HostStatus, anyhow::Error>> =
        gather_all(&p, &opts, g, "luks status")
            .await
            .into_iter()
            .map(|o| HostOutcome {
                result: o.result.and_then(|f| {
                    let setup = p
                        .setup(&o.host)
                        .ok_or_else(|| anyhow::anyhow!("no setup for {}", o.host))?;
                    Ok(luks::host_status(&setup.host, &f))
                }),
                host: o.host,
            })
            .collect();
    let hosts: Vec<&HostStatus> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .collect();
    match format {
        ShowFormat::Json => println!("{}", serde_json::to_string_pretty(&hosts)?),
        ShowFormat::Text => {
            for h in &hosts {
                print!("{}", render_status(h));
            }
        }
    }
    Ok(summarize(&outcomes, "report their disks"))
}

/// A host's devices as an indented table.
pub fn render_status(h: &HostStatus) -> String {
    let mut out = format!(
        "{}: / on dm-crypt: {} ({}); device-mapper: {}\n",
        h.host,
        h.root_on_dm_crypt,
        h.root_detail,
        if h.device_mapper {
            "yes"
        } else {
            "no (volumes can be formatted, not opened)"
        }
    );
    fn row(d: &DeviceStatus, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "  {:<24} {:<5} {:>9} {:<9} {}{}{}\n",
            format!(
                "{}{}",
                "  ".repeat(depth),
                d.path.as_deref().unwrap_or(&d.name)
            ),
            d.kind,
            human_size(d.size),
            d.encryption,
            d.detail.as_deref().unwrap_or(""),
            if d.mountpoints.is_empty() {
                String::new()
            } else {
                format!(" mounted at {}", d.mountpoints.join(", "))
            },
            if d.declared { " [declared]" } else { "" },
        ));
        for c in &d.children {
            row(c, depth + 1, out);
        }
    }
    for d in &h.devices {
        row(d, 0, &mut out);
    }
    for m in &h.missing {
        out.push_str(&format!(
            "  {m}: declared, but not a block device on the host\n"
        ));
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

async fn rotate(g: &GlobalArgs, host: &str, device: &std::path::Path) -> anyhow::Result<Exit> {
    let inventory = load_inventory(g)?;
    let h = inventory
        .host(host)
        .ok_or_else(|| UsageError(format!("no host `{host}` in the inventory")))?
        .clone();
    refuse_uncreated(&[&h])?;
    let device = device.to_string_lossy().to_string();
    if !h.disks.iter().any(|d| d.as_os_str() == device.as_str()) {
        return Err(UsageError(format!("{device} is not one of {host}'s declared disks")).into());
    }
    if inventory.secrets.recipients.is_empty() {
        return Err(UsageError(
            "rotate escrows the new key to secrets.recipients, and the inventory has none".into(),
        )
        .into());
    }
    let catalog =
        host::Catalog::load(&inventory).map_err(|e| UsageError(format!("profiles: {e}")))?;
    let setup = host::setup(&inventory, &catalog, &h)
        .map_err(|e| UsageError(format!("profiles for {host}: {e}")))?;
    let p = Arc::new(Prepared {
        inventory,
        catalog,
        setups: vec![setup],
    });
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let outcomes = on_hosts(&p, &opts, g, "luks rotate", |session, _, _| {
        let (p, device) = (p.clone(), device.clone());
        async move { rotate_on(&session, &p.setups[0], &p.inventory, &device).await }
    })
    .await;
    for o in &outcomes {
        if let Ok(msg) = &o.result {
            println!("{}: {msg}", o.host);
        }
    }
    Ok(summarize(&outcomes, "rotate"))
}

/// New key, escrowed under a temporary name; added to a free keyslot
/// (authorised by the host keyfile); proven with --test-passphrase; then
/// the old escrow slot is killed and the new escrow moved into place.
async fn rotate_on(
    session: &Session,
    setup: &HostSetup,
    inv: &Inventory,
    device: &str,
) -> anyhow::Result<String> {
    let f = super::context::supported_facts(session, setup, &setup.request).await?;
    let release = setup.for_facts(&f).map_err(anyhow::Error::msg)?;
    let ctx = HostCtx {
        host: &setup.host,
        inventory: inv,
        facts: &f,
        vars: &release.vars,
        mesh: &Default::default(),
    };
    let r = luks::plan_rotation(&ctx, device).map_err(|e| anyhow::anyhow!(e))?;
    let final_path = luks::escrow_path(inv, &setup.host.name, &r.volume);
    let mut pending = final_path.clone().into_os_string();
    pending.push(".new");
    let pending = PathBuf::from(pending);
    let secret = Secret::random_hex(luks::KEY_BYTES)?;
    Escrow {
        path: pending.clone(),
        recipients: inv.secrets.recipients.clone(),
    }
    .persist(&secret)?;
    let out = session
        .run("sh -s", luks::rotate_script(&r, &secret).as_bytes())
        .await?;
    drop(secret);
    let stage = luks::rotate_outcome(&out.stdout_text());
    let why = || {
        out.stderr_text()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    };
    match stage {
        "done" => {
            std::fs::rename(&pending, &final_path)?;
            Ok(format!(
                "{device}: new key in keyslot {}, proven with --test-passphrase; keyslot {} removed; escrow {} replaced",
                r.new_slot,
                r.old_slot,
                final_path.display()
            ))
        }
        "add-failed" | "test-failed" | "nothing" => {
            let _ = std::fs::remove_file(&pending);
            Err(anyhow::anyhow!(
                "{device}: rotation failed at {stage} ({}); the volume and its escrow are unchanged",
                why()
            ))
        }
        _ => Err(anyhow::anyhow!(
            "{device}: rotation stopped at {stage} ({}): keyslot {} holds the new key, escrowed at {}; keyslot {} (old escrow {}) still exists; remove it with cryptsetup luksKillSlot once the new key is checked, then move the new escrow into place",
            why(),
            r.new_slot,
            pending.display(),
            r.old_slot,
            final_path.display()
        )),
    }
}
