//! `rampart plan` and `rampart harden`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::calendar;
use crate::controls::mesh::Directory;
use crate::controls::proxy::acme;
use crate::engine::resource::Change;
use crate::facts::Facts;
use crate::ops::converge::{apply_changes, Applied};
use crate::ops::fleet::Rendezvous;
use crate::ops::harden::{self as ops, failure_text, is_edge};
use crate::ops::host;
use crate::transport::{HostOutcome, Reconnect};

use super::args::GlobalArgs;
use super::context::{
    connect_options, gather_all, host_facts, on_hosts_observed, prepare, Prepared,
};
use super::{summarize, Exit, UsageError};

/// Refuses, before anything is applied anywhere, a plan that would lock
/// rampart's own account out of any host.
fn refuse_lockouts(p: &Prepared, client_keys: &[String]) -> anyhow::Result<()> {
    let risks = ops::lockout_risks(&p.inventory, &p.setups, client_keys);
    refuse_any(
        "refused: these changes would lock rampart out; nothing was applied.",
        &risks,
    )
}

/// Luks input problems and bad `--wipe` values: exit 2, nothing applied.
fn refuse_luks_input(p: &Prepared, wipe: &[String]) -> anyhow::Result<()> {
    let problems = ops::luks_input_problems(&p.inventory, &p.hosts(), wipe);
    refuse_any("refused; nothing was applied:", &problems)
}

fn refuse_any(head: &str, problems: &[String]) -> anyhow::Result<()> {
    match ops::refusal(head, problems) {
        Some(text) => Err(UsageError(text).into()),
        None => Ok(()),
    }
}

fn mesh_rendezvous(p: &Prepared, applying: bool) -> anyhow::Result<Arc<Rendezvous>> {
    let r = ops::mesh_rendezvous(&p.inventory, &p.setups, applying).map_err(UsageError)?;
    Ok(Arc::new(r))
}

pub async fn plan(g: &GlobalArgs, detailed_exitcode: bool) -> anyhow::Result<Exit> {
    let p = Arc::new(prepare(g)?);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    refuse_lockouts(&p, &opts.credentials.public_keys())?;
    refuse_luks_input(&p, &[])?;
    let rendezvous = mesh_rendezvous(&p, false)?;
    let facts = gather_all(&p, &opts, g, "facts").await;
    // Planning is local once every host's facts are in: the mesh directory
    // is complete without any host waiting for another.
    for o in &facts {
        let f = o.result.as_ref().ok();
        if let Some(f) = f {
            ops::learn_backup_keys(&p.inventory, &rendezvous, &o.host, f);
        }
        rendezvous.report(&o.host, f.and_then(|f| f.mesh.public_key.clone()));
    }
    let directory = rendezvous.snapshot();
    let outcomes: Vec<HostOutcome<Vec<Change>, anyhow::Error>> = facts
        .into_iter()
        .map(|o| HostOutcome {
            result: o
                .result
                .and_then(|f| host_changes(&p, &o.host, &f, &directory)),
            host: o.host,
        })
        .collect();
    let mut pending = 0;
    for o in &outcomes {
        if let Ok(changes) = &o.result {
            pending += changes.len();
            print_plan(&o.host, changes);
        }
    }
    println!(
        "\nPlan: {pending} change(s) on {} host(s).",
        outcomes
            .iter()
            .filter(|o| o.result.as_ref().is_ok_and(|c| !c.is_empty()))
            .count()
    );
    let exit = summarize(&outcomes, "plan");
    Ok(match exit {
        Exit::Ok if detailed_exitcode && pending > 0 => Exit::Drift,
        other => other,
    })
}

fn host_changes(
    p: &Prepared,
    name: &str,
    f: &Facts,
    directory: &Directory,
) -> anyhow::Result<Vec<Change>> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    host::plan(setup, &p.inventory, f, directory, calendar::today()).map_err(|e| anyhow::anyhow!(e))
}

/// Facts, then the plan against what the rendezvous knows now; a mesh host
/// reports its key as soon as the facts show one.
async fn fresh_plan(
    p: &Prepared,
    rendezvous: &Rendezvous,
    session: &crate::transport::Session,
    name: &str,
) -> anyhow::Result<(Facts, Directory, Vec<Change>)> {
    let f = host_facts(p, session, name).await?;
    let ready = ops::learn_backup_keys(&p.inventory, rendezvous, name, &f);
    if let Some(key) = &f.mesh.public_key {
        if rendezvous.expects(name) && ready {
            rendezvous.report(name, Some(key.clone()));
        }
    }
    let directory = rendezvous.snapshot();
    let changes = host_changes(p, name, &f, &directory)?;
    Ok((f, directory, changes))
}

