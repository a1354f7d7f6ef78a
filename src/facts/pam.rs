//! The PAM stack as Linux-PAM reads it: `/etc/pam.d/NAME` files (collect.sh's
//! `pam` section) parsed into rules. Comments run from `#` to the end of
//! the line, a trailing `\` joins the next line, a control may be a
//! bracketed `[value=action …]` list with spaces, a leading `-` on the type
//! only hides a missing module, and `@include NAME` pulls in another file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One rule of a PAM service file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PamRule {
    /// `auth`, `account`, `password`, `session`; `@include` for an include
    /// line (its file in `module`).
    pub kind: String,
    /// `required`, `requisite`, `[success=1 default=ignore]`, …; `include`
    /// and `substack` name another file in `module`.
    pub control: String,
    /// The module's file name (`pam_unix.so`), a path's directory dropped.
    pub module: String,
    pub args: Vec<String>,
}

impl PamRule {
    /// An argument `NAME=VALUE`'s value, or `Some("")` for a bare `NAME`.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().find_map(|a| match a.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if a == name => Some(""),
            _ => None,
        })
    }
}

/// The PAM facts: each service file's rules, by file name, and where dpkg
/// installs Debian's `unix` pam-auth-update profile (its diversion target
/// while rampart owns that profile).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PamFacts {
    pub services: BTreeMap<String, Vec<PamRule>>,
    pub unix_profile_truename: Option<String>,
}

/// collect.sh's `pam` section: `@@pam NAME` before each file's text, and
/// `@@unix-profile PATH` (dpkg-divert --truename).
pub fn pam_section(text: &str) -> PamFacts {
    let mut out = PamFacts::default();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@pam ") {
            if let Some((n, body)) = current.take() {
                out.services.insert(n, rules(&body));
            }
            current = Some((name.trim().to_string(), String::new()));
        } else if let Some(path) = line.strip_prefix("@@unix-profile ") {
            out.unix_profile_truename = Some(path.trim().to_string());
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        out.services.insert(n, rules(&body));
    }
    out
}

/// The rules of one service file, in order.
pub fn rules(text: &str) -> Vec<PamRule> {
    logical_lines(text).iter().filter_map(|l| rule(l)).collect()
}

/// Lines with comments removed and `\` continuations joined, as
/// Linux-PAM's line assembler sees them.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("");
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        if !pending.trim().is_empty() {
            out.push(pending.trim().to_string());
        }
        pending.clear();
    }
    if !pending.trim().is_empty() {
        out.push(pending.trim().to_string());
    }
    out
}

/// Splits on whitespace, keeping a `[ … ]` group (which may hold spaces)
/// as one token.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn rule(line: &str) -> Option<PamRule> {
    let t = tokens(line);
    let first = t.first()?;
    if first == "@include" {
        return Some(PamRule {
            kind: "@include".into(),
            module: t.get(1)?.clone(),
            ..Default::default()
        });
    }
    let kind = first.trim_start_matches('-').to_ascii_lowercase();
    let control = t.get(1)?.split_whitespace().collect::<Vec<_>>().join(" ");
    let module_path = t.get(2)?;
    let module = module_path
        .rsplit('/')
        .next()
        .unwrap_or(module_path)
        .to_string();
    Some(PamRule {
        kind,
        control,
        module,
        args: t[3..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_continuations_brackets_and_includes() {
        let text = "#%PAM-1.0\n\
            # auth required pam_wheel.so\n\
            auth\t[success=1 default=ignore]\tpam_unix.so nullok # trailing\n\
            auth requisite pam_deny.so\n\
            -session optional /usr/lib/x86_64-linux-gnu/security/pam_systemd.so\n\
            password requisite pam_pwhistory.so \\\n  remember=24 use_authtok\n\
            @include common-account\n\
            \n";
        let r = rules(text);
        assert_eq!(r.len(), 5, "{r:#?}");
        assert_eq!(r[0].control, "[success=1 default=ignore]");
        assert_eq!(r[0].args, ["nullok"]);
        assert_eq!(r[0].arg("nullok"), Some(""));
        assert_eq!(r[2].kind, "session");
        assert_eq!(r[2].module, "pam_systemd.so");
        assert_eq!(r[3].args, ["remember=24", "use_authtok"]);
        assert_eq!(r[3].arg("remember"), Some("24"));
        assert_eq!(r[4].kind, "@include");
        assert_eq!(r[4].module, "common-account");
    }

    #[test]
    fn a_section_splits_into_files_and_the_profile_truename() {
        let s = "@@pam common-auth\nauth required pam_permit.so\n@@pam su\nauth sufficient pam_rootok.so\n@@unix-profile /usr/share/pam-configs/unix\n";
        let p = pam_section(s);
        assert_eq!(p.services.len(), 2);
        assert_eq!(p.services["su"][0].module, "pam_rootok.so");
        assert_eq!(
            p.unix_profile_truename.as_deref(),
            Some("/usr/share/pam-configs/unix")
        );
    }
}
