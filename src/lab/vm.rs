//! VM lab hosts: QEMU guests with their own kernel, initramfs, virtio disks
//! and a tap on the lab bridge, for what containers cannot do
//! (device-mapper, reboot, kernel WireGuard, auditd, kernel sysctls).
//!
//! Each VM boots Debian's kernel directly (QEMU boots it again when the
//! guest reboots) from a copy-on-write qcow2 overlay of the cached guest
//! image. Its serial console is a Unix socket (`console.sock`, the
//! "provider console": tests type into it) that is also logged to
//! `console.log`, where the lab reads the host keys the guest made and
//! the line that says logins are allowed.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::host::{sshd_answers, terminate, wait_until, LabHost};
use super::image::cache_root;
use super::net::gateway;
use super::sys::{self, io, LabError};
use super::vm_image::GuestImage;

/// Sized for software emulation on a 2-core machine.
const VM_MEMORY_MIB: &str = "768";
const VM_CPUS: &str = "1";
/// How long a KVM probe may take before KVM is judged not to work here.
const KVM_PROBE: Duration = Duration::from_secs(20);

/// How the guests are run on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => &["-accel", "tcg"],
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG (software emulation)",
        }
    }
}

/// Whether KVM boots a guest kernel here: `/dev/kvm` can exist and still
/// hang a nested guest right after decompression, so the guest's own kernel
/// is booted without a root (it must reach its "Kernel panic" within the
/// probe's bound). The verdict is kept for this machine's boot.
pub fn acceleration(guest: &GuestImage) -> Accel {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let verdict = cache_root().join(format!("kvm-probe-{}", boot_id.trim()));
    if let Ok(v) = std::fs::read_to_string(&verdict) {
        return if v.trim() == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
    }
    let accel = probe_kvm(guest);
    if accel == Accel::Tcg {
        eprintln!(
            "lab: KVM does not boot a guest kernel on this machine (probe of {}s); VMs run under TCG, software emulation (slower)",
            KVM_PROBE.as_secs()
        );
    }
    let _ = std::fs::write(&verdict, if accel == Accel::Kvm { "kvm" } else { "tcg" });
    accel
}

