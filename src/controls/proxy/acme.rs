//! Edge certificates from an ACME CA (RFC 8555), answered over HTTP-01
//! through the edge's own nginx (port 80 serves
//! `/.well-known/acme-challenge/` from [`CHALLENGE_ROOT`]).
//!
//! The order runs on the control machine (instant-acme); only the
//! challenge file is written on the edge, through [`ChallengeHost`], so
//! this module knows nothing of SSH. Layout next to the inventory:
//! - `secrets/acme/account.age`: the ACME account (its key), age-encrypted
//!   to `secrets.recipients`;
//! - `secrets/acme/NAME.key.age`: the edge's key (P-256, generated here);
//! - `acme/NAME.key.sha256`: the key's SHA-256, so plans compare the
//!   deployed key without decrypting it;
//! - `acme/NAME.crt`: the certificate chain, as the CA sent it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};

use crate::ca::{self, CaError, Identity};
use crate::inventory::{AcmeSettings, CertificateSource, Host, Inventory};

/// Where nginx serves the HTTP-01 answers from (root-owned, 0755).
pub const CHALLENGE_ROOT: &str = "/var/lib/rampart/acme";
/// The URL path of the answers, below [`CHALLENGE_ROOT`] on disk.
pub const CHALLENGE_PATH: &str = ".well-known/acme-challenge";
/// One HTTP request to the ACME server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for the CA to validate, then to issue.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(90);
const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("{0}")]
    Store(#[from] CaError),
    #[error("ACME CA at {directory}: {problem}")]
    Server { directory: String, problem: String },
    #[error("the ACME order for {names} failed: {problem}")]
    Order { names: String, problem: String },
    #[error("{0}")]
    Challenge(String),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no DNS name to order a certificate for (set proxy.server_name): ACME CAs do not issue for IP addresses")]
    NoNames,
    #[error("{0}")]
    Key(String),
}

/// The ACME settings, when the inventory asks for ACME.
pub fn settings(inv: &Inventory) -> Option<&AcmeSettings> {
    match &inv.proxy.certificate {
        CertificateSource::Acme(a) => Some(a),
        _ => None,
    }
}

/// Where the ACME material lives, anchored at the inventory's directory.
#[derive(Debug, Clone)]
pub struct AcmePaths {
    pub root: PathBuf,
}

impl AcmePaths {
    pub fn new(inventory_dir: &Path) -> AcmePaths {
        AcmePaths {
            root: inventory_dir.to_path_buf(),
        }
    }
    pub fn account(&self) -> PathBuf {
        self.root.join("secrets/acme/account.age")
    }
    pub fn cert(&self, host: &str) -> PathBuf {
        self.root.join(format!("acme/{host}.crt"))
    }
    pub fn key(&self, host: &str) -> PathBuf {
        self.root.join(format!("secrets/acme/{host}.key.age"))
    }
    pub fn key_sha256(&self, host: &str) -> PathBuf {
        self.root.join(format!("acme/{host}.key.sha256"))
    }
}

/// The names an ACME certificate of `host` carries: the edge's server
/// names without IP addresses (ACME CAs issue DNS names).
pub fn names(inv: &Inventory, host: &Host) -> Vec<String> {
    super::material::server_names(inv, host)
        .into_iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_err())
        .collect()
}

/// The stored ACME certificate and its key's hash, when both exist.
pub fn stored(inv: &Inventory, host: &Host) -> Option<(String, String, PathBuf)> {
    let paths = AcmePaths::new(inv.dir());
    let cert = std::fs::read_to_string(paths.cert(&host.name)).ok()?;
    let sha = std::fs::read_to_string(paths.key_sha256(&host.name)).ok()?;
    let key = paths.key(&host.name);
    key.is_file().then(|| (cert, sha.trim().to_string(), key))
}

/// Why `harden` must order a certificate for `host` now, if it must: none
/// yet, fewer than `renew_days` left, or other names. `now` in seconds
/// since the epoch.
pub fn renewal_due(
    cert_pem: Option<&str>,
    names: &[String],
    renew_days: u32,
    now: i64,
) -> Option<String> {
    let Some(pem) = cert_pem else {
        return Some("no ACME certificate yet".into());
    };
    let not_after = match ca::cert_not_after(pem) {
        Ok(t) => t,
        Err(e) => return Some(format!("the stored certificate is unreadable ({e})")),
    };
    let left = (not_after - now).div_euclid(86_400);
    if left < i64::from(renew_days) {
        return Some(format!(
            "it expires in {left} days (renewal below {renew_days})"
        ));
    }
    let mut have = ca::cert_names(pem).unwrap_or_default();
    have.sort();
    let mut want = names.to_vec();
    want.sort();
    (have != want).then(|| "the names it must carry changed".to_string())
}

