//! Bad inventories get clear errors: file, line, column, what was expected;
//! exit code 2 through the CLI. Messages are snapshotted with insta.

mod common;

use std::path::Path;

use common::{rampart, text};
use rampart::inventory::Inventory;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqOQ1WsJKocHFjt6uBtsoJ0Pfny1RWEmrobqcQTNO53 ops@laptop";

fn errors(src: &str) -> String {
    match Inventory::parse(Path::new("inventory.yaml"), src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_documented_example_is_valid() {
    let src = format!(
        r#"ssh:
  user: ops
  bootstrap_user: root
  identity: keys/id_ed25519
  known_hosts: known_hosts
  jump: bastion-1
admin_sources: [203.0.113.0/28]
operators:
  - name: ops
    keys: ["{KEY}"]
secrets:
  recipients: ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
roles:
  vault: [baseline, ssh, luks]
hosts:
  bastion-1:
    address: 198.51.100.6
    roles: [bastion]
  edge-1:
    address: 198.51.100.7
    port: 22
    provider: hetzner
    location: fsn1
    roles: [edge]
    mesh_address: 10.99.0.1
    disks: [/dev/vdb]
    vars: {{}}
  vault-1:
    address: vault-1.example.eu
    provider: ovh
    location: gra
    roles: [vault]
"#
    );
    let inv = Inventory::parse(Path::new("/srv/fleet/inventory.yaml"), &src).expect("valid");
    assert_eq!(inv.hosts.len(), 3);
    assert_eq!(
        inv.ssh.identity.as_deref(),
        Some(Path::new("/srv/fleet/keys/id_ed25519"))
    );
    assert_eq!(inv.ssh.known_hosts, Path::new("/srv/fleet/known_hosts"));
    assert_eq!(
        inv.host("edge-1").expect("edge").profiles,
        ["baseline", "ssh", "firewall", "mesh", "luks", "proxy"],
        "declaring disks puts the luks profile in force"
    );
    assert_eq!(
        inv.host("vault-1").expect("vault").profiles,
        ["baseline", "ssh", "luks"]
    );
    assert_eq!(
        inv.ssh.jump,
        Some(rampart::inventory::Jump::Host("bastion-1".into()))
    );
}

#[test]
fn unknown_keys_are_errors() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a:\n    adress: 10.0.0.1\n    roles: [base]\n"
    ));
    insta::assert_snapshot!(
        "unknown_top_level_key",
        errors("sshh:\n  user: ops\nhosts:\n  a: {address: 10.0.0.1, roles: [base]}\n")
    );
}

#[test]
fn wrong_types_are_errors() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a:\n    address: 10.0.0.1\n    port: twenty-two\n    roles: [base]\n"
    ));
}

#[test]
fn invalid_cidr_is_an_error() {
    insta::assert_snapshot!(errors(
        "admin_sources: [203.0.113.0/33]\nhosts:\n  a: {address: 10.0.0.1, roles: [base]}\n"
    ));
}

#[test]
fn duplicate_host_names_are_errors() {
    insta::assert_snapshot!(errors("hosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n  a:\n    address: 10.0.0.2\n    roles: [base]\n"));
}

#[test]
fn duplicate_addresses_and_mesh_addresses_are_errors() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a:\n    address: 10.0.0.1\n    roles: [app]\n    mesh_address: 10.99.0.1\n  b:\n    address: 10.0.0.1\n    roles: [app]\n    mesh_address: 10.99.0.1\n"
    ));
}

#[test]
fn unknown_roles_and_profiles_are_errors() {
    insta::assert_snapshot!(errors("roles:\n  vault: [baseline, lucks]\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [base, wbe]\n"));
}

#[test]
fn mesh_roles_need_a_mesh_address() {
    insta::assert_snapshot!(errors(
        "hosts:\n  edge-1:\n    address: 10.0.0.1\n    roles: [edge]\n"
    ));
}

#[test]
fn mesh_links_name_hosts_or_roles_and_preshared_keys_need_recipients() {
    insta::assert_snapshot!(errors(
        "mesh:\n  port: 0\n  preshared_keys: true\n  links: [[edge, apps]]\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [edge]\n    mesh_address: 10.99.0.1\n"
    ));
}

