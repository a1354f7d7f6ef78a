//! Judging a host's access events against the declared operators: every
//! login mapped to an operator by its key's fingerprint, and the findings
//! an operator must look at, each with the journal lines that show it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::model::{Event, EventKind, Journal, KeyUse};
use crate::calendar::rfc3339;

/// A burst is at least this many refused authentications from one source…
pub const BURST_THRESHOLD: usize = 10;
/// …within this many seconds.
pub const BURST_WINDOW_SECS: u64 = 600;
/// How much later than expected the journal may begin before it is a gap:
/// journald starts a moment after the host's identity is written at first
/// boot.
pub const GAP_SLACK_SECS: u64 = 600;
/// Evidence lines kept per finding (the count says how many there were).
const EVIDENCE_MAX: usize = 20;

/// What the inventory declares, as plain data (`ops::access` builds it).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Operators and the SHA-256 fingerprints of their keys.
    pub operators: Vec<OperatorKeys>,
    /// Accounts that are an operator's: the operators' names and the
    /// accounts rampart itself connects as (`ssh.user`, a non-root
    /// `ssh.bootstrap_user`).
    pub accounts: Vec<String>,
    /// Where logins may come from: `admin_sources` and the bastions.
    pub admin_sources: Vec<IpNet>,
    /// Operators removed from the inventory, with the day of removal.
    pub removed: Vec<RemovedOperator>,
}

#[derive(Debug, Clone)]
pub struct OperatorKeys {
    pub name: String,
    pub fingerprints: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RemovedOperator {
    pub name: String,
    /// Days since 1970-01-01 of the removal date; logins from the next day
    /// on are flagged.
    pub removed_day: i64,
    pub fingerprints: Vec<String>,
}

/// The SHA-256 fingerprint of an OpenSSH public key line, as sshd logs it.
pub fn fingerprint(openssh: &str) -> Option<String> {
    use russh::keys::ssh_key::{HashAlg, PublicKey};
    let key = PublicKey::from_openssh(openssh.trim()).ok()?;
    Some(key.fingerprint(HashAlg::Sha256).to_string())
}

impl Policy {
    /// The operator whose key has this fingerprint.
    pub fn operator_of(&self, fp: &str) -> Option<&str> {
        self.operators
            .iter()
            .find(|o| o.fingerprints.iter().any(|f| f == fp))
            .map(|o| o.name.as_str())
    }

    fn is_admin_source(&self, source: &str) -> bool {
        source
            .parse::<IpAddr>()
            .is_ok_and(|ip| self.admin_sources.iter().any(|n| n.contains(&ip)))
    }

