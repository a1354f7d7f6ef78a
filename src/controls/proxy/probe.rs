//! The edge as a client sees it, probed from the control machine during
//! `verify`: which TLS versions each ingress negotiates, the certificate it
//! presents, the headers it answers with, whether the collector ingress
//! lets a client without a certificate through, and what plain HTTP does.
//!
//! TLS 1.2 and 1.3 are tested with rustls. rustls cannot speak TLS 1.0/1.1
//! nor the legacy suites, so those are tested with a hand-built ClientHello
//! (the same technique as testssl.sh): the answer is either a ServerHello
//! (accepted) or an alert / a closed connection (refused). No request is
//! ever sent with a client certificate, and nothing but `GET /` is asked.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Each connection's budget: connect, handshake and answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Response headers read at most.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// One attempt: accepted (with what was negotiated) or refused (and how).
/// `reached: false` means the port could not be reached at all, which is
/// neither an acceptance nor a refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub reached: bool,
    pub accepted: bool,
    pub detail: String,
}

impl Attempt {
    fn unreachable(detail: impl Into<String>) -> Attempt {
        Attempt {
            reached: false,
            accepted: false,
            detail: detail.into(),
        }
    }
    fn refused(detail: impl Into<String>) -> Attempt {
        Attempt {
            reached: true,
            accepted: false,
            detail: detail.into(),
        }
    }
    fn accepted(detail: impl Into<String>) -> Attempt {
        Attempt {
            reached: true,
            accepted: true,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One TLS ingress as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressObservation {
    pub port: u16,
    pub server_name: String,
    pub tls13: Attempt,
    pub tls12: Attempt,
    pub tls11: Attempt,
    pub tls10: Attempt,
    /// TLS 1.2 offering only legacy suites (RSA key exchange, CBC, 3DES, RC4).
    pub tls12_legacy_suites: Attempt,
    /// The certificate's notAfter, seconds since the epoch.
    pub not_after: Option<i64>,
    /// SHA-256 of the presented leaf certificate (DER), hex: which
    /// certificate the edge serves (PRX-12 compares it with the ACME one).
    #[serde(default)]
    pub leaf_sha256: Option<String>,
    /// `GET /` without a client certificate.
    pub response: Result<Reply, String>,
}

/// Everything observed of one edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeObservation {
    pub address: String,
    pub app: IngressObservation,
    pub api: IngressObservation,
    /// `GET /` on port 80.
    pub http: Result<Reply, String>,
}

/// Observation-only verifier: the probe reads the certificate's dates and
/// judges the server, it does not trust it with anything. Handshake
/// signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct Observe(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Observe {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Observe(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn connect(address: &str, port: u16) -> Result<TcpStream, String> {
    let target = if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    };
    match tokio::time::timeout(TIMEOUT, TcpStream::connect(&target)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("{target}: {e}")),
        Err(_) => Err(format!("{target}: no answer within {}s", TIMEOUT.as_secs())),
    }
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A rustls handshake limited to `versions`.
async fn handshake(
    address: &str,
    port: u16,
    sni: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (Attempt, Option<Tls>) {
    let tcp = match connect(address, port).await {
        Ok(t) => t,
        Err(e) => return (Attempt::unreachable(e), None),
    };
    let config = match client_config(versions) {
        Ok(c) => c,
        Err(e) => return (Attempt::unreachable(e), None),
    };
    let Ok(name) = ServerName::try_from(sni.to_string()) else {
        return (
            Attempt::unreachable(format!("invalid server name {sni:?}")),
            None,
        );
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            let detail = format!(
                "{:?} {:?}",
                conn.protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                conn.negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
                    .unwrap_or_default()
            )
            .replace('"', "");
            (Attempt::accepted(detail), Some(tls))
        }
        Ok(Err(e)) => (Attempt::refused(e.to_string()), None),
        Err(_) => (Attempt::unreachable("the handshake timed out"), None),
    }
}

fn peer_leaf_sha256(tls: &Tls) -> Option<String> {
    use sha2::Digest;
    let (_, conn) = tls.get_ref();
    let leaf = conn.peer_certificates()?.first()?;
    Some(data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(leaf.as_ref())))
}

fn peer_not_after(tls: &Tls) -> Option<i64> {
    let (_, conn) = tls.get_ref();
    let leaf = conn.peer_certificates()?.first()?;
    crate::ca::der_not_after(leaf.as_ref()).ok()
}