#[test]
fn bad_keys_recipients_and_disks_are_errors() {
    insta::assert_snapshot!(errors(
        "operators:\n  - name: Ops\n    keys: [\"ssh-ed25519 nope\"]\nsecrets:\n  recipients: [\"age1notarecipient\"]\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    disks: [vdb]\n"
    ));
}

#[test]
fn yaml_syntax_errors_have_positions() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a: {address: 10.0.0.1, roles: [base]\n  b: x\n"
    ));
}

#[test]
fn cli_exits_2_and_names_file_line_column() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("inv.yaml");
    std::fs::write(
        &path,
        "hosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n    colour: blue\n",
    )
    .expect("write");
    let out = rampart()
        .arg("-i")
        .arg(&path)
        .args(["inventory", "check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:5:5: ", path.display())), "{err}");
    assert!(
        err.contains("unknown field `colour`, expected one of"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_inventory_is_an_input_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = rampart()
        .current_dir(tmp.path())
        .args(["facts"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("inventory.yaml: cannot read the inventory"),
        "{}",
        text(&out.stderr)
    );
}

// --- residency (RES-01) -------------------------------------------------

const RESIDENCY: &str = "residency:\n  countries: [FR, DE]\nhosts:\n  web-1:\n    address: 203.0.113.10\n    provider: hetzner\n    location: fsn1\n    roles: [base]\n  db-1:\n    address: 203.0.113.12\n    provider: hetzner\n    location: hel1\n    roles: [base]\n  files-1:\n    address: 198.51.100.20\n    provider: ovh\n    location: gra3\n    roles: [base]\n";

#[test]
fn residency_fsn1_passes_and_hel1_fails() {
    use rampart::inventory::residency;
    let inv = Inventory::parse(Path::new("inventory.yaml"), RESIDENCY).expect("valid");
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let report = residency::judge(&inv, &hosts);
    let verdicts: Vec<(String, bool)> = report
        .hosts
        .iter()
        .map(|h| (h.host.clone(), h.verdict.passed()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("web-1".to_string(), true),
            ("db-1".to_string(), false),
            ("files-1".to_string(), true)
        ]
    );
    assert!(!report.compliant());
    let lines: Vec<String> = report.failures().map(|f| f.to_string()).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn residency_unknown_location_is_an_error_not_a_pass() {
    insta::assert_snapshot!(errors(
        "residency: {countries: [DE]}\nhosts:\n  a:\n    address: 10.0.0.1\n    provider: hetzner\n    location: fsn9\n    roles: [base]\n"
    ));
}

#[test]
fn residency_needs_a_location_for_every_host() {
    insta::assert_snapshot!(errors(
        "residency: {countries: [DE]}\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [base]\n  b:\n    address: 10.0.0.2\n    provider: other\n    location: gra\n    roles: [base]\n"
    ));
}

#[test]
fn residency_countries_are_iso_codes() {
    insta::assert_snapshot!(errors(
        "residency:\n  countries: [DE, UK, EU, fr, DE]\nhosts:\n  a: {address: 10.0.0.1, roles: [base], provider: hetzner, location: fsn1}\n"
    ));
    insta::assert_snapshot!(
        "residency_empty_countries",
        errors("residency: {countries: []}\nhosts:\n  a: {address: 10.0.0.1, roles: [base]}\n")
    );
}

#[test]
fn without_a_policy_locations_are_not_judged() {
    let src =
        "hosts:\n  a: {address: 10.0.0.1, roles: [base], provider: hetzner, location: mars1}\n";
    let inv = Inventory::parse(Path::new("inventory.yaml"), src).expect("valid");
    let hosts: Vec<_> = inv.hosts.iter().collect();
    let report = rampart::inventory::residency::judge(&inv, &hosts);
    assert!(report.countries.is_none() && report.hosts.is_empty() && report.compliant());
}

#[test]
fn create_is_validated() {
    insta::assert_snapshot!(errors(
        "hosts:\n  a:\n    provider: ovh\n    roles: [base]\n    create: {type: cx22, image: debian-12, location: gra}\n  b:\n    provider: hetzner\n    location: nbg1\n    roles: [base]\n    create: {type: \"cx 22\", image: \"\", location: fsn1, network: \" \"}\n  c:\n    roles: [base]\n  e:\n    address: 10.0.0.5\n    provider: hetzner\n    location: hel1\n    roles: [base]\n    create: {type: cx22, image: debian-12, location: fsn1}\n"
    ));
    insta::assert_snapshot!(
        "create_unknown_key",
        errors("hosts:\n  d:\n    provider: hetzner\n    roles: [base]\n    create: {type: cx22, image: debian-12, location: fsn1, size: 3}\n")
    );
}

#[test]
fn a_host_to_create_needs_no_address() {
    let src = "residency: {countries: [DE]}\nhosts:\n  a:\n    provider: hetzner\n    roles: [base]\n    create: {type: cx22, image: debian-12, location: nbg1, network: backend}\n";
    let inv = Inventory::parse(Path::new("inventory.yaml"), src).expect("valid");
    let a = inv.host("a").expect("a");
    assert!(a.awaiting_creation());
    assert_eq!(a.location.as_deref(), Some("nbg1"));
}

#[test]
fn cli_residency_exit_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("inv.yaml");
    std::fs::write(&path, RESIDENCY).expect("write");
    let check = |path: &Path| {
        rampart()
            .arg("-i")
            .arg(path)
            .args(["inventory", "check"])
            .output()
            .expect("runs")
    };
    // A host outside the policy: drift, one line naming it, its location
    // and its country.
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("RES-01 residency [FR, DE]: 2 of 3 hosts inside"),
        "{stdout}"
    );
    let fails: Vec<&str> = stdout.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(
        fails,
        ["RES-01 FAIL db-1: location hel1 (Helsinki) is in FI, outside the residency policy [FR, DE]"]
    );

    // Inside the policy: 0.
    std::fs::write(&path, RESIDENCY.replace("hel1", "nbg1")).expect("write");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // Unknown location: input error at the location value.
    std::fs::write(&path, RESIDENCY.replace("hel1", "hel9")).expect("write");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:12:15: unknown location \"hel9\"",
            path.display()
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // No policy: said so, exit 0.
    let no_policy = RESIDENCY.replacen("residency:\n  countries: [FR, DE]\n", "", 1);
    std::fs::write(&path, no_policy).expect("write");
    let out = check(&path);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("RES-01 no residency policy"));
}

