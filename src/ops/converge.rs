//! Applying a host's plan and proving the host is still reachable.

use crate::engine::apply;
use crate::engine::resource::{Change, Handler, Resource};
use crate::engine::secret::SecretError;
use crate::transport::{Reconnect, Session, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An escrow could not be written: the host was not touched.
    #[error("nothing was applied to this host: {0}")]
    Escrow(#[from] SecretError),
}

/// Writes the escrow of every secret the changes carry, before any of them
/// reaches the host: a crash after the host used a key must not lose it.
pub fn persist_escrows(changes: &[Change]) -> Result<(), SecretError> {
    for c in changes {
        if let Resource::Action(a) = &c.resource {
            if let (Some(secret), Some(escrow)) = (&a.secret, &a.escrow) {
                escrow.persist(secret)?;
                tracing::debug!(path = %escrow.path.display(), "escrow written");
            }
        }
    }
    Ok(())
}

/// What happened when a host's changes were applied.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: Vec<Change>,
    /// Per change: applied or not.
    pub ok: Vec<bool>,
    /// (change summary, error output) for each failed change.
    pub failures: Vec<(String, String)>,
    /// (handler name, succeeded).
    pub handlers: Vec<(String, bool)>,
    /// Set when the sshd change was undone because a fresh connection failed.
    pub rolled_back: Option<String>,
}

impl Applied {
    pub fn applied(&self) -> usize {
        self.ok.iter().filter(|o| **o).count()
    }
    /// Whether a package was installed or purged.
    pub fn installed_packages(&self) -> bool {
        self.changes.iter().zip(&self.ok).any(|(c, ok)| {
            *ok && matches!(
                c.resource,
                crate::engine::resource::Resource::Package { .. }
            )
        })
    }

    /// Adds a later pass's results.
    pub fn absorb(&mut self, later: Applied) {
        self.changes.extend(later.changes);
        self.ok.extend(later.ok);
        self.failures.extend(later.failures);
        self.handlers.extend(later.handlers);
        if self.rolled_back.is_none() {
            self.rolled_back = later.rolled_back;
        }
    }

    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
            && self.rolled_back.is_none()
            && self.handlers.iter().all(|(_, ok)| *ok)
    }
}

/// Runs the host's changes in one exec, then, if sshd was reloaded, opens a
/// fresh connection: success cancels the rollback timer, failure rolls the
/// sshd configuration back at once over the still-open session.
pub async fn apply_changes(
    session: &Session,
    reconnect: &Reconnect,
    changes: Vec<Change>,
    stamp: &str,
) -> Result<Applied, ApplyError> {
    if changes.is_empty() {
        return Ok(Applied::default());
    }
    persist_escrows(&changes)?;
    let script = apply::script(&changes, stamp);
    let stdout = apply::run_script(session, &script).await?;
    let (ok, failed) = apply::parse_results(&stdout, changes.len());
    let failures = failed
        .into_iter()
        .filter_map(|(i, msg)| changes.get(i).map(|c| (c.summary.clone(), msg)))
        .collect();
    let handlers = parse_handlers(&stdout);
    let mut result = Applied {
        changes,
        ok,
        failures,
        handlers,
        rolled_back: None,
    };
    let guarded = [Handler::ReloadSshd, Handler::LoadFirewall];
    if result.handlers.iter().any(|(h, ok)| {
        *ok && guarded
            .iter()
            .any(|g| g.name() == h && crate::engine::apply::is_guarded(*g))
    }) {
        match connect_after_reload(reconnect).await {
            Ok(fresh) => {
                let confirmed = fresh.run(&apply::confirm_script(), b"").await;
                fresh.close().await;
                if let Err(e) = confirmed {
                    result.rolled_back = Some(format!(
                        "could not cancel the rollback timer over the fresh connection: {e}"
                    ));
                }
            }
            Err(e) => {
                let _ = session.run(&apply::rollback_script(), b"").await;
                result.rolled_back = Some(format!("a fresh SSH connection failed after the change ({e}); the previous sshd configuration and firewall were restored"));
            }
        }
    }
    Ok(result)
}

fn parse_handlers(stdout: &str) -> Vec<(String, bool)> {
    stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("@@handler ok ")
                .map(|n| (n.trim().to_string(), true))
                .or_else(|| {
                    l.strip_prefix("@@handler fail ")
                        .map(|n| (n.trim().to_string(), false))
                })
        })
        .collect()
}

/// A reloaded sshd re-executes itself; for a moment the port refuses
/// connections. Refusals are retried briefly; any other failure is final.
async fn connect_after_reload(reconnect: &Reconnect) -> Result<Session, TransportError> {
    let mut attempt = 0;
    loop {
        match reconnect.connect().await {
            Err(TransportError::Connect { .. }) if attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            other => return other,
        }
    }
}
