//! Host key checking against an OpenSSH known_hosts file.
//!
//! Parsing is ssh-key's; this module adds OpenSSH's matching rules: plain
//! patterns with `*`/`?` globs and `!` negation, `[host]:port` for
//! non-standard ports, hashed `|1|salt|hash` entries (HMAC-SHA1), and
//! `@revoked` markers. `@cert-authority` lines are not used for plain keys.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{HostPatterns, KnownHosts, Marker};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use sha1::Sha1;

use super::TransportError;

/// What the known_hosts file says about a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A recorded key of this host matches.
    Known,
    /// The host has no recorded key of this algorithm (nor any other).
    Unknown,
    /// The host has recorded keys and the presented one is not among them.
    Changed { recorded: Vec<RecordedKey> },
    /// The presented key is marked `@revoked`.
    Revoked { line: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedKey {
    pub line: usize,
    pub fingerprint: String,
}

/// The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks `key` for `host:port` against the file's contents.
/// The known_hosts file's text: empty when there is no file yet (the first
/// `--accept-new-host-keys` run creates it), an error when it is a directory
/// or cannot be read, which must never pass for "no host is known".
pub fn read(path: &Path) -> Result<String, TransportError> {
    let refuse = |reason: String| TransportError::KnownHosts {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(refuse(e.to_string())),
        Ok(m) if !m.is_file() => return Err(refuse("it is not a regular file".into())),
        Ok(_) => {}
    }
    std::fs::read_to_string(path).map_err(|e| refuse(e.to_string()))
}

pub fn check(contents: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = lookup_name(host, port);
    let mut recorded = Vec::new();
    // Lines are counted by hand because ssh-key's iterator skips comments.
    for (line_no, line) in contents.lines().enumerate() {
        let line_no = line_no + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some(Ok(entry)) = KnownHosts::new(trimmed).next() else {
            continue;
        };
        if !patterns_match(entry.host_patterns(), &name) {
            continue;
        }
        let same = entry.public_key().key_data() == key.key_data();
        match entry.marker() {
            Some(Marker::Revoked) if same => return Verdict::Revoked { line: line_no },
            Some(_) => continue,
            None if same => return Verdict::Known,
            None => recorded.push(RecordedKey {
                line: line_no,
                fingerprint: fingerprint(entry.public_key()),
            }),
        }
    }
    if recorded.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Changed { recorded }
    }
}

fn patterns_match(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let mut matched = false;
            for p in list {
                if let Some(neg) = p.strip_prefix('!') {
                    if glob_match(neg, name) {
                        return false;
                    }
                } else if glob_match(p, name) {
                    matched = true;
                }
            }
            matched
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, case-insensitive.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Appends a plain entry for `host:port`, creating the file (0600) if needed.
pub fn record(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let existing = std::fs::read(path).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Comments are not part of a known_hosts key field.
    let key_field: String = openssh.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let sep = if existing.is_empty() || existing.ends_with(b"\n") {
        ""
    } else {
        "\n"
    };
    writeln!(f, "{sep}{} {key_field}", lookup_name(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqOQ1WsJKocHFjt6uBtsoJ0Pfny1RWEmrobqcQTNO53";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3YfqCOnJNTWRFvSUz205BBIo+aNxH8aScyGSe75WQJ";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).expect("test key")
    }

    #[test]
    fn plain_entry_matches_and_other_host_is_unknown() {
        let file = format!("# comment\n10.0.0.1 {ED1}\n");
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.2", 22, &key(ED1)), Verdict::Unknown);
    }

    #[test]
    fn non_standard_port_uses_brackets() {
        let file = format!("[10.0.0.1]:2222 {ED1}\n");
        assert_eq!(check(&file, "10.0.0.1", 2222, &key(ED1)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED1)), Verdict::Unknown);
    }

    #[test]
    fn changed_key_reports_recorded_fingerprint_and_line() {
        let file = format!("\n10.0.0.1 {ED1}\n");
        match check(&file, "10.0.0.1", 22, &key(ED2)) {
            Verdict::Changed { recorded } => {
                assert_eq!(recorded[0].line, 2);
                assert_eq!(recorded[0].fingerprint, fingerprint(&key(ED1)));
                assert!(recorded[0].fingerprint.starts_with("SHA256:"));
            }
            v => panic!("expected Changed, got {v:?}"),
        }
    }

    #[test]
    fn globs_and_negation() {
        let file = format!("10.0.0.*,!10.0.0.9 {ED1}\n");
        assert_eq!(check(&file, "10.0.0.5", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.9", 22, &key(ED1)), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries_match() {
        // Produced by `ssh-keygen -H` for host 10.0.0.1.
        let salt = [7u8; 20];
        let mac = Hmac::<Sha1>::new_from_slice(&salt)
            .expect("hmac")
            .chain_update(b"10.0.0.1")
            .finalize()
            .into_bytes();
        let b64 = data_encoding::BASE64;
        let file = format!("|1|{}|{} {ED1}\n", b64.encode(&salt), b64.encode(&mac));
        assert_eq!(check(&file, "10.0.0.1", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&file, "10.0.0.2", 22, &key(ED1)), Verdict::Unknown);
    }

    #[test]
    fn revoked_key_is_refused() {
        let file = format!("@revoked * {ED1}\n10.0.0.1 {ED1}\n");
        assert_eq!(
            check(&file, "10.0.0.1", 22, &key(ED1)),
            Verdict::Revoked { line: 1 }
        );
    }

    #[test]
    fn record_appends_an_entry_that_checks_as_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kh");
        record(&path, "10.0.0.1", 2222, &key(ED1)).expect("record");
        let contents = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            check(&contents, "10.0.0.1", 2222, &key(ED1)),
            Verdict::Known
        );
    }
}
