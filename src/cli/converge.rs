//! `rampart plan` and `rampart harden`.

use std::sync::Arc;

use crate::engine::converge::{apply_changes, Applied};
use crate::engine::host::{self, HostSetup};
use crate::engine::resource::Change;
use crate::engine::safety;
use crate::facts;
use crate::report::time;

use super::args::GlobalArgs;
use super::context::{connect_options, on_hosts, prepare, Prepared};
use super::{summarize, Exit, UsageError};

fn enforced_controls<'a>(
    p: &'a Prepared,
    s: &'a HostSetup,
) -> Vec<&'a crate::controls::HostControl> {
    let today = host::today();
    s.controls
        .iter()
        .filter(|hc| {
            p.inventory
                .waiver_for(&hc.control.id, &s.host, today)
                .is_none()
        })
        .collect()
}

/// Refuses, before anything is applied anywhere, a plan that would lock
/// rampart's own account out of any host.
fn refuse_lockouts(p: &Prepared, client_keys: &[String]) -> anyhow::Result<()> {
    let mut risks = Vec::new();
    for s in &p.setups {
        let group = s
            .vars
            .get("operators_group")
            .and_then(|v| v.as_str())
            .unwrap_or("rampart-operators")
            .to_string();
        risks.extend(safety::lockout_risks(
            &p.inventory,
            &s.host,
            &enforced_controls(p, s),
            &group,
            client_keys,
        ));
    }
    if risks.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "refused: these changes would lock rampart out; nothing was applied.\n  {}",
        risks.join("\n  ")
    ))
    .into())
}

pub async fn plan(g: &GlobalArgs, detailed_exitcode: bool) -> anyhow::Result<Exit> {
    let p = Arc::new(prepare(g)?);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    refuse_lockouts(&p, &opts.credentials.public_keys())?;
    let outcomes = on_hosts(&p, &opts, g, "plan", |session, name, _| {
        let p = p.clone();
        async move { host_plan(&p, &session, &name).await }
    })
    .await;
    let mut pending = 0;
    for o in &outcomes {
        if let Ok(changes) = &o.result {
            pending += changes.len();
            print_plan(&o.host, changes);
        }
    }
    println!(
        "\nPlan: {pending} change(s) on {} host(s).",
        outcomes
            .iter()
            .filter(|o| o.result.as_ref().is_ok_and(|c| !c.is_empty()))
            .count()
    );
    let exit = summarize(&outcomes, "plan");
    Ok(match exit {
        Exit::Ok if detailed_exitcode && pending > 0 => Exit::Drift,
        other => other,
    })
}

async fn host_plan(
    p: &Prepared,
    session: &crate::transport::Session,
    name: &str,
) -> anyhow::Result<Vec<Change>> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    let f = facts::gather(session, &setup.request).await?;
    host::plan(setup, &p.inventory, &f, host::today()).map_err(|e| anyhow::anyhow!(e))
}

fn print_plan(host: &str, changes: &[Change]) {
    if changes.is_empty() {
        println!("{host}: no changes");
        return;
    }
    println!("{host}: {} change(s)", changes.len());
    for c in changes {
        println!("  {c}");
        if let Some(diff) = &c.diff {
            for line in diff.lines() {
                println!("      {line}");
            }
        }
    }
}

pub async fn harden(g: &GlobalArgs) -> anyhow::Result<Exit> {
    let p = Arc::new(prepare(g)?);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    refuse_lockouts(&p, &opts.credentials.public_keys())?;
    prepare_edges(&p)?;
    let stamp = time::compact(time::now_secs());
    let outcomes = on_hosts(&p, &opts, g, "harden", |session, name, reconnect| {
        let (p, stamp) = (p.clone(), stamp.clone());
        async move {
            let changes = host_plan(&p, &session, &name).await?;
            let mut applied = apply_changes(&session, &reconnect, changes, &stamp).await?;
            // Packages bring files, directories and units the first plan
            // could not see; one more pass settles what they introduced.
            if applied.succeeded() && applied.installed_packages() {
                let more = host_plan(&p, &session, &name).await?;
                applied.absorb(apply_changes(&session, &reconnect, more, &stamp).await?);
            }
            if applied.succeeded() {
                Ok(applied)
            } else {
                Err(anyhow::anyhow!(failure_text(&applied)))
            }
        }
    })
    .await;
    let mut total = 0;
    for o in &outcomes {
        if let Ok(a) = &o.result {
            total += a.applied();
            println!("{}: {} change(s) applied", o.host, a.applied());
            for (c, ok) in a.changes.iter().zip(&a.ok) {
                if *ok {
                    println!("  {c}");
                }
            }
            for (h, _) in &a.handlers {
                println!("  handler: {h}");
            }
        }
    }
    println!("\nApplied {total} change(s).");
    Ok(summarize(&outcomes, "harden"))
}

/// The edges' TLS material on the control machine, before any host is
/// touched: rampart's CA created on first need, `self_signed` certificates
/// issued, an ageing CRL re-signed (see controls::proxy::material).
fn prepare_edges(p: &Prepared) -> anyhow::Result<()> {
    let edges: Vec<&crate::inventory::Host> = p
        .setups
        .iter()
        .filter(|s| s.controls.iter().any(|hc| matches!(&hc.control.check, crate::controls::Check::Custom { name } if name == "proxy_config")))
        .map(|s| &s.host)
        .collect();
    if edges.is_empty() {
        return Ok(());
    }
    let identity = crate::ca::Identity::from_env()?;
    let done = crate::controls::proxy::prepare(&p.inventory, &edges, identity.as_ref())?;
    for n in &done.notes {
        eprintln!("{n}");
    }
    for w in &done.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn failure_text(a: &Applied) -> String {
    let mut parts = Vec::new();
    for (summary, msg) in &a.failures {
        parts.push(format!(
            "failed: {summary}: {}",
            msg.lines().last().unwrap_or_default()
        ));
    }
    for (h, ok) in &a.handlers {
        if !ok {
            parts.push(format!("handler failed: {h}"));
        }
    }
    if let Some(r) = &a.rolled_back {
        parts.push(r.clone());
    }
    format!(
        "{} of {} change(s) applied; {}",
        a.applied(),
        a.changes.len(),
        parts.join("; ")
    )
}
