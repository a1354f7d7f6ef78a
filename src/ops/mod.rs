//! Pipelines the commands run, below the CLI: `cli/` parses arguments,
//! calls into here and prints; what a command does to hosts lives here so
//! it can be read (and tested) without the argument parsing around it.

pub mod converge;
pub mod mesh_rotate;
pub mod verify;

use crate::engine::host::{Catalog, HostSetup};
use crate::inventory::{Host, Inventory};

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
