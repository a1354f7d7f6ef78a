//! Issue #5 end to end on two lab hosts with a 64 MiB blank /dev/vdb each:
//! host 1's blank disk becomes LUKS2 with the required parameters, its key
//! escrowed to the test's own age identity and proven on the host with
//! --test-passphrase; host 2's disk, formatted ext4 by the test, is refused
//! and stays ext4; the key appears in no output, plan or journal; rotate
//! replaces it and the old key stops opening the volume.
//!
//! The lab kernel has no device-mapper: volumes are formatted and
//! inspected, never opened, so mkfs and mount are reported not applicable
//! (their rendered commands are unit-tested in src/controls/luks.rs).

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use common::{age_identity, lab, lab_state_dir, rampart, text, Lab};
use serde_json::Value;

fn luks_lab() -> Lab {
    lab("t-luks", 2, "10.124.4.0/24", Some(64))
}

fn ssh_stdin(lab: &Lab, i: usize, command: &str, input: &[u8]) -> Output {
    lab.ssh_stdin_as("root", i, command, input)
}

fn run(inv: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = rampart();
    c.arg("-i")
        .arg(inv)
        .args(args)
        .env_remove("RAMPART_AGE_IDENTITY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("rampart runs")
}

fn both(o: &Output) -> String {
    format!("{}\n{}", text(&o.stdout), text(&o.stderr))
}

fn decrypt(escrow: &Path, identity: &age::x25519::Identity) -> String {
    let sealed = std::fs::read(escrow).expect("escrow written");
    let plain = age::decrypt(identity, &sealed).expect("the test's identity opens the escrow");
    String::from_utf8(plain).expect("text key")
}

fn opens(lab: &Lab, i: usize, key: &str) -> bool {
    ssh_stdin(
        lab,
        i,
        "cryptsetup open --test-passphrase --key-file=- /dev/vdb",
        key.as_bytes(),
    )
    .status
    .success()
}

/// Every form the key could take in a leak: the hex text sent, that text
/// in base64 (as file contents travel), and the hex in upper case.
fn forms(key: &str) -> Vec<String> {
    vec![
        key.to_string(),
        data_encoding::BASE64.encode(key.as_bytes()),
        key.to_uppercase(),
    ]
}

fn assert_absent(what: &str, haystack: &str, key: &str) {
    for f in forms(key) {
        assert!(!haystack.contains(&f), "the volume key appears in {what}");
    }
}

fn results(o: &Output) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify JSON ({e}): {}", both(o)));
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["id"].as_str().is_some_and(|id| id.starts_with("LUKS-")))
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["host"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                ),
                r["status"].as_str().unwrap_or("").to_string(),
                r["reason"]
                    .as_str()
                    .or(r["observed"].as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn status_of<'a>(r: &'a [(String, String, String)], key: &str) -> &'a str {
    r.iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, s, _)| s.as_str())
        .unwrap_or_else(|| panic!("{key} not judged: {r:?}"))
}

