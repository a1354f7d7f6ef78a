//! `rampart report`: verify now (or read a saved run with `--from`), then
//! write the report as HTML, JSON and Markdown, each optionally signed
//! (`FILE.sig`) and age-encrypted (`FILE.age`, no plaintext written);
//! `--diff OLD NEW` compares two saved runs instead.
//!
//! Everything that can be wrong with the input (key, recipients, output
//! directory, saved file) is checked before any host is contacted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::calendar;
use crate::controls::firewall;
use crate::inventory::source::{read_regular, MAX_INPUT_BYTES};
use crate::inventory::{hex_sha256, Host, Inventory};
use crate::report::document::{
    self, Context, HostFlows, InventoryRef, Signing, Source, SourceKind,
};
use crate::report::residency::{self, Residency};
use crate::report::sign::Signer;
use crate::report::{diff, html, markdown, redact, VerifyRun};
use crate::seal;

use super::args::{GlobalArgs, ReportArgs, ReportFormat};
use super::context::{load_inventory, prepare};
use super::{verify, Exit, UsageError};

pub async fn run(g: &GlobalArgs, a: ReportArgs) -> anyhow::Result<Exit> {
    if let Some(paths) = &a.diff {
        return run_diff(&paths[0], &paths[1], &a.format);
    }
    let formats = if a.format.is_empty() {
        vec![ReportFormat::Html, ReportFormat::Json, ReportFormat::Md]
    } else {
        a.format.clone()
    };
    if formats.contains(&ReportFormat::Text) {
        return Err(UsageError(
            "--format text is only for --diff; a report is written as html, json or md".into(),
        )
        .into());
    }
    let signer = a
        .sign
        .as_deref()
        .map(Signer::from_env)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let out_dir = a.out.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        UsageError(format!(
            "cannot create the output directory {}: {e}",
            out_dir.display()
        ))
    })?;

    let (mut run, source, inventory, hosts) = match &a.from {
        Some(path) => {
            let (run, sha) = read_saved(path)?;
            let inventory = inventory_for_saved(g)?;
            let source = Source {
                kind: SourceKind::Saved,
                path: Some(path.display().to_string()),
                sha256: Some(sha),
                inventory: inventory.as_ref().map(|inv| inventory_ref(inv, &run)),
            };
            let hosts: Vec<Host> = inventory
                .as_ref()
                .map(|inv| {
                    run.hosts
                        .iter()
                        .filter_map(|h| inv.host(&h.host).cloned())
                        .collect()
                })
                .unwrap_or_default();
            (run, source, inventory, hosts)
        }
        None => {
            let p = Arc::new(prepare(g)?);
            if a.encrypt {
                recipients(Some(&p.inventory))?;
            }
            let run = verify::verify_run(g, &p).await?;
            let hosts: Vec<Host> = p.hosts().into_iter().cloned().collect();
            let source = Source {
                kind: SourceKind::Live,
                path: None,
                sha256: None,
                inventory: Some(inventory_ref(&p.inventory, &run)),
            };
            (run, source, Some(p.inventory.clone()), hosts)
        }
    };
    let recipients = if a.encrypt {
        recipients(inventory.as_ref())?
    } else {
        Vec::new()
    };

    let policy = inventory
        .as_ref()
        .map(redact::Policy::from_inventory)
        .unwrap_or_default();
    redact::sanitize(&mut run, &policy);
    let host_refs: Vec<&Host> = hosts.iter().collect();
    let residency = match &inventory {
        Some(inv) => residency::judge(inv, &host_refs),
        None => Residency::unavailable(),
    };
    let built_profiles = built_profiles(inventory.as_ref());
    let flows = match &inventory {
        Some(inv) => flows(inv, &host_refs),
        None => Vec::new(),
    };
    let now = calendar::now_secs();
    let report = document::build(
        run,
        Context {
            generated_at: calendar::rfc3339(now),
            source,
            signing: signer.as_ref().map(|s| Signing {
                namespace: document::SIGNATURE_NAMESPACE.into(),
                key_fingerprint: s.fingerprint(),
                public_key: s.public_key_line(),
            }),
            residency,
            built_profiles,
            flows,
        },
    );

    let base = format!("rampart-report-{}", calendar::compact(now));
    let mut written = Vec::new();
    for f in &formats {
        let (ext, body) = match f {
            ReportFormat::Html => ("html", html::render(&report)?),
            ReportFormat::Json => ("json", serde_json::to_string_pretty(&report)? + "\n"),
            ReportFormat::Md => ("md", markdown::render(&report)),
            ReportFormat::Text => continue,
        };
        let path = out_dir.join(format!("{base}.{ext}"));
        if let Some(s) = &signer {
            let sig = s.sign(body.as_bytes())?;
            let sig_path = with_suffix(&path, "sig");
            write_new(&sig_path, sig.as_bytes())?;
            written.push(sig_path);
        }
        if a.encrypt {
            let sealed = seal::encrypt(&recipients, body.as_bytes())?;
            let age_path = with_suffix(&path, "age");
            write_new(&age_path, &sealed)?;
            written.push(age_path);
        } else {
            write_new(&path, body.as_bytes())?;
            written.push(path);
        }
    }
    for p in &written {
        println!("{}", p.display());
    }
    let s = &report.summary;
    eprintln!(
        "fleet score {} — {} hosts: {} compliant, {} drift, {} unreachable; {} failing controls",
        markdown::pct(s.score),
        s.hosts,
        s.hosts_compliant,
        s.hosts_drift,
        s.hosts_unreachable,
        report.failures.len()
    );
    Ok(if report.verify.any_unreachable() {
        Exit::HostFailed
    } else if report.verify.any_drift() {
        Exit::Drift
    } else {
        Exit::Ok
    })
}

