//! Packages and systemd units.

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};

pub fn evaluate_package(name: &str, present: bool, ctx: &HostCtx) -> Outcome {
    let version = ctx.facts.packages.get(name);
    let observed = version
        .map(|v| format!("{name} {v} installed"))
        .unwrap_or_else(|| format!("{name} not installed"));
    let expected = if present {
        format!("{name} installed")
    } else {
        format!("{name} not installed")
    };
    Outcome::judge(
        version.is_some() == present,
        observed.clone(),
        expected,
        evidence(&format!("dpkg-query -W {name}"), observed),
    )
}

pub fn evaluate_service(
    name: &str,
    enabled: Option<bool>,
    active: Option<bool>,
    ctx: &HostCtx,
) -> Outcome {
    let want = |b: Option<bool>, yes: &str, no: &str| {
        b.map(|b| if b { yes.to_string() } else { no.to_string() })
    };
    let expected = [
        want(enabled, "enabled", "disabled"),
        want(active, "active", "inactive"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let Some(unit) = ctx.facts.services.get(name) else {
        let ok = enabled != Some(true) && active != Some(true);
        return Outcome::judge(
            ok,
            format!("{name} not installed"),
            expected,
            evidence(&format!("systemctl status {name}"), "unit not found"),
        );
    };
    let is_enabled = unit.enabled.as_deref() == Some("enabled");
    let is_active = unit.active.as_deref() == Some("active");
    let ok = enabled.is_none_or(|e| e == is_enabled) && active.is_none_or(|a| a == is_active);
    let observed = format!(
        "{}, {}",
        unit.enabled.as_deref().unwrap_or("no unit file"),
        unit.active.as_deref().unwrap_or("not loaded")
    );
    Outcome::judge(
        ok,
        observed.clone(),
        expected,
        evidence(
            &format!("systemctl is-enabled {name}; systemctl is-active {name}"),
            observed,
        ),
    )
}

pub fn evaluate_masked(name: &str, ctx: &HostCtx) -> Outcome {
    let expected = format!("{name} masked or not installed");
    match ctx.facts.services.get(name) {
        None => Outcome::judge(
            true,
            format!("{name} not installed"),
            expected,
            evidence(&format!("systemctl status {name}"), "unit not found"),
        ),
        Some(u) => {
            let state = u.enabled.clone().unwrap_or_else(|| "unknown".into());
            Outcome::judge(
                state == "masked",
                state.clone(),
                expected,
                evidence(&format!("systemctl is-enabled {name}"), state),
            )
        }
    }
}
