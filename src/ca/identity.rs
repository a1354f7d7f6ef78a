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
        Self::parse_lines(text).map_err(CaError::Identity)
    }

    /// [`Identity::parse`] with a message that does not yet say where the
    /// text came from.
    fn parse_lines(text: &str) -> Result<Identity, String> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().map(str::trim).enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                format!(
                    "line {} is not an age X25519 identity; expected AGE-SECRET-KEY-… lines as `age-keygen -o FILE` writes them (a recipient `age1…` is the public half, not the identity)",
                    n + 1
                )
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no AGE-SECRET-KEY- line found; expected an identity file as `age-keygen -o FILE` writes it".into());
        }
        Ok(Identity { keys })
    }

    /// The identity named by `value` (a file path or the key itself). A file
    /// must be a regular file (a FIFO would block, a device never end);
    /// every error names it.
    pub fn from_value(value: &str) -> Result<Identity, CaError> {
        let value = value.trim();
        if value.starts_with("AGE-SECRET-KEY-") {
            return Identity::parse(value);
        }
        let path = Path::new(value);
        let in_file =
            |message: String| CaError::Identity(format!("identity file {value}: {message}"));
        let bytes =
            crate::inventory::source::read_regular(path, crate::inventory::source::MAX_INPUT_BYTES)
                .map_err(|e| in_file(format!("cannot read it: {e}")))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            in_file(
                "not UTF-8 text; expected an identity file as `age-keygen -o FILE` writes it"
                    .into(),
            )
        })?;
        Self::parse_lines(text).map_err(in_file)
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
