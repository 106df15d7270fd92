#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::model::credential_report::{CertSlot, KeySlot, parse};
use crate::model::inventory::Tag;
use crate::model::report::Kind;
use crate::settings::glob::Glob;
use proptest::prelude::*;
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-21 12:00:00 UTC);

fn settings() -> Settings {
    Settings::default()
}

fn days_ago(d: i64) -> OffsetDateTime {
    NOW - Duration::days(d)
}

fn no_key(slot: u8) -> KeySlot {
    KeySlot {
        slot,
        active: false,
        last_rotated: Observed::NotApplicable,
        last_used: Observed::NotApplicable,
        last_used_service: None,
    }
}

fn key(slot: u8, created: OffsetDateTime, used: Option<OffsetDateTime>) -> KeySlot {
    KeySlot {
        slot,
        active: true,
        last_rotated: Observed::At(created),
        last_used: used.map_or(Observed::NotApplicable, Observed::At),
        last_used_service: None,
    }
}

fn row(user: &str) -> CredentialRow {
    CredentialRow {
        line: 2,
        user: user.to_string(),
        arn: format!("arn:aws:iam::111122223333:user/{user}"),
        user_creation_time: days_ago(1000),
        password_enabled: Some(false),
        password_last_used: Observed::NotApplicable,
        password_last_changed: Observed::NotApplicable,
        keys: [no_key(1), no_key(2)],
        certificates: [no_certificate(1), no_certificate(2)],
    }
}

fn no_certificate(slot: u8) -> CertSlot {
    CertSlot {
        slot,
        active: false,
        last_rotated: Observed::NotApplicable,
    }
}

fn details(user: &str, tags: &[(&str, &str)]) -> UserDetails {
    UserDetails {
        name: user.to_string(),
        id: format!("AIDA{}", user.to_ascii_uppercase()),
        arn: format!("arn:aws:iam::111122223333:user/{user}"),
        path: "/".to_string(),
        create_date: days_ago(1000),
        tags: tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        attached_policy_arns: vec![],
    }
}

fn inventory(rows: Vec<CredentialRow>) -> Inventory {
    let details = rows.iter().map(|r| details(&r.user, &[])).collect();
    Inventory {
        details: rows
            .iter()
            .map(|r| r.user.clone())
            .zip::<Vec<UserDetails>>(details)
            .collect(),
        rows,
        ..Inventory::default()
    }
}

fn with_password(mut r: CredentialRow, used: Observed, changed: Observed) -> CredentialRow {
    r.password_enabled = Some(true);
    r.password_last_used = used;
    r.password_last_changed = changed;
    r
}

#[test]
fn boundaries_of_standing() {
    let s = settings();
    assert_eq!(standing(0, &s), Standing::Active);
    assert_eq!(standing(76, &s), Standing::Active);
    assert_eq!(standing(77, &s), Standing::Warn { days_left: 14 });
    assert_eq!(standing(90, &s), Standing::Warn { days_left: 1 });
    assert_eq!(standing(91, &s), Standing::Dormant);
    let no_warn = Settings {
        warn_days: 0,
        ..settings()
    };
    assert_eq!(standing(90, &no_warn), Standing::Active);
}

#[test]
fn idle_days_counts_whole_days_and_ignores_future() {
    assert_eq!(idle_days(NOW, Some(NOW - Duration::hours(47)), days_ago(500)), 1);
    assert_eq!(idle_days(NOW, Some(NOW + Duration::days(3)), days_ago(500)), 0);
    assert_eq!(idle_days(NOW, None, days_ago(91)), 91);
}

#[test]
fn dormant_console_password_is_deleted() {
    let r = with_password(row("bob"), Observed::At(days_ago(120)), Observed::At(days_ago(400)));
    let p = plan(&inventory(vec![r]), &settings(), NOW);
    assert_eq!(p.items.len(), 1);
    let f = &p.items[0].finding;
    assert_eq!(
        (f.kind, f.action, f.status),
        (Kind::ConsolePassword, Action::DeleteLoginProfile, Status::Planned)
    );
    assert_eq!(f.idle_days, Some(120));
    assert_eq!(f.last_used, Some(days_ago(120)));
}

