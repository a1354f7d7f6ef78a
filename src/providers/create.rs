//! Creating the Hetzner Cloud servers of inventory hosts declared with
//! `create: {type, image, location, network}`, before `rampart provision`
//! makes first contact with them.
//!
//! Two steps, so that every refusal comes before anything is created:
//!
//! 1. [`plan_creation`] judges the residency policy for every host to
//!    create (a location outside it is refused before any API call), checks
//!    that SSH can be allowed from somewhere (`admin_sources`) and that
//!    operators have keys, then only *reads* the API: which servers exist
//!    already, and the ids of the named private networks (an unknown one is
//!    refused).
//! 2. [`execute`] uploads the operators' public keys that the project lacks
//!    (`POST /ssh_keys`), makes sure a firewall allowing SSH only from
//!    `admin_sources` exists (`POST /firewalls`), creates each server with
//!    the keys, the network and the firewall attached at creation (so it is
//!    never reachable unfiltered), waits for the create actions, reads the
//!    address the API gives it, and waits (bounded) until it answers SSH.
//!
//! The firewall's name carries a digest of its rules
//! (`rampart-ssh-22-1a2b3c4d`), so a changed `admin_sources` makes a new
//! firewall rather than silently reusing one with other rules. Hetzner
//! Cloud firewalls drop inbound traffic no rule allows: a created server
//! accepts only SSH from `admin_sources` on its public interface until the
//! operator adds rules (private-network traffic is not filtered by them).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::hcloud::{
    CreateFirewallRequest, CreateServerRequest, FirewallRule, HcloudClient, IdOrName,
};
use super::ProviderError;
use crate::inventory::residency::{check_location, Verdict};
use crate::inventory::{Host, Inventory, Provider};

/// Label put on everything rampart creates.
pub const MANAGED_BY: (&str, &str) = ("managed-by", "rampart");

/// Bounds of the wait for a created server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// How long a created server may take to answer SSH.
    pub ssh_timeout: Duration,
    /// Pause between two SSH probes.
    pub ssh_interval: Duration,
    /// Servers created at once.
    pub jobs: usize,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            ssh_timeout: Duration::from_secs(300),
            ssh_interval: Duration::from_secs(3),
            jobs: 8,
        }
    }
}

/// Why servers were not (all) created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("refused, nothing was created: {host} would be created in {location} ({city}), which is in {country}, outside the residency policy [{policy}]")]
    Residency {
        host: String,
        location: String,
        city: String,
        country: String,
        policy: String,
    },
    #[error("refused, nothing was created: {host}: create.location {location:?} is not a known Hetzner Cloud location")]
    UnknownLocation { host: String, location: String },
    #[error("refused, nothing was created: `admin_sources` is empty, so the provider firewall would allow SSH from nowhere; list the networks SSH may come from")]
    NoAdminSources,
    #[error("refused, nothing was created: no operator has an SSH key to install on the new servers; add `operators:` with their public keys")]
    NoOperatorKeys,
    #[error("refused, nothing was created: {host}: create.network {network:?} is not a network of this Hetzner Cloud project (it has: {known})")]
    UnknownNetwork {
        host: String,
        network: String,
        known: String,
    },
    #[error("{host}: Hetzner Cloud server {id} has no public IPv4 address to connect to")]
    NoAddress { host: String, id: u64 },
    #[error("{host}: {address} port {port} did not answer SSH within {}s", .after.as_secs())]
    SshTimeout {
        host: String,
        address: IpAddr,
        port: u16,
        after: Duration,
    },
    #[error("{host}: {source}")]
    Provider {
        host: String,
        #[source]
        source: ProviderError,
    },
    #[error(transparent)]
    Api(#[from] ProviderError),
}

impl CreateError {
    /// True for refusals made before anything was created: input errors.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CreateError::Residency { .. }
                | CreateError::UnknownLocation { .. }
                | CreateError::NoAdminSources
                | CreateError::NoOperatorKeys
                | CreateError::UnknownNetwork { .. }
        )
    }
}

/// A server that exists and answers SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub host: String,
    pub server_id: u64,
    pub address: IpAddr,
    pub location: String,
    /// False when the server existed before this run.
    pub created: bool,
}

/// A server to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub host: String,
    pub port: u16,
    /// Without `ssh_keys` and `firewalls`, which [`execute`] fills in.
    pub request: CreateServerRequest,
}

/// What [`plan_creation`] found; nothing has been changed yet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreationPlan {
    /// Hosts whose server exists already: (host, server id, address, port).
    pub existing: Vec<(String, u64, Option<IpAddr>, u16)>,
    pub to_create: Vec<Planned>,
}

