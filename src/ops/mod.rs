//! The per-host stages above `controls` and the pipelines the commands
//! run. Stages: which controls a host is in force for, judging and planning
//! (`host`), apply with lockout protection (`converge`, `safety`), waiting
//! for a fresh server (`boot`) and what hosts of one run learn from each
//! other (`fleet`). Pipelines, below the CLI (`cli/` parses arguments, calls
//! into here and prints): harden's preflight and refusals (`harden`),
//! `verify`, mesh key rotation (`mesh_rotate`), and `access`'s policy
//! from the inventory (`access`).

pub mod access;
pub mod boot;
pub mod converge;
pub mod fleet;
pub mod harden;
pub mod host;
pub mod mesh_rotate;
pub mod safety;
pub mod verify;

use crate::inventory::{Host, Inventory};
use host::{Catalog, HostSetup};

/// The inventory, the catalog, and every selected host's setup: all
/// decided before any connection, so input errors exit 2 with nothing done.
pub struct Prepared {
    pub inventory: Inventory,
    pub catalog: Catalog,
    pub setups: Vec<HostSetup>,
}

impl Prepared {
    pub fn setup(&self, name: &str) -> Option<&HostSetup> {
        self.setups.iter().find(|s| s.host.name == name)
    }

    pub fn hosts(&self) -> Vec<&Host> {
        self.setups.iter().map(|s| &s.host).collect()
    }
}
