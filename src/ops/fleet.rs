//! What the hosts of one run learn from each other: the mesh public keys,
//! and the backup's (db hosts' drop keys, the drops' host keys).
//!
//! A host's peers can only be configured once every mesh host has a key.
//! Hosts report their key (or their failure) to a [`Rendezvous`] as soon as
//! they know it, and wait there before writing peers, so the whole mesh
//! converges in one `harden` with one connection per host. Keys are also
//! recorded next to the inventory (they are public), so a run limited to a
//! few hosts still knows the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::controls::backup::{valid_public_key, BackupKeys};
use crate::controls::mesh::Directory;
use crate::controls::mesh_psk::{valid_key, PskStore};
use crate::inventory::Inventory;

#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// `mesh/public-keys.yaml` beside the inventory.
pub fn keys_file(inv: &Inventory) -> PathBuf {
    inv.path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("mesh")
        .join("public-keys.yaml")
}

/// Keys recorded by earlier runs; none when the file does not exist.
pub fn load_recorded(path: &Path) -> Result<BTreeMap<String, String>, KeysFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(KeysFileError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        }
    };
    let invalid = |message: String| KeysFileError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let keys: BTreeMap<String, String> = serde_yaml::from_str::<Option<_>>(&text)
        .map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}: ", l.line(), l.column()))
                .unwrap_or_default();
            invalid(format!(
                "{at}{e}; expected `host: <base64 WireGuard public key>` lines"
            ))
        })?
        .unwrap_or_default();
    if let Some((host, _)) = keys.iter().find(|(_, k)| !valid_key(k)) {
        return Err(invalid(format!(
            "the key of {host} is not a WireGuard public key (44 characters of base64)"
        )));
    }
    Ok(keys)
}

/// Records `keys` (merged over what the file holds), atomically.
pub fn record(path: &Path, keys: &BTreeMap<String, String>) -> Result<(), KeysFileError> {
    let mut all = load_recorded(path)?;
    let before = all.clone();
    all.extend(keys.iter().map(|(h, k)| (h.clone(), k.clone())));
    if all == before && path.exists() {
        return Ok(());
    }
    let mut text = String::from(
        "# WireGuard public keys of the mesh hosts, recorded by rampart (public, safe to commit).\n",
    );
    for (h, k) in &all {
        text.push_str(&format!("{h}: \"{k}\"\n"));
    }
    write_atomically(path, &text)
}

/// Writes a keys file through a temporary file beside it and a rename, so
/// a reader never sees half of it.
fn write_atomically(path: &Path, text: &str) -> Result<(), KeysFileError> {
    let write = |source| KeysFileError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(write)?;
    std::fs::rename(&tmp, path).map_err(write)
}

/// `mesh/backup-keys.yaml` beside the inventory.
pub fn backup_keys_file(inv: &Inventory) -> PathBuf {
    keys_file(inv).with_file_name("backup-keys.yaml")
}

/// The backup's public keys as recorded: `clients:` and `hosts:`, each a
/// map of host name to `ssh-ed25519 …`.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct BackupKeysFile {
    #[serde(default)]
    clients: BTreeMap<String, String>,
    #[serde(default)]
    hosts: BTreeMap<String, String>,
}

/// Backup keys recorded by earlier runs; none when the file does not exist.
pub fn load_recorded_backup(path: &Path) -> Result<BackupKeys, KeysFileError> {
    let invalid = |message: String| KeysFileError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BackupKeys::default()),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let f: BackupKeysFile = serde_yaml::from_str::<Option<_>>(&text)
        .map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}: ", l.line(), l.column()))
                .unwrap_or_default();
            invalid(format!(
                "{at}{e}; expected `clients:` and `hosts:` maps of `host: \"ssh-ed25519 …\"`"
            ))
        })?
        .unwrap_or_default();
    if let Some((host, _)) = f
        .clients
        .iter()
        .chain(&f.hosts)
        .find(|(_, k)| !valid_public_key(k))
    {
        return Err(invalid(format!(
            "the key of {host} is not an ssh-ed25519 public key"
        )));
    }
    Ok(BackupKeys {
        clients: f.clients,
        hosts: f.hosts,
    })
}

