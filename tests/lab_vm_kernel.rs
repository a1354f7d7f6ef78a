//! Issue #15 on a mixed lab (one container, two QEMU virtual machines):
//! the kernel-level controls (auditd, kernel sysctls, modprobe blacklists,
//! mounts) are judged on the VMs as on a real server while the container
//! reports them not applicable; the mesh runs the kernel's WireGuard on the
//! VMs and wireguard-go in the container, in one mesh; after a reboot of
//! both VMs the firewall, the mesh, sshd's settings and the sysctls are in
//! force again and verify is clean without a harden in between.
//!
//! The baseline here is the real `profiles/baseline.yaml` without the
//! controls whose only work is installing and configuring user-space
//! packages (unattended-upgrades, needrestart, apt-listchanges, debsums,
//! libpam-tmpdir, AIDE and its database, acct, sysstat, AppArmor's package). Without KVM the
//! VMs are emulated and those packages' maintainer scripts (AIDE's first
//! database above all) take many minutes; they are judged the same way in a
//! container and a VM, and `lab_harden` proves them on containers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{reboot_and_wait, text, verify_results, vm_lab, wait_for_handshakes, Lab};

const CONTAINER: usize = 1;
const VMS: [usize; 2] = [2, 3];
const ALL: [usize; 3] = [1, 2, 3];

/// Controls left out of the baseline here (see the file comment).
const USER_SPACE_ONLY: &[&str] = &[
    "PKG-01", "PKG-02", "PKG-03", "PKG-04", "PKG-05", "PKG-06", "LOG-09", "LOG-10", "LOG-11",
    "LOG-12", "LOG-13", "LOG-14", "LOG-15", "LOG-16", "SYS-16", "SYS-17",
];

fn mesh_ip(i: usize) -> String {
    format!("10.99.20.{i}")
}

fn run(inv: &Path, args: &[&str]) -> Output {
    common::rampart()
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

/// The built-in profiles, the baseline without [`USER_SPACE_ONLY`].
fn profiles_dir(dir: &Path) -> PathBuf {
    let out = dir.join("profiles");
    std::fs::create_dir_all(&out).expect("profiles dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for entry in std::fs::read_dir(&src).expect("profiles/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name").to_owned();
        let body = std::fs::read_to_string(&path).expect("profile text");
        let body = if name == "baseline.yaml" {
            let mut doc: serde_yaml::Value = serde_yaml::from_str(&body).expect("baseline parses");
            let controls = doc["controls"].as_sequence_mut().expect("controls");
            let n = controls.len();
            controls.retain(|c| !USER_SPACE_ONLY.contains(&c["id"].as_str().unwrap_or("")));
            assert_eq!(
                n - controls.len(),
                USER_SPACE_ONLY.len(),
                "every left-out id exists"
            );
            serde_yaml::to_string(&doc).expect("baseline serialises")
        } else {
            body
        };
        std::fs::write(out.join(name), body).expect("write profile");
    }
    out
}

/// Judged on the VMs and failing there as it would on a provider's
/// server, so waived as a real operator must: the lab reaches no time
/// server (its NAT lets hosts reach Debian's archive only), so the clock
/// is not synchronized.
const WAIVED: [(&str, &str); 1] = [("LOG-08", "the lab network reaches no time server")];

fn is_waived(id: &str) -> bool {
    WAIVED.iter().any(|(w, _)| *w == id)
}

fn waivers() -> String {
    let mut w = String::from("waivers:\n");
    for (id, reason) in WAIVED {
        w.push_str(&format!(
            "  - {{control: {id}, hosts: [t-vm-2, t-vm-3], reason: \"{reason}\", expires: \"2027-06-30\"}}\n"
        ));
    }
    w
}

fn inventory(lab: &Lab, dir: &Path) -> PathBuf {
    let profiles = profiles_dir(dir);
    lab.variant(dir, |t| {
        let mut t = t.replace(
            "hosts:\n",
            &format!(
                "profiles_dir: {}\nroles:\n  server: [baseline, ssh, firewall, mesh]\n{}hosts:\n",
                profiles.display(),
                waivers()
            ),
        );
        for i in ALL {
            let block = format!(
                "  t-vm-{i}:\n    address: {}\n    roles: [base]\n    disks: [/dev/vdb]\n",
                lab.address(i)
            );
            assert!(t.contains(&block), "lab inventory shape: {t}");
            t = t.replace(
                &block,
                &format!(
                    "  t-vm-{i}:\n    address: {}\n    roles: [server]\n    mesh_address: {}\n",
                    lab.address(i),
                    mesh_ip(i)
                ),
            );
        }
        t
    })
}

type Results = BTreeMap<(String, String), (String, String)>;

fn status<'a>(r: &'a Results, host: usize, id: &str) -> &'a (String, String) {
    r.get(&(format!("t-vm-{host}"), id.to_string()))
        .unwrap_or_else(|| panic!("t-vm-{host} {id} not judged"))
}

