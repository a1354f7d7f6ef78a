//! `rampart verify`: facts → controls → results, as text, JSON or JUnit.

use std::sync::Arc;

use crate::calendar;
use crate::controls::mesh::Directory;
use crate::ops::verify as ops;
use crate::report::{self, ControlResult, VerifyRun};
use crate::transport::HostOutcome;

use super::args::{GlobalArgs, VerifyFormat};
use super::context::{connect_options, on_hosts, prepare, Prepared};
use super::{Exit, UsageError};

pub async fn run(g: &GlobalArgs, format: VerifyFormat) -> anyhow::Result<Exit> {
    let p = Arc::new(prepare(g)?);
    let run = verify_run(g, &p).await?;
    match format {
        VerifyFormat::Text => print!("{}", report::text::render(&run, g.verbose > 0)),
        VerifyFormat::Json => println!("{}", serde_json::to_string_pretty(&run)?),
        VerifyFormat::Junit => print!("{}", report::junit::render(&run)),
    }
    Ok(if run.any_unreachable() {
        Exit::HostFailed
    } else if run.any_drift() {
        Exit::Drift
    } else {
        Exit::Ok
    })
}

/// Verifies every selected host; unreachable hosts are part of the run.
pub async fn verify_run(g: &GlobalArgs, p: &Arc<Prepared>) -> anyhow::Result<VerifyRun> {
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let started = calendar::now_secs();
    let today = calendar::today();
    let identities = std::rc::Rc::new(super::luks::identities_from_env()?);
    let gathered = on_hosts(p, &opts, g, "verify", |session, name, _| {
        let (p, identities) = (p.clone(), identities.clone());
        async move {
            let setup = p
                .setup(&name)
                .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
            let mut f = super::context::supported_facts(&session, setup, &setup.request).await?;
            let release = setup.for_facts(&f).map_err(anyhow::Error::msg)?;
            if let Some(ids) = identities.as_ref() {
                super::luks::test_escrows(&session, setup, &p.inventory, &mut f, ids).await?;
            }
            // Live probes: the host as its clients see it from here.
            f.observed =
                crate::controls::dispatch::observe(&release.controls, &p.inventory, &setup.host)
                    .await;
            Ok::<_, anyhow::Error>(f)
        }
    })
    .await;
    // Judged once every host's facts are in: mesh peers are checked against
    // the keys the other hosts reported.
    let directory = mesh_directory(p, &gathered)?;
    let outcomes: Vec<HostOutcome<Vec<ControlResult>, anyhow::Error>> = gathered
        .into_iter()
        .map(|o| HostOutcome {
            result: o
                .result
                .and_then(|f| judge_host(p, &o.host, &f, &directory, today)),
            host: o.host,
        })
        .collect();
    let mut results = Vec::new();
    let mut unreachable = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(r) => results.extend(r),
            Err(e) => unreachable.push((o.host, format!("{e:#}"))),
        }
    }
    // Residency is judged for every host, reachable or not.
    let residency = ops::residency_results(&p.catalog, &p.inventory, &p.hosts())
        .await
        .map_err(UsageError)?;
    results.extend(residency);
    let hosts = ops::host_summaries(&p.setups, &results, &unreachable);
    Ok(ops::record(
        &p.inventory,
        &p.catalog,
        started,
        hosts,
        results,
    ))
}

/// The mesh keys of the run's hosts (from their facts) over the recorded ones.
pub fn mesh_directory(
    p: &Prepared,
    gathered: &[HostOutcome<crate::facts::Facts, anyhow::Error>],
) -> anyhow::Result<Directory> {
    let reported = gathered
        .iter()
        .filter_map(|o| Some((o.host.as_str(), o.result.as_ref().ok()?)));
    Ok(ops::mesh_directory(&p.inventory, reported).map_err(UsageError)?)
}

fn judge_host(
    p: &Prepared,
    name: &str,
    f: &crate::facts::Facts,
    directory: &Directory,
    today: i64,
) -> anyhow::Result<Vec<ControlResult>> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    ops::judge_host(setup, &p.inventory, f, directory, today).map_err(anyhow::Error::msg)
}
