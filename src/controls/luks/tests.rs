use super::checks::keyslot_problems;
use super::vars::{filesystem, mountpoint, pbkdf_flags};
use super::*;
use crate::controls::context::HostCtx;
use crate::controls::outcome::Outcome;
use crate::engine::resource::{Action, Resource};
use crate::engine::secret::{Escrow, Secret};
use crate::facts::{BlockDevice, EscrowTest, Facts, Probe};
use crate::facts::{LuksDiskProbe, Mount, Signature};
use crate::inventory::{Host, Inventory};
use std::path::Path;

fn recorded(name: &str) -> Facts {
    let text = match name {
        "blank" => include_str!("../../../tests/fixtures/facts/luks-blank.json"),
        "ext4" => include_str!("../../../tests/fixtures/facts/luks-ext4.json"),
        _ => include_str!("../../../tests/fixtures/facts/luks-formatted.json"),
    };
    serde_json::from_str(text).expect("recorded facts parse")
}

const RECIPIENT: &str = "age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74";

fn inventory(dir: &Path, recipients: bool) -> Inventory {
    let secrets = if recipients {
        format!("secrets:\n  recipients: [\"{RECIPIENT}\"]\n")
    } else {
        String::new()
    };
    let text = format!(
        "{secrets}hosts:\n  luks-1:\n    address: 10.0.0.1\n    roles: [luks]\n    disks: [/dev/vdb]\n  plain:\n    address: 10.0.0.2\n    roles: [base]\n"
    );
    Inventory::parse(&dir.join("inventory.yaml"), &text).expect("valid inventory")
}

fn vars() -> crate::controls::Vars {
    let profiles = crate::controls::builtin_profiles().expect("profiles");
    let luks: Vec<&crate::controls::Profile> =
        profiles.iter().filter(|p| p.profile == "luks").collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path(), true);
    crate::controls::dispatch::host_vars(
        &Default::default(),
        &luks,
        "13",
        inv.host("luks-1").expect("host"),
    )
}

fn with_ctx<T>(facts: &Facts, recipients: bool, f: impl FnOnce(&HostCtx) -> T) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path(), recipients);
    let vars = vars();
    let ctx = HostCtx {
        host: inv.host("luks-1").expect("host"),
        inventory: &inv,
        facts,
        vars: &vars,
        mesh: &Default::default(),
    };
    f(&ctx)
}

fn actions(resources: &[Resource]) -> Vec<&Action> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::Action(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_volume_is_named_after_host_and_device() {
    let v = Volume::new("web-1", Path::new("/dev/vdb"));
    assert_eq!(v.short, "vdb");
    assert_eq!(v.mapper, "vdb_crypt");
    assert_eq!(v.keyfile, "/etc/cryptsetup-keys.d/vdb_crypt.key");
    assert_eq!(v.label, "web-1:vdb");
    assert_eq!(v.consent("web-1"), "web-1:/dev/vdb");
    let by_id = Volume::new("db-1", Path::new("/dev/disk/by-id/scsi-0HC_Volume_1"));
    assert_eq!(by_id.short, "disk-by-id-scsi-0HC_Volume_1");
    assert_eq!(by_id.mapper, "disk_by_id_scsi_0HC_Volume_1_crypt");
    let long = Volume::new(&"h".repeat(60), Path::new("/dev/vdb"));
    assert_eq!(long.label.len(), 47, "LUKS2 labels hold 47 bytes");
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path(), true);
    assert_eq!(
        escrow_path(
            &inv,
            "luks-1",
            &Volume::new("luks-1", Path::new("/dev/vdb"))
        ),
        dir.path().join("secrets/luks/luks-1-vdb.age")
    );
}

