//! Per-host orchestration of the stages: which controls are in force, what
//! facts they need, their outcomes (verify) and the changes that enforce
//! them (plan).

use crate::controls::dispatch::{self, HostControl};
use crate::controls::mesh::Directory;
use crate::controls::{
    self, context, platform, CatalogError, HostCtx, Outcome, Profile, Status, Vars,
};
use crate::facts::{self, Facts};
use crate::inventory::{Host, Inventory};

use crate::engine::resource::Change;

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

/// Everything decided about a host before connecting to it: its vars and
/// controls for each supported release (the facts say which one applies)
/// and the facts request that serves all of them.
pub struct HostSetup {
    pub host: Host,
    /// One per supported release, in `platform::SUPPORTED` order.
    pub releases: Vec<ReleaseSetup>,
    /// Profiles the host's roles name that this version does not define yet.
    pub missing_profiles: Vec<String>,
    pub request: facts::Request,
    /// Targets the operator consented to destroy for this run (`harden
    /// --wipe HOST:DEVICE`); destructive actions on anything else refuse
    /// the host's plan.
    pub consent: Vec<String>,
}

/// The host's vars and rendered controls on one release.
pub struct ReleaseSetup {
    pub release: &'static platform::Release,
    pub vars: Vars,
    pub controls: Vec<HostControl>,
}

impl HostSetup {
    /// The variant for the release the facts report; an unsupported OS is
    /// refused with what was found, before anything is planned or applied.
    pub fn for_facts(&self, facts: &Facts) -> Result<&ReleaseSetup, String> {
        let release = platform::release_of(&facts.os)?;
        self.releases
            .iter()
            .find(|r| r.release == release)
            .ok_or_else(|| format!("no setup for {release}"))
    }
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
    let builtin = context::builtin_vars(inv);
    let mut releases = Vec::new();
    let mut request = facts::Request {
        disks: host.disks.clone(),
        backup_probe: controls::backup::probe_targets(inv, host),
        ..Default::default()
    };
    for release in platform::SUPPORTED {
        let vars = dispatch::host_vars(&builtin, &profiles, release.version, host);
        let controls =
            dispatch::host_controls(&profiles, &vars).map_err(|e| format!("{e} (on {release})"))?;
        let (read, stat) = dispatch::paths_to_read(&controls, inv);
        union_into(&mut request.read, read);
        union_into(&mut request.stat, stat);
        union_into(&mut request.hash, dispatch::paths_to_hash(&controls));
        releases.push(ReleaseSetup {
            release,
            vars,
            controls,
        });
    }
    Ok(HostSetup {
        host: host.clone(),
        releases,
        missing_profiles,
        request,
        consent: Vec::new(),
    })
}

/// Appends what `into` lacks, keeping first-seen order.
fn union_into(into: &mut Vec<String>, more: Vec<String>) {
    for p in more {
        if !into.contains(&p) {
            into.push(p);
        }
    }
}

/// One control's result on one host.
#[derive(Debug, Clone)]
pub struct Judged<'a> {
    pub control: &'a HostControl,
    pub outcome: Outcome,
}

/// Judges every control of the host's release; waivers in force turn a
/// failure into `waived`. A host on an unsupported OS is refused.
pub fn judge<'a>(
    setup: &'a HostSetup,
    inv: &Inventory,
    facts: &Facts,
    mesh: &Directory,
    today: i64,
) -> Result<Vec<Judged<'a>>, String> {
    let release = setup.for_facts(facts)?;
    let ctx = HostCtx {
        host: &setup.host,
        inventory: inv,
        facts,
        vars: &release.vars,
        mesh,
    };
    Ok(release
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
        .collect())
}

/// The changes that bring the host to its profiles on its release.
/// Waived controls are not enforced; an unsupported OS is refused.
pub fn plan(
    setup: &HostSetup,
    inv: &Inventory,
    facts: &Facts,
    mesh: &Directory,
    today: i64,
) -> Result<Vec<Change>, String> {
    let release = setup.for_facts(facts)?;
    let ctx = HostCtx {
        host: &setup.host,
        inventory: inv,
        facts,
        vars: &release.vars,
        mesh,
    };
    let enforced: Vec<&HostControl> = release
        .controls
        .iter()
        .filter(|hc| inv.waiver_for(&hc.control.id, &setup.host, today).is_none())
        .collect();
    if let Some(risk) = dispatch::path_risk(&enforced, &ctx) {
        return Err(format!("refused before anything was applied: {risk}"));
    }
    let resources = dispatch::enforce(&enforced, &ctx)?;
    super::safety::refuse_destruction(&setup.host.name, &resources, &setup.consent)?;
    Ok(crate::engine::resource::changes(&resources, facts))
}
