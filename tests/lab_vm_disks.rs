//! Issue #15 on QEMU virtual machines, where device-mapper exists: a disk
//! holding anything (ext4 with files, a partition table, a swap signature,
//! an LVM physical volume), written from outside the VM, is refused and
//! stays byte-identical; a blank disk becomes LUKS2, is opened, gets a
//! filesystem and is mounted; the data survives a reboot (unattended
//! unlock from crypttab with the host keyfile), a key rotation on the
//! mounted volume, and a reboot after the rotation.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use common::{lab_state_dir, rampart, reboot_and_wait, text, verify_results, vm_lab, Lab};

const REFUSED: usize = 2;
const ENCRYPTED: usize = 3;
const MOUNT: &str = "/srv/data";

fn run(inv: &Path, args: &[&str], identity: Option<&Path>) -> Output {
    let mut c = rampart();
    c.arg("-i")
        .arg(inv)
        .args(args)
        .env_remove("RAMPART_AGE_IDENTITY");
    if let Some(id) = identity {
        c.env("RAMPART_AGE_IDENTITY", id);
    }
    c.output().expect("rampart runs")
}

fn both(o: &Output) -> String {
    format!("{}\n{}", text(&o.stdout), text(&o.stderr))
}

/// The VMs declare their data disk under the `luks` role; the container
/// takes no part (it cannot open a volume).
fn inventory(lab: &Lab, dir: &Path, recipient: &str) -> PathBuf {
    lab.variant(dir, |t| {
        let mut t = t.replace(
            "hosts:\n",
            &format!("secrets:\n  recipients: [\"{recipient}\"]\nhosts:\n"),
        );
        for i in [REFUSED, ENCRYPTED] {
            let block = format!(
                "  t-vm-{i}:\n    address: {}\n    roles: [base]\n",
                lab.address(i)
            );
            t = t.replace(
                &block,
                &format!(
                    "  t-vm-{i}:\n    address: {}\n    roles: [luks]\n",
                    lab.address(i)
                ),
            );
        }
        t
    })
}

/// The data disk image of lab host `i`, as QEMU serves it to the guest.
fn disk_image(i: usize) -> PathBuf {
    lab_state_dir("t-vm").join(format!("h{i}/disk.img"))
}

fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("disk image readable");
    rampart::inventory::hex_sha256(&bytes)
}

fn host_tool(program: &str, args: &[&str], image: &Path, stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .arg(image)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("tool finishes");
    assert!(out.status.success(), "{program}: {}", text(&out.stderr));
    out
}

/// An LVM physical volume on the image, through a loop device of the
/// machine running the test (pvcreate needs a block device).
fn write_lvm_pv(image: &Path) {
    let loopdev = host_tool("losetup", &["--find", "--show"], image, None);
    let dev = text(&loopdev.stdout).trim().to_string();
    let pv = Command::new("pvcreate")
        .args(["-q", "--yes", &dev])
        .output()
        .expect("pvcreate runs (package lvm2)");
    let detach = Command::new("losetup").args(["-d", &dev]).status();
    assert!(pv.status.success(), "pvcreate: {}", text(&pv.stderr));
    assert!(detach.is_ok_and(|s| s.success()), "losetup -d {dev}");
}

/// Writes one kind of existing content onto the (wiped) image from outside
/// the VM, as a provider's recycled disk or an operator's mistake would.
fn write_content(kind: &str, image: &Path, scratch: &Path) {
    host_tool("wipefs", &["-a", "-q"], image, None);
    match kind {
        "ext4" => {
            let files = scratch.join("files");
            std::fs::create_dir_all(&files).expect("scratch dir");
            std::fs::write(files.join("customer.sql"), "INSERT INTO t VALUES (1);\n")
                .expect("file");
            host_tool(
                "mkfs.ext4",
                &["-q", "-F", "-d", &files.display().to_string()],
                image,
                None,
            );
        }
        "gpt" => {
            host_tool("sfdisk", &["-q"], image, Some("label: gpt\n,,L\n"));
        }
        "swap" => {
            host_tool("mkswap", &[], image, None);
        }
        "LVM2_member" => write_lvm_pv(image),
        other => panic!("no writer for {other}"),
    }
}