#[test]
fn blank_is_decided_from_signatures_wipefs_and_lsblk() {
    assert_eq!(disk_state(&recorded("blank"), "/dev/vdb"), DiskState::Blank);
    match disk_state(&recorded("ext4"), "/dev/vdb") {
        DiskState::NotBlank(found) => {
            assert!(found[0].starts_with("ext4 (UUID "), "{found:?}");
            assert_eq!(
                found.len(),
                1,
                "wipefs's ext4 is the same signature: {found:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match disk_state(&recorded("formatted"), "/dev/vdb") {
        DiskState::Luks { version, header } => {
            assert_eq!(version, "2");
            assert!(header.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        disk_state(&recorded("blank"), "/dev/vdc"),
        DiskState::Missing
    );
}

#[test]
fn anything_using_the_device_makes_it_not_blank() {
    let found = |edit: &dyn Fn(&mut Facts)| {
        let mut f = recorded("blank");
        edit(&mut f);
        match disk_state(&f, "/dev/vdb") {
            DiskState::NotBlank(found) => found.join("; "),
            other => panic!("{other:?}"),
        }
    };
    let probe = |f: &mut Facts| f.luks.disks.get_mut("/dev/vdb").expect("probed").clone();
    assert!(found(&|f| {
        let mut p = probe(f);
        p.holders = vec!["dm-0".into()];
        f.luks.disks.insert("/dev/vdb".into(), p);
    })
    .contains("holders dm-0"));
    assert!(found(&|f| {
        let mut p = probe(f);
        p.swap = vec!["/dev/vdb".into()];
        f.luks.disks.insert("/dev/vdb".into(), p);
    })
    .contains("swap"));
    assert!(found(&|f| {
        let mut p = probe(f);
        p.wipefs = Probe::Ok(vec![Signature {
            kind: "xfs".into(),
            offset: "0x0".into(),
        }]);
        f.luks.disks.insert("/dev/vdb".into(), p);
    })
    .contains("a xfs signature at offset 0x0"));
    assert!(found(&|f| {
        f.luks
            .disks
            .insert("/dev/vdb".into(), LuksDiskProbe::default());
    })
    .contains("wipefs did not probe"));
    assert!(found(&|f| {
        f.disks
            .get_mut("/dev/vdb")
            .expect("disk")
            .signature
            .insert("PTTYPE".into(), "gpt".into());
    })
    .contains("a gpt partition table"));
    assert!(found(&|f| {
        let node = f
            .block_devices
            .iter_mut()
            .find(|d| d.majmin == "7:0")
            .expect("loop0");
        node.children.push(BlockDevice {
            name: "loop0p1".into(),
            kind: "part".into(),
            ..Default::default()
        });
    })
    .contains("partitions loop0p1"));
    assert!(found(&|f| {
        f.mounts.push(Mount {
            target: "/mnt".into(),
            source: "/dev/vdb".into(),
            fstype: "ext4".into(),
            options: String::new(),
        });
    })
    .contains("mounts at /mnt"));
    assert!(found(&|f| f.block_devices.clear()).contains("no lsblk entry"));
}

#[test]
fn headers_are_judged_on_cipher_key_size_and_sectors() {
    let f = recorded("formatted");
    let DiskState::Luks {
        header: Some(h), ..
    } = disk_state(&f, "/dev/vdb")
    else {
        panic!("formatted");
    };
    assert!(header_problems(&h, Some(64 << 20)).is_empty());
    assert_eq!(keyslot_problems(&h), None);
    let mut weak = h.clone();
    weak["segments"]["0"]["encryption"] = "aes-cbc-essiv:sha256".into();
    weak["segments"]["0"]["sector_size"] = 512.into();
    for slot in ["0", "1"] {
        weak["keyslots"][slot]["key_size"] = 32.into();
    }
    assert_eq!(
        header_problems(&weak, Some(64 << 20)),
        [
            "cipher aes-cbc-essiv:sha256 (expected aes-xts-plain64)",
            "256-bit volume key (expected 512)",
            "512-byte sectors (expected 4096)"
        ]
    );
    assert_eq!(
        header_problems(&weak, Some(4096 * 3 + 512)).len(),
        2,
        "512-byte sectors where 4096 do not fit"
    );
    let mut extra = h.clone();
    extra["keyslots"]["2"] = h["keyslots"]["0"].clone();
    assert_eq!(
        keyslot_problems(&extra).as_deref(),
        Some("3 keyslots; keyslot(s) 2 beyond the expected ones")
    );
    let mut untracked = h.clone();
    untracked["tokens"] = serde_json::json!({});
    let p = keyslot_problems(&untracked).expect("problems");
    assert!(
        p.contains("0 escrow keyslot(s)") && p.contains("keyslot(s) 0, 1 beyond"),
        "{p}"
    );
}

#[test]
fn a_blank_disk_gets_a_format_step_with_an_escrowed_secret() {
    let f = recorded("blank");
    with_ctx(&f, true, |ctx| {
        let r = resources(ctx).expect("resources");
        let a = actions(&r);
        assert_eq!(a.len(), 1);
        let a = a[0];
        let secret = a.secret.as_ref().expect("a key");
        assert_eq!(secret.expose().len(), KEY_BYTES * 2);
        assert!(a.destroys.is_none(), "blank: nothing destroyed");
        let escrow = a.escrow.as_ref().expect("escrow");
        assert!(escrow.path.ends_with("secrets/luks/luks-1-vdb.age"));
        assert_eq!(escrow.recipients, [RECIPIENT]);
        assert!(
            a.summary
                .contains("open, mkfs, mount: not applicable: no device-mapper"),
            "{}",
            a.summary
        );
        // The key is nowhere but in the secret: not the script, the
        // summary, the plan's change, nor any Debug rendering.
        let change = Resource::Action(Box::new(a.clone()))
            .diff(&f)
            .expect("a change");
        for text in [
            a.script.clone(),
            a.summary.clone(),
            format!("{a:?}"),
            format!("{change:?}"),
            change.to_string(),
        ] {
            assert!(!text.contains(secret.expose()), "key leaked into {text}");
        }
    });
}

#[test]
fn a_disk_holding_data_is_refused_unless_named_for_this_run() {
    let f = recorded("ext4");
    with_ctx(&f, true, |ctx| {
        let r = resources(ctx).expect("resources");
        let a = actions(&r);
        let d = a[0].destroys.as_ref().expect("destructive");
        assert_eq!(d.target, "luks-1:/dev/vdb");
        assert!(d.found.starts_with("found ext4 (UUID "), "{}", d.found);
        assert!(a[0].script.contains("wipefs -a -q \"$dev\""));
        // The refusal itself is the stage's (ops::safety, above controls):
        // tests/controls_luks.rs plans these recorded facts and is refused.
    });
    let blank = recorded("blank");
    with_ctx(&blank, true, |ctx| {
        let r = resources(ctx).expect("resources");
        assert!(
            !actions(&r)[0].script.contains("wipefs -a"),
            "a blank disk is never wiped"
        );
    });
}

#[test]
fn a_compliant_volume_needs_nothing_and_a_lost_crypttab_line_is_restored() {
    let mut f = recorded("formatted");
    with_ctx(&f, true, |ctx| {
        assert!(resources(ctx).expect("resources").is_empty())
    });
    f.luks.crypttab = Some(String::new());
    with_ctx(&f, true, |ctx| {
        let r = resources(ctx).expect("resources");
        let a = actions(&r);
        assert_eq!(a.len(), 1);
        assert!(a[0].summary.starts_with("luks crypttab entry vdb_crypt"));
        assert!(
            a[0].secret.is_none(),
            "the keyfile is on the host: no key travels"
        );
    });
    f.luks.device_mapper = true;
    with_ctx(&f, true, |ctx| {
        let r = resources(ctx).expect("resources");
        let mount = actions(&r)
            .into_iter()
            .find(|a| a.summary.starts_with("luks open"))
            .expect("mount step");
        assert!(mount.summary.contains("/srv/data"));
    });
}

#[test]
fn a_declared_disk_the_host_lacks_fails_the_plan() {
    let mut f = recorded("blank");
    f.disks.get_mut("/dev/vdb").expect("disk").present = false;
    with_ctx(&f, true, |ctx| {
        let err = resources(ctx).expect_err("missing disk");
        assert!(
            err.contains("declared disk /dev/vdb is not a block device"),
            "{err}"
        );
    });
}

#[test]
fn the_format_script_hands_the_key_to_cryptsetup_on_stdin_only() {
    let plan = FormatPlan {
        volume: Volume::new("luks-1", Path::new("/dev/vdb")),
        wipe: false,
        sector_size: 4096,
        pbkdf: "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4".into(),
        mount: None,
    };
    let s = format_script(&plan);
    assert!(s.contains("printf '%s' \"$RAMPART_SECRET\" | cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 --key-size 512 --hash sha256 --pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4 --sector-size 4096 --label luks-1:vdb --key-slot 0 --key-file=- \"$dev\""), "{s}");
    assert!(
        s.contains("--key-slot 0 --new-key-slot 1 --key-file=- \"$dev\" \"$kf\""),
        "{s}"
    );
    assert!(s.contains("rampart-escrow") && s.contains("rampart-keyfile"));
    assert!(s.contains("printf '%s UUID=%s %s luks,nofail' vdb_crypt \"$uuid\" /etc/cryptsetup-keys.d/vdb_crypt.key"), "{s}");
    assert!(
        s.contains("is no longer blank"),
        "blankness is checked again on the host"
    );
    for line in s.lines().filter(|l| l.contains("RAMPART_SECRET")) {
        assert!(
            line.starts_with("printf '%s' \"$RAMPART_SECRET\" | cryptsetup "),
            "only the printf builtin sees the key: {line}"
        );
        assert!(line.contains("--key-file=-"), "{line}");
    }
    assert!(!s.contains("set -x") && !s.contains("echo \"$RAMPART_SECRET"));
    assert!(
        !s.contains("mkfs") && !s.contains("/etc/fstab"),
        "no device-mapper: no mount steps"
    );
    syntax_ok(&s);
}

#[test]
fn open_mkfs_and_mount_are_rendered_for_device_mapper_hosts() {
    // The lab's kernel has no device-mapper, so these steps cannot run
    // there; their rendering is checked here instead.
    let v = Volume::new("luks-1", Path::new("/dev/vdb"));
    let m = MountPlan {
        filesystem: "ext4".into(),
        target: "/srv/data".into(),
    };
    let s = mount_script(&v, &m);
    assert!(
        s.contains(
            "[ -e /dev/mapper/vdb_crypt ] || cryptsetup open --key-file \"$kf\" \"$dev\" vdb_crypt"
        ),
        "{s}"
    );
    assert!(s.contains("if [ -z \"$(blkid -p -o value -s TYPE /dev/mapper/vdb_crypt)\" ]; then mkfs -t ext4 -q /dev/mapper/vdb_crypt; fi"), "mkfs only on an empty mapping: {s}");
    assert!(
        s.contains("echo '/dev/mapper/vdb_crypt /srv/data ext4 defaults,nofail 0 2'"),
        "{s}"
    );
    assert!(s.contains("mountpoint -q /srv/data || mount /srv/data"));
    let full = format_script(&FormatPlan {
        volume: v,
        wipe: true,
        sector_size: 4096,
        pbkdf: "--pbkdf argon2id".into(),
        mount: Some(m),
    });
    assert!(
        full.find("luksFormat") < full.find("cryptsetup open"),
        "format, then open"
    );
    syntax_ok(&full);
}

#[test]
fn several_disks_and_overrides_choose_mountpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "secrets:\n  recipients: [\"age1y88fr9fyls6hwygtpfdc3cu2n36cqfk362kzc5tcghf3lkkamursy8wk74\"]\nhosts:\n  db-1:\n    address: 10.0.0.1\n    roles: [base]\n    disks: [/dev/vdb, /dev/vdc]\n    vars:\n      luks_mounts: {/dev/vdc: /srv/pg}\n";
    let inv = Inventory::parse(&dir.path().join("i.yaml"), text).expect("valid");
    let host = inv.host("db-1").expect("host");
    assert!(
        host.has_profile("luks"),
        "declaring disks puts the luks profile in force"
    );
    let mut vars = vars();
    vars.extend(host.vars.clone());
    let facts = Facts::default();
    let ctx = HostCtx {
        host,
        inventory: &inv,
        facts: &facts,
        vars: &vars,
        mesh: &Default::default(),
    };
    let vols = volumes(host);
    assert_eq!(mountpoint(&ctx, &vols[0]), "/srv/data-vdb");
    assert_eq!(mountpoint(&ctx, &vols[1]), "/srv/pg");
    assert_eq!(filesystem(&ctx), "ext4");
    assert_eq!(
        pbkdf_flags(&ctx),
        "--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4"
    );
}

fn syntax_ok(script: &str) {
    let wrapped = Resource::Action(Box::new(Action {
        summary: String::new(),
        script: script.into(),
        secret: Some(Secret::from_text("00ff".into()).expect("secret")),
        escrow: None,
        destroys: None,
    }))
    .script();
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&wrapped)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}\n{wrapped}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn input_problems_are_found_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = inventory(dir.path(), false);
    let hosts: Vec<&Host> = inv.hosts.iter().collect();
    let p = preflight(&inv, &hosts);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("luks-1: the luks profile escrows"),
        "{p:?}"
    );
    let ok = inventory(dir.path(), true);
    let hosts: Vec<&Host> = ok.hosts.iter().collect();
    assert!(preflight(&ok, &hosts).is_empty());
    assert!(check_wipe(&["luks-1:/dev/vdb".into()], &hosts).is_ok());
    for (bad, says) in [
        ("/dev/vdb", "name the host too"),
        ("nope:/dev/vdb", "host `nope` is not among"),
        ("luks-1:/dev/vdc", "not one of luks-1's declared disks"),
        ("plain:/dev/vdb", "not one of plain's declared disks"),
    ] {
        let err = check_wipe(&[bad.into()], &hosts).expect_err(bad);
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn checks_judge_recorded_hosts() {
    let judge = |f: &Facts, check: fn(&HostCtx) -> Outcome| with_ctx(f, true, check);
    let formatted = recorded("formatted");
    for check in [
        evaluate_encrypted,
        evaluate_cipher,
        evaluate_pbkdf,
        evaluate_keyslots,
        evaluate_boot_unlock,
    ] {
        let o = judge(&formatted, check);
        assert_eq!(o.status, crate::controls::Status::Pass, "{o:?}");
    }
    let ext4 = recorded("ext4");
    let o = judge(&ext4, evaluate_encrypted);
    assert_eq!(o.status, crate::controls::Status::Fail);
    assert!(
        o.observed
            .starts_with("/dev/vdb: not encrypted: found ext4"),
        "{}",
        o.observed
    );
    let blank = recorded("blank");
    assert!(judge(&blank, evaluate_encrypted)
        .observed
        .contains("blank: not encrypted yet"));
    let mounted = judge(&formatted, evaluate_mounted);
    assert_eq!(mounted.status, crate::controls::Status::NotApplicable);
    assert!(mounted
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("not applicable: no device-mapper")));
    let escrow = judge(&formatted, evaluate_escrow);
    assert_eq!(
        escrow.status,
        crate::controls::Status::Fail,
        "no escrow in a fresh directory"
    );
    let untested = judge(&formatted, evaluate_escrow_opens);
    assert_eq!(
        untested.status,
        crate::controls::Status::NotApplicable,
        "never a pass without a test"
    );
    let mut tested = formatted.clone();
    tested.luks.escrow_tests.insert(
        "/dev/vdb".into(),
        EscrowTest::DoesNotOpen("cryptsetup exit status 2".into()),
    );
    assert_eq!(
        judge(&tested, evaluate_escrow_opens).status,
        crate::controls::Status::Fail
    );
    tested
        .luks
        .escrow_tests
        .insert("/dev/vdb".into(), EscrowTest::Opens);
    assert_eq!(
        judge(&tested, evaluate_escrow_opens).status,
        crate::controls::Status::Pass
    );
    let mut no_tool = formatted.clone();
    no_tool.disks.get_mut("/dev/vdb").expect("disk").luks = None;
    assert_eq!(
        judge(&no_tool, evaluate_cipher).status,
        crate::controls::Status::Error,
        "unread header: not a pass"
    );
    let mut loose = formatted.clone();
    loose
        .luks
        .keyfiles
        .values_mut()
        .for_each(|m| m.mode = 0o644);
    assert!(judge(&loose, evaluate_boot_unlock)
        .observed
        .contains("is 644 root:root (expected 400 root:root)"));
    let mut no_generator = formatted.clone();
    no_generator.luks.crypttab_generator = Some(false);
    let unread = judge(&no_generator, evaluate_boot_unlock);
    assert_eq!(unread.status, crate::controls::Status::Fail);
    assert!(unread
        .observed
        .contains("nothing reads /etc/crypttab at boot"));
}

#[test]
fn root_on_dm_crypt_follows_the_device_chain() {
    let dev = |name: &str, kind: &str, mounts: &[&str], children: Vec<BlockDevice>| BlockDevice {
        name: name.into(),
        kind: kind.into(),
        mountpoints: mounts.iter().map(|m| m.to_string()).collect(),
        children,
        ..Default::default()
    };
    let mut f = Facts {
        block_devices: vec![dev(
            "sda",
            "disk",
            &[],
            vec![
                dev("sda1", "part", &["/boot"], vec![]),
                dev(
                    "sda2",
                    "part",
                    &[],
                    vec![dev(
                        "sda2_crypt",
                        "crypt",
                        &[],
                        vec![dev("vg-root", "lvm", &["/"], vec![])],
                    )],
                ),
            ],
        )],
        ..Default::default()
    };
    let (yes, detail) = root_on_dm_crypt(&f);
    assert_eq!(yes, "yes");
    assert_eq!(
        detail,
        "/ is on sda (disk) > sda2 (part) > sda2_crypt (crypt) > vg-root (lvm)"
    );
    f.block_devices = vec![dev(
        "vda",
        "disk",
        &[],
        vec![dev("vda1", "part", &["/"], vec![])],
    )];
    assert_eq!(root_on_dm_crypt(&f).0, "no");
    let container = recorded("formatted");
    let (unknown, why) = root_on_dm_crypt(&container);
    assert_eq!(unknown, "unknown");
    assert!(why.contains("inside a container"), "{why}");
    let st = host_status(
        &Host {
            name: "luks-1".into(),
            address: String::new(),
            port: 22,
            provider: Default::default(),
            location: None,
            roles: vec![],
            profiles: vec![],
            mesh_address: None,
            disks: vec!["/dev/vdb".into(), "/dev/vdz".into()],
            vars: Default::default(),
            create: None,
            databases: vec![],
        },
        &container,
    );
    let vdb = st
        .devices
        .iter()
        .find(|d| d.declared)
        .expect("declared disk listed");
    assert_eq!(vdb.encryption, "luks2");
    assert_eq!(
        vdb.detail.as_deref(),
        Some("aes-xts-plain64, 512-bit key, 2 keyslot(s)")
    );
    assert_eq!(st.missing, ["/dev/vdz"]);
}

#[test]
fn the_escrow_test_sends_keys_on_stdin_and_reads_markers() {
    let f = recorded("formatted");
    let dir = tempfile::tempdir().expect("tempdir");
    let id = age::x25519::Identity::generate();
    let text = format!("secrets:\n  recipients: [\"{}\"]\nhosts:\n  luks-1:\n    address: 10.0.0.1\n    roles: [luks]\n    disks: [/dev/vdb]\n", id.to_public());
    let inv = Inventory::parse(&dir.path().join("inventory.yaml"), &text).expect("valid");
    let key = Secret::random_hex(KEY_BYTES).expect("key");
    let v = Volume::new("luks-1", Path::new("/dev/vdb"));
    Escrow {
        path: escrow_path(&inv, "luks-1", &v),
        recipients: inv.secrets.recipients.clone(),
    }
    .persist(&key)
    .expect("escrow");
    let vars = vars();
    let ctx = HostCtx {
        host: inv.host("luks-1").expect("host"),
        inventory: &inv,
        facts: &f,
        vars: &vars,
        mesh: &Default::default(),
    };
    let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(id)];
    let probe = escrow_probe(&ctx, &ids);
    assert!(probe.known.is_empty());
    assert!(
        probe.script.contains(&format!(
            "IFS= read -r K0 <<'RAMPART_SECRET_EOF'\n{}\n",
            key.expose()
        )),
        "the key travels in the script on stdin"
    );
    assert!(probe.script.contains("printf '%s' \"$K0\" | cryptsetup open --test-passphrase --key-slot 0 --key-file=- /dev/vdb"), "{}", probe.script);
    let results = parse_escrow_probe("@@escrow no 2 /dev/vdb\n", probe);
    assert_eq!(
        results["/dev/vdb"],
        EscrowTest::DoesNotOpen("cryptsetup exit status 2".into())
    );
    let wrong: Vec<Box<dyn age::Identity>> = vec![Box::new(age::x25519::Identity::generate())];
    let probe = escrow_probe(&ctx, &wrong);
    assert!(
        matches!(probe.known["/dev/vdb"], EscrowTest::Error(_)),
        "a wrong identity is an error, not a pass"
    );
}

