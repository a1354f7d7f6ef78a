//! journald retention, auditd rules and time synchronisation.

use super::context::HostCtx;
use super::custom::CustomCheck;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource};
use crate::facts::Probe;

/// systemd orders drop-ins from /etc, /run and /usr/lib together by file
/// name, and the last assignment wins. Vendor drop-ins are named by word
/// (Debian 13's systemd ships `/usr/lib/systemd/journald.conf.d/syslog.conf`
/// with `ForwardToSyslog=yes`), so a numbered name sorts before them and
/// loses: rampart's drop-in is named to sort after letters.
pub const JOURNALD_DROPIN: &str = "/etc/systemd/journald.conf.d/zz-rampart.conf";
/// Where rampart up to 0.2 wrote the drop-in; removed on harden.
pub const JOURNALD_DROPIN_BEFORE: &str = "/etc/systemd/journald.conf.d/90-rampart.conf";
pub const AUDIT_RULES: &str = "/etc/audit/rules.d/90-rampart.rules";

pub fn evaluate_journald(key: &str, value: &str, ctx: &HostCtx) -> Outcome {
    let cur = ctx.facts.journald.get(key);
    let observed = match (cur, ctx.facts.journald_sources.get(key)) {
        (Some(v), Some(file)) if !file.is_empty() => format!("{key}={v} (set in {file})"),
        (Some(v), _) => format!("{key}={v}"),
        (None, _) => format!("{key} (default)"),
    };
    Outcome::judge(
        cur.is_some_and(|v| v == value),
        observed.clone(),
        format!("{key}={value}"),
        evidence("systemd-analyze cat-config systemd/journald.conf", observed),
    )
}

pub fn journald_resources(settings: &[(String, String)]) -> Vec<Resource> {
    let mut content = String::from("# Managed by rampart.\n[Journal]\n");
    for (k, v) in settings {
        content.push_str(&format!("{k}={v}\n"));
    }
    vec![
        Resource::root_file(
            JOURNALD_DROPIN,
            content,
            0o644,
            vec![Handler::RestartJournald],
        ),
        Resource::Absent {
            path: JOURNALD_DROPIN_BEFORE.to_string(),
            handlers: vec![Handler::RestartJournald],
        },
    ]
}

/// Authentication, session, identity, privilege and time-change events.
pub const AUDIT_RULE_LINES: &[&str] = &[
    "-w /etc/passwd -p wa -k identity",
    "-w /etc/group -p wa -k identity",
    "-w /etc/shadow -p wa -k identity",
    "-w /etc/gshadow -p wa -k identity",
    "-w /etc/sudoers -p wa -k scope",
    "-w /etc/sudoers.d -p wa -k scope",
    "-w /var/log/sudo.log -p wa -k actions",
    "-w /var/run/faillock -p wa -k logins",
    "-w /var/log/lastlog -p wa -k logins",
    "-w /var/run/utmp -p wa -k session",
    "-w /var/log/wtmp -p wa -k session",
    "-w /var/log/btmp -p wa -k session",
    "-w /etc/ssh/sshd_config -p wa -k sshd",
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change",
    "-w /etc/localtime -p wa -k time-change",
];

fn container_reason(ctx: &HostCtx, why: &str) -> String {
    format!(
        "not applicable: container ({}): {why}",
        ctx.container_name()
    )
}

pub fn evaluate_auditd(ctx: &HostCtx) -> Outcome {
    let expected =
        "auditd active with rampart's rules for authentication, session, identity and time events"
            .to_string();
    if ctx.in_container() {
        return Outcome::not_applicable(
            container_reason(
                ctx,
                "the kernel audit subsystem is not available to containers",
            ),
            expected,
        );
    }
    if !ctx.facts.has_package("auditd") {
        return Outcome::judge(
            false,
            "auditd not installed",
            expected,
            evidence("dpkg-query -W auditd", "not installed"),
        );
    }
    match &ctx.facts.audit_rules {
        Probe::Ok(rules) => {
            let missing = AUDIT_RULE_LINES
                .iter()
                .filter(|r| !rules.iter().any(|l| normalize_rule(l) == normalize_rule(r)))
                .count();
            let observed = format!(
                "{} rules loaded, {missing} of rampart's missing",
                rules.len()
            );
            Outcome::judge(
                missing == 0,
                observed.clone(),
                expected,
                evidence("auditctl -l", observed),
            )
        }
        Probe::Failed(m) => Outcome::judge(
            false,
            format!("auditctl failed: {m}"),
            expected,
            evidence("auditctl -l", m.clone()),
        ),
        Probe::Absent => Outcome::judge(
            false,
            "auditctl not found",
            expected,
            evidence("auditctl -l", "not found"),
        ),
    }
}

