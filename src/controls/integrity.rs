//! File integrity (AIDE): a database that exists and includes rampart's own
//! changes, and a daily check that runs against it. The package and the
//! timer are data controls (LOG-09, LOG-10); what they guard is judged here.

use super::context::HostCtx;
use super::custom::CustomCheck;
use super::outcome::{evidence, Outcome};
use crate::engine::apply::LAST_CHANGE;
use crate::engine::resource::Resource;
use crate::facts::UnitRun;

/// Debian's database (`database_in` of /etc/aide/aide.conf, both releases).
pub const AIDE_DATABASE: &str = "/var/lib/aide/aide.db";
/// Debian's daily check, run by `dailyaidecheck.timer`.
pub const DAILY_CHECK: &str = "dailyaidecheck.service";
/// How long a check may be missing before the schedule is judged broken:
/// the timer is daily with a randomised delay, plus a day of slack.
const CHECK_MAX_AGE_SECS: u64 = 2 * 86_400;

/// Builds the database with Debian's own tool (`-y`: replace a previous
/// `aide.db.new`, `-f`: replace the database). Niced: it reads every
/// system file once.
const AIDEINIT: &str = "nice -n 10 aideinit --yes --force";

fn age(ctx: &HostCtx, t: u64) -> String {
    let secs = ctx.facts.collected_at.saturating_sub(t);
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7_200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// Why the database does not hold the host as rampart left it, if it does not.
fn database_problem(ctx: &HostCtx) -> Option<String> {
    let i = &ctx.facts.integrity;
    match (i.database, i.last_change) {
        (None, _) => Some(format!("no AIDE database ({AIDE_DATABASE} absent)")),
        (Some(db), Some(changed)) if db < changed => Some(format!(
            "database built {}, before rampart's last change {}",
            age(ctx, db),
            age(ctx, changed)
        )),
        _ => None,
    }
}

pub fn evaluate_database(ctx: &HostCtx) -> Outcome {
    let expected = format!("{AIDE_DATABASE} built after rampart's last change");
    let problem = database_problem(ctx);
    let built = ctx.facts.integrity.database.map(|db| age(ctx, db));
    let observed = problem
        .clone()
        .unwrap_or_else(|| format!("database built {}", built.unwrap_or_default()));
    Outcome::judge(
        problem.is_none(),
        observed.clone(),
        expected,
        evidence(
            &format!("stat -c %Y {AIDE_DATABASE}; cat {LAST_CHANGE}"),
            observed,
        ),
    )
}

pub fn database_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    Ok(vec![Resource::Snapshot {
        what: format!("AIDE database {AIDE_DATABASE}: build with aideinit"),
        stale: database_problem(ctx).is_some(),
        command: format!("{AIDEINIT} >/dev/null"),
    }])
}

/// The AIDE database rebuilt after a change rampart makes outside harden
/// (a mesh key rotation), on hosts where a database exists: LOG-15 judges
/// it newer than rampart's last change, and its next check must not report
/// rampart's own edit. Hosts without AIDE are left alone.
pub fn refresh_if_built() -> Resource {
    Resource::Snapshot {
        what: format!("AIDE database {AIDE_DATABASE}: rebuilt after rampart's change"),
        stale: false,
        command: format!("if [ -e {AIDE_DATABASE} ]; then {AIDEINIT} >/dev/null; fi"),
    }
}

/// What the last daily check says, or why there is none to judge yet.
fn check_verdict(ctx: &HostCtx) -> (bool, String) {
    let i = &ctx.facts.integrity;
    let fresh = |t: u64| ctx.facts.collected_at.saturating_sub(t) <= CHECK_MAX_AGE_SECS;
    match (&i.last_check, i.database) {
        (_, None) => (false, "no database to check against".into()),
        // dailyaidecheck exits 0 when AIDE ran, whether or not it found
        // differences (they go to its report); non-zero when it could not.
        (Some(run), _) if run.result != "success" => (false, failed_run(ctx, run)),
        (Some(run), _) if fresh(run.exited_at) => (
            true,
            format!("last check completed {}", age(ctx, run.exited_at)),
        ),
        (_, Some(db)) if fresh(db) => (
            true,
            format!(
                "database built {}; its first daily check is still to come",
                age(ctx, db)
            ),
        ),
        (Some(run), _) => (
            false,
            format!(
                "last check {}: the daily check is not running",
                age(ctx, run.exited_at)
            ),
        ),
        (None, Some(db)) => (
            false,
            format!(
                "no check has run since boot, database built {}",
                age(ctx, db)
            ),
        ),
    }
}