fn refused_kinds_stay_byte_identical(lab: &Lab, inv: &Path, scratch: &Path) {
    let image = disk_image(REFUSED);
    let cases = [
        ("ext4", "found ext4 (UUID "),
        ("gpt", "a gpt partition table"),
        ("swap", "found swap"),
        ("LVM2_member", "found LVM2_member"),
    ];
    for (kind, expected) in cases {
        write_content(kind, &image, scratch);
        // The guest may hold the disk's old blocks in its buffer cache.
        let flush = lab.sudo(REFUSED, "blockdev --flushbufs /dev/vdb");
        assert!(flush.status.success(), "{}", text(&flush.stderr));
        let before = sha256_file(&image);
        let refused = run(inv, &["--limit", "t-vm-2", "harden"], None);
        let out = both(&refused);
        assert_eq!(refused.status.code(), Some(3), "{kind}: {out}");
        assert!(
            out.contains("refused before anything was applied on t-vm-2")
                && out.contains(expected)
                && out.contains("--wipe t-vm-2:/dev/vdb"),
            "{kind}: {out}"
        );
        assert_eq!(
            sha256_file(&image),
            before,
            "{kind}: the refused disk is byte-identical"
        );
        eprintln!("lab_vm_disks: {kind} refused, disk unchanged");
    }
    host_tool("wipefs", &["-a", "-q"], &image, None);
}

fn luks_statuses(out: &Output, host: &str) -> Vec<(String, String, String)> {
    verify_results(out)
        .into_iter()
        .filter(|((h, id), _)| h == host && id.starts_with("LUKS-"))
        .map(|((_, id), (status, reason))| (id, status, reason))
        .collect()
}

fn assert_all_luks_pass(out: &Output, host: &str) {
    let r = luks_statuses(out, host);
    assert!(r.len() >= 10, "every LUKS control judged: {r:?}");
    for (id, status, reason) in &r {
        assert_eq!(status, "pass", "{host} {id}: {reason}\n{r:?}");
    }
}

/// The volume is open, mounted where declared, and holds `blob` intact.
fn assert_mounted_with(lab: &Lab, checksum: &str) {
    let mnt = lab.sudo(
        ENCRYPTED,
        &format!("cryptsetup status vdb_crypt >/dev/null && findmnt -n -o SOURCE,FSTYPE {MOUNT} && sha256sum {MOUNT}/blob"),
    );
    let out = text(&mnt.stdout);
    assert!(mnt.status.success(), "{out}{}", text(&mnt.stderr));
    assert!(out.contains("/dev/mapper/vdb_crypt ext4"), "{out}");
    assert!(out.contains(checksum), "data intact: {out}");
}

fn opens(lab: &Lab, key: &str) -> bool {
    lab.ssh_stdin_as(
        "ops",
        ENCRYPTED,
        "sudo -n cryptsetup open --test-passphrase --key-file=- /dev/vdb",
        key.as_bytes(),
    )
    .status
    .success()
}

fn decrypt(escrow: &Path, identity: &age::x25519::Identity) -> String {
    let sealed = std::fs::read(escrow).expect("escrow written");
    let plain = age::decrypt(identity, &sealed).expect("the test's identity opens the escrow");
    String::from_utf8(plain).expect("text key")
}

