//! Accounts and privileges: only the inventory's operators log in, only
//! their keys are authorised, they alone may use sudo, and sudo use is
//! logged. Root stays reachable on the console only (sshd forbids it).

use super::context::HostCtx;
use super::custom::{CustomCheck, Lockout, Login};
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Resource, Validate};
use crate::inventory::Operator;

pub const SUDOERS_OPERATORS: &str = "/etc/sudoers.d/rampart-operators";
pub const SUDOERS_LOGGING: &str = "/etc/sudoers.d/rampart-logging";
/// Groups Debian grants sudo to in /etc/sudoers.
const SUDO_GROUPS: &[&str] = &["sudo", "admin", "wheel"];
pub const NOLOGIN: &str = "/usr/sbin/nologin";

fn operator<'a>(ctx: &'a HostCtx, user: &str) -> Option<&'a Operator> {
    ctx.inventory.operators.iter().find(|o| o.name == user)
}

fn key_id(line: &str) -> String {
    // Compare on type and base64 blob: options and comments do not matter.
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts
        .iter()
        .position(|p| p.starts_with("ssh-") || p.starts_with("ecdsa-") || p.starts_with("sk-"))
    {
        Some(i) if i + 1 < parts.len() => format!("{} {}", parts[i], parts[i + 1]),
        _ => line.trim().to_string(),
    }
}

fn home_of(ctx: &HostCtx, user: &str) -> String {
    ctx.facts
        .users
        .iter()
        .find(|u| u.name == user)
        .map(|u| u.home.clone())
        .unwrap_or_else(|| format!("/home/{user}"))
}

pub fn authorized_keys_path(ctx: &HostCtx, user: &str) -> String {
    format!("{}/.ssh/authorized_keys", home_of(ctx, user))
}

fn operator_keys_file(ctx: &HostCtx, op: &Operator) -> Resource {
    let mut content = String::from("# Managed by rampart from the inventory's operators.\n");
    for k in &op.keys {
        content.push_str(k.trim());
        content.push('\n');
    }
    Resource::File {
        path: authorized_keys_path(ctx, &op.name),
        content,
        mode: 0o600,
        owner: op.name.clone(),
        group: op.name.clone(),
        validate: None,
        handlers: vec![],
        secret: false,
    }
}

pub fn evaluate_operator_accounts(ctx: &HostCtx) -> Outcome {
    let group = ctx.operators_group();
    let expected = format!(
        "operators {} with a login shell, in group {group}, with exactly their inventory keys",
        names(ctx)
    );
    if ctx.inventory.operators.is_empty() {
        return Outcome::judge(
            false,
            "the inventory declares no operators",
            expected,
            Default::default(),
        );
    }
    let mut problems = Vec::new();
    for op in &ctx.inventory.operators {
        let Some(u) = ctx.facts.users.iter().find(|u| u.name == op.name) else {
            problems.push(format!("{} missing", op.name));
            continue;
        };
        if !u.has_login_shell() {
            problems.push(format!("{} has shell {}", op.name, u.shell));
        }
        if !ctx
            .facts
            .groups
            .iter()
            .any(|g| g.name == group && g.members.contains(&op.name))
        {
            problems.push(format!("{} not in {group}", op.name));
        }
        let mut want: Vec<String> = op.keys.iter().map(|k| key_id(k)).collect();
        let mut have: Vec<String> = ctx
            .facts
            .authorized_keys
            .iter()
            .filter(|a| a.user == op.name)
            .flat_map(|a| a.keys.iter().map(|k| key_id(k)))
            .collect();
        want.sort();
        have.sort();
        if want != have {
            problems.push(format!(
                "{} has {} authorized keys, {} expected",
                op.name,
                have.len(),
                want.len()
            ));
        }
    }
    Outcome::from_problems(
        problems,
        format!("operators {} present", names(ctx)),
        expected,
        "getent passwd; getent group; cat ~/.ssh/authorized_keys",
    )
}

