//! Lockout protection judged before anything is applied: a plan that would
//! stop rampart's own account from logging in is refused with the fix.

use crate::controls::custom::Login;
use crate::controls::{dispatch, HostControl};
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
    let login = Login {
        user,
        operator: inv.operators.iter().find(|o| o.name == user),
        operator_names: operator_names(inv),
        operators_group,
        client_keys,
    };
    let mut risks: Vec<String> = controls
        .iter()
        .filter_map(|hc| {
            dispatch::login_risk(&hc.control.check, &login)
                .map(|risk| format!("{} {risk}", hc.control.id))
        })
        .collect();
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

/// Refuses a host's whole plan when a resource would destroy data the
/// operator did not name for this run: nothing is applied to that host, so
/// a refused device is left exactly as it was.
pub fn refuse_destruction(
    host: &str,
    resources: &[crate::engine::resource::Resource],
    consent: &[String],
) -> Result<(), String> {
    use crate::engine::resource::Resource;
    let refused: Vec<String> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Action(a) => a.destroys.as_ref(),
            _ => None,
        })
        .filter(|d| !consent.contains(&d.target))
        .map(|d| {
            format!(
                "{}: {}; it is left untouched (to destroy it, run harden --wipe {} for that run)",
                d.target, d.found, d.target
            )
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "refused before anything was applied on {host}: {}",
        refused.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::{Action, Destroys, Resource};

    fn destructive(target: &str) -> Resource {
        Resource::Action(Box::new(Action {
            summary: "format".into(),
            script: "true".into(),
            secret: None,
            escrow: None,
            destroys: Some(Destroys {
                target: target.into(),
                found: "holds ext4".into(),
            }),
        }))
    }

    #[test]
    fn destruction_needs_consent_naming_the_exact_target() {
        let r = vec![destructive("h1:/dev/vdb")];
        let err = refuse_destruction("h1", &r, &[]).expect_err("refused");
        assert!(err.contains("h1:/dev/vdb: holds ext4"), "{err}");
        assert!(err.contains("--wipe h1:/dev/vdb"), "{err}");
        assert!(refuse_destruction("h1", &r, &["h2:/dev/vdb".into()]).is_err());
        assert!(refuse_destruction("h1", &r, &["h1:/dev/vdc".into()]).is_err());
        assert!(refuse_destruction("h1", &r, &["h1:/dev/vdb".into()]).is_ok());
    }
}
