//! What a report may carry. Verify results already hold observed values
//! and evidence excerpts rather than raw files, but a report travels
//! further (auditors, pull requests, ticket systems), so every text field
//! is passed through here before anything is rendered, whether the run was
//! made now or read from a file:
//!
//! * excerpts and values are bounded, so a report never carries whole files;
//! * private keys (PEM/OpenSSH blocks), age secret keys, WireGuard private
//!   and preshared keys, and crypt(3) password hashes are replaced by a
//!   marker saying what was removed;
//! * e-mail addresses (personal data, e.g. in public-key comments) are
//!   replaced; operator and account names stay, they are what auditors check.

use super::VerifyRun;

/// Longest evidence excerpt kept, in characters.
pub const MAX_EXCERPT: usize = 1_200;
/// Longest observed or expected value, reason or command kept.
pub const MAX_VALUE: usize = 400;

/// Makes every text of a run safe to publish (idempotent).
pub fn sanitize(run: &mut VerifyRun) {
    for h in &mut run.hosts {
        if let Some(e) = &mut h.error {
            *e = clean(e, MAX_VALUE);
        }
    }
    for r in &mut run.results {
        r.observed = clean(&r.observed, MAX_VALUE);
        r.expected = clean(&r.expected, MAX_VALUE);
        if let Some(reason) = &mut r.reason {
            *reason = clean(reason, MAX_VALUE);
        }
        r.evidence.command = clean(&r.evidence.command, MAX_VALUE);
        r.evidence.excerpt = clean(&r.evidence.excerpt, MAX_EXCERPT);
    }
}

/// Redacts secrets and personal data, then bounds the length.
pub fn clean(text: &str, max_chars: usize) -> String {
    let t = redact_pem_blocks(text);
    let t = redact_age_secret_keys(&t);
    let t = redact_key_lines(&t);
    let t = redact_words(&t);
    bound(&t, max_chars)
}

/// Keeps the first `max_chars` characters and says how much was cut.
pub fn bound(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_string();
    }
    // Already bounded (a report read back from a file).
    if let Some(i) = text.rfind(TRUNCATED) {
        if text[..i].chars().count() <= max_chars {
            return text.to_string();
        }
    }
    let kept: String = text.chars().take(max_chars).collect();
    format!("{kept}{TRUNCATED}{} more characters]", total - max_chars)
}

const TRUNCATED: &str = "\n… [truncated: ";

const PRIVATE_KEY_REMOVED: &str = "[private key removed]";

/// `-----BEGIN … PRIVATE KEY-----` … `-----END … -----` (also an unclosed
/// block, which is cut to the end).
fn redact_pem_blocks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let header_end = rest[start + 11..].find("-----").map(|i| start + 11 + i + 5);
        let Some(header_end) = header_end else { break };
        let header = &rest[start..header_end];
        if !header.contains("PRIVATE KEY") {
            out.push_str(&rest[..header_end]);
            rest = &rest[header_end..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str(PRIVATE_KEY_REMOVED);
        rest = match rest[header_end..].find("-----END ") {
            Some(i) => {
                let after = header_end + i + 9;
                match rest[after..].find("-----") {
                    Some(j) => &rest[after + j + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn redact_age_secret_keys(text: &str) -> String {
    const PREFIX: &str = "AGE-SECRET-KEY-";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.to_ascii_uppercase().find(PREFIX) {
        out.push_str(&rest[..i]);
        out.push_str("[age secret key removed]");
        let tail = &rest[i + PREFIX.len()..];
        let end = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `PrivateKey = …` / `PresharedKey = …` (WireGuard), `private-key …`
/// (`wg showconf`-style output): the value goes.
fn redact_key_lines(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let lower = line.to_ascii_lowercase();
        let marker = ["privatekey", "presharedkey", "private-key", "preshared-key"]
            .iter()
            .find_map(|m| lower.find(m).map(|i| i + m.len()));
        match marker {
            Some(end) => {
                let rest = line[end..].trim_start_matches([' ', '\t', '=', ':']);
                if rest.is_empty() || rest.starts_with('(') || rest.starts_with('[') {
                    out.push(line.to_string());
                } else {
                    let keep = line.len() - rest.len();
                    out.push(format!("{}[key removed]", &line[..keep]));
                }
            }
            None => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

/// Word by word: crypt(3) hashes and e-mail addresses.
fn redact_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(&redact_word(word));
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '<' | '>' | '(' | ')') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn redact_word(word: &str) -> String {
    // user:$6$salt$hash:… (a shadow line) or a bare hash.
    if let Some(i) = word.find('$') {
        let hash = &word[i..];
        let scheme = hash[1..].split('$').next().unwrap_or_default();
        let is_scheme = matches!(
            scheme,
            "1" | "2a" | "2b" | "2y" | "5" | "6" | "7" | "y" | "gy"
        ) || scheme.starts_with("argon2");
        if is_scheme && hash.matches('$').count() >= 3 {
            let end = hash.find(':').map_or(word.len(), |j| i + j);
            return format!("{}[password hash removed]{}", &word[..i], &word[end..]);
        }
    }
    if is_email(word) {
        return "[e-mail removed]".into();
    }
    word.to_string()
}

fn is_email(word: &str) -> bool {
    let Some((local, domain)) = word.split_once('@') else {
        return false;
    };
    let domain = domain.trim_end_matches(['.', ':']);
    !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_are_removed() {
        let text = "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nafter";
        assert_eq!(clean(text, 1000), "before\n[private key removed]\nafter");
        let unclosed = "x -----BEGIN RSA PRIVATE KEY-----\nMIIEow";
        assert_eq!(clean(unclosed, 1000), "x [private key removed]");
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(clean(cert, 1000), cert, "public material stays");
    }

    #[test]
    fn age_and_wireguard_keys_are_removed() {
        let age = "key: AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ done";
        assert_eq!(clean(age, 1000), "key: [age secret key removed] done");
        let wg = "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nListenPort = 51820\nPresharedKey=abc=";
        assert_eq!(
            clean(wg, 1000),
            "[Interface]\nPrivateKey = [key removed]\nListenPort = 51820\nPresharedKey=[key removed]"
        );
        assert_eq!(clean("private-key (hidden)", 100), "private-key (hidden)");
    }

    #[test]
    fn password_hashes_and_emails_are_removed() {
        assert_eq!(
            clean("alice:$6$rounds=5000$salt$abcdef:19000:0", 1000),
            "alice:[password hash removed]:19000:0"
        );
        assert_eq!(
            clean("hash $y$j9T$salt$hash end", 1000),
            "hash [password hash removed] end"
        );
        assert_eq!(
            clean("ssh-ed25519 AAAAC3Nza alice@example.org", 1000),
            "ssh-ed25519 AAAAC3Nza [e-mail removed]"
        );
        // Operator names, account@host comments and prices stay.
        assert_eq!(clean("ops@laptop ops", 1000), "ops@laptop ops");
        assert_eq!(clean("costs $5 a month", 1000), "costs $5 a month");
    }

    #[test]
    fn long_text_is_bounded() {
        let long = "x".repeat(5000);
        let b = clean(&long, MAX_EXCERPT);
        assert!(b.starts_with(&"x".repeat(MAX_EXCERPT)));
        assert!(b.ends_with("[truncated: 3800 more characters]"));
        assert_eq!(clean(&b, MAX_EXCERPT), b, "idempotent");
    }
}
