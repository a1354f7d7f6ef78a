//! The backup's checks and rendered files against facts shaped like a lab
//! host's, on a db host and its backup target.

use super::*;
use crate::controls::mesh::Directory;
use crate::controls::Status;
use crate::facts::{DropProbe, Manifest, PostgresFacts, StoreFacts, StoredFile, Unit, User};

const RECIPIENT: &str = "age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74";
const CLIENT: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDg/Bucr29zzmOE+oClyqAOGfLxbex4vU0xiU1mAaU8F";
const HOSTKEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostK";
const NOW: u64 = 1_800_000_000;

fn inventory() -> Inventory {
    let text = format!(
        "secrets:\n  recipients: [\"{RECIPIENT}\"]\nbackup:\n  schedule: hourly\n  keep_days: 7\n  targets: [bak-1]\n\
         hosts:\n  db-1: {{address: 192.0.2.1, roles: [db], mesh_address: 10.99.0.1, databases: [app]}}\n  \
         bak-1: {{address: 192.0.2.2, roles: [backup], mesh_address: 10.99.0.2}}\n  \
         app-1: {{address: 192.0.2.3, roles: [app], mesh_address: 10.99.0.3}}\n"
    );
    Inventory::parse(std::path::Path::new("inventory.yaml"), &text).expect("valid")
}

fn directory() -> Directory {
    let mut d = Directory {
        complete: true,
        ..Default::default()
    };
    d.backup.clients.insert("db-1".into(), CLIENT.into());
    d.backup.hosts.insert("bak-1".into(), HOSTKEY.into());
    d
}

fn on<T>(host: &str, facts: &Facts, f: impl FnOnce(&HostCtx) -> T) -> T {
    let inv = inventory();
    let dir = directory();
    let vars = Default::default();
    f(&HostCtx {
        host: inv.host(host).expect("host"),
        inventory: &inv,
        facts,
        vars: &vars,
        mesh: &dir,
    })
}

fn facts() -> Facts {
    Facts {
        collected_at: NOW,
        ..Default::default()
    }
}

#[test]
fn the_profile_is_in_force_on_sources_and_targets_only() {
    let inv = inventory();
    let has = |h: &str| inv.host(h).expect("host").has_profile("backup");
    assert!(has("db-1") && has("bak-1"));
    assert!(!has("app-1"));
    assert_eq!(
        probe_targets(&inv, inv.host("db-1").expect("db")),
        ["10.99.0.2,2223"]
    );
    assert!(probe_targets(&inv, inv.host("bak-1").expect("bak")).is_empty());
}

#[test]
fn the_target_admits_the_drop_port_from_the_sources_mesh_addresses_only() {
    let inv = inventory();
    let rules =
        crate::controls::firewall::render(&inv, inv.host("bak-1").expect("bak")).expect("renders");
    assert!(
        rules.contains("iifname \"wg0\" ip saddr { 10.99.0.1 } tcp dport 2223 accept"),
        "{rules}"
    );
    let db =
        crate::controls::firewall::render(&inv, inv.host("db-1").expect("db")).expect("renders");
    assert!(!db.contains("2223"), "{db}");
}

