//! Shared helpers for integration tests: the rampart binary and lab fixtures.
//!
//! A lab is brought up once per name and shared by the tests of a binary;
//! `lab up` is idempotent, so later test binaries (or reruns) reuse a lab
//! that is already running with the same shape. `scripts/test` removes all
//! test labs at the end.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock};

pub fn rampart() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("rampart").expect("the rampart binary is built");
    c.env_remove("RAMPART_INVENTORY")
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(900));
    c
}

pub fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("labs")
}

/// Where `lab up` keeps a lab's host trees and disk images.
pub fn lab_state_dir(name: &str) -> PathBuf {
    std::env::var_os("RAMPART_LAB_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/rampart/lab"))
        .join(name)
}

/// A running lab and the inventory `lab up` wrote for it.
pub struct Lab {
    pub name: String,
    pub inventory: PathBuf,
    pub dir: PathBuf,
}

static LABS: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();

/// Brings a lab up (or reuses it). Lab tests need root: they create network
/// namespaces and containers. They fail, never skip, without it.
pub fn lab(name: &str, hosts: u16, subnet: &str, disk_mb: Option<u64>) -> Lab {
    lab_with(name, hosts, subnet, disk_mb, &[])
}

/// A lab booted from its image for this run: one left up by an earlier run
/// (hardened, no root logins) is brought down first. For tests whose point
/// is what a host looks like before rampart has touched it.
pub fn fresh_lab_with(
    name: &str,
    hosts: u16,
    subnet: &str,
    disk_mb: Option<u64>,
    up_args: &[&str],
) -> Lab {
    let down = rampart()
        .args(["lab", "down", "--name", name])
        .output()
        .expect("lab down runs");
    assert!(down.status.success(), "lab down: {}", text(&down.stderr));
    lab_with(name, hosts, subnet, disk_mb, up_args)
}

/// Like [`lab`], with more `lab up` arguments (`--release 12`, `--minimal`).
pub fn lab_with(
    name: &str,
    hosts: u16,
    subnet: &str,
    disk_mb: Option<u64>,
    up_args: &[&str],
) -> Lab {
    assert!(
        nix::unistd::geteuid().is_root(),
        "lab tests need root (network namespaces, mounts, systemd-nspawn); run them through scripts/test as root"
    );
    let registry = LABS.get_or_init(|| Mutex::new(Vec::new()));
    let mut up = registry.lock().unwrap_or_else(|e| e.into_inner());
    let dir = lab_dir();
    let inventory = dir.join(format!("{name}.yaml"));
    if !up.iter().any(|(n, _)| n == name) {
        let mut cmd = rampart();
        cmd.args([
            "lab",
            "up",
            "--name",
            name,
            "--hosts",
            &hosts.to_string(),
            "--subnet",
            subnet,
            "--dir",
        ])
        .arg(&dir);
        if let Some(mb) = disk_mb {
            cmd.args(["--disk-mb", &mb.to_string()]);
        }
        cmd.args(up_args);
        let out = cmd.output().expect("lab up runs");
        assert!(
            out.status.success(),
            "lab up failed:\n{}",
            text(&out.stderr)
        );
        up.push((name.to_string(), inventory.clone()));
    }
    Lab {
        name: name.to_string(),
        inventory,
        dir,
    }
}

impl Lab {
    pub fn key(&self) -> PathBuf {
        self.dir.join(&self.name).join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join(&self.name).join("known_hosts")
    }
    pub fn inventory_text(&self) -> String {
        std::fs::read_to_string(&self.inventory).expect("lab inventory")
    }
    /// Address of lab host `i` (1-based), read from the lab inventory.
    pub fn address(&self, i: usize) -> String {
        let inv =
            rampart::inventory::Inventory::load(&self.inventory).expect("lab inventory loads");
        inv.hosts[i - 1].address.clone()
    }
    /// Runs a shell command on host `i` as root with the system ssh client,
    /// independently of rampart (to tamper with hosts or inspect them).
    pub fn ssh(&self, i: usize, command: &str) -> Output {
        self.ssh_as("root", i, command)
    }

