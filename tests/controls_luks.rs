//! The luks profile through the engine (setup → judge → plan), against
//! facts recorded from a lab host with a 64 MiB /dev/vdb: blank (before
//! cryptsetup was installed), formatted ext4, and formatted by rampart.

use std::path::Path;

use rampart::controls::Status;
use rampart::engine::resource::Resource;
use rampart::facts::{EscrowTest, Facts};
use rampart::inventory::Inventory;
use rampart::ops::host::{judge, plan, setup, Catalog, HostSetup};

const TODAY: i64 = 20_780;

fn load(name: &str) -> Facts {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/facts")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
        .expect("recorded facts parse")
}

/// An inventory in `dir` whose host `luks-dev-1` (the recorded host's
/// name) declares /dev/vdb, so the luks profile is in force.
fn inventory(dir: &Path) -> Inventory {
    let text = "secrets:\n  recipients: [\"age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74\"]\n\
                hosts:\n  luks-dev-1:\n    address: 10.124.44.12\n    roles: [base]\n    disks: [/dev/vdb]\n";
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, text).expect("write");
    Inventory::load(&path).expect("valid")
}

fn host_setup(inv: &Inventory) -> HostSetup {
    let catalog = Catalog::load(inv).expect("catalog");
    setup(inv, &catalog, inv.host("luks-dev-1").expect("host")).expect("setup")
}

fn luks_statuses(s: &HostSetup, inv: &Inventory, facts: &Facts) -> Vec<(String, Status)> {
    judge(s, inv, facts, &Default::default(), TODAY)
        .expect("a supported release")
        .into_iter()
        .filter(|j| j.control.profile == "luks")
        .map(|j| (j.control.control.id.clone(), j.outcome.status))
        .collect()
}

#[test]
fn a_rampart_formatted_volume_passes_what_can_be_judged_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path());
    let s = host_setup(&inv);
    assert!(s.host.has_profile("luks") && s.host.has_profile("baseline"));
    let mut facts = load("luks-formatted.json");
    let escrow = dir.path().join("secrets/luks/luks-dev-1-vdb.age");
    std::fs::create_dir_all(escrow.parent().expect("dir")).expect("mkdir");
    std::fs::write(&escrow, b"age-encryption.org/v1\n").expect("escrow stand-in");
    let results = luks_statuses(&s, &inv, &facts);
    let ids: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "LUKS-01", "LUKS-02", "LUKS-03", "LUKS-04", "LUKS-05", "LUKS-06", "LUKS-07", "LUKS-08",
            "LUKS-09", "LUKS-10", "LUKS-11"
        ]
    );
    for (id, status) in &results {
        let expected = match id.as_str() {
            // No identity: the escrow was not tested. No device-mapper: no mount.
            "LUKS-07" | "LUKS-09" => Status::NotApplicable,
            _ => Status::Pass,
        };
        assert_eq!(*status, expected, "{id}");
    }
    facts
        .luks
        .escrow_tests
        .insert("/dev/vdb".into(), EscrowTest::Opens);
    let tested = luks_statuses(&s, &inv, &facts);
    assert!(tested.contains(&("LUKS-07".into(), Status::Pass)));
    let changes = plan(&s, &inv, &facts, &Default::default(), TODAY).expect("plan");
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c.resource, Resource::Action(_))),
        "a compliant volume needs no step"
    );
}

#[test]
fn an_unencrypted_disk_is_drift_and_its_plan_is_refused_without_consent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path());
    let mut s = host_setup(&inv);
    let facts = load("luks-ext4.json");
    let results = luks_statuses(&s, &inv, &facts);
    assert!(results.contains(&("LUKS-02".into(), Status::Fail)));
    let err = plan(&s, &inv, &facts, &Default::default(), TODAY).expect_err("refused");
    assert!(
        err.starts_with("refused before anything was applied on luks-dev-1: luks-dev-1:/dev/vdb: found ext4 (UUID "),
        "{err}"
    );
    assert!(
        err.contains("--wipe luks-dev-1:/dev/vdb"),
        "names its consent: {err}"
    );
    s.consent = vec!["luks-dev-1:/dev/vdb".into()];
    let changes = plan(&s, &inv, &facts, &Default::default(), TODAY).expect("consented");
    let format = changes
        .iter()
        .find(|c| matches!(c.resource, Resource::Action(_)))
        .expect("format step");
    assert!(
        format.summary.contains("WIPES the device first (--wipe)"),
        "{}",
        format.summary
    );
    assert!(
        !dir.path().join("secrets").exists(),
        "planning writes no escrow"
    );
}

#[test]
fn a_blank_disk_plans_cryptsetup_and_a_format_step_that_shows_no_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path());
    let s = host_setup(&inv);
    let facts = load("luks-blank.json");
    let changes = plan(&s, &inv, &facts, &Default::default(), TODAY).expect("plan");
    assert!(changes.iter().any(|c| c.summary == "package cryptsetup"));
    // The format step is the last change to the system; only the integrity
    // snapshot (AIDE) follows it, so the database records the new volume.
    let (format, snapshot) = match changes.as_slice() {
        [.., format, snapshot] => (format, snapshot),
        _ => panic!("a format step and a snapshot: {changes:?}"),
    };
    assert!(
        matches!(snapshot.resource, Resource::Snapshot { .. }),
        "the AIDE snapshot comes last: {:?}",
        snapshot.summary
    );
    let Resource::Action(a) = &format.resource else {
        panic!(
            "the format step comes before the snapshot: {:?}",
            format.summary
        );
    };
    let key = a.secret.as_ref().expect("a key").expose().to_string();
    let shown = format!("{format}\n{:?}\n{:?}", format.diff, format);
    assert!(!shown.contains(&key), "the plan never shows the key");
    assert!(a.destroys.is_none());
}
