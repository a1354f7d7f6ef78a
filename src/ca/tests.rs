use super::*;

fn identity() -> (Identity, Vec<String>) {
    use age::secrecy::ExposeSecret;
    let key = age::x25519::Identity::generate();
    let recipients = vec![key.to_public().to_string()];
    let id = Identity::parse(key.to_string().expose_secret()).expect("identity");
    (id, recipients)
}

fn fresh() -> (tempfile::TempDir, CaPaths, Identity, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = CaPaths::new(dir.path());
    let (id, recipients) = identity();
    Ca::init(&paths, &recipients).expect("init");
    (dir, paths, id, recipients)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn init_writes_a_ca_whose_key_is_only_stored_encrypted() {
    let (_dir, paths, id, recipients) = fresh();
    let sealed = std::fs::read(paths.key()).expect("key");
    assert!(
        sealed.starts_with(b"age-encryption.org/v1\n"),
        "age binary format"
    );
    assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
    assert_eq!(mode(&paths.key()), 0o600);
    let plain = id.decrypt(&sealed, &paths.key()).expect("decrypts");
    assert!(String::from_utf8_lossy(&plain).contains("PRIVATE KEY"));
    let ca_pem = std::fs::read_to_string(paths.cert()).expect("cert");
    let (_, p) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).expect("pem");
    let cert = p.parse_x509().expect("x509");
    assert!(cert.is_ca());
    assert!(
        crl_serials(&std::fs::read_to_string(paths.crl()).expect("crl"))
            .expect("crl parses")
            .is_empty()
    );
    assert!(matches!(
        Ca::init(&paths, &recipients),
        Err(CaError::Exists(_))
    ));
}

#[test]
fn issued_client_certificates_chain_to_the_ca_with_client_auth() {
    let (_dir, paths, id, _) = fresh();
    let mut ca = Ca::open(&paths).expect("open");
    let signer = ca.unlock(&id).expect("unlock");
    let issued = ca.issue_client(&signer, "collector-1", 30).expect("issue");
    let (_, p) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).expect("pem");
    let cert = p.parse_x509().expect("x509");
    let eku = cert
        .extended_key_usage()
        .expect("eku parses")
        .expect("eku present");
    assert!(eku.value.client_auth && !eku.value.server_auth);
    assert!(!cert.is_ca());
    let (_, ca_p) = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes()).expect("pem");
    let ca_cert = ca_p.parse_x509().expect("ca");
    assert_eq!(cert.issuer(), ca_cert.subject());
    cert.verify_signature(Some(ca_cert.public_key()))
        .expect("signed by the CA key");
    let days = days_until(cert_not_after(&issued.cert_pem).expect("not after"));
    assert!((29..=30).contains(&days), "{days}");
    assert_eq!(hex(cert.raw_serial()), issued.serial);
    let reopened = Ca::open(&paths).expect("reopen");
    let entry = reopened.index.current("collector-1").expect("indexed");
    assert_eq!(entry.kind, Kind::Client);
    assert!(issued.key_pem.contains("PRIVATE KEY"));
    assert!(
        !format!("{issued:?}").contains("PRIVATE"),
        "debug hides the key"
    );
}

#[test]
fn revoked_serials_appear_in_a_fresh_long_lived_crl() {
    let (_dir, paths, id, _) = fresh();
    let mut ca = Ca::open(&paths).expect("open");
    let signer = ca.unlock(&id).expect("unlock");
    let a = ca.issue_client(&signer, "a", 10).expect("a");
    let b = ca.issue_client(&signer, "b", 10).expect("b");
    let before = ca.index.crl_number;
    assert_eq!(
        ca.revoke(&signer, "a").expect("revoke"),
        vec![a.serial.clone()]
    );
    assert!(ca.index.crl_number > before, "CRL numbers grow");
    let crl = std::fs::read_to_string(paths.crl()).expect("crl");
    let serials = crl_serials(&crl).expect("parses");
    assert_eq!(serials, vec![a.serial]);
    assert!(!serials.contains(&b.serial));
    let left = days_until(crl_next_update(&crl).expect("next update"));
    assert!(left >= CRL_DAYS - 1, "{left}");
    assert!(matches!(
        ca.revoke(&signer, "a"),
        Err(CaError::AlreadyRevoked(_))
    ));
    assert!(matches!(
        ca.revoke(&signer, "nobody"),
        Err(CaError::Unknown(_))
    ));
    let (_, p) = x509_parser::pem::parse_x509_pem(crl.as_bytes()).expect("pem");
    let (_, parsed) = x509_parser::parse_x509_crl(&p.contents).expect("crl");
    let (_, ca_p) = x509_parser::pem::parse_x509_pem(ca.cert_pem.as_bytes()).expect("pem");
    let ca_cert = ca_p.parse_x509().expect("ca");
    assert_eq!(parsed.issuer(), ca_cert.subject());
}

#[test]
fn server_certificates_name_the_host_and_record_the_key_hash() {
    let (_dir, paths, id, _) = fresh();
    let mut ca = Ca::open(&paths).expect("open");
    let signer = ca.unlock(&id).expect("unlock");
    let names = vec!["app.example.eu".to_string(), "10.0.0.7".to_string()];
    let issued = ca
        .issue_server(&signer, "edge-1", &names, 90)
        .expect("issue");
    let (_, p) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).expect("pem");
    let cert = p.parse_x509().expect("x509");
    let san = cert
        .subject_alternative_name()
        .expect("san parses")
        .expect("san present");
    assert_eq!(san.value.general_names.len(), 2);
    let eku = cert.extended_key_usage().expect("eku").expect("present");
    assert!(eku.value.server_auth);
    let entry = ca.index.current("edge-1").expect("indexed");
    assert_eq!(
        entry.key_sha256.as_deref(),
        Some(sha256_hex(&issued.key_pem).as_str())
    );
    assert!(
        !has_ocsp_responder(&issued.cert_pem),
        "rampart's CA runs no OCSP responder"
    );
}

#[test]
fn a_wrong_identity_or_name_is_refused_clearly() {
    let (_dir, paths, _, _) = fresh();
    let (other, _) = identity();
    let ca = Ca::open(&paths).expect("open");
    assert!(matches!(ca.unlock(&other), Err(CaError::Decrypt { .. })));
    assert!(matches!(
        Identity::parse("AGE-SECRET-KEY-NOPE"),
        Err(CaError::Identity(_))
    ));
    assert!(matches!(
        Identity::parse("# only a comment\n"),
        Err(CaError::Identity(_))
    ));
    for bad in ["", "../x", ".hidden", "a b", "x/y"] {
        assert!(!valid_name(bad), "{bad:?}");
    }
    assert!(valid_name("collector-1.eu_west"));
    let missing = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        Ca::open(&CaPaths::new(missing.path())),
        Err(CaError::Missing(_))
    ));
}

#[test]
fn files_are_written_atomically_with_their_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/x.key");
    write_file(&path, b"one", 0o600).expect("write");
    write_file(&path, b"two", 0o600).expect("rewrite");
    assert_eq!(std::fs::read(&path).expect("read"), b"two");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        std::fs::read_dir(dir.path().join("sub"))
            .expect("dir")
            .count(),
        1
    );
}
