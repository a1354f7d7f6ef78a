//! Kernel parameters (sysctl) and module blacklisting.
//!
//! Only `net.*` parameters are namespaced per network namespace; every other
//! parameter belongs to the kernel a container shares with its host, so in a
//! container those controls are not applicable (never passed, never failed).

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource};

pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-rampart.conf";
pub const BLACKLIST_FILE: &str = "/etc/modprobe.d/rampart-blacklist.conf";

pub fn sysctl_applicable(key: &str, ctx: &HostCtx) -> Result<(), String> {
    // bpf_jit_harden lives under net.core but is global to the kernel.
    let global = !key.starts_with("net.") || key.starts_with("net.core.bpf_");
    if ctx.in_container() && global {
        return Err(format!("not applicable: container ({}): {key} is a kernel-global parameter set by the host's kernel", ctx.container_name()));
    }
    if ctx.in_container() && !ctx.facts.sysctl_writable.net {
        return Err(format!(
            "not applicable: container ({}): /proc/sys/net is read-only in this container",
            ctx.container_name()
        ));
    }
    if !ctx.facts.sysctls.contains_key(key) {
        return Err(format!(
            "not applicable: {key} does not exist on this kernel"
        ));
    }
    Ok(())
}

fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn evaluate_sysctl(key: &str, value: &str, ctx: &HostCtx) -> Outcome {
    let expected = format!("{key} = {value}");
    if let Err(reason) = sysctl_applicable(key, ctx) {
        return Outcome::not_applicable(reason, expected);
    }
    let cur = ctx.facts.sysctls.get(key).cloned().unwrap_or_default();
    let shown = format!("{key} = {cur}");
    Outcome::judge(
        normalize(&cur) == normalize(value),
        shown.clone(),
        expected,
        evidence("sysctl -a", shown),
    )
}

/// modprobe reports module names with `_` where users often write `-`.
fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

pub fn evaluate_blacklist(name: &str, ctx: &HostCtx) -> Outcome {
    let m = module_name(name);
    if !ctx.facts.has_package("kmod") {
        // Nothing reads /etc/modprobe.d without modprobe: not a pass even
        // if rampart's file is there.
        return Outcome::judge(
            false,
            "modprobe not installed (package kmod): the blacklist is not read",
            format!("install {m} /bin/false ; blacklist {m}"),
            evidence("dpkg-query: kmod", "not installed"),
        );
    }
    let install = ctx
        .facts
        .modprobe
        .iter()
        .find(|l| l.starts_with(&format!("install {m} ")));
    let blacklisted = ctx
        .facts
        .modprobe
        .iter()
        .any(|l| *l == format!("blacklist {m}"));
    let disabled = install.is_some_and(|l| l.ends_with("/bin/false") || l.ends_with("/bin/true"));
    let observed = match (disabled, blacklisted) {
        (true, true) => format!(
            "{} ; blacklist {m}",
            install.map(String::as_str).unwrap_or_default()
        ),
        (true, false) => "install disabled, not blacklisted".to_string(),
        (false, true) => "blacklisted, but loadable on demand".to_string(),
        (false, false) => "loadable".to_string(),
    };
    Outcome::judge(
        disabled && blacklisted,
        observed.clone(),
        format!("install {m} /bin/false ; blacklist {m}"),
        evidence("modprobe --showconfig", observed),
    )
}

pub fn sysctl_resources(settings: &[(String, String)]) -> Vec<Resource> {
    let mut content = String::from("# Managed by rampart.\n");
    for (k, v) in settings {
        content.push_str(&format!("{k} = {v}\n"));
    }
    let mut out = vec![Resource::root_file(
        SYSCTL_FILE,
        content,
        0o644,
        vec![Handler::ApplySysctl],
    )];
    out.extend(settings.iter().map(|(k, v)| Resource::Sysctl {
        key: k.clone(),
        value: v.clone(),
    }));
    out
}

pub fn blacklist_resource(modules: &[String]) -> Resource {
    let mut content = String::from("# Managed by rampart: modules that must not load.\n");
    for m in modules {
        let m = module_name(m);
        content.push_str(&format!("install {m} /bin/false\nblacklist {m}\n"));
    }
    Resource::root_file(BLACKLIST_FILE, content, 0o644, vec![])
}
