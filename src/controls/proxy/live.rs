//! The checks judged from the control machine: what clients see of the
//! edge (`probe.rs` observes it; `verify` stores that in `Facts::observed`).

use super::probe::{Attempt, EdgeObservation, IngressObservation};
use super::{acme, probe, with_expected, OBSERVATION};
use crate::controls::context::HostCtx;
use crate::controls::outcome::{evidence, Outcome};

/// The probe's observation of this host, stored by `verify`.
fn observation(ctx: &HostCtx) -> Result<EdgeObservation, String> {
    let v = ctx.facts.observed.get(OBSERVATION).ok_or(
        "not observed: this control is judged from the control machine by `rampart verify`",
    )?;
    serde_json::from_value(v.clone()).map_err(|e| format!("observation unreadable: {e}"))
}

fn probe_command(o: &EdgeObservation, i: &IngressObservation) -> String {
    format!(
        "TLS connections from the control machine to {}:{} (SNI {})",
        o.address, i.port, i.server_name
    )
}

/// Runs `judge` on the observation, or reports why there is none.
fn live(ctx: &HostCtx, expected: &str, judge: impl FnOnce(&EdgeObservation) -> Outcome) -> Outcome {
    match observation(ctx) {
        Ok(o) => with_expected(judge(&o), expected),
        Err(e) => Outcome::error(e, expected, Default::default()),
    }
}

fn unreached(attempts: &[(&str, &Attempt)]) -> Option<String> {
    attempts
        .iter()
        .find(|(_, a)| !a.reached)
        .map(|(what, a)| format!("{what}: {}", a.detail))
}

/// PRX-04: TLS 1.3 and 1.2 negotiated; 1.0, 1.1 and legacy 1.2 suites refused.
pub fn evaluate_tls_versions(ctx: &HostCtx) -> Outcome {
    let expected = "on 443 and 8443: TLS 1.3 and 1.2 negotiated; TLS 1.0, 1.1 and TLS 1.2 with legacy suites (RSA key exchange, CBC, 3DES, RC4) refused";
    live(ctx, expected, |o| {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            let attempts = [
                ("TLS 1.3", &i.tls13),
                ("TLS 1.2", &i.tls12),
                ("TLS 1.1", &i.tls11),
                ("TLS 1.0", &i.tls10),
                ("TLS 1.2 legacy suites", &i.tls12_legacy_suites),
            ];
            if let Some(e) = unreached(&attempts) {
                return Outcome::error(
                    format!("port {} not reachable: {e}", i.port),
                    "",
                    Default::default(),
                );
            }
            for (what, a) in &attempts[..2] {
                if !a.accepted {
                    problems.push(format!("{}: {what} refused ({})", i.port, a.detail));
                }
            }
            for (what, a) in &attempts[2..] {
                if a.accepted {
                    problems.push(format!("{}: {what} accepted ({})", i.port, a.detail));
                }
            }
            seen.push(format!(
                "{}: 1.3 {}, 1.2 {}, 1.1 {}, 1.0 {}, legacy suites {}",
                i.port,
                verdict(&i.tls13),
                verdict(&i.tls12),
                verdict(&i.tls11),
                verdict(&i.tls10),
                verdict(&i.tls12_legacy_suites)
            ));
        }
        let mut out = Outcome::from_problems(problems, "TLS 1.2 and 1.3 only", "", "");
        out.evidence = evidence(&probe_command(o, &o.app), seen.join("\n"));
        out
    })
}

fn verdict(a: &Attempt) -> String {
    if a.accepted {
        format!("accepted ({})", a.detail)
    } else {
        format!("refused ({})", a.detail)
    }
}

/// Neither TLS handshake on the port gave a certificate: nothing to judge.
fn no_certificate_on(i: &probe::IngressObservation) -> Outcome {
    Outcome::error(
        format!(
            "no certificate observed on port {}: {}",
            i.port, i.tls13.detail
        ),
        "",
        Default::default(),
    )
}

/// PRX-05: the certificate presented is valid for `proxy_cert_warn_days`
/// (21) days at least. A shorter remaining validity fails the control: the
/// verify statuses have no "warning", and a certificate about to expire is
/// an outage the operator must act on; the control's severity (medium)
/// says how urgent it is, and `observed` gives the days left.
pub fn evaluate_certificate_expiry(ctx: &HostCtx) -> Outcome {
    let warn: i64 = ctx.var_str("proxy_cert_warn_days").parse().unwrap_or(21);
    let expected = format!("the certificate on 443 and 8443 valid for at least {warn} more days");
    live(ctx, &expected, |o| {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            let Some(not_after) = i.not_after else {
                return no_certificate_on(i);
            };
            let days = crate::ca::days_until(not_after);
            seen.push(format!("{}: expires in {days} days", i.port));
            if days < 0 {
                problems.push(format!("{}: the certificate has expired", i.port));
            } else if days < warn {
                problems.push(format!(
                    "{}: the certificate expires in {days} days (< {warn})",
                    i.port
                ));
            }
        }
        let mut out = Outcome::from_problems(problems, seen.join("; "), "", "");
        out.evidence = evidence(&probe_command(o, &o.app), seen.join("\n"));
        out
    })
}

