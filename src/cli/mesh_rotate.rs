//! `rampart mesh rotate`: new WireGuard keys on every mesh host.
//!
//! Staged, then switched: every host first generates its next key beside
//! the current one (the interface keeps running on the old key) and reports
//! the public half. Only when all have staged does any host switch; then
//! all switch at once (new peer keys through `wg syncconf`, which never
//! takes the interface down, and the new private key). A failed stage
//! switches nothing. Handshakes resume within seconds; open TCP
//! connections over the mesh survive the gap. The previous key is kept
//! until every host has confirmed fresh handshakes with all its peers.

use std::sync::Arc;

use crate::calendar;
use crate::ops::fleet::{self, Rendezvous};
use crate::ops::mesh_rotate::{self as steps, rotate_host};

use super::args::GlobalArgs;
use super::context::{connect_options, on_hosts_observed, Prepared};
use super::{summarize, Exit, UsageError};

pub async fn run(g: &GlobalArgs) -> anyhow::Result<Exit> {
    let p = Arc::new(super::mesh::mesh_only(g)?);
    refuse_partial_fleet(&p)?;
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let hosts: std::collections::BTreeSet<String> =
        p.setups.iter().map(|s| s.host.name.clone()).collect();
    let staged = Arc::new(Rendezvous::new(hosts.clone(), Default::default()));
    let switched = Arc::new(Rendezvous::new(hosts, Default::default()));
    let report_failure = {
        let (staged, switched) = (staged.clone(), switched.clone());
        move |host: &str| {
            for r in [&staged, &switched] {
                if !r.has_reported(host) {
                    r.report(host, None);
                }
            }
        }
    };
    let mut g = g.clone();
    g.jobs = g
        .jobs
        .max(u16::try_from(p.setups.len()).unwrap_or(u16::MAX));
    let stamp = calendar::compact(calendar::now_secs());
    let outcomes = on_hosts_observed(
        &p,
        &opts,
        &g,
        "mesh rotate",
        &report_failure,
        |session, name, reconnect| {
            let (p, staged, switched, stamp) =
                (p.clone(), staged.clone(), switched.clone(), stamp.clone());
            async move {
                let result =
                    rotate_host(&p, &staged, &switched, &session, &reconnect, &name, &stamp)
                        .await
                        .map_err(anyhow::Error::from);
                if result.is_err() {
                    for r in [&staged, &switched] {
                        if !r.has_reported(&name) {
                            r.report(&name, None);
                        }
                    }
                }
                result
            }
        },
    )
    .await;
    let new_keys = switched.learned();
    if let Err(e) = fleet::record(&fleet::keys_file(&p.inventory), &new_keys) {
        eprintln!("warning: {e}");
    }
    for o in &outcomes {
        if let Ok(r) = &o.result {
            println!(
                "{}: new key in use; handshakes with every peer {:.1} s after the switch",
                o.host,
                r.recovered_after.as_secs_f64()
            );
        }
    }
    Ok(summarize(&outcomes, "rotate their mesh key"))
}

/// Rotating some mesh hosts and not their peers would cut the pairs
/// between them: the run must hold every mesh host.
fn refuse_partial_fleet(p: &Prepared) -> Result<(), UsageError> {
    let missing = steps::left_out(&p.inventory, |h| p.setup(h).is_some());
    if missing.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "refused: mesh rotate changes every mesh host's key at once, and --limit leaves out {}; their peers would lose them. Run it without --limit.",
        missing.join(", ")
    )))
}
