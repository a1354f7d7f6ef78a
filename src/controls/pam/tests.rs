//! The PAM checks on Debian 13's stock stack (recorded from a lab host) and
//! on the stack pam-auth-update writes from rampart's profiles.

use super::*;
use crate::controls::context::on_base_host;
use crate::facts::pam::pam_section;
use crate::facts::{Facts, Group};

/// Debian 13's common-auth, common-password and su before harden.
const STOCK: &str = "@@pam common-auth\n\
auth\t[success=1 default=ignore]\tpam_unix.so nullok\n\
auth\trequisite\t\t\tpam_deny.so\n\
auth\trequired\t\t\tpam_permit.so\n\
@@pam common-password\n\
password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\n\
password\trequisite\t\t\tpam_deny.so\n\
@@pam common-account\n\
account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so \n\
@@pam su\n\
auth       sufficient pam_rootok.so\n\
# auth       required   pam_wheel.so\n\
@include common-auth\n\
@include common-account\n\
@@unix-profile /usr/share/pam-configs/unix\n";

/// The same files after pam-auth-update merged rampart's profiles.
const HARDENED: &str = "@@pam common-auth\n\
auth\trequisite\tpam_faillock.so preauth\n\
auth\t[success=2 default=ignore]\tpam_unix.so try_first_pass\n\
auth\t[default=die]\tpam_faillock.so authfail\n\
auth\trequisite\t\t\tpam_deny.so\n\
@@pam common-password\n\
password\trequisite\tpam_pwquality.so retry=3\n\
password\trequisite\tpam_pwhistory.so remember=24 enforce_for_root try_first_pass use_authtok\n\
password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt rounds=7\n\
@@pam common-account\n\
account\trequired\tpam_faillock.so\n\
account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so \n\
@@pam su\n\
auth       sufficient pam_rootok.so\n\
auth       required   pam_wheel.so use_uid group=sugroup\n\
@include common-auth\n\
@@unix-profile /var/lib/rampart/pam-configs-unix.debian\n";

fn facts(pam: &str) -> Facts {
    Facts {
        pam: pam_section(pam),
        groups: vec![Group {
            name: "sugroup".into(),
            gid: 990,
            members: vec![],
        }],
        ..Default::default()
    }
}

fn vars() -> crate::controls::context::Vars {
    [
        ("pam_yescrypt_rounds", "7"),
        ("pam_pwhistory_remember", "24"),
        ("su_group", "sugroup"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into()))
    .collect()
}

fn with<T>(facts: &Facts, f: impl FnOnce(&HostCtx) -> T) -> T {
    let vars = vars();
    on_base_host(facts, |ctx| {
        f(&HostCtx {
            vars: &vars,
            ..*ctx
        })
    })
}

#[test]
fn debian_s_nullok_fails_wherever_an_include_brings_it() {
    let f = facts(STOCK);
    with(&f, |ctx| {
        let o = evaluate_no_nullok(ctx);
        assert_eq!(o.status, crate::controls::Status::Fail);
        assert!(o.observed.contains("common-auth auth"), "{}", o.observed);
        assert!(
            o.observed.contains("su auth"),
            "through @include: {}",
            o.observed
        );
        assert!(o.observed.contains("not diverted"), "{}", o.observed);
    });
}

#[test]
fn the_merged_stack_passes_its_stack_judgements() {
    let f = facts(HARDENED);
    with(&f, |ctx| {
        assert!(nullok_rules(ctx).is_empty());
        assert!(
            unix_hashing_problems(ctx).is_empty(),
            "{:?}",
            unix_hashing_problems(ctx)
        );
        assert!(faillock_stack_problems(ctx).is_empty());
        assert!(pwhistory_problems(ctx).is_empty());
        assert!(su_problems(ctx).is_empty(), "{:?}", su_problems(ctx));
    });
}

#[test]
fn faillock_must_wrap_pam_unix_and_pwhistory_needs_its_flags() {
    let f = facts(STOCK);
    with(&f, |ctx| {
        assert_eq!(faillock_stack_problems(ctx).len(), 2);
        assert_eq!(
            pwhistory_problems(ctx),
            ["common-password lacks pam_pwhistory"]
        );
        assert!(unix_hashing_problems(ctx)[0].contains("rounds=default"));
    });
    let weak = HARDENED.replace("remember=24 enforce_for_root", "remember=5");
    let f = facts(&weak);
    with(&f, |ctx| {
        assert_eq!(
            pwhistory_problems(ctx),
            [
                "remember=5 (expected >= 24)",
                "pam_pwhistory without enforce_for_root"
            ]
        );
    });
}

#[test]
fn su_gets_the_wheel_line_after_pam_rootok_once() {
    let f = facts(STOCK);
    with(&f, |ctx| {
        let stock = "auth       sufficient pam_rootok.so\n# auth required pam_wheel.so\n@include common-auth\n";
        let once = su_content(ctx, stock);
        assert_eq!(
            once.lines().nth(2),
            Some("auth       required   pam_wheel.so use_uid group=sugroup")
        );
        assert_eq!(su_content(ctx, &once), once, "a second run changes nothing");
        assert_eq!(su_problems(ctx).len(), 1, "{:?}", su_problems(ctx));
    });
}

#[test]
fn faillock_conf_values_are_judged_as_pam_faillock_reads_them() {
    let conf = "# deny = 3\ndeny = 4\nunlock_time = 600\nfail_interval=900\n";
    assert_eq!(conf_value(conf, "deny"), Some("4"));
    assert_eq!(conf_value(conf, "fail_interval"), Some("900"));
    assert_eq!(conf_value(conf, "even_deny_root"), None);
    assert_eq!(conf_value("even_deny_root\n", "even_deny_root"), Some(""));
}