/// Writes and removes HTTP-01 answers on the edge.
pub trait ChallengeHost: Send + Sync {
    /// Writes `content` at `CHALLENGE_ROOT/CHALLENGE_PATH/token` (0644).
    fn write<'a>(
        &'a self,
        token: &'a str,
        content: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
    fn remove<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// A token names a file on the edge: only base64url characters pass, so a
/// hostile server cannot make rampart write elsewhere.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The shell command that writes a challenge file from stdin.
pub fn write_command(token: &str) -> String {
    format!(
        "install -d -m 0755 -o root -g root {CHALLENGE_ROOT} {CHALLENGE_ROOT}/.well-known {CHALLENGE_ROOT}/{CHALLENGE_PATH} && install -m 0644 -o root -g root /dev/stdin {CHALLENGE_ROOT}/{CHALLENGE_PATH}/{token}"
    )
}

pub fn remove_command(token: &str) -> String {
    format!("rm -f {CHALLENGE_ROOT}/{CHALLENGE_PATH}/{token}")
}

/// instant-acme over the reqwest client rampart already has (rustls,
/// aws-lc-rs): no second HTTP stack, request timeouts, and the
/// `ca_bundle` roots added to the system's.
struct Http(reqwest::Client);

impl HttpClient for Http {
    fn request(
        &self,
        req: http::Request<BodyWrapper<bytes::Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_else(|never| match never {});
            let rsp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let mut out = http::Response::builder().status(rsp.status());
            if let Some(h) = out.headers_mut() {
                *h = rsp.headers().clone();
            }
            let bytes = rsp
                .bytes()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            let rsp = out.body(BodyWrapper::from(bytes.to_vec()))?;
            Ok(BytesResponse::from(rsp))
        })
    }
}

fn http_client(a: &AcmeSettings) -> Result<Http, AcmeError> {
    let mut b = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .https_only(true);
    if let Some(bundle) = &a.ca_bundle {
        let invalid = |message: String| AcmeError::Invalid {
            path: bundle.clone(),
            message,
        };
        let pem = std::fs::read(bundle).map_err(|e| invalid(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map(Http)
        .map_err(|e| AcmeError::Challenge(format!("HTTP client: {e}")))
}

/// The sealed account: credentials of one directory.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: instant_acme::AccountCredentials,
}

/// Accounts are created one at a time, so edges ordering in parallel on a
/// first run share one account instead of each writing its own.
static ACCOUNT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server_error(a: &AcmeSettings, e: instant_acme::Error) -> AcmeError {
    AcmeError::Server {
        directory: a.directory.clone(),
        problem: e.to_string(),
    }
}

/// The account stored for this directory, or a new one (sealed at once).
async fn account(
    inv: &Inventory,
    a: &AcmeSettings,
    identity: &Identity,
) -> Result<Account, AcmeError> {
    let _one = ACCOUNT_LOCK.lock().await;
    let path = AcmePaths::new(inv.dir()).account();
    if path.is_file() {
        let sealed = std::fs::read(&path).map_err(|e| AcmeError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let plain = identity.decrypt(&sealed, &path)?;
        let stored: StoredAccount =
            serde_json::from_slice(&plain).map_err(|e| AcmeError::Invalid {
                path: path.clone(),
                message: format!("not an ACME account: {e}"),
            })?;
        if stored.directory == a.directory {
            return Account::builder_with_http(Box::new(http_client(a)?))
                .from_credentials(stored.credentials)
                .await
                .map_err(|e| server_error(a, e));
        }
        // Another directory: its account means nothing to this CA.
    }
    let contact: Vec<&str> = a.contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(Box::new(http_client(a)?))
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            a.directory.clone(),
            None,
        )
        .await
        .map_err(|e| server_error(a, e))?;
    let json = serde_json::to_vec(&StoredAccount {
        directory: a.directory.clone(),
        credentials,
    })
    .map_err(|e| AcmeError::Key(format!("account credentials: {e}")))?;
    let sealed = ca::seal(&inv.secrets.recipients, &json)?;
    ca::write_file(&path, &sealed, 0o600)?;
    Ok(account)
}

/// A certificate chain and its key, PEM; the key is never printed.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// The CA's explanation of failed challenges, `type: detail` each.
async fn challenge_problems(order: &mut instant_acme::Order) -> Vec<String> {
    let mut out = Vec::new();
    let mut authz = order.authorizations();
    // Bounded: one entry per identifier of the order.
    while let Some(Ok(a)) = authz.next().await {
        for c in &a.challenges {
            if let Some(p) = &c.error {
                out.push(format!(
                    "{}: {}",
                    p.r#type.as_deref().unwrap_or("problem"),
                    p.detail.as_deref().unwrap_or("no detail")
                ));
            }
        }
    }
    out
}

/// Orders a certificate for `host`: new order, HTTP-01 answers written on
/// the edge, validation awaited (bounded), finalized with a CSR for a key
/// generated here, the chain downloaded. Answers are removed whatever the
/// outcome.
pub async fn order(
    inv: &Inventory,
    host: &Host,
    identity: &Identity,
    edge: &dyn ChallengeHost,
) -> Result<Issued, AcmeError> {
    let a = settings(inv).ok_or_else(|| AcmeError::Challenge("ACME is not configured".into()))?;
    let names = names(inv, host);
    if names.is_empty() {
        return Err(AcmeError::NoNames);
    }
    let account = account(inv, a, identity).await?;
    let identifiers: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| server_error(a, e))?;
    let mut tokens = Vec::new();
    let answered = answer(&mut order, edge, &mut tokens).await;
    let result = match answered {
        Ok(()) => finish(&mut order, &names).await,
        Err(e) => Err(e),
    };
    for t in &tokens {
        if let Err(e) = edge.remove(t).await {
            tracing::warn!(
                "could not remove the ACME challenge {t} on {}: {e}",
                host.name
            );
        }
    }
    result
}

async fn answer(
    order: &mut instant_acme::Order,
    edge: &dyn ChallengeHost,
    tokens: &mut Vec<String>,
) -> Result<(), AcmeError> {
    let mut authz = order.authorizations();
    while let Some(next) = authz.next().await {
        let mut a = next.map_err(|e| AcmeError::Challenge(format!("authorization: {e}")))?;
        match a.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => return Err(AcmeError::Challenge(format!("authorization is {other:?}"))),
        }
        let mut challenge = a
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| AcmeError::Challenge("the CA offers no http-01 challenge".into()))?;
        let token = challenge.token.clone();
        if !valid_token(&token) {
            return Err(AcmeError::Challenge(format!(
                "the CA sent an invalid challenge token {token:?}"
            )));
        }
        let content = challenge.key_authorization().as_str().to_string();
        edge.write(&token, &content)
            .await
            .map_err(|e| AcmeError::Challenge(format!("writing the challenge on the edge: {e}")))?;
        tokens.push(token);
        challenge
            .set_ready()
            .await
            .map_err(|e| AcmeError::Challenge(format!("challenge: {e}")))?;
    }
    Ok(())
}

