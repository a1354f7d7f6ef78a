//! The lab: real Debian hosts (12 or 13, provider-like or minimal) booted with systemd in systemd-nspawn,
//! each in its own network namespace on a private bridge, reached over real
//! SSH. It is rampart's embedded default target and what every end-to-end
//! test runs against.
//!
//! `up` is idempotent: a lab already running with the same shape is reused.
//! `down` removes every trace: processes, mounts, loop devices, namespaces,
//! bridge, NAT table, state and the generated inventory.

mod host;
mod image;
mod net;
mod sys;
mod vm;
mod vm_image;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use host::{HostKind, LabHost};
pub use image::{Flavour, Release};
pub use sys::LabError;
pub use vm::type_on_console;

/// What `lab up` is asked for.
#[derive(Debug, Clone)]
pub struct LabSpec {
    pub name: String,
    pub hosts: usize,
    pub disk_mb: Option<u64>,
    pub subnet: Ipv4Net,
    /// Where the inventory, lab key and known_hosts are written.
    pub dir: PathBuf,
    pub release: Release,
    pub flavour: Flavour,
    /// How many of the hosts (the last ones) are VMs instead of containers.
    pub vms: usize,
}

pub const DEFAULT_SUBNET: &str = "10.123.0.0/16";
pub const DEFAULT_NAME: &str = "lab";
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// A VM under software emulation boots in about 35 s alone on 2 cores;
/// several in parallel beside a loaded machine take longer.
const VM_BOOT_TIMEOUT: Duration = Duration::from_secs(480);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    pub id: String,
    pub subnet: Ipv4Net,
    pub bridge: String,
    pub nat_table: String,
    pub disk_mb: Option<u64>,
    #[serde(default)]
    pub release: Release,
    #[serde(default)]
    pub flavour: Flavour,
    pub inventory: PathBuf,
    pub key_dir: PathBuf,
    pub hosts: Vec<LabHost>,
}

impl LabState {
    pub fn running(&self) -> usize {
        self.hosts.iter().filter(|h| h.is_running()).count()
    }
    pub fn vms(&self) -> usize {
        self.hosts.iter().filter(|h| h.kind == HostKind::Vm).count()
    }
}

fn state_root() -> PathBuf {
    std::env::var_os("RAMPART_LAB_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/rampart/lab"))
}

fn state_dir(name: &str) -> PathBuf {
    state_root().join(name)
}

fn lab_id(name: &str) -> String {
    crate::inventory::hex_sha256(name.as_bytes())[..4].to_string()
}

pub fn load_state(name: &str) -> Result<Option<LabState>, LabError> {
    let path = state_dir(name).join("state.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            LabError::State(format!(
                "{} is corrupt ({e}); remove it with `rampart lab down --name {name}`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(sys::io(format!("reading {}", path.display()))(e)),
    }
}

fn save_state(state: &LabState) -> Result<(), LabError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| LabError::State(e.to_string()))?;
    sys::write_file(&state_dir(&state.name).join("state.json"), &json, 0o600)
}

fn require_root() -> Result<(), LabError> {
    if cfg!(target_os = "linux") && nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

pub fn validate_name(name: &str) -> Result<(), LabError> {
    if !name.is_empty()
        && name.len() <= 20
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Ok(())
    } else {
        Err(LabError::State(format!(
            "invalid lab name {name:?}; expected up to 20 lowercase letters, digits or `-`"
        )))
    }
}