#[test]
fn never_used_password_counts_from_when_it_was_set_not_from_the_user() {
    // User created 1000 days ago; password set 10 days ago, never used: not dormant.
    let r = with_password(row("new-pw"), Observed::NoInformation, Observed::At(days_ago(10)));
    assert!(plan(&inventory(vec![r]), &settings(), NOW).items.is_empty());
    // Set 100 days ago and never used: dormant, 100 idle days.
    let r = with_password(row("old-pw"), Observed::NoInformation, Observed::At(days_ago(100)));
    let p = plan(&inventory(vec![r]), &settings(), NOW);
    assert_eq!(p.items[0].finding.idle_days, Some(100));
    assert_eq!(p.items[0].finding.last_used, None);
}

#[test]
fn never_used_password_without_a_change_date_falls_back_to_user_creation() {
    let mut r = with_password(row("x"), Observed::NotSupported, Observed::NotSupported);
    r.user_creation_time = days_ago(30);
    assert!(plan(&inventory(vec![r.clone()]), &settings(), NOW).items.is_empty());
    r.user_creation_time = days_ago(95);
    assert_eq!(
        plan(&inventory(vec![r]), &settings(), NOW).items[0].finding.idle_days,
        Some(95)
    );
}

#[test]
fn a_password_reset_after_the_last_use_restarts_the_clock() {
    // Last sign-in 200 days ago, but an admin set a new password 5 days ago.
    let r = with_password(row("returning"), Observed::At(days_ago(200)), Observed::At(days_ago(5)));
    assert!(plan(&inventory(vec![r]), &settings(), NOW).items.is_empty());
}

#[test]
fn two_keys_are_judged_on_their_own_dates() {
    let mut r = row("two-keys");
    // Key 1: old and unused for 200 days. Key 2: created 3 days ago, never used.
    r.keys = [key(1, days_ago(700), Some(days_ago(200))), key(2, days_ago(3), None)];
    let p = plan(&inventory(vec![r.clone()]), &settings(), NOW);
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].finding.access_key_slot, Some(1));
    assert_eq!(
        p.items[0].credential,
        Credential::AccessKey {
            slot: 1,
            created: days_ago(700)
        }
    );

    // Swap ages: now only key 2 is dormant.
    r.keys = [key(1, days_ago(3), None), key(2, days_ago(700), Some(days_ago(200)))];
    let p = plan(&inventory(vec![r]), &settings(), NOW);
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].finding.access_key_slot, Some(2));
}

#[test]
fn never_used_key_counts_from_its_creation() {
    let mut r = row("ci");
    r.keys = [key(1, days_ago(91), None), no_key(2)];
    let p = plan(&inventory(vec![r.clone()]), &settings(), NOW);
    assert_eq!(p.items[0].finding.action, Action::DeactivateAccessKey);
    assert_eq!(p.items[0].finding.idle_days, Some(91));
    r.keys = [key(1, days_ago(2), None), no_key(2)];
    assert!(plan(&inventory(vec![r]), &settings(), NOW).items.is_empty());
}

#[test]
fn inactive_keys_are_not_findings() {
    let mut r = row("off");
    r.keys = [key(1, days_ago(900), None), no_key(2)];
    r.keys[0].active = false;
    assert!(plan(&inventory(vec![r]), &settings(), NOW).items.is_empty());
}

#[test]
fn warning_before_the_limit() {
    let mut r = row("soon");
    r.keys = [key(1, days_ago(500), Some(days_ago(85))), no_key(2)];
    let p = plan(&inventory(vec![r]), &settings(), NOW);
    let f = &p.items[0].finding;
    assert_eq!((f.action, f.status), (Action::Warn, Status::Planned));
    assert!(f.reason.contains("in 6 days"), "{}", f.reason);
    assert_eq!(p.change_count(), 0);
}

