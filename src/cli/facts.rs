//! `rampart facts`: one round trip per host, all hosts in parallel.

use std::collections::{BTreeMap, HashMap};

use crate::facts::{self, Facts};

use super::args::{FactsFormat, GlobalArgs};
use super::context::{connect_options, on_hosts, prepare};
use super::{summarize, Exit};

pub async fn run(g: &GlobalArgs, format: FactsFormat) -> anyhow::Result<Exit> {
    // The same request verify makes, so `facts` shows what verify judges.
    let p = prepare(g)?;
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let requests: HashMap<String, facts::Request> = p
        .setups
        .iter()
        .map(|s| (s.host.name.clone(), s.request.clone()))
        .collect();
    let outcomes = on_hosts(&p, &opts, g, "facts", |session, name, _| {
        let req = requests.get(&name).cloned().unwrap_or_default();
        async move { facts::gather(&session, &req).await }
    })
    .await;
    match format {
        FactsFormat::Json => {
            let ok: BTreeMap<&str, &Facts> = outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().ok().map(|f| (o.host.as_str(), f)))
                .collect();
            let failed: BTreeMap<&str, String> = outcomes
                .iter()
                .filter_map(|o| {
                    o.result
                        .as_ref()
                        .err()
                        .map(|e| (o.host.as_str(), e.to_string()))
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "hosts": ok, "failed": failed })
                )?
            );
        }
        FactsFormat::Text => {
            for o in &outcomes {
                if let Ok(f) = &o.result {
                    print_text(&o.host, f);
                }
            }
        }
    }
    Ok(summarize(&outcomes, "report facts"))
}

fn print_text(host: &str, f: &Facts) {
    let virt = match &f.virtualization.container {
        Some(c) => format!("container {c}"),
        None => format!("virtualization {}", f.virtualization.kind),
    };
    println!(
        "{host} ({}): {} · kernel {} {} · {virt} · init {}",
        f.hostname, f.os.pretty_name, f.kernel.release, f.kernel.machine, f.init
    );
    match crate::controls::platform::release_of(&f.os) {
        Ok(release) => println!("  release {release}: supported"),
        Err(why) => println!("  release: {why}"),
    }
    let active = f
        .services
        .values()
        .filter(|u| u.active.as_deref() == Some("active"))
        .count();
    println!("  packages {} · units active {active}", f.packages.len());
    if let Some(sshd) = f.sshd.ok() {
        let get = |k: &str| {
            sshd.get(k)
                .and_then(|v| v.first())
                .map(String::as_str)
                .unwrap_or("?")
        };
        println!(
            "  sshd: permitrootlogin {} · passwordauthentication {} · kbdinteractiveauthentication {}",
            get("permitrootlogin"),
            get("passwordauthentication"),
            get("kbdinteractiveauthentication")
        );
    }
    let logins: Vec<&str> = f
        .users
        .iter()
        .filter(|u| u.has_login_shell())
        .map(|u| u.name.as_str())
        .collect();
    let keys: Vec<String> = f
        .authorized_keys
        .iter()
        .map(|a| format!("{} ({})", a.user, a.keys.len()))
        .collect();
    println!(
        "  login shells: {} · authorized keys: {}",
        logins.join(", "),
        if keys.is_empty() {
            "none".into()
        } else {
            keys.join(", ")
        }
    );
    let listening: Vec<String> = f
        .listening
        .iter()
        .map(|s| format!("{} {}", s.proto, s.local))
        .collect();
    println!("  listening: {}", listening.join(", "));
    for (path, d) in &f.disks {
        let state = if !d.present {
            "missing".to_string()
        } else if d.luks.is_some() {
            "LUKS".to_string()
        } else {
            d.signature
                .get("TYPE")
                .or_else(|| d.signature.get("PTTYPE"))
                .cloned()
                .unwrap_or_else(|| "blank".into())
        };
        println!("  disk {path}: {state}");
    }
}
