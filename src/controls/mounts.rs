//! Mount options of the world-writable directories (/tmp, /dev/shm,
//! /var/tmp): judged on the live mount and on /etc/fstab, enforced through
//! /etc/fstab, the one place both systemd (fstab-generator at boot,
//! systemd-remount-fs for the API file systems such as /dev/shm) and
//! `mount -o remount` read.
//!
//! harden never repartitions and never hides data: a directory that is not
//! a mount of its own becomes a bind mount onto itself (same files, now
//! with nodev/nosuid/noexec); a mount that exists keeps its source and
//! type and gains the missing options. In a container the runtime owns the
//! mounts: not applicable, nothing planned.

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Action, Resource};
use crate::facts::Mount;
use crate::transport::shell_quote;

pub const FSTAB: &str = "/etc/fstab";

/// One /etc/fstab entry (comments and blank lines are not entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

/// The entries of an fstab text; the last entry for a target is the one
/// `mount` and systemd use.
pub fn fstab_entries(text: &str) -> Vec<FstabEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(FstabEntry {
                source: f.next()?.to_string(),
                target: f.next()?.to_string(),
                fstype: f.next()?.to_string(),
                options: f
                    .next()
                    .unwrap_or("defaults")
                    .split(',')
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

fn fstab_entry(ctx: &HostCtx, path: &str) -> Option<FstabEntry> {
    // Collected once for every host (the luks section reads it too).
    fstab_entries(&ctx.facts.luks.fstab)
        .into_iter()
        .rev()
        .find(|e| e.target == path)
}

fn live_mount<'a>(ctx: &'a HostCtx, path: &str) -> Option<&'a Mount> {
    ctx.facts.mounts.iter().rev().find(|m| m.target == path)
}

fn missing<'a>(have: &[&str], wanted: &'a [String]) -> Vec<&'a str> {
    wanted
        .iter()
        .map(String::as_str)
        .filter(|o| !have.contains(o))
        .collect()
}

/// What is wrong with the mount of `path` on a host that is not a
/// container: the live mount and the boot configuration.
fn problems(path: &str, options: &[String], ctx: &HostCtx) -> Vec<String> {
    let mut p = Vec::new();
    match live_mount(ctx, path) {
        None => p.push(format!("{path} is not a mount of its own")),
        Some(m) => {
            let have: Vec<&str> = m.options.split(',').collect();
            let gone = missing(&have, options);
            if !gone.is_empty() {
                p.push(format!("mounted without {}", gone.join(",")));
            }
        }
    }
    match fstab_entry(ctx, path) {
        None => p.push(format!("no {FSTAB} entry: not in force after a reboot")),
        Some(e) => {
            let have: Vec<&str> = e.options.iter().map(String::as_str).collect();
            let gone = missing(&have, options);
            if !gone.is_empty() {
                p.push(format!("{FSTAB} entry lacks {}", gone.join(",")));
            }
        }
    }
    p
}

pub fn evaluate(path: &str, options: &[String], ctx: &HostCtx) -> Outcome {
    let expected = format!("{path} mounted with {}, from {FSTAB}", options.join(","));
    let live = live_mount(ctx, path);
    if ctx.in_container() {
        let gone = live.map(|m| {
            let have: Vec<&str> = m.options.split(',').collect();
            missing(&have, options).join(",")
        });
        match gone {
            Some(g) if g.is_empty() => {}
            Some(g) => return Outcome::not_applicable(format!("not applicable: container ({}): mount options are set by the container runtime (missing {g})", ctx.container_name()), expected),
            None => return Outcome::not_applicable(format!("not applicable: container ({}): mount points are provided by the container runtime", ctx.container_name()), expected),
        }
        let observed = live
            .map(|m| format!("{path} {} ({})", m.fstype, m.options))
            .unwrap_or_default();
        return Outcome::judge(
            true,
            observed.clone(),
            expected,
            evidence(&format!("findmnt {path}"), observed),
        );
    }
    let problems = problems(path, options, ctx);
    let observed = match (live, problems.is_empty()) {
        (Some(m), true) => format!("{path} {} ({})", m.fstype, m.options),
        _ => problems.join("; "),
    };
    let shown = live
        .map(|m| format!("{} {} {}", m.source, m.fstype, m.options))
        .unwrap_or_else(|| "not mounted".into());
    let entry = fstab_entry(ctx, path)
        .map(|e| fstab_line(&e))
        .unwrap_or_else(|| "no entry".into());
    Outcome::judge(
        problems.is_empty(),
        observed,
        expected,
        evidence(
            &format!("findmnt {path}; grep {path} {FSTAB}"),
            format!("{shown}\n{entry}"),
        ),
    )
}