/// Reports a mesh host as failed if its task ends without having reported,
/// so the others never wait for it in vain.
struct ReportOnDrop<'a> {
    rendezvous: &'a Rendezvous,
    host: &'a str,
}

impl Drop for ReportOnDrop<'_> {
    fn drop(&mut self) {
        if self.rendezvous.expects(self.host) && !self.rendezvous.has_reported(self.host) {
            self.rendezvous.report(self.host, None);
        }
    }
}

/// One host's harden: everything that needs no peer first (packages, the
/// mesh key), then, once every mesh host of the run has its key, the peers.
async fn harden_host(
    p: &Prepared,
    rendezvous: &Rendezvous,
    session: &crate::transport::Session,
    reconnect: &Reconnect,
    name: &str,
    stamp: &str,
) -> anyhow::Result<Applied> {
    let _failed = ReportOnDrop {
        rendezvous,
        host: name,
    };
    let (_, mut directory, changes) = fresh_plan(p, rendezvous, session, name).await?;
    let mut applied = apply_changes(session, reconnect, changes, stamp).await?;
    // Packages bring files, directories and units the first plan could not
    // see; one more pass settles what they introduced.
    if applied.succeeded() && applied.installed_packages() {
        let (_, d, more) = fresh_plan(p, rendezvous, session, name).await?;
        directory = d;
        applied.absorb(apply_changes(session, reconnect, more, stamp).await?);
    }
    if rendezvous.expects(name) && !rendezvous.has_reported(name) {
        let f = host_facts(p, session, name).await?;
        ops::learn_backup_keys(&p.inventory, rendezvous, name, &f);
        rendezvous.report(name, f.mesh.public_key.clone());
    }
    if applied.succeeded() && rendezvous.expects(name) && !directory.complete {
        let timeout = Duration::from_secs(p.inventory.ssh.command_timeout_secs);
        let directory = rendezvous.complete(timeout).await;
        let f = host_facts(p, session, name).await?;
        let peers = host_changes(p, name, &f, &directory)?;
        applied.absorb(apply_changes(session, reconnect, peers, stamp).await?);
    }
    if applied.succeeded() {
        if let Some(more) = acme_pass(p, rendezvous, session, reconnect, name, stamp).await? {
            applied.absorb(more);
        }
    }
    if applied.succeeded() {
        Ok(applied)
    } else {
        Err(anyhow::anyhow!(failure_text(&applied)))
    }
}

/// HTTP-01 answers written on the edge over its harden session: the
/// content on stdin, root-owned, world-readable for nginx.
struct EdgeChallenges<'a> {
    session: &'a crate::transport::Session,
}

impl EdgeChallenges<'_> {
    async fn run(&self, command: String, stdin: &[u8]) -> Result<(), String> {
        let out = self
            .session
            .run(&command, stdin)
            .await
            .map_err(|e| e.to_string())?;
        if out.status == Some(0) {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl acme::ChallengeHost for EdgeChallenges<'_> {
    fn write<'a>(
        &'a self,
        token: &'a str,
        content: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.run(acme::write_command(token), content.as_bytes()))
    }
    fn remove<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.run(acme::remove_command(token), b""))
    }
}

