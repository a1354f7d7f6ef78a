//! Resources: the units of desired state. Each knows how to compare itself
//! with facts (producing a change, or nothing) and how to apply itself as a
//! shell step of the host's apply script.

use std::fmt;

use crate::facts::Facts;
use crate::transport::shell_quote;

/// Actions that run once, after every file they depend on is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Handler {
    DaemonReload,
    ApplySysctl,
    RestartJournald,
    LoadAuditRules,
    /// Guarded by a rollback timer and a fresh connection test.
    ReloadSshd,
    /// Loads rampart's nftables table atomically; guarded like sshd.
    LoadFirewall,
    /// Brings the WireGuard interface to its configuration without taking
    /// it down (`wg syncconf`), or starts it.
    SyncMesh,
    /// Reloads nginx after `nginx -t`; checked afterwards, and the files that
    /// notified it are restored if the test, the reload or the check fails.
    ReloadNginx,
    /// Regenerates /etc/pam.d/common-* from /usr/share/pam-configs with
    /// Debian's pam-auth-update (never `--force`: a locally edited stack is
    /// left alone and verify says so), after diverting Debian's `unix`
    /// profile where rampart wrote its own, so an upgrade of libpam-runtime
    /// cannot bring `nullok` back.
    PamAuthUpdate,
}

impl Handler {
    pub fn name(self) -> &'static str {
        match self {
            Handler::DaemonReload => "systemd daemon-reload",
            Handler::ApplySysctl => "apply sysctl settings",
            Handler::RestartJournald => "restart journald",
            Handler::LoadAuditRules => "load audit rules",
            Handler::ReloadSshd => "reload sshd",
            Handler::LoadFirewall => "load firewall",
            Handler::SyncMesh => "sync wireguard mesh",
            Handler::ReloadNginx => "reload nginx",
            Handler::PamAuthUpdate => "pam-auth-update",
        }
    }

    pub fn script(self) -> &'static str {
        match self {
            Handler::DaemonReload => "systemctl daemon-reload",
            Handler::ApplySysctl => {
                "sysctl -q -e -p /etc/sysctl.d/90-rampart.conf >/dev/null 2>&1 || true"
            }
            Handler::RestartJournald => "systemctl restart systemd-journald",
            Handler::LoadAuditRules => "augenrules --load >/dev/null",
            Handler::ReloadSshd => "systemctl reload ssh || systemctl reload sshd",
            Handler::LoadFirewall => "nft -f /etc/nftables.d/rampart.nft",
            Handler::SyncMesh => SYNC_MESH,
            Handler::ReloadNginx => "systemctl reload-or-restart nginx",
            Handler::PamAuthUpdate => PAM_AUTH_UPDATE,
        }
    }
}

/// Peers change in place (`wg syncconf` keeps existing sessions, so a path
/// over the mesh survives); the PostUp lines re-apply the private key and
/// preshared keys, which are kept out of the configuration file. A changed
/// address, or an interface that is not up, needs wg-quick to (re)start it.
const SYNC_MESH: &str = r#"conf=/etc/wireguard/wg0.conf
want=$(sed -n 's/^Address = //p' "$conf")
if ip link show wg0 >/dev/null 2>&1 && ip -o addr show dev wg0 | grep -qF " $want "; then
  t=$(mktemp) && wg-quick strip wg0 >"$t" && wg syncconf wg0 "$t"; rc=$?; rm -f "$t"
  [ "$rc" -eq 0 ] && sed -n 's/^PostUp = //p' "$conf" | sed 's/%i/wg0/g' | sh -e
else
  systemctl restart wg-quick@wg0
fi
# One packet to each peer starts the handshakes now rather than at the
# next keepalive (wireguard retries for 90 s until the peer knows us).
for ip in $(sed -n 's/^AllowedIPs = //p' "$conf" | cut -d/ -f1); do
  ping -c 1 -W 1 -q "$ip" >/dev/null 2>&1 &
done
wait"#;

/// `(rampart)` ends the Name of every pam-auth-update profile rampart writes.
const PAM_AUTH_UPDATE: &str = r#"if grep -qs '^Name: .*(rampart)$' /usr/share/pam-configs/unix; then
  mkdir -p /var/lib/rampart
  dpkg-divert --quiet --local --no-rename --divert /var/lib/rampart/pam-configs-unix.debian --add /usr/share/pam-configs/unix
