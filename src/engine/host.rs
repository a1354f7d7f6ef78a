//! Per-host orchestration of the stages: which controls are in force, what
//! facts they need, their outcomes (verify) and the changes that enforce
//! them (plan).

use crate::controls::dispatch::{self, HostControl};
use crate::controls::mesh::Directory;
use crate::controls::{self, context, CatalogError, HostCtx, Outcome, Profile, Status, Vars};
use crate::facts::{self, Facts};
use crate::inventory::{Host, Inventory};

use super::resource::{Change, Resource};

/// The profiles in force: built in, or from the inventory's profiles_dir.
pub struct Catalog {
    pub profiles: Vec<Profile>,
    /// SHA-256 over the profile sources, so reports name the exact rules.
    pub sha256: String,
}

impl Catalog {
    pub fn load(inv: &Inventory) -> Result<Catalog, CatalogError> {
        let sources = match &inv.profiles_dir {
            None => controls::builtin_sources(),
            Some(dir) => controls::dir_sources(dir)?,
        };
        let mut profiles = Vec::new();
        let mut all = String::new();
        for (name, text) in &sources {
            profiles.push(controls::parse_profile(name, text)?);
            all.push_str(name);
            all.push('\n');
            all.push_str(text);
        }
        profiles.sort_by(|a, b| a.profile.cmp(&b.profile));
        Ok(Catalog {
            profiles,
            sha256: crate::inventory::hex_sha256(all.as_bytes()),
        })
    }
}

/// Everything decided about a host before connecting to it.
pub struct HostSetup {
    pub host: Host,
    pub vars: Vars,
    pub controls: Vec<HostControl>,
    /// Profiles the host's roles name that this version does not define yet.
    pub missing_profiles: Vec<String>,
    pub request: facts::Request,
    /// Targets the operator consented to destroy for this run (`harden
    /// --wipe HOST:DEVICE`); destructive actions on anything else refuse
    /// the host's plan.
    pub consent: Vec<String>,
}

pub fn setup(inv: &Inventory, catalog: &Catalog, host: &Host) -> Result<HostSetup, String> {
    let mut profiles = Vec::new();
    let mut missing_profiles = Vec::new();
    for name in &host.profiles {
        match catalog.profiles.iter().find(|p| p.profile == *name) {
            Some(p) => profiles.push(p),
            None => missing_profiles.push(name.clone()),
        }
    }
    let vars = dispatch::host_vars(&context::builtin_vars(inv), &profiles, host);
    let controls = dispatch::host_controls(&profiles, &vars)?;
    let (read, stat) = dispatch::paths_to_read(&controls, inv);
    let hash = dispatch::paths_to_hash(&controls);
    Ok(HostSetup {
        host: host.clone(),
        vars,
        controls,
        missing_profiles,
        request: facts::Request {
            disks: host.disks.clone(),
            stat,
            read,
            hash,
        },
        consent: Vec::new(),
    })
}

/// One control's result on one host.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    pub control: &'a HostControl,
    pub outcome: Outcome,
}

/// Judges every control; waivers in force turn a failure into `waived`.
pub fn judge<'a>(
    setup: &'a HostSetup,
    inv: &Inventory,
    facts: &Facts,
    mesh: &Directory,
    today: i64,
) -> Vec<Judged<'a>> {
    let ctx = HostCtx {
        host: &setup.host,
        inventory: inv,
        facts,
        vars: &setup.vars,
        mesh,
    };
    setup
        .controls
        .iter()
        .map(|hc| {
            let mut outcome = dispatch::evaluate(&hc.control.check, &ctx);
            if let Some(w) = inv.waiver_for(&hc.control.id, &setup.host, today) {
                if matches!(outcome.status, Status::Fail | Status::Error) {
                    outcome.status = Status::Waived;
                    outcome.reason = Some(format!("waived until {}: {}", w.expires, w.reason));
                }
            }
            Judged {
                control: hc,
                outcome,
            }
        })
        .collect()
}

/// The changes that bring the host to its profiles. Waived controls are
/// not enforced.
pub fn plan(
    setup: &HostSetup,
    inv: &Inventory,
    facts: &Facts,
    mesh: &Directory,
    today: i64,
) -> Result<Vec<Change>, String> {
    let ctx = HostCtx {
        host: &setup.host,
        inventory: inv,
        facts,
        vars: &setup.vars,
        mesh,
    };
    let enforced: Vec<&HostControl> = setup
        .controls
        .iter()
        .filter(|hc| inv.waiver_for(&hc.control.id, &setup.host, today).is_none())
        .collect();
    let custom: Vec<&str> = enforced
        .iter()
        .filter_map(|hc| match &hc.control.check {
            crate::controls::Check::Custom { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if let Some(risk) = crate::controls::lockout_risk(&custom, &ctx) {
        return Err(format!("refused before anything was applied: {risk}"));
    }
    let resources = dispatch::enforce(&enforced, &ctx)?;
    super::safety::refuse_destruction(&setup.host.name, &resources, &setup.consent)?;
    Ok(changes(&resources, facts))
}

/// Resources that differ from the facts, in apply order.
pub fn changes(resources: &[Resource], facts: &Facts) -> Vec<Change> {
    let mut unique: Vec<&Resource> = Vec::new();
    for r in resources {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    let mut out: Vec<Change> = unique.into_iter().filter_map(|r| r.diff(facts)).collect();
    out.sort_by_key(|c| apply_rank(&c.resource));
    out
}

/// Packages, then accounts, then files, then services and live settings.
fn apply_rank(r: &Resource) -> u8 {
    match r {
        Resource::Package { .. } => 0,
        Resource::Group { .. } => 1,
        Resource::User { .. } => 2,
        Resource::File { .. }
        | Resource::Absent { .. }
        | Resource::Generate { .. }
        | Resource::Secret { .. } => 3,
        Resource::Perms { .. } => 4,
        Resource::Shell { .. } | Resource::LockPassword { .. } | Resource::LeaveGroup { .. } => 5,
        Resource::Service { .. } => 6,
        Resource::Sysctl { .. } => 7,
        Resource::Trigger { .. } => 8,
        Resource::Action(_) => 9,
    }
}

/// Today as days since the epoch (UTC), for waiver expiry.
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs / 86_400).unwrap_or(0)
}
