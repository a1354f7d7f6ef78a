//! From a host's profiles to (a) the outcome of every control and (b) the
//! resources that enforce them. `handling` is the one place that reads a
//! check's kind: it says how the check is judged, what enforces it, which
//! host files it needs and, for a custom check, its registry entry
//! (`custom.rs`). Every stage below reads that.

use std::collections::BTreeMap;

use super::catalog::{Check, Control, Profile};
use super::context::{HostCtx, Vars};
use super::custom::{self, CustomCheck, Lockout, Login};
use super::outcome::Outcome;
use super::{accounts, files, firewall, kernel, logging, mesh, mounts, packages, ssh, system};
use crate::engine::resource::Resource;
use crate::inventory::Host;

/// A control in force on a host, with variables substituted.
#[derive(Debug, Clone)]
pub struct HostControl {
    pub profile: String,
    pub control: Control,
}

/// The variables for a host: built-ins, then profile defaults, then host vars.
/// Builtin vars, then each profile's defaults, then its values for the
/// host's release, then the host's own `vars:`.
pub fn host_vars(builtin: &Vars, profiles: &[&Profile], release: &str, host: &Host) -> Vars {
    let mut v = builtin.clone();
    for p in profiles {
        for (k, val) in &p.vars {
            v.insert(k.clone(), val.clone());
        }
        for (k, val) in p.releases.get(release).iter().flat_map(|r| &r.vars) {
            v.insert(k.clone(), val.clone());
        }
    }
    for (k, val) in &host.vars {
        v.insert(k.clone(), val.clone());
    }
    v
}

/// The controls of the host's profiles, in profile order, values rendered.
pub fn host_controls(profiles: &[&Profile], vars: &Vars) -> Result<Vec<HostControl>, String> {
    let mut out = Vec::new();
    for p in profiles {
        for c in &p.controls {
            let mut control = c.clone();
            control.check = render_check(&c.check, vars).map_err(|e| format!("{}: {e}", c.id))?;
            out.push(HostControl {
                profile: p.profile.clone(),
                control,
            });
        }
    }
    Ok(out)
}

/// A check with `{{ var }}` in its values rendered: the check as a value,
/// each string rendered, then read back as a check (no YAML text between).
fn render_check(check: &Check, vars: &Vars) -> Result<Check, String> {
    let value = serde_yaml::to_value(check).map_err(|e| e.to_string())?;
    if !has_template(&value) {
        return Ok(check.clone());
    }
    let mut ctx = tera::Context::new();
    for (k, v) in vars {
        ctx.insert(k, v);
    }
    serde_yaml::from_value(render_value(value, &ctx)?).map_err(|e| e.to_string())
}

fn has_template(v: &serde_yaml::Value) -> bool {
    use serde_yaml::Value;
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Sequence(items) => items.iter().any(has_template),
        Value::Mapping(m) => m.values().any(has_template),
        Value::Tagged(t) => has_template(&t.value),
        _ => false,
    }
}

