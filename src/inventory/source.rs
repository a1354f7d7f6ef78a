//! Reading input files defensively, before any parsing: only regular files
//! (a FIFO would block forever, `/dev/zero` never ends), at most a bounded
//! size, UTF-8 with the position of the first bad byte, and no control
//! characters (YAML forbids them; the parser would only say "at position N").
//!
//! The inventory, `report --from` and `RAMPART_AGE_IDENTITY` files all go
//! through [`read_regular`].

use std::io::Read;
use std::path::Path;

use super::locate::Position;

/// The most rampart reads of one input file (inventory, saved run, identity).
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file could not be read; callers say which file and what it is for.
#[derive(Debug, thiserror::Error)]
pub enum ReadFailure {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is {0}, not a regular file; expected a regular file (rampart does not read pipes, devices, sockets or directories)")]
    NotRegular(&'static str),
    #[error("it is larger than {} MiB; expected a file of at most {} MiB", .limit / 1_048_576, .limit / 1_048_576)]
    TooLarge { limit: u64 },
}

impl ReadFailure {
    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadFailure::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Reads `path` if it is a regular file of at most `limit` bytes. The type
/// is checked before opening (opening a FIFO blocks until a writer comes)
/// and again on the open handle, which is opened non-blocking.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadFailure> {
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadFailure::NotRegular(kind_of(meta.file_type())));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits() | nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadFailure::NotRegular(kind_of(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadFailure::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadFailure::TooLarge { limit });
    }
    Ok(bytes)
}

/// Line and column (1-based, columns in characters) of byte `offset`.
pub fn position_of(text: &str, offset: usize) -> Position {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

/// The text, or the position and value of the first byte that is not UTF-8.
pub fn utf8(bytes: &[u8]) -> Result<&str, (Position, u8)> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let good = e.valid_up_to();
            // The prefix is valid by construction.
            let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
            Err((position_of(prefix, good), bytes[good]))
        }
    }
}

/// The message for a byte that is not UTF-8.
pub fn utf8_message(byte: u8) -> String {
    format!("invalid UTF-8 (byte 0x{byte:02x}); expected UTF-8 text: re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
}

/// Characters YAML does not allow in a document: C0 controls other than
/// tab, line feed and carriage return, DEL, C1 controls other than NEL, and
/// a byte-order mark anywhere but the start.
fn is_forbidden(c: char, at: usize) -> bool {
    match c {
        '\t' | '\n' | '\r' | '\u{85}' => false,
        '\u{feff}' => at != 0,
        c => c.is_control(),
    }
}

/// Every forbidden control character, with its position.
pub fn control_characters(text: &str) -> Vec<(Position, char)> {
    text.char_indices()
        .filter(|(i, c)| is_forbidden(*c, *i))
        .map(|(i, c)| (position_of(text, i), c))
        .collect()
}

/// The message for a control character.
pub fn control_message(c: char) -> String {
    format!(
        "control character U+{:04X} is not allowed in YAML; expected printable text: delete it (inside a double-quoted string it may be written as \"\\u{:04X}\")",
        u32::from(c),
        u32::from(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_located() {
        let bytes = b"hosts:\n  a\xc3\xa9: x\xff\n";
        let (pos, byte) = utf8(bytes).expect_err("bad");
        assert_eq!(pos, Position { line: 2, column: 8 });
        assert_eq!(byte, 0xff);
    }

    #[test]
    fn control_characters_have_positions() {
        let found = control_characters("\u{feff}a: b\n  c: \"d\u{7}\"\n");
        assert_eq!(found, [(Position { line: 2, column: 8 }, '\u{7}')]);
        assert!(control_characters("a:\tb\r\n").is_empty());
    }

    #[test]
    fn fifos_and_devices_are_refused_and_size_is_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert!(matches!(
            read_regular(&fifo, 10),
            Err(ReadFailure::NotRegular("a FIFO (named pipe)"))
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 10),
            Err(ReadFailure::NotRegular("a character device"))
        ));
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(ReadFailure::NotRegular("a directory"))
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, [b'a'; 11]).expect("write");
        assert!(matches!(
            read_regular(&big, 10),
            Err(ReadFailure::TooLarge { limit: 10 })
        ));
        assert_eq!(read_regular(&big, 11).expect("fits").len(), 11);
    }
}
