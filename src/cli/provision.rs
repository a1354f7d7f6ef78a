//! `rampart provision`: first contact with fresh hosts. Connects as
//! `ssh.bootstrap_user`, creates the operators (their keys, sudo with
//! logging), installs the base packages, and proves `ssh.user` can log in
//! and use sudo before it finishes. Running it again changes nothing.
//!
//! Hosts declared with `create:` whose server does not exist yet are
//! created at Hetzner Cloud first (`super::create`), then provisioned like
//! the others at the address the API returned.

use std::sync::Arc;

use crate::calendar;
use crate::controls::{context, HostCtx};
use crate::engine::resource::Resource;
use crate::inventory::Host;
use crate::ops::boot::{wait_until_booted, Boot};
use crate::ops::converge::{apply_changes, Applied};
use crate::transport::{HostOutcome, Reconnect, Session, TransportError};

use super::args::GlobalArgs;
use super::context::{connect_options, on_hosts, on_listed_hosts, prepare_for_provision, Prepared};
use super::{summarize, Exit, UsageError};

/// Packages every later profile relies on being able to use.
const BASE_PACKAGES: &[&str] = &["sudo", "openssh-server", "ca-certificates"];

pub async fn run(g: &GlobalArgs) -> anyhow::Result<Exit> {
    let mut p = prepare_for_provision(g)?;
    if p.inventory.operators.is_empty() {
        return Err(UsageError("provision creates the inventory's operators, and it declares none; add `operators:` with their public keys".into()).into());
    }
    let user = p.inventory.ssh.user.clone();
    if user != "root" && !p.inventory.operators.iter().any(|o| o.name == user) {
        return Err(UsageError(format!("ssh.user `{user}` is not one of the operators; after provision rampart connects as ssh.user, so it must be an operator (or root)")).into());
    }
    let bootstrap = p.inventory.ssh.bootstrap_user.clone();
    let opts = connect_options(&p.inventory, &bootstrap, g)?;
    let created = super::create::create_servers(g, &mut p, &opts).await?;
    let p = Arc::new(p);
    let stamp = calendar::compact(calendar::now_secs());
    let task = |session: Arc<Session>, name: String, reconnect: Reconnect| {
        let (p, stamp, user) = (p.clone(), stamp.clone(), user.clone());
        async move { provision_host(&p, session, &name, reconnect, &stamp, &user).await }
    };
    let mut outcomes = on_hosts(&p, &opts, g, "provision", &task).await;
    // Hosts that refuse the bootstrap login were usually provisioned (and
    // hardened: no root logins) already: run again as ssh.user, so that
    // provisioning a fleet with one new host works on the old ones too.
    let refused = refused_bootstrap(&outcomes, &bootstrap);
    if user != bootstrap && !refused.is_empty() {
        let hosts: Vec<&Host> = p
            .hosts()
            .into_iter()
            .filter(|h| refused.contains(&h.name))
            .collect();
        for h in &hosts {
            eprintln!(
                "{}: {bootstrap} cannot log in (provisioned already?); trying {user}",
                h.name
            );
        }
        let as_user = connect_options(&p.inventory, &user, g)?;
        let again = on_listed_hosts(&p, &hosts, &as_user, g, "provision", &|_| {}, &task).await;
        for o in again {
            if let Some(slot) = outcomes.iter_mut().find(|s| s.host == o.host) {
                *slot = o;
            }
        }
    }
    for o in &outcomes {
        if let Ok(a) = &o.result {
            println!(
                "{}: {} change(s); {user} can log in and use sudo",
                o.host,
                a.applied()
            );
            for c in &a.changes {
                println!("  {c}");
            }
        }
    }
    Ok(summarize(&outcomes, "provision").worst(created))
}

/// Names of the hosts whose only failure was the bootstrap user's login.
fn refused_bootstrap<T>(
    outcomes: &[HostOutcome<T, anyhow::Error>],
    bootstrap: &str,
) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| match &o.result {
            Err(e) => matches!(
                e.downcast_ref::<TransportError>(),
                Some(TransportError::AuthFailed { user, .. }) if user == bootstrap
            ),
            Ok(_) => false,
        })
        .map(|o| o.host.clone())
        .collect()
}