/// After an ACME edge is hardened (nginx up, port 80 served, with the
/// bootstrap certificate on a first run): orders its certificate when it
/// has none, it nears expiry or its names changed, stores it, and runs one
/// more plan+apply so nginx gets it through the checked reload. A failing
/// order fails this host only; nothing was changed on it, so nginx keeps
/// the configuration and certificate it had.
async fn acme_pass(
    p: &Prepared,
    rendezvous: &Rendezvous,
    session: &crate::transport::Session,
    reconnect: &Reconnect,
    name: &str,
    stamp: &str,
) -> anyhow::Result<Option<Applied>> {
    let Some(a) = acme::settings(&p.inventory) else {
        return Ok(None);
    };
    let Some(setup) = p.setup(name) else {
        return Ok(None);
    };
    if !is_edge(setup) {
        return Ok(None);
    }
    let host = &setup.host;
    let stored = acme::stored(&p.inventory, host).map(|(cert, _, _)| cert);
    let names = acme::names(&p.inventory, host);
    let Some(why) = acme::renewal_due(
        stored.as_deref(),
        &names,
        a.renew_days,
        i64::try_from(calendar::now_secs()).unwrap_or(i64::MAX),
    ) else {
        return Ok(None);
    };
    let identity = crate::ca::Identity::from_env()?.ok_or_else(|| {
        anyhow::anyhow!(
            "an ACME certificate is due ({why}), which needs RAMPART_AGE_IDENTITY to read the ACME account and seal the new key"
        )
    })?;
    eprintln!(
        "{name}: ordering an ACME certificate for {} from {} ({why})",
        names.join(", "),
        a.directory
    );
    let started = std::time::Instant::now();
    let edge = EdgeChallenges { session };
    let issued = acme::order(&p.inventory, host, &identity, &edge)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; the edge keeps serving its current certificate"))?;
    acme::store(&p.inventory, host, &issued)?;
    eprintln!(
        "{name}: ACME certificate issued in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (_, _, changes) = fresh_plan(p, rendezvous, session, name).await?;
    Ok(Some(
        apply_changes(session, reconnect, changes, stamp).await?,
    ))
}

fn print_plan(host: &str, changes: &[Change]) {
    if changes.is_empty() {
        println!("{host}: no changes");
        return;
    }
    println!("{host}: {} change(s)", changes.len());
    for c in changes {
        println!("  {c}");
        if let Some(diff) = &c.diff {
            for line in diff.lines() {
                println!("      {line}");
            }
        }
    }
}

pub async fn harden(g: &GlobalArgs, wipe: &[String]) -> anyhow::Result<Exit> {
    let mut p = prepare(g)?;
    refuse_luks_input(&p, wipe)?;
    for s in &mut p.setups {
        s.consent = wipe.to_vec();
    }
    let p = Arc::new(p);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    refuse_lockouts(&p, &opts.credentials.public_keys())?;
    prepare_edges(&p)?;
    let stamp = calendar::compact(calendar::now_secs());
    let rendezvous = mesh_rendezvous(&p, true)?;
    // Mesh hosts wait for each other midway: they all run at once, whatever -j.
    let mut g = g.clone();
    let mesh_hosts = p
        .setups
        .iter()
        .filter(|s| rendezvous.expects(&s.host.name))
        .count();
    g.jobs = g.jobs.max(u16::try_from(mesh_hosts).unwrap_or(u16::MAX));
    // An unreachable host reports at once, so no other waits for it.
    let report_failure = {
        let rendezvous = rendezvous.clone();
        move |host: &str| {
            if rendezvous.expects(host) && !rendezvous.has_reported(host) {
                rendezvous.report(host, None);
            }
        }
    };
    let outcomes = on_hosts_observed(
        &p,
        &opts,
        &g,
        "harden",
        &report_failure,
        |session, name, reconnect| {
            let (p, stamp, rendezvous) = (p.clone(), stamp.clone(), rendezvous.clone());
            async move { harden_host(&p, &rendezvous, &session, &reconnect, &name, &stamp).await }
        },
    )
    .await;
    for w in ops::record_learned(&p.inventory, &rendezvous) {
        eprintln!("warning: {w}");
    }
    let mut total = 0;
    for o in &outcomes {
        if let Ok(a) = &o.result {
            total += a.applied();
            println!("{}: {} change(s) applied", o.host, a.applied());
            for (c, ok) in a.changes.iter().zip(&a.ok) {
                if *ok {
                    println!("  {c}");
                }
            }
            for (h, _) in &a.handlers {
                println!("  handler: {h}");
            }
        }
    }
    println!("\nApplied {total} change(s).");
    Ok(summarize(&outcomes, "harden"))
}

/// The edges' TLS material on the control machine, before any host is
/// touched: rampart's CA created on first need, `self_signed` certificates
/// issued, an ageing CRL re-signed (see controls::proxy::material).
fn prepare_edges(p: &Prepared) -> anyhow::Result<()> {
    let edges: Vec<&crate::inventory::Host> = p
        .setups
        .iter()
        .filter(|s| is_edge(s))
        .map(|s| &s.host)
        .collect();
    if edges.is_empty() {
        return Ok(());
    }
    let identity = crate::ca::Identity::from_env()?;
    let done = crate::controls::proxy::prepare(&p.inventory, &edges, identity.as_ref())?;
    for n in &done.notes {
        eprintln!("{n}");
    }
    for w in &done.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