#[test]
fn exemption_by_tag_is_case_insensitive_on_the_key() {
    let mut r = row("break-glass");
    r.keys = [key(1, days_ago(900), None), no_key(2)];
    let mut inv = inventory(vec![r]);
    inv.details.insert(
        "break-glass".into(),
        details("break-glass", &[("IAM-Janitor:Exempt", "TRUE")]),
    );
    let p = plan(&inv, &settings(), NOW);
    let f = &p.items[0].finding;
    assert_eq!(f.status, Status::Skipped);
    assert!(
        f.reason.starts_with("exempt: tag IAM-Janitor:Exempt=TRUE"),
        "{}",
        f.reason
    );
    assert_eq!(p.change_count(), 0);
}

#[test]
fn exemption_tag_with_another_value_does_not_exempt() {
    let mut r = row("u");
    r.keys = [key(1, days_ago(900), None), no_key(2)];
    let mut inv = inventory(vec![r]);
    inv.details
        .insert("u".into(), details("u", &[("iam-janitor:exempt", "false")]));
    assert_eq!(plan(&inv, &settings(), NOW).change_count(), 1);
}

#[test]
fn exemption_by_name_glob() {
    let mut r = row("svc+deploy@corp");
    r.keys = [key(1, days_ago(900), None), no_key(2)];
    let s = Settings {
        exempt_users: vec![Glob::new("svc+*").unwrap()],
        ..settings()
    };
    let p = plan(&inventory(vec![r]), &s, NOW);
    assert_eq!(p.items[0].finding.status, Status::Skipped);
    assert!(p.items[0].finding.reason.contains("--exempt-user"));
}

#[test]
fn user_without_details_is_not_changed() {
    let mut r = row("ghost");
    r.keys = [key(1, days_ago(900), None), no_key(2)];
    let inv = Inventory {
        rows: vec![r],
        ..Inventory::default()
    };
    let p = plan(&inv, &settings(), NOW);
    assert_eq!(p.items[0].finding.status, Status::Skipped);
    assert_eq!(p.change_count(), 0);
}

#[test]
fn the_root_row_is_never_a_finding() {
    let report = parse(include_bytes!("../../tests/fixtures/credential-report-aws.csv")).unwrap();
    let inv = Inventory::new(report, None, vec![], vec![]);
    // Far in the future: everything in the fixture is dormant.
    let p = plan(&inv, &settings(), datetime!(2040-01-01 0:00 UTC));
    assert!(p.items.iter().all(|i| i.finding.user != "<root_account>"));
    assert!(!p.items.is_empty());
    assert_eq!(p.users_evaluated, 4);
}

