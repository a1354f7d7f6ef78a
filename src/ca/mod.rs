//! rampart's certificate authority: the operator's own CA for the edge's
//! collector ingress (mutual TLS) and the lab's server certificates.
//!
//! Layout next to the inventory:
//! - `ca/ca.crt`: the CA certificate (public);
//! - `secrets/ca/ca.key.age`: its private key, age-encrypted to
//!   `secrets.recipients` (decrypted in memory with `RAMPART_AGE_IDENTITY`);
//! - `ca/index.yaml`: every certificate issued, with serial and revocation;
//! - `ca/crl.pem`: the signed revocation list the edge enforces;
//! - `ca/servers/NAME.crt` + `secrets/proxy/NAME.key.age`: server
//!   certificates issued for edges whose inventory asks for `self_signed`.
//!
//! Certificates and CRLs are built with rcgen and read back with
//! x509-parser; nothing here writes ASN.1 by hand.

pub mod identity;
mod index;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub use identity::Identity;
pub use index::{Entry, Index, Kind};

/// How long the CA certificate is valid.
const CA_DAYS: i64 = 3650;
/// How long a signed CRL is valid. nginx refuses every client once the CRL
/// it holds has expired, so it is long, and `harden` re-signs it well before.
pub const CRL_DAYS: i64 = 365;
/// `harden` re-signs the CRL when fewer days than this are left.
pub const CRL_REFRESH_DAYS: i64 = 90;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no age recipients: set secrets.recipients in the inventory; the CA key is stored encrypted to them")]
    NoRecipients,
    #[error("{0:?} is not an age X25519 recipient")]
    Recipient(String),
    #[error("a CA already exists at {0}; nothing was changed")]
    Exists(PathBuf),
    #[error("no CA at {0}: run `rampart ca init` (or `rampart harden` with RAMPART_AGE_IDENTITY set, which creates it)")]
    Missing(PathBuf),
    #[error("RAMPART_AGE_IDENTITY is not set: it must name an age identity file (or hold an AGE-SECRET-KEY-… line) able to decrypt {0}")]
    NoIdentity(PathBuf),
    #[error("RAMPART_AGE_IDENTITY: {0}")]
    Identity(String),
    #[error("the identity in RAMPART_AGE_IDENTITY cannot decrypt {path}: {message}")]
    Decrypt { path: PathBuf, message: String },
    #[error("the identity in RAMPART_AGE_IDENTITY is not one of secrets.recipients, so it could not decrypt what the CA stores; expected one of: {0}")]
    NotARecipient(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("invalid name {0:?}: expected letters, digits, `.`, `_` or `-` (it names NAME.crt and NAME.key)")]
    Name(String),
    #[error("no certificate named {0:?} in the CA's index")]
    Unknown(String),
    #[error("every certificate named {0:?} is already revoked")]
    AlreadyRevoked(String),
    #[error("certificate generation failed: {0}")]
    Cert(String),
    #[error("age encryption failed: {0}")]
    Age(String),
}

fn cert_err(e: rcgen::Error) -> CaError {
    CaError::Cert(e.to_string())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the CA's files live, anchored at the inventory's directory.
#[derive(Debug, Clone)]
pub struct CaPaths {
    pub root: PathBuf,
}

impl CaPaths {
    pub fn new(inventory_dir: &Path) -> CaPaths {
        CaPaths {
            root: inventory_dir.to_path_buf(),
        }
    }
    pub fn cert(&self) -> PathBuf {
        self.root.join("ca/ca.crt")
    }
    pub fn key(&self) -> PathBuf {
        self.root.join("secrets/ca/ca.key.age")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("ca/index.yaml")
    }
    pub fn crl(&self) -> PathBuf {
        self.root.join("ca/crl.pem")
    }
    pub fn server_cert(&self, name: &str) -> PathBuf {
        self.root.join(format!("ca/servers/{name}.crt"))
    }
    pub fn server_key(&self, name: &str) -> PathBuf {
        self.root.join(format!("secrets/proxy/{name}.key.age"))
    }
    pub fn exists(&self) -> bool {
        self.cert().is_file()
    }
}

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: String,
}