fn failed_run(ctx: &HostCtx, run: &UnitRun) -> String {
    format!(
        "last check {} failed: result {}{}",
        age(ctx, run.exited_at),
        run.result,
        run.exit_status
            .map(|s| format!(", exit status {s}"))
            .unwrap_or_default()
    )
}

pub fn evaluate_check(ctx: &HostCtx) -> Outcome {
    let (ok, observed) = check_verdict(ctx);
    Outcome::judge(
        ok,
        observed.clone(),
        "the daily AIDE check completed within 2 days (or the database is younger than that)",
        evidence(
            &format!(
                "systemctl show {DAILY_CHECK} -p Result -p ExecMainStatus -p ExecMainExitTimestamp"
            ),
            observed,
        ),
    )
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::enforced("aide_database", evaluate_database, database_resources),
    CustomCheck::judged("aide_check", evaluate_check),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::Status;
    use crate::facts::{Facts, Integrity};

    const NOW: u64 = 1_800_000_000;

    fn judge(integrity: Integrity, f: fn(&HostCtx) -> Outcome) -> Outcome {
        let facts = Facts {
            collected_at: NOW,
            integrity,
            ..Default::default()
        };
        crate::controls::context::on_base_host(&facts, f)
    }

    fn run(result: &str, ago: u64) -> Option<UnitRun> {
        Some(UnitRun {
            result: result.into(),
            exit_status: Some(if result == "success" { 0 } else { 1 }),
            exited_at: NOW - ago,
        })
    }

    #[test]
    fn an_installed_checker_without_a_database_fails() {
        let o = judge(Integrity::default(), evaluate_database);
        assert_eq!(o.status, Status::Fail);
        assert!(o.observed.contains("absent"), "{}", o.observed);
        assert_eq!(
            judge(Integrity::default(), evaluate_check).status,
            Status::Fail
        );
    }

    #[test]
    fn a_database_older_than_ramparts_last_change_fails_and_is_rebuilt() {
        let stale = Integrity {
            database: Some(NOW - 3_600),
            last_change: Some(NOW - 60),
            last_check: None,
        };
        assert_eq!(judge(stale.clone(), evaluate_database).status, Status::Fail);
        let current = Integrity {
            database: Some(NOW - 30),
            ..stale
        };
        assert_eq!(judge(current, evaluate_database).status, Status::Pass);
    }

    #[test]
    fn the_daily_check_is_judged_by_its_last_run() {
        let db = Some(NOW - 10 * 86_400);
        let with = |last_check| Integrity {
            database: db,
            last_change: None,
            last_check,
        };
        assert_eq!(
            judge(with(run("success", 3_600)), evaluate_check).status,
            Status::Pass
        );
        assert_eq!(
            judge(with(run("exit-code", 3_600)), evaluate_check).status,
            Status::Fail
        );
        assert_eq!(
            judge(with(run("success", 5 * 86_400)), evaluate_check).status,
            Status::Fail,
            "a check that stopped running"
        );
        assert_eq!(judge(with(None), evaluate_check).status, Status::Fail);
        let new_db = Integrity {
            database: Some(NOW - 600),
            ..with(None)
        };
        let o = judge(new_db, evaluate_check);
        assert_eq!(o.status, Status::Pass);
        assert!(o.observed.contains("first daily check"), "{}", o.observed);
    }

    #[test]
    fn the_database_is_rebuilt_after_any_other_change_of_the_run() {
        let facts = Facts::default();
        let snapshot = Resource::Snapshot {
            what: "AIDE database".into(),
            stale: false,
            command: "true".into(),
        };
        assert!(
            crate::engine::resource::changes(std::slice::from_ref(&snapshot), &facts).is_empty()
        );
        let other = Resource::Package {
            name: "aide".into(),
            present: true,
        };
        let changes = crate::engine::resource::changes(&[snapshot, other], &facts);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(matches!(
            changes.last().map(|c| &c.resource),
            Some(Resource::Snapshot { .. })
        ));
    }
}
