//! The lab's Debian 12 image: built once with debootstrap, cached, and used
//! read-only as the lower layer of every host's overlay root.
//!
//! It looks like a fresh provider image: systemd, OpenSSH with root login by
//! key, Debian's archive in sources.list, no host keys and no machine-id
//! (each host gets its own).

use std::path::{Path, PathBuf};

use super::sys::{self, io, LabError};

/// Packages of the image beyond debootstrap's minbase.
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "procps",
    "netbase",
    "less",
    "apt-utils",
    "kmod",
];
const SUITE: &str = "bookworm";
/// Bumped when the post-install changes below change, to rebuild caches.
const RECIPE_VERSION: u32 = 1;
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// System packages the lab needs on the machine that runs it.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("debootstrap", "debootstrap"),
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("losetup", "mount"),
    ("ssh-keygen", "openssh-client"),
];

/// Installs the machine's missing lab tools with apt.
pub fn ensure_host_tools() -> Result<(), LabError> {
    let missing: Vec<&str> = HOST_TOOLS
        .iter()
        .filter(|(bin, _)| !sys::have(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("lab: installing {}", missing.join(" "));
    sys::run("apt-get", &["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    sys::run("apt-get", &args).map(|_| ())
}

pub fn cache_root() -> PathBuf {
    std::env::var_os("RAMPART_LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rampart/lab"))
}

fn recipe_id() -> String {
    let recipe = format!("{SUITE}|minbase|{}|{RECIPE_VERSION}", PACKAGES.join(","));
    crate::inventory::hex_sha256(recipe.as_bytes())[..12].to_string()
}

/// Returns the cached image's root, building it first if needed.
pub fn ensure_image() -> Result<PathBuf, LabError> {
    let root = cache_root();
    let image = root.join(format!("debian12-{}", recipe_id()));
    let rootfs = image.join("rootfs");
    if rootfs.join("etc/os-release").exists() {
        return Ok(rootfs);
    }
    std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
    let _lock = lock(&root.join(".build.lock"))?;
    if rootfs.join("etc/os-release").exists() {
        return Ok(rootfs); // built by a concurrent run while we waited
    }
    let staging = root.join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let mirror = std::env::var("RAMPART_LAB_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.to_string());
    eprintln!(
        "lab: building the Debian 12 image once (debootstrap from {mirror}); later runs reuse it"
    );
    let include = format!("--include={}", PACKAGES.join(","));
    let staged_root = staging.join("rootfs");
    let staged = staged_root.to_string_lossy().to_string();
    sys::run(
        "debootstrap",
        &["--variant=minbase", &include, SUITE, &staged, &mirror],
    )?;
    make_provider_like(&staged_root, &mirror)?;
    let _ = std::fs::remove_dir_all(&image);
    std::fs::rename(&staging, &image)
        .map_err(io(format!("moving the image into {}", image.display())))?;
    Ok(rootfs)
}

/// Post-install changes that make the image behave like a fresh provider image.
fn make_provider_like(root: &Path, mirror: &str) -> Result<(), LabError> {
    for entry in std::fs::read_dir(root.join("etc/ssh")).map_err(io("reading etc/ssh"))? {
        let path = entry.map_err(io("reading etc/ssh"))?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ssh_host_"))
        {
            std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    sys::write_file(&root.join("etc/machine-id"), b"", 0o444)?;
    let _ = std::fs::remove_file(root.join("var/lib/dbus/machine-id"));
    let security = mirror.replace("/debian", "/debian-security");
    let sources = format!(
        "deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\ndeb {security} {SUITE}-security main\n"
    );
    sys::write_file(
        &root.join("etc/apt/sources.list"),
        sources.as_bytes(),
        0o644,
    )?;
    let archives = root.join("var/cache/apt/archives");
    if let Ok(entries) = std::fs::read_dir(&archives) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// An exclusive advisory lock, held until the returned guard is dropped.
pub fn lock(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, LabError> {
    use nix::fcntl::{Flock, FlockArg};
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| LabError::Io {
        context: format!("locking {}", path.display()),
        source: e.into(),
    })
}