fn fstab_line(e: &FstabEntry) -> String {
    format!(
        "{} {} {} {} 0 0",
        e.source,
        e.target,
        e.fstype,
        e.options.join(",")
    )
}

/// The entry `path` should have: its fstab entry, else its live mount,
/// else a bind mount onto itself; with the missing options added.
fn wanted_entry(path: &str, options: &[String], ctx: &HostCtx) -> FstabEntry {
    let mut e = fstab_entry(ctx, path)
        .or_else(|| {
            // findmnt shows a bind mount's source as `DEVICE[/dir]`, which
            // fstab cannot name: such a mount becomes the bind entry below.
            live_mount(ctx, path)
                .filter(|m| !m.source.contains('['))
                .map(|m| FstabEntry {
                    source: m.source.clone(),
                    target: path.to_string(),
                    fstype: m.fstype.clone(),
                    options: m.options.split(',').map(String::from).collect(),
                })
        })
        .unwrap_or_else(|| FstabEntry {
            source: path.to_string(),
            target: path.to_string(),
            fstype: "none".into(),
            options: vec!["bind".into()],
        });
    for o in options {
        if !e.options.contains(o) {
            e.options.push(o.clone());
        }
    }
    e
}

/// The step that makes the mount right now and at every boot: the fstab
/// entry for the target replaced, then a remount (or a mount, for a
/// directory that was none: a bind mount shows the same files).
fn fix_script(e: &FstabEntry) -> String {
    let target = shell_quote(&e.target);
    format!(
        "backup {FSTAB}\n\
         awk -v t={target} '$1 ~ /^#/ || $2 != t' {FSTAB} > {FSTAB}.rampart-new\n\
         echo {line} >> {FSTAB}.rampart-new\n\
         chmod 0644 {FSTAB}.rampart-new\nmv -f {FSTAB}.rampart-new {FSTAB}\n\
         systemctl daemon-reload\n\
         if mountpoint -q {target}; then mount -o remount {target}; else mount {target}; fi\n",
        line = shell_quote(&fstab_line(e)),
    )
}