fn render_value(v: serde_yaml::Value, ctx: &tera::Context) -> Result<serde_yaml::Value, String> {
    use serde_yaml::Value;
    Ok(match v {
        Value::String(s) if s.contains("{{") => {
            Value::String(tera::Tera::one_off(&s, ctx, false).map_err(|e| format!("{s:?}: {e}"))?)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(|i| render_value(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| Ok((k, render_value(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Tagged(t) => {
            let t = *t;
            Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: t.tag,
                value: render_value(t.value, ctx)?,
            }))
        }
        other => other,
    })
}

/// How one check is handled at every stage.
struct Handling<'a> {
    judge: Box<dyn Fn(&HostCtx) -> Outcome + 'a>,
    enforce: Enforce<'a>,
    /// A file whose content the check judges.
    reads: Option<&'a str>,
    /// A file whose mode and owner the check judges.
    stats: Option<&'a str>,
    /// Why the check would shut ssh.user out, if it would.
    login_risk: Option<LoginRisk<'a>>,
    /// The registry entry of a custom check.
    custom: Option<&'static CustomCheck>,
}

type LoginRisk<'a> = Box<dyn Fn(&Login) -> Option<String> + 'a>;
type OwnResources<'a> = Box<dyn Fn(&HostCtx) -> Result<Vec<Resource>, String> + 'a>;

/// What enforces a check.
enum Enforce<'a> {
    /// Resources of its own.
    Own(OwnResources<'a>),
    /// A setting gathered with the others of its file into that one file.
    Shared(Shared<'a>),
    /// Nothing: judged only.
    Nothing,
}

/// Settings that share one file.
enum Shared<'a> {
    Sshd(&'a str, &'a str),
    Sysctl(&'a str, &'a str),
    Module(&'a str),
    LoginDefs(&'a str, &'a str),
    Journald(&'a str, &'a str),
}

fn judged<'a>(judge: impl Fn(&HostCtx) -> Outcome + 'a, enforce: Enforce<'a>) -> Handling<'a> {
    Handling {
        judge: Box::new(judge),
        enforce,
        reads: None,
        stats: None,
        login_risk: None,
        custom: None,
    }
}

fn own<'a>(f: impl Fn(&HostCtx) -> Result<Vec<Resource>, String> + 'a) -> Enforce<'a> {
    Enforce::Own(Box::new(f))
}

/// The one match on a check's kind.
fn handling(check: &Check) -> Handling<'_> {
    use Enforce::Shared as S;
    match check {
        Check::Sshd { option, value } => Handling {
            login_risk: Some(Box::new(|l| ssh::login_risk(option, value, l))),
            ..judged(
                |ctx| ssh::evaluate_option(option, value, ctx),
                S(Shared::Sshd(option, value)),
            )
        },
        Check::Sysctl { key, value } => judged(
            |ctx| kernel::evaluate_sysctl(key, value, ctx),
            S(Shared::Sysctl(key, value)),
        ),
        Check::PackagePresent { name } => judged(
            |ctx| packages::evaluate_package(name, true, ctx),
            own(|_| Ok(vec![package(name, true)])),
        ),
        Check::PackageAbsent { name } => judged(
            |ctx| packages::evaluate_package(name, false, ctx),
            own(|_| Ok(vec![package(name, false)])),
        ),
        Check::Service {
            name,
            enabled,
            active,
        } => judged(
            |ctx| packages::evaluate_service(name, *enabled, *active, ctx),
            own(|_| {
                Ok(vec![Resource::Service {
                    name: name.clone(),
                    enabled: *enabled,
                    active: *active,
                    masked: false,
                }])
            }),
        ),
        Check::ServiceMasked { name } => judged(
            |ctx| packages::evaluate_masked(name, ctx),
            own(|_| {
                Ok(vec![Resource::Service {
                    name: name.clone(),
                    enabled: None,
                    active: None,
                    masked: true,
                }])
            }),
        ),
        Check::FileMode {
            path,
            mode,
            owner,
            group,
        } => Handling {
            stats: Some(path),
            ..judged(
                |ctx| files::evaluate_mode(path, mode, owner, group, ctx),
                own(|_| {
                    Ok(vec![Resource::Perms {
                        path: path.clone(),
                        mode: files::parse_mode(mode)?,
                        owner: owner.clone(),
                        group: group.clone(),
                    }])
                }),
            )
        },
        Check::ModuleBlacklisted { name } => judged(
            |ctx| kernel::evaluate_blacklist(name, ctx),
            S(Shared::Module(name)),
        ),
        Check::LoginDefs { key, value } => judged(
            |ctx| files::evaluate_login_defs(key, value, ctx),
            S(Shared::LoginDefs(key, value)),
        ),
        Check::Journald { key, value } => judged(
            |ctx| logging::evaluate_journald(key, value, ctx),
            S(Shared::Journald(key, value)),
        ),
        Check::FileContent {
            path,
            template,
            mode,
            owner,
            group,
        } => Handling {
            reads: Some(path),
            ..judged(
                |ctx| files::evaluate_content(path, template, mode, owner, group, ctx),
                own(|ctx| {
                    Ok(vec![files::content_resource(
                        path, template, mode, owner, group, ctx,
                    )?])
                }),
            )
        },
        Check::MountOptions { path, options } => judged(
            |ctx| mounts::evaluate(path, options, ctx),
            own(|ctx| Ok(mounts::resources(path, options, ctx))),
        ),
        Check::Custom { name } => custom_handling(name),
    }
}

