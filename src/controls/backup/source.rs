//! The db host's side: PostgreSQL and age, the backup account and its drop
//! key, the sandboxed service and timer, the recency of each database's
//! last backup, and the drop's refusals seen with the host's own key.

use super::{
    age, drift, duration, is_source, judge_side, known_keys, on_side, overdue_after, render,
    BACKUP_USER, CLIENT_KEY, DROP_PORT, REFUSED, REFUSED_STATUS, STATE_DIR,
};
use crate::controls::accounts::NOLOGIN;
use crate::controls::context::HostCtx;
use crate::controls::outcome::Outcome;
use crate::engine::resource::{Action, Handler, Resource};
use crate::transport::shell_quote;

const SCRIPT: &str = "/usr/local/lib/rampart/backup-run";
const SERVICE: &str = "/etc/systemd/system/rampart-backup.service";
const TIMER: &str = "/etc/systemd/system/rampart-backup.timer";
const RECIPIENTS: &str = "/etc/rampart/backup/recipients";
const KNOWN_HOSTS: &str = "/etc/rampart/backup/known_hosts";
pub const UNIT: &str = "rampart-backup.service";
const TIMER_UNIT: &str = "rampart-backup.timer";
pub const FILES: &[&str] = &[SCRIPT, SERVICE, TIMER, RECIPIENTS, KNOWN_HOSTS];
const PACKAGES: &[&str] = &["postgresql", "age", "openssh-client"];

fn action(summary: String, script: String) -> Resource {
    Resource::Action(Box::new(Action {
        summary,
        script,
        secret: None,
        escrow: None,
        destroys: None,
    }))
}

// === BAK-01: PostgreSQL, age, the declared databases =====================

pub fn database_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    on_side(is_source(ctx.inventory, ctx.host), || {
        let mut out: Vec<Resource> = PACKAGES
            .iter()
            .map(|p| Resource::Package {
                name: p.to_string(),
                present: true,
            })
            .collect();
        out.push(Resource::Service {
            name: "postgresql.service".into(),
            enabled: Some(true),
            active: Some(true),
            masked: false,
        });
        out.extend(role_action(ctx));
        Ok(out)
    })
}

/// The backup's PostgreSQL role, reading everything and nothing more
/// (pg_read_all_data), reached by peer authentication as the backup account.
fn role_action(ctx: &HostCtx) -> Option<Resource> {
    let pg = ctx.facts.backup.postgres.as_ref();
    let done = pg.is_some_and(|p| p.up && p.backup_role);
    if done || !ctx.facts.has_package("postgresql") {
        return None;
    }
    let sql = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BACKUP_USER}') THEN CREATE ROLE \"{BACKUP_USER}\" LOGIN; END IF; END $$; GRANT pg_read_all_data TO \"{BACKUP_USER}\";"
    );
    Some(action(
        format!("PostgreSQL role {BACKUP_USER} (pg_read_all_data)"),
        format!(
            "systemctl start postgresql\nrunuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -c {} >/dev/null",
            shell_quote(&sql)
        ),
    ))
}

pub fn evaluate_database(ctx: &HostCtx) -> Outcome {
    let applies = is_source(ctx.inventory, ctx.host);
    judge_side(
        applies,
        "source",
        || {
            let mut problems = drift(&database_resources(ctx).unwrap_or_default(), ctx.facts);
            match &ctx.facts.backup.postgres {
                Some(pg) if pg.up => {
                    for d in &ctx.host.databases {
                        if !pg.databases.contains(d) {
                            problems.push(format!("database {d} does not exist"));
                        }
                    }
                }
                _ => problems.push("PostgreSQL does not answer".into()),
            }
            problems
        },
        || {
            format!(
                "PostgreSQL {} runs with databases {}",
                ctx.facts.packages.get("postgresql").cloned().unwrap_or_default(),
                ctx.host.databases.join(", ")
            )
        },
        "postgresql and age installed, the cluster running, every declared database present",
        "runuser -u postgres -- psql -c 'SELECT datname FROM pg_database'; dpkg-query -W postgresql age",
    )
}

// === BAK-02: the account, its key, the service and the timer ==============