/// Operators, base packages, then the proof that `user` logs in and has sudo.
async fn provision_host(
    p: &Prepared,
    session: Arc<Session>,
    name: &str,
    reconnect: Reconnect,
    stamp: &str,
    user: &str,
) -> anyhow::Result<Applied> {
    let changes = first_contact_changes(p, &session, name).await?;
    let applied = apply_changes(&session, &reconnect, changes, stamp).await?;
    if !applied.succeeded() {
        let why: Vec<String> = applied
            .failures
            .iter()
            .map(|(s, m)| format!("{s}: {}", crate::engine::apply::failure_detail(m)))
            .collect();
        anyhow::bail!(
            "{} of {} change(s) applied; {}",
            applied.applied(),
            applied.changes.len(),
            why.join("; ")
        );
    }
    // The proof: a fresh login as ssh.user that can use sudo -n, once the
    // host has finished booting (pam_nologin).
    if user != "root" {
        if let Boot::FinishedAfter(secs) = wait_until_booted(&session).await? {
            eprintln!(
                "{name}: waited {secs} s for the boot to finish (/run/nologin: sshd \
                 refuses non-root logins until systemd-user-sessions runs)"
            );
        }
    }
    let fresh = match login_as_new_account(&reconnect, user).await {
        Ok(fresh) => fresh,
        Err(e) => {
            let sshd = sshd_says(&session, user).await;
            anyhow::bail!("operators were created, but logging in as {user} failed: {e}{sshd}")
        }
    };
    let probe = fresh.run("id -u", b"").await?;
    fresh.close().await;
    if probe.stdout_text().trim() != "0" {
        anyhow::bail!(
            "logged in as {user}, but `sudo -n` did not give root: {}",
            probe.stderr_text().trim()
        );
    }
    Ok(applied)
}

async fn first_contact_changes(
    p: &Prepared,
    session: &crate::transport::Session,
    name: &str,
) -> anyhow::Result<Vec<crate::engine::resource::Change>> {
    let setup = p
        .setup(name)
        .ok_or_else(|| anyhow::anyhow!("no setup for {name}"))?;
    let mut request = setup.request.clone();
    request
        .read
        .push(crate::controls::accounts_files::SUDOERS_OPERATORS.to_string());
    request
        .read
        .push(crate::controls::accounts_files::SUDOERS_LOGGING.to_string());
    let f = super::context::supported_facts(session, setup, &request).await?;
    let release = setup.for_facts(&f).map_err(anyhow::Error::msg)?;
    let vars = context::builtin_vars(&p.inventory);
    let mut all_vars = vars.clone();
    all_vars.extend(release.vars.clone());
    let ctx = HostCtx {
        host: &setup.host,
        inventory: &p.inventory,
        facts: &f,
        vars: &all_vars,
        mesh: &crate::controls::mesh::Directory::default(),
    };
    let mut resources: Vec<Resource> = BASE_PACKAGES
        .iter()
        .map(|n| Resource::Package {
            name: n.to_string(),
            present: true,
        })
        .collect();
    resources.extend(crate::controls::first_contact_resources(&ctx));
    Ok(crate::engine::resource::changes(&resources, &f))
}

/// What the host's sshd logged about `user` in the last minutes (read over
/// the bootstrap session, which still works): the reason a login was
/// refused is only ever in the server's log.
async fn sshd_says(session: &crate::transport::Session, user: &str) -> String {
    let cmd = format!(
        "journalctl --since=-3min --no-pager -o cat _COMM=sshd 2>/dev/null | grep -F -e ' {user} ' -e 'user {user}' -e 'not allowed' -e 'nologin' | tail -n 4"
    );
    match session.run(&cmd, b"").await {
        Ok(out) if !out.stdout_text().trim().is_empty() => {
            format!(
                "; sshd on the host logged: {}",
                out.stdout_text().trim().replace('\n', " | ")
            )
        }
        _ => String::new(),
    }
}

/// A just-created account can be refused for a moment (a name-service cache
/// such as nscd or sssd has not seen it yet): authentication is retried a
/// few times, one second apart; any other failure is final.
async fn login_as_new_account(
    reconnect: &crate::transport::Reconnect,
    user: &str,
) -> Result<crate::transport::Session, crate::transport::TransportError> {
    let mut attempt = 1;
    loop {
        match reconnect.connect_as(user).await {
            Err(crate::transport::TransportError::AuthFailed { .. }) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}
