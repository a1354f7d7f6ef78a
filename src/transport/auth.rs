//! Client credentials: an identity file (passphrase from
//! RAMPART_SSH_PASSPHRASE or a prompt), or the keys held by ssh-agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle, Handler};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};

use super::TransportError;

/// How rampart proves who it is. Cloning is cheap; the key is loaded once.
#[derive(Clone)]
pub enum Credentials {
    Key { path: PathBuf, key: Arc<PrivateKey> },
    Agent,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        match self {
            Credentials::Key { path, .. } => write!(f, "Key({})", path.display()),
            Credentials::Agent => write!(f, "Agent"),
        }
    }
}

pub const PASSPHRASE_ENV: &str = "RAMPART_SSH_PASSPHRASE";

impl Credentials {
    /// Loads the identity file, or falls back to the agent when none is set.
    pub fn load(identity: Option<&Path>) -> Result<Credentials, TransportError> {
        let Some(path) = identity else {
            if std::env::var_os("SSH_AUTH_SOCK").is_none() {
                return Err(TransportError::Agent(
                    "SSH_AUTH_SOCK is not set; set ssh.identity in the inventory or start ssh-agent".into(),
                ));
            }
            return Ok(Credentials::Agent);
        };
        let refuse = |reason: String| TransportError::Identity {
            path: path.to_path_buf(),
            reason,
        };
        check_key_file(path).map_err(refuse)?;
        let text = std::fs::read_to_string(path).map_err(|e| refuse(e.to_string()))?;
        let key = match russh::keys::decode_secret_key(&text, None) {
            Ok(k) => k,
            Err(e) if !matches!(e, russh::keys::Error::KeyIsEncrypted) => {
                return Err(refuse(format!(
                    "not a private key rampart can read ({e}); expected an OpenSSH private key file as `ssh-keygen -t ed25519 -f FILE` writes it (the file without .pub)"
                )));
            }
            Err(_) => {
                let pass = passphrase(path)?;
                russh::keys::decode_secret_key(&text, Some(&pass)).map_err(|e| {
                    TransportError::Identity {
                        path: path.to_path_buf(),
                        reason: format!("cannot decrypt ({e})"),
                    }
                })?
            }
        };
        Ok(Credentials::Key {
            path: path.to_path_buf(),
            key: Arc::new(key),
        })
    }
}

/// Refuses what OpenSSH refuses, before reading: anything but a regular
/// file, and a key that group or others may read ("UNPROTECTED PRIVATE KEY
/// FILE"), with the `chmod` that fixes it.
fn check_key_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file; expected the private key file".into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "its mode is {mode:04o}: group or others may read it, and OpenSSH refuses such a key; run `chmod 600 {}`",
            path.display()
        ));
    }
    Ok(())
}

fn passphrase(path: &Path) -> Result<String, TransportError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    prompt_without_echo(&format!("Passphrase for {}: ", path.display())).map_err(|e| {
        TransportError::Identity {
            path: path.to_path_buf(),
            reason: format!(
                "the key is encrypted; set {PASSPHRASE_ENV} or run from a terminal ({e})"
            ),
        }
    })
}

/// Reads a line from the controlling terminal with echo off.
fn prompt_without_echo(prompt: &str) -> std::io::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::{BufRead, Write};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let saved = tcgetattr(&tty).map_err(std::io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&tty, SetArg::TCSANOW, &quiet).map_err(std::io::Error::from)?;
    let mut out = &tty;
    let _ = out.write_all(prompt.as_bytes());
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    let _ = tcsetattr(&tty, SetArg::TCSANOW, &saved);
    let _ = out.write_all(b"\n");
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

impl Credentials {
    /// The public key (`type base64`) of an identity file; empty for the
    /// agent, whose keys are only known once asked.
    pub fn public_keys(&self) -> Vec<String> {
        match self {
            Credentials::Key { key, .. } => key
                .public_key()
                .to_openssh()
                .ok()
                .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
                .into_iter()
                .collect(),
            Credentials::Agent => Vec::new(),
        }
    }
}

/// Authenticates `handle` as `user`, trying every key the credentials offer.
pub async fn authenticate<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
    creds: &Credentials,
) -> Result<(), TransportError> {
    match creds {
        Credentials::Key { path, key } => {
            let hash = handle.best_supported_rsa_hash().await?.flatten();
            let res = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                .await?;
            match res {
                AuthResult::Success => Ok(()),
                AuthResult::Failure { .. } => Err(TransportError::AuthFailed {
                    user: user.into(),
                    tried: format!("key {}", path.display()),
                }),
            }
        }
        Credentials::Agent => authenticate_with_agent(handle, user).await,
    }
}

async fn authenticate_with_agent<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
) -> Result<(), TransportError> {
    let mut agent = AgentClient::connect_env()
        .await
        .map_err(|e| TransportError::Agent(e.to_string()))?;
    let identities = agent
        .request_identities()
        .await
        .map_err(|e| TransportError::Agent(e.to_string()))?;
    let hash = handle.best_supported_rsa_hash().await?.flatten();
    let mut tried = 0;
    for id in identities {
        let AgentIdentity::PublicKey { key, .. } = id else {
            continue;
        };
        tried += 1;
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => continue,
            Err(e) => return Err(TransportError::Agent(e.to_string())),
        }
    }
    Err(TransportError::AuthFailed {
        user: user.into(),
        tried: format!("{tried} agent key(s)"),
    })
}