#[test]
fn rotation_adds_proves_then_removes_the_old_slot() {
    let mut f = recorded("formatted");
    let r = with_ctx(&f, true, |ctx| plan_rotation(ctx, "/dev/vdb")).expect("rotation");
    assert_eq!(
        (r.old_slot, r.new_slot, r.old_tokens.clone(), r.new_token),
        (0, 2, vec![0], 2)
    );
    let key = Secret::random_hex(KEY_BYTES).expect("key");
    let s = rotate_script(&r, &key);
    let add = s.find("luksAddKey").expect("add");
    let test = s.find("--test-passphrase --key-slot 2").expect("test");
    let kill = s
        .find("luksKillSlot --batch-mode --key-file \"$kf\" \"$dev\" 0")
        .expect("kill old");
    assert!(add < test && test < kill, "{s}");
    assert!(
        s.contains("--key-file \"$kf\" --new-key-slot 2 --new-keyfile=- \"$dev\""),
        "authorised by the host keyfile, new key on stdin"
    );
    assert_eq!(s.matches(key.expose()).count(), 1, "only in the binding");
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&s)
        .output()
        .expect("sh");
    assert!(out.status.success());
    assert_eq!(
        rotate_outcome("@@rotate added\n@@rotate tested\n@@rotate done\n"),
        "done"
    );
    assert_eq!(
        rotate_outcome("@@rotate added\n@@rotate test-failed\n"),
        "test-failed"
    );
    f.luks.keyfiles.clear();
    let err = with_ctx(&f, true, |ctx| plan_rotation(ctx, "/dev/vdb")).expect_err("no keyfile");
    assert!(err.contains("host keyfile"), "{err}");
    let err = with_ctx(&recorded("ext4"), true, |ctx| {
        plan_rotation(ctx, "/dev/vdb")
    })
    .expect_err("not luks");
    assert!(err.contains("is not a LUKS volume"), "{err}");
}
