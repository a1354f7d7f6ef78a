//! Turns the collector's raw sections into [`Facts`]. Every parser is
//! forgiving about noise (a missing tool, an odd line) and exact about data.

use std::collections::BTreeMap;

use super::model::*;

const SECTION: &str = "@@rampart-section ";

/// Splits collector output into named sections.
pub fn sections(raw: &str) -> BTreeMap<&str, &str> {
    let mut out = BTreeMap::new();
    let mut rest = raw;
    while let Some(start) = rest.find(SECTION) {
        let after = &rest[start + SECTION.len()..];
        let (name, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body.find(&format!("\n{SECTION}")).unwrap_or(body.len());
        out.insert(name.trim(), &body[..end]);
        rest = &body[end..];
    }
    out
}

pub fn parse(raw: &str) -> Facts {
    let s = sections(raw);
    let get = |k: &str| s.get(k).copied().unwrap_or("");
    let mut facts = Facts {
        hostname: get("hostname").trim().to_string(),
        collected_at: get("time").trim().parse().unwrap_or(0),
        os: os_release(get("os-release")),
        kernel: kernel(get("uname")),
        virtualization: virtualization(get("virt"), get("container")),
        init: get("init").trim().to_string(),
        packages: packages(get("packages")),
        services: BTreeMap::new(),
        sshd: probe(get("sshd"), sshd_config),
        sysctls: sysctls(get("sysctl")),
        sysctl_writable: SysctlWritable {
            net: get("procsys").lines().any(|l| l.trim() == "net"),
            kernel: get("procsys").lines().any(|l| l.trim() == "kernel"),
        },
        nftables: probe(get("nft"), |t| {
            serde_json::from_str(t).unwrap_or(serde_json::Value::Null)
        }),
        nft_desired: probe(get("nft-desired"), |t| {
            serde_json::from_str(t).unwrap_or(serde_json::Value::Null)
        }),
        wireguard: probe(get("wg"), wg_dump),
        mesh: MeshFacts {
            psk_files: get("wg-psk")
                .lines()
                .map(str::trim)
                .filter(|l| l.ends_with(".psk"))
                .map(String::from)
                .collect(),
            ..mesh_facts(get("wg-key"), get("wg-impl"), get("ip-addr"))
        },
        block_devices: lsblk(get("lsblk")),
        disks: disks(get("disks")),
        users: Vec::new(),
        groups: groups(get("group")),
        authorized_keys: authorized_keys(get("authorized-keys")),
        listening: listening(get("listening")),
        homes: homes(get("homes")),
        file_modes: file_modes(get("modes")),
        modprobe: get("modprobe")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        mounts: mounts(get("mounts")),
        files: files(get("files")),
        journald: systemd_ini(get("journald")),
        journald_sources: systemd_ini_sources(get("journald"))
            .into_iter()
            .map(|(k, (_, file))| (k, file))
            .collect(),
        audit_rules: probe(get("audit"), |t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "No rules")
                .map(String::from)
                .collect()
        }),
        apt_lists_updated: get("apt-lists")
            .trim()
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        connection_from: None,
        luks: luks(
            get("luks-env"),
            get("luks-disks"),
            get("luks-blkid"),
            get("luks-keyfiles"),
            s.get("luks-crypttab").copied(),
            get("luks-fstab"),
        ),
        file_hashes: file_hashes(get("hashes")),
        nginx_test: probe(get("nginx-test"), |t| t.trim().to_string()),
        ntp_synchronized: match get("ntp-synchronized").trim() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        integrity: integrity(get("integrity")),
        pam: super::pam::pam_section(get("pam")),
        backup: super::backup::backup(get("backup")),
        observed: BTreeMap::new(),
    };
    facts.services = units(get("unit-files"), get("units"));
    facts.users = users(get("passwd"), get("shadow"));
    // Home entries are judged like any other file's mode (Resource::Perms).
    let home_modes: Vec<(String, FileMode)> = facts
        .homes
        .values()
        .flat_map(|e| e.iter().map(|(p, m)| (p.clone(), m.clone())))
        .collect();
    facts.file_modes.extend(home_modes);
    facts
}