impl std::fmt::Debug for Issued {
    /// The private key never appears in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// The CA's public state: certificate, index, CRL.
#[derive(Debug)]
pub struct Ca {
    pub paths: CaPaths,
    pub cert_pem: String,
    pub index: Index,
}

/// The CA unlocked for signing: its key is held in memory only.
pub struct Signer {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Refuses a certificate name that could not name `NAME.crt`/`NAME.key`
/// (`../evil`); callers check it before any side effect.
pub fn check_name(name: &str) -> Result<(), CaError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(CaError::Name(name.to_string()))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A positive serial of 16 bytes derived from the new key and the moment:
/// unique without keeping a counter that two operators could race on.
fn serial_for(key: &KeyPair, name: &str) -> SerialNumber {
    let mut h = Sha256::new();
    h.update(key.public_key_raw());
    h.update(name.as_bytes());
    h.update(now().unix_timestamp_nanos().to_be_bytes());
    let mut bytes: Vec<u8> = h.finalize()[..16].to_vec();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// SHA-256 of a text, hex: how a secret file is compared with a host's copy.
pub fn sha256_hex(text: &str) -> String {
    crate::inventory::hex_sha256(text.as_bytes())
}

fn parse_recipients(recipients: &[String]) -> Result<Vec<age::x25519::Recipient>, CaError> {
    if recipients.is_empty() {
        return Err(CaError::NoRecipients);
    }
    recipients
        .iter()
        .map(|r| {
            r.trim()
                .parse::<age::x25519::Recipient>()
                .map_err(|_| CaError::Recipient(r.clone()))
        })
        .collect()
}

/// Encrypts `plaintext` to the recipients (binary age format).
pub fn seal(recipients: &[String], plaintext: &[u8]) -> Result<Vec<u8>, CaError> {
    parse_recipients(recipients)?;
    crate::seal::encrypt(recipients, plaintext).map_err(|e| CaError::Age(e.to_string()))
}

/// Writes `bytes` to `path` atomically (temporary file, then rename) with
/// `mode`, creating the parent directories.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    crate::engine::secret::write_atomically_with_mode(path, bytes, mode).map_err(io_err(path))
}

fn read(path: &Path) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "rampart");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::Sha256;
    params.not_before = now() - Duration::hours(1);
    params.not_after = now() + Duration::days(CA_DAYS);
    params
}

impl Ca {
    /// Creates the CA: a P-256 key encrypted to `recipients`, a self-signed
    /// certificate, an empty index and an empty signed CRL. Refuses to
    /// replace an existing CA.
    pub fn init(paths: &CaPaths, recipients: &[String]) -> Result<Ca, CaError> {
        if paths.exists() || paths.key().exists() {
            return Err(CaError::Exists(paths.cert()));
        }
        parse_recipients(recipients)?;
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = ca_params("rampart CA");
        params.serial_number = Some(serial_for(&key, "ca"));
        let cert = params.self_signed(&key).map_err(cert_err)?;
        let sealed = seal(recipients, key.serialize_pem().as_bytes())?;
        write_file(&paths.key(), &sealed, 0o600)?;
        write_file(&paths.cert(), cert.pem().as_bytes(), 0o644)?;
        let mut ca = Ca {
            paths: paths.clone(),
            cert_pem: cert.pem(),
            index: Index::default(),
        };
        let signer = Signer {
            issuer: Issuer::new(params, key),
        };
        ca.sign_crl(&signer)?;
        Ok(ca)
    }

    /// Opens an existing CA's public files.
    pub fn open(paths: &CaPaths) -> Result<Ca, CaError> {
        if !paths.exists() {
            return Err(CaError::Missing(paths.cert()));
        }
        let cert_pem = read(&paths.cert())?;
        let index = if paths.index().exists() {
            Index::parse(&read(&paths.index())?).map_err(|message| CaError::Invalid {
                path: paths.index(),
                message,
            })?
        } else {
            Index::default()
        };
        Ok(Ca {
            paths: paths.clone(),
            cert_pem,
            index,
        })
    }

    /// Decrypts the CA key with `identity`, in memory.
    pub fn unlock(&self, identity: &Identity) -> Result<Signer, CaError> {
        let path = self.paths.key();
        let sealed = std::fs::read(&path).map_err(io_err(&path))?;
        let pem = identity.decrypt(&sealed, &path)?;
        let pem = String::from_utf8(pem).map_err(|_| CaError::Invalid {
            path: path.clone(),
            message: "the decrypted key is not PEM text".into(),
        })?;
        let key = KeyPair::from_pem(&pem).map_err(cert_err)?;
        let issuer =
            Issuer::from_ca_cert_pem(&self.cert_pem, key).map_err(|e| CaError::Invalid {
                path: self.paths.cert(),
                message: e.to_string(),
            })?;
        Ok(Signer { issuer })
    }

