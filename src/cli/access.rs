//! `rampart access`: each host's journal read in one exec, all hosts in
//! parallel, judged against the inventory's operators.

use std::sync::Arc;

use crate::access::{self, AccessRun, Unreadable};
use crate::calendar;

use super::args::{AccessFormat, GlobalArgs};
use super::context::{connect_options, on_hosts, prepare};
use super::{Exit, UsageError};

pub async fn run(g: &GlobalArgs, since: &str, format: AccessFormat) -> anyhow::Result<Exit> {
    let since = access::since::parse(since, calendar::now_secs()).map_err(UsageError)?;
    let p = Arc::new(prepare(g)?);
    let policy = crate::ops::access::policy(&p.inventory);
    let opts = connect_options(&p.inventory, &p.inventory.ssh.user, g)?;
    let outcomes = on_hosts(&p, &opts, g, "access", |session, _, _| async move {
        access::read(&session, since).await
    })
    .await;
    let mut hosts = Vec::new();
    let mut unreadable = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(journal) => hosts.push(access::judge(&o.host, &journal, &policy, since)),
            Err(e) => unreadable.push(Unreadable {
                host: o.host,
                error: e.to_string(),
            }),
        }
    }
    let run = AccessRun::new(since, hosts, unreadable);
    match format {
        AccessFormat::Text => print!("{}", access::render_text(&run)),
        AccessFormat::Json => println!("{}", serde_json::to_string_pretty(&run)?),
        AccessFormat::Md => print!("{}", access::render_markdown(&run)),
    }
    Ok(if !run.unreadable.is_empty() {
        Exit::HostFailed
    } else if run.findings() > 0 {
        Exit::Drift
    } else {
        Exit::Ok
    })
}
