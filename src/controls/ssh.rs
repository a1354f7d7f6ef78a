//! OpenSSH server: options are judged on the effective configuration
//! (`sshd -T`), because a provider's drop-in can override sshd_config, and
//! enforced by owning /etc/ssh/sshd_config with rampart's settings placed
//! before the `Include` of sshd_config.d — sshd keeps the first value it
//! reads, so rampart's settings win over any drop-in.

use super::context::HostCtx;
use super::custom::Login;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource, Validate};
use crate::facts::Probe;

pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

pub fn evaluate_option(option: &str, value: &str, ctx: &HostCtx) -> Outcome {
    let expected = format!("{option} {value}");
    match &ctx.facts.sshd {
        Probe::Absent => Outcome::judge(
            false,
            "sshd is not installed",
            expected,
            evidence("sshd -T", "sshd: not found"),
        ),
        Probe::Failed(msg) => Outcome::error(
            format!("sshd -T failed: {msg}"),
            expected,
            evidence("sshd -T", msg.clone()),
        ),
        Probe::Ok(map) => {
            let observed = map.get(option).map(|v| v.join(" ")).unwrap_or_default();
            let ok = observed.eq_ignore_ascii_case(value.trim()) || same_list(&observed, value);
            let shown = if observed.is_empty() {
                format!("{option} (unset)")
            } else {
                format!("{option} {observed}")
            };
            Outcome::judge(ok, shown.clone(), expected, evidence("sshd -T", shown))
        }
    }
}

/// Comma-separated algorithm lists compare as sets: sshd -T may reorder.
fn same_list(observed: &str, wanted: &str) -> bool {
    if !wanted.contains(',') {
        return false;
    }
    let mut a: Vec<&str> = observed.split(',').map(str::trim).collect();
    let mut b: Vec<&str> = wanted.split(',').map(str::trim).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The whole sshd_config: rampart's options first, then the drop-in
/// include, then Debian's defaults for what rampart does not set.
pub fn sshd_config(options: &[(String, String)]) -> Resource {
    let mut c = String::from(
        "# Managed by rampart: local changes are reverted by `rampart harden`.\n\
         # sshd keeps the first value it reads for each keyword, so these\n\
         # settings take precedence over anything in sshd_config.d.\n\n",
    );
    for (k, v) in options {
        c.push_str(&format!("{k} {v}\n"));
    }
    c.push_str(
        "\nInclude /etc/ssh/sshd_config.d/*.conf\n\n\
         # Debian defaults (PAM's account checks let key-only operators\n\
         # with no password log in)\n\
         UsePAM yes\n\
         KbdInteractiveAuthentication no\n\
         AcceptEnv LANG LC_*\n\
         PrintMotd no\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n",
    );
    Resource::File {
        path: SSHD_CONFIG.into(),
        content: c,
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        validate: Some(Validate::Sshd),
        handlers: vec![Handler::ReloadSshd],
        secret: false,
    }
}

/// Why setting `option` to `value` would shut ssh.user out, if it would.
pub fn login_risk(option: &str, value: &str, l: &Login) -> Option<String> {
    match option {
        "permitrootlogin" if value == "no" && l.user == "root" => Some(format!(
            "sets PermitRootLogin no while rampart connects as root; run `rampart provision` and set ssh.user to one of the operators ({})",
            l.operator_names
        )),
        "allowgroups" => {
            let admitted = l.operator.is_some()
                && value.split_whitespace().any(|g| g == l.operators_group);
            (!admitted).then(|| {
                format!(
                    "sets AllowGroups {value}, which does not admit ssh.user `{}`; set ssh.user to an operator (members of {}) or add its group",
                    l.user, l.operators_group
                )
            })
        }
        "allowusers" if !value.split_whitespace().any(|u| u == l.user) => Some(format!(
            "sets AllowUsers {value} without ssh.user `{}`",
            l.user
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_lists_compare_as_sets() {
        assert!(same_list(
            "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com",
            "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com"
        ));
        assert!(!same_list(
            "aes256-gcm@openssh.com,aes128-cbc",
            "aes256-gcm@openssh.com"
        ));
    }

    #[test]
    fn rampart_options_precede_the_include() {
        let Resource::File { content, .. } =
            sshd_config(&[("passwordauthentication".into(), "no".into())])
        else {
            panic!("a file")
        };
        assert!(
            content.find("passwordauthentication no").expect("set")
                < content.find("Include").expect("include")
        );
    }
}