    fn leaf(
        &mut self,
        signer: &Signer,
        name: &str,
        kind: Kind,
        sans: &[String],
        days: u32,
    ) -> Result<Issued, CaError> {
        if !valid_name(name) {
            return Err(CaError::Name(name.to_string()));
        }
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::new(sans.to_vec()).map_err(cert_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "rampart");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match kind {
            Kind::Client => ExtendedKeyUsagePurpose::ClientAuth,
            Kind::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        let serial = serial_for(&key, name);
        params.serial_number = Some(serial.clone());
        params.not_before = now() - Duration::hours(1);
        let not_after = now() + Duration::days(i64::from(days.max(1)));
        params.not_after = not_after;
        let cert = params.signed_by(&key, &signer.issuer).map_err(cert_err)?;
        let serial = hex(serial.as_ref());
        self.index.certificates.push(Entry {
            name: name.to_string(),
            serial: serial.clone(),
            kind,
            not_after: not_after.unix_timestamp(),
            revoked_at: None,
            key_sha256: (kind == Kind::Server).then(|| sha256_hex(&key.serialize_pem())),
        });
        self.save_index()?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        })
    }

    /// A client certificate (clientAuth) for a collector.
    pub fn issue_client(
        &mut self,
        signer: &Signer,
        name: &str,
        days: u32,
    ) -> Result<Issued, CaError> {
        self.leaf(signer, name, Kind::Client, &[], days)
    }

    /// A server certificate (serverAuth) for `names` (DNS names or IPs).
    pub fn issue_server(
        &mut self,
        signer: &Signer,
        name: &str,
        names: &[String],
        days: u32,
    ) -> Result<Issued, CaError> {
        self.leaf(signer, name, Kind::Server, names, days)
    }

    /// Revokes every unrevoked certificate named `name` and re-signs the
    /// CRL; returns the revoked serials.
    pub fn revoke(&mut self, signer: &Signer, name: &str) -> Result<Vec<String>, CaError> {
        let mut any = false;
        let mut revoked = Vec::new();
        let when = now().unix_timestamp();
        for e in self
            .index
            .certificates
            .iter_mut()
            .filter(|e| e.name == name)
        {
            any = true;
            if e.revoked_at.is_none() {
                e.revoked_at = Some(when);
                revoked.push(e.serial.clone());
            }
        }
        if !any {
            return Err(CaError::Unknown(name.to_string()));
        }
        if revoked.is_empty() {
            return Err(CaError::AlreadyRevoked(name.to_string()));
        }
        self.save_index()?;
        self.sign_crl(signer)?;
        Ok(revoked)
    }

    /// Signs a new CRL listing every revoked certificate, valid for
    /// [`CRL_DAYS`], and writes it to `ca/crl.pem`.
    pub fn sign_crl(&mut self, signer: &Signer) -> Result<(), CaError> {
        self.index.crl_number += 1;
        let mut revoked = Vec::new();
        for e in &self.index.certificates {
            let Some(at) = e.revoked_at else { continue };
            let serial = unhex(&e.serial).ok_or_else(|| CaError::Invalid {
                path: self.paths.index(),
                message: format!("serial {:?} is not hex", e.serial),
            })?;
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: OffsetDateTime::from_unix_timestamp(at).unwrap_or_else(|_| now()),
                reason_code: Some(RevocationReason::Unspecified),
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now() - Duration::hours(1),
            next_update: now() + Duration::days(CRL_DAYS),
            crl_number: SerialNumber::from(self.index.crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&signer.issuer).map_err(cert_err)?;
        let pem = crl.pem().map_err(cert_err)?;
        self.save_index()?;
        write_file(&self.paths.crl(), pem.as_bytes(), 0o644)
    }

    /// The CRL as written, if any.
    pub fn crl_pem(&self) -> Result<String, CaError> {
        read(&self.paths.crl())
    }

    fn save_index(&self) -> Result<(), CaError> {
        let text = self.index.render().map_err(|message| CaError::Invalid {
            path: self.paths.index(),
            message,
        })?;
        write_file(&self.paths.index(), text.as_bytes(), 0o644)
    }
}

/// Seconds since the epoch when a PEM CRL stops being valid (its nextUpdate).
pub fn crl_next_update(pem: &str) -> Result<i64, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, crl) = x509_parser::parse_x509_crl(&p.contents).map_err(|e| e.to_string())?;
    crl.next_update()
        .map(|t| t.timestamp())
        .ok_or_else(|| "the CRL has no nextUpdate".to_string())
}

/// Serials (hex, lowercase, no leading zero bytes) a PEM CRL revokes.
pub fn crl_serials(pem: &str) -> Result<Vec<String>, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, crl) = x509_parser::parse_x509_crl(&p.contents).map_err(|e| e.to_string())?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| hex(r.raw_serial()))
        .collect())
}

/// Seconds since the epoch when a PEM certificate expires (its notAfter).
pub fn cert_not_after(pem: &str) -> Result<i64, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = p.parse_x509().map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}

/// The DNS names and IP addresses a PEM certificate is valid for.
pub fn cert_names(pem: &str) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = p.parse_x509().map_err(|e| e.to_string())?;
    let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

/// Seconds since the epoch when a DER certificate expires.
pub fn der_not_after(der: &[u8]) -> Result<i64, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}

/// Whether a PEM certificate names an OCSP responder (Authority Information
/// Access), i.e. whether OCSP stapling can work for it.
pub fn has_ocsp_responder(pem: &str) -> bool {
    use x509_parser::extensions::ParsedExtension;
    let Ok((_, p)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = p.parse_x509() else {
        return false;
    };
    cert.extensions()
        .iter()
        .any(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia.accessdescs.iter().any(|d| {
                d.access_method == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP
            }),
            _ => false,
        })
}

/// Days (rounded down) from now until `timestamp`.
pub fn days_until(timestamp: i64) -> i64 {
    (timestamp - now().unix_timestamp()).div_euclid(86_400)
}

#[cfg(test)]
mod tests;
