//! The parser of collect.sh's `backup` section (see `BackupFacts`): lines
//! `KEY VALUE` and tab-separated records for the store and the probes.

use std::collections::BTreeMap;

use super::model::{
    BackupFacts, DropProbe, Manifest, PostgresFacts, StoreFacts, StoredFile, UnitRun,
};

pub fn backup(t: &str) -> BackupFacts {
    let mut out = BackupFacts::default();
    let mut units: BTreeMap<String, (String, Option<i32>, Option<u64>)> = BTreeMap::new();
    for line in t.lines() {
        let (key, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        match key {
            "client-key" => out.client_key = Some(rest.trim().to_string()),
            "client-since" => out.client_since = rest.trim().parse().ok(),
            "host-key" => out.host_key = Some(rest.trim().to_string()),
            "ok" => {
                if let Some((db, time)) = rest.split_once(' ') {
                    if let Ok(time) = time.trim().parse() {
                        out.last_success.insert(db.to_string(), time);
                    }
                }
            }
            "unit" => unit_line(rest, &mut units),
            "pg-up" | "pg-role" | "pg-db" | "pg-down" => postgres_line(key, rest, &mut out),
            "store-since" => store(&mut out).since = rest.trim().parse().unwrap_or(0),
            "file" => stored_file(rest, &mut out),
            "manifest" => {
                if let Some((path, json)) = rest.split_once('\t') {
                    let m = serde_json::from_str::<Manifest>(json).ok();
                    store(&mut out).manifests.insert(path.to_string(), m);
                }
            }
            "probe" => out.probes.extend(probe(rest)),
            _ => {}
        }
    }
    out.runs = units
        .into_iter()
        .filter_map(|(unit, (result, exit_status, exited))| {
            let exited_at = exited.filter(|t| *t > 0)?;
            Some((
                unit,
                UnitRun {
                    result,
                    exit_status,
                    exited_at,
                },
            ))
        })
        .collect();
    out
}

fn store(out: &mut BackupFacts) -> &mut StoreFacts {
    out.store.get_or_insert_with(StoreFacts::default)
}

/// `UNIT Result=…`, `UNIT ExecMainStatus=…`, `UNIT ExecMainExitTimestamp=@T`.
fn unit_line(rest: &str, units: &mut BTreeMap<String, (String, Option<i32>, Option<u64>)>) {
    let Some((unit, kv)) = rest.split_once(' ') else {
        return;
    };
    let entry = units.entry(unit.to_string()).or_default();
    if let Some(v) = kv.strip_prefix("Result=") {
        entry.0 = v.trim().to_string();
    } else if let Some(v) = kv.strip_prefix("ExecMainStatus=") {
        entry.1 = v.trim().parse().ok();
    } else if let Some(v) = kv.strip_prefix("ExecMainExitTimestamp=") {
        entry.2 = v.trim().trim_start_matches('@').parse().ok();
    }
}

fn postgres_line(key: &str, rest: &str, out: &mut BackupFacts) {
    let pg = out.postgres.get_or_insert_with(PostgresFacts::default);
    match key {
        "pg-up" => pg.up = true,
        "pg-role" => pg.backup_role = true,
        "pg-db" => pg.databases.push(rest.trim().to_string()),
        _ => pg.up = false,
    }
}

/// `PATH\tSIZE\tHEAD`.
fn stored_file(rest: &str, out: &mut BackupFacts) {
    let mut f = rest.splitn(3, '\t');
    let (Some(path), Some(size)) = (f.next(), f.next()) else {
        return;
    };
    let file = StoredFile {
        path: path.to_string(),
        size: size.trim().parse().unwrap_or(0),
        head: f.next().unwrap_or("").to_string(),
    };
    store(out).files.push(file);
}

/// `TARGET\tREQUEST\tSTATUS\tOUTPUT`.
fn probe(rest: &str) -> Option<DropProbe> {
    let mut f = rest.splitn(4, '\t');
    Some(DropProbe {
        target: f.next()?.to_string(),
        request: f.next()?.to_string(),
        exit_status: f.next()?.trim().parse().ok()?,
        output: f.next().unwrap_or("").trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_a_backup_are_read() {
        let t = "client-key ssh-ed25519 AAAAC3Nz\nclient-since 1700000000\nok app 1700003600\n\
                 host-key ssh-ed25519 AAAAhost\n\
                 unit rampart-backup.service Id=rampart-backup.service\n\
                 unit rampart-backup.service Result=success\n\
                 unit rampart-backup.service ExecMainStatus=0\n\
                 unit rampart-backup.service ExecMainExitTimestamp=@1700003600\n\
                 unit rampart-backup-rotate.service Result=success\n\
                 unit rampart-backup-rotate.service ExecMainExitTimestamp=\n\
                 pg-up\npg-role rampart-backup\npg-db postgres\npg-db app\n\
                 store-since 1699990000\n\
                 file\tdb-1/20231114T221320Z-app.age\t4096\tage-encryption.org/v1\n\
                 manifest\tdb-1/20231114T221320Z-app.json\t{\"artifact\":\"20231114T221320Z-app.age\",\"source\":\"db-1\",\"database\":\"app\",\"time\":1700000000,\"size\":4096,\"sha256\":\"ab\",\"rows\":{\"public.t\":3}}\n\
                 manifest\tdb-1/x.json\tnot json\n\
                 probe\t10.99.0.9,2223\tls\t77\trampart-drop: refused: the drop accepts only …\n";
        let b = backup(t);
        assert_eq!(b.client_key.as_deref(), Some("ssh-ed25519 AAAAC3Nz"));
        assert_eq!(b.last_success.get("app"), Some(&1_700_003_600));
        assert_eq!(b.runs.len(), 1, "a unit that never ran has no run");
        assert_eq!(b.runs["rampart-backup.service"].result, "success");
        let pg = b.postgres.expect("postgres");
        assert!(pg.up && pg.backup_role);
        assert_eq!(pg.databases, ["postgres", "app"]);
        let store = b.store.expect("store");
        assert_eq!(store.files[0].size, 4096);
        assert_eq!(store.manifests.len(), 2);
        let m = store.manifests["db-1/20231114T221320Z-app.json"]
            .clone()
            .expect("manifest");
        assert_eq!(m.rows["public.t"], 3);
        assert!(store.manifests["db-1/x.json"].is_none());
        assert_eq!(b.probes[0].exit_status, 77);
    }

    #[test]
    fn a_host_without_backups_has_empty_facts() {
        assert_eq!(backup(""), BackupFacts::default());
    }
}