    /// Runs a command as root through the operator `ops` and `sudo -n`: the
    /// way in once hardening has closed root logins.
    pub fn sudo(&self, i: usize, command: &str) -> Output {
        let quoted = format!("'{}'", command.replace('\'', r"'\''"));
        self.ssh_as("ops", i, &format!("sudo -n sh -c {quoted}"))
    }

    pub fn ssh_as(&self, user: &str, i: usize, command: &str) -> Output {
        self.ssh_command(user, i, command)
            .output()
            .expect("ssh runs")
    }

    /// A command on host `i` as `user` with `input` on its stdin (keys are
    /// never put in a command line, not even by a test).
    pub fn ssh_stdin_as(&self, user: &str, i: usize, command: &str, input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .ssh_command(user, i, command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("ssh finishes")
    }

    /// The system ssh client's options for this lab: batch mode, the lab's
    /// known_hosts, strict host keys, a bounded connect.
    pub fn ssh_options(&self) -> Vec<String> {
        [
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=yes".into(),
            "LogLevel=ERROR".into(),
            "ConnectTimeout=10".into(),
            format!("UserKnownHostsFile={}", self.known_hosts().display()),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect()
    }

    fn ssh_command(&self, user: &str, i: usize, command: &str) -> std::process::Command {
        let mut c = std::process::Command::new("ssh");
        c.args(self.ssh_options())
            .arg("-i")
            .arg(self.key())
            .arg(format!("{user}@{}", self.address(i)))
            .arg(command);
        c
    }
    /// A copy of the lab inventory in `dir`, transformed by `edit`, with the
    /// key and known_hosts paths made absolute.
    pub fn variant(&self, dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
        let text = self
            .inventory_text()
            .replace(
                &format!("{}/id_ed25519", self.name),
                &self.key().display().to_string(),
            )
            .replace(
                &format!("{}/known_hosts", self.name),
                &self.known_hosts().display().to_string(),
            );
        let path = dir.join("inventory.yaml");
        std::fs::write(&path, edit(text)).expect("write variant inventory");
        path
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh age identity written to `dir/operator.agekey` (the operator's
/// key file, as `RAMPART_AGE_IDENTITY` names it); its public half is the
/// inventory's recipient.
pub fn age_identity(dir: &Path) -> (age::x25519::Identity, PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let file = dir.join("operator.agekey");
    std::fs::write(&file, format!("{}\n", identity.to_string().expose_secret()))
        .expect("identity written");
    (identity, file)
}

/// A fresh ed25519 key pair at `dir/name` (and `.pub`), made by ssh-keygen.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(ok.success(), "ssh-keygen failed");
    key
}

/// The SHA256 fingerprint of a public key file, as ssh-keygen prints it.
pub fn fingerprint(public: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .expect("ssh-keygen -lf");
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_string()
}

/// An HTTP backend on `host`'s 8080, on every address: only the
/// firewall decides who reaches it.
pub fn start_backend(lab: &Lab, host: usize) {
    let script = "#!/bin/sh\n\
        while IFS= read -r line; do case \"$line\" in ''|$(printf '\\r')) break;; esac; done\n\
        body=\"hello from $(hostname)\"\n\
        printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s\\n' \"$(( ${#body} + 1 ))\" \"$body\"\n";
    let install = format!(
        "printf '%s' '{}' > /usr/local/bin/backend && chmod 755 /usr/local/bin/backend && \
         systemctl stop backend 2>/dev/null; systemctl reset-failed backend 2>/dev/null; \
         systemd-run --quiet --unit=backend /usr/bin/systemd-socket-activate -l 8080 --inetd -a /usr/local/bin/backend",
        script.replace('\'', r"'\''")
    );
    let out = lab.sudo(host, &install);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Bounded wait (30 s) until each of `hosts` saw a handshake with each of
/// its `peers` mesh peers: the first handshakes follow the last host's
/// `wg-quick up` by up to one retry interval (5 s).
pub fn wait_for_handshakes(lab: &Lab, hosts: &[usize], peers: usize) {
    for _ in 0..30 {
        let fresh = hosts.iter().all(|&i| {
            let out = lab.sudo(i, "wg show wg0 latest-handshakes");
            let t = text(&out.stdout);
            t.lines().count() == peers && t.lines().all(|l| !l.trim().ends_with("\t0"))
        });
        if fresh {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("handshakes did not complete within 30 s");
}

/// The VM lab of `tests/lab_vm_*.rs`: host 1 a container, hosts 2 and 3
/// QEMU virtual machines, each with a blank 64 MiB data disk (/dev/vdb).
/// The test binaries share it (one boot per suite run) and each leaves it
/// in a state the other accepts.
pub fn vm_lab() -> Lab {
    lab_with("t-vm", 3, "10.124.20.0/24", Some(64), &["--vms", "2"])
}

/// A lab host's `/proc/sys/kernel/random/boot_id` (through `ops`), or None
/// while it cannot be reached.
pub fn boot_id(lab: &Lab, i: usize) -> Option<String> {
    let out = lab.sudo(i, "cat /proc/sys/kernel/random/boot_id");
    let id = text(&out.stdout).trim().to_string();
    (out.status.success() && !id.is_empty()).then_some(id)
}

/// Reboots the VM hosts `hosts` (all at once) and waits, bounded by
/// `limit`, until each is back with a new boot id and has finished booting
/// (`systemctl is-system-running --wait`). Returns each host's seconds from
/// the reboot command to a finished boot.
pub fn reboot_and_wait(lab: &Lab, hosts: &[usize], limit: std::time::Duration) -> Vec<f32> {
    let before: Vec<String> = hosts
        .iter()
        .map(|&i| boot_id(lab, i).unwrap_or_else(|| panic!("host {i} answers before its reboot")))
        .collect();
    let started = std::time::Instant::now();
    for &i in hosts {
        // The connection may drop before ssh reports the command's status.
        let _ = lab.sudo(i, "systemd-run --quiet --on-active=1 systemctl reboot");
    }
    let mut secs = vec![None; hosts.len()];
    while secs.iter().any(Option::is_none) {
        assert!(
            started.elapsed() < limit,
            "hosts {hosts:?} did not come back from a reboot within {limit:?} (console logs under {})",
            lab_state_dir(&lab.name).display()
        );
        for (n, &i) in hosts.iter().enumerate() {
            if secs[n].is_some() {
                continue;
            }
            if boot_id(lab, i).is_some_and(|id| id != before[n]) {
                let state = lab.sudo(i, "timeout 300 systemctl is-system-running --wait");
                eprintln!(
                    "host {i} rebooted: {} after {:.0}s",
                    text(&state.stdout).trim(),
                    started.elapsed().as_secs_f32()
                );
                secs[n] = Some(started.elapsed().as_secs_f32());
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    secs.into_iter().flatten().collect()
}

/// Statuses of a `verify --format json` run: (host, id) → (status, reason).
/// `rampart -i INV ARGS…`.
pub fn run(inv: &Path, args: &[&str]) -> Output {
    rampart()
        .arg("-i")
        .arg(inv)
        .args(args)
        .output()
        .expect("rampart runs")
}

/// verify's JSON output, or a panic that shows what verify printed.
pub fn verify_document(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// `verify --format json` on `inv`: its exit code and document.
pub fn verify_json(inv: &Path) -> (Option<i32>, serde_json::Value) {
    let out = run(inv, &["verify", "--format", "json"]);
    (out.status.code(), verify_document(&out))
}

pub fn verify_results(
    out: &Output,
) -> std::collections::BTreeMap<(String, String), (String, String)> {
    let v = verify_document(out);
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            let reason = r["reason"]
                .as_str()
                .or(r["observed"].as_str())
                .unwrap_or_default()
                .to_string();
            ((s("host"), s("id")), (s("status"), reason))
        })
        .collect()
}
