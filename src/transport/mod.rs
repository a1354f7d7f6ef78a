//! SSH to hosts over russh: one connection per host, reused for every
//! command; host keys checked against known_hosts; non-root accounts run
//! commands through `sudo -n`; ProxyJump through a direct-tcpip channel.
//!
//! Secrets never travel in a command line: callers pass them as stdin.

mod auth;
mod error;
pub mod known_hosts;
mod pool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::PublicKey;
use russh::ChannelMsg;
use tokio::sync::Mutex;

pub use auth::{Credentials, PASSPHRASE_ENV};
pub use error::TransportError;
pub use pool::{for_each_host, Dial, HostOutcome, Progress, Reconnect, Silent};

/// Everything needed to open connections, shared by all hosts of a run.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub user: String,
    pub credentials: Credentials,
    pub known_hosts: PathBuf,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

/// Where to connect: the address as dialled and the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub address: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.address.contains(':') {
            write!(f, "[{}]:{}", self.address, self.port)
        } else {
            write!(f, "{}:{}", self.address, self.port)
        }
    }
}

/// The result of one remote command.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit status; `None` when the command died from a signal.
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Serialises appends to known_hosts when many hosts are accepted at once.
static KNOWN_HOSTS_WRITE: Mutex<()> = Mutex::const_new(());

struct HostKeyCheck {
    target: Target,
    known_hosts: PathBuf,
    accept_new: bool,
    /// Why a key was refused, so the connect error can say it precisely.
    refusal: Arc<std::sync::Mutex<Option<TransportError>>>,
}

impl HostKeyCheck {
    async fn judge(&self, key: &PublicKey) -> Result<(), TransportError> {
        use known_hosts::Verdict;
        let host = self.target.address.clone();
        let contents = known_hosts::read(&self.known_hosts)?;
        match known_hosts::check(&contents, &host, self.target.port, key) {
            Verdict::Known => Ok(()),
            Verdict::Unknown if self.accept_new => {
                let _guard = KNOWN_HOSTS_WRITE.lock().await;
                known_hosts::record(&self.known_hosts, &host, self.target.port, key).map_err(
                    |source| TransportError::RecordHostKey {
                        host: self.target.to_string(),
                        path: self.known_hosts.clone(),
                        source,
                    },
                )?;
                tracing::info!(host = %self.target, fingerprint = %known_hosts::fingerprint(key), "recorded new host key");
                Ok(())
            }
            Verdict::Unknown => Err(TransportError::UnknownHostKey {
                host: self.target.to_string(),
                fingerprint: known_hosts::fingerprint(key),
                known_hosts: self.known_hosts.clone(),
            }),
            Verdict::Changed { recorded } => Err(TransportError::ChangedHostKey {
                host: self.target.to_string(),
                presented: known_hosts::fingerprint(key),
                recorded: recorded
                    .iter()
                    .map(|r| format!("{} (line {})", r.fingerprint, r.line))
                    .collect(),
                known_hosts: self.known_hosts.clone(),
            }),
            Verdict::Revoked { .. } => Err(TransportError::RevokedHostKey {
                host: self.target.to_string(),
                fingerprint: known_hosts::fingerprint(key),
                known_hosts: self.known_hosts.clone(),
            }),
        }
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            // Host certificates are not trusted implicitly.
            return Ok(false);
        };
        match self.judge(key).await {
            Ok(()) => Ok(true),
            Err(e) => {
                if let Ok(mut slot) = self.refusal.lock() {
                    *slot = Some(e);
                }
                Ok(false)
            }
        }
    }
}

/// An authenticated connection to one host.
pub struct Session {
    handle: Handle<HostKeyCheck>,
    user: String,
    command_timeout: Duration,
    target: Target,
    /// Keeps the jump host's connection open as long as this one lives.
    _via: Option<Arc<Session>>,
}

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        ..Default::default()
    })
}