fi
DEBIAN_FRONTEND=noninteractive pam-auth-update --package"#;

/// A command that validates a candidate file (`%s` is its temporary path)
/// before it replaces the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validate {
    Sshd,
    Sudoers,
    Nftables,
}

impl Validate {
    fn command(self) -> &'static str {
        match self {
            Validate::Sshd => "sshd -t -f",
            Validate::Sudoers => "visudo -cq -f",
            Validate::Nftables => "nft -c -f",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A whole file: content, owner, group, mode.
    File {
        path: String,
        content: String,
        mode: u32,
        owner: String,
        group: String,
        validate: Option<Validate>,
        handlers: Vec<Handler>,
        /// Mask the content in plan output (it holds a secret).
        secret: bool,
    },
    /// A file that must not exist.
    Absent {
        path: String,
        handlers: Vec<Handler>,
    },
    /// Ownership and the most permissive mode allowed, for an existing path.
    Perms {
        path: String,
        mode: u32,
        owner: String,
        group: String,
    },
    Package {
        name: String,
        present: bool,
    },
    Service {
        name: String,
        enabled: Option<bool>,
        active: Option<bool>,
        masked: bool,
    },
    /// A live kernel parameter.
    Sysctl {
        key: String,
        value: String,
    },
    Group {
        name: String,
    },
    /// An account with a login shell and supplementary groups.
    User {
        name: String,
        shell: String,
        groups: Vec<String>,
    },
    /// Sets an existing account's shell (used to remove logins).
    Shell {
        user: String,
        shell: String,
    },
    /// Locks an account's password.
    LockPassword {
        user: String,
    },
    /// Deletes an account (`userdel`, its processes ended first). The
    /// home directory is kept: it is data, and nothing is destroyed.
    RemoveUser {
        name: String,
    },
    /// Removes a user from a group.
    LeaveGroup {
        user: String,
        group: String,
    },
    /// A file created once on the host by `command` (its stdout), never
    /// shown or copied: a secret born on the host stays there (0600).
    Generate {
        path: String,
        command: String,
        what: String,
    },
    /// A secret file sent from the control machine (0600 root), written
    /// only where it is missing and never read back or shown.
    Secret {
        path: String,
        content: String,
        what: String,
    },
    /// Runs `handler` when live state differs although the files match
    /// (e.g. someone flushed the firewall); `needed` is judged from facts.
    Trigger {
        what: String,
        needed: bool,
        handler: Handler,
    },
    /// A one-off step an area judged necessary from facts (it emits the
    /// resource only then), e.g. formatting a volume. It may carry a secret,
    /// bound to `$RAMPART_SECRET` for the step only and escrowed first, and
    /// may destroy what a device holds, which needs the operator's consent.
    Action(Box<Action>),
    /// A record of the host's state taken after every other step of the
    /// run (an integrity database must include rampart's own edits, or
    /// its first check reports every one of them): a change when `stale`
    /// (judged from facts), and whenever anything else changes in the run.
    Snapshot {
        what: String,
        stale: bool,
        command: String,
    },
}

/// A step of the apply script that is neither a file nor a package.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// What the plan shows, e.g. `luks format /dev/vdb (LUKS2, aes-xts-plain64)`.
    pub summary: String,
    /// The shell step. It runs in a subshell with `set -e`; it reads the
    /// secret, if any, from `"$RAMPART_SECRET"` and must hand it to tools
    /// on stdin only (`printf '%s' "$RAMPART_SECRET" | tool --key-file=-`).
    pub script: String,
    pub secret: Option<super::secret::Secret>,
    /// Written on the control machine before the script is sent.
    pub escrow: Option<super::secret::Escrow>,
    /// Set when the step destroys data: the plan is refused unless the
    /// operator named `target` for this run.
    pub destroys: Option<Destroys>,
}

impl Action {
    /// A step that carries no secret and destroys nothing.
    pub fn plain(summary: String, script: String) -> Action {
        Action {
            summary,
            script,
            secret: None,
            escrow: None,
            destroys: None,
        }
    }
}

/// What a destructive action would destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroys {
    /// The consent key, e.g. `host:/dev/vdb`.
    pub target: String,
    /// What was found there, for the refusal message.
    pub found: String,
}

