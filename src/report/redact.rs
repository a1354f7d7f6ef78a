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
//! * personal data is removed by field and by kind, never by a pattern
//!   over evidence text: the e-mail addresses the inventory declares
//!   (operators' `contact:`, the ACME account's `mailto:` contacts) are
//!   replaced wherever they appear ([`Policy`]). Anything else shaped like
//!   `x@y.z` is evidence and stays: OpenSSH algorithm names
//!   (`sntrup761x25519-sha512@openssh.com`, `umac-128-etm@openssh.com`,
//!   `…@libssh.org`), key comments, certificate subjects. Operator and
//!   account names stay, they are what auditors check.

use super::VerifyRun;
use crate::inventory::Inventory;

/// The marker that stands where a declared e-mail address was.
pub const EMAIL_REMOVED: &str = "[e-mail removed]";

/// What a report removes beyond secrets: the personal data the inventory
/// declares. A report made without an inventory (`--from` a saved run
/// alone) knows none, and removes only secrets.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Declared e-mail addresses, longest first (so one that contains
    /// another is replaced whole), compared without regard to case.
    emails: Vec<String>,
}

impl Policy {
    /// The operators' contacts and the ACME account's contacts.
    pub fn from_inventory(inv: &Inventory) -> Policy {
        let mut emails: Vec<String> = inv
            .operators
            .iter()
            .filter_map(|o| o.contact.clone())
            .collect();
        if let crate::inventory::CertificateSource::Acme(a) = &inv.proxy.certificate {
            emails.extend(
                a.contact
                    .iter()
                    .map(|c| c.strip_prefix("mailto:").unwrap_or(c).to_string()),
            );
        }
        Policy::with_emails(emails)
    }

    pub fn with_emails(emails: impl IntoIterator<Item = String>) -> Policy {
        let mut emails: Vec<String> = emails
            .into_iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        emails.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        emails.dedup();
        Policy { emails }
    }

    /// Secrets by kind, then the declared personal data, then the bound.
    pub fn clean(&self, text: &str, max_chars: usize) -> String {
        let t = redact_secrets(text);
        let t = self.redact_declared(&t);
        bound(&t, max_chars)
    }

    fn redact_declared(&self, text: &str) -> String {
        let mut t = text.to_string();
        for e in &self.emails {
            t = replace_ignoring_case(&t, e, EMAIL_REMOVED);
        }
        t
    }
}

/// Replaces every occurrence of `needle` (ASCII lowercase) in `text`,
/// compared without regard to ASCII case.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    // ASCII lowercasing keeps byte offsets, so indices carry over.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(needle) {
        if i < last {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

/// Longest evidence excerpt kept, in characters.
pub const MAX_EXCERPT: usize = 1_200;
/// Longest observed or expected value, reason or command kept.
pub const MAX_VALUE: usize = 400;

/// Makes every text of a run safe to publish (idempotent).
pub fn sanitize(run: &mut VerifyRun, policy: &Policy) {
    for h in &mut run.hosts {
        if let Some(e) = &mut h.error {
            *e = policy.clean(e, MAX_VALUE);
        }
    }
    for r in &mut run.results {
        r.observed = policy.clean(&r.observed, MAX_VALUE);
        r.expected = policy.clean(&r.expected, MAX_VALUE);
        if let Some(reason) = &mut r.reason {
            *reason = policy.clean(reason, MAX_VALUE);
        }
        r.evidence.command = policy.clean(&r.evidence.command, MAX_VALUE);
        r.evidence.excerpt = policy.clean(&r.evidence.excerpt, MAX_EXCERPT);
    }
}

/// Redacts secrets (no declared personal data: [`Policy::clean`] for
/// that), then bounds the length.
pub fn clean(text: &str, max_chars: usize) -> String {
    Policy::default().clean(text, max_chars)
}

/// Secrets, each by its kind: private key blocks, age secret keys,
/// WireGuard key lines, crypt(3) hashes.
fn redact_secrets(text: &str) -> String {
    let t = redact_pem_blocks(text);
    let t = redact_age_secret_keys(&t);
    let t = redact_key_lines(&t);
    redact_words(&t)
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

/// Word by word: crypt(3) hashes.
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
    word.to_string()
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
        // Operator names, account@host comments and prices stay.
        assert_eq!(clean("ops@laptop ops", 1000), "ops@laptop ops");
        assert_eq!(clean("costs $5 a month", 1000), "costs $5 a month");
    }

    #[test]
    fn openssh_algorithm_names_key_comments_and_subjects_are_evidence() {
        // What `sshd -T` says on a fresh Debian 13 host (SSH-19, SSH-21).
        let kex = "kexalgorithms sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,mlkem768x25519-sha256,curve25519-sha256,curve25519-sha256@libssh.org";
        let macs = "macs umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
        let ciphers =
            "ciphers chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
        let policy = Policy::with_emails(["alice.martin@example.com".to_string()]);
        for text in [kex, macs, ciphers] {
            assert_eq!(clean(text, 1000), text);
            assert_eq!(policy.clean(text, 1000), text);
            assert!(!policy.clean(text, 1000).contains(EMAIL_REMOVED));
        }
        // A key comment or a certificate subject is not a declared contact.
        let key = "ssh-ed25519 AAAAC3Nza bob@example.org";
        assert_eq!(policy.clean(key, 1000), key);
        let subject = "subject: CN=edge-1,emailAddress=pki@example.eu";
        assert_eq!(policy.clean(subject, 1000), subject);
    }

    #[test]
    fn declared_emails_are_removed_wherever_they_appear() {
        let policy = Policy::with_emails([
            "Alice.Martin@example.com".to_string(),
            "martin@example.com".to_string(),
            " ".to_string(),
        ]);
        assert_eq!(
            policy.clean(
                "contact: alice.martin@EXAMPLE.com, martin@example.com.",
                1000
            ),
            "contact: [e-mail removed], [e-mail removed]."
        );
        assert_eq!(
            policy.clean("ssh-ed25519 AAAA alice.martin@example.com", 1000),
            "ssh-ed25519 AAAA [e-mail removed]"
        );
        // Idempotent, and secrets go as well.
        let once = policy.clean("x martin@example.com $6$s$a$b", 1000);
        assert_eq!(once, "x [e-mail removed] [password hash removed]");
        assert_eq!(policy.clean(&once, 1000), once);
        assert_eq!(Policy::default().clean("a@b.eu", 100), "a@b.eu");
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
