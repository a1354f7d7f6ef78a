//! What an edge needs from the control machine: rampart's CA certificate
//! and CRL, and the edge's own certificate and key — from the inventory's
//! files, or issued by rampart's CA (`self_signed`). `prepare` (run by
//! `harden` before any host is touched) creates what is missing.

use std::path::PathBuf;

use crate::ca::{self, Ca, CaError, CaPaths, Identity, Kind};
use crate::inventory::{CertificateSource, Host, Inventory};

/// Days a `self_signed` edge certificate is issued for.
pub const SERVER_DAYS: u32 = 397;
/// `harden` re-issues a `self_signed` edge certificate with fewer days left.
pub const SERVER_RENEW_DAYS: i64 = 30;

/// Where the edge's private key comes from.
pub enum Key {
    /// Read from the inventory's `files:` key: the plaintext is at hand.
    Plain(String),
    /// Issued by rampart's CA and stored age-encrypted; its SHA-256 is in
    /// the CA's index, so comparing needs no decryption.
    Sealed { path: PathBuf, sha256: String },
}

impl Key {
    pub fn sha256(&self) -> String {
        match self {
            Key::Plain(text) => ca::sha256_hex(text),
            Key::Sealed { sha256, .. } => sha256.clone(),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Plain(_) => f.write_str("Key::Plain(..)"),
            Key::Sealed { path, .. } => write!(f, "Key::Sealed({})", path.display()),
        }
    }
}

#[derive(Debug)]
pub struct Material {
    pub ca_cert: String,
    pub crl: String,
    /// The edge's certificate (chain), PEM.
    pub server_cert: String,
    pub key: Key,
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The names a `self_signed` certificate of `host` must carry.
pub fn server_names(inv: &Inventory, host: &Host) -> Vec<String> {
    let mut names = vec![
        super::render::app_server_name(inv, host),
        super::render::api_server_name(inv, host),
        host.address.clone(),
    ];
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

/// What `harden` will still create for `host` (rampart's CA, the edge's
/// certificate from it), when it does not exist yet: `plan` shows it as a
/// pending change instead of failing.
pub fn pending(inv: &Inventory, host: &Host) -> Option<String> {
    if !uses_own_ca(inv, host) {
        return None;
    }
    let paths = CaPaths::new(inv.dir());
    if !paths.cert().exists() {
        return Some(format!(
            "rampart's CA ({}) and a TLS certificate for {} from it (created by harden with RAMPART_AGE_IDENTITY)",
            paths.cert().display(),
            host.name
        ));
    }
    (!paths.server_cert(&host.name).exists()).then(|| {
        format!(
            "a TLS certificate for {} from rampart's CA ({}; issued by harden with RAMPART_AGE_IDENTITY)",
            host.name,
            paths.server_cert(&host.name).display()
        )
    })
}

/// The material for `host`, from the control machine's files.
pub fn load(inv: &Inventory, host: &Host) -> Result<Material, String> {
    let paths = CaPaths::new(inv.dir());
    let ca = Ca::open(&paths).map_err(|e| e.to_string())?;
    let crl = read(&paths.crl())?;
    let (server_cert, key) = match &inv.proxy.certificate {
        CertificateSource::Files { cert, key } => (read(cert)?, Key::Plain(read(key)?)),
        CertificateSource::SelfSigned => bootstrap(&ca, &paths, host)?,
        CertificateSource::Acme(_) => match super::acme::stored(inv, host) {
            Some((cert, sha256, path)) => (cert, Key::Sealed { path, sha256 }),
            // Until its first ACME certificate, the edge serves one from
            // rampart's CA so nginx can start and answer the challenge.
            None => bootstrap(&ca, &paths, host)?,
        },
    };
    Ok(Material {
        ca_cert: ca.cert_pem,
        crl,
        server_cert,
        key,
    })
}

/// The certificate rampart's CA issued for `host` and its sealed key.
fn bootstrap(ca: &Ca, paths: &CaPaths, host: &Host) -> Result<(String, Key), String> {
    let cert_path = paths.server_cert(&host.name);
    let entry = ca
        .index
        .current_of(&host.name, Kind::Server)
        .filter(|e| e.key_sha256.is_some());
    let (Ok(cert), Some(entry)) = (read(&cert_path), entry) else {
        return Err(format!(
            "no certificate for edge {} yet ({}): `rampart harden` issues it from rampart's CA (with RAMPART_AGE_IDENTITY set)",
            host.name,
            cert_path.display()
        ));
    };
    let sha256 = entry.key_sha256.clone().unwrap_or_default();
    Ok((
        cert,
        Key::Sealed {
            path: paths.server_key(&host.name),
            sha256,
        },
    ))
}

/// Whether `host` is served a certificate from rampart's CA: `self_signed`,
/// or ACME before its first certificate (the bootstrap).
pub fn uses_own_ca(inv: &Inventory, host: &Host) -> bool {
    match &inv.proxy.certificate {
        CertificateSource::SelfSigned => true,
        CertificateSource::Acme(_) => super::acme::stored(inv, host).is_none(),
        CertificateSource::Files { .. } => false,
    }
}

/// The key's PEM: read, or decrypted with `RAMPART_AGE_IDENTITY`.
pub fn key_plaintext(key: &Key, host: &str) -> Result<String, String> {
    match key {
        Key::Plain(text) => Ok(text.clone()),
        Key::Sealed { path, .. } => {
            let identity = Identity::from_env()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "the TLS key of {host} must be (re)deployed, which needs RAMPART_AGE_IDENTITY to decrypt {}",
                        path.display()
                    )
                })?;
            let sealed = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let plain = identity.decrypt(&sealed, path).map_err(|e| e.to_string())?;
            String::from_utf8(plain).map_err(|_| format!("{}: not PEM text", path.display()))
        }
    }
}

