//! Values that reach a resolver or a shell are accepted only in one
//! canonical spelling, so rampart acts on exactly what the operator read:
//! addresses (`010.010.010.010` is 8.8.8.8 to getaddrinfo), disk paths
//! (`/dev/../etc/passwd`, `/dev/vdb;reboot`) and mesh addresses.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// What `inet_aton` (and so getaddrinfo) makes of `s`: one to four
/// dot-separated numbers, each decimal, octal (leading `0`) or hex (`0x`);
/// the last fills the remaining bytes. `None` when it is no such number.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for p in &parts {
        let v = if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            if hex.is_empty() {
                0
            } else {
                u64::from_str_radix(hex, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse::<u64>().ok()?
        } else {
            return None;
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    let mut addr: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        if *v > 0xff {
            return None;
        }
        addr |= v << (24 - 8 * i);
    }
    let room = 32 - 8 * head.len();
    if *last >= 1u64 << room {
        return None;
    }
    addr |= last;
    u32::try_from(addr).ok().map(Ipv4Addr::from)
}

/// RFC 1123 host name: labels of letters, digits and `-` (not at either
/// end), at most 63 each and 253 in all.
pub fn is_dns_name(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        })
}

/// Why `a` is not a canonical IPv4/IPv6 address or DNS name, if it is not.
pub fn address_problem(a: &str) -> Option<String> {
    if a.parse::<IpAddr>().is_ok() {
        return None;
    }
    if let Some(ip) = inet_aton(a) {
        return Some(format!(
            "address {a:?} is not canonical: the system resolver reads it as {ip}; expected the address written as {ip} (four decimal parts, no leading zeros), or a DNS name"
        ));
    }
    if is_dns_name(a) {
        let last = a.rsplit('.').next().unwrap_or(a);
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Some(format!(
                "address {a:?} is neither an IPv4 address (four parts of 0 to 255) nor a DNS name (its last label is all digits); expected e.g. 198.51.100.7 or edge-1.example.eu"
            ));
        }
        return None;
    }
    Some(format!(
        "invalid address {a:?}; expected an IPv4/IPv6 address (e.g. 198.51.100.7, 2001:db8::7) or a DNS name (e.g. edge-1.example.eu)"
    ))
}

/// The identity of an address for duplicate checks: the parsed IP (one
/// IPv6 address however it is written), else the lower-case name.
pub fn address_key(a: &str) -> String {
    match a.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => a.to_ascii_lowercase(),
    }
}

/// `host:port`, with an IPv6 address in brackets (`[2001:db8::7]:22`).
pub fn with_port(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

fn is_device_name(n: &str) -> bool {
    n.len() <= 255
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '+' | '@' | '-'))
}

/// Why `d` is not a canonical disk path, if it is not: `/dev/NAME` or
/// `/dev/disk/by-id/NAME` (`by-path` too), NAME of letters, digits and
/// `._:+@-`, so it names one device and is one word to a shell.
pub fn disk_problem(d: &str) -> Option<String> {
    let ok = match d
        .strip_prefix("/dev/")
        .map(|r| r.split('/').collect::<Vec<_>>())
    {
        Some(parts) => match parts.as_slice() {
            [name] => is_device_name(name) && *name != "disk",
            ["disk", "by-id" | "by-path", name] => is_device_name(name),
            _ => false,
        },
        None => false,
    };
    (!ok).then(|| {
        format!(
            "disk {d:?} is not a canonical device path; expected /dev/NAME (e.g. /dev/vdb, /dev/nvme1n1) or /dev/disk/by-id/NAME, NAME made of letters, digits and `._:+@-`"
        )
    })
}

/// Why `m` cannot be a WireGuard mesh address (of `network`, when the
/// inventory declares one), if it cannot.
pub fn mesh_problem(m: IpAddr, network: Option<IpNet>) -> Option<String> {
    let what = if m.is_unspecified() {
        Some("the unspecified address")
    } else if m.is_loopback() {
        Some("a loopback address")
    } else if m.is_multicast() {
        Some("a multicast address")
    } else if m == IpAddr::V4(Ipv4Addr::BROADCAST) {
        Some("the broadcast address")
    } else {
        None
    };
    if let Some(what) = what {
        return Some(format!(
            "mesh address {m} is {what}; expected a unicast address of the mesh network{}",
            match network {
                Some(n) => format!(" {n}"),
                None => " (e.g. 10.99.0.1)".to_string(),
            }
        ));
    }
    let net = network?;
    if !net.contains(&m) {
        return Some(format!(
            "mesh address {m} is outside the mesh network {net} (mesh.network); expected an address in {net}"
        ));
    }
    if let IpNet::V4(v4) = net {
        if v4.prefix_len() < 31
            && (m == IpAddr::V4(v4.network()) || m == IpAddr::V4(v4.broadcast()))
        {
            return Some(format!(
                "mesh address {m} is the {} address of {net}; expected a host address such as {}",
                if m == IpAddr::V4(v4.network()) {
                    "network"
                } else {
                    "broadcast"
                },
                v4.hosts().next().map(|h| h.to_string()).unwrap_or_default()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_reads_what_the_resolver_reads() {
        let ip = |s: &str| inet_aton(s).map(|a| a.to_string());
        assert_eq!(ip("010.010.010.010").as_deref(), Some("8.8.8.8"));
        assert_eq!(ip("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("0x7f.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(ip("198.51.100.256"), None);
        assert_eq!(ip("edge-1"), None);
    }

    #[test]
    fn only_canonical_addresses_pass() {
        for good in [
            "198.51.100.7",
            "2001:db8::1",
            "2001:DB8:0::1",
            "edge-1.example.eu",
            "a1",
        ] {
            assert_eq!(address_problem(good), None, "{good}");
        }
        for bad in [
            "010.010.010.010",
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "198.51.100.256",
            "0x7f000001",
            "edge_1",
            "-bad",
            "[2001:db8::1]",
            "10.0.0.1 ",
        ] {
            assert!(address_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(address_key("2001:DB8:0::1"), address_key("2001:db8::1"));
    }

    #[test]
    fn only_canonical_disks_pass() {
        for good in [
            "/dev/vdb",
            "/dev/nvme1n1",
            "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
            "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-1",
        ] {
            assert_eq!(disk_problem(good), None, "{good}");
        }
        for bad in [
            "vdb",
            "/dev/",
            "/dev/../etc/passwd",
            "/dev/vdb;reboot",
            "/dev/vdb vdc",
            "/dev/vdb\nreboot",
            "/dev//vdb",
            "/dev/vdb/",
            "/dev/disk",
            "/dev/disk/by-uuid/x",
            "/dev/'x'",
            "/dev/$(id)",
        ] {
            assert!(disk_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn mesh_addresses_are_unicast_and_inside_the_network() {
        let net: Option<IpNet> = "10.99.0.0/24".parse().ok();
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        for bad in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "127.0.0.1",
            "::1",
            "ff02::1",
            "::",
        ] {
            assert!(mesh_problem(ip(bad), None).is_some(), "{bad}");
        }
        assert_eq!(mesh_problem(ip("10.99.0.7"), net), None);
        assert!(mesh_problem(ip("10.98.0.7"), net).is_some());
        assert!(mesh_problem(ip("10.99.0.0"), net).is_some());
        assert!(mesh_problem(ip("10.99.0.255"), net).is_some());
        assert_eq!(mesh_problem(ip("10.98.0.7"), None), None);
    }
}
