//! Every built-in control judged against facts recorded from real lab hosts:
//! a host hardened by rampart passes every control that applies to it; a
//! fresh host's results are snapshotted, control by control.

use std::collections::BTreeMap;
use std::path::Path;

use rampart::controls::Status;
use rampart::facts::Facts;
use rampart::inventory::Inventory;
use rampart::ops::host::{judge, plan, setup, Catalog};

fn load(name: &str) -> Facts {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/facts")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture"))
        .expect("recorded facts parse")
}

fn inventory() -> Inventory {
    Inventory::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/facts/inventory.yaml"),
    )
    .expect("fixture inventory")
}

/// A day inside any waiver-free period: the fixture inventory has none.
const TODAY: i64 = 20_780;

fn statuses(host: &str, facts: &Facts) -> BTreeMap<String, (Status, String)> {
    let inv = inventory();
    let catalog = Catalog::load(&inv).expect("catalog");
    let s = setup(&inv, &catalog, inv.host(host).expect("host")).expect("setup");
    judge(&s, &inv, facts, &Default::default(), TODAY)
        .expect("a supported release")
        .into_iter()
        .map(|j| {
            (
                j.control.control.id.clone(),
                (
                    j.outcome.status,
                    j.outcome.reason.unwrap_or(j.outcome.observed),
                ),
            )
        })
        .collect()
}

#[test]
fn a_rampart_hardened_host_passes_every_applicable_control() {
    let results = statuses("dev-1", &load("hardened-dev-1.json"));
    let failing: Vec<_> = results
        .iter()
        .filter(|(_, (s, _))| !matches!(s, Status::Pass | Status::NotApplicable))
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    let catalog = Catalog::load(&inventory()).expect("catalog");
    let total: usize = catalog
        .profiles
        .iter()
        .filter(|p| p.profile == "baseline" || p.profile == "ssh")
        .map(|p| p.controls.len())
        .sum();
    assert_eq!(
        results.len(),
        total,
        "every control of baseline and ssh was judged"
    );
    assert!(total >= 60, "at least 60 controls");
    for (id, (s, reason)) in &results {
        if *s == Status::NotApplicable {
            assert!(reason.starts_with("not applicable"), "{id}: {reason}");
        }
    }
}

/// A host hardened before the journald drop-in was renamed to sort after
/// Debian 13's vendor drop-in: harden moves it, and nothing else.
#[test]
fn the_old_journald_drop_in_is_moved_to_the_name_that_sorts_last() {
    let inv = inventory();
    let catalog = Catalog::load(&inv).expect("catalog");
    let s = setup(&inv, &catalog, inv.host("dev-1").expect("host")).expect("setup");
    let mut facts = load("hardened-dev-1.json");
    let (new, old) = (
        "/etc/systemd/journald.conf.d/zz-rampart.conf",
        "/etc/systemd/journald.conf.d/90-rampart.conf",
    );
    let content = facts.files.remove(new).expect("recorded drop-in");
    facts.files.insert(new.into(), None);
    facts.files.insert(old.into(), content);
    if let Some(mode) = facts.file_modes.remove(new) {
        facts.file_modes.insert(old.into(), mode);
    }
    let changes = plan(&s, &inv, &facts, &Default::default(), TODAY).expect("plan");
    let summaries: Vec<String> = changes.iter().map(|c| c.summary.clone()).collect();
    assert_eq!(
        summaries,
        [
            format!("file {new} (0644 root:root)"),
            format!("file {old}"),
            // The integrity database follows every change of the run.
            "AIDE database /var/lib/aide/aide.db: build with aideinit (after this run's changes)"
                .to_string(),
        ],
        "{summaries:#?}"
    );
}