/// `database MTIME`, `last-change TIME` and `systemctl show`'s
/// `Result=`, `ExecMainStatus=`, `ExecMainExitTimestamp=@TIME` lines
/// (an empty timestamp: the check never ran since boot).
fn integrity(t: &str) -> Integrity {
    let mut out = Integrity::default();
    let (mut result, mut status, mut exited) = (String::new(), None, None);
    for line in t.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("database ") {
            out.database = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("last-change ") {
            out.last_change = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Result=") {
            result = v.to_string();
        } else if let Some(v) = line.strip_prefix("ExecMainStatus=") {
            status = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("ExecMainExitTimestamp=") {
            exited = v.trim_start_matches('@').parse().ok();
        }
    }
    out.last_check = exited.filter(|t| *t > 0).map(|exited_at| UnitRun {
        result,
        exit_status: status,
        exited_at,
    });
    out
}

fn unquote(v: &str) -> String {
    v.trim().trim_matches('"').trim_matches('\'').to_string()
}

pub fn os_release(text: &str) -> Os {
    let mut os = Os::default();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = unquote(v);
            match k {
                "ID" => os.id = v,
                "VERSION_ID" => os.version_id = v,
                "VERSION_CODENAME" => os.codename = v,
                "PRETTY_NAME" => os.pretty_name = v,
                _ => {}
            }
        }
    }
    os
}

fn kernel(text: &str) -> Kernel {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    Kernel {
        release: lines.next().unwrap_or_default().to_string(),
        machine: lines.next().unwrap_or_default().to_string(),
    }
}

fn virtualization(virt: &str, container: &str) -> Virtualization {
    let container = container.trim();
    Virtualization {
        kind: match virt.trim() {
            "" => "unknown".to_string(),
            v => v.to_string(),
        },
        container: (!container.is_empty() && container != "none").then(|| container.to_string()),
    }
}

pub fn packages(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, version, status) = (f.next()?, f.next()?, f.next()?);
            // "ii " = desired install, installed; "rc" leftovers are not installed.
            (status.starts_with("ii") || status.starts_with("hi")).then(|| {
                let name = name.split(':').next().unwrap_or(name);
                (name.to_string(), version.to_string())
            })
        })
        .collect()
}

/// Merges unit-file enablement (from the unit directories' links) with
/// `list-units` (activity).
pub fn units(files: &str, loaded: &str) -> BTreeMap<String, Unit> {
    let mut out: BTreeMap<String, Unit> = BTreeMap::new();
    for (name, state) in enablement(files) {
        out.entry(name).or_default().enabled = Some(state.to_string());
    }
    for line in loaded.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 {
            let u = out.entry(f[0].to_string()).or_default();
            u.active = Some(f[2].to_string());
            u.sub = Some(f[3].to_string());
        }
    }
    out
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `find -printf '%p\t%l'` over the unit directories: a unit file is
/// `disabled` until a link in a `.wants`/`.requires` directory (or an alias
/// link) enables it; a link to /dev/null in /etc or /run masks it.
pub fn enablement(files: &str) -> BTreeMap<String, &'static str> {
    let mut state: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut enabled = Vec::new();
    let mut masked = Vec::new();
    for line in files.lines() {
        let (path, target) = line.split_once('\t').unwrap_or((line, ""));
        let name = base_name(path);
        if !name.contains('.')
            || name.ends_with(".wants")
            || name.ends_with(".requires")
            || name.ends_with(".d")
        {
            continue;
        }
        let parent = path.rsplit('/').nth(1).unwrap_or_default();
        let admin =
            path.starts_with("/etc/systemd/system") || path.starts_with("/run/systemd/system");
        if target == "/dev/null" && admin {
            masked.push(name.to_string());
        } else if parent.ends_with(".wants") || parent.ends_with(".requires") {
            enabled.push(name.to_string());
            if !target.is_empty() {
                enabled.push(base_name(target).to_string());
            }
        } else if admin && !target.is_empty() && base_name(target) != name {
            // An alias link (sshd.service -> ssh.service) is made by enabling.
            enabled.push(name.to_string());
            enabled.push(base_name(target).to_string());
        } else {
            state.entry(name.to_string()).or_insert("disabled");
        }
    }
    for name in enabled {
        state.insert(name, "enabled");
    }
    for name in masked {
        state.insert(name, "masked");
    }
    state
}