/// Brings the lab up (or reuses it) and returns its state.
pub fn up(spec: &LabSpec) -> Result<LabState, LabError> {
    validate_name(&spec.name)?;
    require_root()?;
    let _lock = image::lock(&lock_path(&spec.name)?)?;
    if let Some(existing) = load_state(&spec.name)? {
        if existing.hosts.len() == spec.hosts
            && existing.disk_mb == spec.disk_mb
            && existing.subnet == spec.subnet
            && existing.release == spec.release
            && existing.flavour == spec.flavour
            && existing.vms() == spec.vms
            && existing.running() == existing.hosts.len()
        {
            write_inventory(&existing)?;
            return Ok(existing);
        }
        eprintln!(
            "lab {}: replacing the existing lab (different shape or stopped hosts)",
            spec.name
        );
        teardown(&existing);
    }
    if spec.hosts == 0 {
        return Err(LabError::State("--hosts must be at least 1".into()));
    }
    if spec.vms > spec.hosts {
        return Err(LabError::State(format!(
            "--vms {} is more than --hosts {}",
            spec.vms, spec.hosts
        )));
    }
    if spec.vms > 0 && spec.flavour == Flavour::Minimal {
        return Err(LabError::State(
            "VM hosts use the provider image; --minimal is for containers only".into(),
        ));
    }
    image::ensure_host_tools(spec.vms > 0)?;
    let images = Images {
        container: if spec.vms < spec.hosts {
            Some(image::ensure_image(spec.release, spec.flavour)?)
        } else {
            None
        },
        guest: if spec.vms > 0 {
            let guest = vm_image::ensure_guest_image(spec.release)?;
            let accel = vm::acceleration(&guest);
            eprintln!(
                "lab {}: {} VM host(s) under {}",
                spec.name,
                spec.vms,
                accel.name()
            );
            Some((guest, accel))
        } else {
            None
        },
    };
    let state = build(spec, &images)?;
    Ok(state)
}

fn lock_path(name: &str) -> Result<PathBuf, LabError> {
    let root = state_root();
    std::fs::create_dir_all(&root).map_err(sys::io(format!("creating {}", root.display())))?;
    Ok(root.join(format!(".{name}.lock")))
}

/// The images a lab's hosts boot from: the container tree, the VM guest.
struct Images {
    container: Option<PathBuf>,
    guest: Option<(vm_image::GuestImage, vm::Accel)>,
}

fn build(spec: &LabSpec, images: &Images) -> Result<LabState, LabError> {
    let id = lab_id(&spec.name);
    let dir = state_dir(&spec.name);
    std::fs::create_dir_all(&dir).map_err(sys::io(format!("creating {}", dir.display())))?;
    let key_dir = absolute(&spec.dir.join(&spec.name))?;
    let inventory = absolute(&spec.dir.join(format!("{}.yaml", spec.name)))?;
    let mut state = LabState {
        name: spec.name.clone(),
        id: id.clone(),
        subnet: spec.subnet,
        bridge: format!("rampart-{id}"),
        nat_table: format!("rampart_lab_{id}"),
        disk_mb: spec.disk_mb,
        release: spec.release,
        flavour: spec.flavour,
        inventory,
        key_dir,
        hosts: Vec::new(),
    };
    for i in 1..=spec.hosts {
        state.hosts.push(LabHost {
            name: format!("{}-{i}", spec.name),
            kind: if i > spec.hosts - spec.vms {
                HostKind::Vm
            } else {
                HostKind::Container
            },
            address: net::host_address(&spec.subnet, i)?,
            netns: format!("rampart-{}-{i}", spec.name),
            veth: format!("rv{id}-{i}"),
            dir: dir.join(format!("h{i}")),
            pid: None,
            loop_device: None,
            host_keys: Vec::new(),
        });
    }
    // Saved before anything is created, so `down` can clean up a failed `up`.
    save_state(&state)?;
    let result = boot_all(&mut state, images);
    save_state(&state)?;
    result?;
    write_inventory(&state)?;
    wait_until_booted(&state)?;
    Ok(state)
}

