//! Thin helpers over the system commands the lab drives (ip, nft, mount,
//! losetup, debootstrap, ssh-keygen). Every failure names the command and
//! its stderr.

use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab needs root on Linux (it creates network namespaces, mounts and containers); run it with sudo or as root")]
    NotRoot,
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    State(String),
    #[error("host {host} did not answer SSH on {address}:22 within {secs}s; see {}", log.display())]
    BootTimeout {
        host: String,
        address: String,
        secs: u64,
        log: std::path::PathBuf,
    },
}

pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Io { context, source }
}

/// Runs a command to completion; non-zero exit is an error with stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, LabError> {
    let rendered = format!("{program} {}", args.join(" "));
    tracing::debug!(command = %rendered, "lab");
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: rendered.clone(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: rendered,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

/// Runs a command whose failure is expected during clean-up (already gone).
pub fn run_quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Feeds `input` to a command on stdin (nft -f -).
pub fn run_with_stdin(program: &str, args: &[&str], input: &str) -> Result<(), LabError> {
    use std::io::Write;
    let rendered = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Command {
            command: rendered.clone(),
            detail: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(io(format!("writing to {rendered}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io(format!("waiting for {rendered}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: rendered,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

pub fn have(program: &str) -> bool {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ]
    .iter()
    .any(|d| Path::new(d).join(program).exists())
}

pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    let _ = std::fs::remove_file(path);
    std::fs::write(path, contents).map_err(io(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))
}
