//! Lockout protection judged before anything is applied: a plan that would
//! stop rampart's own account from logging in is refused with the fix.

use crate::controls::{Check, HostControl};
use crate::inventory::{Host, Inventory};

/// Reasons `controls` on `host` would lock out `ssh.user`; empty when safe.
/// `client_keys` are the public keys rampart authenticates with (type and
/// base64), when known.
pub fn lockout_risks(
    inv: &Inventory,
    host: &Host,
    controls: &[&HostControl],
    operators_group: &str,
    client_keys: &[String],
) -> Vec<String> {
    let user = inv.ssh.user.as_str();
    let operator = inv.operators.iter().find(|o| o.name == user);
    let mut risks = Vec::new();
    for hc in controls {
        let id = &hc.control.id;
        match &hc.control.check {
            Check::Sshd { option, value } if option == "permitrootlogin" && value == "no" && user == "root" => risks.push(format!(
                "{id} sets PermitRootLogin no while rampart connects as root; run `rampart provision` and set ssh.user to one of the operators ({})",
                operator_names(inv)
            )),
            Check::Sshd { option, value } if option == "allowgroups" => {
                let groups: Vec<&str> = value.split_whitespace().collect();
                let in_group = operator.is_some() && groups.contains(&operators_group);
                if !in_group {
                    risks.push(format!(
                        "{id} sets AllowGroups {value}, which does not admit ssh.user `{user}`; set ssh.user to an operator (members of {operators_group}) or add its group"
                    ));
                }
            }
            Check::Sshd { option, value } if option == "allowusers" && !value.split_whitespace().any(|u| u == user) => {
                risks.push(format!("{id} sets AllowUsers {value} without ssh.user `{user}`"));
            }
            Check::Custom { name } if name == "only_operator_keys" || name == "operator_accounts" => match operator {
                None if name == "only_operator_keys" => risks.push(format!(
                    "{id} removes every authorized key that is not an operator's, including those of ssh.user `{user}`; set ssh.user to an operator"
                )),
                Some(op) if !client_keys.is_empty() && !op.keys.iter().any(|k| client_keys.iter().any(|c| k.contains(c.as_str()))) => risks.push(format!(
                    "{id} sets the authorized keys of `{user}` to the inventory's, which do not include the key rampart connects with; add that public key to operator `{user}`"
                )),
                _ => {}
            },
            _ => {}
        }
    }
    risks.sort();
    risks.dedup();
    risks
        .into_iter()
        .map(|r| format!("{}: {r}", host.name))
        .collect()
}

fn operator_names(inv: &Inventory) -> String {
    let names: Vec<&str> = inv.operators.iter().map(|o| o.name.as_str()).collect();
    if names.is_empty() {
        "none declared yet: add operators to the inventory".into()
    } else {
        names.join(", ")
    }
}