/// What [`execute`] achieved: servers ready for first contact, and hosts
/// whose creation failed (the others still completed).
#[derive(Debug, Default)]
pub struct CreationOutcome {
    pub ready: Vec<Ready>,
    pub failed: Vec<(String, CreateError)>,
}

/// The hosts among `hosts` that are declared with `create:`.
pub fn hosts_to_create<'a>(hosts: &[&'a Host]) -> Vec<&'a Host> {
    hosts
        .iter()
        .copied()
        .filter(|h| h.create.is_some() && h.provider == Provider::Hetzner)
        .collect()
}

/// The checks that need no API: residency of each location, somewhere SSH
/// may come from, keys to install.
pub fn preflight(inv: &Inventory, hosts: &[&Host]) -> Result<(), CreateError> {
    for h in hosts {
        let Some(create) = &h.create else { continue };
        let Some(countries) = &inv.residency else {
            if super::hcloud_site(&create.location).is_none() {
                return Err(CreateError::UnknownLocation {
                    host: h.name.clone(),
                    location: create.location.clone(),
                });
            }
            continue;
        };
        match check_location(countries, Provider::Hetzner, &create.location) {
            Verdict::Inside { .. } => {}
            Verdict::Outside {
                site,
                city,
                country,
            } => {
                return Err(CreateError::Residency {
                    host: h.name.clone(),
                    location: site.to_string(),
                    city: city.to_string(),
                    country: country.to_string(),
                    policy: countries.join(", "),
                })
            }
            Verdict::NoLocation | Verdict::UnknownLocation => {
                return Err(CreateError::UnknownLocation {
                    host: h.name.clone(),
                    location: create.location.clone(),
                })
            }
        }
    }
    if hosts.is_empty() {
        return Ok(());
    }
    if inv.admin_sources.is_empty() {
        return Err(CreateError::NoAdminSources);
    }
    if operator_keys(inv).is_empty() {
        return Err(CreateError::NoOperatorKeys);
    }
    Ok(())
}

