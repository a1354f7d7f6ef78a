//! The lab's Debian images: built once per release and flavour with
//! debootstrap from Debian's archive, cached, and used read-only as the
//! lower layer of every host's overlay root.
//!
//! The `provider` flavour looks like a fresh provider image: systemd,
//! OpenSSH with root login by key, Debian's archive in the release's own
//! sources format, no host keys and no machine-id (each host gets its own).
//! The `minimal` flavour is the barest image a provider ships: debootstrap's
//! minbase plus only what boots and answers SSH (no netbase, sudo, python,
//! curl, iproute2 or ca-certificates), so a dependency rampart forgot to
//! declare surfaces in tests instead of on a customer's host.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sys::{self, io, LabError};

/// The Debian releases the lab builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Release {
    #[serde(rename = "12")]
    Debian12,
    #[default]
    #[serde(rename = "13")]
    Debian13,
}

impl Release {
    pub fn parse(s: &str) -> Result<Release, LabError> {
        match s {
            "12" | "bookworm" => Ok(Release::Debian12),
            "13" | "trixie" => Ok(Release::Debian13),
            other => Err(LabError::State(format!(
                "unknown Debian release {other:?}; expected 12 (bookworm) or 13 (trixie)"
            ))),
        }
    }
    pub fn number(self) -> &'static str {
        match self {
            Release::Debian12 => "12",
            Release::Debian13 => "13",
        }
    }
    pub fn suite(self) -> &'static str {
        match self {
            Release::Debian12 => "bookworm",
            Release::Debian13 => "trixie",
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Debian {}", self.number())
    }
}

/// What the image carries beyond debootstrap's minbase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    #[default]
    Provider,
    Minimal,
}

impl Flavour {
    fn packages(self) -> &'static [&'static str] {
        match self {
            Flavour::Provider => PROVIDER_PACKAGES,
            Flavour::Minimal => MINIMAL_PACKAGES,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Provider => "provider",
            Flavour::Minimal => "minimal",
        }
    }
}

/// A provider's cloud image: what Hetzner's and OVHcloud's Debian images
/// have beyond minbase that matters to rampart.
pub(super) const PROVIDER_PACKAGES: &[&str] = &[
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
/// Only what boots with systemd and answers SSH.
const MINIMAL_PACKAGES: &[&str] = &["systemd", "systemd-sysv", "dbus", "openssh-server"];
/// Bumped when the post-install changes below change, to rebuild caches.
const RECIPE_VERSION: u32 = 2;
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
/// With `vms`, also QEMU and what builds guest images.
pub fn ensure_host_tools(vms: bool) -> Result<(), LabError> {
    let vm_tools: &[(&str, &str)] = if vms {
        super::vm_image::VM_HOST_TOOLS
    } else {
        &[]
    };
    let missing: Vec<&str> = HOST_TOOLS
        .iter()
        .chain(vm_tools)
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

fn recipe_id(release: Release, flavour: Flavour) -> String {
    let recipe = format!(
        "{}|minbase|{}|{RECIPE_VERSION}",
        release.suite(),
        flavour.packages().join(",")
    );
    crate::inventory::hex_sha256(recipe.as_bytes())[..12].to_string()
}

/// Returns the cached image's root, building it first if needed.
pub fn ensure_image(release: Release, flavour: Flavour) -> Result<PathBuf, LabError> {
    let root = cache_root();
    let image = root.join(format!(
        "debian{}-{}-{}",
        release.number(),
        flavour.name(),
        recipe_id(release, flavour)
    ));
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
        "lab: building the {release} {} image once (debootstrap from {mirror}); later runs reuse it",
        flavour.name()
    );
    let include = format!("--include={}", flavour.packages().join(","));
    let staged_root = staging.join("rootfs");
    let staged = staged_root.to_string_lossy().to_string();
    sys::run(
        "debootstrap",
        &[
            "--variant=minbase",
            &include,
            release.suite(),
            &staged,
            &mirror,
        ],
    )?;
    make_provider_like(&staged_root, &mirror, release)?;
    let _ = std::fs::remove_dir_all(&image);
    std::fs::rename(&staging, &image)
        .map_err(io(format!("moving the image into {}", image.display())))?;
    Ok(rootfs)
}

/// Post-install changes that make the image behave like a fresh provider image.
pub(super) fn make_provider_like(
    root: &Path,
    mirror: &str,
    release: Release,
) -> Result<(), LabError> {
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
    write_sources(root, mirror, release)?;
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

/// Debian's archive in the format the release's own installer writes:
/// one-line `sources.list` on 12, deb822 `debian.sources` on 13.
fn write_sources(root: &Path, mirror: &str, release: Release) -> Result<(), LabError> {
    let security = mirror.replace("/debian", "/debian-security");
    let suite = release.suite();
    match release {
        Release::Debian12 => sys::write_file(
            &root.join("etc/apt/sources.list"),
            format!(
                "deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\ndeb {security} {suite}-security main\n"
            )
            .as_bytes(),
            0o644,
        ),
        Release::Debian13 => {
            let _ = std::fs::remove_file(root.join("etc/apt/sources.list"));
            sys::write_file(
                &root.join("etc/apt/sources.list.d/debian.sources"),
                format!(
                    "Types: deb\nURIs: {mirror}\nSuites: {suite} {suite}-updates\nComponents: main\n\
                     Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                     Types: deb\nURIs: {security}\nSuites: {suite}-security\nComponents: main\n\
                     Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                )
                .as_bytes(),
                0o644,
            )
        }
    }
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
