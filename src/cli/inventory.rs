//! `rampart inventory check|show`: judged from the inventory alone.

use super::args::{GlobalArgs, InventoryCommand, ShowFormat};
use super::context::{inventory_path, load_inventory, selected};
use super::Exit;

pub fn run(g: &GlobalArgs, cmd: InventoryCommand) -> anyhow::Result<Exit> {
    let inv = load_inventory(g)?;
    let hosts = selected(&inv, g)?;
    match cmd {
        InventoryCommand::Check => {
            println!(
                "{}: valid, {} hosts",
                inventory_path(g).display(),
                hosts.len()
            );
            Ok(Exit::Ok)
        }
        InventoryCommand::Show {
            format: ShowFormat::Json,
        } => {
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
        InventoryCommand::Show {
            format: ShowFormat::Text,
        } => {
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
                    format!("{}:{}", h.address, h.port),
                    h.provider.as_str(),
                    h.location.as_deref().unwrap_or("-"),
                    h.roles.join(","),
                    h.profiles.join(",")
                );
            }
            Ok(Exit::Ok)
        }
    }
}