/// What a resource would change on a host.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub resource: Resource,
    /// `+` create, `~` change, `-` remove.
    pub action: char,
    pub summary: String,
    /// Unified diff for file content changes (masked for secrets).
    pub diff: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action, self.summary)
    }
}

fn octal(mode: u32) -> String {
    format!("{mode:04o}")
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("{path} (current)"), &format!("{path} (desired)"))
        .to_string()
}

impl Resource {
    /// A managed file owned by root:root, without validation or secret.
    pub fn root_file(path: &str, content: String, mode: u32, handlers: Vec<Handler>) -> Resource {
        Resource::File {
            path: path.into(),
            content,
            mode,
            owner: "root".into(),
            group: "root".into(),
            validate: None,
            handlers,
            secret: false,
        }
    }

    /// The path of a file-like resource, for reading its current state.
    pub fn path(&self) -> Option<&str> {
        match self {
            Resource::File { path, .. }
            | Resource::Absent { path, .. }
            | Resource::Perms { path, .. }
            | Resource::Generate { path, .. }
            | Resource::Secret { path, .. } => Some(path),
            _ => None,
        }
    }

    pub fn handlers(&self) -> &[Handler] {
        match self {
            Resource::Secret { .. } => &[Handler::SyncMesh],
            Resource::File { handlers, .. } | Resource::Absent { handlers, .. } => handlers,
            Resource::Trigger { handler, .. } => std::slice::from_ref(handler),
            _ => &[],
        }
    }

    /// Compares with facts: `None` when the host already matches.
    pub fn diff(&self, facts: &Facts) -> Option<Change> {
        match self {
            Resource::File {
                path,
                content,
                mode,
                owner,
                group,
                secret,
                ..
            } => {
                let current = if *secret {
                    secret_current(facts, path, content)
                } else {
                    facts.files.get(path).cloned().flatten()
                };
                let meta = facts.file_modes.get(path);
                let meta_ok =
                    meta.is_some_and(|m| m.mode == *mode && m.owner == *owner && m.group == *group);
                match current {
                    None => Some(self.change(
                        '+',
                        format!("file {path} ({} {owner}:{group})", octal(*mode)),
                        (!secret).then(|| unified_diff(path, "", content)),
                    )),
                    Some(cur) if cur != *content => {
                        let diff = if *secret {
                            "(content hidden: it holds a secret)".to_string()
                        } else {
                            unified_diff(path, &cur, content)
                        };
                        Some(self.change('~', format!("file {path}"), Some(diff)))
                    }
                    Some(_) if !meta_ok => {
                        let was = meta
                            .map(|m| format!("{} {}:{}", octal(m.mode), m.owner, m.group))
                            .unwrap_or_else(|| "unknown".into());
                        Some(self.change(
                            '~',
                            format!("file {path}: {was} → {} {owner}:{group}", octal(*mode)),
                            None,
                        ))
                    }
                    Some(_) => None,
                }
            }
            Resource::Absent { path, .. } => {
                let present = matches!(facts.files.get(path), Some(Some(_)))
                    || facts.file_modes.contains_key(path)
                    || facts.authorized_keys.iter().any(|a| a.path == *path);
                present.then(|| self.change('-', format!("file {path}"), None))
            }
            Resource::Perms {
                path,
                mode,
                owner,
                group,
            } => {
                let m = facts.file_modes.get(path)?;
                let too_open = m.mode & !mode != 0;
                (too_open || m.owner != *owner || m.group != *group).then(|| {
                    let target = m.mode & mode;
                    self.change(
                        '~',
                        format!(
                            "permissions {path}: {} {}:{} → {} {owner}:{group}",
                            octal(m.mode),
                            m.owner,
                            m.group,
                            octal(target)
                        ),
                        None,
                    )
                })
            }
            Resource::Package { name, present } => match (facts.has_package(name), present) {
                (false, true) => Some(self.change('+', format!("package {name}"), None)),
                (true, false) => Some(self.change('-', format!("package {name} (purge)"), None)),
                _ => None,
            },
            Resource::Service {
                name,
                enabled,
                active,
                masked,
            } => service_diff(self, facts, name, *enabled, *active, *masked),
            Resource::Sysctl { key, value } => {
                let cur = facts.sysctls.get(key)?;
                (normalize_ws(cur) != normalize_ws(value))
                    .then(|| self.change('~', format!("sysctl {key}: {cur} → {value}"), None))
            }
            Resource::Group { name } => (!facts.groups.iter().any(|g| g.name == *name))
                .then(|| self.change('+', format!("group {name}"), None)),
            Resource::User {
                name,
                shell,
                groups,
            } => {
                let Some(u) = facts.users.iter().find(|u| u.name == *name) else {
                    return Some(self.change(
                        '+',
                        format!("user {name} (shell {shell}, groups {})", groups.join(",")),
                        None,
                    ));
                };
                let missing: Vec<&String> = groups
                    .iter()
                    .filter(|g| {
                        !facts
                            .groups
                            .iter()
                            .any(|fg| fg.name == **g && fg.members.contains(name))
                    })
                    .collect();
                (u.shell != *shell || !missing.is_empty()).then(|| {
                    self.change(
                        '~',
                        format!(
                            "user {name}: shell {} → {shell}{}",
                            u.shell,
                            if missing.is_empty() {
                                String::new()
                            } else {
                                format!(", add to {}", groups.join(","))
                            }
                        ),
                        None,
                    )
                })
            }
            Resource::Shell { user, shell } => {
                let u = facts.users.iter().find(|u| u.name == *user)?;
                (u.shell != *shell).then(|| {
                    self.change(
                        '~',
                        format!("user {user}: shell {} → {shell}", u.shell),
                        None,
                    )
                })
            }
            Resource::LockPassword { user } => {
                let u = facts.users.iter().find(|u| u.name == *user)?;
                (u.password == "empty").then(|| {
                    self.change('~', format!("user {user}: lock the empty password"), None)
                })
            }
            Resource::Trigger { what, needed, .. } => {
                needed.then(|| self.change('~', what.clone(), None))
            }
            Resource::Snapshot { what, stale, .. } => {
                stale.then(|| self.change('~', what.clone(), None))
            }
            Resource::Secret { path, what, .. } => Some(self.change(
                '+',
                format!("{what}: {path} (content hidden: it is a secret)"),
                None,
            )),
            Resource::Generate { path, what, .. } => (!facts.file_modes.contains_key(path))
                .then(|| self.change('+', format!("{what}: {path}"), None)),
            Resource::Action(a) => Some(self.change('+', a.summary.clone(), None)),
            Resource::RemoveUser { name } => facts
                .users
                .iter()
                .any(|u| u.name == *name)
                .then(|| self.change('-', format!("account {name} (home kept)"), None)),
            Resource::LeaveGroup { user, group } => facts
                .groups
                .iter()
                .any(|g| g.name == *group && g.members.contains(user))
                .then(|| self.change('-', format!("user {user} from group {group}"), None)),
        }
    }