#[test]
fn vm_disks_refuse_data_and_encrypt_open_mount_survive_reboot_and_rotation() {
    let started = Instant::now();
    let lab = vm_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let identity = age::x25519::Identity::generate();
    let id_file = tmp.path().join("age-identity.txt");
    std::fs::write(
        &id_file,
        format!("{}\n", identity.to_string().expose_secret()),
    )
    .expect("identity");
    let inv = inventory(&lab, tmp.path(), &identity.to_public().to_string());
    let escrow = tmp.path().join("secrets/luks/t-vm-3-vdb.age");

    let prov = run(&inv, &["--limit", "t-vm-2,t-vm-3", "provision"], None);
    assert_eq!(prov.status.code(), Some(0), "{}", both(&prov));

    // A lab left up by an earlier run starts from a blank disk again.
    let reset = format!(
        "umount {MOUNT} 2>/dev/null; cryptsetup close vdb_crypt 2>/dev/null; wipefs -a -q /dev/vdb; \
         rm -rf /etc/cryptsetup-keys.d; [ -f /etc/crypttab ] && sed -i '/^vdb_crypt /d' /etc/crypttab; \
         sed -i '\\|^/dev/mapper/vdb_crypt |d' /etc/fstab; true"
    );
    let reset = lab.sudo(ENCRYPTED, &reset);
    assert!(reset.status.success(), "{}", text(&reset.stderr));

    refused_kinds_stay_byte_identical(&lab, &inv, tmp.path());
    assert!(
        !tmp.path().join("secrets/luks/t-vm-2-vdb.age").exists(),
        "no key was generated for a refused disk"
    );

    // Host 3's blank disk: LUKS2, opened, ext4, mounted; all judged pass.
    let t = Instant::now();
    let harden = run(&inv, &["--limit", "t-vm-3", "harden"], None);
    let harden_secs = t.elapsed().as_secs_f32();
    assert_eq!(harden.status.code(), Some(0), "{}", both(&harden));
    assert!(
        !both(&harden).contains("no device-mapper"),
        "a VM has device-mapper: {}",
        both(&harden)
    );
    let write = lab.sudo(
        ENCRYPTED,
        &format!("head -c 4194304 /dev/urandom > {MOUNT}/blob && sync && sha256sum {MOUNT}/blob"),
    );
    assert!(write.status.success(), "{}", text(&write.stderr));
    let checksum = text(&write.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string();
    assert_mounted_with(&lab, &checksum);
    let verified = run(
        &inv,
        &["--limit", "t-vm-3", "verify", "--format", "json"],
        Some(&id_file),
    );
    assert_eq!(verified.status.code(), Some(0), "{}", both(&verified));
    assert_all_luks_pass(&verified, "t-vm-3");
    let again = run(&inv, &["--limit", "t-vm-3", "harden"], None);
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "{}",
        both(&again)
    );

    // Reboot: crypttab opens the volume with the host keyfile, fstab mounts it.
    let reboot = reboot_and_wait(&lab, &[ENCRYPTED], Duration::from_secs(600));
    assert_mounted_with(&lab, &checksum);
    let after_boot = run(
        &inv,
        &["--limit", "t-vm-3", "verify", "--format", "json"],
        Some(&id_file),
    );
    assert_eq!(after_boot.status.code(), Some(0), "{}", both(&after_boot));
    assert_all_luks_pass(&after_boot, "t-vm-3");

    // Rotation on the mounted volume: still mounted, data intact, the new
    // escrowed key opens it and the old one no longer does.
    let old_key = decrypt(&escrow, &identity);
    let t = Instant::now();
    let rotate = run(&inv, &["luks", "rotate", "t-vm-3", "/dev/vdb"], None);
    let rotate_secs = t.elapsed().as_secs_f32();
    assert_eq!(rotate.status.code(), Some(0), "{}", both(&rotate));
    assert_mounted_with(&lab, &checksum);
    let new_key = decrypt(&escrow, &identity);
    assert_ne!(new_key, old_key);
    assert!(opens(&lab, &new_key), "the new escrow opens the volume");
    assert!(!opens(&lab, &old_key), "the old key's slot is gone");

    // And the host keyfile still unlocks it at boot after the rotation.
    let reboot2 = reboot_and_wait(&lab, &[ENCRYPTED], Duration::from_secs(600));
    assert_mounted_with(&lab, &checksum);
    let last = run(
        &inv,
        &["--limit", "t-vm-3", "verify", "--format", "json"],
        Some(&id_file),
    );
    assert_eq!(last.status.code(), Some(0), "{}", both(&last));
    assert_all_luks_pass(&last, "t-vm-3");

    eprintln!(
        "lab_vm_disks: harden (install, format, open, mkfs, mount) {harden_secs:.0}s, reboot {:.0}s, rotate {rotate_secs:.0}s, reboot after rotation {:.0}s, whole test {:.0}s",
        reboot[0],
        reboot2[0],
        started.elapsed().as_secs_f32()
    );
}