    /// The removed operator an account or key belongs to.
    fn removed_of(&self, account: &str, key: Option<&KeyUse>) -> Option<&RemovedOperator> {
        self.removed.iter().find(|r| {
            r.name == account || key.is_some_and(|k| r.fingerprints.contains(&k.fingerprint))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    UnknownKey,
    OutsideAdminSources,
    RootLogin,
    NotOperatorAccount,
    RemovedOperator,
    FailureBurst,
    JournalGap,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
    pub operator: Option<String>,
    pub source: Option<String>,
    /// How many journal lines showed it (evidence keeps the first ones).
    pub count: usize,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    pub time: String,
    pub account: String,
    /// The operator whose key it was; `None` for a key of no operator.
    pub operator: Option<String>,
    pub source: String,
    pub port: u16,
    pub method: String,
    pub key: Option<KeyUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SudoUse {
    pub time: String,
    pub user: String,
    /// `sudo` or `su`.
    pub via: String,
    pub runas: String,
    pub command: Option<String>,
    /// Why sudo/su refused it, if it did.
    pub refused: Option<String>,
}

/// Refused connections from one source (each connection once, however many
/// lines or attempts it logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureSource {
    pub source: String,
    pub count: usize,
    pub first: String,
    pub last: String,
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSpan {
    pub id: String,
    pub user: String,
    pub start: String,
    pub end: Option<String>,
}

/// Per operator on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorSummary {
    pub name: String,
    pub logins: usize,
    pub last_login: Option<String>,
    pub flags: usize,
}

/// One host's access, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostAccess {
    pub host: String,
    pub journal_first_entry: Option<String>,
    pub logins: Vec<Login>,
    pub sudo: Vec<SudoUse>,
    pub failures: Vec<FailureSource>,
    pub sessions: Vec<SessionSpan>,
    pub operators: Vec<OperatorSummary>,
    pub findings: Vec<Finding>,
    pub unparsable_lines: usize,
}

/// Findings being gathered, one per (kind, subject), evidence appended.
#[derive(Default)]
struct Flags(BTreeMap<(FindingKind, String), Finding>);

impl Flags {
    fn add(&mut self, kind: FindingKind, subject: &str, message: String, e: &Event) {
        let entry = self
            .0
            .entry((kind, subject.to_string()))
            .or_insert_with(|| Finding {
                kind,
                message,
                operator: None,
                source: e.kind.source().map(str::to_string),
                count: 0,
                evidence: Vec::new(),
            });
        entry.count += 1;
        if entry.evidence.len() < EVIDENCE_MAX {
            entry.evidence.push(e.line.clone());
        }
    }

    fn with_operator(&mut self, kind: FindingKind, subject: &str, operator: &str) {
        if let Some(f) = self.0.get_mut(&(kind, subject.to_string())) {
            f.operator = Some(operator.to_string());
        }
    }
}

/// Judges one host's journal read since `since` (seconds).
pub fn judge(host: &str, journal: &Journal, policy: &Policy, since: u64) -> HostAccess {
    let mut flags = Flags::default();
    let mut logins = Vec::new();
    for e in &journal.events {
        match &e.kind {
            EventKind::Accepted {
                account,
                method,
                source,
                port,
                key,
            } => {
                let operator = key
                    .as_ref()
                    .and_then(|k| policy.operator_of(&k.fingerprint))
                    .map(str::to_string);
                judge_login(
                    &mut flags,
                    policy,
                    e,
                    account,
                    source,
                    key.as_ref(),
                    &operator,
                );
                logins.push(Login {
                    time: rfc3339(e.time),
                    account: account.clone(),
                    operator,
                    source: source.clone(),
                    port: *port,
                    method: method.clone(),
                    key: key.clone(),
                });
            }
            kind if kind.is_failure() => judge_failure(&mut flags, policy, e),
            _ => {}
        }
    }
    let refused = refused_connections(&journal.events);
    for f in bursts(&refused) {
        flags
            .0
            .insert((f.kind, f.source.clone().unwrap_or_default()), f);
    }
    if let Some(f) = journal_gap(journal, since) {
        flags.0.insert((f.kind, String::new()), f);
    }
    let findings: Vec<Finding> = flags.0.into_values().collect();
    HostAccess {
        host: host.to_string(),
        journal_first_entry: journal.first_entry.map(rfc3339),
        operators: summaries(policy, &logins, &findings),
        logins,
        sudo: privileged(&journal.events),
        failures: failures(&refused),
        sessions: sessions(&journal.events),
        findings,
        unparsable_lines: journal.unparsable,
    }
}

fn judge_login(
    flags: &mut Flags,
    policy: &Policy,
    e: &Event,
    account: &str,
    source: &str,
    key: Option<&KeyUse>,
    operator: &Option<String>,
) {
    // A removed operator's declared key is known: it is flagged below as
    // theirs, not as a stranger's.
    let removed_key = key.is_some_and(|k| {
        policy
            .removed
            .iter()
            .any(|r| r.fingerprints.contains(&k.fingerprint))
    });
    if let Some(k) = key.filter(|_| !removed_key) {
        if operator.is_none() {
            let msg = format!(
                "login to {account} with a key of no operator ({} {})",
                k.algorithm, k.fingerprint
            );
            flags.add(FindingKind::UnknownKey, &k.fingerprint, msg, e);
        }
    }
    if !policy.is_admin_source(source) {
        let msg =
            format!("login to {account} from {source}, outside admin_sources and the bastions");
        flags.add(FindingKind::OutsideAdminSources, source, msg, e);
        if let Some(op) = operator {
            flags.with_operator(FindingKind::OutsideAdminSources, source, op);
        }
    }
    if account == "root" {
        flags.add(
            FindingKind::RootLogin,
            "accepted",
            "root logged in over SSH".into(),
            e,
        );
        if let Some(op) = operator {
            flags.with_operator(FindingKind::RootLogin, "accepted", op);
        }
    } else if !policy.accounts.iter().any(|a| a == account) {
        let msg = format!("login to {account}, which is no operator's account");
        flags.add(FindingKind::NotOperatorAccount, account, msg, e);
    }
    if let Some(r) = policy.removed_of(account, key) {
        if i64::try_from(e.time / 86_400).is_ok_and(|day| day > r.removed_day) {
            let msg = format!(
                "login by {}, removed from the inventory on {}",
                r.name,
                day_text(r.removed_day)
            );
            flags.add(FindingKind::RemovedOperator, &r.name, msg, e);
            flags.with_operator(FindingKind::RemovedOperator, &r.name, &r.name);
        }
    }
}

fn day_text(day: i64) -> String {
    let secs = u64::try_from(day.max(0)).unwrap_or(0) * 86_400;
    rfc3339(secs).chars().take(10).collect()
}

/// Refused attempts that are findings by themselves: an unknown key
/// offered, and any attempt at root.
fn judge_failure(flags: &mut Flags, policy: &Policy, e: &Event) {
    let Some(account) = e.kind.account() else {
        return;
    };
    let key = match &e.kind {
        EventKind::Failed { key, .. } => key.as_ref(),
        _ => None,
    };
    if let Some(k) = key {
        if policy.operator_of(&k.fingerprint).is_none() {
            let msg = format!(
                "refused attempt at {account} with a key of no operator ({} {})",
                k.algorithm, k.fingerprint
            );
            flags.add(FindingKind::UnknownKey, &k.fingerprint, msg, e);
        }
    }
    if account == "root" {
        let source = e.kind.source().unwrap_or_default();
        let msg = format!("refused root login attempt from {source}");
        flags.add(FindingKind::RootLogin, &format!("refused {source}"), msg, e);
    }
}

/// A connection that ended without authenticating: its refusal lines,
/// tied together by the sshd process that logged them.
struct Refused<'a> {
    source: &'a str,
    time: u64,
    accounts: Vec<&'a str>,
    lines: Vec<&'a Event>,
}

/// Refused connections, in time order. A connection that went on to log
/// in (a wrong key offered before the right one) is not refused.
fn refused_connections(events: &[Event]) -> Vec<Refused<'_>> {
    let accepted: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Accepted { .. }))
        .filter_map(|e| Some((e.kind.source()?, e.pid.as_str())))
        .collect();
    let mut by: BTreeMap<(&str, String), Refused> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind.is_failure()) {
        let Some(source) = e.kind.source() else {
            continue;
        };
        if accepted.contains(&(source, e.pid.as_str())) {
            continue;
        }
        // sshd's listener drops many connections under one pid: each
        // drop is a connection of its own.
        let connection = match &e.kind {
            EventKind::Dropped { port, .. } => format!("drop:{port}"),
            _ => e.pid.clone(),
        };
        let c = by.entry((source, connection)).or_insert_with(|| Refused {
            source,
            time: e.time,
            accounts: Vec::new(),
            lines: Vec::new(),
        });
        if let Some(a) = e.kind.account() {
            if !c.accounts.contains(&a) {
                c.accounts.push(a);
            }
        }
        c.lines.push(e);
    }
    let mut out: Vec<Refused> = by.into_values().collect();
    out.sort_by_key(|c| c.time);
    out
}