    fn change(&self, action: char, summary: String, diff: Option<String>) -> Change {
        Change {
            resource: self.clone(),
            action,
            summary,
            diff,
        }
    }

    /// The shell step that applies this resource. File contents travel
    /// base64-encoded inside the script, which is sent on stdin.
    pub fn script(&self) -> String {
        let q = |s: &str| shell_quote(s);
        match self {
            Resource::File { path, content, mode, owner, group, validate, .. } => {
                let check = validate.map(|v| v.command()).unwrap_or("");
                format!(
                    "put {} {} {} {} '{}' <<'RAMPART_EOF'\n{}\nRAMPART_EOF",
                    q(path),
                    octal(*mode),
                    q(owner),
                    q(group),
                    check,
                    data_encoding::BASE64_MIME.encode(content.as_bytes()).replace("\r\n", "\n")
                )
            }
            Resource::Absent { path, .. } => format!("remove {}", q(path)),
            Resource::Perms { path, mode, owner, group } => {
                format!("tighten {} {} {} {}", q(path), octal(*mode), q(owner), q(group))
            }
            Resource::Package { name, present: true } => format!("want_install {}", q(name)),
            Resource::Package { name, present: false } => format!("want_purge {}", q(name)),
            Resource::Service { name, enabled, active, masked } => {
                let mut steps = Vec::new();
                if *masked {
                    steps.push(format!("systemctl stop {0} 2>/dev/null; systemctl mask {0}", q(name)));
                } else {
                    match enabled {
                        Some(true) => steps.push(format!("systemctl enable {}", q(name))),
                        Some(false) => steps.push(format!("systemctl disable {}", q(name))),
                        None => {}
                    }
                    match active {
                        Some(true) => steps.push(format!("systemctl start {}", q(name))),
                        Some(false) => steps.push(format!("systemctl stop {}", q(name))),
                        None => {}
                    }
                }
                steps.join(" && ")
            }
            Resource::Sysctl { key, value } => format!("sysctl -q -w {}", q(&format!("{key}={value}"))),
            Resource::Group { name } => format!("getent group {0} >/dev/null || groupadd {0}", q(name)),
            Resource::User { name, shell, groups } => user_script(name, shell, groups),
            Resource::Shell { user, shell } => format!("usermod -s {} {}", q(shell), q(user)),
            Resource::LockPassword { user } => format!("passwd -l {} >/dev/null", q(user)),
            Resource::LeaveGroup { user, group } => format!("gpasswd -d {} {} >/dev/null", q(user), q(group)),
            Resource::RemoveUser { name } => format!("pkill -KILL -u {0} 2>/dev/null; userdel {0}", q(name)),
            Resource::Trigger { .. } => "true".to_string(),
            Resource::Snapshot { command, .. } => command.clone(),
            Resource::Secret { path, content, .. } => format!(
                "put {} 0600 root root '' <<'RAMPART_EOF'\n{}\nRAMPART_EOF",
                q(path),
                data_encoding::BASE64_MIME.encode(content.as_bytes()).replace("\r\n", "\n")
            ),
            Resource::Generate { path, command, .. } => format!(
                "[ -s {p} ] || {{ mkdir -p \"$(dirname {p})\" && (umask 077; t=$(mktemp {p}.XXXXXX) && {command} >\"$t\" && chmod 0600 \"$t\" && mv -f \"$t\" {p}); }}",
                p = q(path)
            ),
            Resource::Action(a) => action_script(a),
        }
    }
}

