use super::*;
use crate::access::parse::parse;

/// An operator's key (made with ssh-keygen for these tests).
const OPS_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILRH5BndvKGr45DQVjhR2axgV4CGqZwNV3JYf8MdWpxU ops@lab";

fn policy() -> Policy {
    Policy {
        operators: vec![OperatorKeys {
            name: "ops".into(),
            fingerprints: vec![fingerprint(OPS_KEY).expect("a valid key")],
        }],
        accounts: vec!["ops".into()],
        admin_sources: vec!["10.124.31.1/32".parse().expect("net")],
        removed: vec![RemovedOperator {
            name: "alice".into(),
            removed_day: crate::calendar::days_from_date("2026-12-01").expect("date"),
            fingerprints: vec![],
        }],
    }
}

/// A journal entry line as `journalctl -o json` writes it.
fn entry(secs: u64, ident: &str, message: &str) -> String {
    serde_json::json!({
        "__REALTIME_TIMESTAMP": (secs * 1_000_000 + 123).to_string(),
        "SYSLOG_IDENTIFIER": ident,
        // One sshd process per connection: a new pid per second here.
        "_PID": (secs % 100_000).to_string(),
        "MESSAGE": message,
    })
    .to_string()
}

/// Reader output around some journal lines, on a host born long ago.
fn output(lines: &[String]) -> String {
    format!(
        "@@rampart-access now\n1796300000\n@@rampart-access machine\n1700000000 1700000000\n@@rampart-access retention\n180day\n@@rampart-access first\n{}\n@@rampart-access journal\n{}\n@@rampart-access end\n",
        entry(1_700_000_100, "kernel", "booted"),
        lines.join("\n")
    )
}

const T: u64 = 1_796_200_000; // 2026-12-02, after alice's removal

fn ops_fp() -> String {
    fingerprint(OPS_KEY).expect("fp")
}

fn judged(lines: &[String]) -> HostAccess {
    judge("h1", &parse(&output(lines)), &policy(), T - 86_400)
}