#[test]
fn a_disk_declared_twice_is_an_error_at_its_position() {
    let src = "hosts:\n  db-1:\n    address: 10.0.0.1\n    roles: [base]\n    disks: [/dev/vdb, /dev/vdb]\n";
    let err = Inventory::parse(Path::new("inv.yaml"), src)
        .expect_err("duplicate disk")
        .to_string();
    assert!(
        err.contains("inv.yaml:5:23: disk \"/dev/vdb\" is declared twice"),
        "{err}"
    );
}

#[test]
fn acme_settings_are_validated() {
    let base =
        "hosts:\n  e: {address: 10.0.0.1, roles: [base]}\nproxy:\n  certificate:\n    acme:\n";
    insta::assert_snapshot!(
        "acme_unknown_key",
        errors(&format!(
            "{base}      directory: https://acme.example.eu/directory\n      renew: 30\n"
        ))
    );
    insta::assert_snapshot!(
        "acme_bad_values",
        errors(&format!(
            "{base}      directory: http://acme.example.eu/directory\n      contact: [ops@example.eu]\n      ca_bundle: missing.pem\n      renew_days: 0\n"
        ))
    );
}

#[test]
fn an_acme_source_parses_with_defaults() {
    let inv = Inventory::parse(
        Path::new("inventory.yaml"),
        "hosts:\n  e: {address: 10.0.0.1, roles: [base]}\nproxy:\n  certificate:\n    acme: {directory: https://acme.example.eu/directory}\n",
    )
    .expect("valid");
    match &inv.proxy.certificate {
        rampart::inventory::CertificateSource::Acme(a) => {
            assert_eq!(a.directory, "https://acme.example.eu/directory");
            assert_eq!(a.renew_days, 30);
            assert!(a.contact.is_empty() && a.ca_bundle.is_none());
        }
        other => panic!("{other:?}"),
    }
}

// --- backups (issue #16) -------------------------------------------------

const BACKUP_OK: &str = "secrets:\n  recipients: [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]\nbackup:\n  schedule: hourly\n  keep_days: 14\n  targets: [backup-1]\nhosts:\n  db-1:\n    address: 10.0.0.1\n    roles: [db]\n    mesh_address: 10.99.0.1\n    databases: [app, _audit2]\n  backup-1:\n    address: 10.0.0.2\n    roles: [backup]\n    mesh_address: 10.99.0.2\n  web-1:\n    address: 10.0.0.3\n    roles: [base]\n";

