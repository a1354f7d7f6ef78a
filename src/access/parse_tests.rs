use super::*;
use crate::access::judge::{fingerprint, judge, FindingKind, OperatorKeys, Policy};

/// The reader's output recorded on a Debian 13 lab host (OpenSSH 10's
/// sshd-session, LogLevel VERBOSE) after provision and harden, then: a
/// login with the operator's key and two sudo commands, an unknown key,
/// root, an invalid user, a password attempt (refused: no password
/// authentication), and rampart's own logins.
const RECORDED: &str = include_str!("../../tests/fixtures/access/lab-host.txt");
/// The lab's operator key the recording was made with.
const LAB_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOCOTGU5wj8sERKYY+02TaNomm6UALUu0P1Z5Wh4Xuj rampart-lab";

#[test]
fn the_recorded_header_is_read() {
    let j = parse(RECORDED);
    assert_eq!(j.now, Some(1_796_690_021));
    assert_eq!(j.machine_born, Some(1_796_689_775));
    assert_eq!(j.retention_secs, Some(180 * 86_400));
    assert_eq!(j.first_entry, Some(1_796_689_776));
    assert_eq!(j.unparsable, 0);
    assert!(j.other > 50, "sshd's other lines are counted: {}", j.other);
}

#[test]
fn the_recorded_logins_and_refusals_are_events() {
    let j = parse(RECORDED);
    let accepted: Vec<(&str, &str)> = j
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Accepted { account, key, .. } => {
                Some((account.as_str(), key.as_ref()?.fingerprint.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(accepted.len(), 10);
    assert_eq!(accepted.iter().filter(|(a, _)| *a == "root").count(), 2);
    let lab = fingerprint(LAB_KEY).expect("lab key");
    assert!(accepted.iter().all(|(_, fp)| *fp == lab), "{accepted:?}");
    let failed = j.events.iter().find_map(|e| match &e.kind {
        EventKind::Failed {
            account,
            key,
            source,
            port,
            ..
        } => Some((account, key, source, port)),
        _ => None,
    });
    let (account, key, source, port) = failed.expect("a Failed publickey line");
    assert_eq!(
        (account.as_str(), source.as_str(), *port),
        ("ops", "10.124.31.1", 35_028)
    );
    assert_eq!(
        key.as_ref().map(|k| k.fingerprint.as_str()),
        Some("SHA256:BqkN+KA3qx1JdqIEUJF9FPnMqOoETPW3VGvg/siunAY")
    );
    assert!(j.events.iter().any(|e| e.kind
        == EventKind::NotAllowed {
            account: "root".into(),
            source: "10.124.31.1".into()
        }));
    assert!(j.events.iter().any(|e| e.kind
        == EventKind::InvalidUser {
            account: "nosuch".into(),
            source: "10.124.31.1".into(),
            port: 35_052
        }));
    let sudo: Vec<&str> = j
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Sudo { command, .. } => Some(command.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        sudo.contains(&"/usr/bin/id -u") && sudo.contains(&"/usr/bin/true"),
        "{sudo:?}"
    );
}

#[test]
fn the_recording_judged_names_the_operator_and_flags_the_abnormal() {
    let j = parse(RECORDED);
    let policy = Policy {
        operators: vec![OperatorKeys {
            name: "ops".into(),
            fingerprints: vec![fingerprint(LAB_KEY).expect("lab key")],
        }],
        accounts: vec!["ops".into()],
        admin_sources: vec!["10.124.31.0/24".parse().expect("net")],
        removed: vec![],
    };
    let h = judge("t-access-1", &j, &policy, 1_796_689_000);
    assert!(h
        .logins
        .iter()
        .all(|l| l.operator.as_deref() == Some("ops")));
    let kinds: Vec<FindingKind> = h.findings.iter().map(|f| f.kind).collect();
    // provision's two root logins, the refused root attempt, the unknown key.
    assert_eq!(
        kinds,
        vec![
            FindingKind::UnknownKey,
            FindingKind::RootLogin,
            FindingKind::RootLogin
        ]
    );
    assert_eq!(h.failures.len(), 1);
    assert_eq!(h.failures[0].count, 4, "four refused connections");
    assert_eq!(h.sessions.len(), 10);
    assert!(h.sessions.iter().filter(|s| s.end.is_none()).count() <= 1);
}

#[test]
fn broken_lines_are_counted_not_fatal() {
    let text = "@@rampart-access now\nnot a number\n@@rampart-access journal\n{not json\n{\"MESSAGE\":\"x\"}\n{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":[65,255,66],\"SYSLOG_IDENTIFIER\":\"sshd\"}\n@@rampart-access end\n";
    let j = parse(text);
    assert_eq!(j.now, None);
    assert_eq!(j.unparsable, 2);
    assert_eq!(j.other, 1, "a byte-array message is read, and is no event");
}

#[test]
fn sshd_lines_of_both_releases_parse() {
    let cases = [
        "Accepted publickey for ops from 2001:db8::7 port 22022 ssh2: RSA SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Failed password for invalid user admin from 192.0.2.1 port 4000 ssh2",
        "ROOT LOGIN REFUSED FROM 192.0.2.1 port 4001",
        "Disconnected from authenticating user root 192.0.2.1 port 4002 [preauth]",
    ];
    let parsed: Vec<Option<EventKind>> = cases.iter().map(|c| sshd(c)).collect();
    assert!(
        matches!(&parsed[0], Some(EventKind::Accepted { source, key: Some(_), .. }) if source == "2001:db8::7")
    );
    assert!(
        matches!(&parsed[1], Some(EventKind::Failed { invalid_user: true, account, .. }) if account == "admin")
    );
    assert!(matches!(
        &parsed[2],
        Some(EventKind::RootRefused { port: 4001, .. })
    ));
    assert!(matches!(
        &parsed[3],
        Some(EventKind::Abandoned {
            invalid_user: false,
            ..
        })
    ));
    assert_eq!(
        sshd("drop connection #0 from [192.0.2.9]:4003 on [10.0.0.2]:22 penalty: failed authentication"),
        Some(EventKind::Dropped {
            source: "192.0.2.9".into(),
            port: 4003,
            reason: "penalty: failed authentication".into()
        })
    );
    assert_eq!(sshd("Accepted publickey for ops from nowhere port x"), None);
    assert_eq!(timespan_secs("1y 2d"), Some(31_557_600 + 2 * 86_400));
    assert_eq!(timespan_secs("0"), None);
    assert_eq!(timespan_secs("3 fortnights"), None);
}

#[test]
fn the_json_follows_its_schema() {
    let j = parse(RECORDED);
    let policy = Policy {
        operators: vec![OperatorKeys {
            name: "ops".into(),
            fingerprints: vec![fingerprint(LAB_KEY).expect("lab key")],
        }],
        ..Policy::default()
    };
    let run = crate::access::AccessRun::new(
        1_796_689_000,
        vec![judge("t-access-1", &j, &policy, 1_796_689_000)],
        vec![crate::access::Unreadable {
            host: "t-access-2".into(),
            error: "connection refused".into(),
        }],
    );
    let value = serde_json::to_value(&run).expect("serialises");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/access.schema.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schema is not vacuous: a finding of an unknown kind is refused.
    let mut bad = value.clone();
    bad["hosts"][0]["findings"][0]["kind"] = "made_up".into();
    assert!(!validator.is_valid(&bad));
    assert!(crate::access::render_text(&run).contains("journal not read"));
    assert!(crate::access::render_markdown(&run).contains("| t-access-1 | UnknownKey |"));
}
