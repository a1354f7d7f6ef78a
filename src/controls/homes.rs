//! Interactive accounts' home directories and init files (CIS 7.2.x): not
//! readable by others, not writable by the group, owned by the account;
//! `~/.ssh` closed to everyone else. Accounts rampart creates get these
//! modes at creation (`engine::resource`'s user step); this judges every
//! interactive account, and tightens what it finds open.

use super::context::HostCtx;
use super::custom::CustomCheck;
use super::outcome::Outcome;
use crate::engine::resource::Resource;
use crate::facts::FileMode;

/// The most a home directory, a dot file or a dot directory may allow
/// (what umask 027 creates): no group write, nothing for others.
const HOME_MODE: u32 = 0o750;
/// `~/.ssh`: the account's own (sshd's StrictModes accepts no less).
const SSH_DIR_MODE: u32 = 0o700;

fn allowed(home: &str, path: &str) -> u32 {
    if path == format!("{home}/.ssh") {
        SSH_DIR_MODE
    } else {
        HOME_MODE
    }
}

/// (account, path, what is wrong, the mode it may have) for every entry too open
/// or owned by someone else.
fn open_entries(ctx: &HostCtx) -> Vec<(String, String, FileMode, u32)> {
    let mut out = Vec::new();
    for (user, entries) in &ctx.facts.homes {
        let Some(home) = ctx
            .facts
            .users
            .iter()
            .find(|u| &u.name == user)
            .map(|u| u.home.trim_end_matches('/').to_string())
        else {
            continue;
        };
        for (path, m) in entries {
            let max = allowed(&home, path);
            if m.mode & !max != 0 || m.owner != *user {
                out.push((user.clone(), path.clone(), m.clone(), max));
            }
        }
    }
    out
}

pub fn evaluate_home_modes(ctx: &HostCtx) -> Outcome {
    let problems: Vec<String> = open_entries(ctx)
        .iter()
        .map(|(user, path, m, max)| {
            format!(
                "{path}: {:04o} {}:{} (at most {max:04o}, owned by {user})",
                m.mode, m.owner, m.group
            )
        })
        .collect();
    let homes = ctx.facts.homes.len();
    Outcome::from_problems(
        problems,
        format!("{homes} interactive home(s), none open"),
        "home directories and dot files 0750 or stricter, ~/.ssh 0700, owned by their account",
        "stat -c '%a %U %G %n' ~user ~user/.[!.]*",
    )
}

pub fn home_modes_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    Ok(open_entries(ctx)
        .into_iter()
        .map(|(user, path, m, max)| Resource::Perms {
            path,
            mode: max,
            owner: user,
            group: m.group,
        })
        .collect())
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[CustomCheck::enforced(
    "home_modes",
    evaluate_home_modes,
    home_modes_resources,
)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::context::on_base_host;
    use crate::controls::Status;
    use crate::facts::{Facts, User};

    fn mode(mode: u32, owner: &str) -> FileMode {
        FileMode {
            mode,
            owner: owner.into(),
            group: owner.into(),
        }
    }

    #[test]
    fn a_home_as_useradd_makes_it_under_umask_022_is_open_and_tightened() {
        let mut facts = Facts {
            users: vec![User {
                name: "ops".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/ops".into(),
                shell: "/bin/bash".into(),
                password: "locked".into(),
            }],
            ..Default::default()
        };
        let entries = [
            ("/home/ops", mode(0o755, "ops")),
            ("/home/ops/.bashrc", mode(0o644, "ops")),
            ("/home/ops/.ssh", mode(0o755, "root")),
        ];
        facts.homes.insert(
            "ops".into(),
            entries
                .iter()
                .map(|(p, m)| (p.to_string(), m.clone()))
                .collect(),
        );
        let (o, fixes) = on_base_host(&facts, |ctx| {
            (evaluate_home_modes(ctx), home_modes_resources(ctx))
        });
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.observed.contains("/home/ops/.ssh: 0755 root:root"),
            "{}",
            o.observed
        );
        let fixes = fixes.expect("resources");
        assert_eq!(fixes.len(), 3);
        assert!(fixes.contains(&Resource::Perms {
            path: "/home/ops/.ssh".into(),
            mode: 0o700,
            owner: "ops".into(),
            group: "root".into(),
        }));
        for (p, m) in [
            ("/home/ops", mode(0o750, "ops")),
            ("/home/ops/.bashrc", mode(0o640, "ops")),
            ("/home/ops/.ssh", mode(0o700, "ops")),
        ] {
            facts.homes.get_mut("ops").expect("ops").insert(p.into(), m);
        }
        assert_eq!(
            on_base_host(&facts, evaluate_home_modes).status,
            Status::Pass
        );
    }
}
