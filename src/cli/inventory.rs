//! `rampart inventory check|show`: judged from the inventory alone.
//! `inventory check --live` and `inventory sync` also ask the providers'
//! APIs, and only when told to.

use crate::inventory::residency::{self, RES_01};
use crate::inventory::{Host, Inventory};

use super::args::{GlobalArgs, InventoryCommand, ShowFormat};
use super::context::{inventory_path, load_inventory, selected};
use super::Exit;

pub async fn run(g: &GlobalArgs, cmd: InventoryCommand) -> anyhow::Result<Exit> {
    match cmd {
        InventoryCommand::Sync(args) => super::sync::run(g, &args).await,
        InventoryCommand::Check { live } => check(g, live).await,
        InventoryCommand::Show { format } => show(g, format),
    }
}

async fn check(g: &GlobalArgs, live: bool) -> anyhow::Result<Exit> {
    let inv = load_inventory(g)?;
    let hosts = selected(&inv, g)?;
    println!(
        "{}: valid, {} hosts",
        inventory_path(g).display(),
        hosts.len()
    );
    let mut exit = print_residency(&inv, &hosts);
    if live {
        exit = exit.worst(super::sync::check_live(&hosts).await?);
    }
    Ok(exit)
}

fn show(g: &GlobalArgs, format: ShowFormat) -> anyhow::Result<Exit> {
    let inv = load_inventory(g)?;
    let hosts = selected(&inv, g)?;
    match format {
        ShowFormat::Json => {
            let mut v = serde_json::to_value(&inv)?;
            if let Some(all) = v.get_mut("hosts") {
                let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                if let Some(arr) = all.as_array_mut() {
                    arr.retain(|h| {
                        h.get("name")
                            .and_then(|n| n.as_str())
                            .is_some_and(|n| names.contains(&n))
                    });
                }
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(Exit::Ok)
        }
        ShowFormat::Text => {
            println!(
                "inventory {} (sha256 {})",
                inv.path.display(),
                &inv.sha256[..16]
            );
            println!(
                "connect as {} (bootstrap {}), known_hosts {}",
                inv.ssh.user,
                inv.ssh.bootstrap_user,
                inv.ssh.known_hosts.display()
            );
            let ops: Vec<&str> = inv.operators.iter().map(|o| o.name.as_str()).collect();
            println!(
                "operators: {}",
                if ops.is_empty() {
                    "(none)".to_string()
                } else {
                    ops.join(", ")
                }
            );
            for h in hosts {
                println!(
                    "{:<16} {:<22} {:<8} {:<6} roles {:<12} profiles {}",
                    h.name,
                    if h.awaiting_creation() {
                        "(to be created)".to_string()
                    } else {
                        format!("{}:{}", h.address, h.port)
                    },
                    h.provider.as_str(),
                    h.location.as_deref().unwrap_or("-"),
                    h.roles.join(","),
                    h.profiles.join(",")
                );
            }
            let releases: Vec<String> = crate::controls::platform::SUPPORTED
                .iter()
                .map(|r| r.to_string())
                .collect();
            println!(
                "releases the profiles cover: {} (each host's own is read when rampart \
                 connects: `rampart facts`; any other OS is refused)",
                releases.join(", ")
            );
            Ok(Exit::Ok)
        }
    }
}

/// RES-01 from the inventory alone: one line per host outside the policy.
/// Exit 1 (drift) when a host is outside it: the file is valid, the fleet is
/// not compliant. (Unknown or missing locations under a policy never get
/// here: validation refuses them with exit 2.)
fn print_residency(inv: &Inventory, hosts: &[&Host]) -> Exit {
    let report = residency::judge(inv, hosts);
    if report.countries.is_none() {
        println!("{RES_01} no residency policy");
        return Exit::Ok;
    }
    let failures: Vec<_> = report.failures().collect();
    println!(
        "{RES_01} residency {}: {} of {} hosts inside",
        report.policy_text(),
        report.hosts.len() - failures.len(),
        report.hosts.len()
    );
    for f in &failures {
        println!("{RES_01} FAIL {f} {}", report.policy_text());
    }
    if failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Drift
    }
}
