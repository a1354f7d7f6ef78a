//! Parser of the access reader's output (`access::script`): sections
//! delimited by `@@rampart-access NAME`, journal entries as
//! `journalctl -o json` lines. Host data is never trusted to be well
//! formed: what cannot be read is counted in `Journal::unparsable`.

use serde_json::Value;

use super::model::{Event, EventKind, Journal, KeyUse};

const MARK: &str = "@@rampart-access ";

/// Parses the whole reader output.
pub fn parse(text: &str) -> Journal {
    let mut j = Journal::default();
    let mut section = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(MARK) {
            section = name.trim();
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match section {
            "now" => j.now = line.parse().ok(),
            "machine" => j.machine_born = machine_born(line),
            "retention" => j.retention_secs = timespan_secs(line),
            "first" => j.first_entry = entry_time(line),
            "journal" => match parse_entry(line) {
                Some(Some(e)) => j.events.push(e),
                Some(None) => j.other += 1,
                None => j.unparsable += 1,
            },
            _ => {}
        }
    }
    j
}

/// `stat -c '%W %Y'`: the birth time, or the modification time where the
/// filesystem records no birth (`%W` is 0 or `-` there).
fn machine_born(line: &str) -> Option<u64> {
    let mut parts = line.split_whitespace();
    let birth = parts.next().and_then(|w| w.parse::<u64>().ok());
    let modified = parts.next().and_then(|w| w.parse::<u64>().ok());
    birth.filter(|b| *b > 0).or(modified)
}

/// A systemd time span as journald.conf writes it (`180day`, `6month`,
/// `1y 2d`, `3600`); `None` for 0 (no limit) or anything else.
pub fn timespan_secs(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    for word in text.split_whitespace() {
        let split = word
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(word.len());
        let (number, unit) = word.split_at(split);
        let n: u64 = number.parse().ok()?;
        let factor: u64 = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1,
            "min" | "m" | "minute" | "minutes" => 60,
            "h" | "hr" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            // systemd's month and year: 30.44 and 365.25 days.
            "M" | "month" | "months" => 2_629_800,
            "y" | "year" | "years" => 31_557_600,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(factor)?)?;
    }
    (total > 0).then_some(total)
}

/// The time of a journal JSON entry, in seconds.
fn entry_time(line: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(line).ok()?;
    micros(&v).map(|us| us / 1_000_000)
}

fn micros(v: &Value) -> Option<u64> {
    v.get("__REALTIME_TIMESTAMP")?.as_str()?.parse().ok()
}

/// A journal field as text: journald writes non-UTF-8 values as arrays
/// of bytes.
fn field(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(bytes) => {
            let raw: Option<Vec<u8>> = bytes
                .iter()
                .map(|b| b.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            Some(String::from_utf8_lossy(&raw?).into_owned())
        }
        _ => None,
    }
}

/// One journal entry: `None` if it cannot be read, `Some(None)` if it is
/// no access event.
pub fn parse_entry(line: &str) -> Option<Option<Event>> {
    let v: Value = serde_json::from_str(line).ok()?;
    let time = micros(&v)? / 1_000_000;
    let message = field(&v, "MESSAGE")?;
    let ident = field(&v, "SYSLOG_IDENTIFIER").unwrap_or_default();
    let pid = field(&v, "_PID").unwrap_or_default();
    let kind = match ident.as_str() {
        "sshd" | "sshd-session" | "sshd-auth" => sshd(&message),
        "sudo" => sudo(&message),
        "su" => su(&message),
        _ => None,
    };
    let line = format!(
        "{} {ident}[{pid}]: {}",
        crate::calendar::rfc3339(time),
        message.trim_end()
    );
    Some(kind.map(|kind| Event {
        time,
        pid,
        line,
        kind,
    }))
}

/// `… from IP port N[ …]`: the address and port after `from`.
fn from_port(rest: &str) -> Option<(String, u16, &str)> {
    let mut words = rest.splitn(4, ' ');
    let source = words.next()?;
    if words.next()? != "port" {
        return None;
    }
    let port_word = words.next()?;
    let port: u16 = port_word.trim_end_matches(':').parse().ok()?;
    source.parse::<std::net::IpAddr>().ok()?;
    Some((source.to_string(), port, words.next().unwrap_or("")))
}

/// `ssh2: ED25519 SHA256:…` at the end of an Accepted/Failed line.
fn key_use(tail: &str) -> Option<KeyUse> {
    let after = tail.split_once("ssh2: ")?.1;
    let mut words = after.split_whitespace();
    let algorithm = words.next()?.to_string();
    let fingerprint = words.next()?;
    fingerprint.starts_with("SHA256:").then(|| KeyUse {
        algorithm,
        fingerprint: fingerprint.to_string(),
    })
}