/// Records `keys` merged over what the file holds, atomically.
pub fn record_backup(path: &Path, keys: &BackupKeys) -> Result<(), KeysFileError> {
    let mut all = load_recorded_backup(path)?;
    let before = all.clone();
    all.extend(keys);
    if all == before && (path.exists() || all == BackupKeys::default()) {
        return Ok(());
    }
    let body = serde_yaml::to_string(&BackupKeysFile {
        clients: all.clients,
        hosts: all.hosts,
    })
    .map_err(|e| KeysFileError::Write {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    write_atomically(
        path,
        &format!(
            "# The backup's public keys (db hosts' drop keys, drops' host keys), recorded by rampart (public, safe to commit).\n{body}"
        ),
    )
}

#[derive(Debug, Clone, Default)]
struct State {
    keys: BTreeMap<String, String>,
    backup: BackupKeys,
    reported: BTreeSet<String>,
}

/// Where the mesh hosts of a run meet: each reports its key once, and a
/// host that needs its peers' keys waits until all have reported.
pub struct Rendezvous {
    expected: BTreeSet<String>,
    recorded: BTreeMap<String, String>,
    recorded_backup: BackupKeys,
    state: watch::Sender<State>,
    psk: Option<std::sync::Arc<PskStore>>,
}

impl Rendezvous {
    /// `expected`: the mesh hosts of this run.
    pub fn new(expected: BTreeSet<String>, recorded: BTreeMap<String, String>) -> Rendezvous {
        Rendezvous {
            expected,
            recorded,
            recorded_backup: BackupKeys::default(),
            state: watch::Sender::new(State::default()),
            psk: None,
        }
    }

    /// Hands the pairs' preshared keys to every directory it gives out.
    pub fn with_preshared_keys(mut self, store: PskStore) -> Rendezvous {
        self.psk = Some(std::sync::Arc::new(store));
        self
    }

    /// Backup keys recorded by earlier runs, for hosts outside this one.
    pub fn with_recorded_backup(mut self, keys: BackupKeys) -> Rendezvous {
        self.recorded_backup = keys;
        self
    }

    /// Learns a host's backup keys (before it reports, so a host waiting
    /// for the directory to complete finds them there).
    pub fn learn_backup(&self, keys: &BackupKeys) {
        if *keys == BackupKeys::default() {
            return;
        }
        self.state.send_modify(|s| s.backup.extend(keys));
    }

    pub fn expects(&self, host: &str) -> bool {
        self.expected.contains(host)
    }

    /// Reports `host`'s key (`None`: it failed before having one). A later
    /// report with a key replaces an earlier one without.
    pub fn report(&self, host: &str, key: Option<String>) {
        self.state.send_modify(|s| {
            s.reported.insert(host.to_string());
            if let Some(k) = key {
                s.keys.insert(host.to_string(), k);
            }
        });
    }

    pub fn has_reported(&self, host: &str) -> bool {
        self.state.borrow().reported.contains(host)
    }

    fn directory(&self, s: &State) -> Directory {
        let mut keys = self.recorded.clone();
        keys.extend(s.keys.iter().map(|(h, k)| (h.clone(), k.clone())));
        let mut backup = self.recorded_backup.clone();
        backup.extend(&s.backup);
        Directory {
            keys,
            complete: self.expected.iter().all(|h| s.reported.contains(h)),
            psk: self.psk.clone(),
            backup,
        }
    }

    /// What is known now.
    pub fn snapshot(&self) -> Directory {
        self.directory(&self.state.borrow())
    }

    /// Waits until every expected host has reported, at most `timeout`;
    /// after it, what is known (possibly incomplete).
    pub async fn complete(&self, timeout: Duration) -> Directory {
        let mut rx = self.state.subscribe();
        let expected = &self.expected;
        let _ = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| expected.iter().all(|h| s.reported.contains(h))),
        )
        .await;
        self.snapshot()
    }

    /// Keys learned in this run, to record.
    pub fn learned(&self) -> BTreeMap<String, String> {
        self.state.borrow().keys.clone()
    }

    /// Backup keys learned in this run, to record.
    pub fn learned_backup(&self) -> BackupKeys {
        self.state.borrow().backup.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "hGh9SCHdaYr5yfb8rBjFj0rMhe3QzMWK8WgxyHq8LEA=";
    const K2: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn the_directory_completes_when_every_host_reported_even_by_failing() {
        let recorded = [("old".to_string(), K2.to_string())].into_iter().collect();
        let r = std::sync::Arc::new(Rendezvous::new(set(&["a", "b"]), recorded));
        r.report("a", Some(K1.into()));
        assert!(!r.snapshot().complete);
        let waiter = {
            let r = r.clone();
            tokio::spawn(async move { r.complete(Duration::from_secs(5)).await })
        };
        r.report("b", None);
        let d = waiter.await.expect("joins");
        assert!(d.complete);
        assert_eq!(d.key_of("a"), Some(K1));
        assert_eq!(d.key_of("old"), Some(K2), "recorded keys fill in");
        assert_eq!(d.key_of("b"), None);
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let r = Rendezvous::new(set(&["a"]), BTreeMap::new());
        let d = r.complete(Duration::from_millis(20)).await;
        assert!(!d.complete);
    }

    #[test]
    fn recorded_keys_round_trip_and_bad_files_name_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mesh").join("public-keys.yaml");
        assert!(load_recorded(&path).expect("absent is empty").is_empty());
        let keys = [("a".to_string(), K1.to_string())].into_iter().collect();
        record(&path, &keys).expect("records");
        let more = [("b".to_string(), K2.to_string())].into_iter().collect();
        record(&path, &more).expect("records");
        let back = load_recorded(&path).expect("loads");
        assert_eq!(back.len(), 2);
        std::fs::write(&path, "a: notakey\n").expect("write");
        let e = load_recorded(&path).expect_err("invalid").to_string();
        assert!(e.contains("not a WireGuard public key"), "{e}");
        std::fs::write(&path, "a: [\n").expect("write");
        let e = load_recorded(&path).expect_err("invalid").to_string();
        assert!(e.contains("expected `host:"), "{e}");
    }
}
