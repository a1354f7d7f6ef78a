//! Secrets a resource carries to a host, and the escrow that keeps a copy
//! for the operators.
//!
//! A [`Secret`] is one line of printable ASCII (a generated key in hex).
//! It never appears in a command line: the apply script, which travels on
//! stdin, binds it to a shell variable with the `read` builtin from a quoted
//! here-document, and steps hand it to tools on their stdin with the
//! `printf` builtin. Its `Debug` form is masked, so logging a resource or a
//! change cannot print it, and its memory is wiped when dropped.
//!
//! An [`Escrow`] is the age-encrypted copy written on the control machine,
//! atomically and before the host uses the secret, so a crash after the
//! host acted on it cannot lose it.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroize;

/// The shell variable an apply step reads its secret from.
pub const SECRET_VAR: &str = "RAMPART_SECRET";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("a secret must be one line of printable ASCII without quotes")]
    Shape,
    #[error("age encryption of the escrow failed: {0}")]
    Encrypt(#[from] crate::seal::EncryptError),
    #[error("cannot write the escrow {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Identity { path: PathBuf, message: String },
    #[error("cannot decrypt {path} with the identity: {message}")]
    Decrypt { path: PathBuf, message: String },
}

/// A key or passphrase, one line of printable ASCII.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `bytes` bytes from the operating system's CSPRNG, hex-encoded (so a
    /// 64-byte key is a 128-character line an operator can also type).
    pub fn random_hex(bytes: usize) -> Result<Secret, SecretError> {
        let mut raw = vec![0u8; bytes];
        getrandom::fill(&mut raw).map_err(|e| SecretError::Random(e.to_string()))?;
        let text = data_encoding::HEXLOWER.encode(&raw);
        raw.zeroize();
        Ok(Secret(text))
    }

    /// A secret from text (an escrow decrypted locally). Trailing newlines
    /// are dropped; anything that could break the shell binding is refused.
    pub fn from_text(mut text: String) -> Result<Secret, SecretError> {
        let trimmed = text.trim_end_matches(['\n', '\r']).len();
        text.truncate(trimmed);
        let ok = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'\'' && b != b'"' && b != b'\\');
        if ok {
            Ok(Secret(text))
        } else {
            text.zeroize();
            Err(SecretError::Shape)
        }
    }

    /// The secret itself: only for sending it on stdin or escrowing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Shell lines that set `var` to the secret without a command line: the
/// `read` builtin takes it from a quoted here-document (no expansion).
pub fn shell_binding(var: &str, secret: &Secret) -> String {
    format!(
        "IFS= read -r {var} <<'RAMPART_SECRET_EOF'\n{}\nRAMPART_SECRET_EOF\n",
        secret.expose()
    )
}

/// Where the operators' copy of a secret goes: an age file encrypted to
/// the inventory's recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escrow {
    pub path: PathBuf,
    pub recipients: Vec<String>,
}

impl Escrow {
    /// Encrypts and writes the escrow atomically (temp file, fsync, rename;
    /// mode 0600). A previous escrow at the same path is kept beside it as
    /// `NAME.prev` rather than overwritten: the volume it opens may still
    /// exist if the step that replaces it fails.
    pub fn persist(&self, secret: &Secret) -> Result<(), SecretError> {
        let sealed = crate::seal::encrypt(&self.recipients, secret.expose().as_bytes())?;
        let write_err = |source| SecretError::Write {
            path: self.path.clone(),
            source,
        };
        if self.path.exists() {
            let mut prev = self.path.clone().into_os_string();
            prev.push(".prev");
            std::fs::rename(&self.path, PathBuf::from(prev)).map_err(write_err)?;
        }
        write_atomically(&self.path, &sealed).map_err(write_err)
    }
}

/// Writes `data` to `path` through a temporary file in the same directory
/// (created 0600), fsynced, renamed into place, directory fsynced.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomically_with_mode(path, data, 0o600)
}

/// [`write_atomically`] with another mode (public files: 0644).
pub fn write_atomically_with_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Decrypts an escrow file with `identities`.
pub fn open_escrow(
    path: &Path,
    identities: &[Box<dyn age::Identity>],
) -> Result<Secret, SecretError> {
    let sealed = std::fs::read(path).map_err(|source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let fail = |message: String| SecretError::Decrypt {
        path: path.to_path_buf(),
        message,
    };
    let decryptor = age::Decryptor::new(&sealed[..]).map_err(|e| fail(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| fail(e.to_string()))?;
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(plain).map_err(|e| {
        let mut bytes = e.into_bytes();
        bytes.zeroize();
        fail("the escrow is not text".into())
    })?;
    Secret::from_text(text).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_are_long_distinct_and_masked_in_debug() {
        let a = Secret::random_hex(64).expect("random");
        let b = Secret::random_hex(64).expect("random");
        assert_eq!(a.expose().len(), 128);
        assert_ne!(a, b);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(format!("{a:?}"), "Secret(hidden)");
        assert!(!format!("{:?}", vec![a.clone()]).contains(a.expose()));
    }

    #[test]
    fn text_that_could_escape_the_binding_is_refused() {
        assert!(Secret::from_text("abc\n".into()).is_ok());
        for bad in ["", "a b", "a\nb", "it's", "RAMPART_SECRET_EOF\nx"] {
            assert!(Secret::from_text(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_binding_is_a_quoted_heredoc_read_by_a_builtin() {
        let s = Secret::from_text("deadbeef".into()).expect("secret");
        let b = shell_binding(SECRET_VAR, &s);
        assert_eq!(
            b,
            "IFS= read -r RAMPART_SECRET <<'RAMPART_SECRET_EOF'\ndeadbeef\nRAMPART_SECRET_EOF\n"
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{b}printf '%s' \"$RAMPART_SECRET\""))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "deadbeef");
    }

    #[test]
    fn escrow_round_trips_is_private_and_keeps_the_previous_copy() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let id = age::x25519::Identity::generate();
        let escrow = Escrow {
            path: dir.path().join("secrets/luks/h-vdb.age"),
            recipients: vec![id.to_public().to_string()],
        };
        let first = Secret::random_hex(8).expect("random");
        escrow.persist(&first).expect("persist");
        let mode = std::fs::metadata(&escrow.path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The age identity itself: reading identity files is `ca::identity`'s
        // concern, and the engine sits below `ca`.
        let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(id.clone())];
        assert_eq!(open_escrow(&escrow.path, &ids).expect("opens"), first);
        let second = Secret::random_hex(8).expect("random");
        escrow.persist(&second).expect("persist again");
        assert_eq!(open_escrow(&escrow.path, &ids).expect("opens"), second);
        let prev = dir.path().join("secrets/luks/h-vdb.age.prev");
        assert_eq!(open_escrow(&prev, &ids).expect("prev opens"), first);
        let stray: Vec<_> = std::fs::read_dir(dir.path().join("secrets/luks"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(stray.is_empty(), "no temporary file left");
    }
}
