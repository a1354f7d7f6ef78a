//! Runs one task per host, all hosts concurrently up to a limit, each with
//! its own connection. One failing host never stops the others.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::{ConnectOptions, Session, Target, TransportError};

/// Per-host progress, implemented by the CLI (bars on a terminal, lines otherwise).
pub trait Progress: Send + Sync {
    fn started(&self, host: &str, stage: &str);
    fn finished(&self, host: &str, ok: bool, summary: &str);
}

/// A progress sink that ignores everything.
pub struct Silent;
impl Progress for Silent {
    fn started(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: bool, _: &str) {}
}

/// What happened on one host.
#[derive(Debug)]
pub struct HostOutcome<T, E> {
    pub host: String,
    pub result: Result<T, E>,
}

/// One shared connection per jump host, opened on first use.
#[derive(Default)]
pub struct JumpCache {
    sessions: Mutex<HashMap<Target, Arc<OnceCell<Arc<Session>>>>>,
}

impl JumpCache {
    async fn get(
        &self,
        target: &Target,
        opts: &ConnectOptions,
    ) -> Result<Arc<Session>, TransportError> {
        let cell = {
            let mut map = self.sessions.lock().await;
            map.entry(target.clone()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            Session::connect(target, opts, None)
                .await
                .map(Arc::new)
                .map_err(|e| TransportError::Jump {
                    jump: target.to_string(),
                    source: Box::new(e),
                })
        })
        .await
        .cloned()
    }
}

/// A host to work on: its inventory name, where to dial, and an optional jump.
#[derive(Debug, Clone)]
pub struct Dial {
    pub name: String,
    pub target: Target,
    pub jump: Option<Target>,
}

/// Opens a fresh connection to the same host the same way (through the same
/// jump host): proves that a change kept the host reachable.
#[derive(Clone)]
pub struct Reconnect {
    target: Target,
    opts: ConnectOptions,
    via: Option<Arc<Session>>,
}

impl Reconnect {
    pub async fn connect(&self) -> Result<Session, TransportError> {
        Session::connect(&self.target, &self.opts, self.via.clone()).await
    }

    /// The same, as another account (provision proves `ssh.user` works).
    pub async fn connect_as(&self, user: &str) -> Result<Session, TransportError> {
        let mut opts = self.opts.clone();
        opts.user = user.to_string();
        Session::connect(&self.target, &opts, self.via.clone()).await
    }
}

/// Connects to every host (at most `jobs` at once) and runs `task` with the
/// session; results come back in the order of `dials`.
pub async fn for_each_host<T, E, F, Fut>(
    dials: Vec<Dial>,
    opts: &ConnectOptions,
    jobs: usize,
    progress: &dyn Progress,
    task: F,
) -> Vec<HostOutcome<T, E>>
where
    F: Fn(Arc<Session>, String, Reconnect) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<TransportError> + std::fmt::Display,
{
    let limit = Semaphore::new(jobs.max(1));
    let jumps = JumpCache::default();
    let runs = dials.into_iter().map(|dial| {
        let (limit, jumps, task) = (&limit, &jumps, &task);
        async move {
            let _permit = limit.acquire().await;
            progress.started(&dial.name, "connecting");
            let result = async {
                let via = match &dial.jump {
                    Some(j) => Some(jumps.get(j, opts).await?),
                    None => None,
                };
                let session = Arc::new(Session::connect(&dial.target, opts, via.clone()).await?);
                let reconnect = Reconnect {
                    target: dial.target.clone(),
                    opts: opts.clone(),
                    via,
                };
                let out = task(session.clone(), dial.name.clone(), reconnect).await;
                session.close().await;
                out
            }
            .await;
            match &result {
                Ok(_) => progress.finished(&dial.name, true, "done"),
                Err(e) => progress.finished(&dial.name, false, &e.to_string()),
            }
            HostOutcome {
                host: dial.name,
                result,
            }
        }
    });
    futures::future::join_all(runs).await
}