#[test]
fn blank_disk_becomes_escrowed_luks2_data_is_refused_and_rotation_keeps_it_openable() {
    let started = Instant::now();
    let lab = luks_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (identity, id_file) = age_identity(tmp.path());
    let recipient = identity.to_public().to_string();
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(
            "hosts:\n",
            &format!("secrets:\n  recipients: [\"{recipient}\"]\nhosts:\n"),
        )
        .replace("roles: [base]", "roles: [luks]")
    });
    let escrow1 = tmp.path().join("secrets/luks/t-luks-1-vdb.age");
    let escrow2 = tmp.path().join("secrets/luks/t-luks-2-vdb.age");

    // Fresh hosts (a rerun on a lab left up starts from blank too); host
    // 2's disk gets data the profile must never destroy.
    let reset = "wipefs -a -q /dev/vdb; rm -rf /etc/cryptsetup-keys.d; [ -f /etc/crypttab ] && sed -i '/^vdb_crypt /d' /etc/crypttab; true";
    assert!(lab.ssh(1, reset).status.success());
    assert!(lab.ssh(2, reset).status.success());
    // Made from outside: a bare Debian 13 host has no e2fsprogs until the
    // profile installs it, and the data must exist before rampart arrives.
    let image = lab_state_dir("t-luks").join("h2/disk.img");
    let mkfs = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&image)
        .output()
        .expect("mkfs.ext4 runs (package e2fsprogs)");
    assert!(mkfs.status.success(), "mkfs.ext4: {}", text(&mkfs.stderr));
    let ext4 = lab.ssh(2, "blkid -p -o value -s UUID /dev/vdb");
    assert!(ext4.status.success(), "blkid: {}", text(&ext4.stderr));
    let ext4_uuid = text(&ext4.stdout).trim().to_string();
    let prov = run(&inv, &["provision"], &[]);
    assert_eq!(prov.status.code(), Some(0), "{}", both(&prov));

    // Bad input is refused before connecting, exit 2.
    let bare = run(&inv, &["harden", "--wipe", "/dev/vdb"], &[]);
    assert_eq!(bare.status.code(), Some(2), "{}", both(&bare));
    assert!(
        text(&bare.stderr).contains("name the host too"),
        "{}",
        both(&bare)
    );

    // Host 2: refused, non-zero, untouched.
    let refused = run(&inv, &["--limit", "t-luks-2", "harden"], &[]);
    assert_eq!(refused.status.code(), Some(3), "{}", both(&refused));
    let err = both(&refused);
    assert!(
        err.contains("refused before anything was applied on t-luks-2")
            && err.contains(&format!("t-luks-2:/dev/vdb: found ext4 (UUID {ext4_uuid})"))
            && err.contains("--wipe t-luks-2:/dev/vdb"),
        "{err}"
    );
    let after = lab.ssh(2, "blkid -p -o export /dev/vdb");
    let after = text(&after.stdout);
    assert!(
        after.contains("TYPE=ext4") && after.contains(&ext4_uuid),
        "still the same ext4: {after}"
    );
    assert!(!escrow2.exists(), "no key was generated for a refused disk");

    // Host 1: plan, then harden with transport-level logging.
    let plan = run(&inv, &["-vv", "--limit", "t-luks-1", "plan"], &[]);
    assert_eq!(plan.status.code(), Some(0), "{}", both(&plan));
    assert!(
        text(&plan.stdout).contains("+ luks format /dev/vdb (LUKS2 aes-xts-plain64 512-bit"),
        "{}",
        both(&plan)
    );
    assert!(!escrow1.exists(), "plan writes nothing");
    let t = Instant::now();
    let harden = run(&inv, &["-vv", "--limit", "t-luks-1", "harden"], &[]);
    let harden_secs = t.elapsed().as_secs_f32();
    assert_eq!(harden.status.code(), Some(0), "{}", both(&harden));
    assert!(
        text(&harden.stdout).contains("not applicable: no device-mapper"),
        "{}",
        text(&harden.stdout)
    );

    // The escrow: 0600, opens with the test's identity, a 512-bit key.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&escrow1)
        .expect("escrow")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = decrypt(&escrow1, &identity);
    assert_eq!(key.len(), 128, "64 random bytes in hex");

    // The header, read on the host.
    let dump = lab.ssh(1, "cryptsetup luksDump --dump-json-metadata /dev/vdb");
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let h: Value = serde_json::from_slice(&dump.stdout).expect("luksDump JSON");
    assert_eq!(h["segments"]["0"]["encryption"], "aes-xts-plain64");
    assert_eq!(h["segments"]["0"]["sector_size"], 4096);
    let slots = h["keyslots"].as_object().expect("keyslots");
    assert_eq!(slots.len(), 2, "the escrowed key and the host keyfile");
    for s in slots.values() {
        assert_eq!(s["key_size"], 64, "512-bit volume key");
        assert_eq!(s["kdf"]["type"], "argon2id");
    }
    let probe = text(&lab.ssh(1, "blkid -p -o export /dev/vdb").stdout);
    assert!(
        probe.contains("VERSION=2") && probe.contains("LABEL=t-luks-1:vdb"),
        "{probe}"
    );
    assert!(
        opens(&lab, 1, &key),
        "the escrowed key passes --test-passphrase on the host"
    );
    let boot = text(&lab.ssh(1, "grep '^vdb_crypt ' /etc/crypttab; stat -c '%a %U %G' /etc/cryptsetup-keys.d/vdb_crypt.key").stdout);
    assert!(
        boot.contains("/etc/cryptsetup-keys.d/vdb_crypt.key luks,nofail")
            && boot.contains("400 root root"),
        "{boot}"
    );

    // Verify: compliant; the escrow test only runs with an identity.
    let untested = run(
        &inv,
        &["--limit", "t-luks-1", "verify", "--format", "json"],
        &[],
    );
    assert_eq!(untested.status.code(), Some(0), "{}", both(&untested));
    let r = results(&untested);
    assert_eq!(status_of(&r, "t-luks-1 LUKS-07"), "not_applicable");
    assert_eq!(status_of(&r, "t-luks-1 LUKS-09"), "not_applicable");
    let tested = run(
        &inv,
        &["-vv", "--limit", "t-luks-1", "verify", "--format", "json"],
        &[("RAMPART_AGE_IDENTITY", &id_file)],
    );
    assert_eq!(tested.status.code(), Some(0), "{}", both(&tested));
    let r = results(&tested);
    for id in 1..=8 {
        assert_eq!(
            status_of(&r, &format!("t-luks-1 LUKS-0{id}")),
            "pass",
            "{r:?}"
        );
    }
    let again = run(&inv, &["--limit", "t-luks-1", "harden"], &[]);
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "{}",
        both(&again)
    );

    // A declared disk that is not encrypted is drift.
    let drift = run(
        &inv,
        &["--limit", "t-luks-2", "verify", "--format", "json"],
        &[],
    );
    assert_eq!(drift.status.code(), Some(1), "{}", both(&drift));
    assert_eq!(status_of(&results(&drift), "t-luks-2 LUKS-02"), "fail");

    // The key never left rampart except on stdin: not in -vv output, the
    // plan, the journal, or any file on the host.
    assert_absent("plan -vv", &both(&plan), &key);
    assert_absent("harden -vv", &both(&harden), &key);
    assert_absent("verify -vv", &both(&tested), &key);
    let journal = lab.ssh(1, "journalctl --no-pager -o cat");
    assert!(journal.status.success());
    assert_absent("the host's journal", &text(&journal.stdout), &key);
    let patterns = forms(&key).join("\n");
    let files = ssh_stdin(
        &lab,
        1,
        "grep -rlF -f - /etc /root /tmp /var/tmp /var/log /var/backups /run /home 2>/dev/null; true",
        patterns.as_bytes(),
    );
    assert_eq!(
        text(&files.stdout).trim(),
        "",
        "files on the host holding the key"
    );

    // Status: every block device, the declared ones' state, / on dm-crypt.
    let st = run(&inv, &["luks", "status", "--format", "json"], &[]);
    assert_eq!(st.status.code(), Some(0), "{}", both(&st));
    let st: Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    let declared = |host: usize| -> Value {
        st[host]["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .find(|d| d["declared"] == true)
            .cloned()
            .expect("declared disk listed")
    };
    assert_eq!(declared(0)["encryption"], "luks2");
    assert_eq!(declared(1)["encryption"], "none");
    assert_eq!(declared(1)["fstype"], "ext4");
    assert_eq!(
        st[0]["root_on_dm_crypt"], "unknown",
        "a container's root is its host's"
    );
    assert!(
        st[0]["devices"].as_array().expect("devices").len() > 1,
        "every block device is listed"
    );

    // Rotate: a new escrowed key opens the volume, the old one no longer.
    let t = Instant::now();
    let rotate = run(&inv, &["luks", "rotate", "t-luks-1", "/dev/vdb"], &[]);
    let rotate_secs = t.elapsed().as_secs_f32();
    assert_eq!(rotate.status.code(), Some(0), "{}", both(&rotate));
    let new_key = decrypt(&escrow1, &identity);
    assert_ne!(new_key, key);
    assert!(opens(&lab, 1, &new_key), "the new escrow opens the volume");
    assert!(!opens(&lab, 1, &key), "the old key's slot is gone");
    assert_absent("rotate output", &both(&rotate), &new_key);
    let after = run(
        &inv,
        &["--limit", "t-luks-1", "verify"],
        &[("RAMPART_AGE_IDENTITY", &id_file)],
    );
    assert_eq!(after.status.code(), Some(0), "{}", both(&after));

    // A keyslot nobody accounts for is reported by verify.
    let kf = "/etc/cryptsetup-keys.d/vdb_crypt.key";
    let extra = ssh_stdin(
        &lab,
        1,
        &format!("cryptsetup luksAddKey --batch-mode --pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4 --key-file {kf} --new-key-slot 5 --new-keyfile=- /dev/vdb"),
        b"a forgotten test passphrase",
    );
    assert!(extra.status.success(), "{}", text(&extra.stderr));
    let drift = run(
        &inv,
        &["--limit", "t-luks-1", "verify", "--format", "json"],
        &[],
    );
    assert_eq!(drift.status.code(), Some(1), "{}", both(&drift));
    let r = results(&drift);
    let slots = r
        .iter()
        .find(|(k, _, _)| k == "t-luks-1 LUKS-05")
        .expect("LUKS-05");
    assert_eq!(slots.1, "fail");
    assert!(
        slots
            .2
            .contains("3 keyslots; keyslot(s) 5 beyond the expected ones"),
        "{slots:?}"
    );
    assert!(lab
        .ssh(
            1,
            &format!("cryptsetup luksKillSlot --batch-mode --key-file {kf} /dev/vdb 5")
        )
        .status
        .success());

    eprintln!(
        "lab_luks: harden (install cryptsetup, format, keyfile) {harden_secs:.1}s, rotate {rotate_secs:.1}s, whole test {:.1}s",
        started.elapsed().as_secs_f32()
    );
}