/// Wraps a section that ends in `@@exit N` or is `@@absent`.
fn probe<T>(text: &str, parse: impl Fn(&str) -> T) -> Probe<T> {
    let trimmed = text.trim_end();
    if trimmed.trim() == "@@absent" {
        return Probe::Absent;
    }
    let (body, code) = match trimmed.rfind("@@exit ") {
        Some(i) => (
            &trimmed[..i],
            trimmed[i + 7..].trim().parse::<i32>().unwrap_or(-1),
        ),
        None => (trimmed, -1),
    };
    if code == 0 {
        Probe::Ok(parse(body))
    } else {
        let msg = body.trim();
        Probe::Failed(if msg.is_empty() {
            format!("exit status {code}")
        } else {
            msg.lines().take(5).collect::<Vec<_>>().join("; ")
        })
    }
}

/// `sshd -T`: lowercase keywords; repeated keywords (hostkey, …) accumulate.
pub fn sshd_config(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.trim().split_once(' ') {
            out.entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    out
}

pub fn sysctls(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            l.split_once(" = ")
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The host's own WireGuard public key, the implementations available, and
/// `ip -j addr` (addresses in CIDR form per interface).
pub fn mesh_facts(key: &str, implementation: &str, ip_addr: &str) -> MeshFacts {
    let public_key = key.trim();
    let lines: Vec<&str> = implementation.lines().map(str::trim).collect();
    MeshFacts {
        psk_files: Vec::new(),
        public_key: (public_key.len() == 44 && public_key.ends_with('='))
            .then(|| public_key.to_string()),
        kernel_module: lines
            .iter()
            .any(|l| *l == "module-loaded" || *l == "module-available"),
        userspace: lines
            .iter()
            .filter_map(|l| l.strip_prefix("socket "))
            .filter_map(|s| s.strip_suffix(".sock"))
            .map(String::from)
            .collect(),
        interfaces: ip_interfaces(ip_addr),
    }
}

fn ip_interfaces(json: &str) -> BTreeMap<String, NetInterface> {
    let Ok(serde_json::Value::Array(links)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return BTreeMap::new();
    };
    links
        .iter()
        .filter_map(|l| {
            let name = l.get("ifname")?.as_str()?.to_string();
            let flags: Vec<&str> = l
                .get("flags")
                .and_then(|f| f.as_array())
                .map(|f| f.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let addresses = l
                .get("addr_info")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|i| {
                            Some(format!(
                                "{}/{}",
                                i.get("local")?.as_str()?,
                                i.get("prefixlen")?.as_u64()?
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some((
                name,
                NetInterface {
                    state: l
                        .get("operstate")
                        .and_then(|s| s.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    up: flags.contains(&"UP"),
                    addresses,
                },
            ))
        })
        .collect()
}

/// `wg show all dump`: interface lines have 5 fields, peer lines 9.
pub fn wg_dump(text: &str) -> Vec<WgInterface> {
    let mut out: Vec<WgInterface> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.len() {
            5 => out.push(WgInterface {
                name: f[0].to_string(),
                public_key: f[2].to_string(),
                listen_port: f[3].parse().ok(),
                peers: Vec::new(),
            }),
            9 => {
                let peer = WgPeer {
                    public_key: f[1].to_string(),
                    has_preshared_key: f[2] != "(none)",
                    endpoint: (f[3] != "(none)").then(|| f[3].to_string()),
                    allowed_ips: f[4]
                        .split(',')
                        .filter(|s| *s != "(none)" && !s.is_empty())
                        .map(String::from)
                        .collect(),
                    latest_handshake: f[5].parse().unwrap_or(0),
                    rx_bytes: f[6].parse().unwrap_or(0),
                    tx_bytes: f[7].parse().unwrap_or(0),
                    keepalive: f[8].parse().ok(),
                };
                if let Some(iface) = out.iter_mut().rev().find(|i| i.name == f[0]) {
                    iface.peers.push(peer);
                }
            }
            _ => {}
        }
    }
    out
}

fn lsblk(text: &str) -> Vec<BlockDevice> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    v.get("blockdevices")
        .and_then(|b| b.as_array())
        .map(|a| a.iter().map(block_device).collect())
        .unwrap_or_default()
}

fn block_device(v: &serde_json::Value) -> BlockDevice {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
    BlockDevice {
        name: s("name").unwrap_or_default(),
        path: s("path"),
        majmin: s("maj:min").unwrap_or_default(),
        kind: s("type").unwrap_or_default(),
        size: v
            .get("size")
            .and_then(|x| {
                x.as_u64()
                    .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0),
        fstype: s("fstype"),
        uuid: s("uuid"),
        label: s("label"),
        mountpoints: v
            .get("mountpoints")
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        read_only: v.get("ro").and_then(|x| x.as_bool()).unwrap_or(false),
        children: v
            .get("children")
            .and_then(|c| c.as_array())
            .map(|a| a.iter().map(block_device).collect())
            .unwrap_or_default(),
    }
}

pub fn disks(text: &str) -> BTreeMap<String, DiskProbe> {
    let mut out = BTreeMap::new();
    for chunk in text.split("@@disk ").skip(1) {
        let (path, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let (kv, luks) = match body.split_once("@@luks\n") {
            Some((a, b)) => (a, Some(b)),
            None => (body, None),
        };
        let mut probe = DiskProbe {
            present: true,
            ..Default::default()
        };
        for line in kv.lines() {
            match line.split_once('=') {
                Some(("missing", _)) => probe.present = false,
                Some(("majmin", v)) => probe.majmin = Some(hex_majmin(v)),
                Some((k, v)) => {
                    probe.signature.insert(k.to_string(), v.to_string());
                }
                None => {}
            }
        }
        probe.luks = luks.and_then(|l| serde_json::from_str(l.trim()).ok());
        out.insert(path.trim().to_string(), probe);
    }
    out
}

/// `stat -c %t:%T` prints hex; lsblk prints decimal.
fn hex_majmin(v: &str) -> String {
    match v.trim().split_once(':') {
        Some((a, b)) => match (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
            (Ok(a), Ok(b)) => format!("{a}:{b}"),
            _ => v.trim().to_string(),
        },
        None => v.trim().to_string(),
    }
}

pub fn users(passwd: &str, shadow: &str) -> Vec<User> {
    let status: BTreeMap<&str, &str> = shadow.lines().filter_map(|l| l.split_once('\t')).collect();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7).then(|| User {
                name: f[0].to_string(),
                uid: f[2].parse().unwrap_or(u32::MAX),
                gid: f[3].parse().unwrap_or(u32::MAX),
                home: f[5].to_string(),
                shell: f[6].to_string(),
                password: status.get(f[0]).copied().unwrap_or("unknown").to_string(),
            })
        })
        .collect()
}

pub fn groups(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| Group {
                name: f[0].to_string(),
                gid: f[2].parse().unwrap_or(u32::MAX),
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

pub fn authorized_keys(text: &str) -> Vec<AuthorizedKeys> {
    let mut out = Vec::new();
    for chunk in text.split("@@file ").skip(1) {
        let (header, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let (user, path) = header.split_once(' ').unwrap_or((header, ""));
        out.push(AuthorizedKeys {
            user: user.to_string(),
            path: path.trim().to_string(),
            keys: body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect(),
        });
    }
    out
}

pub fn listening(text: &str) -> Vec<Socket> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Netid State Recv-Q Send-Q Local Peer [Process]
            (f.len() >= 5).then(|| Socket {
                proto: f[0].to_string(),
                local: f[4].to_string(),
                process: f.get(6).map(|p| p.to_string()),
            })
        })
        .collect()
}

pub fn file_modes(text: &str) -> BTreeMap<String, FileMode> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (mode, owner, group, path) = (f.next()?, f.next()?, f.next()?, f.next()?);
            Some((
                path.to_string(),
                FileMode {
                    mode: u32::from_str_radix(mode, 8).ok()?,
                    owner: owner.to_string(),
                    group: group.to_string(),
                },
            ))
        })
        .collect()
}

/// `@@home USER` followed by that account's `mode owner group path` lines.
fn homes(text: &str) -> BTreeMap<String, BTreeMap<String, FileMode>> {
    let mut out: BTreeMap<String, BTreeMap<String, FileMode>> = BTreeMap::new();
    let mut user = None;
    for line in text.lines() {
        if let Some(u) = line.strip_prefix("@@home ") {
            user = Some(u.trim().to_string());
        } else if let Some(u) = &user {
            out.entry(u.clone()).or_default().extend(file_modes(line));
        }
    }
    out
}

/// The client address from `@@from $SSH_CONNECTION` ("client port server port").
pub fn connection_from(stderr: &str) -> Option<std::net::IpAddr> {
    stderr.lines().find_map(|l| {
        l.strip_prefix("@@from ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

pub fn files(text: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(path) = line.strip_prefix("@@file ") {
            let body = lines.next().unwrap_or_default().trim();
            let content = data_encoding::BASE64
                .decode(body.as_bytes())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            out.insert(path.to_string(), Some(content.unwrap_or_default()));
        } else if let Some(path) = line.strip_prefix("@@nofile ") {
            out.insert(path.to_string(), None);
        }
    }
    out
}

/// `systemd-analyze cat-config` output: later assignments win, as in systemd.
/// `@@hash SHA256 PATH` / `@@nohash PATH` lines.
pub fn file_hashes(text: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("@@hash ") {
            if let Some((hash, path)) = rest.split_once(' ') {
                out.insert(path.to_string(), Some(hash.trim().to_string()));
            }
        } else if let Some(path) = line.strip_prefix("@@nohash ") {
            out.insert(path.to_string(), None);
        }
    }
    out
}

pub fn systemd_ini(text: &str) -> BTreeMap<String, String> {
    systemd_ini_sources(text)
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect()
}

/// Like [`systemd_ini`], keeping for each key the file whose assignment won
/// (`systemd-analyze cat-config` heads each file with `# PATH`), so evidence
/// can name the drop-in that overrides rampart's.
pub fn systemd_ini_sources(text: &str) -> BTreeMap<String, (String, String)> {
    let mut source = String::new();
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix("# /") {
            source = format!("/{}", path.trim());
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_string(), (v.trim().to_string(), source.clone()));
        }
    }
    out
}

fn mounts(text: &str) -> Vec<Mount> {
    fn walk(v: &serde_json::Value, out: &mut Vec<Mount>) {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        if v.get("target").is_some() {
            out.push(Mount {
                target: s("target"),
                source: s("source"),
                fstype: s("fstype"),
                options: s("options"),
            });
        }
        if let Some(children) = v.get("children").and_then(|c| c.as_array()) {
            for c in children {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(fs) = v.get("filesystems").and_then(|f| f.as_array()) {
            for f in fs {
                walk(f, &mut out);
            }
        }
    }
    out
}

/// The luks-* sections (see collect.sh).
pub fn luks(
    env: &str,
    disks: &str,
    blkid: &str,
    keyfiles: &str,
    crypttab: Option<&str>,
    fstab: &str,
) -> LuksFacts {
    let env_value = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
    };
    LuksFacts {
        // The control node exists (a static node when the module is not
        // loaded yet) and the kernel has device-mapper or can load it.
        device_mapper: env_value("dm-control").is_some()
            && (env_value("dm-major").is_some() || env_value("dm-module").is_some()),
        cryptsetup: env_value("cryptsetup"),
        crypttab_generator: env_value("crypttab-generator").map(|v| v == "1"),
        disks: luks_disks(disks),
        probes: blkid_probes(blkid),
        keyfiles: file_modes(keyfiles),
        crypttab: crypttab
            .filter(|t| t.trim() != "@@absent")
            .map(|t| t.strip_prefix('\n').unwrap_or(t).to_string()),
        fstab: fstab.to_string(),
        escrow_tests: BTreeMap::new(),
    }
}

/// `@@disk PATH` blocks with `@@wipefs`, `@@holders`, `@@swap` parts.
fn luks_disks(text: &str) -> BTreeMap<String, LuksDiskProbe> {
    let mut out = BTreeMap::new();
    for chunk in text.split("@@disk ").skip(1) {
        let (path, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let mut probe = LuksDiskProbe::default();
        let mut part = "";
        let mut wipefs = String::new();
        for line in body.lines() {
            if let Some(p) = line.strip_prefix("@@").filter(|p| !p.starts_with("exit ")) {
                part = p;
                continue;
            }
            match part {
                "wipefs" => {
                    wipefs.push_str(line);
                    wipefs.push('\n');
                }
                "holders" if !line.trim().is_empty() => probe.holders.push(line.trim().into()),
                "swap" if !line.trim().is_empty() => probe.swap.push(line.trim().into()),
                _ => {}
            }
        }
        if !wipefs.is_empty() {
            probe.wipefs = self::probe(&wipefs, wipefs_signatures);
        }
        out.insert(path.trim().to_string(), probe);
    }
    out
}

/// `wipefs --json`: no output at all when the device has no signature.
fn wipefs_signatures(text: &str) -> Vec<Signature> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    v.get("signatures")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .map(|s| Signature {
                    kind: s.get("type").and_then(|t| t.as_str()).unwrap_or("?").into(),
                    offset: s
                        .get("offset")
                        .map(|o| o.as_str().map(String::from).unwrap_or(o.to_string()))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `@@dev PATH` followed by `blkid -p -o export` lines.
fn blkid_probes(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for chunk in text.split("@@dev ").skip(1) {
        let (path, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let kv = body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.insert(path.trim().to_string(), kv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collector output recorded from a lab host (Debian 12 in systemd-nspawn).
    const RECORDED: &str = include_str!("../../tests/fixtures/facts/debian12-nspawn.txt");

    #[test]
    fn recorded_host_parses_into_structured_facts() {
        let f = parse(RECORDED);
        assert_eq!(f.hostname, "lab-1");
        assert_eq!(f.os.id, "debian");
        assert_eq!(f.os.version_id, "12");
        assert_eq!(f.os.codename, "bookworm");
        assert_eq!(
            f.virtualization.container.as_deref(),
            Some("systemd-nspawn")
        );
        assert_eq!(f.init, "systemd");
        assert!(f.packages.contains_key("openssh-server"));
        assert_eq!(
            f.services
                .get("ssh.service")
                .and_then(|u| u.active.as_deref()),
            Some("active")
        );
        let sshd = f.sshd.ok().expect("sshd -T parsed");
        assert_eq!(sshd["passwordauthentication"], ["yes"]);
        assert!(sshd["hostkey"].len() >= 2, "repeated keywords accumulate");
        assert_eq!(
            f.sysctls.get("kernel.ostype").map(String::as_str),
            Some("Linux")
        );
        assert!(
            matches!(f.nftables, Probe::Absent),
            "nft is not installed on a fresh image"
        );
        assert!(matches!(f.wireguard, Probe::Absent));
        let root = f.users.iter().find(|u| u.name == "root").expect("root");
        assert_eq!((root.uid, root.shell.as_str()), (0, "/bin/bash"));
        assert_eq!(root.password, "locked");
        assert_eq!(f.authorized_keys.len(), 1);
        assert_eq!(f.authorized_keys[0].user, "root");
        assert!(f.authorized_keys[0].keys[0].starts_with("ssh-ed25519 "));
        assert_eq!(
            f.file_modes["/etc/shadow"],
            FileMode {
                mode: 0o640,
                owner: "root".into(),
                group: "shadow".into()
            }
        );
        assert!(f.listening.iter().any(|s| s.local == "0.0.0.0:22"));
        assert!(f.mounts.iter().any(|m| m.target == "/"));
        assert!(!f.block_devices.is_empty());
    }

    #[test]
    fn sections_split_on_markers_only() {
        let s = sections("\n@@rampart-section a\nx\n@@rampart-section b\ny\nz\n");
        assert_eq!(s["a"], "x");
        assert_eq!(s["b"], "y\nz\n");
    }

    #[test]
    fn failed_and_absent_probes_are_distinguished() {
        assert!(matches!(probe("@@absent\n", |_| ()), Probe::Absent));
        match probe("Error: permission denied\n@@exit 1\n", |_| ()) {
            Probe::Failed(m) => assert!(m.contains("permission denied")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            probe("port 22\n@@exit 0\n", sshd_config),
            Probe::Ok(_)
        ));
    }

    #[test]
    fn mesh_facts_read_key_implementation_and_addresses() {
        let ip = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"operstate":"UNKNOWN","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":5,"ifname":"wg0","flags":["POINTOPOINT","NOARP","UP","LOWER_UP"],"operstate":"UNKNOWN","addr_info":[{"family":"inet","local":"10.99.0.1","prefixlen":32}]}]"#;
        let m = mesh_facts(
            "hGh9SCHdaYr5yfb8rBjFj0rMhe3QzMWK8WgxyHq8LEA=\n",
            "socket wg0.sock\n",
            ip,
        );
        assert_eq!(
            m.public_key.as_deref(),
            Some("hGh9SCHdaYr5yfb8rBjFj0rMhe3QzMWK8WgxyHq8LEA=")
        );
        assert!(!m.kernel_module);
        assert_eq!(m.userspace, ["wg0"]);
        let wg0 = &m.interfaces["wg0"];
        assert!(wg0.up);
        assert_eq!(wg0.addresses, ["10.99.0.1/32"]);
        assert!(mesh_facts("wg: not found", "module-available", "").kernel_module);
        assert_eq!(mesh_facts("garbage", "", "").public_key, None);
    }

    #[test]
    fn wireguard_dump_has_interfaces_and_peers() {
        let dump = "wg0\tPRIV\tPUBA=\t51820\toff\nwg0\tPUBB=\t(none)\t10.123.0.13:51820\t10.99.0.2/32\t1700000000\t1200\t3400\t25\n";
        let w = wg_dump(dump);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].public_key, "PUBA=");
        assert_eq!(w[0].listen_port, Some(51820));
        let p = &w[0].peers[0];
        assert_eq!(p.allowed_ips, ["10.99.0.2/32"]);
        assert_eq!(
            (p.latest_handshake, p.rx_bytes, p.tx_bytes, p.keepalive),
            (1700000000, 1200, 3400, Some(25))
        );
        assert!(!p.has_preshared_key);
        assert!(
            !w.iter().any(|i| i.public_key == "PRIV"),
            "the private key field is never kept"
        );
    }

    #[test]
    fn disks_report_signatures_luks_and_absence() {
        let text = "@@disk /dev/vdb\nmajmin=7:0\nTYPE=ext4\nUUID=abc\n@@disk /dev/vdc\nmajmin=7:1\nTYPE=crypto_LUKS\nVERSION=2\n@@luks\n{\"keyslots\":{}}\n@@disk /dev/vdd\nmissing=1\n";
        let d = disks(text);
        assert_eq!(d["/dev/vdb"].signature["TYPE"], "ext4");
        assert!(d["/dev/vdb"].luks.is_none());
        assert!(d["/dev/vdc"].luks.is_some());
        assert!(!d["/dev/vdd"].present);
        assert_eq!(d["/dev/vdb"].majmin.as_deref(), Some("7:0"));
    }

    #[test]
    fn unit_enablement_comes_from_links() {
        let files = "/lib/systemd/system/ssh.service\t\n/lib/systemd/system/rsync.service\t\n/lib/systemd/system/getty@.service\t\n/etc/systemd/system/multi-user.target.wants/ssh.service\t/lib/systemd/system/ssh.service\n/etc/systemd/system/sshd.service\t/lib/systemd/system/ssh.service\n/etc/systemd/system/getty.target.wants/getty@tty1.service\t/lib/systemd/system/getty@.service\n/etc/systemd/system/rsync.service\t/dev/null\n";
        let e = enablement(files);
        assert_eq!(e["ssh.service"], "enabled");
        assert_eq!(e["sshd.service"], "enabled");
        assert_eq!(e["getty@tty1.service"], "enabled");
        assert_eq!(e["getty@.service"], "enabled");
        assert_eq!(e["rsync.service"], "masked");
        assert!(!e.contains_key("multi-user.target.wants"));
    }

    #[test]
    fn files_are_exact_and_absence_is_recorded() {
        let f = files("@@file /etc/a\naGVsbG8KCndvcmxk\n@@nofile /etc/b\n@@file /etc/empty\n\n");
        assert_eq!(f["/etc/a"].as_deref(), Some("hello\n\nworld"));
        assert_eq!(f["/etc/b"], None);
        assert_eq!(f["/etc/empty"].as_deref(), Some(""));
    }

    #[test]
    fn secret_files_are_known_by_hash_only() {
        let h = file_hashes("@@hash 3f2a /etc/nginx/rampart/tls/server.key\n@@nohash /etc/x.key\n");
        assert_eq!(
            h.get("/etc/nginx/rampart/tls/server.key"),
            Some(&Some("3f2a".to_string()))
        );
        assert_eq!(h.get("/etc/x.key"), Some(&None));
        let f = parse("@@rampart-section hostname\nh\n@@rampart-section nginx-test\nnginx: [emerg] bad\n@@exit 1\n");
        assert!(matches!(f.nginx_test, Probe::Failed(m) if m.contains("emerg")));
    }

    #[test]
    fn journald_later_assignments_win() {
        let j = systemd_ini("# /etc/systemd/journald.conf\n[Journal]\n#Storage=auto\nStorage=auto\n# /etc/systemd/journald.conf.d/90-rampart.conf\n[Journal]\nStorage=persistent\n");
        assert_eq!(j["Storage"], "persistent");
    }

    #[test]
    fn journald_sources_name_the_winning_file() {
        // Debian 13's systemd ships a vendor drop-in that sorts after a
        // numbered /etc one: the winner is whichever file comes last.
        let text = "# /etc/systemd/journald.conf\n[Journal]\n#ForwardToSyslog=no\n\n# /etc/systemd/journald.conf.d/90-rampart.conf\n[Journal]\nForwardToSyslog=no\n\n# /usr/lib/systemd/journald.conf.d/syslog.conf\n[Journal]\nForwardToSyslog=yes\n";
        let j = systemd_ini_sources(text);
        assert_eq!(
            j["ForwardToSyslog"],
            (
                "yes".to_string(),
                "/usr/lib/systemd/journald.conf.d/syslog.conf".to_string()
            )
        );
    }

    #[test]
    fn luks_sections_give_device_mapper_signatures_holders_and_probes() {
        let disks = "@@disk /dev/vdb\n@@wipefs\n{\n   \"signatures\": [\n      {\"device\":\"vdb\", \"offset\":\"0x438\", \"type\":\"ext4\", \"uuid\":\"u\", \"label\":null}\n   ]\n}\n@@exit 0\n@@holders\ndm-0\n@@swap\n@@disk /dev/vdc\n@@wipefs\n@@exit 0\n@@holders\n@@swap\n@@disk /dev/vdd\n";
        let f = luks(
            "dm-major=253 device-mapper\ndm-control=1\ncryptsetup=cryptsetup 2.6.1 flags: UDEV BLKID\n",
            disks,
            "@@dev /dev/vdb\nTYPE=crypto_LUKS\nVERSION=2\n@@dev /dev/vdc\n",
            "400 root root /etc/cryptsetup-keys.d/vdb_crypt.key\n",
            Some("\nvdb_crypt UUID=x /etc/cryptsetup-keys.d/vdb_crypt.key luks,nofail\n"),
            "/dev/mapper/vdb_crypt /srv/data ext4 defaults,nofail 0 2\n",
        );
        assert!(f.device_mapper);
        assert_eq!(
            f.cryptsetup.as_deref(),
            Some("cryptsetup 2.6.1 flags: UDEV BLKID")
        );
        let vdb = &f.disks["/dev/vdb"];
        assert_eq!(
            vdb.wipefs,
            Probe::Ok(vec![Signature {
                kind: "ext4".into(),
                offset: "0x438".into()
            }])
        );
        assert_eq!(vdb.holders, ["dm-0"]);
        assert_eq!(
            f.disks["/dev/vdc"].wipefs,
            Probe::Ok(Vec::new()),
            "blank: no output"
        );
        assert_eq!(
            f.disks["/dev/vdd"].wipefs,
            Probe::Absent,
            "not a block device: not probed"
        );
        assert_eq!(f.probes["/dev/vdb"]["TYPE"], "crypto_LUKS");
        assert!(f.probes["/dev/vdc"].is_empty());
        assert_eq!(
            f.keyfiles["/etc/cryptsetup-keys.d/vdb_crypt.key"].mode,
            0o400
        );
        assert!(f
            .crypttab
            .as_deref()
            .is_some_and(|c| c.starts_with("vdb_crypt ")));
        let none = luks("", "", "", "", Some("@@absent\n"), "");
        assert!(!none.device_mapper, "a kernel without device-mapper");
        let loadable = luks("dm-control=1\ndm-module=1\n", "", "", "", None, "");
        assert!(
            loadable.device_mapper,
            "a module not loaded yet still opens volumes"
        );
        let node_only = luks("dm-control=1\n", "", "", "", None, "");
        assert!(
            !node_only.device_mapper,
            "a node with neither module nor driver"
        );
        assert_eq!(none.crypttab, None);
    }

    #[test]
    fn only_installed_packages_count() {
        let p = packages("bash\t5.2\tii \nold\t1.0\trc \nlibc6:amd64\t2.36\tii \n");
        assert!(p.contains_key("bash") && p.contains_key("libc6"));
        assert!(!p.contains_key("old"));
    }
}
