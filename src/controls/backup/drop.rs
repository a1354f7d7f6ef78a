//! The backup host's side: the drop (a second sshd on the mesh address, the
//! write-only receiver as its account's login shell, each db host's key
//! bound to its mesh address and forced source), the store it fills, and
//! the rotation that empties it after keep_days.

use std::collections::BTreeMap;

use super::source::enable_action;
use super::{
    age, drift, duration, is_target, judge_side, known_keys, on_side, overdue_after, render,
    DROP_PORT, DROP_USER, RECEIVER, STORE,
};
use crate::controls::context::HostCtx;
use crate::controls::outcome::Outcome;
use crate::engine::resource::{Action, Handler, Resource, Validate};
use crate::facts::Manifest;
use crate::inventory::{Host, Inventory};

const SSHD_CONFIG: &str = "/etc/rampart/backup-drop/sshd_config";
const AUTHORIZED_KEYS: &str = "/etc/rampart/backup-drop/authorized_keys";
const DROP_SERVICE: &str = "/etc/systemd/system/rampart-backup-drop.service";
const DROP_UNIT: &str = "rampart-backup-drop.service";
const ROTATE: &str = "/usr/local/lib/rampart/backup-rotate";
const ROTATE_SERVICE: &str = "/etc/systemd/system/rampart-backup-rotate.service";
const ROTATE_TIMER: &str = "/etc/systemd/system/rampart-backup-rotate.timer";
pub const ROTATE_UNIT: &str = "rampart-backup-rotate.service";
const ROTATE_TIMER_UNIT: &str = "rampart-backup-rotate.timer";
/// The age format's first line.
const AGE_HEADER: &str = "age-encryption.org/v1";

pub const FILES: &[&str] = &[SSHD_CONFIG, AUTHORIZED_KEYS, DROP_SERVICE, RECEIVER, STORE];
pub const ROTATION_FILES: &[&str] = &[ROTATE, ROTATE_SERVICE, ROTATE_TIMER];

fn action(summary: String, script: String) -> Resource {
    Resource::Action(Box::new(Action {
        summary,
        script,
        secret: None,
        escrow: None,
        destroys: None,
    }))
}

/// The sources whose mesh addresses the firewall admits to the drop's port
/// on `host`, when it is a target.
pub fn allowed_sources<'a>(inv: &'a Inventory, host: &Host) -> Vec<&'a Host> {
    if !is_target(inv, host) {
        return Vec::new();
    }
    inv.backup_sources()
}

// === BAK-05: the drop =====================================================

/// One line per source whose key is known: usable only from its mesh
/// address, forced to its own directory, nothing else (`restrict`).
fn authorized_keys(ctx: &HostCtx) -> String {
    let mut t = String::from(
        "# Managed by rampart: the db hosts' drop keys, each bound to its mesh address and source.\n",
    );
    for s in ctx.inventory.backup_sources() {
        let (Some(addr), Some(key)) = (s.mesh_address, known_keys(ctx).clients.get(&s.name)) else {
            t.push_str(&format!("# {}: drop key not known yet\n", s.name));
            continue;
        };
        t.push_str(&format!(
            "restrict,from=\"{addr}\",command=\"from {0}\" {key} rampart-backup@{0}\n",
            s.name
        ));
    }
    t
}

fn user_actions(ctx: &HostCtx) -> Vec<Resource> {
    let mut out = Vec::new();
    match ctx.facts.users.iter().find(|u| u.name == DROP_USER) {
        // `*`: no password, yet not locked, which sshd without PAM would refuse.
        None => out.push(action(
            format!("system user {DROP_USER} (login shell: the receiver)"),
            format!("useradd --system --user-group --home-dir {STORE} --no-create-home --shell {RECEIVER} -p '*' {DROP_USER}"),
        )),
        Some(u) if u.shell != RECEIVER => out.push(Resource::Shell {
            user: DROP_USER.into(),
            shell: RECEIVER.into(),
        }),
        Some(_) => {}
    }
    if !ctx.facts.file_modes.contains_key(STORE) {
        out.push(action(
            format!("backup store {STORE}"),
            format!(
                "install -d -m 0750 -o {DROP_USER} -g {DROP_USER} {STORE}\ntouch {STORE}/.since"
            ),
        ));
    }
    out
}