/// What `prepare` did or could not do, for the operator.
#[derive(Debug, Default)]
pub struct Prepared {
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

fn identity_for(inv: &Inventory, identity: Option<&Identity>, need: &str) -> Result<(), CaError> {
    let paths = CaPaths::new(inv.dir());
    let Some(id) = identity else {
        return Err(CaError::Identity(format!(
            "{need}, which needs RAMPART_AGE_IDENTITY (not set): it must name an age identity able to decrypt {}",
            paths.key().display()
        )));
    };
    if !id.is_among(&inv.secrets.recipients) {
        return Err(CaError::NotARecipient(inv.secrets.recipients.join(", ")));
    }
    Ok(())
}

/// Before `harden` touches any edge: creates rampart's CA if there is none,
/// issues `self_signed` edge certificates (and the bootstrap certificates
/// of ACME edges that have none from their CA yet) that are missing,
/// expiring or for other names, and re-signs a CRL that nears its nextUpdate. Needs
/// the identity only for what it must sign; without it, a missing CA or
/// certificate is an error and an ageing CRL a warning.
pub fn prepare(
    inv: &Inventory,
    edges: &[&Host],
    identity: Option<&Identity>,
) -> Result<Prepared, CaError> {
    let mut out = Prepared::default();
    if edges.is_empty() {
        return Ok(out);
    }
    let paths = CaPaths::new(inv.dir());
    if !paths.exists() {
        identity_for(
            inv,
            identity,
            "the edges need rampart's CA, which does not exist yet",
        )?;
        Ca::init(&paths, &inv.secrets.recipients)?;
        out.notes.push(format!(
            "created rampart's CA: {} (key encrypted in {})",
            paths.cert().display(),
            paths.key().display()
        ));
    }
    let mut ca = Ca::open(&paths)?;
    let mut signer = None;
    for host in edges.iter().filter(|h| uses_own_ca(inv, h)) {
        let Some(why) = server_cert_problem(&ca, &paths, inv, host) else {
            continue;
        };
        identity_for(inv, identity, &format!("{}: {why}", host.name))?;
        let Some(id) = identity else { continue };
        if signer.is_none() {
            signer = Some(ca.unlock(id)?);
        }
        let Some(s) = &signer else { continue };
        let issued = ca.issue_server(s, &host.name, &server_names(inv, host), SERVER_DAYS)?;
        let sealed = ca::seal(&inv.secrets.recipients, issued.key_pem.as_bytes())?;
        ca::write_file(&paths.server_key(&host.name), &sealed, 0o600)?;
        ca::write_file(
            &paths.server_cert(&host.name),
            issued.cert_pem.as_bytes(),
            0o644,
        )?;
        out.notes.push(format!(
            "issued the TLS certificate of {} ({why})",
            host.name
        ));
    }
    let crl_left = ca
        .crl_pem()
        .ok()
        .and_then(|p| ca::crl_next_update(&p).ok())
        .map(ca::days_until);
    if crl_left.is_none_or(|d| d < ca::CRL_REFRESH_DAYS) {
        match identity {
            Some(id) if id.is_among(&inv.secrets.recipients) => {
                if signer.is_none() {
                    signer = Some(ca.unlock(id)?);
                }
                if let Some(s) = &signer {
                    ca.sign_crl(s)?;
                    out.notes.push("re-signed the CRL".into());
                }
            }
            _ => out.warnings.push(format!(
                "the CRL {} (the edges refuse every client once it expires); set RAMPART_AGE_IDENTITY so harden can re-sign it",
                match crl_left {
                    Some(d) => format!("expires in {d} days"),
                    None => "is missing or unreadable".into(),
                }
            )),
        }
    }
    Ok(out)
}

/// Why the edge's `self_signed` certificate must be (re)issued, if it must.
fn server_cert_problem(ca: &Ca, paths: &CaPaths, inv: &Inventory, host: &Host) -> Option<String> {
    let Some(entry) = ca.index.current_of(&host.name, Kind::Server) else {
        return Some("none was issued yet".into());
    };
    let Ok(pem) = std::fs::read_to_string(paths.server_cert(&host.name)) else {
        return Some("its certificate file is missing".into());
    };
    if entry.key_sha256.is_none() || !paths.server_key(&host.name).exists() {
        return Some("its key is missing".into());
    }
    let left = ca::days_until(entry.not_after);
    if left < SERVER_RENEW_DAYS {
        return Some(format!("it expires in {left} days"));
    }
    let mut have = ca::cert_names(&pem).unwrap_or_default();
    have.sort();
    (have != server_names(inv, host)).then(|| "the names it must carry changed".to_string())
}
