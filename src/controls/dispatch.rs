//! From a host's profiles to (a) the outcome of every control and (b) the
//! resources that enforce them. Each check kind delegates to its area.

use std::collections::BTreeMap;

use super::catalog::{Check, Control, Profile};
use super::context::{HostCtx, Vars};
use super::outcome::Outcome;
use super::{accounts, files, firewall, kernel, logging, luks, mesh, packages, proxy, ssh, system};
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

fn render_check(check: &Check, vars: &Vars) -> Result<Check, String> {
    let text = serde_yaml::to_string(check).map_err(|e| e.to_string())?;
    if !text.contains("{{") {
        return Ok(check.clone());
    }
    let mut ctx = tera::Context::new();
    for (k, v) in vars {
        ctx.insert(k, v);
    }
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let rendered = render_value(value, &ctx)?;
    serde_yaml::from_value(rendered).map_err(|e| e.to_string())
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

/// Judges one control against the host's facts.
pub fn evaluate(check: &Check, ctx: &HostCtx) -> Outcome {
    match check {
        Check::Sshd { option, value } => ssh::evaluate_option(option, value, ctx),
        Check::Sysctl { key, value } => kernel::evaluate_sysctl(key, value, ctx),
        Check::PackagePresent { name } => packages::evaluate_package(name, true, ctx),
        Check::PackageAbsent { name } => packages::evaluate_package(name, false, ctx),
        Check::Service {
            name,
            enabled,
            active,
        } => packages::evaluate_service(name, *enabled, *active, ctx),
        Check::ServiceMasked { name } => packages::evaluate_masked(name, ctx),
        Check::FileMode {
            path,
            mode,
            owner,
            group,
        } => files::evaluate_mode(path, mode, owner, group, ctx),
        Check::ModuleBlacklisted { name } => kernel::evaluate_blacklist(name, ctx),
        Check::LoginDefs { key, value } => files::evaluate_login_defs(key, value, ctx),
        Check::Journald { key, value } => logging::evaluate_journald(key, value, ctx),
        Check::FileContent {
            path,
            template,
            mode,
            owner,
            group,
        } => files::evaluate_content(path, template, mode, owner, group, ctx),
        Check::MountOptions { path, options } => files::evaluate_mount(path, options, ctx),
        Check::Custom { name } => evaluate_custom(name, ctx),
    }
}

fn evaluate_custom(name: &str, ctx: &HostCtx) -> Outcome {
    // The edge proxies' checks (controls/proxy/).
    if let Some(outcome) = proxy::evaluate(name, ctx) {
        return outcome;
    }
    match name {
        "operator_accounts" => accounts::evaluate_operator_accounts(ctx),
        "only_operator_logins" => accounts::evaluate_only_operator_logins(ctx),
        "only_operator_keys" => accounts::evaluate_only_operator_keys(ctx),
        "no_empty_passwords" => accounts::evaluate_no_empty_passwords(ctx),
        "sudo_operators" => accounts::evaluate_sudo_operators(ctx),
        "sudo_logging" => accounts::evaluate_sudo_logging(ctx),
        "auditd_rules" => logging::evaluate_auditd(ctx),
        "time_sync" => logging::evaluate_time_sync(ctx),
        "unattended_upgrades" => system::evaluate_unattended_upgrades(ctx),
        "core_dumps_disabled" => system::evaluate_core_dumps(ctx),
        "firewall_ruleset" => firewall::evaluate_ruleset(ctx),
        "firewall_persistent" => firewall::evaluate_persistent(ctx),
        "firewall_default_drop" => firewall::evaluate_default_drop(ctx),
        "mesh_private_key" => mesh::evaluate_private_key(ctx),
        "mesh_interface" => mesh::evaluate_interface(ctx),
        "mesh_peers" => mesh::evaluate_peers(ctx),
        "mesh_handshakes" => mesh::evaluate_handshakes(ctx),
        "mesh_service" => mesh::evaluate_service(ctx),
        "mesh_preshared_keys" => mesh::evaluate_preshared_keys(ctx),
        "luks_encrypted" => luks::evaluate_encrypted(ctx),
        "luks_cipher" => luks::evaluate_cipher(ctx),
        "luks_pbkdf" => luks::evaluate_pbkdf(ctx),
        "luks_keyslots" => luks::evaluate_keyslots(ctx),
        "luks_escrow" => luks::evaluate_escrow(ctx),
        "luks_escrow_opens" => luks::evaluate_escrow_opens(ctx),
        "luks_boot_unlock" => luks::evaluate_boot_unlock(ctx),
        "luks_mounted" => luks::evaluate_mounted(ctx),
        other => Outcome::error(
            format!("unknown custom check {other}"),
            "",
            Default::default(),
        ),
    }
}

fn custom_resources(name: &str, ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    Ok(match name {
        "firewall_ruleset" => firewall::resources(ctx)?,
        "mesh_peers" => mesh::resources(ctx)?,
        "proxy_config" => proxy::resources(ctx)?,
        "operator_accounts" => accounts::operator_account_resources(ctx),
        "only_operator_logins" => accounts::only_operator_logins_resources(ctx),
        "only_operator_keys" => accounts::only_operator_keys_resources(ctx),
        "no_empty_passwords" => accounts::no_empty_passwords_resources(ctx),
        "sudo_operators" => accounts::sudo_operators_resources(ctx),
        "sudo_logging" => accounts::sudo_logging_resources(),
        "auditd_rules" => logging::auditd_resources(ctx),
        "time_sync" => logging::time_sync_resources(ctx),
        "unattended_upgrades" => system::unattended_upgrades_resources(),
        "core_dumps_disabled" => system::core_dumps_resources(),
        "luks_encrypted" => luks::resources(ctx)?,
        _ => Vec::new(),
    })
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
    for hc in controls {
        match &hc.control.check {
            Check::Sshd { option, value } => sshd.push((option.clone(), value.clone())),
            Check::Sysctl { key, value } => {
                if kernel::sysctl_applicable(key, ctx).is_ok() {
                    sysctls.push((key.clone(), value.clone()));
                }
            }
            Check::PackagePresent { name } => out.push(Resource::Package {
                name: name.clone(),
                present: true,
            }),
            Check::PackageAbsent { name } => out.push(Resource::Package {
                name: name.clone(),
                present: false,
            }),
            Check::Service {
                name,
                enabled,
                active,
            } => out.push(Resource::Service {
                name: name.clone(),
                enabled: *enabled,
                active: *active,
                masked: false,
            }),
            Check::ServiceMasked { name } => out.push(Resource::Service {
                name: name.clone(),
                enabled: None,
                active: None,
                masked: true,
            }),
            Check::FileMode {
                path,
                mode,
                owner,
                group,
            } => out.push(Resource::Perms {
                path: path.clone(),
                mode: files::parse_mode(mode)?,
                owner: owner.clone(),
                group: group.clone(),
            }),
            Check::ModuleBlacklisted { name } => modules.push(name.clone()),
            Check::LoginDefs { key, value } => login_defs.push((key.clone(), value.clone())),
            Check::Journald { key, value } => journald.push((key.clone(), value.clone())),
            Check::FileContent {
                path,
                template,
                mode,
                owner,
                group,
            } => out.push(files::content_resource(
                path, template, mode, owner, group, ctx,
            )?),
            Check::MountOptions { .. } => {} // judged only: mounts come from the disk layout
            Check::Custom { name } => out.extend(custom_resources(name, ctx)?),
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
    read.extend([
        ssh::SSHD_CONFIG.to_string(),
        kernel::SYSCTL_FILE.to_string(),
        kernel::BLACKLIST_FILE.to_string(),
        logging::JOURNALD_DROPIN.to_string(),
        logging::JOURNALD_DROPIN_BEFORE.to_string(),
        logging::AUDIT_RULES.to_string(),
        files::LOGIN_DEFS.to_string(),
        accounts::SUDOERS_OPERATORS.to_string(),
        accounts::SUDOERS_LOGGING.to_string(),
        system::AUTO_UPGRADES.to_string(),
        system::CORE_LIMITS.to_string(),
        system::COREDUMP_CONF.to_string(),
        firewall::RULESET_FILE.to_string(),
        firewall::NFTABLES_CONF.to_string(),
        mesh::CONFIG_FILE.to_string(),
    ]);
    let mut stat = vec![mesh::KEY_FILE.to_string()];
    for hc in controls {
        match &hc.control.check {
            Check::FileMode { path, .. } => stat.push(path.clone()),
            Check::FileContent { path, .. } => read.push(path.clone()),
            _ => {}
        }
    }
    let (proxy_read, proxy_hash) = proxy::paths(&custom_names(controls));
    read.extend(proxy_read);
    stat.extend(proxy_hash);
    stat.extend(read.iter().cloned());
    read.sort();
    read.dedup();
    stat.sort();
    stat.dedup();
    (read, stat)
}

fn custom_names(controls: &[HostControl]) -> Vec<&str> {
    controls
        .iter()
        .filter_map(|hc| match &hc.control.check {
            Check::Custom { name } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Secret files whose content must not leave the host: the collector
/// hashes them there (`Facts::file_hashes`).
pub fn paths_to_hash(controls: &[HostControl]) -> Vec<String> {
    proxy::paths(&custom_names(controls)).1
}

/// Live probes: what the control machine observes of a host over the
/// network, for the controls that judge the host as its clients see it.
/// Run by `verify` after the facts; stored in `Facts::observed`.
pub async fn observe(
    controls: &[HostControl],
    inv: &crate::inventory::Inventory,
    host: &Host,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    if proxy::needs_probe(&custom_names(controls)) {
        out.insert(
            proxy::OBSERVATION.to_string(),
            proxy::observe(inv, host).await,
        );
    }
    out
}