fn probe_kvm(guest: &GuestImage) -> Accel {
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    else {
        return Accel::Tcg;
    };
    drop(f);
    let log = std::env::temp_dir().join(format!("rampart-kvm-probe-{}.log", std::process::id()));
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults"])
        .args(["-display", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-kernel")
        .arg(&guest.kernel)
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Accel::Tcg;
    };
    let deadline = Instant::now() + KVM_PROBE;
    let mut panicked = false;
    while Instant::now() < deadline {
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Kernel panic")) {
            panicked = true;
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    let panicked =
        panicked || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Kernel panic"));
    let _ = std::fs::remove_file(&log);
    if panicked {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

impl LabHost {
    pub fn console_socket(&self) -> PathBuf {
        self.dir.join("console.sock")
    }
    fn monitor_socket(&self) -> PathBuf {
        self.dir.join("monitor.sock")
    }
    fn pid_file(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
}

/// A stable, locally administered MAC per lab host.
fn mac_for(lab_id: &str, index: usize) -> String {
    let h = crate::inventory::hex_sha256(format!("{lab_id}-{index}").as_bytes());
    format!("52:54:00:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])
}

/// Creates the host's tap on the lab bridge (in place of a container's veth).
pub fn create_tap(tap: &str, bridge: &str) -> Result<(), LabError> {
    sys::run_quiet("ip", &["link", "del", tap]);
    sys::run("ip", &["tuntap", "add", "dev", tap, "mode", "tap"])?;
    sys::run("ip", &["link", "set", tap, "master", bridge, "up"])?;
    Ok(())
}

/// Everything a VM is booted with besides its disks.
pub struct VmBoot<'a> {
    pub guest: &'a GuestImage,
    pub accel: Accel,
    pub subnet: &'a Ipv4Net,
    pub lab_id: &'a str,
    pub index: usize,
    pub resolvers: &'a [String],
    /// The lab's public key, root's authorized key (as a provider's panel
    /// puts the customer's key on a new server).
    pub authorized_key: &'a str,
}

/// Creates the overlay root (and the blank data disk), then starts QEMU
/// detached; returns its pid.
pub fn boot(host: &LabHost, b: &VmBoot, disk_mb: Option<u64>) -> Result<i32, LabError> {
    let root = host.dir.join("root.qcow2");
    sys::run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            &b.guest.root.to_string_lossy(),
            &root.to_string_lossy(),
        ],
    )?;
    let cmdline = format!(
        "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={name} \
         rampart.name={name} rampart.addr={addr}/{prefix} rampart.gw={gw} rampart.dns={dns} \
         rampart.key={key}",
        name = host.name,
        addr = host.address,
        prefix = b.subnet.prefix_len(),
        gw = gateway(b.subnet),
        dns = b.resolvers.join(","),
        key = data_encoding::BASE64.encode(b.authorized_key.as_bytes()),
    );
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-name", &host.name]);
    cmd.args(b.accel.args());
    cmd.args(["-smp", VM_CPUS, "-m", VM_MEMORY_MIB, "-nodefaults"]);
    cmd.args(["-display", "none", "-vga", "none"]);
    cmd.arg("-kernel").arg(&b.guest.kernel);
    cmd.arg("-initrd").arg(&b.guest.initrd);
    cmd.args(["-append", &cmdline]);
    cmd.arg("-drive").arg(format!(
        "file={},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        root.display()
    ));
    if let Some(mb) = disk_mb {
        let disk = host.dir.join("disk.img");
        let f = std::fs::File::create(&disk).map_err(io(format!("creating {}", disk.display())))?;
        f.set_len(mb * 1024 * 1024)
            .map_err(io("sizing the data disk"))?;
        drop(f);
        cmd.arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", disk.display()));
    }
    cmd.args(["-object", "rng-random,filename=/dev/urandom,id=rng0"]);
    cmd.args(["-device", "virtio-rng-pci,rng=rng0"]);
    cmd.arg("-netdev").arg(format!(
        "tap,id=n0,ifname={},script=no,downscript=no",
        host.veth
    ));
    cmd.arg("-device").arg(format!(
        "virtio-net-pci,netdev=n0,mac={}",
        mac_for(b.lab_id, b.index)
    ));
    cmd.arg("-chardev").arg(format!(
        "socket,id=con,path={},server=on,wait=off,logfile={},logappend=on",
        host.console_socket().display(),
        host.console_log().display()
    ));
    cmd.args(["-serial", "chardev:con"]);
    cmd.arg("-monitor").arg(format!(
        "unix:{},server=on,wait=off",
        host.monitor_socket().display()
    ));
    cmd.arg("-pidfile").arg(host.pid_file());
    cmd.arg("-daemonize");
    let rendered = format!("qemu-system-x86_64 for {}", host.name);
    let out = cmd.output().map_err(|e| LabError::Command {
        command: rendered.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: rendered,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let pid = std::fs::read_to_string(host.pid_file()).map_err(io("reading QEMU's pid file"))?;
    pid.trim()
        .parse()
        .map_err(|_| LabError::State(format!("QEMU's pid file holds {pid:?}")))
}

pub fn is_qemu(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim().starts_with("qemu-system"))
}

/// Waits until the guest said on its console that logins are allowed and
/// its sshd answers; returns the host keys it printed.
pub fn wait_until_ready(host: &LabHost, timeout: Duration) -> Result<Vec<String>, LabError> {
    let addr = std::net::SocketAddr::from((host.address, 22));
    wait_until(host, timeout, Duration::from_millis(500), || {
        let log = std::fs::read_to_string(host.console_log()).unwrap_or_default();
        if !log.contains("rampart-lab: ready") || !sshd_answers(addr) {
            return None;
        }
        Some(host_keys_in(&log)).filter(|keys| keys.len() >= 2)
    })
}

/// The host keys of the guest's latest boot, as `TYPE BASE64`.
fn host_keys_in(console: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    const MARK: &str = "rampart-lab: hostkey ";
    for line in console.lines() {
        // systemd's status output shares the console: the line may start
        // with its escape sequences.
        let Some(at) = line.find(MARK) else {
            continue;
        };
        let fields: Vec<&str> = line[at + MARK.len()..].split_whitespace().take(2).collect();
        let [kind, key] = fields[..] else {
            continue;
        };
        keys.retain(|k| !k.starts_with(&format!("{kind} ")));
        keys.push(format!("{kind} {key}"));
    }
    keys
}

/// Stops QEMU; the guest's disks go with the lab's directory and its tap
/// with the host's link (`net::remove_host_netns`).
pub fn stop(host: &LabHost) {
    if let Some(pid) = host.pid.filter(|p| is_qemu(*p)) {
        terminate(host, pid, Duration::from_secs(10));
    }
}

/// The machine's resolvers a guest can reach (not loopback stubs).
pub fn resolvers(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|a| a.trim().to_string())
        .filter(|a| a.parse::<Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
        .collect()
}

/// Types `text` on the guest's serial console.
pub fn type_on_console(socket: &Path, text: &str) -> Result<(), LabError> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(io(format!("connecting to {}", socket.display())))?;
    s.write_all(text.as_bytes())
        .map_err(io("writing to the console"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_boot_s_keys_win() {
        let log = "rampart-lab: hostkey ssh-ed25519 AAAA1\r\nrampart-lab: hostkey ecdsa-sha2-nistp256 BBBB1\r\n\
                   noise\n\x1b[Krampart-lab: hostkey ssh-ed25519 AAAA2\r\n";
        assert_eq!(
            host_keys_in(log),
            vec!["ecdsa-sha2-nistp256 BBBB1", "ssh-ed25519 AAAA2"]
        );
    }

    #[test]
    fn macs_are_local_and_distinct() {
        let (a, b) = (mac_for("ab12", 1), mac_for("ab12", 2));
        assert!(a.starts_with("52:54:00:") && a.len() == 17, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn loopback_resolvers_are_left_out() {
        let r = resolvers("nameserver 127.0.0.53\nnameserver 9.9.9.9\n# x\nnameserver ::1\n");
        assert_eq!(r, vec!["9.9.9.9"]);
    }
}
