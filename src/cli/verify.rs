//! `rampart verify`: facts → controls → results, as text, JSON or JUnit.

use std::sync::Arc;

use crate::calendar;
use crate::controls::mesh::Directory;
use crate::controls::residency;
use crate::ops::fleet;
use crate::ops::host;
use crate::providers;
use crate::report::{self, ControlResult, HostSummary, VerifyRun};
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
    results.extend(residency_results(p).await?);
    let hosts = p
        .setups
        .iter()
        .map(
            |s| match unreachable.iter().find(|(h, _)| *h == s.host.name) {
                Some((h, e)) => HostSummary::unreachable(h, e.clone()),
                None => {
                    let mine: Vec<ControlResult> = results
                        .iter()
                        .filter(|r| r.host == s.host.name)
                        .cloned()
                        .collect();
                    HostSummary::from_results(&s.host.name, &mine, s.missing_profiles.clone())
                }
            },
        )
        .collect();
    Ok(VerifyRun {
        schema: report::SCHEMA_ID.into(),
        rampart_version: env!("CARGO_PKG_VERSION").into(),
        inventory: p.inventory.path.display().to_string(),
        inventory_sha256: p.inventory.sha256.clone(),
        profiles_sha256: p.catalog.sha256.clone(),
        started_at: calendar::rfc3339(started),
        finished_at: calendar::rfc3339(calendar::now_secs()),
        hosts,
        results,
    })
}

/// The mesh keys of the run's hosts (from their facts) over the recorded ones.
pub fn mesh_directory(
    p: &Prepared,
    gathered: &[HostOutcome<crate::facts::Facts, anyhow::Error>],
) -> anyhow::Result<Directory> {
    let mut keys = fleet::load_recorded(&fleet::keys_file(&p.inventory))
        .map_err(|e| UsageError(e.to_string()))?;
    for o in gathered {
        if let Some(k) = o
            .result
            .as_ref()
            .ok()
            .and_then(|f| f.mesh.public_key.clone())
        {
            keys.insert(o.host.clone(), k);
        }
    }
    Ok(Directory {
        keys,
        complete: true,
        psk: None,
    })
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
    let checked_at = calendar::rfc3339(f.collected_at);
    Ok(host::judge(setup, &p.inventory, f, directory, today)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|j| ControlResult {
            id: j.control.control.id.clone(),
            host: name.to_string(),
            profile: j.control.profile.clone(),
            title: j.control.control.title.clone(),
            severity: j.control.control.severity,
            status: j.outcome.status,
            observed: j.outcome.observed,
            expected: j.outcome.expected,
            reason: j.outcome.reason,
            rationale: j.control.control.rationale.trim().to_string(),
            references: j.control.control.refs.clone(),
            evidence: j.outcome.evidence,
            checked_at: checked_at.clone(),
        })
        .collect())
}

/// RES-01 from the inventory; RES-02 when provider credentials are present.
async fn residency_results(p: &Prepared) -> anyhow::Result<Vec<ControlResult>> {
    let now = calendar::rfc3339(calendar::now_secs());
    let hosts = p.hosts();
    let r = residency::Residency::new(&p.catalog.profiles, &p.inventory)
        .map_err(|e| UsageError(e.to_string()))?;
    let mut out = residency::res01(&r, &p.inventory, &hosts, &now);
    let providers = providers::configured_providers(&providers::process_env)
        .map_err(|e| UsageError(format!("provider credentials: {e}")))?;
    if !providers.is_empty() {
        match providers::live::check_locations(&hosts, &providers).await {
            Ok(live) => out.extend(residency::res02(&r, &live.hosts, &now)),
            Err(e) => out.extend(residency::res02_error(&r, &hosts, &e.to_string(), &now)),
        }
    }
    Ok(out)
}
