//! Waiting for a host to finish booting before rampart logs in as anyone
//! but root. While systemd boots, `/run/nologin` exists (tmpfiles creates
//! it in sysinit; `systemd-user-sessions.service` removes it), and Debian's
//! `/etc/pam.d/sshd` has `account required pam_nologin.so`: sshd already
//! accepts connections, root is exempt, every other account is refused
//! ("Access denied for user ops by PAM account configuration"). A server
//! just created at a provider, just rebooted or a lab host under load is in
//! that window for seconds.

use crate::transport::{Session, TransportError};

/// How long a boot may take before rampart gives up on the host.
pub const BOOT_WAIT_SECS: u32 = 180;

/// What the wait saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Logins were already allowed.
    Finished,
    /// Logins became allowed after this many seconds.
    FinishedAfter(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(
        "the host is still booting after {secs} s (/run/nologin is present, so sshd refuses every \
         account but root); `systemctl list-jobs` on the host shows what it waits for"
    )]
    StillBooting { secs: u32 },
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A bounded wait, run on the host in one exec: one check per second.
pub fn wait_script(limit_secs: u32) -> String {
    format!(
        "i=0\nwhile [ -e /run/nologin ] && [ \"$i\" -lt {limit_secs} ]; do sleep 1; i=$((i+1)); done\n\
         if [ -e /run/nologin ]; then echo \"@@booting $i\"; else echo \"@@booted $i\"; fi\n"
    )
}

/// Reads the script's answer.
pub fn parse_wait(stdout: &str) -> Result<Boot, BootError> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("@@boot"))
        .unwrap_or("");
    let secs = |rest: &str| rest.trim().parse::<u32>().unwrap_or(0);
    if let Some(rest) = line.strip_prefix("@@booted ") {
        return Ok(match secs(rest) {
            0 => Boot::Finished,
            n => Boot::FinishedAfter(n),
        });
    }
    Err(BootError::StillBooting {
        secs: line.strip_prefix("@@booting ").map(secs).unwrap_or(0),
    })
}

/// Waits (at most [`BOOT_WAIT_SECS`]) until non-root logins are allowed,
/// over a session whose account pam_nologin exempts (root).
pub async fn wait_until_booted(session: &Session) -> Result<Boot, BootError> {
    let out = session
        .run("sh -s", wait_script(BOOT_WAIT_SECS).as_bytes())
        .await?;
    parse_wait(&out.stdout_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_bounded_and_its_answer_read() {
        let s = wait_script(5);
        assert!(s.contains("-lt 5"), "{s}");
        assert_eq!(parse_wait("@@booted 0\n").ok(), Some(Boot::Finished));
        assert_eq!(
            parse_wait("@@booted 3\n").ok(),
            Some(Boot::FinishedAfter(3))
        );
        let e = parse_wait("@@booting 5\n").unwrap_err().to_string();
        assert!(e.starts_with("the host is still booting after 5 s"), "{e}");
        assert!(parse_wait("").is_err(), "no answer is not a finished boot");
    }

    #[test]
    fn the_script_really_waits_for_nologin_to_go() {
        // Run it against a scratch directory standing in for /run.
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = dir.path().join("nologin");
        std::fs::write(&flag, "booting").expect("flag");
        let script = wait_script(10).replace("/run/nologin", &flag.to_string_lossy());
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        std::fs::remove_file(&flag).expect("boot finishes");
        let out = child.wait_with_output().expect("script ends");
        let answer = parse_wait(&String::from_utf8_lossy(&out.stdout));
        assert!(
            matches!(answer, Ok(Boot::FinishedAfter(n)) if (1..=3).contains(&n)),
            "{answer:?}"
        );
    }
}