pub fn drop_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    on_side(is_target(ctx.inventory, ctx.host), || {
        let address = ctx
            .host
            .mesh_address
            .ok_or_else(|| format!("{} receives backups but has no mesh_address", ctx.host.name))?;
        let mut v = tera::Context::new();
        v.insert("port", &DROP_PORT);
        v.insert("address", &address.to_string());
        let config = render("drop_sshd_config.tera", &v)?;
        let config_changes = ctx.facts.file(SSHD_CONFIG) != Some(config.as_str());
        let mut out = vec![
            Resource::Package {
                name: "jq".into(),
                present: true,
            },
            Resource::Package {
                name: "openssh-server".into(),
                present: true,
            },
            Resource::root_file(
                RECEIVER,
                render("backup-receive.sh.tera", &v)?,
                0o755,
                vec![],
            ),
            Resource::File {
                path: SSHD_CONFIG.into(),
                content: config,
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                validate: Some(Validate::Sshd),
                handlers: vec![],
                secret: false,
            },
            Resource::root_file(AUTHORIZED_KEYS, authorized_keys(ctx), 0o644, vec![]),
            Resource::root_file(
                DROP_SERVICE,
                render("drop.service.tera", &v)?,
                0o644,
                vec![Handler::DaemonReload],
            ),
            Resource::Perms {
                path: STORE.into(),
                mode: 0o750,
                owner: DROP_USER.into(),
                group: DROP_USER.into(),
            },
        ];
        out.extend(user_actions(ctx));
        // The drop listens on the mesh address: it starts once wg0.conf
        // exists or is written earlier in this apply (the mesh directory is
        // complete). sshd reads its configuration at start: a changed one
        // restarts it.
        let mesh_configured =
            ctx.mesh.complete || ctx.facts.file(crate::controls::mesh::CONFIG_FILE).is_some();
        if mesh_configured {
            let restart = config_changes && ctx.facts.file(SSHD_CONFIG).is_some();
            out.extend(enable_action(ctx, DROP_UNIT, restart));
        }
        Ok(out)
    })
}

fn listening(ctx: &HostCtx) -> bool {
    let want = ctx
        .host
        .mesh_address
        .map(|a| std::net::SocketAddr::new(a, DROP_PORT).to_string());
    ctx.facts
        .listening
        .iter()
        .any(|s| Some(&s.local) == want.as_ref())
}

