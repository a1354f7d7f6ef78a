//! Shared set-up of commands that talk to hosts: load the inventory, select
//! hosts, build connection options and dial targets.

use std::path::PathBuf;
use std::time::Duration;

use crate::inventory::{select_hosts, Host, Inventory, InventoryError, Jump};
use crate::transport::{ConnectOptions, Credentials, Dial, Target, TransportError};

use super::args::GlobalArgs;

/// `-i`, else $RAMPART_INVENTORY (clap reads it), else ./inventory.yaml.
pub fn inventory_path(global: &GlobalArgs) -> PathBuf {
    global
        .inventory
        .clone()
        .unwrap_or_else(|| PathBuf::from("inventory.yaml"))
}

pub fn load_inventory(global: &GlobalArgs) -> Result<Inventory, InventoryError> {
    Inventory::load(&inventory_path(global))
}

pub fn selected<'a>(
    inv: &'a Inventory,
    global: &GlobalArgs,
) -> Result<Vec<&'a Host>, InventoryError> {
    select_hosts(inv, global.limit.as_deref())
}

pub fn connect_options(
    inv: &Inventory,
    user: &str,
    global: &GlobalArgs,
) -> Result<ConnectOptions, TransportError> {
    // Judged before any host is touched, not once per host at its key check.
    crate::transport::known_hosts::read(&inv.ssh.known_hosts)?;
    Ok(ConnectOptions {
        user: user.to_string(),
        credentials: Credentials::load(inv.ssh.identity.as_deref())?,
        known_hosts: inv.ssh.known_hosts.clone(),
        accept_new_host_keys: global.accept_new_host_keys,
        connect_timeout: Duration::from_secs(inv.ssh.connect_timeout_secs),
        command_timeout: Duration::from_secs(inv.ssh.command_timeout_secs),
    })
}

/// Dial targets; the jump host itself is always reached directly.
pub fn dials(inv: &Inventory, hosts: &[&Host]) -> Vec<Dial> {
    let jump = inv.ssh.jump.as_ref().map(|j| match j {
        Jump::Host(name) => {
            let h = inv.host(name);
            (
                Some(name.clone()),
                Target {
                    address: h.map(|h| h.address.clone()).unwrap_or_default(),
                    port: h.map(|h| h.port).unwrap_or(22),
                },
            )
        }
        Jump::Address { host, port } => (
            None,
            Target {
                address: host.clone(),
                port: *port,
            },
        ),
    });
    hosts
        .iter()
        .map(|h| Dial {
            name: h.name.clone(),
            target: Target {
                address: h.address.clone(),
                port: h.port,
            },
            jump: match &jump {
                Some((Some(jump_name), _)) if *jump_name == h.name => None,
                Some((_, t)) => Some(t.clone()),
                None => None,
            },
        })
        .collect()
}
pub use crate::ops::Prepared;

/// Refuses hosts declared with `create:` whose server has no address yet:
/// only `provision` can act on them.
pub fn refuse_uncreated(hosts: &[&Host]) -> Result<(), super::UsageError> {
    let pending: Vec<&str> = hosts
        .iter()
        .filter(|h| h.awaiting_creation())
        .map(|h| h.name.as_str())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    Err(super::UsageError(format!(
        "{} not created yet (declared with `create:` and no address): run `rampart provision` first, which creates the server and records its address; or leave them out with --limit",
        pending.join(", ")
    )))
}

pub fn prepare(global: &GlobalArgs) -> anyhow::Result<Prepared> {
    let p = prepare_for_provision(global)?;
    refuse_uncreated(&p.hosts())?;
    Ok(p)
}

