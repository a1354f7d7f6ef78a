//! The custom checks (`check: { custom: { name: … } }`): what cannot be
//! written as data (accounts, authorized keys, sudo, audit rules, the
//! firewall, the mesh, LUKS, the edge proxies). Each area declares its
//! checks in one `CHECKS` table beside the code that judges and enforces
//! them; this module joins those tables into the one registry that every
//! stage reads: the profile parser (is the name known?), verify (judge,
//! live probes), plan and harden (resources, lockout refusals) and the
//! collector (which files to read or hash).
//!
//! Adding a custom check is one entry in its area's `CHECKS`, its function
//! there, and the control in a profile.

use futures::future::LocalBoxFuture;

use super::context::HostCtx;
use super::outcome::Outcome;
use super::{
    accounts, backup, firewall, homes, integrity, logging, luks, mesh, pam, proxy, residency,
    system,
};
use crate::engine::resource::Resource;
use crate::inventory::{Host, Inventory, Operator};

/// The resources that enforce a check, or why they cannot be rendered.
pub type Enforcer = fn(&HostCtx) -> Result<Vec<Resource>, String>;

/// One custom check, and what each stage needs of it.
pub struct CustomCheck {
    /// The name a profile writes: `custom: { name: … }`.
    pub name: &'static str,
    /// The judgement against the host's facts.
    pub evaluate: fn(&HostCtx) -> Outcome,
    /// What harden manages for it; `None`: judged only.
    pub resources: Option<Enforcer>,
    /// Host files it judges beyond those every run reads.
    pub files: Files,
    /// The control machine's look at the host it is judged from, if any.
    pub probe: Option<&'static LiveProbe>,
    /// How enforcing it could lock rampart out, if it could.
    pub lockout: Lockout,
}

impl CustomCheck {
    /// A check that is judged only.
    pub const fn judged(name: &'static str, evaluate: fn(&HostCtx) -> Outcome) -> CustomCheck {
        CustomCheck {
            name,
            evaluate,
            resources: None,
            files: Files::NONE,
            probe: None,
            lockout: Lockout::None,
        }
    }

    /// A check that harden enforces with `resources`.
    pub const fn enforced(
        name: &'static str,
        evaluate: fn(&HostCtx) -> Outcome,
        resources: Enforcer,
    ) -> CustomCheck {
        CustomCheck {
            resources: Some(resources),
            ..CustomCheck::judged(name, evaluate)
        }
    }
}

/// Files one check judges: public ones read, secret ones hashed on the host.
#[derive(Clone, Copy)]
pub struct Files {
    pub read: &'static [&'static str],
    pub hash: &'static [&'static str],
}

impl Files {
    pub const NONE: Files = Files {
        read: &[],
        hash: &[],
    };
}

/// A probe `verify` runs from the control machine, stored under `name` in
/// `Facts::observed` (once per host, however many checks read it).
pub struct LiveProbe {
    pub name: &'static str,
    pub observe: for<'a> fn(&'a Inventory, &'a Host) -> LocalBoxFuture<'a, serde_json::Value>,
}

/// How a check, once enforced, could cut rampart off the host.
#[derive(Clone, Copy)]
pub enum Lockout {
    /// It cannot.
    None,
    /// It changes the network path rampart comes over (firewall, mesh):
    /// why the planned change would cut it, judged from the host's facts.
    Path(fn(&HostCtx) -> Option<String>),
    /// It changes who may log in: why ssh.user would be shut out, judged
    /// from the inventory before anything is applied.
    Login(fn(&Login) -> Option<String>),
}

/// What a login lockout is judged on: rampart's own account and keys.
pub struct Login<'a> {
    /// `ssh.user`, the account rampart connects as.
    pub user: &'a str,
    /// The inventory's operator of that name, if it is one.
    pub operator: Option<&'a Operator>,
    /// All operators' names, for the fix a refusal suggests.
    pub operator_names: String,
    /// The group whose members may log in (`operators_group`).
    pub operators_group: &'a str,
    /// The public keys rampart authenticates with (type and base64), when known.
    pub client_keys: &'a [String],
}

/// Every area's table, in the order profiles and messages list them.
const AREAS: &[&[CustomCheck]] = &[
    accounts::CHECKS,
    pam::CHECKS,
    homes::CHECKS,
    logging::CHECKS,
    integrity::CHECKS,
    system::CHECKS,
    firewall::CHECKS,
    mesh::CHECKS,
    luks::CHECKS,
    proxy::CHECKS,
    backup::CHECKS,
    residency::CHECKS,
];

/// All custom checks.
pub fn all() -> impl Iterator<Item = &'static CustomCheck> {
    AREAS.iter().flat_map(|area| area.iter())
}

/// The check a profile names, if there is one.
pub fn find(name: &str) -> Option<&'static CustomCheck> {
    all().find(|c| c.name == name)
}

/// The names, for the message that refuses an unknown one.
pub fn names() -> Vec<&'static str> {
    all().map(|c| c.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique() {
        let mut seen = BTreeSet::new();
        for c in all() {
            assert!(
                seen.insert(c.name),
                "custom check {} is declared twice",
                c.name
            );
        }
    }

    #[test]
    fn every_custom_check_is_used_by_a_builtin_profile() {
        let profiles = super::super::builtin_profiles().expect("profiles");
        let used: BTreeSet<&str> = profiles
            .iter()
            .flat_map(|p| &p.controls)
            .filter_map(|c| match &c.check {
                super::super::Check::Custom { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        for c in all() {
            assert!(
                used.contains(c.name),
                "no profile uses custom check {}",
                c.name
            );
        }
    }
}
