//! The inventory: which hosts exist, what they are for, and how to reach them.
//!
//! Loading is all-or-nothing: the YAML is parsed with unknown keys denied,
//! then every semantic rule is checked, and all problems are reported
//! together with file:line:column before any host is touched.

mod canonical;
pub mod edit;
mod error;
pub mod locate;
mod model;
pub mod residency;
pub mod roles;
pub mod schedule;
mod select;
pub mod source;
mod syntax;
mod validate;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::calendar::days_from_date;
pub use error::{Diagnostic, InventoryError};
pub use locate::{Position, PositionIndex};
pub use model::{
    AcmeSettings, BackupSettings, CertificateSource, CreateSpec, Flow, HostSpec, InventoryFile,
    MeshSettings, Network, Operator, Proto, Provider, ProxySettings, RemovedOperator, Residency,
    SecretsSettings, SshSettings, Via, Waiver,
};
pub use roles::{RoleTable, PROFILES};
pub use select::select_hosts;

/// Where a ProxyJump goes: through another inventory host, or an address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Jump {
    Host(String),
    Address { host: String, port: u16 },
}

/// SSH settings with paths resolved against the inventory's directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ssh {
    pub user: String,
    pub bootstrap_user: String,
    pub identity: Option<PathBuf>,
    pub known_hosts: PathBuf,
    pub jump: Option<Jump>,
    pub connect_timeout_secs: u64,
    pub command_timeout_secs: u64,
}

/// A host with its roles expanded into profiles.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Host {
    pub name: String,
    /// Where rampart connects. Empty only for a host with `create:` whose
    /// server has not been created yet (see [`Host::awaiting_creation`]).
    pub address: String,
    pub port: u16,
    pub provider: Provider,
    pub location: Option<String>,
    pub roles: Vec<String>,
    pub profiles: Vec<String>,
    pub mesh_address: Option<IpAddr>,
    pub disks: Vec<PathBuf>,
    pub vars: std::collections::BTreeMap<String, serde_yaml::Value>,
    /// How `provision` creates the server at Hetzner Cloud, if it does.
    pub create: Option<CreateSpec>,
    /// PostgreSQL databases this `db` host backs up.
    pub databases: Vec<String>,
}

impl Host {
    pub fn has_profile(&self, profile: &str) -> bool {
        self.profiles.iter().any(|p| p == profile)
    }

    /// A host declared with `create:` and no address yet: only `provision`
    /// can act on it (it creates the server and records the address).
    pub fn awaiting_creation(&self) -> bool {
        self.address.is_empty() && self.create.is_some()
    }
}

/// A validated inventory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inventory {
    pub path: PathBuf,
    /// SHA-256 of the file as read, so reports can name the exact input.
    pub sha256: String,
    pub ssh: Ssh,
    pub admin_sources: Vec<ipnet::IpNet>,
    pub operators: Vec<Operator>,
    /// Former operators and their removal day (`removed_day` set).
    pub removed_operators: Vec<RemovedOperator>,
    pub secrets: SecretsSettings,
    pub profiles_dir: Option<PathBuf>,
    pub hosts: Vec<Host>,
    pub waivers: Vec<Waiver>,
    pub flows: Vec<Flow>,
    /// Countries of the residency policy (RES-01); `None`: no policy.
    pub residency: Option<Vec<String>>,
    pub mesh: MeshSettings,
    /// The edge proxies' settings, certificate paths anchored.
    pub proxy: ProxySettings,
    /// The databases' backups (`backup:`), the schedule parsed.
    pub backup: Option<Backup>,
    #[serde(skip)]
    pub roles: RoleTable,
}

/// `backup:` validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backup {
    pub schedule: schedule::Schedule,
    pub keep_days: u32,
    pub targets: Vec<String>,
    pub drill_max_age_days: u32,
}

impl Inventory {
    /// The hosts whose databases are backed up (db hosts declaring some).
    pub fn backup_sources(&self) -> Vec<&Host> {
        if self.backup.is_none() {
            return Vec::new();
        }
        self.hosts
            .iter()
            .filter(|h| !h.databases.is_empty())
            .collect()
    }