fn boot_all(state: &mut LabState, images: &Images) -> Result<(), LabError> {
    let pubkey = ensure_lab_key(&state.key_dir)?;
    net::raise_inotify_limit(8192)?;
    net::create_bridge(&state.bridge, &state.subnet)?;
    net::enable_nat(&state.nat_table, &state.bridge, &state.subnet)?;
    let started = Instant::now();
    for h in &mut state.hosts {
        let _ = std::fs::remove_dir_all(&h.dir);
        std::fs::create_dir_all(&h.dir)
            .map_err(sys::io(format!("creating {}", h.dir.display())))?;
        match h.kind {
            HostKind::Container => {
                net::create_host_netns(&h.netns, &h.veth, &state.bridge, h.address, &state.subnet)?;
                if let Some(mb) = state.disk_mb {
                    h.loop_device = Some(host::attach_disk(h, mb)?);
                }
            }
            HostKind::Vm => vm::create_tap(&h.veth, &state.bridge)?,
        }
    }
    let resolvers = vm::resolvers(&host::resolv_conf());
    // Preparing roots (ssh-keygen) and booting run in parallel per host.
    let results: Vec<Result<(Vec<String>, i32), LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> = state
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let machine = format!("rampart-{}-{}", state.id, h.name);
                let (pubkey, resolvers, state) = (pubkey.clone(), &resolvers, &*state);
                s.spawn(move || match h.kind {
                    HostKind::Container => {
                        let image = images.container.as_deref().ok_or_else(|| {
                            LabError::State("no container image was prepared".into())
                        })?;
                        let keys = host::prepare_root(h, image, &pubkey)?;
                        let pid = host::boot(h, &machine)?;
                        Ok((keys, pid))
                    }
                    HostKind::Vm => {
                        let (guest, accel) = images.guest.as_ref().ok_or_else(|| {
                            LabError::State("no VM guest image was prepared".into())
                        })?;
                        let boot = vm::VmBoot {
                            guest,
                            accel: *accel,
                            subnet: &state.subnet,
                            lab_id: &state.id,
                            index: i + 1,
                            resolvers,
                            authorized_key: &pubkey,
                        };
                        let pid = vm::boot(h, &boot, state.disk_mb)?;
                        Ok((Vec::new(), pid))
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(LabError::State("a boot thread panicked".into())))
            })
            .collect()
    });
    let mut first_error = None;
    for (h, r) in state.hosts.iter_mut().zip(results) {
        match r {
            Ok((keys, pid)) => {
                h.host_keys = keys;
                h.pid = Some(pid);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let waits: Vec<Result<Option<Vec<String>>, LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> = state
            .hosts
            .iter()
            .map(|h| {
                s.spawn(move || match h.kind {
                    HostKind::Container => host::wait_for_ssh(h, BOOT_TIMEOUT).map(|()| None),
                    HostKind::Vm => vm::wait_until_ready(h, VM_BOOT_TIMEOUT).map(Some),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(LabError::State("a wait thread panicked".into())))
            })
            .collect()
    });
    for (h, w) in state.hosts.iter_mut().zip(waits) {
        if let Some(keys) = w? {
            h.host_keys = keys;
        }
    }
    eprintln!(
        "lab {}: {} hosts booted (SSH answering, logins allowed) after {:.1}s",
        state.name,
        state.hosts.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, LabError> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(sys::io("reading the current directory"))?
        .join(p))
}

/// The lab's client key (generated once per key directory).
fn ensure_lab_key(key_dir: &Path) -> Result<String, LabError> {
    let key = key_dir.join("id_ed25519");
    if !key.exists() {
        std::fs::create_dir_all(key_dir)
            .map_err(sys::io(format!("creating {}", key_dir.display())))?;
        sys::run(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "rampart-lab",
                "-f",
                &key.to_string_lossy(),
            ],
        )?;
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .map_err(sys::io("reading the lab public key"))?;
    Ok(public.trim().to_string())
}

/// Writes the lab inventory and its known_hosts (the hosts' real keys, so
/// no first-contact trust is needed). Like a fresh provider fleet, the hosts
/// accept only root until `rampart provision` creates the operator `ops`
/// (the lab key), which rampart then connects as.
fn write_inventory(state: &LabState) -> Result<(), LabError> {
    let pubkey = ensure_lab_key(&state.key_dir)?;
    let mut known = String::new();
    for h in &state.hosts {
        for k in &h.host_keys {
            known.push_str(&format!("{} {k}\n", h.address));
        }
    }
    sys::write_file(&state.key_dir.join("known_hosts"), known.as_bytes(), 0o600)?;
    let rel = state
        .key_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| state.name.clone());
    // Software-emulated VMs install packages an order of magnitude slower.
    let timeout = if state.vms() > 0 {
        "  command_timeout: 2400\n"
    } else {
        ""
    };
    let mut y = format!(
        "# Written by `rampart lab up`; removed by `rampart lab down`.\n\
         ssh:\n  user: ops\n  bootstrap_user: root\n  identity: {rel}/id_ed25519\n  known_hosts: {rel}/known_hosts\n{timeout}\
         admin_sources: [{subnet}]\n\
         operators:\n  - name: ops\n    keys: [\"{pubkey}\"]\n\
         hosts:\n",
        subnet = state.subnet
    );
    for h in &state.hosts {
        y.push_str(&format!(
            "  {}:\n    address: {}\n    roles: [base]\n",
            h.name, h.address
        ));
        if state.disk_mb.is_some() {
            y.push_str("    disks: [/dev/vdb]\n");
        }
    }
    sys::write_file(&state.inventory, y.as_bytes(), 0o644)
}

