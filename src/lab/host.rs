//! One lab host: an overlay root over the cached image, its own identity
//! (hostname, machine-id, SSH host keys), an optional blank disk on a loop
//! device bound in as /dev/vdb, and systemd booted as PID 1 by
//! systemd-nspawn inside the host's network namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::sys::{self, io, LabError};

/// What a lab host is: a container shares this machine's kernel; a VM has
/// its own (device-mapper, reboot, kernel WireGuard, auditd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    #[default]
    Container,
    Vm,
}

impl HostKind {
    pub fn name(self) -> &'static str {
        match self {
            HostKind::Container => "container",
            HostKind::Vm => "vm",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabHost {
    pub name: String,
    #[serde(default)]
    pub kind: HostKind,
    pub address: Ipv4Addr,
    pub netns: String,
    pub veth: String,
    pub dir: PathBuf,
    pub pid: Option<i32>,
    pub loop_device: Option<String>,
    /// OpenSSH public host keys, for known_hosts.
    pub host_keys: Vec<String>,
}

impl LabHost {
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    pub fn is_running(&self) -> bool {
        self.pid.is_some_and(|p| {
            Path::new(&format!("/proc/{p}")).exists()
                && match self.kind {
                    HostKind::Container => is_nspawn(p),
                    HostKind::Vm => super::vm::is_qemu(p),
                }
        })
    }
}

fn is_nspawn(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd-nspawn")
}

/// Mounts the overlay root and writes the host's own identity into it.
pub fn prepare_root(
    host: &LabHost,
    image: &Path,
    lab_pubkey: &str,
) -> Result<Vec<String>, LabError> {
    let (upper, work, merged) = (host.dir.join("upper"), host.dir.join("work"), host.merged());
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        image.display(),
        upper.display(),
        work.display()
    );
    sys::run(
        "mount",
        &[
            "-t",
            "overlay",
            "overlay",
            "-o",
            &opts,
            &merged.to_string_lossy(),
        ],
    )?;
    let etc = merged.join("etc");
    sys::write_file(
        &etc.join("hostname"),
        format!("{}\n", host.name).as_bytes(),
        0o644,
    )?;
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{0}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        host.name
    );
    sys::write_file(&etc.join("hosts"), hosts.as_bytes(), 0o644)?;
    sys::write_file(
        &etc.join("machine-id"),
        format!("{}\n", random_hex(16)?).as_bytes(),
        0o444,
    )?;
    sys::write_file(&etc.join("resolv.conf"), resolv_conf().as_bytes(), 0o644)?;
    let ssh_dir = merged.join("root/.ssh");
    sys::write_file(
        &ssh_dir.join("authorized_keys"),
        format!("{lab_pubkey}\n").as_bytes(),
        0o600,
    )?;
    std::fs::set_permissions(
        &ssh_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(io("chmod /root/.ssh"))?;
    let mut pubs = Vec::new();
    for (kind, bits) in [("ed25519", None), ("ecdsa", Some("256"))] {
        let key = etc.join(format!("ssh/ssh_host_{kind}_key"));
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        let key_s = key.to_string_lossy().to_string();
        let comment = format!("root@{}", host.name);
        let mut args = vec![
            "-q",
            "-t",
            kind,
            "-N",
            "",
            "-C",
            comment.as_str(),
            "-f",
            key_s.as_str(),
        ];
        if let Some(b) = bits {
            args.extend(["-b", b]);
        }
        sys::run("ssh-keygen", &args)?;
        let public =
            std::fs::read_to_string(format!("{key_s}.pub")).map_err(io("reading a host key"))?;
        pubs.push(
            public
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    Ok(pubs)
}

/// The machine's resolvers, unless they are loopback stubs a container can't reach.
pub(super) fn resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let usable: Vec<&str> = host
        .lines()
        .filter(|l| l.starts_with("nameserver") && !l.contains(" 127.") && !l.contains(" ::1"))
        .collect();
    if usable.is_empty() {
        let upstream =
            std::fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or_default();
        let lines: Vec<&str> = upstream
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        return format!("{}\n", lines.join("\n"));
    }
    format!("{}\n", usable.join("\n"))
}

pub fn random_hex(bytes: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(io("reading /dev/urandom"))?;
    Ok(data_encoding::HEXLOWER.encode(&buf))
}

/// Creates a sparse blank disk and attaches it to a loop device.
pub fn attach_disk(host: &LabHost, megabytes: u64) -> Result<String, LabError> {
    let image = host.dir.join("disk.img");
    let f = std::fs::File::create(&image).map_err(io(format!("creating {}", image.display())))?;
    f.set_len(megabytes * 1024 * 1024)
        .map_err(io("sizing the disk image"))?;
    drop(f);
    let dev = sys::run("losetup", &["--find", "--show", &image.to_string_lossy()])?;
    Ok(dev.trim().to_string())
}

/// Starts systemd-nspawn detached; returns its pid.
pub fn boot(host: &LabHost, machine: &str) -> Result<i32, LabError> {
    let log = std::fs::File::create(host.console_log()).map_err(io("creating the console log"))?;
    let log_err = log.try_clone().map_err(io("cloning the console log"))?;
    let mut cmd = Command::new("systemd-nspawn");
    cmd.args([
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--console=passive",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        // Containers get their own netns, so nft and wg need CAP_NET_ADMIN.
        "--capability=CAP_NET_ADMIN",
    ]);
    cmd.arg(format!("--directory={}", host.merged().display()));
    cmd.arg(format!("--machine={machine}"));
    cmd.arg(format!("--hostname={}", host.name));
    cmd.arg(format!(
        "--network-namespace-path=/run/netns/{}",
        host.netns
    ));
    // The kernel here has no WireGuard module: the mesh runs wireguard-go,
    // which needs a TUN device.
    if std::path::Path::new("/dev/net/tun").exists() {
        cmd.arg("--bind=/dev/net/tun");
    }
    if let Some(dev) = &host.loop_device {
        cmd.arg(format!("--bind={dev}:/dev/vdb"));
    }
    // Each host owns its network namespace, so its net.* sysctls are its
    // own to set (as on a real host); kernel-global ones stay read-only.
    cmd.env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "network");
    cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
    // Its own session, so the container outlives the `lab up` process.
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: setsid(2) is one, and the closure
    // neither allocates nor takes a lock (the error is built from errno).
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(io("starting systemd-nspawn"))?;
    i32::try_from(child.id()).map_err(|_| LabError::State("pid out of range".into()))
}

/// Waits until the host's sshd sends its banner and logins are allowed.
pub fn wait_for_ssh(host: &LabHost, timeout: Duration) -> Result<(), LabError> {
    let addr = std::net::SocketAddr::from((host.address, 22));
    wait_until(host, timeout, Duration::from_millis(200), || {
        (sshd_answers(addr) && logins_allowed(host)).then_some(())
    })
}

/// Polls `ready` until it gives a value, the host stops, or `timeout`.
pub(super) fn wait_until<T>(
    host: &LabHost,
    timeout: Duration,
    every: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Result<T, LabError> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(v) = ready() {
            return Ok(v);
        }
        if !host.is_running() {
            break;
        }
        std::thread::sleep(every);
    }
    Err(LabError::BootTimeout {
        host: host.name.clone(),
        address: host.address.to_string(),
        secs: timeout.as_secs(),
        log: host.console_log(),
    })
}