/// Controls not applicable in the container and passing on both VMs.
fn kernel_only(r: &Results) -> BTreeSet<String> {
    r.iter()
        .filter(|((h, _), (s, reason))| {
            h == "t-vm-1" && s == "not_applicable" && reason.contains("container")
        })
        .map(|((_, id), _)| id.clone())
        .filter(|id| VMS.iter().all(|&v| status(r, v, id).0 == "pass"))
        .collect()
}

fn assert_clean(r: &Results) {
    let bad: Vec<_> = r
        .iter()
        .filter(|((h, id), (s, _))| {
            let waivable = h != "t-vm-1" && is_waived(id);
            s != "pass" && s != "not_applicable" && !(waivable && s == "waived")
        })
        .collect();
    assert!(bad.is_empty(), "not clean: {bad:#?}");
    for ((h, id), (s, reason)) in r {
        if h != "t-vm-1" {
            assert!(
                !reason.contains("container"),
                "{h} {id} is {s} for a container reason on a VM: {reason}"
            );
        }
    }
}

/// What a real server shows, read on the hosts without rampart.
fn assert_in_force(lab: &Lab) {
    for i in VMS {
        let probe = lab.sudo(
            i,
            "sysctl -n kernel.kptr_restrict net.ipv4.conf.all.rp_filter; \
             auditctl -l | grep -c -- '-k' ; \
             modprobe -n -v cramfs; \
             ip -d link show wg0 | grep -o wireguard | head -1; \
             nft list tables; \
             sshd -T | grep -i '^permitrootlogin'; \
             for d in /tmp /dev/shm /var/tmp; do \
               printf '%s ' \"$d\"; findmnt -n -o OPTIONS \"$d\" | tail -n 1; \
               cp /bin/true \"$d/rampart-exec\" && \
                 if \"$d/rampart-exec\" 2>/dev/null; then echo \"exec allowed in $d\"; fi; \
               rm -f \"$d/rampart-exec\"; \
             done",
        );
        let out = text(&probe.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() >= 7, "t-vm-{i}: {out}{}", text(&probe.stderr));
        assert_eq!(lines[0], "2", "t-vm-{i} kptr_restrict: {out}");
        assert_eq!(lines[1], "1", "t-vm-{i} rp_filter: {out}");
        assert!(
            lines[2].parse::<u32>().is_ok_and(|n| n > 0),
            "t-vm-{i} auditd rules loaded: {out}"
        );
        assert!(
            out.contains("install /bin/false") || out.contains("install /bin/true"),
            "t-vm-{i} cramfs blacklisted: {out}"
        );
        assert!(
            out.contains("\nwireguard\n"),
            "t-vm-{i} kernel WireGuard: {out}"
        );
        assert!(
            out.contains("table inet rampart"),
            "t-vm-{i} firewall: {out}"
        );
        assert!(out.contains("permitrootlogin no"), "t-vm-{i} sshd: {out}");
        for d in ["/tmp", "/dev/shm", "/var/tmp"] {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("{d} ")))
                .unwrap_or_else(|| panic!("t-vm-{i} {d} mount: {out}"));
            for o in ["nodev", "nosuid", "noexec"] {
                assert!(
                    line.split([' ', ',']).any(|w| w == o),
                    "t-vm-{i} {d} {o}: {out}"
                );
            }
        }
        assert!(
            !out.contains("exec allowed"),
            "t-vm-{i} noexec in force: {out}"
        );
    }
}