#[test]
fn a_valid_backup_section_parses_with_its_schedule_in_canonical_form() {
    let inv = Inventory::parse(Path::new("inventory.yaml"), BACKUP_OK).expect("valid");
    let b = inv.backup.as_ref().expect("backup");
    assert_eq!(b.schedule.canonical, "hourly");
    assert_eq!(b.schedule.period_secs, 3600);
    assert_eq!(b.drill_max_age_days, 7, "the default");
    assert_eq!(inv.host("db-1").expect("db").databases, ["app", "_audit2"]);
    assert!(inv.is_backup_target("backup-1"));
    let names: Vec<&str> = inv
        .backup_sources()
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(names, ["db-1"]);
}

#[test]
fn backup_keep_days_targets_and_database_names_are_validated() {
    let src = BACKUP_OK
        .replace("keep_days: 14", "keep_days: 30")
        .replace("targets: [backup-1]", "targets: [backup-9, web-1]")
        .replace(
            "databases: [app, _audit2]",
            "databases: [app, \"x;rm -rf /\"]",
        )
        .replace("schedule: hourly", "schedule: \"*-*-* 02:00; reboot\"");
    insta::assert_snapshot!(errors(&src));
}

#[test]
fn databases_need_a_db_host_and_a_backup_section() {
    insta::assert_snapshot!(errors(
        "hosts:\n  web-1:\n    address: 10.0.0.3\n    roles: [base]\n    databases: [app]\n"
    ));
}

#[test]
fn cli_refuses_a_bad_backup_section_with_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("inv.yaml");
    std::fs::write(&path, BACKUP_OK.replace("keep_days: 14", "keep_days: 30")).expect("write");
    let out = rampart()
        .arg("-i")
        .arg(&path)
        .args(["inventory", "check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5:14: keep_days 30 is out of range; expected 7 to 14",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn an_operator_contact_is_an_email_address() {
    let src = format!(
        "operators:\n  - name: ops\n    keys: [\"{KEY}\"]\n    contact: \"ops at example\"\n  - name: alice\n    keys: [\"{KEY}\"]\n    contact: alice@example.eu\nhosts:\n  a: {{address: 10.0.0.1, roles: [base]}}\n"
    );
    let err = errors(&src);
    assert_eq!(
        err.trim(),
        "inventory.yaml:4:14: invalid contact \"ops at example\"; expected an e-mail address such as name@example.eu",
    );
}

// --- removed operators (issue #18) ---------------------------------------

#[test]
fn a_removed_operator_parses_with_its_day() {
    let src = format!(
        "operators:\n  - name: ops\n    keys: [\"{KEY}\"]\nremoved_operators:\n  - {{name: alice, removed: 2026-12-01, keys: [\"{KEY}\"]}}\n  - {{name: bob, removed: 2026-11-30}}\nhosts:\n  a: {{address: 10.0.0.1, roles: [base]}}\n"
    );
    let inv = Inventory::parse(Path::new("inventory.yaml"), &src).expect("valid");
    let days: Vec<(&str, i64)> = inv
        .removed_operators
        .iter()
        .map(|r| (r.name.as_str(), r.removed_day))
        .collect();
    assert_eq!(days, [("alice", 20_788), ("bob", 20_787)]);
}

#[test]
fn a_removed_operator_needs_a_name_a_date_and_valid_keys() {
    let src = format!(
        "operators:\n  - name: ops\n    keys: [\"{KEY}\"]\nremoved_operators:\n  - name: ops\n    removed: 2026-12-01\n  - name: Alice\n    removed: 2026-02-30\n    keys: [\"ssh-ed25519 nope\"]\n  - name: bob\n    removed: 2026-12-01\n    typo: 1\nhosts:\n  a: {{address: 10.0.0.1, roles: [base]}}\n"
    );
    let err = errors(&src);
    assert!(
        err.contains("unknown field `typo`"),
        "unknown keys are errors: {err}"
    );
    let src = src.replace("    typo: 1\n", "");
    insta::assert_snapshot!("removed_operators_bad_values", errors(&src));
}
