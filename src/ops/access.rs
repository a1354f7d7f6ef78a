//! `access` below the CLI: the inventory turned into the policy a host's
//! journal is judged against (`access::Policy`).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::access::judge::{fingerprint, OperatorKeys, Policy, RemovedOperator};
use crate::inventory::Inventory;

/// Operators with their keys' fingerprints, the accounts that are an
/// operator's, where logins may come from, and removed operators.
pub fn policy(inv: &Inventory) -> Policy {
    let operators = inv
        .operators
        .iter()
        .map(|o| OperatorKeys {
            name: o.name.clone(),
            fingerprints: o.keys.iter().filter_map(|k| fingerprint(k)).collect(),
        })
        .collect();
    let mut accounts: Vec<String> = inv.operators.iter().map(|o| o.name.clone()).collect();
    // rampart's own accounts; root is judged on its own (a root login).
    for own in [&inv.ssh.user, &inv.ssh.bootstrap_user] {
        if own != "root" && !accounts.contains(own) {
            accounts.push(own.clone());
        }
    }
    let removed = inv
        .removed_operators
        .iter()
        .map(|r| RemovedOperator {
            name: r.name.clone(),
            removed_day: r.removed_day,
            fingerprints: r.keys.iter().filter_map(|k| fingerprint(k)).collect(),
        })
        .collect();
    Policy {
        operators,
        accounts,
        admin_sources: admin_sources(inv),
        removed,
    }
}

/// `admin_sources`, the bastion hosts and the jump host (by IP address;
/// a name cannot be matched against the address sshd logs).
fn admin_sources(inv: &Inventory) -> Vec<IpNet> {
    let mut nets = inv.admin_sources.clone();
    let jump = match &inv.ssh.jump {
        Some(crate::inventory::Jump::Address { host, .. }) => Some(host.clone()),
        Some(crate::inventory::Jump::Host(name)) => inv.host(name).map(|h| h.address.clone()),
        None => None,
    };
    let bastions = inv
        .hosts
        .iter()
        .filter(|h| h.roles.iter().any(|r| r == "bastion"))
        .map(|h| h.address.clone());
    for address in bastions.chain(jump) {
        if let Ok(ip) = address.parse::<IpAddr>() {
            nets.push(IpNet::from(ip));
        }
    }
    nets
}
