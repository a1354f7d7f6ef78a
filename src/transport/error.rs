use std::path::PathBuf;

/// Why a host could not be reached or a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out after {secs}s while {stage}")]
    Timeout { stage: &'static str, secs: u64 },
    #[error("host key of {host} is not in {}: {fingerprint}\n  (check it out of band, then rerun with --accept-new-host-keys to record it)", known_hosts.display())]
    UnknownHostKey {
        host: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error("HOST KEY CHANGED for {host}: it presented {presented}, but {} records {} (possible man-in-the-middle; refusing to connect)", known_hosts.display(), recorded.join(", "))]
    ChangedHostKey {
        host: String,
        presented: String,
        recorded: Vec<String>,
        known_hosts: PathBuf,
    },
    #[error("host key {fingerprint} of {host} is marked @revoked in {}", known_hosts.display())]
    RevokedHostKey {
        host: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error("cannot record the host key of {host} in {}: {source}", path.display())]
    RecordHostKey {
        host: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("authentication as {user} failed ({tried})")]
    AuthFailed { user: String, tried: String },
    #[error("cannot use known_hosts {}: {reason}; expected a readable file (or none yet: rampart creates it with --accept-new-host-keys)", path.display())]
    KnownHosts {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot use identity {}: {reason}", path.display())]
    Identity { path: PathBuf, reason: String },
    #[error("no identity configured and ssh-agent is unavailable: {0}")]
    Agent(String),
    #[error("sudo needs a password for {user}; rampart requires passwordless sudo (`sudo -n`) for non-root accounts")]
    SudoNeedsPassword { user: String },
    #[error("jump host {jump}: {source}")]
    Jump {
        jump: String,
        source: Box<TransportError>,
    },
    #[error("ssh: {0}")]
    Ssh(#[from] russh::Error),
}

impl TransportError {
    /// A short label for summaries ("unreachable", "host key changed", …).
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Connect { .. } => "unreachable",
            TransportError::Timeout { .. } => "timeout",
            TransportError::UnknownHostKey { .. } => "unknown host key",
            TransportError::ChangedHostKey { .. } => "host key changed",
            TransportError::RevokedHostKey { .. } => "host key revoked",
            TransportError::RecordHostKey { .. } => "known_hosts not writable",
            TransportError::KnownHosts { .. } => "known_hosts unreadable",
            TransportError::AuthFailed { .. } => "authentication failed",
            TransportError::Identity { .. } | TransportError::Agent(_) => "no usable identity",
            TransportError::SudoNeedsPassword { .. } => "sudo needs a password",
            TransportError::Jump { .. } => "jump host failed",
            TransportError::Ssh(_) => "ssh error",
        }
    }
}
