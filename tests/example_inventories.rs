//! The example inventories shipped in `inventories/` (a Hetzner Cloud +
//! Robot fleet, an OVHcloud fleet, a mixed fleet with every role under a
//! FR/DE residency policy) pass `rampart inventory check`. The lab's
//! generated inventory (`inventories/lab.yaml`, git-ignored) is not one.

mod common;

use std::path::Path;

use common::{rampart, text};

const EXAMPLES: &[&str] = &["hetzner-fleet.yaml", "ovh-fleet.yaml", "mixed-fleet.yaml"];

#[test]
fn every_example_inventory_passes_inventory_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("inventories/")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml") && n != "lab.yaml")
        .collect();
    found.sort();
    let mut expected: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected, "every example is listed here and checked");
    for name in EXAMPLES {
        let out = rampart()
            .current_dir(&dir)
            .env_remove("RAMPART_INVENTORY")
            .args(["-i", name, "inventory", "check"])
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("hosts inside"),
            "{name}: residency judged"
        );
    }
}

#[test]
fn the_mixed_fleet_has_every_built_in_role() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/mixed-fleet.yaml");
    let inv = rampart::inventory::Inventory::load(&path).expect("valid");
    for role in ["base", "edge", "app", "db", "backup", "bastion"] {
        assert!(
            inv.hosts.iter().any(|h| h.roles.iter().any(|r| r == role)),
            "role {role}"
        );
    }
    assert_eq!(
        inv.residency.as_deref(),
        Some(&["FR".to_string(), "DE".to_string()][..])
    );
}