/// auditctl -l prints `-w PATH -p wa -k KEY` as `-w PATH -p wa -k KEY` but
/// syscall rules with `-S a -S b`; compare on the set of words.
/// A rule as a sorted word list, so a rule file's line and `auditctl -l`'s
/// listing of it compare equal: auditctl lists syscalls in its own order
/// and prints a syscall rule's `-k KEY` as `-F key=KEY`.
fn normalize_rule(r: &str) -> Vec<String> {
    let mut w: Vec<String> = r
        .replace("-F key=", "-k ")
        .replace(',', " -S ")
        .split_whitespace()
        .map(String::from)
        .collect();
    w.sort();
    w
}

pub fn auditd_resources(ctx: &HostCtx) -> Vec<Resource> {
    if ctx.in_container() {
        return Vec::new();
    }
    let mut content = String::from("## Managed by rampart.\n");
    for r in AUDIT_RULE_LINES {
        content.push_str(r);
        content.push('\n');
    }
    vec![
        Resource::Package {
            name: "auditd".into(),
            present: true,
        },
        Resource::root_file(AUDIT_RULES, content, 0o640, vec![Handler::LoadAuditRules]),
        Resource::Service {
            name: "auditd.service".into(),
            enabled: Some(true),
            active: Some(true),
            masked: false,
        },
    ]
}

pub fn evaluate_time_sync(ctx: &HostCtx) -> Outcome {
    let expected = "systemd-timesyncd or chrony active, the clock synchronized".to_string();
    if ctx.in_container() {
        return Outcome::not_applicable(container_reason(ctx, "the clock belongs to the host kernel; time sync services refuse to run in containers"), expected);
    }
    let active =
        |u: &str| ctx.facts.services.get(u).and_then(|s| s.active.as_deref()) == Some("active");
    let service = ["systemd-timesyncd.service", "chrony.service"]
        .iter()
        .find(|u| active(u));
    // A daemon that reaches no time server keeps the clock free-running:
    // only systemd's NTPSynchronized says the clock is actually in sync.
    let synced = ctx.facts.ntp_synchronized;
    let observed = match (service, synced) {
        (None, _) => "no time sync service active".to_string(),
        (Some(u), Some(false)) => format!("{u} active, but the clock is not synchronized (timedatectl NTPSynchronized=no: no time server reached)"),
        (Some(u), Some(true)) => format!("{u} active, clock synchronized"),
        (Some(u), None) => format!("{u} active"),
    };
    Outcome::judge(
        service.is_some() && synced != Some(false),
        observed.clone(),
        expected,
        evidence(
            "systemctl is-active systemd-timesyncd chrony; timedatectl show -p NTPSynchronized",
            observed,
        ),
    )
}

pub fn time_sync_resources(ctx: &HostCtx) -> Vec<Resource> {
    if ctx.in_container() || ctx.facts.has_package("chrony") {
        return Vec::new();
    }
    vec![
        Resource::Package {
            name: "systemd-timesyncd".into(),
            present: true,
        },
        Resource::Service {
            name: "systemd-timesyncd.service".into(),
            enabled: Some(true),
            active: Some(true),
            masked: false,
        },
    ]
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::enforced("auditd_rules", evaluate_auditd, |ctx| {
        Ok(auditd_resources(ctx))
    }),
    CustomCheck::enforced("time_sync", evaluate_time_sync, |ctx| {
        Ok(time_sync_resources(ctx))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_time_daemon_that_reached_no_server_is_not_a_synchronized_clock() {
        let mut facts: crate::facts::Facts =
            serde_json::from_str(include_str!("../../tests/fixtures/facts/fresh.json"))
                .expect("recorded facts parse");
        facts.virtualization.kind = "qemu".into();
        facts.virtualization.container = None;
        facts.services.insert(
            "systemd-timesyncd.service".into(),
            crate::facts::Unit {
                active: Some("active".into()),
                ..Default::default()
            },
        );
        let judge = |facts: &crate::facts::Facts| {
            crate::controls::context::on_base_host(facts, evaluate_time_sync)
        };
        facts.ntp_synchronized = Some(false);
        let o = judge(&facts);
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(o.observed.contains("not synchronized"), "{}", o.observed);
        facts.ntp_synchronized = Some(true);
        assert_eq!(judge(&facts).status, crate::controls::Status::Pass);
        facts.services.clear();
        assert_eq!(judge(&facts).status, crate::controls::Status::Fail);
    }

    #[test]
    fn a_syscall_rule_matches_auditctls_listing_of_it() {
        // `auditctl -l` on Debian 13 (audit 4.0.2) for rampart's time rule.
        let listed =
            "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -F key=time-change";
        let written =
            "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change";
        assert_eq!(normalize_rule(listed), normalize_rule(written));
        assert_ne!(
            normalize_rule("-a always,exit -F arch=b64 -S adjtimex -F key=time-change"),
            normalize_rule(written),
            "a rule missing syscalls is not the same rule"
        );
    }
}
