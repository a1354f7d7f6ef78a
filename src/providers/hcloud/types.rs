//! Request and response objects of the Hetzner Cloud API, in the shapes
//! of docs.hetzner.cloud. Unknown fields are ignored and optional ones
//! default, so additive API changes do not break decoding.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::providers::config::Secret;

/// A server (`GET /servers/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Server {
    pub id: u64,
    pub name: String,
    /// `running`, `initializing`, `starting`, `stopping`, `off`,
    /// `deleting`, `migrating`, `rebuilding`, `unknown`.
    pub status: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub public_net: PublicNet,
    #[serde(default)]
    pub private_net: Vec<PrivateNet>,
    pub server_type: ServerType,
    /// Deprecated by Hetzner in favour of `location`, still sent today.
    #[serde(default)]
    pub datacenter: Option<Datacenter>,
    /// Sent by newer API versions next to (and later instead of) `datacenter`.
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub image: Option<Image>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub volumes: Vec<u64>,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub rescue_enabled: bool,
    #[serde(default)]
    pub backup_window: Option<String>,
}

impl Server {
    /// The location name (`fsn1`), from `location` or `datacenter.location`.
    pub fn location_name(&self) -> Option<&str> {
        self.location
            .as_ref()
            .or(self.datacenter.as_ref().map(|dc| &dc.location))
            .map(|l| l.name.as_str())
    }

    /// The public IPv4 address, if the server has one.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.public_net.ipv4.as_ref()?.ip.parse().ok()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PublicNet {
    #[serde(default)]
    pub ipv4: Option<PublicIpv4>,
    #[serde(default)]
    pub ipv6: Option<PublicIpv6>,
    #[serde(default)]
    pub floating_ips: Vec<u64>,
    #[serde(default)]
    pub firewalls: Vec<ServerFirewall>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PublicIpv4 {
    #[serde(default)]
    pub id: Option<u64>,
    pub ip: String,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub dns_ptr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PublicIpv6 {
    #[serde(default)]
    pub id: Option<u64>,
    /// The server's /64 network, e.g. `2001:db8::/64`.
    pub ip: String,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub dns_ptr: Vec<Ipv6DnsPtr>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Ipv6DnsPtr {
    pub ip: String,
    pub dns_ptr: String,
}

/// A firewall applied to a server's public interface.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ServerFirewall {
    pub id: u64,
    /// `applied` or `pending`.
    pub status: String,
}

/// A server's attachment to a private network.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PrivateNet {
    pub network: u64,
    pub ip: String,
    #[serde(default)]
    pub alias_ips: Vec<String>,
    #[serde(default)]
    pub mac_address: Option<String>,
}

/// A server type (`GET /server_types`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ServerType {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub cores: u32,
    /// GB of memory (fractional for small types).
    #[serde(default)]
    pub memory: f64,
    /// GB of local disk.
    #[serde(default)]
    pub disk: u64,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default)]
    pub cpu_type: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub storage_type: Option<String>,
    #[serde(default)]
    pub prices: Vec<ServerTypePrice>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ServerTypePrice {
    pub location: String,
    pub price_hourly: Price,
    pub price_monthly: Price,
}

/// Prices are decimal strings in the API, kept as such.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Price {
    pub net: String,
    pub gross: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Datacenter {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub location: Location,
}

/// A location (`GET /locations`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Location {
    pub id: u64,
    /// `fsn1`, `nbg1`, `hel1`, `ash`, `hil`, `sin`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub latitude: f64,
    #[serde(default)]
    pub longitude: f64,
    #[serde(default)]
    pub network_zone: String,
}

/// An image (`GET /images`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Image {
    pub id: u64,
    /// `system`, `app`, `snapshot`, `backup`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    /// Only system and app images have a name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub os_flavor: String,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub deprecated: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Filters for [`HcloudClient::list_images`](super::HcloudClient::list_images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageQuery {
    /// `system`, `app`, `snapshot`, `backup`.
    pub kind: Option<String>,
    /// `x86` or `arm`.
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub label_selector: Option<String>,
}

/// An SSH key stored in the project (`GET /ssh_keys`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SshKey {
    pub id: u64,
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// A private network (`GET /networks`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Network {
    pub id: u64,
    pub name: String,
    pub ip_range: String,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub servers: Vec<u64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subnet {
    /// `cloud`, `server` or `vswitch`.
    #[serde(rename = "type")]
    pub kind: String,
    pub ip_range: String,
    pub network_zone: String,
    #[serde(default)]
    pub gateway: Option<String>,
}

/// A firewall (`GET /firewalls`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Firewall {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<FirewallRule>,
    #[serde(default)]
    pub applied_to: Vec<FirewallResource>,
    #[serde(default)]
    pub created: Option<String>,
}

/// One firewall rule, in requests and responses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FirewallRule {
    /// `in` or `out`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp`, `esp`, `gre`.
    pub protocol: String,
    /// Port or range (`22`, `1024-5000`); only for tcp and udp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Something a firewall applies to: a server or a label selector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FirewallResource {
    /// `server` or `label_selector`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<IdRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<SelectorRef>,
}

