//! Applying a host's changes: one script, sent on stdin in one exec, that
//! writes every file atomically (temp file, fsync, rename) after saving the
//! previous version under /var/backups/rampart/, installs and purges
//! packages in one apt run, and runs each handler once, after the changes
//! that notify it. An sshd reload is guarded: a rollback timer is armed
//! first and only cancelled once a fresh connection succeeds.

use std::collections::{BTreeMap, BTreeSet};

use super::resource::{Change, Handler, Resource};
use crate::transport::{shell_quote, Session, TransportError, SCRIPT_ENV};

/// Transient unit that restores the previous sshd configuration.
pub const SSHD_ROLLBACK_UNIT: &str = "rampart-rollback-sshd";
/// Transient unit that restores the previous firewall table.
pub const FIREWALL_ROLLBACK_UNIT: &str = "rampart-rollback-firewall";
/// How long the host waits for the confirmation before rolling back.
pub const ROLLBACK_SECS: u64 = 60;
/// When rampart last changed the host (seconds since the epoch), written
/// by every apply that changed something, before its snapshots are taken:
/// verify judges an integrity database against it.
pub const LAST_CHANGE: &str = "/var/lib/rampart/last-change";
/// Backups kept per host (older runs are deleted).
const BACKUPS_KEPT: usize = 10;

