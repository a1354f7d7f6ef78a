//! Controls: what "hardened" means, as checks with stable IDs and
//! references. The catalog (`catalog.rs`) reads the profiles; each check
//! kind knows how to judge facts and which resources enforce it.

mod accounts;
pub mod backup;
pub mod catalog;
pub mod context;
pub mod custom;
pub mod dispatch;
pub mod doc;
mod files;
pub mod firewall;
mod homes;
mod integrity;
mod kernel;
mod logging;
pub mod luks;
pub mod mesh;
pub mod mesh_psk;
mod mounts;
pub mod outcome;
mod packages;
mod pam;
pub mod platform;
pub mod proxy;
pub mod residency;
pub mod result;
pub mod ssh;
mod system;

use include_dir::{include_dir, Dir};

pub use catalog::{Check, Control, Profile, References, Severity};
pub use context::{HostCtx, Vars};
pub use dispatch::HostControl;
pub use integrity::refresh_if_built as refresh_integrity_database;
pub use outcome::{Evidence, Outcome, Status};

/// Paths of the sudoers files rampart manages (provision reads them).
pub mod accounts_files {
    pub use super::accounts::{SUDOERS_LOGGING, SUDOERS_OPERATORS};
}

/// What provision establishes on first contact: the operators' group,
/// accounts and keys, and sudo for them with logging.
pub fn first_contact_resources(ctx: &HostCtx) -> Vec<crate::engine::resource::Resource> {
    let mut out = accounts::operator_account_resources(ctx);
    out.extend(accounts::sudo_operators_resources(ctx));
    out.extend(accounts::sudo_logging_resources());
    out
}

/// The profiles built into the binary (an inventory's `profiles_dir` overrides them).
static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/profiles");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("profile `{0}` not found")]
    Missing(String),
}

/// Parses one profile file, checking what serde cannot.
pub fn parse_profile(file: &str, text: &str) -> Result<Profile, CatalogError> {
    let invalid = |message: String| CatalogError::Invalid {
        file: file.to_string(),
        message,
    };
    let profile: Profile = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let stem = file.trim_end_matches(".yaml");
    if profile.profile != stem.rsplit('/').next().unwrap_or(stem) {
        return Err(invalid(format!(
            "`profile: {}` does not match the file name",
            profile.profile
        )));
    }
    for c in &profile.controls {
        let valid_id = c.id.split_once('-').is_some_and(|(area, n)| {
            (2..=4).contains(&area.len())
                && area.chars().all(|ch| ch.is_ascii_uppercase())
                && n.len() == 2
                && n.chars().all(|ch| ch.is_ascii_digit())
        });
        if !valid_id {
            return Err(invalid(format!(
                "control id {:?}: expected AREA-NN such as SSH-04",
                c.id
            )));
        }
        if let Check::Custom { name } = &c.check {
            if custom::find(name).is_none() {
                return Err(invalid(format!(
                    "{}: unknown custom check {name:?}; expected one of {:?}",
                    c.id,
                    custom::names()
                )));
            }
        }
    }
    check_release_values(&profile).map_err(invalid)?;
    Ok(profile)
}

/// `releases:` keys must name a supported release, and may only override
/// variables the profile declares (a misspelt one would never apply).
fn check_release_values(profile: &Profile) -> Result<(), String> {
    for (release, values) in &profile.releases {
        if !platform::SUPPORTED.iter().any(|r| r.version == release) {
            return Err(format!(
                "releases: {release:?} is not a supported release; expected one of {}",
                platform::supported_keys()
            ));
        }
        if let Some(var) = values.vars.keys().find(|v| !profile.vars.contains_key(*v)) {
            return Err(format!(
                "releases: {release:?}: variable {var:?} is not declared in the profile's \
                 vars: (declare its default there, then override it per release)"
            ));
        }
    }
    Ok(())
}