fn kinds(h: &HostAccess) -> Vec<FindingKind> {
    h.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn the_operator_key_from_an_admin_source_is_clean_and_named() {
    let h = judged(&[entry(
        T,
        "sshd-session",
        &format!(
            "Accepted publickey for ops from 10.124.31.1 port 50000 ssh2: ED25519 {}",
            ops_fp()
        ),
    )]);
    assert_eq!(kinds(&h), vec![]);
    assert_eq!(h.logins.len(), 1);
    assert_eq!(h.logins[0].operator.as_deref(), Some("ops"));
    assert_eq!(h.operators[0].name, "ops");
    assert_eq!(h.operators[0].logins, 1);
    assert_eq!(
        h.operators[0].last_login.as_deref(),
        Some("2026-12-02T08:26:40Z")
    );
}

#[test]
fn fingerprints_are_those_sshd_logs() {
    // ssh-keygen -lf of OPS_KEY.
    assert_eq!(
        ops_fp(),
        "SHA256:FLgi9MuC9y0CZu00ec8AIB69EA1GrZKD9JxlegpFWrw"
    );
    assert_eq!(fingerprint("ssh-ed25519 notbase64"), None);
}

#[test]
fn an_unknown_key_is_flagged_accepted_or_refused() {
    let stranger = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let h = judged(&[entry(
        T,
        "sshd",
        &format!("Failed publickey for ops from 10.124.31.1 port 50001 ssh2: ED25519 {stranger}"),
    )]);
    assert_eq!(kinds(&h), vec![FindingKind::UnknownKey]);
    assert!(h.findings[0].message.contains(stranger));
    assert_eq!(h.findings[0].evidence.len(), 1);
    assert!(h.findings[0].evidence[0].contains("Failed publickey"));
    let h = judged(&[entry(
        T,
        "sshd",
        &format!("Accepted publickey for ops from 10.124.31.1 port 50001 ssh2: ED25519 {stranger}"),
    )]);
    assert_eq!(kinds(&h), vec![FindingKind::UnknownKey]);
    assert_eq!(h.logins[0].operator, None);
}

#[test]
fn a_login_from_outside_the_admin_sources_is_flagged_with_its_operator() {
    let h = judged(&[entry(
        T,
        "sshd",
        &format!(
            "Accepted publickey for ops from 10.124.31.200 port 50002 ssh2: ED25519 {}",
            ops_fp()
        ),
    )]);
    assert_eq!(kinds(&h), vec![FindingKind::OutsideAdminSources]);
    assert_eq!(h.findings[0].operator.as_deref(), Some("ops"));
    assert_eq!(h.findings[0].source.as_deref(), Some("10.124.31.200"));
    assert_eq!(h.operators[0].flags, 1);
}

#[test]
fn root_logins_and_root_attempts_are_flagged() {
    let h = judged(&[entry(
        T,
        "sshd",
        &format!(
            "Accepted publickey for root from 10.124.31.1 port 50003 ssh2: ED25519 {}",
            ops_fp()
        ),
    )]);
    assert_eq!(kinds(&h), vec![FindingKind::RootLogin]);
    let h = judged(&[
        entry(T, "sshd", "ROOT LOGIN REFUSED FROM 10.124.31.1 port 50004"),
        entry(
            T,
            "sshd",
            "Failed password for root from 10.124.31.1 port 50004 ssh2",
        ),
    ]);
    assert_eq!(kinds(&h), vec![FindingKind::RootLogin]);
    assert_eq!(h.findings[0].count, 2);
}

#[test]
fn a_login_to_an_account_of_no_operator_is_flagged() {
    let h = judged(&[entry(
        T,
        "sshd",
        &format!(
            "Accepted publickey for backup from 10.124.31.1 port 50005 ssh2: ED25519 {}",
            ops_fp()
        ),
    )]);
    assert_eq!(kinds(&h), vec![FindingKind::NotOperatorAccount]);
}

#[test]
fn a_removed_operator_is_flagged_after_the_removal_date_only() {
    let login = |t: u64| {
        entry(
            t,
            "sshd",
            &format!(
                "Accepted publickey for alice from 10.124.31.1 port 50006 ssh2: ED25519 {}",
                ops_fp()
            ),
        )
    };
    // The removal day itself is not "after"; the account is no operator's either way.
    let removal_day = 1_796_083_200 + 3_600;
    let h = judge("h1", &parse(&output(&[login(removal_day)])), &policy(), 0);
    assert_eq!(kinds(&h), vec![FindingKind::NotOperatorAccount]);
    let h = judged(&[login(T)]);
    assert_eq!(
        kinds(&h),
        vec![
            FindingKind::NotOperatorAccount,
            FindingKind::RemovedOperator
        ]
    );
    let removed = h
        .operators
        .iter()
        .find(|o| o.name == "alice")
        .expect("alice");
    assert_eq!((removed.logins, removed.flags), (1, 1));
    // Her own key, declared with the removal, is hers, not a stranger's.
    let hers = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let mut p = policy();
    p.removed[0].fingerprints = vec![hers.to_string()];
    let line = entry(
        T,
        "sshd",
        &format!("Accepted publickey for alice from 10.124.31.1 port 50007 ssh2: ED25519 {hers}"),
    );
    let h = judge("h1", &parse(&output(&[line])), &p, 0);
    assert_eq!(
        kinds(&h),
        vec![
            FindingKind::NotOperatorAccount,
            FindingKind::RemovedOperator
        ]
    );
}

#[test]
fn a_burst_needs_the_threshold_within_the_window() {
    let attempt = |t: u64| entry(t, "sshd", "Invalid user admin from 192.0.2.9 port 4000");
    let nine: Vec<String> = (0..9).map(|i| attempt(T + i)).collect();
    assert_eq!(kinds(&judged(&nine)), vec![]);
    let spread: Vec<String> = (0..12).map(|i| attempt(T + i * 120)).collect();
    assert_eq!(kinds(&judged(&spread)), vec![], "5 per 10 minutes at most");
    // Penalised sources are dropped by sshd's listener before any attempt.
    let mut ten: Vec<String> = (0..7).map(|i| attempt(T + i * 30)).collect();
    for port in [4001, 4002, 4003] {
        ten.push(entry(
            T + 250,
            "sshd",
            &format!("drop connection #0 from [192.0.2.9]:{port} on [10.124.31.12]:22 penalty: failed authentication"),
        ));
    }
    let h = judged(&ten);
    assert_eq!(kinds(&h), vec![FindingKind::FailureBurst]);
    assert_eq!(h.findings[0].count, 10);
    assert_eq!(h.failures[0].count, 10);
    assert_eq!(h.failures[0].accounts, vec!["admin".to_string()]);
}

#[test]
fn a_journal_that_begins_late_is_a_gap_a_fresh_host_is_not() {
    let mut j = parse(&output(&[]));
    assert_eq!(judge("h1", &j, &policy(), T - 86_400).findings, vec![]);
    // Vacuumed: the oldest entry is now, the host is old.
    j.first_entry = Some(T);
    let h = judge("h1", &j, &policy(), T - 86_400);
    assert_eq!(kinds(&h), vec![FindingKind::JournalGap]);
    // A host born an hour ago has no older entries to lose.
    j.machine_born = Some(T - 60);
    assert_eq!(judge("h1", &j, &policy(), T - 86_400).findings, vec![]);
    // Retention: entries older than 180 days are meant to be gone.
    j.machine_born = Some(1_700_000_000);
    j.first_entry = Some(j.now.expect("now") - 180 * 86_400 + 60);
    assert_eq!(judge("h1", &j, &policy(), 1_700_000_000).findings, vec![]);
    j.first_entry = None;
    assert_eq!(
        kinds(&judge("h1", &j, &policy(), 0)),
        vec![FindingKind::JournalGap]
    );
}

#[test]
fn sudo_su_and_sessions_are_listed() {
    let h = judged(&[
        entry(T, "sshd-session", "pam_unix(sshd:session): session opened for user ops(uid=1000) by ops(uid=0)"),
        entry(T + 1, "sudo", "     ops : TTY=pts/0 ; PWD=/home/ops ; USER=root ; COMMAND=/usr/bin/id -u"),
        entry(T + 2, "sudo", "  backup : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh -c 'a ; b'"),
        entry(T + 3, "su", "(to root) ops on pts/0"),
        entry(T + 100_000, "sshd-session", "pam_unix(sshd:session): session closed for user ops"),
    ]);
    assert_eq!(h.sudo.len(), 3);
    assert_eq!(h.sudo[0].user, "ops");
    assert_eq!(h.sudo[0].command.as_deref(), Some("/usr/bin/id -u"));
    assert_eq!(h.sudo[1].refused.as_deref(), Some("user NOT in sudoers"));
    assert_eq!(h.sudo[1].command.as_deref(), Some("/bin/sh -c 'a ; b'"));
    assert_eq!(
        (h.sudo[2].via.as_str(), h.sudo[2].runas.as_str()),
        ("su", "root")
    );
    assert_eq!(h.sessions.len(), 1);
    assert_eq!(h.sessions[0].user, "ops");
    assert!(h.sessions[0].end.is_some());
}