fn vars(ctx: &HostCtx) -> tera::Context {
    let mut v = tera::Context::new();
    let targets: Vec<String> = super::targets(ctx.inventory)
        .iter()
        .filter_map(|t| t.mesh_address.map(|a| a.to_string()))
        .collect();
    v.insert("targets", &targets);
    v.insert("databases", &ctx.host.databases);
    v.insert("port", &DROP_PORT);
    let schedule = ctx
        .inventory
        .backup
        .as_ref()
        .map(|b| b.schedule.canonical.clone())
        .unwrap_or_default();
    v.insert("schedule", &schedule);
    v
}

/// `[MESH]:PORT KEY` for every target whose host key is known.
fn known_hosts(ctx: &HostCtx) -> String {
    let mut t = String::from("# Managed by rampart: the backup drops' host keys.\n");
    for target in super::targets(ctx.inventory) {
        let (Some(addr), Some(key)) =
            (target.mesh_address, known_keys(ctx).hosts.get(&target.name))
        else {
            t.push_str(&format!("# {}: host key not known yet\n", target.name));
            continue;
        };
        t.push_str(&format!("[{addr}]:{DROP_PORT} {key}\n"));
    }
    t
}

fn recipients(ctx: &HostCtx) -> String {
    let mut t =
        String::from("# Managed by rampart: the operators' age recipients (secrets.recipients).\n");
    for r in &ctx.inventory.secrets.recipients {
        t.push_str(r);
        t.push('\n');
    }
    t
}

fn user_action(ctx: &HostCtx) -> Option<Resource> {
    if ctx.facts.users.iter().any(|u| u.name == BACKUP_USER) {
        return None;
    }
    Some(action(
        format!("system user {BACKUP_USER} (no login)"),
        format!("useradd --system --user-group --home-dir {STATE_DIR} --no-create-home --shell {NOLOGIN} {BACKUP_USER}"),
    ))
}

/// The drop key is born here, as the account that uses it; only its
/// public half is ever read (facts).
fn key_action(ctx: &HostCtx) -> Option<Resource> {
    if ctx.facts.backup.client_key.is_some() {
        return None;
    }
    let comment = shell_quote(&format!("{BACKUP_USER}@{}", ctx.host.name));
    Some(action(
        format!("drop key {CLIENT_KEY} (ed25519, generated on the host)"),
        format!(
            "install -d -m 0700 -o {BACKUP_USER} -g {BACKUP_USER} {STATE_DIR}\nrunuser -u {BACKUP_USER} -- ssh-keygen -q -t ed25519 -N '' -C {comment} -f {CLIENT_KEY}"
        ),
    ))
}

fn unit_running(ctx: &HostCtx, unit: &str) -> bool {
    ctx.facts.services.get(unit).is_some_and(|u| {
        u.enabled.as_deref() == Some("enabled") && u.active.as_deref() == Some("active")
    })
}

/// Enables and starts a unit rampart wrote: an action, because the unit is
/// not known to the facts before its file exists.
pub(super) fn enable_action(ctx: &HostCtx, unit: &str, restart: bool) -> Option<Resource> {
    if unit_running(ctx, unit) && !restart {
        return None;
    }
    let start = if restart { "restart" } else { "start" };
    Some(action(
        format!("enable and {start} {unit}"),
        format!("systemctl daemon-reload\nsystemctl enable {unit}\nsystemctl {start} {unit}"),
    ))
}

pub fn service_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    on_side(is_source(ctx.inventory, ctx.host), || {
        let v = vars(ctx);
        let reload = || vec![Handler::DaemonReload];
        let mut out = vec![
            Resource::root_file(SCRIPT, render("backup-run.sh.tera", &v)?, 0o755, vec![]),
            Resource::root_file(SERVICE, render("backup.service.tera", &v)?, 0o644, reload()),
            Resource::root_file(TIMER, render("backup.timer.tera", &v)?, 0o644, reload()),
            Resource::root_file(RECIPIENTS, recipients(ctx), 0o644, vec![]),
            Resource::root_file(KNOWN_HOSTS, known_hosts(ctx), 0o644, vec![]),
        ];
        out.extend(user_action(ctx));
        out.extend(key_action(ctx));
        out.extend(enable_action(ctx, TIMER_UNIT, false));
        Ok(out)
    })
}

