//! `rampart inventory sync` and `rampart inventory check --live`: the two
//! inventory commands that ask the providers' APIs.

use std::path::Path;

use crate::inventory::edit::{self, EditError};
use crate::inventory::{Host, Inventory, InventoryError};
use crate::providers::live::{self, RES_02};
use crate::providers::start;
use crate::providers::sync::{self as provider_sync, SyncPlan};
use crate::providers::{
    client_names, configured_providers, credential_hint, process_env, AnyProvider, LabelSelector,
    Provider, ProviderKind, ProviderServer,
};

use super::args::{GlobalArgs, SyncArgs, SyncProvider};
use super::context::inventory_path;
use super::{Exit, UsageError};

/// The configured clients serving `kind`, and the names of those that are
/// not configured.
fn clients_of(kind: ProviderKind) -> anyhow::Result<(Vec<AnyProvider>, Vec<&'static str>)> {
    let clients: Vec<AnyProvider> = configured_providers(&process_env)?
        .into_iter()
        .filter(|c| c.kind() == kind)
        .collect();
    let missing = client_names(kind)
        .iter()
        .copied()
        .filter(|n| !clients.iter().any(|c| c.name() == *n))
        .collect();
    Ok((clients, missing))
}

fn credentials_needed(kind: ProviderKind) -> String {
    client_names(kind)
        .iter()
        .map(|n| format!("{} for {n}", credential_hint(n)))
        .collect::<Vec<_>>()
        .join(", or ")
}