fn sshd(m: &str) -> Option<EventKind> {
    let m = m.trim();
    if let Some(rest) = m.strip_prefix("Accepted ") {
        let (method, rest) = rest.split_once(" for ")?;
        let (account, rest) = rest.rsplit_once(" from ")?;
        let (source, port, tail) = from_port(rest)?;
        return Some(EventKind::Accepted {
            account: account.to_string(),
            method: method.to_string(),
            source,
            port,
            key: key_use(tail),
        });
    }
    if let Some(rest) = m.strip_prefix("Failed ") {
        let (method, rest) = rest.split_once(" for ")?;
        let (account, invalid_user) = match rest.strip_prefix("invalid user ") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (account, rest) = account.rsplit_once(" from ")?;
        let (source, port, tail) = from_port(rest)?;
        return Some(EventKind::Failed {
            account: account.to_string(),
            invalid_user,
            method: method.to_string(),
            source,
            port,
            key: key_use(tail),
        });
    }
    if let Some(rest) = m.strip_prefix("Invalid user ") {
        let (account, rest) = rest.rsplit_once(" from ")?;
        let (source, port, _) = from_port(rest)?;
        return Some(EventKind::InvalidUser {
            account: account.to_string(),
            source,
            port,
        });
    }
    if let Some(rest) = m.strip_prefix("ROOT LOGIN REFUSED FROM ") {
        let (source, port, _) = from_port(rest)?;
        return Some(EventKind::RootRefused { source, port });
    }
    if let Some(e) = pam_session(m)
        .or_else(|| abandoned(m))
        .or_else(|| dropped(m))
    {
        return Some(e);
    }
    if let Some(rest) = m.strip_prefix("User ") {
        let (account, rest) = rest.split_once(" from ")?;
        let (source, reason) = rest.split_once(' ')?;
        source.parse::<std::net::IpAddr>().ok()?;
        return reason
            .starts_with("not allowed because")
            .then(|| EventKind::NotAllowed {
                account: account.to_string(),
                source: source.to_string(),
            });
    }
    None
}

/// sudo's syslog line: `USER : [PROBLEM ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…`.
fn sudo(m: &str) -> Option<EventKind> {
    let (user, rest) = m.trim().split_once(" : ")?;
    // COMMAND is the last field and may itself contain " ; ".
    let (fields, command) = rest.split_once("COMMAND=")?;
    let mut runas = String::new();
    let mut refused = None;
    for part in fields.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(r) = part.strip_prefix("USER=") {
            runas = r.to_string();
        } else if !part.contains('=') {
            refused = Some(part.to_string());
        }
    }
    Some(EventKind::Sudo {
        user: user.trim().to_string(),
        runas,
        command: command.trim().to_string(),
        refused,
    })
}

/// su's syslog lines: `(to root) ops on pts/0`, `FAILED SU (to root) ops on pts/0`.
fn su(m: &str) -> Option<EventKind> {
    let m = m.trim();
    let (failed, rest) = match m.strip_prefix("FAILED SU ") {
        Some(r) => (true, r),
        None => (false, m),
    };
    let rest = rest.strip_prefix("(to ")?;
    let (target, rest) = rest.split_once(") ")?;
    let user = rest.split(" on ").next()?.trim();
    Some(EventKind::Su {
        user: user.to_string(),
        target: target.to_string(),
        failed,
    })
}

/// sshd's session lines: `pam_unix(sshd:session): session opened for
/// user ops(uid=1000) by ops(uid=0)`, `… session closed for user ops`.
fn pam_session(m: &str) -> Option<EventKind> {
    let rest = m.strip_prefix("pam_unix(sshd:session): session ")?;
    if let Some(r) = rest.strip_prefix("opened for user ") {
        let user = r.split(['(', ' ']).next()?;
        return Some(EventKind::SessionOpened {
            user: user.to_string(),
        });
    }
    let r = rest.strip_prefix("closed for user ")?;
    Some(EventKind::SessionClosed {
        user: r.split(['(', ' ']).next()?.to_string(),
    })
}

/// `drop connection #0 from [192.0.2.9]:4000 on [10.0.0.2]:22 penalty:
/// failed authentication`
fn dropped(m: &str) -> Option<EventKind> {
    let rest = m.strip_prefix("drop connection #")?;
    let (_, rest) = rest.split_once(" from [")?;
    let (source, rest) = rest.split_once("]:")?;
    source.parse::<std::net::IpAddr>().ok()?;
    let (port, rest) = rest.split_once(' ')?;
    // `on [LOCAL]:PORT REASON`
    let reason: Vec<&str> = rest.split_whitespace().skip(2).collect();
    let reason = reason.join(" ");
    Some(EventKind::Dropped {
        source: source.to_string(),
        port: port.parse().ok()?,
        reason,
    })
}

/// `Connection closed by [authenticating|invalid] user ACCOUNT IP port N
/// [preauth]`, and the same after `Disconnected from`.
fn abandoned(m: &str) -> Option<EventKind> {
    let rest = m
        .strip_prefix("Connection closed by ")
        .or_else(|| m.strip_prefix("Disconnected from "))?;
    let (invalid_user, rest) = if let Some(r) = rest.strip_prefix("authenticating user ") {
        (false, r)
    } else {
        (true, rest.strip_prefix("invalid user ")?)
    };
    let rest = rest.trim_end_matches(" [preauth]");
    // The account name comes first and may not contain spaces; sshd
    // prints the address and port after it.
    let (account, rest) = rest.split_once(' ')?;
    let (source, port, _) = from_port(rest)?;
    Some(EventKind::Abandoned {
        account: account.to_string(),
        invalid_user,
        source,
        port,
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
