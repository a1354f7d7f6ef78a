//! The inventory as written in YAML. Every struct denies unknown keys so a
//! typo is an error, never a silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    #[serde(default)]
    pub ssh: SshSettings,
    /// Networks SSH may come from; the firewall profile opens port 22 only to these.
    #[serde(default)]
    pub admin_sources: Vec<Network>,
    /// The small set of named administrators; nobody else gets a login.
    #[serde(default)]
    pub operators: Vec<Operator>,
    #[serde(default)]
    pub secrets: SecretsSettings,
    /// Overrides the profiles embedded in the binary.
    #[serde(default)]
    pub profiles_dir: Option<PathBuf>,
    /// Extra roles, or overrides of the built-in ones: role → roles or profiles.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    pub hosts: IndexMap<String, HostSpec>,
    /// Accepted deviations: a control waived for hosts or roles until a date.
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// Traffic the firewall admits beyond the built-in flows.
    #[serde(default)]
    pub flows: Vec<Flow>,
    /// Countries hosts may run in (control RES-01); absent: no policy.
    #[serde(default)]
    pub residency: Option<Residency>,
    /// The edge reverse proxies (profile `proxy`): server names, certificate.
    #[serde(default)]
    pub proxy: ProxySettings,
}

/// Data-residency policy: every host's location must be in one of these
/// countries.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Residency {
    /// ISO 3166-1 alpha-2 codes, upper case: `[FR, DE]`.
    pub countries: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Over the WireGuard mesh, from the sources' mesh addresses.
    #[default]
    Mesh,
    /// Over the public network, from the sources' addresses.
    Public,
}

/// `from` (a role or host) may reach `to` (a role or host) on `port`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub port: u16,
    #[serde(default = "default_proto")]
    pub proto: Proto,
    #[serde(default)]
    pub via: Via,
}

fn default_proto() -> Proto {
    Proto::Tcp
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Control ID, e.g. SSH-04.
    pub control: String,
    /// Hosts it applies to; with `roles` empty too, every host.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Why the deviation is accepted (shown in every report).
    pub reason: String,
    /// Last day the waiver holds (YYYY-MM-DD, UTC); the control is judged
    /// normally from the day after.
    pub expires: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Account rampart connects as.
    #[serde(default = "default_user")]
    pub user: String,
    /// First-contact account of a fresh provider image (used by provision).
    #[serde(default = "default_user")]
    pub bootstrap_user: String,
    /// Private key; absent means ssh-agent via SSH_AUTH_SOCK.
    #[serde(default)]
    pub identity: Option<PathBuf>,
    /// OpenSSH known_hosts file; relative to the inventory file.
    #[serde(default = "default_known_hosts")]
    pub known_hosts: PathBuf,
    /// ProxyJump through another inventory host or `host:port`.
    #[serde(default)]
    pub jump: Option<String>,
    /// Default port for hosts that do not set one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Seconds to establish a connection (TCP, key exchange, authentication).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Seconds a single remote command may run.
    #[serde(default = "default_command_timeout")]
    pub command_timeout: u64,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            user: default_user(),
            bootstrap_user: default_user(),
            identity: None,
            known_hosts: default_known_hosts(),
            jump: None,
            port: default_port(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
        }
    }
}

fn default_user() -> String {
    "root".into()
}
fn default_known_hosts() -> PathBuf {
    PathBuf::from("known_hosts")
}
fn default_port() -> u16 {
    22
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_command_timeout() -> u64 {
    600
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    pub name: String,
    /// OpenSSH public keys (`ssh-ed25519 AAAA… comment`).
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// age recipients for everything rampart stores encrypted.
    #[serde(default)]
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Hetzner,
    Ovh,
    #[default]
    Other,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Hetzner => "hetzner",
            Provider::Ovh => "ovh",
            Provider::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// IP address or DNS name rampart connects to. Required, except for a
    /// host with `create:` that does not exist yet: `provision` creates it
    /// and records the address the provider gives it.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub provider: Provider,
    /// Provider location code (fsn1, nbg1, gra, …).
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Address on the WireGuard mesh.
    #[serde(default)]
    pub mesh_address: Option<std::net::IpAddr>,
    /// Volumes for the luks profile.
    #[serde(default)]
    pub disks: Vec<PathBuf>,
    /// Per-host overrides of profile values.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// A Hetzner Cloud server `provision` creates when it does not exist yet.
    #[serde(default)]
    pub create: Option<CreateSpec>,
}

/// How to create a Hetzner Cloud server (`POST /servers`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateSpec {
    /// Server type, e.g. `cx22`.
    #[serde(rename = "type")]
    pub server_type: String,
    /// Image name, e.g. `debian-12`.
    pub image: String,
    /// Hetzner Cloud location: fsn1, nbg1, hel1, ash, hil, sin.
    pub location: String,
    /// Name of a Hetzner Cloud private network to attach the server to.
    #[serde(default)]
    pub network: Option<String>,
}

/// A CIDR network; a bare address means that single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Network(pub IpNet);

impl TryFrom<String> for Network {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let t = s.trim();
        t.parse::<IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| format!("invalid network {t:?}; expected CIDR notation such as 203.0.113.0/28 or a single address"))
    }
}

impl From<Network> for String {
    fn from(n: Network) -> String {
        n.0.to_string()
    }
}

/// The edge reverse proxies: what clients ask for and which certificate
/// the edges present.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Server name of the application ingress (443); absent: the edge's host name.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Server name of the collector/API ingress (8443); absent: `server_name`.
    #[serde(default)]
    pub api_server_name: Option<String>,
    /// `self_signed` (issued by rampart's CA; the default) or
    /// `{files: {cert: PATH, key: PATH}}` (PEM, relative to the inventory).
    #[serde(default, with = "serde_yaml::with::singleton_map")]
    pub certificate: CertificateSource,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CertificateSource {
    /// A server certificate issued by rampart's CA for each edge (lab,
    /// internal use: clients trust `ca/ca.crt`).
    #[default]
    SelfSigned,
    /// A certificate (chain) and its key in PEM files on the control machine.
    Files { cert: PathBuf, key: PathBuf },
}
