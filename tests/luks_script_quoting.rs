//! Issue 14 §3: every LUKS script builder quotes every value it interpolates.
//! The inventory now refuses non-canonical disk paths, but the builders must
//! not rely on that: each is fed shell metacharacters in every field (device,
//! mapper, keyfile, label, mount target, filesystem) and run by bash with
//! every external command stubbed and /etc moved into a temporary
//! directory. A payload that ran would create a `pwned` file; none may.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use rampart::controls::luks::{
    crypttab_script, escrow_test_line, format_script, mount_script, rotate_script, FormatPlan,
    MountPlan, Rotation, Volume,
};
use rampart::engine::secret::Secret;

/// Runs only if interpolated unquoted: a command substitution, a backtick,
/// a command separator, a newline, each breaking out of single and double
/// quotes first.
const PAYLOAD: &str = "x'$(: >pwned)'\"$(: >pwned)\"`: >pwned`;: >pwned;\n: >pwned\n&: >pwned|";

const STUBS: &[&str] = &[
    "cryptsetup",
    "wipefs",
    "blkid",
    "install",
    "rm",
    "head",
    "chown",
    "mv",
    "chmod",
    "touch",
    "grep",
    "mkdir",
    "mountpoint",
    "mount",
    "mkfs",
    "backup",
    "cat",
];

fn hostile_volume() -> Volume {
    Volume {
        device: format!("/dev/vdb{PAYLOAD}"),
        short: format!("vdb{PAYLOAD}"),
        mapper: format!("vdb_crypt{PAYLOAD}"),
        keyfile: format!("keys{PAYLOAD}.key"),
        label: format!("h:{PAYLOAD}"),
    }
}

fn hostile_mount() -> MountPlan {
    MountPlan {
        filesystem: format!("ext4{PAYLOAD}"),
        target: format!("srv{PAYLOAD}"),
    }
}

/// Runs `script` in a fresh directory with stubbed commands; returns
/// stdout, after asserting that no payload ran.
fn run_sandboxed(name: &str, script: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(dir.path().join("etc")).expect("etc");
    for stub in STUBS {
        let p = bin.join(stub);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").expect("stub");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let etc = format!("{}/etc/", dir.path().display());
    // The block-device test would end the script before the interesting
    // lines; the stubs stand in for a device.
    let script = script
        .replace("/etc/", &etc)
        .replace("[ -b \"$dev\" ]", "[ -n \"$dev\" ]")
        .replace("export LC_ALL=C PATH=", "export LC_ALL=C IGNORED=");
    let script = format!("{script}\necho @@end\n");
    let out = Command::new("/bin/bash")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", &bin)
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("@@end"),
        "{name} did not run to the end:\n{stdout}\n{stderr}\n{script}"
    );
    let pwned: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(Result::ok)
        // Exactly `pwned`: a quoted keyfile path may create a file whose
        // name merely contains the payload's text.
        .filter(|e| e.file_name() == "pwned")
        .collect();
    assert!(
        pwned.is_empty(),
        "{name}: a payload ran\n{stderr}\n{script}"
    );
    stdout
}

fn prelude(v: &Volume) -> String {
    format!(
        "dev={}\nkf={}\n",
        rampart::transport::shell_quote(&v.device),
        rampart::transport::shell_quote(&v.keyfile)
    )
}

#[test]
fn every_luks_script_builder_quotes_every_value() {
    let v = hostile_volume();
    for wipe in [false, true] {
        let plan = FormatPlan {
            volume: v.clone(),
            wipe,
            sector_size: 4096,
            pbkdf: "--pbkdf argon2id".into(),
            mount: Some(hostile_mount()),
        };
        run_sandboxed("format_script", &format_script(&plan));
    }
    run_sandboxed(
        "crypttab_script",
        &format!("{}{}", prelude(&v), crypttab_script(&v)),
    );
    run_sandboxed(
        "mount_script",
        &format!("{}{}", prelude(&v), mount_script(&v, &hostile_mount())),
    );
    let out = run_sandboxed(
        "escrow_test_line",
        &format!(
            "K0=secret\n{}",
            escrow_test_line("K0", " --key-slot 0", &v.device)
        ),
    );
    assert!(
        out.contains(&format!("@@escrow ok {}", v.device)),
        "the device is reported verbatim: {out}"
    );
    let rotation = Rotation {
        volume: v.clone(),
        old_slot: 0,
        new_slot: 2,
        old_tokens: vec![0],
        new_token: 2,
        pbkdf: "--pbkdf argon2id".into(),
    };
    let secret = Secret::from_text("0123abcd".into()).expect("secret");
    let out = run_sandboxed("rotate_script", &rotate_script(&rotation, &secret));
    assert!(out.contains("@@rotate done"), "{out}");
}

#[test]
fn the_sandbox_would_see_an_unquoted_payload() {
    // The test above proves something only if an unquoted payload is seen.
    let result = std::panic::catch_unwind(|| run_sandboxed("unquoted", &format!("echo {PAYLOAD}")));
    assert!(result.is_err(), "an unquoted payload must be caught");
}