pub fn evaluate_drop(ctx: &HostCtx) -> Outcome {
    let applies = is_target(ctx.inventory, ctx.host);
    judge_side(
        applies,
        "target",
        || {
            let mut problems = match drop_resources(ctx) {
                Ok(r) => drift(&r, ctx.facts),
                Err(e) => vec![e],
            };
            if !listening(ctx) {
                problems.push(format!("nothing listens on the mesh address, port {DROP_PORT}"));
            }
            problems
        },
        || {
            format!(
                "{DROP_UNIT} listening on {}:{DROP_PORT}, keys of {}",
                ctx.host.mesh_address.map(|a| a.to_string()).unwrap_or_default(),
                ctx.inventory
                    .backup_sources()
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        "a second sshd on the mesh address: the drop account only, each source's key bound to its address and forced source, the receiver as login shell",
        &format!("systemctl show {DROP_UNIT}; ss -tlnp; cat {SSHD_CONFIG} {AUTHORIZED_KEYS}"),
    )
}

// === BAK-06: the store ====================================================

/// Each (source, database)'s manifests' times, in order.
fn times(manifests: &BTreeMap<String, Option<Manifest>>) -> BTreeMap<(String, String), Vec<u64>> {
    let mut out: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for m in manifests.values().flatten() {
        out.entry((m.source.clone(), m.database.clone()))
            .or_default()
            .push(m.time);
    }
    for t in out.values_mut() {
        t.sort_unstable();
    }
    out
}

fn store_problems(ctx: &HostCtx) -> Vec<String> {
    let Some(store) = &ctx.facts.backup.store else {
        return vec![format!("no store at {STORE}")];
    };
    let mut problems = Vec::new();
    for f in &store.files {
        let manifest = f
            .path
            .strip_suffix(".age")
            .map(|base| format!("{base}.json"))
            .and_then(|m| store.manifests.get(&m).cloned());
        if f.head != AGE_HEADER || !f.path.ends_with(".age") {
            problems.push(format!("{}: not age ciphertext", f.path));
        } else {
            match manifest {
                None => problems.push(format!("{}: no manifest", f.path)),
                Some(None) => problems.push(format!("{}: unreadable manifest", f.path)),
                Some(Some(m)) if m.size != f.size => problems.push(format!(
                    "{}: {} bytes, its manifest says {}",
                    f.path, f.size, m.size
                )),
                Some(Some(_)) => {}
            }
        }
    }
    for path in store.manifests.keys() {
        let artifact = path.strip_suffix(".json").map(|b| format!("{b}.age"));
        if !store
            .files
            .iter()
            .any(|f| Some(&f.path) == artifact.as_ref())
        {
            problems.push(format!("{path}: a manifest without its artifact"));
        }
    }
    problems.extend(recency_problems(ctx, store.since, &times(&store.manifests)));
    problems
}

/// The newest artifact of each declared database younger than 1.5 × the
/// schedule (a store set up more recently has a first one still to come),
/// and no gap longer than that between two artifacts.
fn recency_problems(
    ctx: &HostCtx,
    since: u64,
    times: &BTreeMap<(String, String), Vec<u64>>,
) -> Vec<String> {
    let now = ctx.facts.collected_at;
    let limit = overdue_after(ctx.inventory);
    let mut problems = Vec::new();
    for s in ctx.inventory.backup_sources() {
        for db in &s.databases {
            let t = times.get(&(s.name.clone(), db.clone()));
            match t.and_then(|t| t.last()) {
                Some(newest) if now.saturating_sub(*newest) > limit => problems.push(format!(
                    "{}/{db}: newest artifact {}, older than {}",
                    s.name,
                    age(now, *newest),
                    duration(limit)
                )),
                Some(_) => {}
                None if since > 0 && now.saturating_sub(since) <= limit => {}
                None => problems.push(format!("{}/{db}: no artifact", s.name)),
            }
            for w in t.map(|t| t.windows(2)).into_iter().flatten() {
                if w[1] - w[0] > limit {
                    problems.push(format!(
                        "{}/{db}: a gap of {} after the artifact of {}",
                        s.name,
                        duration(w[1] - w[0]),
                        age(now, w[0])
                    ));
                }
            }
        }
    }
    problems
}

pub fn evaluate_store(ctx: &HostCtx) -> Outcome {
    let applies = is_target(ctx.inventory, ctx.host);
    let store = ctx.facts.backup.store.as_ref();
    judge_side(
        applies,
        "target",
        || store_problems(ctx),
        || {
            format!(
                "{} artifact(s), all age ciphertext with a manifest, none overdue",
                store.map(|s| s.files.len()).unwrap_or(0)
            )
        },
        &format!(
            "only age artifacts with manifests, each database's newest younger than {}",
            duration(overdue_after(ctx.inventory))
        ),
        &format!("find {STORE} -type f; head -c 21 ARTIFACT; cat MANIFEST"),
    )
}

// === BAK-07: rotation =====================================================

fn keep_days(inv: &Inventory) -> u64 {
    inv.backup
        .as_ref()
        .map(|b| u64::from(b.keep_days))
        .unwrap_or(14)
}

pub fn rotation_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    on_side(is_target(ctx.inventory, ctx.host), || {
        let mut v = tera::Context::new();
        v.insert("keep_days", &keep_days(ctx.inventory));
        let reload = || vec![Handler::DaemonReload];
        let mut out = vec![
            Resource::root_file(ROTATE, render("backup-rotate.sh.tera", &v)?, 0o755, vec![]),
            Resource::root_file(
                ROTATE_SERVICE,
                render("rotate.service.tera", &v)?,
                0o644,
                reload(),
            ),
            Resource::root_file(
                ROTATE_TIMER,
                render("rotate.timer.tera", &v)?,
                0o644,
                reload(),
            ),
        ];
        out.extend(enable_action(ctx, ROTATE_TIMER_UNIT, false));
        Ok(out)
    })
}

pub fn evaluate_rotation(ctx: &HostCtx) -> Outcome {
    let applies = is_target(ctx.inventory, ctx.host);
    let now = ctx.facts.collected_at;
    let oldest_allowed = (keep_days(ctx.inventory) + 1) * 86_400;
    judge_side(
        applies,
        "target",
        || {
            let mut problems = match rotation_resources(ctx) {
                Ok(r) => drift(&r, ctx.facts),
                Err(e) => vec![e],
            };
            if let Some(run) = ctx.facts.backup.runs.get(ROTATE_UNIT) {
                if run.result != "success" {
                    problems.push(format!(
                        "the last rotation ({}) failed: {}",
                        age(now, run.exited_at),
                        run.result
                    ));
                }
            }
            let store = ctx.facts.backup.store.as_ref();
            for (path, m) in store.iter().flat_map(|s| &s.manifests) {
                if let Some(m) = m {
                    if now.saturating_sub(m.time) > oldest_allowed {
                        problems.push(format!(
                            "{path}: {}, kept beyond keep_days",
                            age(now, m.time)
                        ));
                    }
                }
            }
            problems
        },
        || {
            let last = ctx.facts.backup.runs.get(ROTATE_UNIT);
            format!(
                "{ROTATE_TIMER_UNIT} active; {}; nothing older than {} days",
                last.map(|r| format!("last rotation {}", age(now, r.exited_at)))
                    .unwrap_or_else(|| "no rotation yet".into()),
                keep_days(ctx.inventory) + 1
            )
        },
        &format!(
            "hourly rotation on this host; no artifact older than keep_days + 1 ({} days)",
            keep_days(ctx.inventory) + 1
        ),
        &format!("systemctl show {ROTATE_UNIT}; jq .time {STORE}/*/*.json"),
    )
}
