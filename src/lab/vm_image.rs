//! Guest images for VM lab hosts: the provider image's packages plus
//! Debian's kernel (`linux-image-amd64`, with its initramfs) and e2fsprogs
//! (the root is ext4, as on a provider's VM), built once per release with
//! debootstrap, turned into an ext4 filesystem image (`mkfs.ext4 -d`,
//! no loop mount needed) and cached as a qcow2 base. Every VM boots from
//! its own copy-on-write overlay of that base.
//!
//! What a provider's metadata service and cloud-init do on a new server,
//! a small first-boot script does here, reading the kernel command line
//! the lab passes: hostname, static address on the lab bridge, resolvers,
//! host keys generated on the host itself (their public halves printed on
//! the serial console, as cloud-init does, which is how the lab learns
//! them for known_hosts).

use std::path::{Path, PathBuf};

use super::image::{self, Release, DEFAULT_MIRROR};
use super::sys::{self, io, LabError};

/// What a guest has beyond the provider image: a kernel and the root's fsck.
const VM_EXTRA_PACKAGES: &[&str] = &["linux-image-amd64", "initramfs-tools", "e2fsprogs"];

fn vm_packages() -> Vec<&'static str> {
    image::PROVIDER_PACKAGES
        .iter()
        .chain(VM_EXTRA_PACKAGES)
        .copied()
        .collect()
}
/// Bumped when the guest recipe below changes, to rebuild caches.
const VM_RECIPE_VERSION: u32 = 1;
/// Size of the guest's root filesystem (sparse: only written blocks count).
const ROOT_SIZE: &str = "4G";

/// A built guest image: kernel, initramfs and the qcow2 root base.
#[derive(Debug, Clone)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub root: PathBuf,
}

/// Host tools that building and booting guests need (binary, package).
pub const VM_HOST_TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-img", "qemu-utils"),
    ("mkfs.ext4", "e2fsprogs"),
];

fn recipe_id(release: Release) -> String {
    let recipe = format!(
        "vm|{}|minbase|{}|{VM_RECIPE_VERSION}|{}",
        release.suite(),
        vm_packages().join(","),
        FIRST_BOOT
    );
    crate::inventory::hex_sha256(recipe.as_bytes())[..12].to_string()
}

/// Returns the cached guest image for `release`, building it first if needed.
pub fn ensure_guest_image(release: Release) -> Result<GuestImage, LabError> {
    let root = image::cache_root();
    let dir = root.join(format!(
        "debian{}-vm-{}",
        release.number(),
        recipe_id(release)
    ));
    let built = GuestImage {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        root: dir.join("root.qcow2"),
    };
    if built.root.exists() {
        return Ok(built);
    }
    std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
    let _lock = image::lock(&root.join(".build.lock"))?;
    if built.root.exists() {
        return Ok(built);
    }
    let staging = root.join(format!(".staging-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io("creating the staging directory"))?;
    let result = build_into(&staging, release);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)
        .map_err(io(format!("moving the guest image into {}", dir.display())))?;
    Ok(built)
}

fn build_into(staging: &Path, release: Release) -> Result<(), LabError> {
    let mirror = std::env::var("RAMPART_LAB_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.to_string());
    eprintln!(
        "lab: building the {release} VM guest image once (debootstrap from {mirror}, Debian's kernel); later runs reuse it"
    );
    let rootfs = staging.join("rootfs");
    let include = format!("--include={}", vm_packages().join(","));
    sys::run(
        "debootstrap",
        &[
            "--variant=minbase",
            &include,
            release.suite(),
            &rootfs.to_string_lossy(),
            &mirror,
        ],
    )?;
    image::make_provider_like(&rootfs, &mirror, release)?;
    make_guest(&rootfs)?;
    copy_boot_files(&rootfs, staging)?;
    let raw = staging.join("root.raw");
    sys::run(
        "mkfs.ext4",
        &[
            "-q",
            "-L",
            "root",
            "-d",
            &rootfs.to_string_lossy(),
            &raw.to_string_lossy(),
            ROOT_SIZE,
        ],
    )?;
    sys::run(
        "qemu-img",
        &[
            "convert",
            "-q",
            "-f",
            "raw",
            "-O",
            "qcow2",
            &raw.to_string_lossy(),
            &staging.join("root.qcow2").to_string_lossy(),
        ],
    )?;
    let _ = std::fs::remove_file(&raw);
    std::fs::remove_dir_all(&rootfs).map_err(io("removing the staged guest tree"))?;
    Ok(())
}

/// What turns the provider tree into a bootable guest: fstab, the first-boot
/// identity unit, networkd, a serial console.
fn make_guest(rootfs: &Path) -> Result<(), LabError> {
    sys::write_file(
        &rootfs.join("etc/fstab"),
        b"LABEL=root / ext4 errors=remount-ro 0 1\n",
        0o644,
    )?;
    let _ = std::fs::remove_file(rootfs.join("etc/hostname"));
    sys::write_file(
        &rootfs.join("usr/local/sbin/rampart-lab-identity"),
        FIRST_BOOT.as_bytes(),
        0o755,
    )?;
    sys::write_file(
        &rootfs.join("etc/systemd/system/rampart-lab-identity.service"),
        IDENTITY_UNIT.as_bytes(),
        0o644,
    )?;
    sys::write_file(
        &rootfs.join("etc/systemd/system/rampart-lab-ready.service"),
        READY_UNIT.as_bytes(),
        0o644,
    )?;
    let wants = rootfs.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).map_err(io("creating multi-user.target.wants"))?;
    for (unit, target) in [
        (
            "rampart-lab-identity.service",
            "/etc/systemd/system/rampart-lab-identity.service",
        ),
        (
            "rampart-lab-ready.service",
            "/etc/systemd/system/rampart-lab-ready.service",
        ),
        (
            "systemd-networkd.service",
            "/usr/lib/systemd/system/systemd-networkd.service",
        ),
    ] {
        let link = wants.join(unit);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link)
            .map_err(io(format!("enabling {unit} in the guest")))?;
    }
    Ok(())
}