/// The script's helpers, after `set -u` and `transport::SCRIPT_ENV`.
const PRELUDE: &str = r#"export DEBIAN_FRONTEND=noninteractive
FAILED=0
CHANGED=0
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
ok() { CHANGED=1; printf '@@ok %s\n' "$1"; }
fail() { FAILED=1; printf '@@fail %s\n' "$1"; tail -n 15 "$LOG" | sed 's/^/  /'; }
backup() {
  [ -e "$1" ] || return 0
  mkdir -p "$BACKUP$(dirname "$1")" && cp -a "$1" "$BACKUP$1"
}
# put PATH MODE OWNER GROUP VALIDATOR <base64 on stdin>
put() {
  dir=$(dirname "$1"); mkdir -p "$dir" || return 1
  tmp=$(mktemp "$dir/.rampart.XXXXXX") || return 1
  if ! base64 -d > "$tmp"; then rm -f "$tmp"; return 1; fi
  # A refused file: the validator's own words, with the temporary name
  # replaced by the file's, so the operator sees why (nft: "Could not
  # resolve protocol name", sshd: "Bad configuration option", ...).
  if [ -n "$5" ] && ! out=$($5 "$tmp" 2>&1); then
    rm -f "$tmp"; echo "validation failed: $5 $1"
    printf '%s\n' "$out" | sed "s|$tmp|$1|g" | tail -n 12; return 1
  fi
  chown "$3:$4" "$tmp" && chmod "$2" "$tmp" && sync "$tmp" || { rm -f "$tmp"; return 1; }
  backup "$1" || { rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$1" && sync "$dir"
}
remove() { [ -e "$1" ] || return 0; backup "$1" && rm -f "$1"; }
tighten() {
  m=$(stat -c %a "$1") || return 1
  chmod "$(printf '%o' $(( 0$m & 0$2 )))" "$1" && chown "$3:$4" "$1"
}
INSTALL=""; PURGE=""
want_install() { INSTALL="$INSTALL $1"; }
want_purge() { PURGE="$PURGE $1"; }
apt_run() {
  if [ -n "$INSTALL" ]; then
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
      apt-get update -q || return 1
    fi
    # dpkg fsyncs every unpacked file before its rename; one sync of the
    # whole run afterwards gives the same durability once apply reports
    # success, at a fraction of the cost (an install cut off by a crash
    # needs `dpkg --configure -a` either way).
    apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-unsafe-io $INSTALL || return 1
  fi
  if [ -n "$PURGE" ]; then apt-get purge -y -q $PURGE || return 1; fi
  sync
}
"#;

fn flag(h: Handler) -> String {
    format!("H_{}", format!("{h:?}").to_uppercase())
}

/// `ok N` plus the flags of the handlers step N notifies.
fn on_success(i: usize, c: &Change) -> String {
    let mut s = format!("ok {i}");
    for h in c.resource.handlers() {
        s.push_str(&format!("; {}=1", flag(*h)));
    }
    s
}

/// Builds the apply script. Steps are numbered in the order of `changes`;
/// the script reports `@@ok N` / `@@fail N` for each, then runs each
/// notified handler once (`@@handler ok|fail NAME`).
pub fn script(changes: &[Change], stamp: &str) -> String {
    let mut s = format!("set -u\n{SCRIPT_ENV}{PRELUDE}");
    s.push_str(&format!("BACKUP=/var/backups/rampart/{stamp}\n"));
    let indexed: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
    // Packages first, in one apt run: files may live in directories they create.
    let packages: Vec<&(usize, &Change)> = indexed
        .iter()
        .filter(|(_, c)| matches!(c.resource, Resource::Package { .. }))
        .collect();
    if !packages.is_empty() {
        for (_, c) in &packages {
            s.push_str(&c.resource.script());
            s.push('\n');
        }
        let ids: Vec<String> = packages.iter().map(|(i, _)| i.to_string()).collect();
        s.push_str(&format!(
            "if apt_run >\"$LOG\" 2>&1; then for i in {0}; do ok $i; done; else for i in {0}; do fail $i; done; fi\n",
            ids.join(" ")
        ));
    }
    let mut handlers = BTreeSet::new();
    let mut notifying: BTreeMap<Handler, Vec<String>> = BTreeMap::new();
    let mut stamped = false;
    for (i, c) in indexed
        .iter()
        .filter(|(_, c)| !matches!(c.resource, Resource::Package { .. }))
    {
        if matches!(c.resource, Resource::Snapshot { .. }) && !stamped {
            s.push_str(&stamp_last_change());
            stamped = true;
        }
        handlers.extend(c.resource.handlers().iter().copied());
        if let Some(path) = c.resource.path() {
            for h in c.resource.handlers() {
                notifying.entry(*h).or_default().push(path.to_string());
            }
        }
        s.push_str(&format!(
            "if {{\n{}\n}} >\"$LOG\" 2>&1; then {}; else fail {i}; fi\n",
            c.resource.script(),
            on_success(*i, c)
        ));
    }
    if !stamped {
        s.push_str(&stamp_last_change());
    }
    for h in &handlers {
        match checked(*h) {
            Some(c) => s.push_str(&checked_step(*h, &c, notifying.get(h).map_or(&[], |v| v))),
            None => s.push_str(&handler_step(*h, stamp)),
        }
    }
    s.push_str(&format!(
        "ls -1d /var/backups/rampart/*/ 2>/dev/null | sort | head -n -{BACKUPS_KEPT} | xargs -r rm -rf\nexit $FAILED\n"
    ));
    s
}

/// Records the time of this run's changes, if it made any (see [`LAST_CHANGE`]).
fn stamp_last_change() -> String {
    format!(
        "if [ \"$CHANGED\" = 1 ]; then mkdir -p {dir} && date +%s > {LAST_CHANGE}; fi\n",
        dir = shell_quote(LAST_CHANGE.rsplit_once('/').map_or("/", |(d, _)| d))
    )
}

/// Runs handler `h` if a step notified it. sshd is reloaded under a
/// rollback timer that restores the backed-up configuration unless
/// [`confirm_sshd_script`] cancels it after a fresh connection succeeds.
fn handler_step(h: Handler, stamp: &str) -> String {
    let body = match guard(h) {
        Some(g) => {
            let backup = format!("/var/backups/rampart/{stamp}");
            format!(
                "{save}systemctl stop {u}.timer {u}.service >/dev/null 2>&1; systemctl reset-failed {u}.service {u}.timer >/dev/null 2>&1; \
                 systemd-run --quiet --unit={u} --on-active={ROLLBACK_SECS} /bin/sh -c '{restore}' && {apply}",
                save = g.save.replace("$B", &backup),
                restore = g.restore.replace("$B", &backup),
                apply = h.script(),
                u = g.unit,
            )
        }
        None => h.script().to_string(),
    };
    format!(
        "if [ \"${{{f}:-0}}\" = 1 ]; then if {{ {body}; }} >\"$LOG\" 2>&1; then echo '@@handler ok {n}'; else FAILED=1; echo '@@handler fail {n}'; tail -n 5 \"$LOG\" | sed 's/^/  /'; fi; fi\n",
        f = flag(h),
        n = h.name()
    )
}

/// A handler whose effect could cut rampart off: armed with a rollback
/// timer before it runs, confirmed by a fresh connection afterwards.
struct Guard {
    unit: &'static str,
    /// Saves live state that the managed file does not hold ($B: backups).
    save: &'static str,
    /// Restores the previous state ($B: this run's backups).
    restore: &'static str,
}

fn guard(h: Handler) -> Option<Guard> {
    match h {
        Handler::ReloadSshd => Some(Guard {
            unit: SSHD_ROLLBACK_UNIT,
            save: "",
            restore: "if [ -e $B/etc/ssh/sshd_config ]; then cp -a $B/etc/ssh/sshd_config /etc/ssh/sshd_config; fi; systemctl reload ssh || systemctl restart ssh",
        }),
        Handler::LoadFirewall => Some(Guard {
            unit: FIREWALL_ROLLBACK_UNIT,
            save: "mkdir -p $B && (nft list table inet rampart > $B/rampart-live.nft 2>/dev/null || : > $B/rampart-live.nft); ",
            restore: "if [ -e $B/etc/nftables.d/rampart.nft ]; then cp -a $B/etc/nftables.d/rampart.nft /etc/nftables.d/rampart.nft; else rm -f /etc/nftables.d/rampart.nft; fi; nft add table inet rampart; nft delete table inet rampart; if [ -s $B/rampart-live.nft ]; then nft -f $B/rampart-live.nft; fi",
        }),
        _ => None,
    }
}

/// A reload that cannot cut rampart off but can take a service down: the
/// configuration is tested before, the service checked after, and on any
/// failure the files of the steps that notified the handler are restored
/// from this run's backups (files that did not exist are removed) and the
/// previous configuration is loaded again.
struct Checked {
    test: &'static str,
    check: &'static str,
}

fn checked(h: Handler) -> Option<Checked> {
    match h {
        Handler::ReloadNginx => Some(Checked {
            test: "nginx -t",
            check: "sleep 1 && systemctl is-active -q nginx",
        }),
        _ => None,
    }
}

fn checked_step(h: Handler, c: &Checked, paths: &[String]) -> String {
    let restore: String = paths
        .iter()
        .map(|p| {
            let q = shell_quote(p);
            format!("if [ -e \"$BACKUP\"{q} ]; then cp -a \"$BACKUP\"{q} {q}; else rm -f {q}; fi; ")
        })
        .collect();
    let body = format!(
        "if {test} && {apply} && {check}; then :; else echo 'restoring the previous configuration'; {restore}{test} >/dev/null 2>&1 && {apply} >/dev/null 2>&1; false; fi",
        test = c.test,
        apply = h.script(),
        check = c.check,
    );
    format!(
        "if [ \"${{{f}:-0}}\" = 1 ]; then if {{ {body}; }} >\"$LOG\" 2>&1; then echo '@@handler ok {n}'; else FAILED=1; echo '@@handler fail {n}'; tail -n 5 \"$LOG\" | sed 's/^/  /'; fi; fi\n",
        f = flag(h),
        n = h.name()
    )
}

/// Handlers that need a fresh connection to confirm them.
pub fn is_guarded(h: Handler) -> bool {
    guard(h).is_some()
}

/// Cancels the rollbacks once a fresh connection has succeeded.
pub fn confirm_script() -> String {
    [SSHD_ROLLBACK_UNIT, FIREWALL_ROLLBACK_UNIT]
        .iter()
        .map(|u| format!("systemctl stop {u}.timer >/dev/null 2>&1; systemctl reset-failed {u}.service >/dev/null 2>&1; "))
        .collect::<String>()
        + "true"
}

/// Rolls back at once (the fresh connection failed).
pub fn rollback_script() -> String {
    [SSHD_ROLLBACK_UNIT, FIREWALL_ROLLBACK_UNIT]
        .iter()
        .map(|u| {
            format!("if systemctl is-active -q {u}.timer; then systemctl start {u}.service; fi; ")
        })
        .collect::<String>()
        + "true"
}

/// Which steps succeeded, from the script's `@@ok N` / `@@fail N` lines,
/// and the failure messages.
pub fn parse_results(stdout: &str, steps: usize) -> (Vec<bool>, Vec<(usize, String)>) {
    let mut ok = vec![false; steps];
    let mut failures = Vec::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(n) = line
            .strip_prefix("@@ok ")
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            if n < steps {
                ok[n] = true;
            }
        } else if let Some(n) = line
            .strip_prefix("@@fail ")
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            let mut msg = Vec::new();
            while let Some(next) = lines.peek() {
                if let Some(m) = next.strip_prefix("  ") {
                    msg.push(m.to_string());
                    lines.next();
                } else {
                    break;
                }
            }
            failures.push((n, msg.join("\n")));
        }
    }
    (ok, failures)
}