#[test]
fn a_hardened_host_needs_no_changes() {
    let inv = inventory();
    let catalog = Catalog::load(&inv).expect("catalog");
    let s = setup(&inv, &catalog, inv.host("dev-1").expect("host")).expect("setup");
    let changes = plan(
        &s,
        &inv,
        &load("hardened-dev-1.json"),
        &Default::default(),
        TODAY,
    )
    .expect("plan");
    assert!(
        changes.is_empty(),
        "{:#?}",
        changes
            .iter()
            .map(|c| c.summary.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_fresh_host_fails_the_expected_controls() {
    let results = statuses("fresh", &load("fresh.json"));
    let table: String = results
        .iter()
        .map(|(id, (s, _))| format!("{id} {}\n", s.as_str()))
        .collect();
    insta::assert_snapshot!(table);
    assert_eq!(
        results["SSH-01"].0,
        Status::Fail,
        "a fresh image allows password logins"
    );
    assert_eq!(
        results["KRN-01"].0,
        Status::NotApplicable,
        "kernel-global sysctl in a container"
    );
}

#[test]
fn waivers_hold_until_their_expiry_then_the_control_fails_again() {
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/facts/inventory.yaml"),
    )
    .expect("fixture");
    let with_waiver = format!("{base}waivers:\n  - control: SSH-01\n    hosts: [fresh]\n    reason: \"migration window, ticket OPS-1\"\n    expires: 2026-11-30\n");
    let inv = Inventory::parse(Path::new("inventory.yaml"), &with_waiver).expect("valid");
    let catalog = Catalog::load(&inv).expect("catalog");
    let s = setup(&inv, &catalog, inv.host("fresh").expect("host")).expect("setup");
    let facts = load("fresh.json");
    let status_on = |day: i64| {
        judge(&s, &inv, &facts, &Default::default(), day)
            .expect("a supported release")
            .into_iter()
            .find(|j| j.control.control.id == "SSH-01")
            .map(|j| (j.outcome.status, j.outcome.reason))
            .expect("SSH-01 judged")
    };
    let last_day = rampart::calendar::days_from_date("2026-11-30").expect("date");
    let (status, reason) = status_on(last_day);
    assert_eq!(status, Status::Waived);
    assert_eq!(
        reason.as_deref(),
        Some("waived until 2026-11-30: migration window, ticket OPS-1")
    );
    assert_eq!(
        status_on(last_day + 1).0,
        Status::Fail,
        "expired waivers no longer hide drift"
    );
    // A waived control is not enforced while the waiver holds.
    let changes = plan(&s, &inv, &facts, &Default::default(), last_day).expect("plan");
    let sshd = changes
        .iter()
        .find(|c| c.summary.contains("sshd_config"))
        .expect("sshd_config still managed");
    let diff = sshd.diff.as_deref().unwrap_or_default();
    assert!(
        !diff.contains("+passwordauthentication no"),
        "waived option not written"
    );
}

/// Section 1's last bullet: a drop-in rampart writes must win over every
/// vendor drop-in, or harden's plan and verify disagree (Debian 13's
/// journald syslog.conf once sorted after rampart's 90-rampart.conf).
/// systemd reads /etc and /usr/lib drop-ins as one list sorted by file
/// name, so rampart's name must sort after every vendor drop-in recorded
/// on a fresh host; on the hardened host every key rampart sets must come
/// from rampart's file.
#[test]
fn rampart_s_journald_drop_in_wins_over_every_vendor_drop_in() {
    let ours = "/etc/systemd/journald.conf.d/zz-rampart.conf";
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let fresh = load("fresh.json");
    assert!(
        !fresh.journald_sources.is_empty(),
        "the fresh fixture records the vendor drop-ins"
    );
    for vendor in fresh.journald_sources.values() {
        assert!(
            name(ours) > name(vendor),
            "{ours} sorts before the vendor's {vendor}: its settings would lose"
        );
    }
    let hardened = load("hardened-dev-1.json");
    let content = hardened
        .file(ours)
        .expect("rampart's journald drop-in recorded");
    let keys: Vec<&str> = content
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    assert!(keys.len() >= 5, "{keys:?}");
    for key in keys {
        assert_eq!(
            hardened.journald_sources.get(key).map(String::as_str),
            Some(ours),
            "journald takes {key} from another file than rampart's"
        );
    }
}
