//! What a host's journal says about access, as parsed (no judgement yet).

use serde::Serialize;

/// One host's journal, reduced to access events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Journal {
    /// The host's clock when it was read (seconds since the epoch).
    pub now: Option<u64>,
    /// When `/etc/machine-id` was born (or last written, where the
    /// filesystem keeps no birth time): the host's identity's age.
    pub machine_born: Option<u64>,
    /// journald's effective `MaxRetentionSec`, if it sets one.
    pub retention_secs: Option<u64>,
    /// The time of the oldest entry the journal holds.
    pub first_entry: Option<u64>,
    pub events: Vec<Event>,
    /// Lines that were not a journal entry rampart could read (bad JSON,
    /// no message or time): counted, never fatal.
    pub unparsable: usize,
    /// Entries of the identifiers read that are no access event (sshd's
    /// "Connection closed", pam's session lines, …).
    pub other: usize,
}

/// An access event with the journal line it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Seconds since the epoch.
    pub time: u64,
    /// The logging process: one sshd-session per connection, so it ties a
    /// connection's lines together.
    pub pid: String,
    /// The entry as evidence: `TIME IDENT[PID]: MESSAGE`.
    pub line: String,
    pub kind: EventKind,
}

/// The key a login or an attempt used, as sshd logs it (LogLevel VERBOSE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUse {
    /// sshd's name of the key type: `ED25519`, `RSA`, `ECDSA`, ….
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// `Accepted publickey for ACCOUNT from IP port N ssh2: ED25519 SHA256:…`
    Accepted {
        account: String,
        method: String,
        source: String,
        port: u16,
        key: Option<KeyUse>,
    },
    /// `Failed METHOD for [invalid user] ACCOUNT from IP port N ssh2[: KEY]`
    Failed {
        account: String,
        invalid_user: bool,
        method: String,
        source: String,
        port: u16,
        key: Option<KeyUse>,
    },
    /// `Invalid user ACCOUNT from IP port N`
    InvalidUser {
        account: String,
        source: String,
        port: u16,
    },
    /// `User ACCOUNT from IP not allowed because …` (AllowGroups, DenyUsers)
    NotAllowed { account: String, source: String },
    /// `ROOT LOGIN REFUSED FROM IP port N` (PermitRootLogin no)
    RootRefused { source: String, port: u16 },
    /// `Connection closed by authenticating user ACCOUNT IP port N [preauth]`
    /// (also `invalid user`, and `Disconnected from …`): a connection that
    /// ended without authenticating.
    Abandoned {
        account: String,
        invalid_user: bool,
        source: String,
        port: u16,
    },
    /// `USER : TTY=… ; PWD=… ; USER=RUNAS ; COMMAND=…`, or a refusal
    /// (`USER : user NOT in sudoers ; …`).
    Sudo {
        user: String,
        runas: String,
        command: String,
        refused: Option<String>,
    },
    /// `(to TARGET) USER on TTY`, `FAILED SU (to TARGET) USER on TTY`
    Su {
        user: String,
        target: String,
        failed: bool,
    },
    /// `drop connection #N from [IP]:PORT on [IP]:22 penalty: …` (OpenSSH
    /// 9.8+ PerSourcePenalties, or MaxStartups): refused before any attempt.
    Dropped {
        source: String,
        port: u16,
        reason: String,
    },
    /// sshd's `pam_unix(sshd:session): session opened for user USER(uid=N) …`
    SessionOpened { user: String },
    /// sshd's `pam_unix(sshd:session): session closed for user USER`
    SessionClosed { user: String },
}

impl EventKind {
    /// The source address of an authentication event.
    pub fn source(&self) -> Option<&str> {
        match self {
            EventKind::Accepted { source, .. }
            | EventKind::Failed { source, .. }
            | EventKind::InvalidUser { source, .. }
            | EventKind::NotAllowed { source, .. }
            | EventKind::RootRefused { source, .. }
            | EventKind::Abandoned { source, .. }
            | EventKind::Dropped { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The account an authentication event was for.
    pub fn account(&self) -> Option<&str> {
        match self {
            EventKind::Accepted { account, .. }
            | EventKind::Failed { account, .. }
            | EventKind::InvalidUser { account, .. }
            | EventKind::NotAllowed { account, .. }
            | EventKind::Abandoned { account, .. } => Some(account),
            EventKind::RootRefused { .. } => Some("root"),
            _ => None,
        }
    }

    /// Whether this is a refused authentication (counted for bursts).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            EventKind::Failed { .. }
                | EventKind::InvalidUser { .. }
                | EventKind::NotAllowed { .. }
                | EventKind::RootRefused { .. }
                | EventKind::Abandoned { .. }
                | EventKind::Dropped { .. }
        )
    }
}