fn assert_mesh_across_kinds(lab: &Lab) {
    wait_for_handshakes(lab, &ALL, 2);
    let tun = lab.sudo(CONTAINER, "ip -d link show wg0");
    assert!(
        text(&tun.stdout).contains("tun"),
        "the container runs wireguard-go on a tun device: {}",
        text(&tun.stdout)
    );
    for from in ALL {
        for to in ALL.iter().filter(|&&t| t != from) {
            let ping = lab.sudo(from, &format!("ping -c 1 -W 3 -q {}", mesh_ip(*to)));
            assert!(
                ping.status.success(),
                "t-vm-{from} → t-vm-{to} over the mesh: {}",
                text(&ping.stdout)
            );
        }
    }
}

#[test]
fn vm_kernel_controls_kernel_wireguard_and_boot_persistence() {
    let started = Instant::now();
    let lab = vm_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(&lab, tmp.path());

    let prov = run(&inv, &["provision"]);
    assert_eq!(prov.status.code(), Some(0), "{}", both(&prov));
    let t = Instant::now();
    let harden = run(&inv, &["harden"]);
    let harden_secs = t.elapsed().as_secs_f32();
    assert_eq!(harden.status.code(), Some(0), "{}", both(&harden));
    assert_mesh_across_kinds(&lab);

    let verify = run(&inv, &["verify", "--format", "json"]);
    let r = verify_results(&verify);
    assert_eq!(verify.status.code(), Some(0), "{}", both(&verify));
    assert_clean(&r);
    let differ = kernel_only(&r);
    // The module blacklist is modprobe's configuration: judged alike in
    // both kinds (the VMs also prove it with `modprobe -n`, below).
    for i in ALL {
        assert_eq!(status(&r, i, "KRN-39").0, "pass", "t-vm-{i} KRN-39");
    }
    // FS-18..20: harden set the mount options through /etc/fstab (the
    // VMs' /var/tmp was no mount of its own: now a bind mount onto itself).
    for id in [
        "KRN-01", "KRN-02", "KRN-15", "LOG-07", "FS-18", "FS-19", "FS-20",
    ] {
        assert!(
            differ.contains(id),
            "{id} is not applicable in the container and passes on the VMs: {differ:?}"
        );
    }
    for (id, _) in WAIVED {
        assert_eq!(status(&r, CONTAINER, id).0, "not_applicable", "{id}");
        for v in VMS {
            assert_eq!(
                status(&r, v, id).0,
                "waived",
                "t-vm-{v} {id}: judged, and waived"
            );
        }
    }
    eprintln!("lab_vm_kernel: pass on VMs, not applicable in a container: {differ:?}");
    assert_in_force(&lab);
    let again = run(&inv, &["harden"]);
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "{}",
        both(&again)
    );

    // Reboot both VMs; no harden in between.
    let secs = reboot_and_wait(&lab, &VMS, Duration::from_secs(600));
    assert_mesh_across_kinds(&lab);
    assert_in_force(&lab);
    let after = run(&inv, &["verify", "--format", "json"]);
    let r = verify_results(&after);
    assert_eq!(after.status.code(), Some(0), "{}", both(&after));
    assert_clean(&r);
    assert_eq!(
        kernel_only(&r),
        differ,
        "the same controls after the reboot"
    );
    eprintln!(
        "lab_vm_kernel: harden {harden_secs:.0}s, reboots {secs:?}s, whole test {:.0}s",
        started.elapsed().as_secs_f32()
    );
}