/// The built-in profile files: (file name, text).
pub fn builtin_sources() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = BUILTIN
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "yaml"))
        .filter_map(|f| {
            Some((
                f.path().to_string_lossy().to_string(),
                f.contents_utf8()?.to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// Profile files from an inventory's `profiles_dir`.
pub fn dir_sources(dir: &std::path::Path) -> Result<Vec<(String, String)>, CatalogError> {
    let invalid = |message: String| CatalogError::Invalid {
        file: dir.display().to_string(),
        message,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| invalid(e.to_string()))? {
        let path = entry.map_err(|e| invalid(e.to_string()))?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            out.push((path.display().to_string(), text));
        }
    }
    out.sort();
    Ok(out)
}

/// All built-in profiles, sorted by name.
pub fn builtin_profiles() -> Result<Vec<Profile>, CatalogError> {
    let mut out = builtin_sources()
        .iter()
        .map(|(n, t)| parse_profile(n, t))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.profile.cmp(&b.profile));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn builtin_profiles_parse_and_ids_are_unique() {
        let profiles = builtin_profiles().expect("built-in profiles are valid");
        let mut ids = BTreeSet::new();
        for p in &profiles {
            for c in &p.controls {
                assert!(ids.insert(c.id.clone()), "duplicate control id {}", c.id);
            }
        }
    }

    /// A deviation names a control of its own profile and has a unique ID,
    /// so the list an auditor reviews cannot point at nothing.
    #[test]
    fn deviations_name_their_profile_s_controls_and_ids_are_unique() {
        let profiles = builtin_profiles().expect("built-in profiles are valid");
        let mut ids = BTreeSet::new();
        for p in &profiles {
            for d in &p.deviations {
                assert!(ids.insert(d.id.clone()), "duplicate deviation id {}", d.id);
                assert!(d.id.starts_with("DEV-"), "{}", d.id);
                if let Some(c) = &d.control {
                    assert!(
                        p.controls.iter().any(|x| &x.id == c),
                        "{} names {c}, not a control of profile {}",
                        d.id,
                        p.profile
                    );
                }
            }
        }
        assert!(ids.len() >= 6, "{ids:?}");
    }

    fn bare_host() -> crate::inventory::Host {
        crate::inventory::Host {
            name: "h".into(),
            address: "192.0.2.1".into(),
            port: 22,
            provider: Default::default(),
            location: None,
            roles: vec![],
            profiles: vec![],
            mesh_address: None,
            disks: vec![],
            vars: Default::default(),
            create: None,
            databases: vec![],
        }
    }

    const MINIMAL: &str = "profile: t\ntitle: T\nvars:\n  kex: a\ncontrols: []\n";

    #[test]
    fn release_values_override_the_profile_default_on_that_release_only() {
        let text = format!("{MINIMAL}releases:\n  \"13\":\n    vars:\n      kex: b\n");
        let profile = parse_profile("t.yaml", &text).expect("valid");
        let host = bare_host();
        let on = |release: &str| {
            dispatch::host_vars(&Vars::new(), &[&profile], release, &host)["kex"].clone()
        };
        assert_eq!(on("12"), serde_yaml::Value::from("a"));
        assert_eq!(on("13"), serde_yaml::Value::from("b"));
    }

    #[test]
    fn release_values_name_a_supported_release_and_a_declared_variable() {
        let unknown = format!("{MINIMAL}releases:\n  \"11\":\n    vars:\n      kex: b\n");
        let e = parse_profile("t.yaml", &unknown).unwrap_err().to_string();
        assert!(
            e.contains(
                "releases: \"11\" is not a supported release; expected one of \"12\", \"13\""
            ),
            "{e}"
        );
        let undeclared = format!("{MINIMAL}releases:\n  \"13\":\n    vars:\n      kx: b\n");
        let e = parse_profile("t.yaml", &undeclared)
            .unwrap_err()
            .to_string();
        assert!(e.contains("variable \"kx\" is not declared"), "{e}");
    }

    #[test]
    fn debian_13_offers_ml_kem_first_and_debian_12_does_not() {
        let profiles = builtin_profiles().expect("profiles");
        let ssh: Vec<&Profile> = profiles.iter().filter(|p| p.profile == "ssh").collect();
        let host = bare_host();
        let kex = |release: &str| {
            dispatch::host_vars(&Vars::new(), &ssh, release, &host)["ssh_kex_algorithms"]
                .as_str()
                .map(String::from)
                .unwrap_or_default()
        };
        assert!(kex("13").starts_with("mlkem768x25519-sha256,"));
        assert!(!kex("12").contains("mlkem"), "OpenSSH 9.2 has no ML-KEM");
    }
}