fn names(ctx: &HostCtx) -> String {
    ctx.inventory
        .operators
        .iter()
        .map(|o| o.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn operator_account_resources(ctx: &HostCtx) -> Vec<Resource> {
    let group = ctx.operators_group();
    let mut out = vec![Resource::Group {
        name: group.clone(),
    }];
    for op in &ctx.inventory.operators {
        out.push(Resource::User {
            name: op.name.clone(),
            shell: "/bin/bash".into(),
            groups: vec![group.clone()],
        });
        out.push(operator_keys_file(ctx, op));
    }
    out
}

/// Keys that are not an operator's own, per file.
fn foreign_keys(ctx: &HostCtx) -> Vec<(String, String, usize)> {
    ctx.facts
        .authorized_keys
        .iter()
        .filter_map(|a| {
            let allowed: Vec<String> = operator(ctx, &a.user)
                .map(|o| o.keys.iter().map(|k| key_id(k)).collect())
                .unwrap_or_default();
            let foreign = a
                .keys
                .iter()
                .filter(|k| !allowed.contains(&key_id(k)))
                .count();
            (foreign > 0).then(|| (a.user.clone(), a.path.clone(), foreign))
        })
        .collect()
}

pub fn evaluate_only_operator_keys(ctx: &HostCtx) -> Outcome {
    let expected = "no authorized key except the operators' own".to_string();
    let foreign = foreign_keys(ctx);
    let observed = if foreign.is_empty() {
        "only operator keys".to_string()
    } else {
        foreign
            .iter()
            .map(|(u, p, n)| format!("{u}: {n} unknown key(s) in {p}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Outcome::judge(
        foreign.is_empty(),
        observed.clone(),
        expected,
        evidence("cat ~*/.ssh/authorized_keys", observed),
    )
}

pub fn only_operator_keys_resources(ctx: &HostCtx) -> Vec<Resource> {
    foreign_keys(ctx)
        .into_iter()
        .map(|(user, path, _)| match operator(ctx, &user) {
            Some(op) if path == authorized_keys_path(ctx, &user) => operator_keys_file(ctx, op),
            _ => Resource::Absent {
                path,
                handlers: vec![],
            },
        })
        .collect()
}

/// Programs a profile declares as restricted shells (`restricted_shells`):
/// a system account whose login shell is one of them runs that program and
/// nothing else (the backup drop's receiver), so it is not a login.
fn restricted_shells(ctx: &HostCtx) -> Vec<String> {
    match ctx.vars.get("restricted_shells") {
        Some(serde_yaml::Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn foreign_logins(ctx: &HostCtx) -> Vec<(String, String)> {
    let restricted = restricted_shells(ctx);
    ctx.facts
        .users
        .iter()
        .filter(|u| !(u.uid < 1000 && restricted.contains(&u.shell)))
        .filter(|u| u.name != "root" && u.has_login_shell() && operator(ctx, &u.name).is_none())
        .map(|u| (u.name.clone(), u.shell.clone()))
        .collect()
}

pub fn evaluate_only_operator_logins(ctx: &HostCtx) -> Outcome {
    let expected = format!(
        "login shells only for root (console) and operators {}",
        names(ctx)
    );
    let foreign = foreign_logins(ctx);
    let observed = if foreign.is_empty() {
        "no other login shells".to_string()
    } else {
        foreign
            .iter()
            .map(|(u, s)| format!("{u} ({s})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Outcome::judge(
        foreign.is_empty(),
        observed.clone(),
        expected,
        evidence("getent passwd", observed),
    )
}

pub fn only_operator_logins_resources(ctx: &HostCtx) -> Vec<Resource> {
    foreign_logins(ctx)
        .into_iter()
        .map(|(user, _)| Resource::Shell {
            user,
            shell: NOLOGIN.into(),
        })
        .collect()
}

pub fn evaluate_no_empty_passwords(ctx: &HostCtx) -> Outcome {
    let empty: Vec<&str> = ctx
        .facts
        .users
        .iter()
        .filter(|u| u.password == "empty")
        .map(|u| u.name.as_str())
        .collect();
    let observed = if empty.is_empty() {
        "none".to_string()
    } else {
        empty.join(", ")
    };
    Outcome::judge(
        empty.is_empty(),
        format!("accounts with an empty password: {observed}"),
        "no account with an empty password",
        evidence(
            "awk -F: '$2==\"\"' /etc/shadow (evaluated on the host)",
            observed,
        ),
    )
}

pub fn no_empty_passwords_resources(ctx: &HostCtx) -> Vec<Resource> {
    ctx.facts
        .users
        .iter()
        .filter(|u| u.password == "empty")
        .map(|u| Resource::LockPassword {
            user: u.name.clone(),
        })
        .collect()
}

fn sudoers_operators_content(ctx: &HostCtx) -> String {
    format!("# Managed by rampart: the operators, and nobody else, may use sudo.\n%{} ALL=(ALL:ALL) NOPASSWD: ALL\n", ctx.operators_group())
}

const SUDOERS_LOGGING_CONTENT: &str = "# Managed by rampart: every sudo use is logged to its own file.\nDefaults logfile=\"/var/log/sudo.log\"\nDefaults log_allowed, log_denied\nDefaults use_pty\n";

fn sudo_group_intruders(ctx: &HostCtx) -> Vec<(String, String)> {
    ctx.facts
        .groups
        .iter()
        .filter(|g| SUDO_GROUPS.contains(&g.name.as_str()))
        .flat_map(|g| {
            g.members
                .iter()
                .filter(|m| operator(ctx, m).is_none())
                .map(|m| (m.clone(), g.name.clone()))
        })
        .collect()
}

pub fn evaluate_sudo_operators(ctx: &HostCtx) -> Outcome {
    let expected = format!(
        "sudo installed; {SUDOERS_OPERATORS} grants %{}; no other members in {}",
        ctx.operators_group(),
        SUDO_GROUPS.join("/")
    );
    let mut problems = Vec::new();
    if !ctx.facts.has_package("sudo") {
        problems.push("sudo not installed".to_string());
    }
    if ctx.facts.file(SUDOERS_OPERATORS) != Some(sudoers_operators_content(ctx).as_str()) {
        problems.push(format!("{SUDOERS_OPERATORS} missing or changed"));
    }
    for (u, g) in sudo_group_intruders(ctx) {
        problems.push(format!("{u} in group {g}"));
    }
    Outcome::from_problems(
        problems,
        "operators only",
        expected,
        &format!("cat {SUDOERS_OPERATORS}; getent group sudo"),
    )
}

pub fn sudo_operators_resources(ctx: &HostCtx) -> Vec<Resource> {
    let mut out = vec![
        Resource::Package {
            name: "sudo".into(),
            present: true,
        },
        Resource::File {
            path: SUDOERS_OPERATORS.into(),
            content: sudoers_operators_content(ctx),
            mode: 0o440,
            owner: "root".into(),
            group: "root".into(),
            validate: Some(Validate::Sudoers),
            handlers: vec![],
            secret: false,
        },
    ];
    out.extend(
        sudo_group_intruders(ctx)
            .into_iter()
            .map(|(user, group)| Resource::LeaveGroup { user, group }),
    );
    out
}

pub fn evaluate_sudo_logging(ctx: &HostCtx) -> Outcome {
    let ok = ctx.facts.file(SUDOERS_LOGGING) == Some(SUDOERS_LOGGING_CONTENT);
    let observed = if ok {
        "sudo logs to /var/log/sudo.log".to_string()
    } else {
        format!("{SUDOERS_LOGGING} missing or changed")
    };
    Outcome::judge(
        ok,
        observed.clone(),
        "Defaults logfile=/var/log/sudo.log, log_allowed, log_denied, use_pty",
        evidence(&format!("cat {SUDOERS_LOGGING}"), observed),
    )
}

pub fn sudo_logging_resources() -> Vec<Resource> {
    vec![
        Resource::Package {
            name: "sudo".into(),
            present: true,
        },
        Resource::File {
            path: SUDOERS_LOGGING.into(),
            content: SUDOERS_LOGGING_CONTENT.into(),
            mode: 0o440,
            owner: "root".into(),
            group: "root".into(),
            validate: Some(Validate::Sudoers),
            handlers: vec![],
            secret: false,
        },
    ]
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck {
        lockout: Lockout::Login(operator_keys_risk),
        ..CustomCheck::enforced("operator_accounts", evaluate_operator_accounts, |ctx| {
            Ok(operator_account_resources(ctx))
        })
    },
    CustomCheck::enforced(
        "only_operator_logins",
        evaluate_only_operator_logins,
        |ctx| Ok(only_operator_logins_resources(ctx)),
    ),
    CustomCheck {
        lockout: Lockout::Login(only_operator_keys_risk),
        ..CustomCheck::enforced("only_operator_keys", evaluate_only_operator_keys, |ctx| {
            Ok(only_operator_keys_resources(ctx))
        })
    },
    CustomCheck::enforced("no_empty_passwords", evaluate_no_empty_passwords, |ctx| {
        Ok(no_empty_passwords_resources(ctx))
    }),
    CustomCheck::enforced("sudo_operators", evaluate_sudo_operators, |ctx| {
        Ok(sudo_operators_resources(ctx))
    }),
    CustomCheck::enforced("sudo_logging", evaluate_sudo_logging, |_| {
        Ok(sudo_logging_resources())
    }),
    CustomCheck::judged("sole_uid_zero", evaluate_sole_uid_zero),
    CustomCheck::enforced("former_operators", evaluate_former_operators, |ctx| {
        Ok(former_operators_resources(ctx))
    }),
];

/// Accounts of operators no longer in `operators:`: members of rampart's
/// operators group (only provision and harden put anyone there) and the
/// inventory's `removed_operators` whose account still exists. rampart's
/// own account is never one (the lockout checks refuse a plan without it).
fn former_operators(ctx: &HostCtx) -> Vec<String> {
    let group = ctx.operators_group();
    let members = ctx
        .facts
        .groups
        .iter()
        .filter(|g| g.name == group)
        .flat_map(|g| g.members.iter().cloned());
    let removed = ctx
        .inventory
        .removed_operators
        .iter()
        .map(|r| r.name.clone())
        .filter(|n| ctx.facts.users.iter().any(|u| u.name == *n));
    let mut out: Vec<String> = members
        .chain(removed)
        .filter(|n| n != "root" && *n != ctx.inventory.ssh.user && operator(ctx, n).is_none())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// ACC-16: an operator removed from the inventory leaves no account (and
/// with it no keys, sudo right or group membership) behind.
pub fn evaluate_former_operators(ctx: &HostCtx) -> Outcome {
    let former = former_operators(ctx);
    let observed = if former.is_empty() {
        "no account of a former operator".to_string()
    } else {
        format!("accounts of former operators: {}", former.join(", "))
    };
    Outcome::judge(
        former.is_empty(),
        observed.clone(),
        format!(
            "no account of anyone outside operators {} (members of {}, removed_operators)",
            names(ctx),
            ctx.operators_group()
        ),
        evidence(
            &format!("getent group {}; getent passwd", ctx.operators_group()),
            observed,
        ),
    )
}

pub fn former_operators_resources(ctx: &HostCtx) -> Vec<Resource> {
    former_operators(ctx)
        .into_iter()
        .map(|name| Resource::RemoveUser { name })
        .collect()
}

/// ACC-08: root is the only account with UID 0. Any other is root under
/// another name, outside the operators' accounts and sudo's log: the
/// classic hidden way back in. Judged only: which account is the intruder
/// (and what owns its files) is the operator's call, not rampart's.
pub fn evaluate_sole_uid_zero(ctx: &HostCtx) -> Outcome {
    let expected = "root is the only account with UID 0";
    let users = &ctx.facts.users;
    // Without root at UID 0 the account list is missing or unreadable:
    // an empty list must not pass.
    if !users.iter().any(|u| u.name == "root" && u.uid == 0) {
        return Outcome::error(
            "the account list has no root with UID 0: getent passwd was not read",
            expected,
            evidence("getent passwd", ""),
        );
    }
    let others: Vec<&str> = users
        .iter()
        .filter(|u| u.uid == 0 && u.name != "root")
        .map(|u| u.name.as_str())
        .collect();
    let observed = if others.is_empty() {
        "only root has UID 0".to_string()
    } else {
        format!("UID 0 is also held by {}", others.join(", "))
    };
    Outcome::judge(
        others.is_empty(),
        observed.clone(),
        expected,
        evidence("getent passwd", observed),
    )
}

/// Setting ssh.user's authorized keys to the inventory's must keep the key
/// rampart connects with.
fn operator_keys_risk(l: &Login) -> Option<String> {
    let op = l.operator?;
    let kept = op
        .keys
        .iter()
        .any(|k| l.client_keys.iter().any(|c| k.contains(c.as_str())));
    (!l.client_keys.is_empty() && !kept).then(|| {
        format!(
            "sets the authorized keys of `{}` to the inventory's, which do not include the key rampart connects with; add that public key to operator `{}`",
            l.user, l.user
        )
    })
}

/// Removing every non-operator key removes ssh.user's unless it is an operator.
fn only_operator_keys_risk(l: &Login) -> Option<String> {
    match l.operator {
        None => Some(format!(
            "removes every authorized key that is not an operator's, including those of ssh.user `{}`; set ssh.user to an operator",
            l.user
        )),
        Some(_) => operator_keys_risk(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_on_type_and_blob() {
        assert_eq!(
            key_id("ssh-ed25519 AAAA ops@laptop"),
            key_id("no-pty ssh-ed25519 AAAA other-comment")
        );
        assert_ne!(key_id("ssh-ed25519 AAAA"), key_id("ssh-ed25519 BBBB"));
    }

    #[test]
    fn a_second_uid_zero_account_fails_and_no_account_list_is_an_error() {
        let mut facts: crate::facts::Facts =
            serde_json::from_str(include_str!("../../tests/fixtures/facts/fresh.json"))
                .expect("recorded facts parse");
        let judge = |facts: &crate::facts::Facts| {
            crate::controls::context::on_base_host(facts, evaluate_sole_uid_zero)
        };
        assert_eq!(
            judge(&facts).status,
            crate::controls::Status::Pass,
            "as recorded: root alone"
        );
        let mut toor = facts.users[0].clone();
        toor.name = "toor".into();
        toor.uid = 0;
        facts.users.push(toor);
        let o = judge(&facts);
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert_eq!(o.observed, "UID 0 is also held by toor");
        facts.users.clear();
        assert_eq!(
            judge(&facts).status,
            crate::controls::Status::Error,
            "no list is no pass"
        );
    }
}
