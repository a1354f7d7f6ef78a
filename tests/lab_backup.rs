//! Issue #16 end to end on two lab hosts on the mesh: t-bak-1 a db host
//! backing up `app`, t-bak-2 its backup target. harden sets both sides up
//! in one run; a backup run leaves on the target an age artifact that the
//! operator's identity decrypts and that restores into a scratch database
//! with the manifest's row counts; the db host's own key is refused every
//! read, list, overwrite and delete; rotation removes what the manifests
//! date beyond keep_days and keeps the rest; verify is clean after harden
//! and fails on an unencrypted file in the store or a stopped PostgreSQL.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use common::{age_identity, lab, rampart, text, verify_results, Lab};

const DB: usize = 1;
const BAK: usize = 2;
const STORE: &str = "/var/lib/rampart/backups/t-bak-1";
const DROP_OPTS: &str = "ssh -i /var/lib/rampart-backup/drop_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/etc/rampart/backup/known_hosts -o StrictHostKeyChecking=yes -p 2223";
const DROP_SSH: &str = "ssh -i /var/lib/rampart-backup/drop_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/etc/rampart/backup/known_hosts -o StrictHostKeyChecking=yes -p 2223 rampart-drop@10.99.40.2";

fn inventory(lab: &Lab, dir: &Path, recipient: &str) -> std::path::PathBuf {
    lab.variant(dir, |t| {
        let t = t.replace(
            "admin_sources: [10.124.40.0/24]",
            &format!("admin_sources: [10.124.40.0/24]\nsecrets:\n  recipients: [{recipient}]\nbackup:\n  schedule: hourly\n  keep_days: 7\n  targets: [t-bak-2]"),
        );
        let t = t.replacen(
            "t-bak-1:\n    address: 10.124.40.12\n    roles: [base]",
            "t-bak-1:\n    address: 10.124.40.12\n    roles: [db]\n    mesh_address: 10.99.40.1\n    databases: [app]",
            1,
        );
        t.replacen(
            "t-bak-2:\n    address: 10.124.40.13\n    roles: [base]",
            "t-bak-2:\n    address: 10.124.40.13\n    roles: [backup]\n    mesh_address: 10.99.40.2",
            1,
        )
    })
}

fn run(inv: &Path, args: &[&str]) -> Output {
    rampart()
        .arg("-i")
        .arg(inv)
        .args(args)
        .env_remove("RAMPART_AGE_IDENTITY")
        .output()
        .expect("rampart runs")
}

fn both(o: &Output) -> String {
    format!("{}\n{}", text(&o.stdout), text(&o.stderr))
}

fn ok(lab: &Lab, host: usize, command: &str) -> String {
    let out = lab.sudo(host, command);
    assert!(out.status.success(), "{command}: {}", both(&out));
    text(&out.stdout)
}

fn psql(lab: &Lab, db: &str, sql: &str) -> String {
    ok(
        lab,
        DB,
        &format!("runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d {db} -c \"{sql}\""),
    )
}

/// Rows per table of `db`, as `schema.table count` lines.
fn counts(lab: &Lab, db: &str) -> Vec<(String, u64)> {
    let tables = psql(
        lab,
        db,
        "SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1",
    );
    tables
        .lines()
        .map(|t| {
            let n = psql(lab, db, &format!("SELECT count(*) FROM {t}"));
            (t.to_string(), n.trim().parse().expect("count"))
        })
        .collect()
}

fn statuses(out: &Output, id: &str) -> Vec<(String, String)> {
    verify_results(out)
        .into_iter()
        .filter(|((_, i), _)| i == id)
        .map(|((h, _), (s, r))| (h, format!("{s}: {r}")))
        .collect()
}

fn failing(out: &Output) -> Vec<String> {
    verify_results(out)
        .into_iter()
        .filter(|(_, (s, _))| s == "fail" || s == "error")
        .map(|((h, i), (s, r))| format!("{h} {i} {s}: {r}"))
        .collect()
}

fn artifacts(lab: &Lab) -> Vec<String> {
    ok(lab, BAK, &format!("ls -1 {STORE}"))
        .lines()
        .filter(|l| l.ends_with(".age"))
        .map(String::from)
        .collect()
}