/// What to show of a failed step: a validator's refusal with its own
/// output (indented under it), otherwise the step's last line of output
/// (apt, systemctl, ... end with the line that says why).
pub fn failure_detail(msg: &str) -> String {
    let lines: Vec<&str> = msg.lines().collect();
    match lines
        .iter()
        .position(|l| l.starts_with("validation failed:"))
    {
        Some(i) => {
            let mut out = lines[i].to_string();
            for l in lines[i + 1..].iter().filter(|l| !l.trim().is_empty()) {
                out.push_str("\n    ");
                out.push_str(l);
            }
            out
        }
        None => lines.last().copied().unwrap_or_default().to_string(),
    }
}

/// Runs `script` on the host (as root) and returns its stdout.
pub async fn run_script(session: &Session, script: &str) -> Result<String, TransportError> {
    let out = session.run("sh -s", script.as_bytes()).await?;
    Ok(out.stdout_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str, handlers: Vec<Handler>) -> Change {
        Change {
            resource: Resource::File {
                path: path.into(),
                content: content.into(),
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                validate: None,
                handlers,
                secret: false,
            },
            action: '+',
            summary: String::new(),
            diff: None,
        }
    }

    #[test]
    fn packages_run_first_in_one_apt_call() {
        let pkg = |n: &str| Change {
            resource: Resource::Package {
                name: n.into(),
                present: true,
            },
            action: '+',
            summary: String::new(),
            diff: None,
        };
        let s = script(
            &[file("/etc/a", "x", vec![]), pkg("sudo"), pkg("auditd")],
            "t",
        );
        let apt = s.find("if apt_run").expect("apt step");
        let put = s.find("put /etc/a").expect("file step");
        assert!(apt < put);
        assert_eq!(s.matches("if apt_run").count(), 1);
        assert!(s.contains("for i in 1 2; do ok $i"));
    }

    #[test]
    fn each_handler_runs_once_and_only_when_notified() {
        let changes = [
            file("/etc/a", "1", vec![Handler::RestartJournald]),
            file("/etc/b", "2", vec![Handler::RestartJournald]),
            file("/etc/c", "3", vec![Handler::ApplySysctl]),
        ];
        let s = script(&changes, "t");
        assert_eq!(s.matches("systemctl restart systemd-journald").count(), 1);
        assert!(s.contains("ok 0; H_RESTARTJOURNALD=1"));
        assert!(s.contains(r#"if [ "${H_APPLYSYSCTL:-0}" = 1 ]"#), "{s}");
        let journald = s.find("restart systemd-journald").expect("handler");
        assert!(
            journald > s.find("put /etc/b").expect("file"),
            "handlers come after the files"
        );
    }

    #[test]
    fn sshd_reload_is_armed_with_a_rollback_timer() {
        let s = script(
            &[file("/etc/ssh/sshd_config", "x", vec![Handler::ReloadSshd])],
            "20261123T000000Z",
        );
        let arm = s
            .find("systemd-run --quiet --unit=rampart-rollback-sshd --on-active=60")
            .expect("timer armed");
        assert!(arm < s.find("systemctl reload ssh ||").expect("reload"));
        assert!(s.contains(
            "cp -a /var/backups/rampart/20261123T000000Z/etc/ssh/sshd_config /etc/ssh/sshd_config"
        ));
    }

    #[test]
    fn nginx_reload_is_tested_checked_and_restores_what_notified_it() {
        let s = script(
            &[
                file("/etc/nginx/nginx.conf", "x", vec![Handler::ReloadNginx]),
                file(
                    "/etc/nginx/rampart/tls/server.crt",
                    "c",
                    vec![Handler::ReloadNginx],
                ),
                file("/etc/motd", "m", vec![]),
            ],
            "t",
        );
        assert_eq!(s.matches("@@handler ok reload nginx").count(), 1);
        let step = s
            .lines()
            .find(|l| l.contains("H_RELOADNGINX:-0"))
            .expect("handler step");
        let test = step.find("nginx -t &&").expect("tested first");
        assert!(
            test < step
                .find("systemctl reload-or-restart nginx")
                .expect("reload")
        );
        assert!(
            step.contains("systemctl is-active -q nginx"),
            "checked after"
        );
        assert!(
            step.contains(r#"cp -a "$BACKUP"/etc/nginx/nginx.conf /etc/nginx/nginx.conf"#),
            "{step}"
        );
        assert!(
            step.contains("rm -f /etc/nginx/rampart/tls/server.crt"),
            "new files go"
        );
        assert!(
            !step.contains("/etc/motd"),
            "only what notified it is restored"
        );
        assert!(
            !s.contains("systemd-run --quiet --unit=rampart-rollback-nginx"),
            "no timer"
        );
    }

    #[test]
    fn results_are_parsed_with_messages() {
        let (ok, failures) = parse_results(
            "@@ok 0\n@@fail 1\n  E: Unable to locate package nope\n@@ok 2\n",
            3,
        );
        assert_eq!(ok, vec![true, false, true]);
        assert_eq!(
            failures,
            vec![(1, "E: Unable to locate package nope".to_string())]
        );
    }

    #[test]
    fn a_refused_file_reports_the_validator_s_own_output() {
        let (_, failures) = parse_results(
            "@@fail 0\n  validation failed: nft -c -f /etc/nftables.d/rampart.nft\n  /etc/nftables.d/rampart.nft:9:27-35: Error: Could not resolve protocol name\n",
            1,
        );
        assert_eq!(
            failure_detail(&failures[0].1),
            "validation failed: nft -c -f /etc/nftables.d/rampart.nft\n    /etc/nftables.d/rampart.nft:9:27-35: Error: Could not resolve protocol name"
        );
        assert_eq!(
            failure_detail("Reading lists\nE: Unable to locate package nope"),
            "E: Unable to locate package nope"
        );
    }

    #[test]
    fn file_content_travels_base64_in_a_quoted_heredoc() {
        let s = script(&[file("/etc/x", "$(reboot)\n'quoted'\n", vec![])], "t");
        assert!(
            !s.contains("$(reboot)"),
            "content is never interpreted by the shell"
        );
        assert!(s.contains("<<'RAMPART_EOF'"));
    }
}
