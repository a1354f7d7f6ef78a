//! `rampart mesh status` and `rampart mesh rotate`.

use std::sync::Arc;

use crate::controls::mesh::{self, PairStatus};
use crate::controls::HostCtx;

use super::args::{GlobalArgs, MeshCommand, StatusFormat};
use super::context::{connect_options, gather_all, prepare, Prepared};
use super::{summarize, Exit, UsageError};

pub async fn run(g: &GlobalArgs, cmd: MeshCommand) -> anyhow::Result<Exit> {
    match cmd {
        MeshCommand::Status { format } => status(g, format).await,
        MeshCommand::Rotate => super::mesh_rotate::run(g).await,
    }
}

/// The run's hosts, narrowed to those with the mesh profile.
pub(super) fn mesh_only(g: &GlobalArgs) -> anyhow::Result<Prepared> {
    let mut p = prepare(g)?;
    p.setups.retain(|s| s.host.has_profile("mesh"));
    if p.setups.is_empty() {
        return Err(UsageError(
            "no selected host has the mesh profile (roles edge, app, db, backup, or a role naming `mesh`)".into(),
        )
        .into());
    }
    Ok(p)
}

async fn status(g: &GlobalArgs, format: StatusFormat) -> anyhow::Result<Exit> {
    let p = Arc::new(mesh_only(g)?);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let gathered = gather_all(&p, &opts, g, "mesh status").await;
    let directory = super::verify::mesh_directory(&p, &gathered)?;
    let mut pairs: Vec<PairStatus> = Vec::new();
    for o in &gathered {
        // gather_all already refused hosts on an unsupported OS.
        let (Ok(f), Some(setup)) = (&o.result, p.setup(&o.host)) else {
            continue;
        };
        let Ok(release) = setup.for_facts(f) else {
            continue;
        };
        let ctx = HostCtx {
            host: &setup.host,
            inventory: &p.inventory,
            facts: f,
            vars: &release.vars,
            mesh: &directory,
        };
        pairs.extend(mesh::pair_status(&ctx));
    }
    match format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&pairs)?),
        StatusFormat::Text => print!("{}", render_text(&pairs)),
    }
    let exit = summarize(&gathered, "report mesh status");
    Ok(match exit {
        Exit::Ok if pairs.iter().any(|s| s.state != "ok") => Exit::Drift,
        other => other,
    })
}

fn bytes(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1_048_575 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

fn render_text(pairs: &[PairStatus]) -> String {
    let mut t = format!(
        "{:<16} {:<16} {:<12} {:>10} {:>10}  {}\n",
        "HOST", "PEER", "HANDSHAKE", "RECEIVED", "SENT", "STATE"
    );
    for s in pairs {
        let hs = s
            .handshake_age
            .map(|a| format!("{a} s ago"))
            .unwrap_or_else(|| "never".into());
        t.push_str(&format!(
            "{:<16} {:<16} {:<12} {:>10} {:>10}  {}\n",
            s.host,
            s.peer,
            hs,
            bytes(s.rx_bytes),
            bytes(s.tx_bytes),
            s.state
        ));
    }
    let down = pairs.iter().filter(|s| s.state != "ok").count();
    t.push_str(&format!(
        "\n{} pair direction(s), {} ok, {down} not ok.\n",
        pairs.len(),
        pairs.len() - down
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_every_direction_and_counts_the_bad_ones() {
        let pair = |peer: &str, state: &str, age: Option<u64>| PairStatus {
            host: "a".into(),
            peer: peer.into(),
            state: state.into(),
            endpoint: None,
            handshake_age: age,
            rx_bytes: 2048,
            tx_bytes: 10,
        };
        let t = render_text(&[pair("b", "ok", Some(3)), pair("c", "never", None)]);
        assert!(t.contains("3 s ago"), "{t}");
        assert!(t.contains("2.0 KiB"), "{t}");
        assert!(t.contains("2 pair direction(s), 1 ok, 1 not ok."), "{t}");
    }
}