#[test]
fn encrypted_backups_restore_are_refused_to_the_db_host_and_rotate() {
    let lab = lab("t-bak", 2, "10.124.40.0/24", None);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (identity, _) = age_identity(tmp.path());
    let inv = inventory(&lab, tmp.path(), &identity.to_public().to_string());

    let prov = run(&inv, &["provision"]);
    assert_eq!(prov.status.code(), Some(0), "{}", both(&prov));
    let t = Instant::now();
    let h = run(&inv, &["harden"]);
    assert_eq!(h.status.code(), Some(0), "{}", both(&h));
    eprintln!("first harden: {:.1} s", t.elapsed().as_secs_f64());

    // The application's data, after PostgreSQL came with the profile.
    psql(&lab, "postgres", "CREATE DATABASE app");
    psql(&lab, "app", "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1234) g; CREATE SCHEMA billing; CREATE TABLE billing.invoices (id serial, amount numeric); INSERT INTO billing.invoices (amount) SELECT g FROM generate_series(1, 77) g");
    let want = counts(&lab, "app");
    assert_eq!(want.len(), 2, "{want:?}");

    let t = Instant::now();
    let again = run(&inv, &["harden"]);
    assert_eq!(again.status.code(), Some(0), "{}", both(&again));
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)"),
        "second harden: {}",
        both(&again)
    );
    eprintln!("second harden: {:.1} s", t.elapsed().as_secs_f64());

    // A backup run, as the timer would start it.
    let t = Instant::now();
    ok(&lab, DB, "systemctl start rampart-backup.service");
    eprintln!("backup run: {:.1} s", t.elapsed().as_secs_f64());
    let stored = artifacts(&lab);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let name = stored[0].trim_end_matches(".age").to_string();
    let manifest: serde_json::Value =
        serde_json::from_str(&ok(&lab, BAK, &format!("cat {STORE}/{name}.json")))
            .expect("manifest");
    let sealed = lab.sudo(BAK, &format!("cat {STORE}/{name}.age")).stdout;
    assert!(
        sealed.starts_with(b"age-encryption.org/v1\n"),
        "age ciphertext"
    );
    assert_eq!(manifest["size"].as_u64(), Some(sealed.len() as u64));
    let sha = {
        use sha2::Digest;
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&sealed))
    };
    assert_eq!(manifest["sha256"].as_str(), Some(sha.as_str()));
    for (table, n) in &want {
        assert_eq!(
            manifest["rows"][table].as_u64(),
            Some(*n),
            "{table} in {manifest}"
        );
    }
    // Decrypted here, with the operator's identity; restored on a scratch database.
    let plain = age::decrypt(&identity, &sealed).expect("the operator's identity opens it");
    assert!(plain.starts_with(b"PGDMP"), "a pg_dump custom archive");
    ok(&lab, DB, "runuser -u postgres -- dropdb --if-exists scratch && runuser -u postgres -- createdb scratch");
    let restore = lab.ssh_stdin_as(
        "ops",
        DB,
        "sudo -n runuser -u postgres -- pg_restore --no-owner -d scratch",
        &plain,
    );
    assert!(restore.status.success(), "{}", both(&restore));
    assert_eq!(counts(&lab, "scratch"), want, "restored row counts");
    assert!(
        ok(
            &lab,
            DB,
            "grep -rl AGE-SECRET-KEY /etc /var/lib/rampart-backup 2>/dev/null || true"
        )
        .trim()
        .is_empty(),
        "the db host holds no age identity"
    );

    // The db host's own key: nothing but a write.
    for req in [
        "ls -la",
        "cat *",
        &format!("cat {name}.age"),
        "rm -f *",
        &format!("commit {name}"),
        "commit ../../etc/passwd",
        "put ../x",
    ] {
        let out = lab.sudo(DB, &format!("{DROP_SSH} '{req}' </dev/null"));
        assert_eq!(out.status.code(), Some(77), "`{req}`: {}", both(&out));
        assert!(
            text(&out.stderr).contains("rampart-drop: refused"),
            "`{req}`: {}",
            both(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "`{req}` answered {}",
            text(&out.stdout)
        );
    }
    let plain_upload = lab.sudo(DB, &format!("printf '{{\"database\":\"app\",\"rows\":{{}}}}\\nnot encrypted\\n' | {DROP_SSH} 'put app'"));
    assert_eq!(
        plain_upload.status.code(),
        Some(77),
        "{}",
        both(&plain_upload)
    );
    let sftp = lab.sudo(
        DB,
        &format!("{DROP_OPTS} -s rampart-drop@10.99.40.2 sftp </dev/null"),
    );
    assert!(!sftp.status.success(), "sftp refused: {}", both(&sftp));
    let shell = lab.sudo(DB, &format!("{} -t /bin/sh </dev/null", DROP_SSH));
    assert!(!shell.status.success(), "{}", both(&shell));
    let main_sshd = lab.sudo(DB, "ssh -i /var/lib/rampart-backup/drop_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null rampart-drop@10.99.40.2 true");
    assert!(
        !main_sshd.status.success(),
        "the operators' sshd refuses the drop account"
    );
    assert_eq!(
        artifacts(&lab),
        stored,
        "nothing was added, changed or removed"
    );
    assert!(
        ok(&lab, BAK, &format!("ls -A {STORE}/.incoming"))
            .trim()
            .is_empty(),
        "no partial upload left"
    );

    // verify: clean, then an unencrypted file and a stopped PostgreSQL.
    let t = Instant::now();
    let v = run(&inv, &["verify", "--format", "json"]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{:#?}\n{}",
        failing(&v),
        text(&v.stderr)
    );
    eprintln!("verify: {:.1} s", t.elapsed().as_secs_f64());
    for (host, ids) in [
        ("t-bak-1", ["BAK-01", "BAK-02", "BAK-03", "BAK-04"]),
        ("t-bak-2", ["BAK-05", "BAK-06", "BAK-07", "ACC-02"]),
    ] {
        for id in ids {
            let s = statuses(&v, id);
            assert!(
                s.iter().any(|(h, st)| h == host && st.starts_with("pass")),
                "{host} {id}: {s:?}"
            );
        }
    }
    ok(
        &lab,
        BAK,
        &format!("echo 'id,name' > {STORE}/customers.csv"),
    );
    let v = run(&inv, &["verify", "--format", "json"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        failing(&v)
            .iter()
            .any(|f| f.contains("BAK-06") && f.contains("customers.csv: not age ciphertext")),
        "{:#?}",
        failing(&v)
    );
    ok(&lab, BAK, &format!("rm {STORE}/customers.csv"));
    ok(&lab, DB, "systemctl stop postgresql");
    let failed_run = lab.sudo(DB, "systemctl start rampart-backup.service");
    assert!(
        !failed_run.status.success(),
        "a backup without PostgreSQL fails"
    );
    assert_eq!(artifacts(&lab), stored, "the failed run left no artifact");
    let v = run(&inv, &["verify", "--format", "json"]);
    assert_eq!(v.status.code(), Some(1));
    let f = failing(&v);
    assert!(f.iter().any(|f| f.contains("t-bak-1 BAK-01")), "{f:#?}");
    assert!(
        f.iter()
            .any(|f| f.contains("t-bak-1 BAK-03") && f.contains("failed")),
        "{f:#?}"
    );
    ok(&lab, DB, "systemctl start postgresql");
    ok(&lab, DB, "systemctl start rampart-backup.service");

    // Rotation dates artifacts by their manifests: one 10 days old goes, one a day old stays.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for (stamp, ago) in [
        ("20200101T000000Z-app", 10 * 86_400),
        ("20200102T000000Z-app", 86_400),
    ] {
        ok(&lab, BAK, &format!(
            "cd {STORE} && printf 'age-encryption.org/v1\\nx\\n' > {stamp}.age && printf '{{\"artifact\":\"{stamp}.age\",\"source\":\"t-bak-1\",\"database\":\"app\",\"time\":{},\"size\":24,\"sha256\":\"00\",\"rows\":{{}}}}\\n' > {stamp}.json && chown rampart-drop: {stamp}.*",
            now - ago
        ));
    }
    let before = artifacts(&lab).len();
    ok(&lab, BAK, "systemctl start rampart-backup-rotate.service");
    let after = artifacts(&lab);
    assert_eq!(after.len(), before - 1, "{after:?}");
    assert!(
        !after.iter().any(|a| a.starts_with("20200101T000000Z")),
        "{after:?}"
    );
    assert!(
        after.iter().any(|a| a.starts_with("20200102T000000Z")),
        "{after:?}"
    );
    assert!(after.contains(&stored[0]), "the real artifact is kept");
    let journal = ok(
        &lab,
        BAK,
        "journalctl -u rampart-backup-rotate.service -n 20 --no-pager",
    );
    assert!(journal.contains("1 removed"), "{journal}");
}