async fn finish(order: &mut instant_acme::Order, names: &[String]) -> Result<Issued, AcmeError> {
    let failed = |problem: String| AcmeError::Order {
        names: names.join(", "),
        problem,
    };
    let ready = RetryPolicy::new()
        .initial_delay(Duration::from_millis(500))
        .backoff(1.5)
        .timeout(VALIDATION_TIMEOUT);
    let status = order.poll_ready(&ready).await;
    match status {
        Ok(OrderStatus::Ready) => {}
        Ok(other) => {
            let problems = challenge_problems(order).await;
            return Err(failed(if problems.is_empty() {
                format!("the order is {other:?}")
            } else {
                problems.join("; ")
            }));
        }
        Err(e) => {
            let problems = challenge_problems(order).await;
            return Err(failed(if problems.is_empty() {
                e.to_string()
            } else {
                problems.join("; ")
            }));
        }
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| AcmeError::Key(e.to_string()))?;
    let csr = rcgen::CertificateParams::new(names.to_vec())
        .and_then(|p| p.serialize_request(&key))
        .map_err(|e| AcmeError::Key(format!("CSR: {e}")))?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let issue = RetryPolicy::new()
        .initial_delay(Duration::from_millis(500))
        .backoff(1.5)
        .timeout(ISSUANCE_TIMEOUT);
    let chain_pem = order
        .poll_certificate(&issue)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(Issued {
        chain_pem,
        key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
    })
}

/// Stores what was issued: the key sealed (0600) and its hash first, the
/// chain last, so a chain on disk always has its key beside it.
pub fn store(inv: &Inventory, host: &Host, issued: &Issued) -> Result<(), AcmeError> {
    let paths = AcmePaths::new(inv.dir());
    let sealed = ca::seal(&inv.secrets.recipients, issued.key_pem.as_bytes())?;
    ca::write_file(&paths.key(&host.name), &sealed, 0o600)?;
    ca::write_file(
        &paths.key_sha256(&host.name),
        format!("{}\n", ca::sha256_hex(&issued.key_pem)).as_bytes(),
        0o644,
    )?;
    ca::write_file(&paths.cert(&host.name), issued.chain_pem.as_bytes(), 0o644)?;
    Ok(())
}