/// An action's step: the secret bound for it alone, the body in a subshell
/// with `set -e` (so its first failing command fails the step without
/// ending the apply script), the variable unset afterwards.
/// Creates an account (or adds its groups). A new home gets the modes
/// umask 027 would have given (useradd copies /etc/skel as it is, 0644),
/// and ~/.ssh is the account's own before any key file is written into it.
fn user_script(name: &str, shell: &str, groups: &[String]) -> String {
    let n = shell_quote(name);
    let closed = format!(
        "h=$(getent passwd {n} | cut -d: -f6) && find \"$h\" -maxdepth 1 \\( -path \"$h\" -o -name '.*' \\) -exec chmod g-w,o-rwx {{}} + && install -d -m 0700 -o {n} -g \"$(id -gn {n})\" \"$h/.ssh\""
    );
    format!(
        "if getent passwd {n} >/dev/null; then usermod -s {s} -a -G {g} {n}; else useradd -m -K HOME_MODE=0750 -s {s} -G {g} {n} && chage -M -1 {n} && {closed}; fi",
        s = shell_quote(shell),
        g = shell_quote(&groups.join(","))
    )
}

fn action_script(a: &Action) -> String {
    use super::secret::{shell_binding, SECRET_VAR};
    let binding = a
        .secret
        .as_ref()
        .map(|s| shell_binding(SECRET_VAR, s))
        .unwrap_or_default();
    format!(
        "{binding}( set -e\n{}\n); rc=$?; unset {SECRET_VAR}; [ $rc -eq 0 ]",
        a.script.trim_end()
    )
}

/// A secret file's content is never read from a host: the collector hashes
/// it there. Gives the desired content when the hashes match, something
/// else when they differ, and `None` when the file is absent.
fn secret_current(facts: &Facts, path: &str, content: &str) -> Option<String> {
    let hash = facts.file_hashes.get(path)?.as_ref()?;
    Some(
        if *hash == crate::inventory::hex_sha256(content.as_bytes()) {
            content.to_string()
        } else {
            format!("{content}\n(differs)")
        },
    )
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An instance of a template unit (`wg-quick@wg0.service`) is not listed
/// until it is enabled or loaded; its template's file says it can be.
fn instance_of_known_template<'a>(facts: &'a Facts, name: &str) -> Option<&'a crate::facts::Unit> {
    static NEVER_STARTED: crate::facts::Unit = crate::facts::Unit {
        enabled: None,
        active: None,
        sub: None,
    };
    let (prefix, rest) = name.split_once('@')?;
    let (_, suffix) = rest.rsplit_once('.')?;
    facts
        .services
        .contains_key(&format!("{prefix}@.{suffix}"))
        .then_some(&NEVER_STARTED)
}

