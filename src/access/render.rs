//! `rampart access` as text (a terminal) and Markdown (a ticket or a pull
//! request). JSON is the serialised [`AccessRun`].

use std::fmt::Write;

use super::{AccessRun, HostAccess};

pub fn render_text(run: &AccessRun) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "access since {} (read {})", run.since, run.generated);
    for h in &run.hosts {
        text_host(&mut s, h);
    }
    for u in &run.unreadable {
        let _ = writeln!(s, "\n{}: journal not read: {}", u.host, u.error);
    }
    let _ = writeln!(
        s,
        "\n{} finding(s) on {} host(s); {} host(s) not read",
        run.findings(),
        run.hosts.len(),
        run.unreadable.len()
    );
    s
}

fn who(operator: &Option<String>) -> &str {
    operator.as_deref().unwrap_or("NO OPERATOR")
}

fn text_host(s: &mut String, h: &HostAccess) {
    let _ = writeln!(
        s,
        "\n{}: {} login(s), {} sudo/su, {} source(s) with refusals, journal from {}",
        h.host,
        h.logins.len(),
        h.sudo.len(),
        h.failures.len(),
        h.journal_first_entry.as_deref().unwrap_or("(empty)")
    );
    for l in &h.logins {
        let key = l
            .key
            .as_ref()
            .map(|k| format!(" {} {}", k.algorithm, k.fingerprint))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  login  {} {} from {}:{} ({}){key} → {}",
            l.time,
            l.account,
            l.source,
            l.port,
            l.method,
            who(&l.operator)
        );
    }
    for u in &h.sudo {
        let what = u.command.as_deref().unwrap_or("(shell)");
        let refused = u
            .refused
            .as_deref()
            .map(|r| format!(" REFUSED: {r}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<5}  {} {} as {}: {what}{refused}",
            u.via, u.time, u.user, u.runas
        );
    }
    for f in &h.failures {
        let _ = writeln!(
            s,
            "  failed {} ×{} from {} to {} (until {})",
            f.first,
            f.count,
            f.source,
            f.accounts.join(", "),
            f.last
        );
    }
    for f in &h.findings {
        let _ = writeln!(
            s,
            "  FLAG {:?}: {} ({} line(s))",
            f.kind, f.message, f.count
        );
        for e in &f.evidence {
            let _ = writeln!(s, "       {e}");
        }
    }
    if h.unparsable_lines > 0 {
        let _ = writeln!(
            s,
            "  {} journal line(s) could not be read",
            h.unparsable_lines
        );
    }
}

/// Markdown: a table of findings first (what needs a look), then the
/// operators' last logins per host.
pub fn render_markdown(run: &AccessRun) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Access since {}\n", run.since);
    let _ = writeln!(
        s,
        "{} finding(s) on {} host(s); {} host(s) not read. Read {} by rampart {}.\n",
        run.findings(),
        run.hosts.len(),
        run.unreadable.len(),
        run.generated,
        run.rampart_version
    );
    let _ = writeln!(s, "## Findings\n");
    if run.findings() == 0 {
        let _ = writeln!(s, "None.\n");
    } else {
        let _ = writeln!(
            s,
            "| host | kind | finding | first evidence |\n| --- | --- | --- | --- |"
        );
        for h in &run.hosts {
            for f in &h.findings {
                let _ = writeln!(
                    s,
                    "| {} | {:?} | {} | `{}` |",
                    h.host,
                    f.kind,
                    cell(&f.message),
                    cell(f.evidence.first().map(String::as_str).unwrap_or(""))
                );
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Operators\n\n| host | operator | logins | last login | flags |\n| --- | --- | --- | --- | --- |");
    for h in &run.hosts {
        for o in &h.operators {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                h.host,
                o.name,
                o.logins,
                o.last_login.as_deref().unwrap_or("—"),
                o.flags
            );
        }
    }
    for u in &run.unreadable {
        let _ = writeln!(s, "\n**{}**: journal not read: {}", u.host, cell(&u.error));
    }
    s
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '`'], " ")
}