/// Sources with at least [`BURST_THRESHOLD`] refused connections within
/// [`BURST_WINDOW_SECS`].
fn bursts(refused: &[Refused]) -> Vec<Finding> {
    let mut by_source: BTreeMap<&str, Vec<&Refused>> = BTreeMap::new();
    for c in refused {
        by_source.entry(c.source).or_default().push(c);
    }
    let mut out = Vec::new();
    for (source, list) in by_source {
        let mut start = 0;
        let mut best: Option<(usize, usize)> = None;
        for end in 0..list.len() {
            while list[end].time.saturating_sub(list[start].time) > BURST_WINDOW_SECS {
                start += 1;
            }
            let n = end + 1 - start;
            if n >= BURST_THRESHOLD && best.is_none_or(|(s, e)| n > e + 1 - s) {
                best = Some((start, end));
            }
        }
        if let Some((s, e)) = best {
            let window = &list[s..=e];
            out.push(Finding {
                kind: FindingKind::FailureBurst,
                message: format!(
                    "{} refused connections from {source} within {} s (threshold {BURST_THRESHOLD} in {BURST_WINDOW_SECS} s)",
                    window.len(),
                    window[window.len() - 1].time - window[0].time
                ),
                operator: None,
                source: Some(source.to_string()),
                count: window.len(),
                evidence: window
                    .iter()
                    .flat_map(|c| c.lines.iter().map(|e| e.line.clone()))
                    .take(EVIDENCE_MAX)
                    .collect(),
            });
        }
    }
    out
}

