//! The operator's age identity, from `RAMPART_AGE_IDENTITY`: the path of an
//! identity file as `age -i` takes it, or the `AGE-SECRET-KEY-…` line itself
//! (convenient for a CI secret). It is only ever held in memory.

use std::path::Path;
use std::str::FromStr;

use super::CaError;

/// The environment variable that names the identity.
pub const ENV: &str = "RAMPART_AGE_IDENTITY";

pub struct Identity {
    keys: Vec<age::x25519::Identity>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({} key(s))", self.keys.len())
    }
}

impl Identity {
    /// Parses identity text: `AGE-SECRET-KEY-` lines; comments and blank
    /// lines are skipped.
    pub fn parse(text: &str) -> Result<Identity, CaError> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                CaError::Identity(
                    "not an age X25519 identity (expected AGE-SECRET-KEY-… lines, as age-keygen writes)"
                        .into(),
                )
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(CaError::Identity("no AGE-SECRET-KEY- line found".into()));
        }
        Ok(Identity { keys })
    }

    /// The identity named by `value` (a file path or the key itself).
    pub fn from_value(value: &str) -> Result<Identity, CaError> {
        let value = value.trim();
        if value.starts_with("AGE-SECRET-KEY-") {
            return Identity::parse(value);
        }
        let text = std::fs::read_to_string(value).map_err(|e| {
            CaError::Identity(format!("cannot read the identity file {value}: {e}"))
        })?;
        Identity::parse(&text)
    }

    /// `RAMPART_AGE_IDENTITY`, or `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Identity>, CaError> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => Identity::from_value(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// The recipients (public keys) of this identity.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// Whether one of this identity's keys is among `recipients`.
    pub fn is_among(&self, recipients: &[String]) -> bool {
        self.recipients()
            .iter()
            .any(|mine| recipients.iter().any(|r| r.trim() == mine))
    }

    /// The keys as age identities, for APIs that take several.
    pub fn age_identities(&self) -> Vec<Box<dyn age::Identity>> {
        self.keys
            .iter()
            .map(|k| Box::new(k.clone()) as Box<dyn age::Identity>)
            .collect()
    }

    /// Decrypts age ciphertext read from `path` (named in errors).
    pub fn decrypt(&self, sealed: &[u8], path: &Path) -> Result<Vec<u8>, CaError> {
        let mut last = String::from("no key");
        for key in &self.keys {
            match age::decrypt(key, sealed) {
                Ok(plain) => return Ok(plain),
                Err(e) => last = e.to_string(),
            }
        }
        Err(CaError::Decrypt {
            path: path.to_path_buf(),
            message: last,
        })
    }
}
