//! Age sealing to the inventory's `secrets.recipients`: report files for
//! delivery (`--encrypt`), the CA's key, secret escrows and the mesh's
//! preshared keys. A basic below every layer that seals, so none of them
//! reaches into another for it. Encryption happens in memory, so the
//! plaintext never touches the disk.

use std::io::Write;
use std::str::FromStr;

// The messages are the ones `--encrypt` has always printed; tests pin them.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("no age recipients: set secrets.recipients in the inventory to encrypt reports")]
    NoRecipients,
    #[error("{0:?} is not an age X25519 recipient")]
    Recipient(String),
    #[error("age encryption failed: {0}")]
    Age(String),
}

/// Encrypts `plaintext` to every recipient (binary age format).
pub fn encrypt(recipients: &[String], plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    if recipients.is_empty() {
        return Err(EncryptError::NoRecipients);
    }
    let parsed = recipients
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r.trim())
                .map_err(|_| EncryptError::Recipient(r.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| EncryptError::Age(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| EncryptError::Age(e.to_string()))?;
    writer
        .write_all(plaintext)
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| EncryptError::Age(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn every_recipient_can_decrypt() {
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let recipients = vec![a.to_public().to_string(), b.to_public().to_string()];
        let sealed = encrypt(&recipients, b"report").expect("encrypts");
        assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
        for id in [&a, &b] {
            let key = id.to_string();
            let id = age::x25519::Identity::from_str(key.expose_secret()).expect("identity");
            assert_eq!(age::decrypt(&id, &sealed).expect("decrypts"), b"report");
        }
        assert!(matches!(
            encrypt(&[], b"x"),
            Err(EncryptError::NoRecipients)
        ));
        assert!(matches!(
            encrypt(&["age1nope".into()], b"x"),
            Err(EncryptError::Recipient(_))
        ));
    }
}
