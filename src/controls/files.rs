//! File permissions, whole managed files (templates) and settings files
//! such as /etc/login.defs.

use include_dir::{include_dir, Dir};

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::Resource;

pub const LOGIN_DEFS: &str = "/etc/login.defs";

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

pub fn parse_mode(mode: &str) -> Result<u32, String> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .map_err(|_| format!("invalid mode {mode:?}; expected octal such as 0640"))
}

pub fn evaluate_mode(path: &str, mode: &str, owner: &str, group: &str, ctx: &HostCtx) -> Outcome {
    let expected = format!("{mode} or stricter, {owner}:{group}");
    let Ok(max) = parse_mode(mode) else {
        return Outcome::error(
            format!("invalid mode {mode:?} in the profile"),
            expected,
            Default::default(),
        );
    };
    match ctx.facts.file_modes.get(path) {
        None => Outcome::not_applicable(format!("not applicable: {path} does not exist"), expected),
        Some(m) => {
            let observed = format!("{:04o} {}:{}", m.mode, m.owner, m.group);
            let ok = m.mode & !max == 0 && m.owner == owner && m.group == group;
            Outcome::judge(
                ok,
                observed.clone(),
                expected,
                evidence(&format!("stat -c '%a %U %G' {path}"), observed),
            )
        }
    }
}

/// The text of `templates/<name>` (embedded in the binary).
pub fn template_text(name: &str) -> Result<&'static str, String> {
    let file = TEMPLATES
        .get_file(name)
        .ok_or_else(|| format!("template {name} not found"))?;
    file.contents_utf8()
        .ok_or_else(|| format!("template {name} is not UTF-8"))
}

/// Renders `templates/<name>` with the host's variables.
pub fn render_template(name: &str, ctx: &HostCtx) -> Result<String, String> {
    let text = template_text(name)?;
    let mut context = tera::Context::new();
    for (k, v) in ctx.vars {
        context.insert(k, v);
    }
    context.insert("hostname", &ctx.host.name);
    tera::Tera::one_off(text, &context, false).map_err(|e| format!("template {name}: {e}"))
}

pub fn evaluate_content(
    path: &str,
    template: &str,
    mode: &str,
    owner: &str,
    group: &str,
    ctx: &HostCtx,
) -> Outcome {
    let expected = format!("content of template {template}, mode {mode} {owner}:{group}");
    let want = match render_template(template, ctx) {
        Ok(w) => w,
        Err(e) => return Outcome::error(e, expected, Default::default()),
    };
    match ctx.facts.file(path) {
        None => Outcome::judge(
            false,
            format!("{path} absent"),
            expected,
            evidence(&format!("cat {path}"), "No such file"),
        ),
        Some(cur) if cur != want => {
            let excerpt: String = cur.lines().take(5).collect::<Vec<_>>().join("\n");
            Outcome::judge(
                false,
                format!("{path} differs from the template"),
                expected,
                evidence(&format!("cat {path}"), excerpt),
            )
        }
        Some(_) => {
            let meta = evaluate_mode(path, mode, owner, group, ctx);
            Outcome::judge(
                meta.status == super::outcome::Status::Pass,
                format!("content as templated; {}", meta.observed),
                expected,
                evidence(&format!("cat {path}"), "matches"),
            )
        }
    }
}

pub fn content_resource(
    path: &str,
    template: &str,
    mode: &str,
    owner: &str,
    group: &str,
    ctx: &HostCtx,
) -> Result<Resource, String> {
    Ok(Resource::File {
        path: path.into(),
        content: render_template(template, ctx)?,
        mode: parse_mode(mode)?,
        owner: owner.into(),
        group: group.into(),
        validate: None,
        handlers: vec![],
        secret: false,
    })
}

/// The value of `key` in a `KEY VALUE` file: the last occurrence wins.
pub fn setting(text: &str, key: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut parts = l.splitn(2, char::is_whitespace);
            (parts.next() == Some(key)).then(|| parts.next().unwrap_or_default().trim().to_string())
        })
}

pub fn evaluate_login_defs(key: &str, value: &str, ctx: &HostCtx) -> Outcome {
    let expected = format!("{key} {value}");
    let Some(text) = ctx.facts.file(LOGIN_DEFS) else {
        return Outcome::judge(
            false,
            format!("{LOGIN_DEFS} absent"),
            expected,
            evidence(&format!("cat {LOGIN_DEFS}"), ""),
        );
    };
    let cur = setting(text, key);
    let observed = cur
        .as_deref()
        .map(|v| format!("{key} {v}"))
        .unwrap_or_else(|| format!("{key} (unset)"));
    Outcome::judge(
        cur.as_deref() == Some(value),
        observed.clone(),
        expected,
        evidence(&format!("grep ^{key} {LOGIN_DEFS}"), observed),
    )
}

/// /etc/login.defs with each setting replaced in place (or appended).
pub fn login_defs_resource(settings: &[(String, String)], ctx: &HostCtx) -> Option<Resource> {
    let current = ctx.facts.file(LOGIN_DEFS)?;
    let mut lines: Vec<String> = current.lines().map(String::from).collect();
    for (key, value) in settings {
        let wanted = format!("{key}\t{value}");
        let mut seen = false;
        lines.retain_mut(|l| {
            let is_key = l.split_whitespace().next() == Some(key.as_str());
            if !is_key {
                return true;
            }
            if seen {
                return false; // a later duplicate would win: drop it
            }
            seen = true;
            *l = wanted.clone();
            true
        });
        if !seen {
            lines.push(wanted);
        }
    }
    let mut content = lines.join("\n");
    content.push('\n');
    Some(Resource::root_file(LOGIN_DEFS, content, 0o644, vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_setting_wins_and_comments_are_ignored() {
        let t = "# UMASK 077\nUMASK\t022\nPASS_MAX_DAYS 99999\nUMASK 027\n";
        assert_eq!(setting(t, "UMASK").as_deref(), Some("027"));
        assert_eq!(setting(t, "PASS_MIN_DAYS"), None);
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert!(parse_mode("rw-").is_err());
    }
}