/// Reads a response's status line and headers (the body is not read).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Reply, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEADER_BYTES {
            return Err("response headers too long".into());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            if buf.is_empty() {
                return Err("the connection was closed without an answer".into());
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_head(&String::from_utf8_lossy(&buf))
}

pub fn parse_head(text: &str) -> Result<Reply, String> {
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    Ok(Reply { status, headers })
}

async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
) -> Result<Reply, String> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rampart-verify\r\nConnection: close\r\n\r\n"
    );
    let exchange = async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_head(stream).await
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within the timeout".into()))
}

/// A TLS 1.0/1.1/1.2 ClientHello offering `suites`, with SNI, the usual
/// groups and signature algorithms: enough for any server that would
/// accept that version to answer with a ServerHello.
pub fn client_hello(version: u16, suites: &[u16], sni: &str) -> Vec<u8> {
    fn u16be(v: usize) -> [u8; 2] {
        u16::try_from(v).unwrap_or(u16::MAX).to_be_bytes()
    }
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    if !name.is_empty() && sni.parse::<std::net::IpAddr>().is_err() {
        ext.extend_from_slice(&[0x00, 0x00]);
        ext.extend_from_slice(&u16be(name.len() + 5));
        ext.extend_from_slice(&u16be(name.len() + 3));
        ext.push(0);
        ext.extend_from_slice(&u16be(name.len()));
        ext.extend_from_slice(name);
    }
    // supported_groups: secp256r1, secp384r1, x25519
    ext.extend_from_slice(&[
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x17, 0x00, 0x18, 0x00, 0x1d,
    ]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms (TLS 1.2 reads it; older versions ignore it)
    let sigs: [u16; 8] = [
        0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201, 0x0203,
    ];
    ext.extend_from_slice(&[0x00, 0x0d]);
    ext.extend_from_slice(&u16be(sigs.len() * 2 + 2));
    ext.extend_from_slice(&u16be(sigs.len() * 2));
    for s in sigs {
        ext.extend_from_slice(&s.to_be_bytes());
    }
    // renegotiation_info, empty
    ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);

    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    let seed = crate::inventory::hex_sha256(
        format!("{sni}{version}{:?}", std::time::SystemTime::now()).as_bytes(),
    );
    body.extend_from_slice(&seed.as_bytes()[..32]);
    body.push(0); // no session id
    body.extend_from_slice(&u16be(suites.len() * 2));
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[0x01, 0x00]); // compression: null only
    body.extend_from_slice(&u16be(ext.len()));
    body.extend_from_slice(&ext);

    let mut hs = vec![0x01];
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    hs.extend_from_slice(&len[1..]);
    hs.extend_from_slice(&body);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16be(hs.len()));
    record.extend_from_slice(&hs);
    record
}

/// Judges the first record a server answers a ClientHello with.
pub fn judge_answer(answer: &[u8], version: u16) -> Attempt {
    match answer {
        [0x16, _, _, _, _, 0x02, _, _, _, v1, v2, ..] => {
            let chosen = u16::from_be_bytes([*v1, *v2]);
            if chosen == version {
                Attempt::accepted(format!("ServerHello for version {chosen:#06x}"))
            } else {
                Attempt::refused(format!("ServerHello for another version {chosen:#06x}"))
            }
        }
        [0x15, _, _, _, _, level, description, ..] => Attempt::refused(format!(
            "alert {description} ({}), level {level}",
            match description {
                40 => "handshake_failure",
                70 => "protocol_version",
                71 => "insufficient_security",
                47 => "illegal_parameter",
                _ => "other",
            }
        )),
        [] => Attempt::refused("the server closed the connection"),
        other => Attempt::refused(format!(
            "no ServerHello (first bytes {:02x?})",
            &other[..other.len().min(8)]
        )),
    }
}

/// Sends a hand-built ClientHello and judges the answer.
async fn legacy_attempt(
    address: &str,
    port: u16,
    sni: &str,
    version: u16,
    suites: &[u16],
) -> Attempt {
    let mut tcp = match connect(address, port).await {
        Ok(t) => t,
        Err(e) => return Attempt::unreachable(e),
    };
    let exchange = async {
        tcp.write_all(&client_hello(version, suites, sni)).await?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 512];
        // The record header and the start of the message are enough.
        while answer.len() < 11 {
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(answer)) => judge_answer(&answer, version),
        // A reset is how some servers refuse.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Attempt::refused("the server reset the connection")
        }
        Ok(Err(e)) => Attempt::unreachable(e.to_string()),
        Err(_) => Attempt::unreachable("no answer within the timeout"),
    }
}

