//! What `plan` and `harden` decide before and after they touch hosts: the
//! refusals made before anything is applied, which hosts are edges, the
//! mesh rendezvous they meet at, and a failed apply in words.

use crate::controls::HostControl;
use crate::inventory::{Host, Inventory};
use crate::ops::converge::Applied;
use crate::ops::fleet::{self, Rendezvous};
use crate::ops::host::HostSetup;
use crate::ops::safety;

/// The controls enforced on any of the host's possible releases: the
/// lockout check runs before facts say which one the host is on.
fn enforced_controls<'a>(inventory: &Inventory, s: &'a HostSetup) -> Vec<&'a HostControl> {
    let today = crate::calendar::today();
    s.releases
        .iter()
        .flat_map(|r| &r.controls)
        .filter(|hc| {
            inventory
                .waiver_for(&hc.control.id, &s.host, today)
                .is_none()
        })
        .collect()
}

/// Every way the run's plans could lock rampart's own account out of a
/// host, each once.
pub fn lockout_risks(
    inventory: &Inventory,
    setups: &[HostSetup],
    client_keys: &[String],
) -> Vec<String> {
    let mut risks = Vec::new();
    for s in setups {
        for release in &s.releases {
            let group = release
                .vars
                .get("operators_group")
                .and_then(|v| v.as_str())
                .unwrap_or("rampart-operators")
                .to_string();
            for risk in safety::lockout_risks(
                inventory,
                &s.host,
                &enforced_controls(inventory, s),
                &group,
                client_keys,
            ) {
                if !risks.contains(&risk) {
                    risks.push(risk);
                }
            }
        }
    }
    risks
}

/// Inventory problems the luks profile finds before connecting (no
/// recipients to escrow keys to, …), and `--wipe` values that do not name
/// a declared disk of a selected host.
pub fn luks_input_problems(inventory: &Inventory, hosts: &[&Host], wipe: &[String]) -> Vec<String> {
    let mut problems = crate::controls::luks::preflight(inventory, hosts);
    if let Err(e) = crate::controls::luks::check_wipe(wipe, hosts) {
        problems.push(e);
    }
    problems
}

/// The refusal text listing every problem under `head`, one a line, so the
/// operator sees them all at once; `None` when there are none.
pub fn refusal(head: &str, problems: &[String]) -> Option<String> {
    if problems.is_empty() {
        return None;
    }
    Some(format!("{head}\n  {}", problems.join("\n  ")))
}

/// The mesh hosts of this run meet at a rendezvous to learn each other's
/// keys; keys recorded by earlier runs stand in for hosts outside the run.
/// The error is the recorded keys' file, unreadable.
pub fn mesh_rendezvous(
    inventory: &Inventory,
    setups: &[HostSetup],
    applying: bool,
) -> Result<Rendezvous, String> {
    let expected = setups
        .iter()
        .filter(|s| s.host.has_profile("mesh"))
        .map(|s| s.host.name.clone())
        .collect();
    let recorded = fleet::load_recorded(&fleet::keys_file(inventory)).map_err(|e| e.to_string())?;
    let recorded_backup = fleet::load_recorded_backup(&fleet::backup_keys_file(inventory))
        .map_err(|e| e.to_string())?;
    let mut r = Rendezvous::new(expected, recorded).with_recorded_backup(recorded_backup);
    if inventory.mesh.preshared_keys {
        r = r.with_preshared_keys(crate::controls::mesh_psk::PskStore::new(
            inventory, applying,
        ));
    }
    Ok(r)
}

/// What a host's facts give the rendezvous: its backup keys, learned at
/// once; and whether it may report, i.e. it has every key its peers need
/// from it (a db host's drop key is born in its first apply, so it reports
/// after it, like a mesh host without a key yet).
pub fn learn_backup_keys(
    inventory: &Inventory,
    rendezvous: &Rendezvous,
    host: &str,
    facts: &crate::facts::Facts,
) -> bool {
    let Some(h) = inventory.host(host) else {
        return true;
    };
    rendezvous.learn_backup(&crate::controls::backup::own_keys(inventory, h, facts));
    crate::controls::backup::keys_ready(inventory, h, facts)
}

/// Records what the run learned (public keys) beside the inventory.
pub fn record_learned(inventory: &Inventory, rendezvous: &Rendezvous) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(e) = fleet::record(&fleet::keys_file(inventory), &rendezvous.learned()) {
        warnings.push(e.to_string());
    }
    let backup = fleet::backup_keys_file(inventory);
    if let Err(e) = fleet::record_backup(&backup, &rendezvous.learned_backup()) {
        warnings.push(e.to_string());
    }
    warnings
}

/// Whether the host runs an edge proxy (its controls include PRX-02's check).
pub fn is_edge(s: &HostSetup) -> bool {
    s.releases
        .iter()
        .flat_map(|r| &r.controls)
        .any(|hc| crate::controls::proxy::is_config_check(&hc.control.check))
}

/// What failed in an apply, in one line for the host's outcome.
pub fn failure_text(a: &Applied) -> String {
    let mut parts = Vec::new();
    for (summary, msg) in &a.failures {
        tracing::debug!("{summary} failed:\n{msg}");
        parts.push(format!(
            "failed: {summary}: {}",
            crate::engine::apply::failure_detail(msg)
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