fn service_diff(
    r: &Resource,
    facts: &Facts,
    name: &str,
    enabled: Option<bool>,
    active: Option<bool>,
    masked: bool,
) -> Option<Change> {
    let unit = facts
        .services
        .get(name)
        .or_else(|| instance_of_known_template(facts, name));
    let is_masked = unit.and_then(|u| u.enabled.as_deref()) == Some("masked");
    let is_enabled = unit.and_then(|u| u.enabled.as_deref()) == Some("enabled");
    let is_active = unit.and_then(|u| u.active.as_deref()) == Some("active");
    if masked {
        return (unit.is_some() && !is_masked)
            .then(|| r.change('~', format!("service {name}: mask"), None));
    }
    unit?;
    let mut what = Vec::new();
    if enabled == Some(true) && !is_enabled {
        what.push("enable");
    }
    if enabled == Some(false) && is_enabled {
        what.push("disable");
    }
    if active == Some(true) && !is_active {
        what.push("start");
    }
    if active == Some(false) && is_active {
        what.push("stop");
    }
    (!what.is_empty()).then(|| r.change('~', format!("service {name}: {}", what.join(", ")), None))
}

/// Resources that differ from the facts, in apply order.
pub fn changes(resources: &[Resource], facts: &Facts) -> Vec<Change> {
    let mut unique: Vec<&Resource> = Vec::new();
    for r in resources {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    let mut out: Vec<Change> = unique.iter().filter_map(|r| r.diff(facts)).collect();
    let others_change = out
        .iter()
        .any(|c| !matches!(c.resource, Resource::Snapshot { .. }));
    if others_change {
        for r in &unique {
            if let Resource::Snapshot {
                what, stale: false, ..
            } = r
            {
                out.push(r.change('~', format!("{what} (after this run's changes)"), None));
            }
        }
    }
    out.sort_by_key(|c| apply_rank(&c.resource));
    out
}

/// Packages, then accounts, then files, then services and live settings.
fn apply_rank(r: &Resource) -> u8 {
    match r {
        Resource::Package { .. } => 0,
        Resource::Group { .. } => 1,
        Resource::User { .. } => 2,
        Resource::File { .. }
        | Resource::Absent { .. }
        | Resource::Generate { .. }
        | Resource::Secret { .. } => 3,
        Resource::Perms { .. } => 4,
        Resource::Shell { .. } | Resource::LockPassword { .. } | Resource::LeaveGroup { .. } => 5,
        // After the account's other changes of the same run (shell, groups).
        Resource::RemoveUser { .. } => 6,
        Resource::Service { .. } => 7,
        Resource::Sysctl { .. } => 8,
        Resource::Trigger { .. } => 9,
        Resource::Action(_) => 10,
        Resource::Snapshot { .. } => 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_file(content: &str) -> Resource {
        Resource::File {
            path: "/etc/x/server.key".into(),
            content: content.into(),
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
            validate: None,
            handlers: vec![],
            secret: true,
        }
    }

    #[test]
    fn secret_files_are_compared_by_hash_and_never_shown() {
        let secret = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n";
        let mut facts = Facts::default();
        let absent = key_file(secret).diff(&facts).expect("absent: created");
        assert_eq!(absent.action, '+');
        assert!(absent.diff.is_none(), "no diff for a new secret");
        facts.file_hashes.insert(
            "/etc/x/server.key".into(),
            Some(crate::inventory::hex_sha256(b"another key")),
        );
        let changed = key_file(secret).diff(&facts).expect("differs");
        assert_eq!(changed.action, '~');
        let shown = format!("{changed} {}", changed.diff.clone().unwrap_or_default());
        assert!(!shown.contains("MIGHAgEAMBMG"), "{shown}");
        facts.file_hashes.insert(
            "/etc/x/server.key".into(),
            Some(crate::inventory::hex_sha256(secret.as_bytes())),
        );
        facts.file_modes.insert(
            "/etc/x/server.key".into(),
            crate::facts::FileMode {
                mode: 0o600,
                owner: "root".into(),
                group: "root".into(),
            },
        );
        assert_eq!(key_file(secret).diff(&facts), None, "same hash and mode");
    }
}
