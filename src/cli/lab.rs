//! `rampart lab up|down|status`.

use crate::lab::{self, LabSpec};

use super::args::LabCommand;
use super::Exit;

pub async fn run(cmd: LabCommand) -> anyhow::Result<Exit> {
    // The lab drives blocking system commands; keep them off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(cmd)).await?
}

fn run_blocking(cmd: LabCommand) -> anyhow::Result<Exit> {
    match cmd {
        LabCommand::Up(a) => {
            let spec = LabSpec {
                name: a.name.name,
                hosts: usize::from(a.hosts),
                disk_mb: a.disk_mb,
                subnet: a.subnet,
                dir: a.dir,
                release: lab::Release::parse(&a.release)?,
                flavour: if a.minimal {
                    lab::Flavour::Minimal
                } else {
                    lab::Flavour::Provider
                },
            };
            let state = lab::up(&spec)?;
            println!(
                "lab {}: {} hosts up ({}, {} image); inventory {}",
                state.name,
                state.hosts.len(),
                state.release,
                state.flavour.name(),
                state.inventory.display()
            );
            for h in &state.hosts {
                let disk = h
                    .loop_device
                    .as_deref()
                    .map(|d| format!(" disk /dev/vdb ({d})"))
                    .unwrap_or_default();
                println!("  {:<12} {}{disk}", h.name, h.address);
            }
            Ok(Exit::Ok)
        }
        LabCommand::Down(a) => {
            let removed = lab::down_matching(&a.name)?;
            if removed.is_empty() {
                println!("no lab matches {}", a.name);
            }
            for name in removed {
                println!("lab {name}: removed");
            }
            Ok(Exit::Ok)
        }
        LabCommand::Status(a) => {
            let labs = lab::list()?;
            let labs: Vec<_> = labs
                .into_iter()
                .filter(|l| l.name == a.name || a.name == lab::DEFAULT_NAME)
                .collect();
            if labs.is_empty() {
                println!("no lab is up");
            }
            let mut all_running = true;
            for l in &labs {
                println!(
                    "lab {} ({}): {}/{} hosts running; inventory {}",
                    l.name,
                    l.subnet,
                    l.running(),
                    l.hosts.len(),
                    l.inventory.display()
                );
                for h in &l.hosts {
                    let state = if h.is_running() { "running" } else { "stopped" };
                    all_running &= h.is_running();
                    println!("  {:<12} {:<15} {state}", h.name, h.address);
                }
            }
            Ok(if all_running {
                Exit::Ok
            } else {
                Exit::HostFailed
            })
        }
    }
}