fn file_content(resources: &[Resource], path: &str) -> String {
    resources
        .iter()
        .find_map(|r| match r {
            Resource::File {
                path: p, content, ..
            } if p == path => Some(content.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn keys_are_bound_to_their_host_and_the_drop_to_the_mesh() {
    let f = facts();
    let drop = on("bak-1", &f, drop::drop_resources).expect("renders");
    let keys = file_content(&drop, "/etc/rampart/backup-drop/authorized_keys");
    assert!(
        keys.contains(&format!(
            "restrict,from=\"10.99.0.1\",command=\"from db-1\" {CLIENT} rampart-backup@db-1"
        )),
        "{keys}"
    );
    let config = file_content(&drop, "/etc/rampart/backup-drop/sshd_config");
    for line in [
        "ListenAddress 10.99.0.2",
        "Port 2223",
        "AllowUsers rampart-drop",
        "PermitTTY no",
        "DisableForwarding yes",
    ] {
        assert!(config.lines().any(|l| l == line), "{line} in {config}");
    }
    assert!(
        !config.lines().any(|l| l.starts_with("Subsystem")),
        "no sftp"
    );
    let source = on("db-1", &f, source::service_resources).expect("renders");
    let known = file_content(&source, "/etc/rampart/backup/known_hosts");
    assert!(
        known.contains(&format!("[10.99.0.2]:2223 {HOSTKEY}")),
        "{known}"
    );
    let recipients = file_content(&source, "/etc/rampart/backup/recipients");
    assert!(recipients.contains(RECIPIENT));
    let timer = file_content(&source, "/etc/systemd/system/rampart-backup.timer");
    assert!(timer.contains("OnCalendar=hourly"), "{timer}");
    let unit = file_content(&source, "/etc/systemd/system/rampart-backup.service");
    for s in [
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "User=rampart-backup",
    ] {
        assert!(unit.contains(s), "{s}");
    }
}

#[test]
fn the_rendered_scripts_are_valid_bash() {
    let f = facts();
    let mut scripts = on("db-1", &f, source::service_resources).expect("renders");
    scripts.extend(on("bak-1", &f, drop::drop_resources).expect("renders"));
    scripts.extend(on("bak-1", &f, drop::rotation_resources).expect("renders"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for r in &scripts {
        if let Resource::File { path, content, .. } = r {
            if content.starts_with("#!/bin/bash") {
                let file = dir.path().join("script");
                std::fs::write(&file, content).expect("write");
                let out = std::process::Command::new("bash")
                    .arg("-n")
                    .arg(&file)
                    .output()
                    .expect("bash");
                assert!(
                    out.status.success(),
                    "{path}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3, "backup-run, backup-receive, backup-rotate");
}

#[test]
fn sides_are_not_applicable_to_each_other() {
    let f = facts();
    let o = on("db-1", &f, drop::evaluate_store);
    assert_eq!(o.status, Status::NotApplicable);
    let o = on("bak-1", &f, source::evaluate_recent);
    assert_eq!(o.status, Status::NotApplicable);
    assert!(on("bak-1", &f, source::service_resources)
        .expect("ok")
        .is_empty());
}

fn manifest(time: u64, size: u64) -> Manifest {
    Manifest {
        artifact: "a".into(),
        source: "db-1".into(),
        database: "app".into(),
        time,
        size,
        sha256: "00".into(),
        rows: [("public.t".to_string(), 3)].into_iter().collect(),
    }
}

fn store(entries: &[(&str, &str, Option<Manifest>)]) -> Facts {
    let mut s = StoreFacts {
        since: NOW - 30 * 86_400,
        ..Default::default()
    };
    for (name, head, m) in entries {
        s.files.push(StoredFile {
            path: format!("db-1/{name}"),
            size: 100,
            head: head.to_string(),
        });
        if let Some(m) = m {
            let json = format!("db-1/{}", name.replace(".age", ".json"));
            s.manifests.insert(json, Some(m.clone()));
        }
    }
    let mut f = facts();
    f.backup.store = Some(s);
    f
}

#[test]
fn the_store_holds_only_recent_age_artifacts_with_manifests() {
    let age = "age-encryption.org/v1";
    let good = store(&[
        ("1-app.age", age, Some(manifest(NOW - 4_000, 100))),
        ("2-app.age", age, Some(manifest(NOW - 600, 100))),
    ]);
    assert_eq!(
        on("bak-1", &good, drop::evaluate_store).status,
        Status::Pass
    );
    let plain = store(&[
        ("2-app.age", age, Some(manifest(NOW - 600, 100))),
        ("dump.sql", "--?PostgreSQL?database", None),
    ]);
    let o = on("bak-1", &plain, drop::evaluate_store);
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.observed.contains("dump.sql: not age ciphertext"),
        "{}",
        o.observed
    );
    let bare = store(&[
        ("2-app.age", age, None),
        ("3-app.age", age, Some(manifest(NOW - 60, 100))),
    ]);
    assert!(on("bak-1", &bare, drop::evaluate_store)
        .observed
        .contains("no manifest"));
    let stale = store(&[("1-app.age", age, Some(manifest(NOW - 3 * 3_600, 100)))]);
    let o = on("bak-1", &stale, drop::evaluate_store);
    assert!(o.observed.contains("older than"), "{}", o.observed);
    let gap = store(&[
        ("1-app.age", age, Some(manifest(NOW - 10 * 3_600, 100))),
        ("2-app.age", age, Some(manifest(NOW - 60, 100))),
    ]);
    assert!(on("bak-1", &gap, drop::evaluate_store)
        .observed
        .contains("a gap of"));
    let truncated = store(&[("2-app.age", age, Some(manifest(NOW - 60, 999)))]);
    assert!(on("bak-1", &truncated, drop::evaluate_store)
        .observed
        .contains("its manifest says 999"));
}

#[test]
fn nothing_may_outlive_keep_days_plus_one() {
    let age = "age-encryption.org/v1";
    let old = store(&[("1-app.age", age, Some(manifest(NOW - 9 * 86_400, 100)))]);
    let o = on("bak-1", &old, drop::evaluate_rotation);
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.observed.contains("kept beyond keep_days"),
        "{}",
        o.observed
    );
}

#[test]
fn a_database_is_overdue_after_one_and_a_half_periods() {
    let mut f = facts();
    f.backup.client_since = Some(NOW - 86_400);
    f.backup.last_success.insert("app".into(), NOW - 3_600);
    assert_eq!(on("db-1", &f, source::evaluate_recent).status, Status::Pass);
    f.backup.last_success.insert("app".into(), NOW - 2 * 3_600);
    assert_eq!(on("db-1", &f, source::evaluate_recent).status, Status::Fail);
    f.backup.last_success.clear();
    assert_eq!(
        on("db-1", &f, source::evaluate_recent).status,
        Status::Fail,
        "never"
    );
    f.backup.client_since = Some(NOW - 600);
    let o = on("db-1", &f, source::evaluate_recent);
    assert_eq!(o.status, Status::Pass, "just set up: {}", o.observed);
    f.backup.runs.insert(
        source::UNIT.into(),
        crate::facts::UnitRun {
            result: "exit-code".into(),
            exit_status: Some(1),
            exited_at: NOW - 60,
        },
    );
    let o = on("db-1", &f, source::evaluate_recent);
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("failed"), "{}", o.observed);
}

fn probes(status: i32, output: &str) -> Vec<DropProbe> {
    ["ls -la", "cat *", "rm -f *", "put probe", "sftp"]
        .iter()
        .map(|r| DropProbe {
            target: "10.99.0.2,2223".into(),
            request: r.to_string(),
            exit_status: status,
            output: output.into(),
        })
        .collect()
}

#[test]
fn the_probe_passes_only_when_the_receiver_refused_everything() {
    let mut f = facts();
    f.backup.probes = probes(
        77,
        "rampart-drop: refused: the drop accepts only 'put DATABASE' and 'commit NAME'",
    );
    assert_eq!(
        on("db-1", &f, source::evaluate_refusals).status,
        Status::Pass
    );
    f.backup.probes = probes(255, "Permission denied (publickey).");
    let o = on("db-1", &f, source::evaluate_refusals);
    assert_eq!(
        o.status,
        Status::Fail,
        "an authentication failure proves nothing"
    );
    f.backup.probes = probes(0, "20261208T000000Z-app.age");
    assert!(on("db-1", &f, source::evaluate_refusals)
        .observed
        .contains("ACCEPTED"));
    f.backup.probes.clear();
    assert!(on("db-1", &f, source::evaluate_refusals)
        .observed
        .contains("not probed"));
}

#[test]
fn a_stopped_cluster_or_a_missing_database_fails() {
    let mut f = facts();
    for p in ["postgresql", "age", "openssh-client"] {
        f.packages.insert(p.into(), "1".into());
    }
    f.services.insert(
        "postgresql.service".into(),
        Unit {
            enabled: Some("enabled".into()),
            active: Some("active".into()),
            sub: None,
        },
    );
    f.backup.postgres = Some(PostgresFacts {
        up: true,
        backup_role: true,
        databases: vec!["postgres".into(), "app".into()],
    });
    let o = on("db-1", &f, source::evaluate_database);
    assert_eq!(o.status, Status::Pass, "{}", o.observed);
    f.backup.postgres = Some(PostgresFacts {
        up: true,
        backup_role: true,
        databases: vec!["postgres".into()],
    });
    assert!(on("db-1", &f, source::evaluate_database)
        .observed
        .contains("app does not exist"));
    f.backup.postgres = Some(PostgresFacts::default());
    f.services.insert(
        "postgresql.service".into(),
        Unit {
            enabled: Some("enabled".into()),
            active: Some("inactive".into()),
            sub: None,
        },
    );
    let o = on("db-1", &f, source::evaluate_database);
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("does not answer"), "{}", o.observed);
}

#[test]
fn only_ed25519_public_keys_travel() {
    assert!(valid_public_key(CLIENT));
    assert!(!valid_public_key("ssh-ed25519 AAAA\nrestrict"));
    assert!(!valid_public_key("ssh-rsa AAAAB3NzaC1yc2E"));
}

#[test]
fn the_drop_account_is_a_restricted_shell_not_a_login() {
    let inv = inventory();
    let drop_user = |uid| User {
        name: DROP_USER.into(),
        uid,
        gid: uid,
        home: STORE.into(),
        shell: RECEIVER.into(),
        password: "locked".into(),
    };
    let vars: crate::controls::Vars = [(
        "restricted_shells".to_string(),
        serde_yaml::Value::Sequence(vec![RECEIVER.into()]),
    )]
    .into_iter()
    .collect();
    let judge = |uid| {
        let mut f = facts();
        f.users.push(drop_user(uid));
        let dir = directory();
        let ctx = HostCtx {
            host: inv.host("bak-1").expect("bak"),
            inventory: &inv,
            facts: &f,
            vars: &vars,
            mesh: &dir,
        };
        crate::controls::accounts::evaluate_only_operator_logins(&ctx).status
    };
    assert_eq!(judge(998), Status::Pass);
    assert_eq!(judge(1001), Status::Fail, "not for a personal account");
}