pub fn evaluate_service(ctx: &HostCtx) -> Outcome {
    let applies = is_source(ctx.inventory, ctx.host);
    judge_side(
        applies,
        "source",
        || match service_resources(ctx) {
            Ok(r) => drift(&r, ctx.facts),
            Err(e) => vec![e],
        },
        || format!("{TIMER_UNIT} enabled and active, {UNIT} sandboxed, drop key born on the host"),
        "the backup account, its drop key, the sandboxed service and the timer as rampart renders them",
        &format!("systemctl show {TIMER_UNIT}; cat {SERVICE} {TIMER} {SCRIPT}"),
    )
}

// === BAK-03: the last run and each database's last success ===============

pub fn evaluate_recent(ctx: &HostCtx) -> Outcome {
    let applies = is_source(ctx.inventory, ctx.host);
    let limit = overdue_after(ctx.inventory);
    let now = ctx.facts.collected_at;
    let b = &ctx.facts.backup;
    judge_side(
        applies,
        "source",
        || {
            let mut problems = Vec::new();
            if let Some(run) = b.runs.get(UNIT) {
                if run.result != "success" {
                    problems.push(format!(
                        "the last run ({}) failed: {}{}",
                        age(now, run.exited_at),
                        run.result,
                        run.exit_status
                            .map(|s| format!(", exit status {s}"))
                            .unwrap_or_default()
                    ));
                }
            }
            let since = b.client_since.unwrap_or(0);
            for db in &ctx.host.databases {
                match b.last_success.get(db) {
                    Some(t) if now.saturating_sub(*t) <= limit => {}
                    Some(t) => problems.push(format!(
                        "{db}: last backup {}, older than {}",
                        age(now, *t),
                        duration(limit)
                    )),
                    None if since > 0 && now.saturating_sub(since) <= limit => {}
                    None => problems.push(format!("{db}: no backup has succeeded")),
                }
            }
            problems
        },
        || {
            ctx.host
                .databases
                .iter()
                .map(|db| match b.last_success.get(db) {
                    Some(t) => format!("{db}: last backup {}", age(now, *t)),
                    None => format!(
                        "{db}: set up {}, first backup due within {}",
                        age(now, b.client_since.unwrap_or(now)),
                        duration(limit)
                    ),
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
        &format!(
            "the last run succeeded and every database backed up within {}",
            duration(limit)
        ),
        &format!("systemctl show {UNIT} -p Result -p ExecMainExitTimestamp; cat {STATE_DIR}/ok-*"),
    )
}

// === BAK-04: the drop refuses everything but a write =====================

/// The requests the probe makes (collect.sh), each of which must be refused.
const PROBED: &[&str] = &["ls -la", "cat *", "rm -f *", "put probe", "sftp"];

pub fn evaluate_refusals(ctx: &HostCtx) -> Outcome {
    let applies = is_source(ctx.inventory, ctx.host);
    let targets = super::probe_targets(ctx.inventory, ctx.host);
    judge_side(
        applies,
        "source",
        || {
            let mut problems = Vec::new();
            for t in &targets {
                for req in PROBED {
                    let seen = ctx
                        .facts
                        .backup
                        .probes
                        .iter()
                        .find(|p| p.target == *t && p.request == *req);
                    match seen {
                        None => problems.push(format!("{t}: `{req}` was not probed (no drop key or known_hosts)")),
                        Some(p) if refused(p) => {}
                        Some(p) if p.exit_status == 0 => {
                            problems.push(format!("{t}: `{req}` was ACCEPTED: {}", p.output))
                        }
                        Some(p) => problems.push(format!(
                            "{t}: `{req}` not refused by the drop's receiver (exit {}): {}",
                            p.exit_status, p.output
                        )),
                    }
                }
            }
            problems
        },
        || {
            format!(
                "{}: list, read, delete, sftp and a non-age upload refused by the drop",
                targets.join(", ")
            )
        },
        "every drop refuses, with this host's key, anything but an age upload under a name it chooses",
        &format!("ssh -i {CLIENT_KEY} -p {DROP_PORT} rampart-drop@TARGET 'ls -la' | 'cat *' | 'rm -f *' | 'put probe' </dev/null; ssh -s … sftp"),
    )
}

/// Refused by the receiver (authentication succeeded, the request did not),
/// or, for sftp, by the drop's sshd, which has no subsystem at all.
fn refused(p: &crate::facts::DropProbe) -> bool {
    let by_receiver = p.exit_status == REFUSED_STATUS && p.output.contains(REFUSED);
    let no_subsystem =
        p.request == "sftp" && p.exit_status != 0 && p.output.contains("subsystem request failed");
    by_receiver || no_subsystem
}
