//! What rampart knows about a host, as structured data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Facts {
    pub hostname: String,
    /// Host clock at collection, seconds since the epoch.
    pub collected_at: u64,
    pub os: Os,
    pub kernel: Kernel,
    pub virtualization: Virtualization,
    /// Name of PID 1 (`systemd` on every supported host).
    pub init: String,
    /// Installed packages and their versions.
    pub packages: BTreeMap<String, String>,
    pub services: BTreeMap<String, Unit>,
    pub sshd: Probe<BTreeMap<String, Vec<String>>>,
    pub sysctls: BTreeMap<String, String>,
    /// Whether /proc/sys/net and the kernel-global parameters are writable
    /// (a container may have them read-only).
    pub sysctl_writable: SysctlWritable,
    pub nftables: Probe<serde_json::Value>,
    /// rampart's managed ruleset file, loaded in a scratch namespace.
    pub nft_desired: Probe<serde_json::Value>,
    pub wireguard: Probe<Vec<WgInterface>>,
    /// What the mesh needs beyond `wg show`: the host's own public key,
    /// which implementation is available, interface addresses.
    pub mesh: MeshFacts,
    pub block_devices: Vec<BlockDevice>,
    /// The inventory's declared disks, probed individually.
    pub disks: BTreeMap<String, DiskProbe>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub authorized_keys: Vec<AuthorizedKeys>,
    pub listening: Vec<Socket>,
    /// Interactive accounts' home directory and the dot files and
    /// directories in it, with their modes, by account name.
    pub homes: BTreeMap<String, BTreeMap<String, FileMode>>,
    pub file_modes: BTreeMap<String, FileMode>,
    /// `blacklist`/`install` lines of the effective modprobe configuration.
    pub modprobe: Vec<String>,
    pub mounts: Vec<Mount>,
    /// Contents of the files the run asked to read; `None` when absent.
    pub files: BTreeMap<String, Option<String>>,
    /// Merged journald configuration, last assignment of each key winning.
    pub journald: BTreeMap<String, String>,
    /// For each journald key, the file whose assignment won.
    pub journald_sources: BTreeMap<String, String>,
    /// `auditctl -l`, one rule per line.
    pub audit_rules: Probe<Vec<String>>,
    /// Age of the newest apt package list, seconds since the epoch (0: none).
    pub apt_lists_updated: u64,
    /// The address the host sees rampart's connection come from.
    pub connection_from: Option<std::net::IpAddr>,
    /// What the luks profile and `luks status` need (collect.sh's luks-*
    /// sections), plus the escrow test verify runs when it has an identity.
    pub luks: LuksFacts,
    /// SHA-256 (hex) of the secret files the run asked to hash; `None`
    /// when absent. Their content is never read.
    pub file_hashes: BTreeMap<String, Option<String>>,
    /// `nginx -t`: its output when the configuration is valid.
    pub nginx_test: Probe<String>,
    /// `timedatectl`'s NTPSynchronized; `None` when it gave no answer (no
    /// systemd-timedated, or facts recorded before it was collected).
    pub ntp_synchronized: Option<bool>,
    /// AIDE's database, the last daily check and rampart's last change.
    pub integrity: Integrity,
    /// The PAM service files rampart judges (common-*, su, sudo, sshd,
    /// login) as rules, and where Debian's `unix` profile is installed.
    pub pam: super::pam::PamFacts,
    /// The backup profile's view (collect.sh's `backup` section): a db
    /// host's drop key and last successes, a backup host's drop store.
    pub backup: BackupFacts,
    /// What the control machine observed of this host over the network
    /// (live probes run by `verify`), by probe name; empty otherwise.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub observed: BTreeMap<String, serde_json::Value>,
}

impl Facts {
    /// Content of a file the run asked to read (`None` if absent or not read).
    pub fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).and_then(|c| c.as_deref())
    }

    pub fn has_package(&self, name: &str) -> bool {
        self.packages.contains_key(name)
    }
}