/// [`prepare`] that keeps hosts still to be created (for `provision`).
pub fn prepare_for_provision(global: &GlobalArgs) -> anyhow::Result<Prepared> {
    let inventory = load_inventory(global)?;
    let catalog = crate::ops::host::Catalog::load(&inventory)
        .map_err(|e| super::UsageError(format!("profiles: {e}")))?;
    let hosts = selected(&inventory, global)?;
    let setups = hosts
        .iter()
        .map(|h| {
            crate::ops::host::setup(&inventory, &catalog, h)
                .map_err(|e| super::UsageError(format!("profiles for {}: {e}", h.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        inventory,
        catalog,
        setups,
    })
}

/// One host's facts, with the request its setup decided; a host whose OS
/// the profiles do not cover is refused here, before anything is planned.
pub async fn host_facts(
    p: &Prepared,
    session: &crate::transport::Session,
    name: &str,
) -> anyhow::Result<crate::facts::Facts> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    supported_facts(session, setup, &setup.request).await
}

/// Gathers `request` and refuses an unsupported OS.
pub async fn supported_facts(
    session: &crate::transport::Session,
    setup: &crate::ops::host::HostSetup,
    request: &crate::facts::Request,
) -> anyhow::Result<crate::facts::Facts> {
    let f = crate::facts::gather(session, request).await?;
    setup.for_facts(&f).map_err(anyhow::Error::msg)?;
    Ok(f)
}

/// Every prepared host's facts (one round trip each), for commands that
/// judge the fleet locally once all are in.
pub async fn gather_all(
    p: &std::sync::Arc<Prepared>,
    opts: &ConnectOptions,
    global: &GlobalArgs,
    stage: &str,
) -> Vec<crate::transport::HostOutcome<crate::facts::Facts, anyhow::Error>> {
    on_hosts(p, opts, global, stage, |session, name, _| {
        let p = p.clone();
        async move { host_facts(&p, &session, &name).await }
    })
    .await
}

/// Runs `task` on every prepared host, at most `-j` at once, with progress
/// on stderr; results come back in inventory order.
pub async fn on_hosts<T, E, F, Fut>(
    p: &Prepared,
    opts: &ConnectOptions,
    global: &GlobalArgs,
    stage: &str,
    task: F,
) -> Vec<crate::transport::HostOutcome<T, E>>
where
    F: Fn(std::sync::Arc<crate::transport::Session>, String, crate::transport::Reconnect) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<TransportError> + std::fmt::Display,
{
    on_hosts_observed(p, opts, global, stage, &|_| {}, task).await
}

/// [`on_hosts`], also telling `on_failure` the moment a host fails, even
/// one that could not be reached (its task never ran).
pub async fn on_hosts_observed<T, E, F, Fut>(
    p: &Prepared,
    opts: &ConnectOptions,
    global: &GlobalArgs,
    stage: &str,
    on_failure: &(dyn Fn(&str) + Send + Sync),
    task: F,
) -> Vec<crate::transport::HostOutcome<T, E>>
where
    F: Fn(std::sync::Arc<crate::transport::Session>, String, crate::transport::Reconnect) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<TransportError> + std::fmt::Display,
{
    on_listed_hosts(p, &p.hosts(), opts, global, stage, on_failure, task).await
}

/// [`on_hosts_observed`] on some of the prepared hosts only.
pub async fn on_listed_hosts<T, E, F, Fut>(
    p: &Prepared,
    hosts: &[&Host],
    opts: &ConnectOptions,
    global: &GlobalArgs,
    stage: &str,
    on_failure: &(dyn Fn(&str) + Send + Sync),
    task: F,
) -> Vec<crate::transport::HostOutcome<T, E>>
where
    F: Fn(std::sync::Arc<crate::transport::Session>, String, crate::transport::Reconnect) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<TransportError> + std::fmt::Display,
{
    let reporter = super::progress::Reporter::new(hosts.len(), stage);
    let observed = Observed {
        inner: &reporter,
        on_failure,
    };
    let outcomes = crate::transport::for_each_host(
        dials(&p.inventory, hosts),
        opts,
        usize::from(global.jobs),
        &observed,
        task,
    )
    .await;
    reporter.finish();
    outcomes
}

struct Observed<'a> {
    inner: &'a dyn crate::transport::Progress,
    on_failure: &'a (dyn Fn(&str) + Send + Sync),
}

impl crate::transport::Progress for Observed<'_> {
    fn started(&self, host: &str, stage: &str) {
        self.inner.started(host, stage);
    }
    fn finished(&self, host: &str, ok: bool, summary: &str) {
        if !ok {
            (self.on_failure)(host);
        }
        self.inner.finished(host, ok, summary);
    }
}
