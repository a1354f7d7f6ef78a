//! `verify`'s judgement once facts are in: each host's results, the mesh
//! directory they are judged against, residency, and the run's record.

use std::collections::BTreeMap;

use crate::calendar;
use crate::controls::mesh::Directory;
use crate::controls::residency;
use crate::facts::Facts;
use crate::inventory::{Host, Inventory};
use crate::ops::fleet;
use crate::ops::host::{self, Catalog, HostSetup};
use crate::providers;
use crate::report::{self, ControlResult, HostSummary, VerifyRun};

/// The mesh keys of the run's hosts (from their facts) over the recorded
/// ones. The error is the recorded keys' file, unreadable.
pub fn mesh_directory<'a>(
    inventory: &Inventory,
    reported: impl IntoIterator<Item = (&'a str, &'a Facts)>,
) -> Result<Directory, String> {
    let mut keys: BTreeMap<String, String> =
        fleet::load_recorded(&fleet::keys_file(inventory)).map_err(|e| e.to_string())?;
    let mut backup = fleet::load_recorded_backup(&fleet::backup_keys_file(inventory))
        .map_err(|e| e.to_string())?;
    for (host, f) in reported {
        if let Some(k) = f.mesh.public_key.clone() {
            keys.insert(host.to_string(), k);
        }
        if let Some(h) = inventory.host(host) {
            backup.extend(&crate::controls::backup::own_keys(inventory, h, f));
        }
    }
    Ok(Directory {
        keys,
        complete: true,
        psk: None,
        backup,
    })
}

/// One host's controls judged against its facts, as report results.
pub fn judge_host(
    setup: &HostSetup,
    inventory: &Inventory,
    f: &Facts,
    directory: &Directory,
    today: i64,
) -> Result<Vec<ControlResult>, String> {
    let name = &setup.host.name;
    let checked_at = calendar::rfc3339(f.collected_at);
    Ok(host::judge(setup, inventory, f, directory, today)?
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
/// The error is for the operator (a bad profile or credentials).
pub async fn residency_results(
    catalog: &Catalog,
    inventory: &Inventory,
    hosts: &[&Host],
) -> Result<Vec<ControlResult>, String> {
    let now = calendar::rfc3339(calendar::now_secs());
    let r = residency::Residency::new(&catalog.profiles, inventory).map_err(|e| e.to_string())?;
    let mut out = residency::res01(&r, inventory, hosts, &now);
    let providers = providers::configured_providers(&providers::process_env)
        .map_err(|e| format!("provider credentials: {e}"))?;
    if !providers.is_empty() {
        match providers::live::check_locations(hosts, &providers).await {
            Ok(live) => out.extend(residency::res02(&r, &live.hosts, &now)),
            Err(e) => out.extend(residency::res02_error(&r, hosts, &e.to_string(), &now)),
        }
    }
    Ok(out)
}

/// Every selected host's summary, in the run's order: unreachable ones
/// with their error, the others from their results.
pub fn host_summaries(
    setups: &[HostSetup],
    results: &[ControlResult],
    unreachable: &[(String, String)],
) -> Vec<HostSummary> {
    setups
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
        .collect()
}

/// The run's record: what was checked against which rules, and when.
pub fn record(
    inventory: &Inventory,
    catalog: &Catalog,
    started: u64,
    hosts: Vec<HostSummary>,
    results: Vec<ControlResult>,
) -> VerifyRun {
    VerifyRun {
        schema: report::SCHEMA_ID.into(),
        rampart_version: env!("CARGO_PKG_VERSION").into(),
        inventory: inventory.path.display().to_string(),
        inventory_sha256: inventory.sha256.clone(),
        profiles_sha256: catalog.sha256.clone(),
        started_at: calendar::rfc3339(started),
        finished_at: calendar::rfc3339(calendar::now_secs()),
        hosts,
        results,
    }
}