/// The kernel and initramfs debootstrap installed, for direct kernel boot
/// (QEMU boots them again on a guest `reboot`).
fn copy_boot_files(rootfs: &Path, staging: &Path) -> Result<(), LabError> {
    let boot = rootfs.join("boot");
    let newest = |prefix: &str| -> Result<PathBuf, LabError> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&boot)
            .map_err(io("reading the guest's /boot"))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        found.sort();
        found.pop().ok_or_else(|| {
            LabError::State(format!(
                "the guest image has no {prefix}* in /boot (linux-image-amd64 did not install)"
            ))
        })
    };
    for (prefix, name) in [("vmlinuz-", "vmlinuz"), ("initrd.img-", "initrd.img")] {
        let from = newest(prefix)?;
        std::fs::copy(&from, staging.join(name))
            .map_err(io(format!("copying {}", from.display())))?;
    }
    Ok(())
}

/// First boot (and every boot: it is idempotent) of a lab VM: identity from
/// the kernel command line, host keys made here, public keys on the console.
const FIRST_BOOT: &str = r#"#!/bin/sh
# rampart lab: what a provider's cloud-init does on a new server.
set -eu
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^rampart\.$1=//p" | tail -n 1; }
name=$(arg name); addr=$(arg addr); gw=$(arg gw); dns=$(arg dns); key=$(arg key)
if [ ! -e /var/lib/rampart-lab/configured ]; then
  mkdir -p -m 0700 /root/.ssh
  echo "$key" | base64 -d >/root/.ssh/authorized_keys
  chmod 0600 /root/.ssh/authorized_keys
  echo "$name" >/etc/hostname
  echo "$name" >/proc/sys/kernel/hostname
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$name" >/etc/hosts
  mkdir -p /etc/systemd/network
  printf '[Match]\nName=eth0\n\n[Network]\nAddress=%s\nGateway=%s\n' "$addr" "$gw" >/etc/systemd/network/10-lab.network
  echo "$dns" | tr ',' '\n' | sed -n 's/^./nameserver &/p' >/etc/resolv.conf
  mkdir -p /var/lib/rampart-lab
  touch /var/lib/rampart-lab/configured
fi
[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f /etc/ssh/ssh_host_ed25519_key
[ -e /etc/ssh/ssh_host_ecdsa_key ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C "root@$name" -f /etc/ssh/ssh_host_ecdsa_key
for k in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; do
  echo "rampart-lab: hostkey $(cut -d' ' -f1,2 "$k")" >/dev/ttyS0
done
"#;

const IDENTITY_UNIT: &str = "[Unit]
Description=rampart lab: hostname, address and host keys from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=systemd-networkd.service ssh.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/rampart-lab-identity

[Install]
WantedBy=multi-user.target
";

/// Printed when logins are allowed (after systemd-user-sessions), so the lab
/// knows the boot it waits for is finished.
const READY_UNIT: &str = "[Unit]
Description=rampart lab: tell the console the host accepts logins
After=systemd-user-sessions.service ssh.service rampart-lab-identity.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo \"rampart-lab: ready $(cat /proc/sys/kernel/random/boot_id)\" >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
";