/// Profiles this version defines: the inventory's catalog (its
/// `profiles_dir` may override the built-in ones), else the built-in ones.
fn built_profiles(inv: Option<&Inventory>) -> Vec<String> {
    let names = |ps: &[crate::controls::Profile]| ps.iter().map(|p| p.profile.clone()).collect();
    if let Some(Ok(c)) = inv.map(crate::ops::host::Catalog::load) {
        return names(&c.profiles);
    }
    crate::controls::builtin_profiles()
        .map(|ps| names(&ps))
        .unwrap_or_default()
}

/// What the firewall admits into each host with the firewall profile.
fn flows(inv: &Inventory, hosts: &[&Host]) -> Vec<HostFlows> {
    hosts
        .iter()
        .filter(|h| h.has_profile("firewall"))
        .filter_map(|h| {
            firewall::admitted_flows(inv, h)
                .ok()
                .map(|flows| HostFlows {
                    host: h.name.clone(),
                    flows,
                })
        })
        .collect()
}

fn read_saved(path: &Path) -> anyhow::Result<(VerifyRun, String)> {
    let bytes = read_regular(path, MAX_INPUT_BYTES).map_err(|e| {
        UsageError(format!(
            "{}: cannot read the saved run (--from): {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let run =
        document::read_run(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    Ok((run, hex_sha256(&bytes)))
}

/// The inventory of a saved run, for hosts' places, flows and recipients:
/// `-i` (or $RAMPART_INVENTORY), which must load; else ./inventory.yaml
/// when it exists and loads; else none (the report says what it lacks).
fn inventory_for_saved(g: &GlobalArgs) -> anyhow::Result<Option<Inventory>> {
    if g.inventory.is_some() {
        return Ok(Some(load_inventory(g)?));
    }
    let default = PathBuf::from("inventory.yaml");
    if !default.is_file() {
        return Ok(None);
    }
    match Inventory::load(&default) {
        Ok(inv) => Ok(Some(inv)),
        Err(e) => {
            eprintln!("warning: not using ./inventory.yaml: {e}");
            Ok(None)
        }
    }
}

fn inventory_ref(inv: &Inventory, run: &VerifyRun) -> InventoryRef {
    InventoryRef {
        path: inv.path.display().to_string(),
        sha256: inv.sha256.clone(),
        matches_verify: inv.sha256 == run.inventory_sha256,
    }
}

fn recipients(inv: Option<&Inventory>) -> anyhow::Result<Vec<String>> {
    let Some(inv) = inv else {
        return Err(UsageError(
            "--encrypt needs the inventory's secrets.recipients: give the inventory with -i".into(),
        )
        .into());
    };
    if inv.secrets.recipients.is_empty() {
        return Err(UsageError(format!(
            "--encrypt: {} has no secrets.recipients to encrypt to",
            inv.path.display()
        ))
        .into());
    }
    Ok(inv.secrets.recipients.clone())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes a new file; an existing one is never overwritten.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

fn run_diff(old: &Path, new: &Path, formats: &[ReportFormat]) -> anyhow::Result<Exit> {
    let (a, _) = read_saved(old)?;
    let (b, _) = read_saved(new)?;
    let d = diff::diff(&a, &b);
    match formats {
        [] | [ReportFormat::Text] => print!("{}", diff::render_text(&d)),
        [ReportFormat::Json] => println!("{}", serde_json::to_string_pretty(&d)?),
        [ReportFormat::Md] => print!("{}", diff::render_markdown(&d)),
        _ => {
            return Err(
                UsageError("--diff prints one format: --format text, json or md".into()).into(),
            )
        }
    }
    Ok(if d.is_empty() { Exit::Ok } else { Exit::Drift })
}