/// Judges every refusal, then reads (only reads) the API: which servers
/// exist, and the ids of the networks to attach.
pub async fn plan_creation(
    client: &HcloudClient,
    inv: &Inventory,
    hosts: &[&Host],
) -> Result<CreationPlan, CreateError> {
    let hosts = hosts_to_create(hosts);
    preflight(inv, &hosts)?;
    let mut plan = CreationPlan::default();
    let mut missing = Vec::new();
    for h in hosts {
        match client.get_server_by_name(&h.name).await? {
            Some(server) => plan.existing.push((
                h.name.clone(),
                server.id,
                server.ipv4().map(IpAddr::V4),
                h.port,
            )),
            None => missing.push(h),
        }
    }
    let wants_network = missing
        .iter()
        .any(|h| h.create.as_ref().is_some_and(|c| c.network.is_some()));
    let networks = if wants_network {
        client.list_networks().await?
    } else {
        Vec::new()
    };
    for h in missing {
        let Some(create) = &h.create else { continue };
        let mut network_ids = Vec::new();
        if let Some(name) = &create.network {
            match networks.iter().find(|n| &n.name == name) {
                Some(n) => network_ids.push(n.id),
                None => {
                    return Err(CreateError::UnknownNetwork {
                        host: h.name.clone(),
                        network: name.clone(),
                        known: if networks.is_empty() {
                            "no networks".to_string()
                        } else {
                            networks
                                .iter()
                                .map(|n| n.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    })
                }
            }
        }
        let location = super::hcloud_site(&create.location)
            .map(|s| s.code.to_string())
            .unwrap_or_else(|| create.location.clone());
        plan.to_create.push(Planned {
            host: h.name.clone(),
            port: h.port,
            request: CreateServerRequest {
                name: h.name.clone(),
                server_type: create.server_type.clone(),
                image: create.image.clone(),
                location: Some(location),
                ssh_keys: Vec::new(),
                networks: network_ids,
                firewalls: Vec::new(),
                labels: server_labels(&h.roles),
                user_data: None,
                start_after_create: Some(true),
            },
        });
    }
    Ok(plan)
}

/// Creates what `plan` lists, then waits until every server (created or
/// existing) answers SSH. `progress(host, what)` reports each step.
pub async fn execute(
    client: &HcloudClient,
    inv: &Inventory,
    plan: &CreationPlan,
    opts: &CreateOptions,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Result<CreationOutcome, CreateError> {
    let mut key_ids = Vec::new();
    let mut firewalls: BTreeMap<u16, u64> = BTreeMap::new();
    if !plan.to_create.is_empty() {
        key_ids = ensure_ssh_keys(client, inv).await?;
        for p in &plan.to_create {
            if let std::collections::btree_map::Entry::Vacant(e) = firewalls.entry(p.port) {
                e.insert(ensure_ssh_firewall(client, &inv.admin_sources, p.port).await?);
            }
        }
    }
    let creating = plan.to_create.iter().map(|p| {
        let mut request = p.request.clone();
        request.ssh_keys = key_ids.iter().map(|&id| IdOrName::from(id)).collect();
        request.firewalls = firewalls.get(&p.port).copied().into_iter().collect();
        async move {
            progress(&p.host, "creating the server");
            let (server, _) = client
                .create_server_and_wait(&request)
                .await
                .map_err(|source| CreateError::Provider {
                    host: p.host.clone(),
                    source,
                })?;
            let address = server
                .ipv4()
                .map(IpAddr::V4)
                .ok_or(CreateError::NoAddress {
                    host: p.host.clone(),
                    id: server.id,
                })?;
            progress(
                &p.host,
                &format!("created, address {address}; waiting for SSH"),
            );
            wait_for_ssh(&p.host, address, p.port, opts).await?;
            Ok(Ready {
                host: p.host.clone(),
                server_id: server.id,
                address,
                location: server
                    .location_name()
                    .map(super::normalise_hcloud_location)
                    .unwrap_or_default(),
                created: true,
            })
        }
    });
    let existing = plan
        .existing
        .iter()
        .map(|(host, id, address, port)| async move {
            let address = address.ok_or(CreateError::NoAddress {
                host: host.clone(),
                id: *id,
            })?;
            progress(
                host,
                &format!("exists (server {id}), address {address}; waiting for SSH"),
            );
            wait_for_ssh(host, address, *port, opts).await?;
            Ok(Ready {
                host: host.clone(),
                server_id: *id,
                address,
                location: String::new(),
                created: false,
            })
        });
    let names: Vec<String> = plan
        .to_create
        .iter()
        .map(|p| p.host.clone())
        .chain(plan.existing.iter().map(|e| e.0.clone()))
        .collect();
    let futures: Vec<ReadyFuture<'_>> = creating
        .map(|f| Box::pin(f) as ReadyFuture<'_>)
        .chain(existing.map(|f| Box::pin(f) as ReadyFuture<'_>))
        .collect();
    let results: Vec<Result<Ready, CreateError>> = stream::iter(futures)
        .buffered(opts.jobs.max(1))
        .collect()
        .await;
    let mut outcome = CreationOutcome::default();
    for (name, result) in names.into_iter().zip(results) {
        match result {
            Ok(ready) => outcome.ready.push(ready),
            Err(e) => outcome.failed.push((name, e)),
        }
    }
    Ok(outcome)
}

type ReadyFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Ready, CreateError>> + Send + 'a>>;

/// `type base64` of an OpenSSH public key line (the comment dropped).
fn key_material(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every operator's keys: (operator, key line).
fn operator_keys(inv: &Inventory) -> Vec<(&str, &str)> {
    inv.operators
        .iter()
        .flat_map(|o| o.keys.iter().map(move |k| (o.name.as_str(), k.trim())))
        .filter(|(_, k)| !k.is_empty())
        .collect()
}

fn short_digest(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Ids of the project's SSH keys for every operator key, uploading the
/// ones it lacks (matched by key material, not by name).
async fn ensure_ssh_keys(client: &HcloudClient, inv: &Inventory) -> Result<Vec<u64>, CreateError> {
    let existing = client.list_ssh_keys().await?;
    let mut ids = Vec::new();
    for (operator, key) in operator_keys(inv) {
        let material = key_material(key);
        if let Some(found) = existing
            .iter()
            .find(|k| key_material(&k.public_key) == material)
        {
            if !ids.contains(&found.id) {
                ids.push(found.id);
            }
            continue;
        }
        let name = format!("rampart-{operator}-{}", short_digest(&material));
        let labels = BTreeMap::from([
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            ("operator".to_string(), operator.to_string()),
        ]);
        let created = client.create_ssh_key(&name, key, &labels).await?;
        if !ids.contains(&created.id) {
            ids.push(created.id);
        }
    }
    Ok(ids)
}

/// The firewall rules allowing SSH on `port` from `sources` and nothing
/// else.
pub fn ssh_firewall_rules(sources: &[ipnet::IpNet], port: u16) -> Vec<FirewallRule> {
    let mut source_ips: Vec<String> = sources.iter().map(|n| n.trunc().to_string()).collect();
    source_ips.sort();
    source_ips.dedup();
    vec![FirewallRule {
        direction: "in".into(),
        protocol: "tcp".into(),
        port: Some(port.to_string()),
        source_ips,
        destination_ips: Vec::new(),
        description: Some("SSH from admin_sources (rampart)".into()),
    }]
}

/// The name of the firewall holding exactly these rules.
pub fn ssh_firewall_name(rules: &[FirewallRule], port: u16) -> String {
    let text = rules
        .iter()
        .flat_map(|r| r.source_ips.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(",");
    format!("rampart-ssh-{port}-{}", short_digest(&text))
}

/// The id of a firewall allowing SSH on `port` only from `sources`,
/// creating it (and waiting for its actions) if the project lacks it.
async fn ensure_ssh_firewall(
    client: &HcloudClient,
    sources: &[ipnet::IpNet],
    port: u16,
) -> Result<u64, CreateError> {
    let rules = ssh_firewall_rules(sources, port);
    let name = ssh_firewall_name(&rules, port);
    if let Some(found) = client
        .list_firewalls()
        .await?
        .into_iter()
        .find(|f| f.name == name)
    {
        return Ok(found.id);
    }
    let created = client
        .create_firewall(&CreateFirewallRequest {
            name,
            labels: BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]),
            rules,
            apply_to: Vec::new(),
        })
        .await?;
    client.wait_for_actions(&created.actions).await?;
    Ok(created.firewall.id)
}

/// Labels of a created server: managed-by, and the roles in the form
/// `inventory sync` reads back (`role=app`, or `roles=app.db`).
fn server_labels(roles: &[String]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
    let valid = |v: &str| {
        !v.is_empty()
            && v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    match roles {
        [role] if valid(role) => {
            labels.insert(super::sync::ROLE_LABEL.into(), role.clone());
        }
        [_, _, ..] if roles.iter().all(|r| valid(r)) && roles.join(".").len() <= 63 => {
            labels.insert(super::sync::ROLES_LABEL.into(), roles.join("."));
        }
        _ => {}
    }
    labels
}

/// Waits until `address:port` sends an SSH banner, probing every
/// `opts.ssh_interval`, for at most `opts.ssh_timeout`.
pub async fn wait_for_ssh(
    host: &str,
    address: IpAddr,
    port: u16,
    opts: &CreateOptions,
) -> Result<(), CreateError> {
    let deadline = tokio::time::Instant::now() + opts.ssh_timeout;
    let interval = opts.ssh_interval.max(Duration::from_millis(10));
    let max_probes = opts.ssh_timeout.as_millis() / interval.as_millis() + 2;
    for _ in 0..max_probes {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            break;
        }
        let probe = tokio::time::timeout(remaining.min(Duration::from_secs(10)), async {
            let mut stream = tokio::net::TcpStream::connect((address, port)).await?;
            let mut buf = [0u8; 64];
            let n = stream.read(&mut buf).await?;
            Ok::<bool, std::io::Error>(buf[..n].starts_with(b"SSH-"))
        })
        .await;
        if let Ok(Ok(true)) = probe {
            return Ok(());
        }
        tokio::time::sleep(
            interval.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        )
        .await;
    }
    Err(CreateError::SshTimeout {
        host: host.to_string(),
        address,
        port,
        after: opts.ssh_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_rules_allow_ssh_from_admin_sources_only() {
        let sources: Vec<ipnet::IpNet> = ["203.0.113.5/28", "198.51.100.7/32", "2001:db8::/48"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let rules = ssh_firewall_rules(&sources, 22);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].port.as_deref(), Some("22"));
        assert_eq!(
            rules[0].source_ips,
            ["198.51.100.7/32", "2001:db8::/48", "203.0.113.0/28"]
        );
        let name = ssh_firewall_name(&rules, 22);
        assert!(
            name.starts_with("rampart-ssh-22-") && name.len() == 23,
            "{name}"
        );
        let other = ssh_firewall_name(&ssh_firewall_rules(&sources[..1], 22), 22);
        assert_ne!(name, other);
    }

    #[test]
    fn created_servers_carry_their_roles_as_labels() {
        let one = server_labels(&["app".to_string()]);
        assert_eq!(one.get("role").map(String::as_str), Some("app"));
        let two = server_labels(&["app".to_string(), "db".to_string()]);
        assert_eq!(two.get("roles").map(String::as_str), Some("app.db"));
        assert_eq!(two.get("managed-by").map(String::as_str), Some("rampart"));
        let odd = server_labels(&["a.b".to_string()]);
        assert_eq!(odd.len(), 1);
    }

    #[tokio::test]
    async fn the_ssh_wait_is_bounded() {
        // A port nothing listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let opts = CreateOptions {
            ssh_timeout: Duration::from_millis(300),
            ssh_interval: Duration::from_millis(50),
            jobs: 1,
        };
        let started = std::time::Instant::now();
        let result = wait_for_ssh("h", IpAddr::from([127, 0, 0, 1]), port, &opts).await;
        assert!(matches!(result, Err(CreateError::SshTimeout { .. })));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