fn package(name: &str, present: bool) -> Resource {
    Resource::Package {
        name: name.to_string(),
        present,
    }
}

fn custom_handling(name: &str) -> Handling<'_> {
    let Some(c) = custom::find(name) else {
        return judged(
            move |_| {
                Outcome::error(
                    format!("unknown custom check {name}"),
                    "",
                    Default::default(),
                )
            },
            Enforce::Nothing,
        );
    };
    let enforce = match c.resources {
        Some(resources) => own(resources),
        None => Enforce::Nothing,
    };
    let login_risk: Option<LoginRisk> = match c.lockout {
        Lockout::Login(risk) => Some(Box::new(risk)),
        _ => None,
    };
    Handling {
        login_risk,
        custom: Some(c),
        ..judged(c.evaluate, enforce)
    }
}

/// Judges one control against the host's facts.
pub fn evaluate(check: &Check, ctx: &HostCtx) -> Outcome {
    (handling(check).judge)(ctx)
}

/// The resources that enforce `controls` (waived ones already removed).
/// Settings that share a file (sshd options, sysctls, blacklisted modules,
/// journald keys, login.defs keys) are gathered into that one file.
pub fn enforce(controls: &[&HostControl], ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    let mut sshd = Vec::new();
    let mut sysctls = Vec::new();
    let mut modules = Vec::new();
    let mut journald = Vec::new();
    let mut login_defs = Vec::new();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    for hc in controls {
        match handling(&hc.control.check).enforce {
            Enforce::Own(resources) => out.extend(resources(ctx)?),
            Enforce::Shared(Shared::Sshd(k, v)) => sshd.push(pair(k, v)),
            Enforce::Shared(Shared::Sysctl(k, v)) => {
                if kernel::sysctl_applicable(k, ctx).is_ok() {
                    sysctls.push(pair(k, v));
                }
            }
            Enforce::Shared(Shared::Module(name)) => modules.push(name.to_string()),
            Enforce::Shared(Shared::LoginDefs(k, v)) => login_defs.push(pair(k, v)),
            Enforce::Shared(Shared::Journald(k, v)) => journald.push(pair(k, v)),
            Enforce::Nothing => {}
        }
    }
    if !sshd.is_empty() {
        out.push(ssh::sshd_config(&sshd));
    }
    if !sysctls.is_empty() {
        out.extend(kernel::sysctl_resources(&sysctls));
    }
    if !modules.is_empty() {
        out.push(kernel::blacklist_resource(&modules));
    }
    if !journald.is_empty() {
        out.extend(logging::journald_resources(&journald));
    }
    if !login_defs.is_empty() {
        out.extend(files::login_defs_resource(&login_defs, ctx));
    }
    dedupe(out)
}

/// Identical resources collapse; two different contents for one path are a
/// profile error, reported rather than applied in a random order.
fn dedupe(resources: Vec<Resource>) -> Result<Vec<Resource>, String> {
    let mut out: Vec<Resource> = Vec::new();
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for r in resources {
        if out.contains(&r) {
            continue;
        }
        if let (Some(path), Resource::File { .. }) = (r.path(), &r) {
            if let Some(&i) = by_path.get(path) {
                return Err(format!(
                    "two controls manage {path} with different content: {:?} vs {:?}",
                    out[i].path(),
                    r.path()
                ));
            }
            by_path.insert(path.to_string(), out.len());
        }
        out.push(r);
    }
    Ok(out)
}

