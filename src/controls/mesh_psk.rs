//! Preshared keys of mesh pairs, sealed beside the inventory. The mesh
//! control (`mesh::preshared_key_resources`) asks this store for a pair's
//! key; it lives with the controls, not with the run's rendezvous in
//! `ops::fleet`, so that `controls` never depends on the stage above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ca::identity::{Identity, ENV as AGE_IDENTITY_ENV};
use crate::inventory::Inventory;

/// A WireGuard key as `wg` writes it: 32 bytes in padded base64.
pub fn valid_key(k: &str) -> bool {
    k.len() == 44
        && k.ends_with('=')
        && data_encoding::BASE64
            .decode(k.as_bytes())
            .is_ok_and(|b| b.len() == 32)
}

/// Preshared keys of mesh pairs, kept age-encrypted to the inventory's
/// recipients under `secrets/mesh/<a>--<b>.psk.age`. A key is generated the
/// first time a pair needs it; an existing one is opened with
/// `RAMPART_AGE_IDENTITY` only when a host lacks its copy.
pub struct PskStore {
    dir: PathBuf,
    recipients: Vec<String>,
    /// `RAMPART_AGE_IDENTITY` as read when the store was made (or why it
    /// could not be read); only consulted when a key must be reopened.
    identity: Result<Option<Identity>, String>,
    /// `plan` may not write secrets: a missing key is announced instead.
    may_generate: bool,
    cache: std::sync::Mutex<BTreeMap<(String, String), String>>,
}

impl std::fmt::Debug for PskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl PskStore {
    pub fn new(inv: &Inventory, may_generate: bool) -> PskStore {
        let base = inv
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        PskStore {
            dir: base.join("secrets").join("mesh"),
            recipients: inv.secrets.recipients.clone(),
            identity: Identity::from_env().map_err(|e| e.to_string()),
            may_generate,
            cache: Default::default(),
        }
    }

    pub fn path_of(&self, a: &str, b: &str) -> PathBuf {
        let (a, b) = pair(a, b);
        self.dir.join(format!("{a}--{b}.psk.age"))
    }

    /// The pair's key (base64, as `wg` wants it); `Ok(None)` when it does
    /// not exist yet and this run may not create it.
    pub fn get(&self, a: &str, b: &str) -> Result<Option<String>, String> {
        let key = pair(a, b);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&key) {
            return Ok(Some(k.clone()));
        }
        let path = self.path_of(a, b);
        let psk = if path.exists() {
            self.open(&path)?
        } else if self.may_generate {
            self.generate(&path)?
        } else {
            return Ok(None);
        };
        cache.insert(key, psk.clone());
        Ok(Some(psk))
    }

    fn open(&self, path: &Path) -> Result<String, String> {
        let identity = self
            .identity
            .as_ref()
            .map_err(|e| format!("{AGE_IDENTITY_ENV}: {e}"))?
            .as_ref()
            .ok_or_else(|| {
                format!(
                    "a host lacks the preshared key in {}: set {AGE_IDENTITY_ENV} to an age identity (file or AGE-SECRET-KEY- line) that can open it",
                    path.display()
                )
            })?;
        let sealed = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let plain = identity.decrypt(&sealed, path).map_err(|e| e.to_string())?;
        let psk = String::from_utf8(plain)
            .map_err(|_| format!("{}: not a preshared key", path.display()))?;
        if !valid_key(psk.trim()) {
            return Err(format!("{}: not a preshared key", path.display()));
        }
        Ok(psk.trim().to_string())
    }

    fn generate(&self, path: &Path) -> Result<String, String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| format!("no randomness: {e}"))?;
        let psk = data_encoding::BASE64.encode(&raw);
        let sealed = crate::seal::encrypt(&self.recipients, psk.as_bytes())
            .map_err(|e| format!("preshared keys: {e}"))?;
        crate::engine::secret::write_atomically(path, &sealed)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(psk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preshared_keys_are_generated_once_sealed_and_reopened_with_the_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = age::x25519::Identity::generate();
        let inv_path = dir.path().join("inventory.yaml");
        let text = format!(
            "secrets: {{recipients: [{}]}}\nhosts:\n  a: {{address: 10.0.0.1, roles: [base]}}\n",
            id.to_public()
        );
        let inv = Inventory::parse(&inv_path, &text).expect("inventory");
        let planning = PskStore::new(&inv, false);
        assert_eq!(
            planning.get("a", "b").expect("no error"),
            None,
            "plan writes nothing"
        );
        let store = PskStore::new(&inv, true);
        let psk = store.get("b", "a").expect("generates").expect("a key");
        assert!(valid_key(&psk));
        let path = store.path_of("a", "b");
        assert!(path.ends_with("secrets/mesh/a--b.psk.age"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = std::fs::read(&path).expect("read");
        assert!(
            !String::from_utf8_lossy(&sealed).contains(&psk),
            "sealed, not plain"
        );
        assert_eq!(store.get("a", "b").expect("cached"), Some(psk.clone()));
        // A later run reopens it, but only with the identity.
        let mut later = PskStore::new(&inv, true);
        later.identity = Ok(None);
        let e = later.get("a", "b").expect_err("needs the identity");
        assert!(e.contains(AGE_IDENTITY_ENV), "{e}");
        let id_file = dir.path().join("id.txt");
        use age::secrecy::ExposeSecret;
        std::fs::write(&id_file, id.to_string().expose_secret()).expect("write id");
        later.identity = crate::ca::identity::Identity::from_value(&id_file.display().to_string())
            .map(Some)
            .map_err(|e| e.to_string());
        assert_eq!(later.get("a", "b").expect("opens"), Some(psk));
    }
}