pub fn resources(path: &str, options: &[String], ctx: &HostCtx) -> Vec<Resource> {
    if ctx.in_container() || problems(path, options, ctx).is_empty() {
        return Vec::new();
    }
    let e = wanted_entry(path, options, ctx);
    vec![Resource::Action(Box::new(Action::plain(
        format!(
            "mount {path} with {} ({FSTAB}: {})",
            options.join(","),
            fstab_line(&e)
        ),
        fix_script(&e),
    )))]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSTAB_TEXT: &str = "# /etc/fstab\n# /tmp was on /dev/vda2\nUUID=abc / ext4 errors=remount-ro 0 1\n\ntmpfs /dev/shm tmpfs defaults 0 0\ntmpfs /dev/shm tmpfs nosuid,nodev 0 0\n";

    #[test]
    fn comments_are_not_entries_and_the_last_entry_wins() {
        let e = fstab_entries(FSTAB_TEXT);
        assert_eq!(e.len(), 3);
        let shm: Vec<_> = e.iter().filter(|e| e.target == "/dev/shm").collect();
        assert_eq!(
            shm.last().map(|e| e.options.join(",")).as_deref(),
            Some("nosuid,nodev")
        );
        assert!(e.iter().all(|e| e.target != "/tmp"));
    }

    use crate::controls::context::on_base_host;
    use crate::facts::Facts;

    const WANTED: [&str; 3] = ["nodev", "nosuid", "noexec"];

    fn vm(mounts: &[(&str, &str, &str, &str)], fstab: &str) -> Facts {
        let mut f = Facts::default();
        f.virtualization.kind = "kvm".into();
        f.luks.fstab = fstab.into();
        f.mounts = mounts
            .iter()
            .map(|(t, s, fs, o)| Mount {
                target: (*t).into(),
                source: (*s).into(),
                fstype: (*fs).into(),
                options: (*o).into(),
            })
            .collect();
        f
    }

    fn judge_and_plan(f: &Facts, path: &str) -> (Outcome, Vec<Resource>) {
        let wanted: Vec<String> = WANTED.iter().map(|s| s.to_string()).collect();
        on_base_host(f, |ctx| {
            (evaluate(path, &wanted, ctx), resources(path, &wanted, ctx))
        })
    }

    fn script(r: &[Resource]) -> String {
        match r {
            [Resource::Action(a)] => a.script.clone(),
            other => panic!("one action: {other:?}"),
        }
    }

    #[test]
    fn a_directory_that_is_no_mount_becomes_a_bind_mount_onto_itself() {
        let f = vm(&[("/", "/dev/vda1", "ext4", "rw,relatime")], FSTAB_TEXT);
        let (o, r) = judge_and_plan(&f, "/var/tmp");
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(
            o.observed.contains("not a mount of its own"),
            "{}",
            o.observed
        );
        assert!(o.observed.contains("no /etc/fstab entry"), "{}", o.observed);
        assert!(script(&r).contains("'/var/tmp /var/tmp none bind,nodev,nosuid,noexec 0 0'"));
    }

    #[test]
    fn a_live_mount_keeps_its_source_and_gains_the_missing_options() {
        let f = vm(
            &[(
                "/tmp",
                "tmpfs",
                "tmpfs",
                "rw,nosuid,nodev,size=400k,inode64",
            )],
            FSTAB_TEXT,
        );
        let (o, r) = judge_and_plan(&f, "/tmp");
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(
            o.observed.contains("mounted without noexec"),
            "{}",
            o.observed
        );
        assert!(
            script(&r).contains("'tmpfs /tmp tmpfs rw,nosuid,nodev,size=400k,inode64,noexec 0 0'")
        );
    }

    #[test]
    fn live_options_alone_do_not_pass_and_both_together_plan_nothing() {
        let live = [("/dev/shm", "tmpfs", "tmpfs", "rw,nosuid,nodev,noexec")];
        let (o, _) = judge_and_plan(&vm(&live, FSTAB_TEXT), "/dev/shm");
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(
            o.observed.contains("fstab entry lacks noexec"),
            "{}",
            o.observed
        );
        let fixed = format!("{FSTAB_TEXT}tmpfs /dev/shm tmpfs nosuid,nodev,noexec 0 0\n");
        let (o, r) = judge_and_plan(&vm(&live, &fixed), "/dev/shm");
        assert_eq!(o.status, crate::controls::Status::Pass, "{}", o.observed);
        assert!(r.is_empty());
    }

    #[test]
    fn containers_are_not_applicable_and_get_no_step() {
        let mut f = vm(&[], "");
        f.virtualization.container = Some("systemd-nspawn".into());
        let (o, r) = judge_and_plan(&f, "/tmp");
        assert_eq!(o.status, crate::controls::Status::NotApplicable);
        assert!(r.is_empty());
    }

    #[test]
    fn the_fix_replaces_only_the_targets_entries_and_quotes_it() {
        let e = FstabEntry {
            source: "/var/tmp".into(),
            target: "/var/tmp".into(),
            fstype: "none".into(),
            options: vec!["bind".into(), "nodev".into()],
        };
        let s = fix_script(&e);
        assert!(
            s.contains("awk -v t=/var/tmp '$1 ~ /^#/ || $2 != t' /etc/fstab"),
            "{s}"
        );
        assert!(
            s.contains("echo '/var/tmp /var/tmp none bind,nodev 0 0' >> /etc/fstab.rampart-new"),
            "{s}"
        );
        assert!(
            s.contains("mount -o remount /var/tmp; else mount /var/tmp"),
            "{s}"
        );
    }
}