/// PRX-06: HSTS and the security headers on the application ingress, and
/// no version in the Server header.
pub fn evaluate_security_headers(ctx: &HostCtx) -> Outcome {
    let expected = "on 443: Strict-Transport-Security with max-age of 6 months or more, X-Content-Type-Options nosniff, X-Frame-Options, Referrer-Policy; Server header without a version";
    live(ctx, expected, |o| {
        let reply = match &o.app.response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::error(format!("no answer on 443: {e}"), "", Default::default())
            }
        };
        let mut problems = Vec::new();
        let max_age = reply.header("strict-transport-security").and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("max-age="))
                .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
        });
        match max_age {
            None => problems.push("no Strict-Transport-Security header".to_string()),
            Some(a) if a < 15_768_000 => {
                problems.push(format!("HSTS max-age {a} is under 6 months"))
            }
            Some(_) => {}
        }
        if !reply
            .header("x-content-type-options")
            .is_some_and(|v| v.eq_ignore_ascii_case("nosniff"))
        {
            problems.push("no X-Content-Type-Options: nosniff".into());
        }
        for h in ["x-frame-options", "referrer-policy"] {
            if reply.header(h).is_none() {
                problems.push(format!("no {h} header"));
            }
        }
        if let Some(server) = reply.header("server").filter(|s| s.contains('/')) {
            problems.push(format!("the Server header reveals a version: {server}"));
        }
        let shown: Vec<String> = reply
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let mut out = Outcome::from_problems(
            problems,
            format!(
                "HSTS max-age {}; security headers present",
                max_age.unwrap_or(0)
            ),
            "",
            "",
        );
        out.evidence = evidence(
            &format!(
                "GET https://{}/ (from the control machine to {})",
                o.app.server_name, o.address
            ),
            format!("HTTP {}\n{}", reply.status, shown.join("\n")),
        );
        out
    })
}

/// PRX-07: the collector ingress refuses a client without a certificate:
/// the handshake fails or nginx answers 400 without proxying.
pub fn evaluate_client_cert_required(ctx: &HostCtx) -> Outcome {
    let expected = "8443 refuses a client that presents no certificate (handshake refused or HTTP 400/403/495/496)";
    live(ctx, expected, |o| {
        let i = &o.api;
        let (refused, observed) = match (&i.response, i.tls13.reached) {
            (_, false) => {
                return Outcome::error(
                    format!("port {} not reachable: {}", i.port, i.tls13.detail),
                    "",
                    Default::default(),
                )
            }
            (Ok(r), _) if matches!(r.status, 400 | 403 | 495 | 496) => {
                (true, format!("answered HTTP {} without proxying", r.status))
            }
            (Ok(r), _) => (
                false,
                format!("answered HTTP {}: the request was let through", r.status),
            ),
            (Err(e), _) if !i.tls13.accepted => (true, format!("handshake refused: {e}")),
            (Err(e), _) => (true, format!("connection ended without an answer: {e}")),
        };
        Outcome::judge(
            refused,
            observed.clone(),
            "",
            evidence(&probe_command(o, i), observed),
        )
    })
}

/// PRX-09: plain HTTP only redirects to HTTPS.
pub fn evaluate_http_redirect(ctx: &HostCtx) -> Outcome {
    let expected = "port 80 answers only with a permanent redirect (301/308) to https://";
    live(ctx, expected, |o| {
        let reply = match &o.http {
            Ok(r) => r,
            Err(e) => {
                return Outcome::judge(
                    false,
                    format!("port 80 does not answer HTTP ({e})"),
                    "",
                    evidence(&format!("GET http://{}/", o.address), e.clone()),
                )
            }
        };
        let location = reply.header("location").unwrap_or_default();
        let ok = matches!(reply.status, 301 | 308) && location.starts_with("https://");
        let observed = format!("HTTP {} Location: {location}", reply.status);
        Outcome::judge(
            ok,
            observed.clone(),
            "",
            evidence(
                &format!("GET http://{}/ (Host {})", o.address, o.app.server_name),
                observed,
            ),
        )
    })
}

/// SHA-256 (hex) of the leaf of a PEM chain: the first certificate.
pub(super) fn leaf_sha256(chain_pem: &str) -> Option<String> {
    use sha2::Digest;
    let pem = x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes())
        .next()?
        .ok()?;
    Some(data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&pem.contents)))
}

/// PRX-12: with an ACME issuer configured, both ingresses present the
/// certificate it issued (stored in `acme/NAME.crt` by harden), not the
/// bootstrap certificate from rampart's CA.
pub fn evaluate_acme_issuer(ctx: &HostCtx) -> Outcome {
    let Some(a) = acme::settings(ctx.inventory) else {
        return Outcome::not_applicable(
            "the inventory configures no ACME issuer (proxy.certificate)",
            "with proxy.certificate.acme: the certificate issued by that CA on 443 and 8443",
        );
    };
    let expected = format!(
        "on 443 and 8443: the certificate issued by the ACME CA at {}",
        a.directory
    );
    let cert_path = acme::AcmePaths::new(ctx.inventory.dir()).cert(&ctx.host.name);
    let want = acme::stored(ctx.inventory, ctx.host).and_then(|(pem, _, _)| leaf_sha256(&pem));
    live(ctx, &expected, |o| {
        let Some(want) = want else {
            return Outcome::judge(
                false,
                format!(
                    "no ACME certificate yet ({} missing): the edge serves the bootstrap certificate from rampart's CA",
                    cert_path.display()
                ),
                "",
                evidence(&probe_command(o, &o.app), "no ACME certificate on the control machine"),
            );
        };
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            match &i.leaf_sha256 {
                None => return no_certificate_on(i),
                Some(h) if *h == want => seen.push(format!("{}: the ACME certificate", i.port)),
                Some(h) => {
                    seen.push(format!("{}: another certificate (SHA-256 {h})", i.port));
                    problems.push(format!(
                        "{}: the edge presents another certificate than the ACME one in {}",
                        i.port,
                        cert_path.display()
                    ));
                }
            }
        }
        let mut out = Outcome::from_problems(problems, seen.join("; "), "", "");
        out.evidence = evidence(
            &probe_command(o, &o.app),
            format!("{}\nexpected leaf SHA-256 {want}", seen.join("\n")),
        );
        out
    })
}
