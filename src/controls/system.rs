//! Automatic security updates and core dumps.

use super::context::HostCtx;
use super::custom::CustomCheck;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource};

pub const AUTO_UPGRADES: &str = "/etc/apt/apt.conf.d/20auto-upgrades";
pub const CORE_LIMITS: &str = "/etc/security/limits.d/90-rampart-coredump.conf";
pub const COREDUMP_CONF: &str = "/etc/systemd/coredump.conf.d/90-rampart.conf";

const AUTO_UPGRADES_CONTENT: &str = "// Managed by rampart: security updates are applied automatically.\nAPT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";
const CORE_LIMITS_CONTENT: &str =
    "# Managed by rampart: no core dumps (they can hold secrets).\n* hard core 0\n* soft core 0\n";
const COREDUMP_CONTENT: &str =
    "# Managed by rampart.\n[Coredump]\nStorage=none\nProcessSizeMax=0\n";

fn file(path: &str, content: &str, handlers: Vec<Handler>) -> Resource {
    Resource::root_file(path, content.to_string(), 0o644, handlers)
}

pub fn evaluate_unattended_upgrades(ctx: &HostCtx) -> Outcome {
    let pkg = ctx.facts.has_package("unattended-upgrades");
    let periodic = ctx.facts.file(AUTO_UPGRADES).is_some_and(|t| {
        t.contains("APT::Periodic::Update-Package-Lists \"1\"")
            && t.contains("APT::Periodic::Unattended-Upgrade \"1\"")
    });
    let observed = format!(
        "unattended-upgrades {}; periodic upgrades {}",
        if pkg { "installed" } else { "not installed" },
        if periodic { "enabled" } else { "not enabled" }
    );
    Outcome::judge(
        pkg && periodic,
        observed.clone(),
        "unattended-upgrades installed and enabled daily",
        evidence(
            &format!("dpkg-query -W unattended-upgrades; cat {AUTO_UPGRADES}"),
            observed,
        ),
    )
}

pub fn unattended_upgrades_resources() -> Vec<Resource> {
    vec![
        Resource::Package {
            name: "unattended-upgrades".into(),
            present: true,
        },
        file(AUTO_UPGRADES, AUTO_UPGRADES_CONTENT, vec![]),
    ]
}

pub fn evaluate_core_dumps(ctx: &HostCtx) -> Outcome {
    let limits = ctx.facts.file(CORE_LIMITS) == Some(CORE_LIMITS_CONTENT);
    let coredump = ctx.facts.file(COREDUMP_CONF) == Some(COREDUMP_CONTENT);
    let observed = format!(
        "core limit 0: {}; systemd-coredump storage none: {}",
        if limits { "yes" } else { "no" },
        if coredump { "yes" } else { "no" }
    );
    Outcome::judge(
        limits && coredump,
        observed.clone(),
        "hard core limit 0 and systemd-coredump Storage=none",
        evidence(&format!("cat {CORE_LIMITS} {COREDUMP_CONF}"), observed),
    )
}

pub fn core_dumps_resources() -> Vec<Resource> {
    vec![
        file(CORE_LIMITS, CORE_LIMITS_CONTENT, vec![]),
        file(COREDUMP_CONF, COREDUMP_CONTENT, vec![Handler::DaemonReload]),
    ]
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::enforced("unattended_upgrades", evaluate_unattended_upgrades, |_| {
        Ok(unattended_upgrades_resources())
    }),
    CustomCheck::enforced("core_dumps_disabled", evaluate_core_dumps, |_| {
        Ok(core_dumps_resources())
    }),
];