/// Removes every lab whose name matches `pattern` (a name or a glob);
/// returns the names removed.
pub fn down_matching(pattern: &str) -> Result<Vec<String>, LabError> {
    if !pattern.contains(['*', '?', '[']) {
        return Ok(if down(pattern)? {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        });
    }
    require_root()?;
    let glob = globset::Glob::new(pattern)
        .map_err(|e| LabError::State(format!("invalid lab name pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let mut removed = Vec::new();
    for lab in list()? {
        if glob.is_match(&lab.name) && down(&lab.name)? {
            removed.push(lab.name);
        }
    }
    Ok(removed)
}

/// Stops and removes the lab. Safe to run on a half-built or absent lab.
pub fn down(name: &str) -> Result<bool, LabError> {
    validate_name(name)?;
    require_root()?;
    let _lock = image::lock(&lock_path(name)?)?;
    let Some(state) = load_state(name)? else {
        return Ok(false);
    };
    teardown(&state);
    let _ = std::fs::remove_file(&state.inventory);
    let _ = std::fs::remove_dir_all(&state.key_dir);
    Ok(true)
}

fn teardown(state: &LabState) {
    std::thread::scope(|s| {
        for h in &state.hosts {
            s.spawn(move || match h.kind {
                HostKind::Container => host::stop(h),
                HostKind::Vm => vm::stop(h),
            });
        }
    });
    for h in &state.hosts {
        net::remove_host_netns(&h.netns, &h.veth);
    }
    net::remove_nat(&state.nat_table);
    net::remove_bridge(&state.bridge);
    let _ = std::fs::remove_dir_all(state_dir(&state.name));
}

/// Every lab known on this machine.
pub fn list() -> Result<Vec<LabState>, LabError> {
    let mut labs = Vec::new();
    let Ok(entries) = std::fs::read_dir(state_root()) else {
        return Ok(labs);
    };
    for e in entries.flatten() {
        if e.path().join("state.json").exists() {
            if let Some(s) = load_state(&e.file_name().to_string_lossy())? {
                labs.push(s);
            }
        }
    }
    labs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(labs)
}

/// Waits until systemd reports the boot finished on every host: before
/// that, pam_nologin refuses every login but root's, so a first
/// `provision` could fail to prove the operator's login.
fn wait_until_booted(state: &LabState) -> Result<(), LabError> {
    let key = state.key_dir.join("id_ed25519");
    let known = state.key_dir.join("known_hosts");
    let results: Vec<Result<(), LabError>> = std::thread::scope(|s| {
        let handles: Vec<_> = state
            .hosts
            .iter()
            .map(|h| {
                let (key, known) = (&key, &known);
                s.spawn(move || {
                    let out = std::process::Command::new("ssh")
                        .args([
                            "-o",
                            "BatchMode=yes",
                            "-o",
                            "StrictHostKeyChecking=yes",
                            "-o",
                            "LogLevel=ERROR",
                            "-o",
                            "ConnectTimeout=10",
                        ])
                        .arg("-o")
                        .arg(format!("UserKnownHostsFile={}", known.display()))
                        .arg("-i")
                        .arg(key)
                        .arg(format!("root@{}", h.address))
                        .arg("timeout 120 systemctl is-system-running --wait")
                        .output()
                        .map_err(sys::io("running ssh"))?;
                    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                    // `degraded` is a finished boot with a failed unit (the
                    // container lacks some hardware); both accept logins.
                    if state == "running" || state == "degraded" {
                        Ok(())
                    } else {
                        Err(LabError::State(format!(
                            "{}: boot did not finish (systemd: {state:?}); see {}",
                            h.name,
                            h.console_log().display()
                        )))
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(LabError::State("a boot wait thread panicked".into())))
            })
            .collect()
    });
    results.into_iter().collect()
}