impl FirewallResource {
    pub fn server(id: u64) -> Self {
        FirewallResource {
            kind: "server".into(),
            server: Some(IdRef { id }),
            label_selector: None,
        }
    }

    pub fn label_selector(selector: impl Into<String>) -> Self {
        FirewallResource {
            kind: "label_selector".into(),
            server: None,
            label_selector: Some(SelectorRef {
                selector: selector.into(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdRef {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SelectorRef {
    pub selector: String,
}

/// Body of `POST /firewalls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateFirewallRequest {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<FirewallRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apply_to: Vec<FirewallResource>,
}

/// Answer of `POST /firewalls`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreatedFirewall {
    pub firewall: Firewall,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// A volume (`GET /volumes`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    /// Size in GB.
    pub size: u64,
    #[serde(default)]
    pub server: Option<u64>,
    pub location: Location,
    #[serde(default)]
    pub linux_device: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// An asynchronous operation (`GET /actions/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Action {
    pub id: u64,
    pub command: String,
    /// `running`, `success` or `error`.
    pub status: String,
    #[serde(default)]
    pub progress: u32,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub finished: Option<String>,
    #[serde(default)]
    pub resources: Vec<ActionResource>,
    #[serde(default)]
    pub error: Option<ActionError>,
}

impl Action {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionResource {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionError {
    pub code: String,
    pub message: String,
}

/// An SSH key, image, server type ... given by id or by name; the API
/// accepts both in the same field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IdOrName {
    Id(u64),
    Name(String),
}

impl From<u64> for IdOrName {
    fn from(id: u64) -> Self {
        IdOrName::Id(id)
    }
}

impl From<&str> for IdOrName {
    fn from(name: &str) -> Self {
        IdOrName::Name(name.to_string())
    }
}

impl From<String> for IdOrName {
    fn from(name: String) -> Self {
        IdOrName::Name(name)
    }
}

/// What `rampart provision` asks for when it creates a cloud server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateServerRequest {
    pub name: String,
    /// Server type name, e.g. `cx22`.
    pub server_type: String,
    /// Image name (`debian-12`) or id.
    pub image: String,
    /// Location name (`fsn1`); `None` lets Hetzner choose.
    pub location: Option<String>,
    pub ssh_keys: Vec<IdOrName>,
    /// Ids of private networks to attach at creation.
    pub networks: Vec<u64>,
    /// Ids of firewalls to apply at creation.
    pub firewalls: Vec<u64>,
    pub labels: BTreeMap<String, String>,
    /// cloud-init user data.
    pub user_data: Option<String>,
    pub start_after_create: Option<bool>,
}

/// The wire form of [`CreateServerRequest`] (`firewalls` is a list of
/// `{"firewall": id}` objects in the API).
#[derive(Serialize)]
pub(super) struct CreateServerBody<'a> {
    pub(super) name: &'a str,
    pub(super) server_type: &'a str,
    pub(super) image: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) location: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) ssh_keys: &'a [IdOrName],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) networks: &'a [u64],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) firewalls: Vec<FirewallRef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) start_after_create: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct FirewallRef {
    pub(super) firewall: u64,
}

impl<'a> From<&'a CreateServerRequest> for CreateServerBody<'a> {
    fn from(r: &'a CreateServerRequest) -> Self {
        CreateServerBody {
            name: &r.name,
            server_type: &r.server_type,
            image: &r.image,
            location: r.location.as_deref(),
            ssh_keys: &r.ssh_keys,
            networks: &r.networks,
            firewalls: r
                .firewalls
                .iter()
                .map(|&firewall| FirewallRef { firewall })
                .collect(),
            labels: &r.labels,
            user_data: r.user_data.as_deref(),
            start_after_create: r.start_after_create,
        }
    }
}

/// Answer of `POST /servers`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedServer {
    pub server: Server,
    /// The `create_server` action.
    pub action: Action,
    /// Follow-up actions (`start_server`, `attach_to_network`...).
    #[serde(default)]
    pub next_actions: Vec<Action>,
    /// Only set when no SSH key was given.
    #[serde(default)]
    pub root_password: Option<Secret>,
}

#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) error: ApiErrorBody,
}

#[derive(Deserialize)]
pub(super) struct ApiErrorBody {
    pub(super) code: String,
    pub(super) message: String,
    #[serde(default)]
    pub(super) details: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct Meta {
    #[serde(default)]
    pub(super) pagination: Option<Pagination>,
}

/// `meta.pagination` of list answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
    #[serde(default)]
    pub previous_page: Option<u32>,
    #[serde(default)]
    pub next_page: Option<u32>,
    #[serde(default)]
    pub last_page: Option<u32>,
    #[serde(default)]
    pub total_entries: Option<u32>,
}

// Wrappers of single-object answers.
#[derive(Deserialize)]
pub(super) struct ServerEnvelope {
    pub(super) server: Server,
}
#[derive(Deserialize)]
pub(super) struct ActionEnvelope {
    pub(super) action: Action,
}
#[derive(Deserialize)]
pub(super) struct ActionsEnvelope {
    pub(super) actions: Vec<Action>,
}
#[derive(Deserialize)]
pub(super) struct SshKeyEnvelope {
    pub(super) ssh_key: SshKey,
}