/// The journal begins later than it should: after the window's start, the
/// host's first boot (its machine-id) and journald's retention, by more
/// than [`GAP_SLACK_SECS`]. Entries were removed outside the retention rules
/// (rotated away, vacuumed, deleted).
fn journal_gap(j: &Journal, since: u64) -> Option<Finding> {
    let expected = [
        Some(since),
        j.machine_born,
        j.now
            .zip(j.retention_secs)
            .map(|(now, r)| now.saturating_sub(r)),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(since);
    let (message, evidence) = match j.first_entry {
        Some(first) if first > expected + GAP_SLACK_SECS => (
            format!(
                "the journal begins at {}, but should reach back to {} (window start, first boot, retention)",
                rfc3339(first),
                rfc3339(expected)
            ),
            vec![format!("first journal entry: {}", rfc3339(first))],
        ),
        Some(_) => return None,
        None => (
            "the journal holds no entry at all".to_string(),
            vec!["journalctl: no entries".to_string()],
        ),
    };
    Some(Finding {
        kind: FindingKind::JournalGap,
        message,
        operator: None,
        source: None,
        count: 1,
        evidence,
    })
}

fn privileged(events: &[Event]) -> Vec<SudoUse> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Sudo {
                user,
                runas,
                command,
                refused,
            } => Some(SudoUse {
                time: rfc3339(e.time),
                user: user.clone(),
                via: "sudo".into(),
                runas: runas.clone(),
                command: Some(command.clone()),
                refused: refused.clone(),
            }),
            EventKind::Su {
                user,
                target,
                failed,
            } => Some(SudoUse {
                time: rfc3339(e.time),
                user: user.clone(),
                via: "su".into(),
                runas: target.clone(),
                command: None,
                refused: failed.then(|| "FAILED SU".to_string()),
            }),
            _ => None,
        })
        .collect()
}

fn failures(refused: &[Refused]) -> Vec<FailureSource> {
    let mut by: BTreeMap<&str, FailureSource> = BTreeMap::new();
    for c in refused {
        let time = rfc3339(c.time);
        let f = by.entry(c.source).or_insert_with(|| FailureSource {
            source: c.source.to_string(),
            count: 0,
            first: time.clone(),
            last: time.clone(),
            accounts: Vec::new(),
        });
        f.count += 1;
        f.last = time;
        for a in &c.accounts {
            if !f.accounts.iter().any(|x| x == a) {
                f.accounts.push(a.to_string());
            }
        }
    }
    by.into_values().collect()
}

/// sshd sessions: opened and closed by the same sshd process.
fn sessions(events: &[Event]) -> Vec<SessionSpan> {
    let mut out: Vec<SessionSpan> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::SessionOpened { user } => out.push(SessionSpan {
                id: e.pid.clone(),
                user: user.clone(),
                start: rfc3339(e.time),
                end: None,
            }),
            EventKind::SessionClosed { .. } => {
                if let Some(s) = out
                    .iter_mut()
                    .rev()
                    .find(|s| s.id == e.pid && s.end.is_none())
                {
                    s.end = Some(rfc3339(e.time));
                }
            }
            _ => {}
        }
    }
    out
}

fn summaries(policy: &Policy, logins: &[Login], findings: &[Finding]) -> Vec<OperatorSummary> {
    let names = policy
        .operators
        .iter()
        .map(|o| o.name.as_str())
        .chain(policy.removed.iter().map(|r| r.name.as_str()));
    names
        .map(|name| {
            let mine: Vec<&Login> = logins
                .iter()
                .filter(|l| l.operator.as_deref() == Some(name) || l.account == name)
                .collect();
            OperatorSummary {
                name: name.to_string(),
                logins: mine.len(),
                last_login: mine.iter().map(|l| l.time.clone()).max(),
                flags: findings
                    .iter()
                    .filter(|f| f.operator.as_deref() == Some(name))
                    .count(),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
