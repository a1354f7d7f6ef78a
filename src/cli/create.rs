//! The part of `rampart provision` that creates Hetzner Cloud servers for
//! hosts declared with `create:` (the orchestration is
//! [`crate::providers::create`]): refuse what must be refused before
//! anything exists, create, print and record the addresses, and point the
//! first-contact connections at the addresses the API returned.

use crate::inventory::edit;
use crate::inventory::Inventory;
use crate::providers::create::{self, CreateOptions};
use crate::providers::hcloud::HcloudClient;
use crate::transport::ConnectOptions;

use super::args::GlobalArgs;
use super::context::Prepared;
use super::{Exit, UsageError};

/// Makes sure every selected host with `create:` has a server that
/// answers SSH. Hosts whose creation failed are dropped from `p` (and
/// reported): the others are provisioned as usual. Returns the exit code
/// the creation step contributes.
pub async fn create_servers(
    g: &GlobalArgs,
    p: &mut Prepared,
    opts: &ConnectOptions,
) -> anyhow::Result<Exit> {
    let hosts = p.hosts();
    let hosts = create::hosts_to_create(&hosts);
    if hosts.is_empty() {
        return Ok(Exit::Ok);
    }
    create::preflight(&p.inventory, &hosts)?;
    refuse_foreign_identity(&p.inventory, opts)?;
    let client = HcloudClient::from_env()?;
    let plan = create::plan_creation(&client, &p.inventory, &hosts).await?;
    if !plan.to_create.is_empty() && !g.accept_new_host_keys {
        let names: Vec<&str> = plan.to_create.iter().map(|c| c.host.as_str()).collect();
        return Err(UsageError(format!(
            "{} will be created, and a new server's host key cannot be known in advance: pass --accept-new-host-keys to record it on first contact; nothing was created",
            names.join(", ")
        ))
        .into());
    }
    for c in &plan.to_create {
        let network = p
            .inventory
            .host(&c.host)
            .and_then(|h| h.create.as_ref())
            .and_then(|c| c.network.as_deref())
            .map(|n| format!(", attached to network {n}"))
            .unwrap_or_default();
        println!(
            "{}: creating a {} server from {} in {}{network}",
            c.host,
            c.request.server_type,
            c.request.image,
            c.request.location.as_deref().unwrap_or("-")
        );
    }
    let options = CreateOptions {
        jobs: usize::from(g.jobs),
        ..CreateOptions::default()
    };
    let progress = |host: &str, what: &str| eprintln!("{host}: {what}");
    let outcome = create::execute(&client, &p.inventory, &plan, &options, &progress).await?;

    let mut recorded = Vec::new();
    for r in &outcome.ready {
        if r.created {
            println!(
                "{}: created Hetzner Cloud server {} in {}, address {}",
                r.host, r.server_id, r.location, r.address
            );
        } else {
            println!(
                "{}: Hetzner Cloud server {} exists, address {}",
                r.host, r.server_id, r.address
            );
        }
        let address = r.address.to_string();
        for host in p.inventory.hosts.iter_mut().filter(|h| h.name == r.host) {
            if host.address.is_empty() {
                recorded.push((r.host.clone(), address.clone()));
            } else if host.address != address {
                eprintln!(
                    "{}: the inventory says address {}, the API says {address}; connecting to {address} (the inventory is left as written)",
                    r.host, host.address
                );
            }
            host.address = address.clone();
        }
        for setup in p.setups.iter_mut().filter(|s| s.host.name == r.host) {
            setup.host.address = address.clone();
        }
    }
    if !recorded.is_empty() {
        record_addresses(&p.inventory, &recorded);
    }
    if outcome.failed.is_empty() {
        return Ok(Exit::Ok);
    }
    eprintln!(
        "\n{} of {} servers could not be created or reached:",
        outcome.failed.len(),
        outcome.failed.len() + outcome.ready.len()
    );
    for (host, e) in &outcome.failed {
        eprintln!("  {host}: {e}");
    }
    p.setups
        .retain(|s| !outcome.failed.iter().any(|(h, _)| *h == s.host.name));
    Ok(Exit::HostFailed)
}

/// A new server only accepts the operators' keys: when rampart's own
/// identity is a key file that is not one of them, provision could never
/// log in, so nothing is created. (An ssh-agent's keys cannot be listed
/// here; the first contact reports that case.)
fn refuse_foreign_identity(inv: &Inventory, opts: &ConnectOptions) -> Result<(), UsageError> {
    let client_keys = opts.credentials.public_keys();
    if client_keys.is_empty() {
        return Ok(());
    }
    let material = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let operator_keys: Vec<String> = inv
        .operators
        .iter()
        .flat_map(|o| o.keys.iter().map(|k| material(k)))
        .collect();
    if client_keys
        .iter()
        .any(|k| operator_keys.contains(&material(k)))
    {
        return Ok(());
    }
    Err(UsageError(
        "rampart's identity (ssh.identity) is not one of the operators' keys, and a created server only accepts those; add its public key to an operator; nothing was created".into(),
    ))
}

/// Writes `address:` into the hosts that had none, keeping everything else
/// of the file as it is. A failure here does not stop provisioning: the
/// address is printed, and the message says what to add by hand.
fn record_addresses(inv: &Inventory, recorded: &[(String, String)]) {
    let by_hand = || {
        recorded
            .iter()
            .map(|(h, a)| format!("{h}: address: {a}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let result = (|| -> anyhow::Result<()> {
        let source = std::fs::read_to_string(&inv.path)?;
        let mut text = source.clone();
        for (host, address) in recorded {
            text = edit::add_host_field(&text, host, "address", &edit::scalar(address))?;
        }
        Inventory::parse(&inv.path, &text)?;
        edit::write_atomic(&inv.path, &inv.sha256, &text)?;
        Ok(())
    })();
    match result {
        Ok(()) => println!(
            "recorded the address of {} in {}",
            recorded
                .iter()
                .map(|(h, _)| h.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            inv.path.display()
        ),
        Err(e) => eprintln!(
            "warning: could not record the new addresses in {}: {e:#}\n  add them by hand ({})",
            inv.path.display(),
            by_hand()
        ),
    }
}