impl Session {
    /// Connects directly, or through `via` (ProxyJump), and authenticates.
    pub async fn connect(
        target: &Target,
        opts: &ConnectOptions,
        via: Option<Arc<Session>>,
    ) -> Result<Session, TransportError> {
        let secs = opts.connect_timeout.as_secs().max(1);
        tokio::time::timeout(opts.connect_timeout, Self::connect_inner(target, opts, via))
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "connecting",
                secs,
            })?
    }

    async fn connect_inner(
        target: &Target,
        opts: &ConnectOptions,
        via: Option<Arc<Session>>,
    ) -> Result<Session, TransportError> {
        let refusal = Arc::new(std::sync::Mutex::new(None));
        let handler = HostKeyCheck {
            target: target.clone(),
            known_hosts: opts.known_hosts.clone(),
            accept_new: opts.accept_new_host_keys,
            refusal: refusal.clone(),
        };
        let connected = match &via {
            None => {
                let stream = tokio::net::TcpStream::connect((target.address.as_str(), target.port))
                    .await
                    .map_err(|source| TransportError::Connect {
                        addr: target.to_string(),
                        source,
                    })?;
                let _ = stream.set_nodelay(true);
                client::connect_stream(client_config(), stream, handler).await
            }
            Some(jump) => {
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(
                        target.address.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| TransportError::Jump {
                        jump: jump.target.to_string(),
                        source: Box::new(TransportError::Ssh(e)),
                    })?;
                client::connect_stream(client_config(), channel.into_stream(), handler).await
            }
        };
        let mut handle = match connected {
            Ok(h) => h,
            Err(e) => {
                let refused = refusal.lock().ok().and_then(|mut r| r.take());
                return Err(refused.unwrap_or(TransportError::Ssh(e)));
            }
        };
        auth::authenticate(&mut handle, &opts.user, &opts.credentials).await?;
        Ok(Session {
            handle,
            user: opts.user.clone(),
            command_timeout: opts.command_timeout,
            target: target.clone(),
            _via: via,
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Runs `command` as root (through `sudo -n` for other accounts), feeding
    /// `stdin` to it. Secrets belong in `stdin`, never in `command`.
    pub async fn run(&self, command: &str, stdin: &[u8]) -> Result<Output, TransportError> {
        self.run_after("", command, stdin).await
    }

    /// Like [`Session::run`], with `prefix` run first as the connected
    /// account, outside sudo (to read the login's own environment).
    pub async fn run_after(
        &self,
        prefix: &str,
        command: &str,
        stdin: &[u8],
    ) -> Result<Output, TransportError> {
        let privileged = privileged(&self.user, command);
        let wrapped = if prefix.is_empty() {
            privileged
        } else {
            format!("{prefix}; {privileged}")
        };
        let out = self.exec_raw(&wrapped, stdin).await?;
        if self.user != "root"
            && out.status == Some(1)
            && out.stdout.is_empty()
            && sudo_wants_password(&out.stderr)
        {
            return Err(TransportError::SudoNeedsPassword {
                user: self.user.clone(),
            });
        }
        Ok(out)
    }

    /// Runs `command` as the connected account, without sudo.
    pub async fn run_unprivileged(
        &self,
        command: &str,
        stdin: &[u8],
    ) -> Result<Output, TransportError> {
        self.exec_raw(command, stdin).await
    }

    async fn exec_raw(&self, command: &str, stdin: &[u8]) -> Result<Output, TransportError> {
        let secs = self.command_timeout.as_secs().max(1);
        tracing::debug!(host = %self.target, command, "exec");
        tokio::time::timeout(self.command_timeout, self.exec_inner(command, stdin))
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "running a command",
                secs,
            })?
    }

    async fn exec_inner(&self, command: &str, stdin: &[u8]) -> Result<Output, TransportError> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        if !stdin.is_empty() {
            channel.data(stdin).await?;
        }
        channel.eof().await?;
        let mut out = Output::default();
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Wraps a command so it runs as root for a non-root account.
pub fn privileged(user: &str, command: &str) -> String {
    if user == "root" {
        command.to_string()
    } else {
        format!("sudo -n -- sh -c {}", shell_quote(command))
    }
}

fn sudo_wants_password(stderr: &[u8]) -> bool {
    let s = String::from_utf8_lossy(stderr);
    s.contains("sudo: a password is required") || s.contains("sudo: a terminal is required")
}

/// The first line of every script rampart runs on a host: the C locale,
/// because rampart parses the tools' output, and a PATH with the sbin
/// directories, which a non-login root shell lacks on some images.
pub const SCRIPT_ENV: &str =
    "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";

/// Quotes `s` for a POSIX shell as one word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_commands_are_not_wrapped() {
        assert_eq!(privileged("root", "id -u"), "id -u");
    }

    #[test]
    fn other_accounts_go_through_sudo_n() {
        assert_eq!(
            privileged("ops", "echo 'a b'"),
            r"sudo -n -- sh -c 'echo '\''a b'\'''"
        );
    }

    #[test]
    fn shell_quote_leaves_safe_words_alone() {
        assert_eq!(shell_quote("/etc/ssh/sshd_config"), "/etc/ssh/sshd_config");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a;b"), "'a;b'");
    }

    #[test]
    fn targets_bracket_ipv6() {
        let t = Target {
            address: "2001:db8::1".into(),
            port: 22,
        };
        assert_eq!(t.to_string(), "[2001:db8::1]:22");
    }
}