/// Paths whose content or mode the run must read, for every check kind.
pub fn paths_to_read(
    controls: &[HostControl],
    inv: &crate::inventory::Inventory,
) -> (Vec<String>, Vec<String>) {
    let mut read: Vec<String> = inv
        .operators
        .iter()
        .map(|o| format!("/home/{}/.ssh/authorized_keys", o.name))
        .collect();
    read.extend(ALWAYS_READ.iter().map(|p| p.to_string()));
    let mut stat = vec![mesh::KEY_FILE.to_string()];
    for hc in controls {
        let h = handling(&hc.control.check);
        read.extend(h.reads.map(String::from));
        stat.extend(h.stats.map(String::from));
        if let Some(c) = h.custom {
            read.extend(c.files.read.iter().map(|p| p.to_string()));
            stat.extend(c.files.hash.iter().map(|p| p.to_string()));
        }
    }
    stat.extend(read.iter().cloned());
    read.sort();
    read.dedup();
    stat.sort();
    stat.dedup();
    (read, stat)
}

/// The files every run reads, whichever controls are in force: the ones
/// rampart manages, so plan can diff them.
const ALWAYS_READ: &[&str] = &[
    ssh::SSHD_CONFIG,
    kernel::SYSCTL_FILE,
    kernel::BLACKLIST_FILE,
    logging::JOURNALD_DROPIN,
    logging::JOURNALD_DROPIN_BEFORE,
    logging::AUDIT_RULES,
    files::LOGIN_DEFS,
    accounts::SUDOERS_OPERATORS,
    accounts::SUDOERS_LOGGING,
    system::AUTO_UPGRADES,
    system::CORE_LIMITS,
    system::COREDUMP_CONF,
    firewall::RULESET_FILE,
    firewall::NFTABLES_CONF,
    mesh::CONFIG_FILE,
];

/// The registry entries of the custom checks among `controls`.
fn custom_checks<'a>(
    controls: impl IntoIterator<Item = &'a HostControl>,
) -> Vec<&'static CustomCheck> {
    controls
        .into_iter()
        .filter_map(|hc| handling(&hc.control.check).custom)
        .collect()
}

/// Secret files whose content must not leave the host: the collector
/// hashes them there (`Facts::file_hashes`).
pub fn paths_to_hash(controls: &[HostControl]) -> Vec<String> {
    let mut out: Vec<String> = custom_checks(controls)
        .iter()
        .flat_map(|c| c.files.hash.iter().map(|p| p.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Live probes: what the control machine observes of a host over the
/// network, for the controls that judge the host as its clients see it.
/// Run by `verify` after the facts, each probe once; stored in
/// `Facts::observed` by probe name.
pub async fn observe(
    controls: &[HostControl],
    inv: &crate::inventory::Inventory,
    host: &Host,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for probe in custom_checks(controls).iter().filter_map(|c| c.probe) {
        if !out.contains_key(probe.name) {
            out.insert(probe.name.to_string(), (probe.observe)(inv, host).await);
        }
    }
    out
}

/// Why enforcing these controls would cut rampart's network path to the
/// host (a firewall that does not admit rampart's address, a mesh change
/// that drops the path rampart comes over), if it would: the first
/// reason, in the registry's order.
pub fn path_risk(controls: &[&HostControl], ctx: &HostCtx) -> Option<String> {
    let enforced = custom_checks(controls.iter().copied());
    custom::all()
        .filter(|c| enforced.iter().any(|e| e.name == c.name))
        .find_map(|c| match c.lockout {
            Lockout::Path(risk) => risk(ctx),
            _ => None,
        })
}

/// Why `check` would shut ssh.user out of the host, if it would.
pub fn login_risk(check: &Check, login: &Login) -> Option<String> {
    handling(check).login_risk.and_then(|risk| risk(login))
}