/// What LOG-15/LOG-16 judge an integrity baseline by (times are seconds
/// since the epoch; the database's content never leaves the host).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Integrity {
    /// Modification time of AIDE's database, `None` when there is none.
    pub database: Option<u64>,
    /// When rampart last changed the host (`engine::apply::LAST_CHANGE`).
    pub last_change: Option<u64>,
    /// The last run of Debian's daily check, `None` when it never ran.
    pub last_check: Option<UnitRun>,
}

/// What the backup profile judges, from either side (`controls::backup`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BackupFacts {
    /// A db host's drop key, public half only (`ssh-ed25519 AAAA…`).
    pub client_key: Option<String>,
    /// When that key was generated: the backup was set up then.
    pub client_since: Option<u64>,
    /// Each database's last backup that every target committed.
    pub last_success: BTreeMap<String, u64>,
    /// The host's SSH ed25519 host key (public): what its drop presents.
    pub host_key: Option<String>,
    /// The last run of rampart's backup units, by unit name.
    pub runs: BTreeMap<String, UnitRun>,
    /// The local PostgreSQL as the `postgres` account sees it; `None` when
    /// there is no PostgreSQL to ask.
    pub postgres: Option<PostgresFacts>,
    /// The drop's store on a backup host; `None` when it has none.
    pub store: Option<StoreFacts>,
    /// The drop refusals a db host got with its own key (verify's probe).
    pub probes: Vec<DropProbe>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PostgresFacts {
    /// The cluster answered.
    pub up: bool,
    /// The backup's role exists.
    pub backup_role: bool,
    pub databases: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StoreFacts {
    /// When the store was set up (0: unknown).
    pub since: u64,
    /// Every file of the store below a source's directory, manifests aside.
    pub files: Vec<StoredFile>,
    /// Manifests by path (`SOURCE/NAME.json`); `None`: not a manifest rampart can read.
    pub manifests: BTreeMap<String, Option<Manifest>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoredFile {
    /// `SOURCE/NAME`, relative to the store.
    pub path: String,
    pub size: u64,
    /// Its first 21 bytes, non-printable ones as `?` (age's header is
    /// `age-encryption.org/v1`).
    pub head: String,
}

/// What the drop recorded of one artifact when it was committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub artifact: String,
    pub source: String,
    pub database: String,
    /// When the drop received it, seconds since the epoch.
    pub time: u64,
    pub size: u64,
    pub sha256: String,
    /// Exact row counts per `schema.table`, from the dump's snapshot.
    pub rows: BTreeMap<String, u64>,
}

/// One request a db host made to a drop with its own key, and the answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DropProbe {
    /// The drop's mesh address.
    pub target: String,
    pub request: String,
    pub exit_status: i32,
    pub output: String,
}

/// How a oneshot service's last run ended (`systemctl show`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UnitRun {
    /// systemd's `Result`: `success`, `exit-code`, `timeout`, …
    pub result: String,
    pub exit_status: Option<i32>,
    pub exited_at: u64,
}

/// The outcome of a probe whose tool may be missing or may fail.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Probe<T> {
    Ok(T),
    /// The tool is not installed.
    #[default]
    Absent,
    /// The tool ran and failed; its message.
    Failed(String),
}