/// Whether an SSH server answers at `addr` with its banner.
pub(super) fn sshd_answers(addr: std::net::SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 8];
    let ok = s.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-");
    if ok {
        let _ = s.write_all(b"SSH-2.0-rampart-lab-probe\r\n");
    }
    ok
}

/// SIGTERM to the host's process, SIGKILL if it outlives `grace`.
pub(super) fn terminate(host: &LabHost, pid: i32, grace: Duration) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && host.is_running() {
        std::thread::sleep(Duration::from_millis(100));
    }
    if host.is_running() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Whether the host has finished booting as far as logins go: sshd answers
/// before `systemd-user-sessions.service` removes /run/nologin, and until
/// then pam_nologin refuses every account but root. Read through the
/// container's init (`/proc/PID/root` enters its mount namespace, where its
/// /run lives).
fn logins_allowed(host: &LabHost) -> bool {
    let Some(init) = host.pid.and_then(container_init) else {
        return false;
    };
    !Path::new(&format!("/proc/{init}/root/run/nologin")).exists()
}

/// The container's PID 1 as this machine numbers it: nspawn's child.
fn container_init(nspawn: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Stops the container (systemd powers off on SIGTERM to nspawn), then
/// unmounts the root and detaches the disk.
pub fn stop(host: &LabHost) {
    if let Some(pid) = host.pid.filter(|p| is_nspawn(*p)) {
        terminate(host, pid, Duration::from_secs(15));
    }
    let merged = host.merged();
    for _ in 0..5 {
        if !is_mounted(&merged) {
            break;
        }
        sys::run_quiet("umount", &[&merged.to_string_lossy()]);
        if is_mounted(&merged) {
            sys::run_quiet("umount", &["-l", &merged.to_string_lossy()]);
        }
    }
    if let Some(dev) = &host.loop_device {
        sys::run_quiet("losetup", &["-d", dev]);
    }
}

pub fn is_mounted(path: &Path) -> bool {
    let target = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&*target))
        })
        .unwrap_or(false)
}
