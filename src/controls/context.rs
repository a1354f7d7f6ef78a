//! What a control is judged against: the host, the inventory, its facts,
//! and the variables in force for it.

use std::collections::BTreeMap;

use crate::facts::Facts;
use crate::inventory::{Host, Inventory};

pub type Vars = BTreeMap<String, serde_yaml::Value>;

/// Variables every profile can use, before profile defaults and host overrides.
pub fn builtin_vars(inv: &Inventory) -> Vars {
    let mut v = Vars::new();
    v.insert("operators_group".into(), "rampart-operators".into());
    let names: Vec<serde_yaml::Value> = inv
        .operators
        .iter()
        .map(|o| o.name.clone().into())
        .collect();
    v.insert("operators".into(), serde_yaml::Value::Sequence(names));
    v
}

pub struct HostCtx<'a> {
    pub host: &'a Host,
    pub inventory: &'a Inventory,
    pub facts: &'a Facts,
    pub vars: &'a Vars,
    /// Mesh public keys learned across the fleet during this run.
    pub mesh: &'a super::mesh::Directory,
}

/// Judges `f` on `facts` of a lone `base` host (tests of one check).
#[cfg(test)]
pub fn on_base_host<T>(facts: &Facts, f: impl FnOnce(&HostCtx) -> T) -> T {
    let inv = Inventory::parse(
        std::path::Path::new("inventory.yaml"),
        "hosts:\n  h: {address: 192.0.2.1, roles: [base]}\n",
    )
    .expect("inventory");
    f(&HostCtx {
        host: &inv.hosts[0],
        inventory: &inv,
        facts,
        vars: &Default::default(),
        mesh: &Default::default(),
    })
}

impl HostCtx<'_> {
    pub fn var_str(&self, name: &str) -> String {
        match self.vars.get(name) {
            Some(serde_yaml::Value::String(s)) => s.clone(),
            Some(serde_yaml::Value::Number(n)) => n.to_string(),
            Some(serde_yaml::Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    }

    pub fn operators_group(&self) -> String {
        let g = self.var_str("operators_group");
        if g.is_empty() {
            "rampart-operators".into()
        } else {
            g
        }
    }

    pub fn in_container(&self) -> bool {
        self.facts.virtualization.is_container()
    }

    pub fn container_name(&self) -> String {
        self.facts
            .virtualization
            .container
            .clone()
            .unwrap_or_default()
    }
}
