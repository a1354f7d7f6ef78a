//! Report signatures in the SSH signature format (PROTOCOL.sshsig), so an
//! auditor checks them with stock OpenSSH:
//!
//! ```text
//! ssh-keygen -Y verify -f allowed_signers -I ops -n rampart-report \
//!     -s rampart-report-….html.sig < rampart-report-….html
//! ```
//!
//! The key is an OpenSSH private key file; an encrypted key's passphrase
//! comes from `RAMPART_SSH_PASSPHRASE` (never from the command line).

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

pub use super::document::SIGNATURE_NAMESPACE;

pub const PASSPHRASE_ENV: &str = "RAMPART_SSH_PASSPHRASE";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("signature does not verify: {0}")]
    Verify(String),
}

/// A loaded signing key. `Debug` never shows key material.
pub struct Signer {
    key: PrivateKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.fingerprint())
    }
}

impl Signer {
    /// Loads an OpenSSH private key; `passphrase` is used when the key is
    /// encrypted.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<Signer, SignError> {
        let err = |reason: String| SignError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = PrivateKey::from_openssh(text.trim_start())
            .map_err(|e| err(format!("not an OpenSSH private key ({e})")))?;
        let key = if key.is_encrypted() {
            let pass = passphrase.ok_or_else(|| {
                err(format!(
                    "the key is encrypted; put its passphrase in {PASSPHRASE_ENV}"
                ))
            })?;
            key.decrypt(pass)
                .map_err(|e| err(format!("cannot decrypt ({e})")))?
        } else {
            key
        };
        Ok(Signer { key })
    }

    /// Loads the key with the passphrase from `RAMPART_SSH_PASSPHRASE`.
    pub fn from_env(path: &Path) -> Result<Signer, SignError> {
        let pass = std::env::var(PASSPHRASE_ENV).ok();
        Signer::load(path, pass.as_deref())
    }

    pub fn from_key(key: PrivateKey) -> Signer {
        Signer { key }
    }

    /// The armored signature (`-----BEGIN SSH SIGNATURE-----`) of `data`.
    pub fn sign(&self, data: &[u8]) -> Result<String, SignError> {
        let sig = self
            .key
            .sign(SIGNATURE_NAMESPACE, HashAlg::Sha512, data)
            .map_err(|e| SignError::Sign(e.to_string()))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| SignError::Sign(e.to_string()))
    }

    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// `SHA256:…` of the public key, as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// The public key as `type base64` (no comment).
    pub fn public_key_line(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .map(|k| k.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// A line for an OpenSSH allowed_signers file naming `principal`.
    pub fn allowed_signers_line(&self, principal: &str) -> String {
        format!(
            "{principal} namespaces=\"{SIGNATURE_NAMESPACE}\" {}",
            self.public_key_line()
        )
    }
}

/// Checks an armored signature of `data` against `public_key`.
pub fn verify(public_key: &PublicKey, data: &[u8], armored: &str) -> Result<(), SignError> {
    let sig = SshSig::from_pem(armored).map_err(|e| SignError::Verify(e.to_string()))?;
    public_key
        .verify(SIGNATURE_NAMESPACE, data, &sig)
        .map_err(|e| SignError::Verify(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};

    fn signer() -> Signer {
        let pair = Ed25519Keypair::from_seed(&[7u8; 32]);
        let key = PrivateKey::new(KeypairData::Ed25519(pair), "ops").expect("key");
        Signer::from_key(key)
    }

    #[test]
    fn signatures_verify_and_name_the_namespace() {
        let s = signer();
        let pem = s.sign(b"report body").expect("signs");
        assert!(pem.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
        verify(s.public_key(), b"report body", &pem).expect("verifies");
        assert!(verify(s.public_key(), b"report b0dy", &pem).is_err());
        let sig = SshSig::from_pem(&pem).expect("parses");
        assert_eq!(sig.namespace(), "rampart-report");
        assert_eq!(sig.hash_alg(), HashAlg::Sha512);
        assert!(s
            .allowed_signers_line("ops")
            .starts_with("ops namespaces=\"rampart-report\" ssh-ed25519 AAAA"));
        assert!(!format!("{s:?}").contains("PRIVATE"));
    }
}