impl<T> Probe<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Probe::Ok(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SysctlWritable {
    pub net: bool,
    pub kernel: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Os {
    pub id: String,
    pub version_id: String,
    pub codename: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Kernel {
    pub release: String,
    pub machine: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Virtualization {
    /// `systemd-detect-virt`: none, kvm, systemd-nspawn, …
    pub kind: String,
    /// The container technology, when the host is a container.
    pub container: Option<String>,
}

impl Virtualization {
    pub fn is_container(&self) -> bool {
        self.container.is_some()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Unit {
    /// enabled, disabled, masked, static, … (absent when no unit file)
    pub enabled: Option<String>,
    /// active, inactive, failed, … (absent when not loaded)
    pub active: Option<String>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MeshFacts {
    /// Public key derived on the host from its private key file (the
    /// private key itself never leaves the host).
    pub public_key: Option<String>,
    /// The kernel has WireGuard (module loaded or loadable).
    pub kernel_module: bool,
    /// Interfaces run by a userspace implementation (their UAPI sockets).
    pub userspace: Vec<String>,
    /// Files in /etc/wireguard/psk (names only: the keys stay on the host).
    pub psk_files: Vec<String>,
    /// Network interfaces: name → state and addresses (CIDR).
    pub interfaces: BTreeMap<String, NetInterface>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NetInterface {
    /// `ip` operstate: UP, DOWN, UNKNOWN (tun devices report UNKNOWN when up).
    pub state: String,
    /// The link is administratively up (IFF_UP).
    pub up: bool,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WgInterface {
    pub name: String,
    pub public_key: String,
    pub listen_port: Option<u16>,
    pub peers: Vec<WgPeer>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WgPeer {
    pub public_key: String,
    pub has_preshared_key: bool,
    pub endpoint: Option<String>,
    pub allowed_ips: Vec<String>,
    /// Seconds since the epoch; 0 when there never was a handshake.
    pub latest_handshake: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub keepalive: Option<u16>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlockDevice {
    pub name: String,
    pub path: Option<String>,
    pub majmin: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    pub fstype: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
    pub mountpoints: Vec<String>,
    pub read_only: bool,
    pub children: Vec<BlockDevice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DiskProbe {
    pub present: bool,
    pub majmin: Option<String>,
    /// `blkid -p` low-level probe: TYPE, PTTYPE, UUID, LABEL, VERSION, …
    pub signature: BTreeMap<String, String>,
    /// LUKS2 JSON metadata (no key material: keyslot areas are not read).
    pub luks: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// set, locked, empty, or unknown (no shadow entry).
    pub password: String,
}

impl User {
    /// Whether the shell permits an interactive login.
    pub fn has_login_shell(&self) -> bool {
        !matches!(
            self.shell.as_str(),
            "/usr/sbin/nologin"
                | "/sbin/nologin"
                | "/bin/false"
                | "/usr/bin/false"
                | ""
                | "/bin/sync"
        )
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuthorizedKeys {
    pub user: String,
    pub path: String,
    /// Key lines, options included, comments and blank lines dropped.
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Socket {
    pub proto: String,
    pub local: String,
    pub process: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileMode {
    pub mode: u32,
    pub owner: String,
    pub group: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    pub target: String,
    pub source: String,
    pub fstype: String,
    pub options: String,
}

/// LUKS-related facts. Nothing here is key material.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LuksFacts {
    /// The kernel has device-mapper and /dev/mapper/control exists, so a
    /// volume can be opened (a container without it can only format).
    pub device_mapper: bool,
    /// `cryptsetup --version`, when installed.
    pub cryptsetup: Option<String>,
    /// systemd's crypttab generator is installed, so /etc/crypttab is read
    /// at boot; `None` in facts recorded before the collector reported it.
    pub crypttab_generator: Option<bool>,
    /// Per declared disk: what wipefs, sysfs holders and swap show.
    pub disks: BTreeMap<String, LuksDiskProbe>,
    /// `blkid -p` of every block device node on the host, by path.
    pub probes: BTreeMap<String, BTreeMap<String, String>>,
    /// Mode, owner and group of each /etc/cryptsetup-keys.d/*.key, by path.
    pub keyfiles: BTreeMap<String, FileMode>,
    /// /etc/crypttab; `None` when absent.
    pub crypttab: Option<String>,
    /// /etc/fstab.
    pub fstab: String,
    /// Set by verify, not the collector: per disk, whether the escrowed key
    /// opened the volume (`cryptsetup open --test-passphrase`).
    pub escrow_tests: BTreeMap<String, EscrowTest>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LuksDiskProbe {
    /// Signatures `wipefs` lists (type and offset), or why it failed.
    pub wipefs: Probe<Vec<Signature>>,
    /// Devices stacked on this one (dm, md): it is in use.
    pub holders: Vec<String>,
    /// Active swap on this device.
    pub swap: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: String,
}

/// The outcome of testing an escrowed key on the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum EscrowTest {
    Opens,
    DoesNotOpen(String),
    /// The test could not run (escrow unreadable, identity wrong, …).
    Error(String),
}
