//! The profile variables the luks checks and resources read (filesystem,
//! mount points, PBKDF cost), with their defaults.

use super::{Volume, PBKDF};
use crate::controls::context::HostCtx;

/// The filesystem the profile creates on opened volumes.
pub(super) fn filesystem(ctx: &HostCtx) -> String {
    match ctx.var_str("luks_filesystem") {
        s if s.is_empty() => "ext4".into(),
        s => s,
    }
}

/// `luks_mountpoint` for a single disk; with several, each gets
/// `<mountpoint>-<device>`. `luks_mounts: {/dev/vdb: /srv/pg}` overrides.
pub(super) fn mountpoint(ctx: &HostCtx, v: &Volume) -> String {
    if let Some(serde_yaml::Value::Mapping(m)) = ctx.vars.get("luks_mounts") {
        if let Some(t) = m
            .get(serde_yaml::Value::String(v.device.clone()))
            .and_then(|t| t.as_str())
        {
            return t.to_string();
        }
    }
    let base = match ctx.var_str("luks_mountpoint") {
        s if s.is_empty() => "/srv/data".to_string(),
        s => s,
    };
    if ctx.host.disks.len() > 1 {
        format!("{base}-{}", v.short)
    } else {
        base
    }
}

/// argon2id cost settings (`luks_pbkdf_memory_kib`,
/// `luks_pbkdf_iterations`); an empty value lets cryptsetup decide.
pub(super) fn pbkdf_flags(ctx: &HostCtx) -> String {
    let mut f = format!("--pbkdf {PBKDF}");
    if let Ok(memory) = ctx.var_str("luks_pbkdf_memory_kib").parse::<u32>() {
        f.push_str(&format!(" --pbkdf-memory {memory}"));
    }
    if let Ok(iterations) = ctx.var_str("luks_pbkdf_iterations").parse::<u32>() {
        f.push_str(&format!(" --pbkdf-force-iterations {iterations}"));
    }
    f
}