/// Suites a TLS 1.0/1.1 server would choose from (ECDHE and RSA, CBC).
const LEGACY_VERSION_SUITES: &[u16] = &[0xc009, 0xc013, 0xc00a, 0xc014, 0x002f, 0x0035, 0x000a];
/// TLS 1.2 suites Mozilla intermediate excludes: RSA key exchange, CBC,
/// 3DES, RC4.
const LEGACY_TLS12_SUITES: &[u16] = &[
    0x009c, 0x009d, 0x003c, 0x002f, 0x0035, 0xc013, 0xc014, 0xc009, 0xc00a, 0xc027, 0xc023, 0x000a,
    0x0005,
];

async fn observe_ingress(address: &str, port: u16, sni: &str) -> IngressObservation {
    let (tls13, stream13) = handshake(address, port, sni, &[&rustls::version::TLS13]).await;
    let (tls12, _) = handshake(address, port, sni, &[&rustls::version::TLS12]).await;
    let not_after = stream13.as_ref().and_then(peer_not_after);
    let leaf_sha256 = stream13.as_ref().and_then(peer_leaf_sha256);
    let response = match stream13 {
        Some(mut s) => get(&mut s, sni).await,
        None => Err(format!("no TLS 1.3 connection: {}", tls13.detail)),
    };
    IngressObservation {
        port,
        server_name: sni.to_string(),
        tls11: legacy_attempt(address, port, sni, 0x0302, LEGACY_VERSION_SUITES).await,
        tls10: legacy_attempt(address, port, sni, 0x0301, LEGACY_VERSION_SUITES).await,
        tls12_legacy_suites: legacy_attempt(address, port, sni, 0x0303, LEGACY_TLS12_SUITES).await,
        tls13,
        tls12,
        not_after,
        leaf_sha256,
        response,
    }
}

async fn observe_http(address: &str, host: &str) -> Result<Reply, String> {
    let mut tcp = connect(address, 80).await?;
    get(&mut tcp, host).await
}

/// Probes an edge at `address`: the app ingress (443), the collector
/// ingress (8443) and plain HTTP (80).
pub async fn observe(address: &str, app_name: &str, api_name: &str) -> EdgeObservation {
    EdgeObservation {
        address: address.to_string(),
        app: observe_ingress(address, super::render::APP_PORT, app_name).await,
        api: observe_ingress(address, super::render::API_PORT, api_name).await,
        http: observe_http(address, app_name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_is_a_well_formed_record() {
        let hello = client_hello(0x0302, &[0xc013, 0x002f], "app.example.eu");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(record_len, hello.len() - 5);
        assert_eq!(hello[5], 0x01, "ClientHello");
        let hs_len = usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(hs_len, hello.len() - 9);
        assert_eq!(&hello[9..11], &[0x03, 0x02], "client_version TLS 1.1");
        assert!(hello.windows(14).any(|w| w == b"app.example.eu"), "SNI");
        let no_sni = client_hello(0x0301, &[0x002f], "10.0.0.1");
        assert!(
            !no_sni.windows(8).any(|w| w == b"10.0.0.1"),
            "no SNI for an IP"
        );
    }

    #[test]
    fn answers_are_judged_accepted_or_refused() {
        let server_hello = [
            0x16, 0x03, 0x02, 0x00, 0x4a, 0x02, 0x00, 0x00, 0x46, 0x03, 0x02,
        ];
        assert!(judge_answer(&server_hello, 0x0302).accepted);
        let alert = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
        let a = judge_answer(&alert, 0x0302);
        assert!(a.reached && !a.accepted);
        assert!(a.detail.contains("protocol_version"), "{}", a.detail);
        assert!(!judge_answer(&[], 0x0301).accepted);
    }

    #[test]
    fn response_heads_are_parsed() {
        let r = parse_head(
            "HTTP/1.1 301 Moved Permanently\r\nServer: nginx\r\nLocation: https://a.eu/\r\n\r\n",
        )
        .expect("parses");
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("https://a.eu/"));
        assert!(parse_head("SSH-2.0-OpenSSH\r\n").is_err());
    }
}
