//! The lab's network: a bridge on the machine with the subnet's first
//! address, one network namespace per host joined to it by a veth pair, and
//! a NAT rule so hosts reach Debian's archive (and nothing is exposed).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::sys::{self, LabError};

pub fn gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    u32::from(subnet.network()).wrapping_add(1).into()
}

/// Address of host `i` (1-based): gateway + 10 + i, leaving room below.
pub fn host_address(subnet: &Ipv4Net, i: usize) -> Result<Ipv4Addr, LabError> {
    let offset = u32::try_from(10 + i).map_err(|_| LabError::State("too many hosts".into()))?;
    let addr: Ipv4Addr = u32::from(subnet.network()).wrapping_add(1 + offset).into();
    if !subnet.contains(&addr) || addr == subnet.broadcast() {
        return Err(LabError::State(format!(
            "subnet {subnet} has no room for host {i}"
        )));
    }
    Ok(addr)
}

pub fn create_bridge(bridge: &str, subnet: &Ipv4Net) -> Result<(), LabError> {
    if !sys::run_quiet("ip", &["link", "show", bridge]) {
        sys::run("ip", &["link", "add", bridge, "type", "bridge"])?;
    }
    let cidr = format!("{}/{}", gateway(subnet), subnet.prefix_len());
    let existing = sys::run("ip", &["-o", "addr", "show", "dev", bridge])?;
    if !existing.contains(&format!(" {cidr} ")) {
        sys::run("ip", &["addr", "add", &cidr, "dev", bridge])?;
    }
    sys::run("ip", &["link", "set", bridge, "up"]).map(|_| ())
}

/// Every container's systemd, and wireguard-go's control socket, take
/// inotify instances, and the limit is per user across all containers (they
/// all run as root): the default 128 runs out at about 20 hosts, and
/// wireguard-go then fails with "too many open files". Only ever raised.
pub fn raise_inotify_limit(at_least: u64) -> Result<(), LabError> {
    let path = std::path::Path::new("/proc/sys/fs/inotify/max_user_instances");
    let current: u64 = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if current >= at_least {
        return Ok(());
    }
    std::fs::write(path, at_least.to_string()).map_err(|source| LabError::Io {
        context: format!("raising {}", path.display()),
        source,
    })
}

/// NAT for the lab subnet only, in a table of its own, plus forwarding.
pub fn enable_nat(table: &str, bridge: &str, subnet: &Ipv4Net) -> Result<(), LabError> {
    sys::write_file(
        std::path::Path::new("/proc/sys/net/ipv4/ip_forward"),
        b"1",
        0o644,
    )
    .or_else(|_| sys::run("sysctl", &["-qw", "net.ipv4.ip_forward=1"]).map(|_| ()))?;
    let _ = sys::run_quiet("nft", &["delete", "table", "ip", table]);
    let ruleset = format!(
        "table ip {table} {{\n\
         \x20 chain postrouting {{ type nat hook postrouting priority srcnat; policy accept;\n\
         \x20   ip saddr {subnet} ip daddr != {subnet} masquerade\n\
         \x20 }}\n\
         \x20 chain forward {{ type filter hook forward priority filter - 1; policy accept;\n\
         \x20   iifname \"{bridge}\" ip saddr {subnet} accept\n\
         \x20   oifname \"{bridge}\" ct state established,related accept\n\
         \x20 }}\n\
         }}\n"
    );
    sys::run_with_stdin("nft", &["-f", "-"], &ruleset)
}

pub fn remove_nat(table: &str) {
    sys::run_quiet("nft", &["delete", "table", "ip", table]);
}

pub fn remove_bridge(bridge: &str) {
    sys::run_quiet("ip", &["link", "del", bridge]);
}

/// Creates the host's namespace and wires it to the bridge as `host0`.
pub fn create_host_netns(
    netns: &str,
    veth: &str,
    bridge: &str,
    address: Ipv4Addr,
    subnet: &Ipv4Net,
) -> Result<(), LabError> {
    remove_host_netns(netns, veth);
    sys::run("ip", &["netns", "add", netns])?;
    let peer = format!("{veth}c");
    sys::run(
        "ip",
        &["link", "add", veth, "type", "veth", "peer", "name", &peer],
    )?;
    sys::run("ip", &["link", "set", veth, "master", bridge, "up"])?;
    sys::run("ip", &["link", "set", &peer, "netns", netns])?;
    let cidr = format!("{address}/{}", subnet.prefix_len());
    let gw = gateway(subnet).to_string();
    for args in [
        vec!["link", "set", peer.as_str(), "name", "host0"],
        vec!["addr", "add", cidr.as_str(), "dev", "host0"],
        vec!["link", "set", "host0", "up"],
        vec!["link", "set", "lo", "up"],
        vec!["route", "add", "default", "via", gw.as_str()],
    ] {
        let mut full = vec!["-n", netns];
        full.extend(args);
        sys::run("ip", &full)?;
    }
    Ok(())
}

pub fn remove_host_netns(netns: &str, veth: &str) {
    sys::run_quiet("ip", &["link", "del", veth]);
    sys::run_quiet("ip", &["netns", "del", netns]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_start_after_the_gateway() {
        let net: Ipv4Net = "10.123.0.0/16".parse().expect("cidr");
        assert_eq!(gateway(&net), Ipv4Addr::new(10, 123, 0, 1));
        assert_eq!(
            host_address(&net, 1).expect("fits"),
            Ipv4Addr::new(10, 123, 0, 12)
        );
        let small: Ipv4Net = "10.9.0.0/28".parse().expect("cidr");
        assert!(host_address(&small, 3).is_ok());
        assert!(host_address(&small, 4).is_err());
    }
}