#[test]
fn fixture_at_a_known_time() {
    let report = parse(include_bytes!("../../tests/fixtures/credential-report-aws.csv")).unwrap();
    let users = ["alice", "bob", "carol", "dave.ci+deploy@corp"];
    let d: Vec<UserDetails> = users.iter().map(|u| details(u, &[])).collect();
    let inv = Inventory::new(report, None, d, vec![]);
    assert_eq!(inv.account_id.as_deref(), Some("111122223333"));
    let p = plan(&inv, &settings(), NOW);
    let got: Vec<(String, Kind, Option<u8>, Action)> = p
        .items
        .iter()
        .map(|i| {
            (
                i.finding.user.clone(),
                i.finding.kind,
                i.finding.access_key_slot,
                i.finding.action,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            // bob: console last used 2026-03-01 (265 days).
            (
                "bob".to_string(),
                Kind::ConsolePassword,
                None,
                Action::DeleteLoginProfile
            ),
            // carol: key 1 last used 2026-01-15 (310 days); key 2 created 20 days ago is fine.
            (
                "carol".to_string(),
                Kind::AccessKey,
                Some(1),
                Action::DeactivateAccessKey
            ),
            // dave: never-used password and key from 2023.
            (
                "dave.ci+deploy@corp".to_string(),
                Kind::ConsolePassword,
                None,
                Action::DeleteLoginProfile
            ),
            (
                "dave.ci+deploy@corp".to_string(),
                Kind::AccessKey,
                Some(1),
                Action::DeactivateAccessKey
            ),
        ]
    );
}

proptest! {
    /// A credential is acted on exactly when its most recent sign of life is more than
    /// dormant_days whole days ago, whatever the other dates.
    #[test]
    fn act_iff_idle_beyond_limit(
        created in 0i64..2000, used in proptest::option::of(0i64..2000),
        dormant in 1u32..400, warn in 0u32..30,
    ) {
        prop_assume!(warn < dormant);
        let s = Settings { dormant_days: dormant, warn_days: warn, ..settings() };
        let mut r = row("p");
        r.keys = [key(1, days_ago(created), used.map(days_ago)), no_key(2)];
        let p = plan(&inventory(vec![r]), &s, NOW);
        let freshest = used.map_or(created, |u| u.min(created));
        let acted = p.items.iter().any(|i| i.finding.action == Action::DeactivateAccessKey);
        prop_assert_eq!(acted, freshest > i64::from(dormant));
        let warned = p.items.iter().any(|i| i.finding.action == Action::Warn);
        prop_assert_eq!(warned, freshest <= i64::from(dormant) && warn > 0 && freshest > i64::from(dormant - warn));
    }

    /// Exempt users are never planned for a change, whatever their credentials.
    #[test]
    fn exempt_users_never_change(name in "[A-Za-z0-9+=,.@_-]{1,64}", age in 0i64..3000) {
        let mut r = with_password(row(&name), Observed::NoInformation, Observed::At(days_ago(age)));
        r.keys = [key(1, days_ago(age), None), key(2, days_ago(age / 2), None)];
        let mut inv = inventory(vec![r]);
        inv.details.insert(name.clone(), details(&name, &[("iam-janitor:exempt", "true")]));
        let p = plan(&inv, &settings(), NOW);
        prop_assert_eq!(p.change_count(), 0);
        let s = Settings { exempt_users: vec![Glob::new(&name).unwrap()], ..settings() };
        let mut r = with_password(row(&name), Observed::NoInformation, Observed::At(days_ago(age)));
        r.keys = [key(1, days_ago(age), None), no_key(2)];
        let p = plan(&inventory(vec![r]), &s, NOW);
        prop_assert_eq!(p.change_count(), 0);
    }
}

#[test]
fn a_restore_opens_a_new_window() {
    let mut r = row("restored");
    r.keys = [key(1, days_ago(700), Some(days_ago(200))), no_key(2)];
    let mut inv = inventory(vec![r]);
    let restored = (NOW - Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    inv.details.insert(
        "restored".into(),
        details("restored", &[("iam-janitor:restored", restored.as_str())]),
    );
    assert!(plan(&inv, &settings(), NOW).items.is_empty());
    // Ninety-one days after the restore, unused since: dormant again.
    let p = plan(&inv, &settings(), NOW + Duration::days(88));
    assert_eq!(p.change_count(), 1);
    assert_eq!(p.items[0].finding.idle_days, Some(91));
}

/// A user with a dormant key (idle 200 days) and these tags.
fn dormant_with_tags(user: &str, tags: &[(&str, &str)]) -> Inventory {
    let mut r = row(user);
    r.keys = [key(1, days_ago(700), Some(days_ago(200))), no_key(2)];
    let mut inv = inventory(vec![r]);
    inv.details.insert(user.into(), details(user, tags));
    inv
}

#[test]
fn the_tools_own_tags_count_only_as_it_writes_them_and_other_spellings_are_reported() {
    let recent = trail::stamp(days_ago(3));
    for spelling in ["IAM-JANITOR:RESTORED", "iam-janitor:Restored", "Iam-Janitor:restored"] {
        let p = plan(&dormant_with_tags("sly", &[(spelling, &recent)]), &settings(), NOW);
        assert_eq!(p.change_count(), 1, "{spelling} must not open a new window");
        assert_eq!(p.items[0].finding.idle_days, Some(200));
        assert_eq!(p.suspicious.len(), 1, "{spelling}");
        let s = &p.suspicious[0];
        assert_eq!((s.user.as_str(), s.key.as_str()), ("sly", spelling));
        assert_eq!(s.kind, SuspiciousKind::CaseVariant);
        assert!(s.reason.contains("ignored"), "{}", s.reason);
    }
    // The exact key still counts, and is not suspicious.
    let p = plan(
        &dormant_with_tags("honest", &[("iam-janitor:restored", &recent)]),
        &settings(),
        NOW,
    );
    assert_eq!(p.change_count(), 0);
    assert!(p.suspicious.is_empty());
}

#[test]
fn exemption_and_keep_tags_stay_case_insensitive_and_are_not_suspicious() {
    let p = plan(
        &dormant_with_tags(
            "glass",
            &[("IAM-Janitor:Exempt", "TRUE"), ("IAM-JANITOR:KEEP-SERVICES", "s3")],
        ),
        &settings(),
        NOW,
    );
    assert_eq!(p.items[0].finding.reason_code, ReasonCode::Exempt);
    assert!(p.suspicious.is_empty(), "{:?}", p.suspicious);
    // Another spelling of a record key is reported too.
    let p = plan(
        &dormant_with_tags("k", &[("IAM-JANITOR:KEY-DISABLED:AKIAEXAMPLE", "x")]),
        &settings(),
        NOW,
    );
    assert_eq!(p.suspicious.len(), 1);
    assert_eq!(p.change_count(), 1);
}

#[test]
fn a_restore_time_in_the_future_is_ignored_and_reported() {
    let future = trail::stamp(NOW + Duration::days(3650));
    let p = plan(
        &dormant_with_tags("forever", &[("iam-janitor:restored", &future)]),
        &settings(),
        NOW,
    );
    assert_eq!(p.change_count(), 1);
    assert_eq!(p.items[0].finding.idle_days, Some(200));
    assert_eq!(p.suspicious.len(), 1);
    assert_eq!(p.suspicious[0].kind, SuspiciousKind::FutureRestore);
    assert!(
        p.suspicious[0].reason.contains("later than this run"),
        "{}",
        p.suspicious[0].reason
    );
    // A restore now, or a little ahead (the restoring machine's clock), counts as now.
    for at in [NOW, NOW + Duration::minutes(59)] {
        let p = plan(
            &dormant_with_tags("now", &[("iam-janitor:restored", &trail::stamp(at))]),
            &settings(),
            NOW,
        );
        assert_eq!(p.change_count(), 0);
        assert!(p.suspicious.is_empty());
        // And it opens an ordinary window.
        let p = plan(
            &dormant_with_tags("now", &[("iam-janitor:restored", &trail::stamp(at))]),
            &settings(),
            NOW + Duration::days(92),
        );
        assert_eq!(p.change_count(), 1);
    }
    let p = plan(
        &dormant_with_tags(
            "ahead",
            &[("iam-janitor:restored", &trail::stamp(NOW + Duration::minutes(61)))],
        ),
        &settings(),
        NOW,
    );
    assert_eq!(p.change_count(), 1);
    assert_eq!(p.suspicious.len(), 1);
}

#[test]
fn a_user_recreated_since_the_report_is_skipped_warnings_included() {
    let mut r = with_password(row("reborn"), Observed::At(days_ago(80)), Observed::At(days_ago(900)));
    r.keys = [key(1, days_ago(700), Some(days_ago(200))), no_key(2)];
    let mut inv = inventory(vec![r]);
    let mut d = details("reborn", &[]);
    d.create_date = days_ago(1);
    inv.details.insert("reborn".into(), d);
    let p = plan(&inv, &settings(), NOW);
    assert_eq!(p.items.len(), 2, "{:?}", p.items);
    assert_eq!(p.change_count(), 0);
    for item in &p.items {
        assert_eq!(item.finding.status, Status::Skipped);
        assert_eq!(item.finding.reason_code, ReasonCode::UserRecreated);
        assert!(item.finding.reason.contains("deleted and recreated"));
    }
    // The same creation time to the second is the same user.
    inv.details.get_mut("reborn").unwrap().create_date = days_ago(1000) + Duration::milliseconds(999);
    assert_eq!(plan(&inv, &settings(), NOW).change_count(), 1);
}

fn with_certificate(mut r: CredentialRow, uploaded: OffsetDateTime) -> CredentialRow {
    r.certificates[0] = CertSlot {
        slot: 1,
        active: true,
        last_rotated: Observed::At(uploaded),
    };
    r
}

#[test]
fn old_signing_certificates_are_reported_only_unless_deactivation_is_asked_for() {
    let inv = inventory(vec![
        with_certificate(row("old-cert"), days_ago(400)),
        with_certificate(row("near-cert"), days_ago(85)),
        with_certificate(row("new-cert"), days_ago(10)),
    ]);
    // Default: reported, never changed, no warnings (nothing will happen to them).
    let p = plan(&inv, &settings(), NOW);
    assert_eq!(p.items.len(), 1, "{:?}", p.items);
    let f = &p.items[0].finding;
    assert_eq!((f.user.as_str(), f.kind), ("old-cert", Kind::SigningCertificate));
    assert_eq!(f.action, Action::DeactivateSigningCertificate);
    assert_eq!((f.status, f.reason_code), (Status::Skipped, ReasonCode::ReportOnly));
    assert_eq!((f.credential_slot, f.access_key_slot), (Some(1), None));
    assert_eq!(f.idle_days, Some(400));
    assert!(
        f.reason.contains("IAM records no use of signing certificates"),
        "{}",
        f.reason
    );
    assert_eq!(p.change_count(), 0);

    // Deactivate: a change like a dormant key, with a warning before the limit.
    let deactivate = Settings {
        signing_certificates: crate::settings::CertificateAction::Deactivate,
        ..settings()
    };
    let p = plan(&inv, &deactivate, NOW);
    assert_eq!(p.change_count(), 1);
    let near: Vec<_> = p.items.iter().filter(|i| i.finding.user == "near-cert").collect();
    assert_eq!(near[0].finding.action, Action::Warn);
    // Exempt users are skipped as for every credential.
    let mut inv = inv;
    inv.details.insert(
        "old-cert".into(),
        details("old-cert", &[("iam-janitor:exempt", "true")]),
    );
    let p = plan(&inv, &deactivate, NOW);
    assert_eq!(p.change_count(), 0);
    assert_eq!(p.items[0].finding.reason_code, ReasonCode::Exempt);
}

fn service_credential(
    user: &str,
    service: &str,
    created: OffsetDateTime,
) -> crate::model::inventory::ServiceCredential {
    crate::model::inventory::ServiceCredential {
        id: format!("ACCA{user}"),
        user: user.to_string(),
        service: service.to_string(),
        created,
        active: true,
    }
}

fn advisor(
    namespace: &str,
    last: Option<OffsetDateTime>,
) -> Result<Vec<crate::model::services::ServiceAccess>, String> {
    Ok(vec![crate::model::services::ServiceAccess {
        namespace: namespace.to_string(),
        name: namespace.to_string(),
        last_authenticated: last,
    }])
}

#[test]
fn service_credentials_are_judged_by_their_services_use_in_access_advisor() {
    let names = [
        "git-idle",
        "git-busy",
        "keyspaces-never",
        "bedrock-new",
        "advisor-broken",
    ];
    let mut inv = inventory(names.iter().map(|n| row(n)).collect());
    inv.service_credentials = vec![
        service_credential("git-idle", "codecommit.amazonaws.com", days_ago(400)),
        service_credential("git-busy", "codecommit.amazonaws.com", days_ago(400)),
        service_credential("keyspaces-never", "cassandra.amazonaws.com", days_ago(100)),
        service_credential("bedrock-new", "bedrock.amazonaws.com", days_ago(10)),
        service_credential("advisor-broken", "bedrock.amazonaws.com", days_ago(300)),
    ];
    // Access Advisor is needed only for credentials old enough to matter.
    assert_eq!(
        advisor_judged_users(&inv, &settings(), NOW)
            .into_iter()
            .collect::<Vec<_>>(),
        ["advisor-broken", "git-busy", "git-idle", "keyspaces-never"]
    );
    inv.advisor = [
        ("git-idle", advisor("codecommit", Some(days_ago(200)))),
        ("git-busy", advisor("codecommit", Some(days_ago(2)))),
        // Only other services: never used its own.
        ("keyspaces-never", advisor("s3", Some(days_ago(1)))),
        ("advisor-broken", Err("Throttling".to_string())),
    ]
    .into_iter()
    .map(|(u, a)| (u.to_string(), a))
    .collect();
    let p = plan(&inv, &settings(), NOW);
    let by_user = |u: &str| p.items.iter().find(|i| i.finding.user == u).map(|i| &i.finding);
    let idle = by_user("git-idle").unwrap();
    assert_eq!(
        (idle.kind, idle.action, idle.status),
        (
            Kind::ServiceSpecificCredential,
            Action::DeactivateServiceSpecificCredential,
            Status::Planned
        )
    );
    assert_eq!(
        (idle.idle_days, idle.credential_id.as_deref()),
        (Some(200), Some("ACCAgit-idle"))
    );
    assert!(
        idle.reason.starts_with("CodeCommit Git credential (created"),
        "{}",
        idle.reason
    );
    assert!(by_user("git-busy").is_none());
    let never = by_user("keyspaces-never").unwrap();
    assert_eq!((never.idle_days, never.status), (Some(100), Status::Planned));
    assert!(
        never.reason.contains("never authenticated to cassandra"),
        "{}",
        never.reason
    );
    assert!(by_user("bedrock-new").is_none());
    let broken = by_user("advisor-broken").unwrap();
    assert_eq!(
        (broken.status, broken.reason_code),
        (Status::Failed, ReasonCode::AdvisorFailed)
    );
    assert_eq!(p.change_count(), 2);
    assert_eq!(p.credentials_evaluated, 5);
}

#[test]
fn ssh_keys_are_listed_for_a_share_of_the_users_each_day_covering_everyone() {
    let names: Vec<String> = (0..1001).map(|i| format!("user-{i:04}")).collect();
    let users: Vec<&str> = names.iter().map(String::as_str).rev().collect();
    // 1,001 users, 250 a day: five shares, everyone in five days, the last share short.
    let mut seen = BTreeSet::new();
    for day in 0..5 {
        let share = ssh_key_sweep(&users, 250, NOW + Duration::days(day));
        assert!(share.len() == 250 || share.len() == 1, "{}", share.len());
        seen.extend(share);
    }
    assert_eq!(seen.len(), 1001);
    // The same share all day; the next day another.
    assert_eq!(
        ssh_key_sweep(&users, 250, NOW),
        ssh_key_sweep(&users, 250, NOW + Duration::hours(1) - Duration::seconds(1))
    );
    assert_ne!(
        ssh_key_sweep(&users, 250, NOW),
        ssh_key_sweep(&users, 250, NOW + Duration::days(1))
    );
    // Off, or more than the users: none, or everyone.
    assert!(ssh_key_sweep(&users, 0, NOW).is_empty());
    assert_eq!(ssh_key_sweep(&users, 5000, NOW).len(), 1001);
}

#[test]
fn ssh_keys_are_judged_by_codecommit_in_access_advisor() {
    let mut inv = inventory(vec![row("pusher"), row("gone-quiet")]);
    inv.ssh_keys = ["pusher", "gone-quiet"]
        .into_iter()
        .map(|u| crate::model::inventory::SshPublicKey {
            id: format!("APKA{u}"),
            user: u.to_string(),
            uploaded: days_ago(500),
            active: true,
        })
        .collect();
    assert_eq!(advisor_judged_users(&inv, &settings(), NOW).len(), 2);
    inv.advisor = [
        ("pusher", advisor("codecommit", Some(days_ago(1)))),
        ("gone-quiet", advisor("codecommit", Some(days_ago(300)))),
    ]
    .into_iter()
    .map(|(u, a)| (u.to_string(), a))
    .collect();
    let p = plan(&inv, &settings(), NOW);
    assert_eq!(p.items.len(), 1, "{:?}", p.items);
    let f = &p.items[0].finding;
    assert_eq!(
        (f.user.as_str(), f.kind, f.action),
        ("gone-quiet", Kind::SshPublicKey, Action::DeactivateSshPublicKey)
    );
    assert_eq!(
        (f.idle_days, f.credential_id.as_deref()),
        (Some(300), Some("APKAgone-quiet"))
    );
}