/// The inventory text sync starts from: the file, or `None` when there is
/// no file yet (sync then starts one).
fn read_existing(path: &Path) -> anyhow::Result<Option<String>> {
    match Inventory::read_source(path) {
        Ok(text) => Ok(Some(text)),
        Err(InventoryError::Read { reason, .. }) if reason.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every server of the configured `clients`, and "name count" for each.
async fn list_all(clients: &[AnyProvider]) -> anyhow::Result<(Vec<ProviderServer>, Vec<String>)> {
    let mut servers: Vec<ProviderServer> = Vec::new();
    let mut counts = Vec::new();
    for client in clients {
        let listed = client.list_servers(None).await?;
        counts.push(format!("{} {}", client.name(), listed.len()));
        servers.extend(listed);
    }
    Ok((servers, counts))
}

pub async fn run(g: &GlobalArgs, args: &SyncArgs) -> anyhow::Result<Exit> {
    let path = inventory_path(g);
    // The file is judged before any provider is asked; an inventory without
    // hosts is where sync starts, so it is accepted here.
    let existing = read_existing(&path)?;
    let parsed = existing
        .as_deref()
        .map(|text| Inventory::parse_allowing_no_hosts(&path, text))
        .transpose()?;
    let kind = match args.provider {
        SyncProvider::Hetzner => ProviderKind::Hetzner,
        SyncProvider::Ovh => ProviderKind::Ovh,
    };
    let selector = args
        .label_selector
        .as_deref()
        .map(|s| LabelSelector::parse(s).map_err(|e| UsageError(format!("--label-selector: {e}"))))
        .transpose()?;
    let (clients, missing) = clients_of(kind)?;
    if clients.is_empty() {
        return Err(UsageError(format!(
            "no credentials for {}: set {}",
            kind.as_str(),
            credentials_needed(kind)
        ))
        .into());
    }
    let (servers, counts) = list_all(&clients).await?;
    let is_new = existing.is_none();
    let (source, inv) = match (existing, parsed) {
        (Some(text), Some(inv)) => (text, inv),
        _ => {
            let roles = start::unknown_label_roles(&servers, selector.as_ref());
            let text = start::skeleton(kind, &roles);
            let inv = Inventory::parse_allowing_no_hosts(&path, &text)?;
            println!("{}: no inventory yet; sync starts one", path.display());
            (text, inv)
        }
    };
    let plan = provider_sync::plan(&inv, kind, &servers, selector.as_ref());
    print_plan(
        &plan,
        kind,
        &counts,
        args.label_selector.as_deref(),
        &missing,
    );

    if plan.new.is_empty() {
        if is_new {
            println!(
                "\nnothing written: {} lists no server to add, so {} was not created",
                kind.as_str(),
                path.display()
            );
        }
        return Ok(if plan.in_sync() {
            Exit::Ok
        } else {
            Exit::Drift
        });
    }
    let updated = edit::append_hosts(&source, &plan.host_blocks(kind))?;
    println!();
    print_diff(&path, if is_new { "" } else { &source }, &updated);
    if let Err(e) = Inventory::parse(&path, &updated) {
        let message = format!(
            "the inventory with the new hosts would not be valid, so nothing is written:\n{e}\n(add what is missing at the provider, e.g. a role label, or add the hosts by hand)"
        );
        if args.write {
            return Err(UsageError(message).into());
        }
        println!("\n{message}");
        return Ok(Exit::Drift);
    }
    if !args.write {
        println!(
            "\nnothing written: run again with --write to {} {} host(s) {} {}",
            if is_new { "create it with" } else { "add" },
            plan.new.len(),
            if is_new { "in" } else { "to" },
            path.display()
        );
        return Ok(Exit::Drift);
    }
    if is_new {
        edit::write_new(&path, &updated)?;
        println!(
            "\nstarted {} with {} host(s) from {}: add operators and admin_sources before `rampart provision`",
            path.display(),
            plan.new.len(),
            kind.as_str()
        );
    } else {
        edit::write_atomic(&path, &inv.sha256, &updated)?;
        println!(
            "\nwrote {} new host(s) to {}",
            plan.new.len(),
            path.display()
        );
    }
    Ok(if plan.vanished.is_empty() {
        Exit::Ok
    } else {
        Exit::Drift
    })
}

fn print_plan(
    plan: &SyncPlan,
    kind: ProviderKind,
    counts: &[String],
    selector: Option<&str>,
    missing: &[&str],
) {
    let selected = match selector {
        Some(sel) => format!("; {} match --label-selector {sel}", plan.selected),
        None => String::new(),
    };
    println!(
        "{}: {} servers ({}){selected}",
        kind.as_str(),
        plan.listed,
        counts.join(", ")
    );
    for m in missing {
        println!(
            "  {m} not configured (set {}): its servers were not listed",
            credential_hint(m)
        );
    }
    if !plan.known.is_empty() {
        let known: Vec<String> = plan
            .known
            .iter()
            .map(|(host, server)| {
                if host == server {
                    host.clone()
                } else {
                    format!("{host} (server {server})")
                }
            })
            .collect();
        println!("in the inventory: {}", known.join(", "));
    }
    for h in &plan.new {
        println!(
            "new: {} ({}, {}, roles {})",
            h.name,
            h.address,
            h.location.as_deref().unwrap_or("no location"),
            h.roles.join(",")
        );
    }
    for s in &plan.skipped {
        println!("not added: {}: {}", s.server, s.reason);
    }
    let not_listed = if missing.is_empty() {
        String::new()
    } else {
        format!(" ({} not configured, so not asked)", missing.join(", "))
    };
    for v in &plan.vanished {
        println!(
            "vanished: {} ({}): not found at {}{not_listed}; left in the inventory",
            v.host,
            v.address,
            kind.as_str()
        );
    }
    for name in &plan.to_create {
        println!("to create: {name} (rampart provision creates it)");
    }
    if plan.in_sync() {
        println!("the inventory matches {}", kind.as_str());
    }
}

fn print_diff(path: &Path, old: &str, new: &str) {
    let name = path.display().to_string();
    let diff = similar::TextDiff::from_lines(old, new);
    print!(
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&name, &format!("{name} (after sync)"))
    );
}

/// `inventory check --live`: RES-02 for `hosts`. Exit 1 when a host's
/// location disagrees with its provider or the provider lacks it.
pub async fn check_live(hosts: &[&Host]) -> anyhow::Result<Exit> {
    let providers = configured_providers(&process_env)?;
    if providers.is_empty() {
        return Err(UsageError(format!(
            "--live asks the providers where each host is, and no provider credentials are set: set {}, or {}",
            credentials_needed(ProviderKind::Hetzner),
            credentials_needed(ProviderKind::Ovh)
        ))
        .into());
    }
    let report = live::check_locations(hosts, &providers).await?;
    let failures: Vec<_> = report.failures().collect();
    let checked = report.hosts.len() - report.unchecked().count();
    println!(
        "{RES_02} locations from the providers: {} of {checked} checked hosts match",
        checked - failures.len()
    );
    for f in &failures {
        println!("{RES_02} FAIL {f}");
    }
    for u in report.unchecked() {
        println!("{RES_02} {u}");
    }
    Ok(if failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Drift
    })
}

/// Errors of this module that are the user's input rather than a failure.
pub fn is_input_error(e: &anyhow::Error) -> bool {
    if let Some(pe) = e.downcast_ref::<crate::providers::ProviderError>() {
        return matches!(
            pe,
            crate::providers::ProviderError::MissingCredential { .. }
                | crate::providers::ProviderError::InvalidConfig { .. }
                | crate::providers::ProviderError::InvalidArgument { .. }
        );
    }
    matches!(
        e.downcast_ref::<EditError>(),
        Some(
            EditError::NoHosts
                | EditError::FlowHosts
                | EditError::NoHost(_)
                | EditError::UnsupportedHost(_)
                | EditError::Changed { .. }
        )
    )
}