    /// Whether `host` receives backups.
    pub fn is_backup_target(&self, host: &str) -> bool {
        self.backup
            .as_ref()
            .is_some_and(|b| b.targets.iter().any(|t| t == host))
    }
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let source = Self::read_source(path)?;
        Self::parse(path, &source)
    }

    /// Reads inventory text: a regular file of at most
    /// [`source::MAX_INPUT_BYTES`], in UTF-8 (else the position of the
    /// first bad byte).
    pub fn read_source(path: &Path) -> Result<String, InventoryError> {
        let bytes = source::read_regular(path, source::MAX_INPUT_BYTES).map_err(|reason| {
            InventoryError::Read {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        match source::utf8(&bytes) {
            Ok(text) => Ok(text.to_string()),
            Err((position, byte)) => Err(InventoryError::Invalid(vec![Diagnostic {
                file: path.to_path_buf(),
                position,
                message: source::utf8_message(byte),
            }])),
        }
    }

    /// Validates inventory text; `path` names it in errors and anchors
    /// relative paths.
    pub fn parse(path: &Path, source: &str) -> Result<Inventory, InventoryError> {
        Self::parse_with(path, source, false)
    }

    /// [`Inventory::parse`] that accepts an inventory without hosts
    /// (`hosts: {}`): the start of `inventory sync`, which adds them.
    pub fn parse_allowing_no_hosts(path: &Path, source: &str) -> Result<Inventory, InventoryError> {
        Self::parse_with(path, source, true)
    }

    fn parse_with(
        path: &Path,
        source: &str,
        allow_no_hosts: bool,
    ) -> Result<Inventory, InventoryError> {
        let (file, index) = syntax::parse_file(path, source)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let diags = validate::check(path, &dir, &file, &index, allow_no_hosts);
        if !diags.is_empty() {
            return Err(InventoryError::Invalid(diags));
        }
        Ok(resolve(path, &dir, source, file))
    }

    /// The waiver in force for a control on a host on `today` (days since
    /// the epoch), if any.
    pub fn waiver_for(&self, control: &str, host: &Host, today: i64) -> Option<&Waiver> {
        self.waivers.iter().find(|w| {
            w.control == control
                && (w.hosts.is_empty() && w.roles.is_empty()
                    || w.hosts.contains(&host.name)
                    || w.roles.iter().any(|r| host.roles.contains(r)))
                && days_from_date(&w.expires).is_some_and(|last| today <= last)
        })
    }

    /// Hosts named `pattern`, or carrying it as a role.
    pub fn hosts_matching(&self, pattern: &str) -> Vec<&Host> {
        self.hosts
            .iter()
            .filter(|h| h.name == pattern || h.roles.iter().any(|r| r == pattern))
            .collect()
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Directory the inventory lives in; relative paths are anchored here.
    pub fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }
}

fn anchor(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn resolve(path: &Path, dir: &Path, source: &str, file: InventoryFile) -> Inventory {
    let roles = RoleTable::new(&file.roles);
    let hosts = file
        .hosts
        .iter()
        .map(|(name, spec)| {
            let mut profiles = Vec::new();
            for r in &spec.roles {
                // validate::check has already proven every role expands.
                profiles.extend(roles.profiles_of(r).unwrap_or_default());
            }
            // Declaring disks puts the luks profile in force: a data
            // volume is never left unencrypted because a role forgot it.
            if !spec.disks.is_empty() {
                profiles.push("luks".to_string());
            }
            // Backups are in force where the inventory says they happen:
            // on hosts declaring databases and on the targets.
            if let Some(b) = &file.backup {
                if !spec.databases.is_empty() || b.targets.contains(name) {
                    profiles.push("backup".to_string());
                }
            }
            Host {
                name: name.clone(),
                // validate::check has proven that only hosts with `create:`
                // may lack an address.
                address: spec.address.clone().unwrap_or_default(),
                port: spec.port.unwrap_or(file.ssh.port),
                provider: spec.provider,
                location: spec
                    .location
                    .clone()
                    .or_else(|| spec.create.as_ref().map(|c| c.location.clone())),
                roles: spec.roles.clone(),
                profiles: roles::canonical_order(profiles),
                mesh_address: spec.mesh_address,
                disks: spec.disks.clone(),
                vars: spec.vars.clone(),
                create: spec.create.clone(),
                databases: spec.databases.clone(),
            }
        })
        .collect();
    let ssh = Ssh {
        user: file.ssh.user.clone(),
        bootstrap_user: file.ssh.bootstrap_user.clone(),
        identity: file.ssh.identity.as_deref().map(|p| anchor(dir, p)),
        known_hosts: anchor(dir, &file.ssh.known_hosts),
        jump: file
            .ssh
            .jump
            .as_deref()
            .map(|j| validate::parse_jump(j, &file)),
        connect_timeout_secs: file.ssh.connect_timeout,
        command_timeout_secs: file.ssh.command_timeout,
    };
    Inventory {
        path: path.to_path_buf(),
        sha256: hex_sha256(source.as_bytes()),
        ssh,
        admin_sources: file.admin_sources.iter().map(|n| n.0).collect(),
        operators: file.operators.clone(),
        removed_operators: file
            .removed_operators
            .iter()
            .map(|r| RemovedOperator {
                removed_day: days_from_date(&r.removed).unwrap_or_default(),
                ..r.clone()
            })
            .collect(),
        secrets: file.secrets.clone(),
        profiles_dir: file.profiles_dir.as_deref().map(|p| anchor(dir, p)),
        hosts,
        waivers: file.waivers.clone(),
        flows: file.flows.clone(),
        mesh: file.mesh.clone(),
        residency: file.residency.as_ref().map(|r| r.countries.clone()),
        proxy: anchored_proxy(dir, &file.proxy),
        backup: file.backup.as_ref().and_then(|b| {
            // validate::check has proven the schedule parses.
            Some(Backup {
                schedule: schedule::parse(&b.schedule).ok()?,
                keep_days: b.keep_days,
                targets: b.targets.clone(),
                drill_max_age_days: b.drill_max_age_days,
            })
        }),
        roles,
    }
}

fn anchored_proxy(dir: &Path, p: &ProxySettings) -> ProxySettings {
    let mut out = p.clone();
    if let CertificateSource::Files { cert, key } = &p.certificate {
        out.certificate = CertificateSource::Files {
            cert: anchor(dir, cert),
            key: anchor(dir, key),
        };
    }
    if let CertificateSource::Acme(a) = &p.certificate {
        let mut a = a.clone();
        a.ca_bundle = a.ca_bundle.map(|b| anchor(dir, &b));
        out.certificate = CertificateSource::Acme(a);
    }
    out
}

/// True for a name `hosts:` accepts (what validation checks).
pub fn is_valid_host_name(name: &str) -> bool {
    validate::is_valid_host_name(name)
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}
