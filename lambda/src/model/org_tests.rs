#![allow(clippy::unwrap_used, clippy::expect_used)]

use time::macros::{date, datetime};

use super::*;
use crate::model::report::{
    Action, BreakerTrip, Finding, Kind, REPORT_SCHEMA_VERSION, ReasonCode, Report, Status, Summary,
};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

fn finding(kind: Kind, action: Action, status: Status, reason_code: ReasonCode) -> Finding {
    Finding {
        user: "alice".to_string(),
        arn: "arn:aws:iam::111111111111:user/alice".to_string(),
        kind,
        access_key_id: None,
        access_key_slot: None,
        credential_id: None,
        credential_slot: None,
        last_used: None,
        idle_days: Some(120),
        action,
        status,
        reason: "because".to_string(),
        reason_code,
        services: None,
    }
}

fn report(account: &str, findings: Vec<Finding>) -> Report {
    let mut report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        account_id: Some(account.to_string()),
        generated_at: datetime!(2026-03-10 06:00 UTC),
        enforce: true,
        mode: Mode::Enforce,
        credential_report_generated_at: None,
        dormant_days: 90,
        warn_days: 14,
        findings,
        rejected_rows: Vec::new(),
        suspicious_tags: Vec::new(),
        not_checked: Vec::new(),
        not_stored: None,
        summary: Summary {
            users_evaluated: 10,
            ..Summary::default()
        },
    };
    report.recount();
    report
}

/// The key the Lambda stores a run under.
fn key(account: &str, started: OffsetDateTime) -> String {
    crate::model::org::report_key(account, started)
}

fn stored(account: &str, started: OffsetDateTime, report: &Report) -> StoredRun {
    let key = key(account, started);
    StoredRun::parse(&key, &serde_json::to_vec(report).unwrap()).unwrap()
}

/// A run of `account` at `started` with `changed` applied key deactivations.
fn run(account: &str, started: OffsetDateTime, changed: usize) -> StoredRun {
    let findings = (0..changed)
        .map(|_| {
            finding(
                Kind::AccessKey,
                Action::DeactivateAccessKey,
                Status::Applied,
                ReasonCode::Dormant,
            )
        })
        .collect();
    stored(account, started, &report(account, findings))
}

fn org(accounts: &[(&str, &str, &str)]) -> Vec<OrgAccount> {
    accounts
        .iter()
        .map(|(id, name, status)| OrgAccount {
            id: id.to_string(),
            name: name.to_string(),
            status: status.to_string(),
        })
        .collect()
}

const NOW: OffsetDateTime = datetime!(2026-03-10 12:00 UTC);

fn view(runs: Vec<StoredRun>, organization: Option<&[OrgAccount]>) -> OrgView {
    OrgView::build(runs, Vec::new(), organization, NOW, ViewOptions::DEFAULT)
}

fn row<'v>(view: &'v OrgView, account: &str) -> &'v AccountRow {
    view.accounts.iter().find(|r| r.account_id == account).unwrap()
}

#[test]
fn keys_of_the_layout_are_read_and_others_are_not() {
    let k = parse_key("reports/account=111111111111/date=2026-03-10/20260310T060102.345Z.json").unwrap();
    assert_eq!(k.account_id, A);
    assert_eq!(k.started, datetime!(2026-03-10 06:01:02.345 UTC));
    for bad in [
        // the date= is not the name's date
        "reports/account=111111111111/date=2026-03-09/20260310T060102.345Z.json",
        "reports/account=11111111111/date=2026-03-10/20260310T060102.345Z.json",
        "reports/account=111111111111/date=2026-03-10/20260310T060102.345Z.json.gz",
        "reports/account=111111111111/date=2026-03-10/x/20260310T060102.345Z.json",
        "reports/account=111111111111/date=2026-03-10/20260310T060102Z.json",
        "other/account=111111111111/date=2026-03-10/20260310T060102.345Z.json",
    ] {
        assert_eq!(parse_key(bad), None, "{bad}");
    }
    assert_eq!(account_of_prefix("reports/account=111111111111/"), Some(A));
    assert_eq!(account_of_prefix("reports/account=abc/"), None);
}

#[test]
fn listing_after_start_after_gets_exactly_the_window() {
    let after = start_after(A, date!(2026 - 03 - 01));
    let first = "reports/account=111111111111/date=2026-03-01/20260301T000000.000Z.json";
    let before = "reports/account=111111111111/date=2026-02-28/20260228T235959.999Z.json";
    assert!(first > after.as_str());
    assert!(before < after.as_str());
}

#[test]
fn a_real_report_is_counted_by_the_definitions() {
    let findings = vec![
        // dormant found: any status, not warnings, not unused services
        finding(
            Kind::AccessKey,
            Action::DeactivateAccessKey,
            Status::Applied,
            ReasonCode::Dormant,
        ),
        finding(
            Kind::ConsolePassword,
            Action::DeleteLoginProfile,
            Status::Skipped,
            ReasonCode::Exempt,
        ),
        finding(
            Kind::SshPublicKey,
            Action::DeactivateSshPublicKey,
            Status::Failed,
            ReasonCode::WriteFailed,
        ),
        finding(Kind::AccessKey, Action::Warn, Status::Planned, ReasonCode::Warning),
        // deny policies: written, would be written, already in place; not needs-review or detach
        finding(
            Kind::UnusedServices,
            Action::AttachDenyPolicy,
            Status::Applied,
            ReasonCode::UnusedServices,
        ),
        finding(
            Kind::UnusedServices,
            Action::AttachDenyPolicy,
            Status::Planned,
            ReasonCode::UnusedServices,
        ),
        finding(
            Kind::UnusedServices,
            Action::AttachDenyPolicy,
            Status::Skipped,
            ReasonCode::AlreadyDone,
        ),
        finding(
            Kind::UnusedServices,
            Action::AttachDenyPolicy,
            Status::Skipped,
            ReasonCode::NeedsReview,
        ),
        finding(
            Kind::UnusedServices,
            Action::DetachDenyPolicy,
            Status::Applied,
            ReasonCode::NothingToDeny,
        ),
    ];
    let mut r = report(A, findings);
    r.not_checked.push("SSH keys: ListSSHPublicKeys failed".to_string());
    r.summary.circuit_breaker = Some(BreakerTrip {
        planned_changes: 60,
        max_actions: 50,
        tripped: true,
        applied_before: 0,
    });
    r.summary.users_with_deny_policy = 4;
    let run = stored(A, datetime!(2026-03-10 06:00 UTC), &r);
    assert_eq!(
        run.counts,
        RunCounts {
            users_evaluated: 10,
            dormant_found: 3,
            changed: 3,
            skipped: 3,
            warned: 1,
            failed: 1,
            not_checked: 1,
            deny_policies: 3,
            users_denied: Some(4),
            breaker_tripped: true,
        }
    );
    // A report stored before the count: unknown, not 0.
    let mut older = serde_json::to_value(&r).unwrap();
    older["summary"]
        .as_object_mut()
        .unwrap()
        .remove("users_with_deny_policy");
    let started = datetime!(2026-03-10 06:00 UTC);
    let older = StoredRun::parse(&key(A, started), &serde_json::to_vec(&older).unwrap()).unwrap();
    assert_eq!(older.counts.users_denied, None);
    assert_eq!(older.counts.deny_policies, 3);
    assert_eq!(run.mode, Mode::Enforce);
    assert_eq!(run.account_id, A);

    // A report run's "would trip" is no trip.
    r.summary.circuit_breaker = Some(BreakerTrip {
        tripped: false,
        planned_changes: 60,
        max_actions: 50,
        applied_before: 0,
    });
    assert!(!stored(A, datetime!(2026-03-10 06:00 UTC), &r).counts.breaker_tripped);
}

#[test]
fn unknown_fields_and_values_are_read_leniently() {
    let key = key(A, datetime!(2026-03-10 06:00 UTC));
    let json = serde_json::json!({
        "schema_version": 1,
        "account_id": null,
        "generated_at": "2026-03-10T06:00:00Z",
        "enforce": false,
        "mode": "report",
        "a_field_added_later": {"x": 1},
        "findings": [
            {"kind": "hardware_token", "action": "deactivate_hardware_token", "status": "planned", "reason_code": "dormant", "user": "bob"}
        ],
        "not_checked": [],
        "summary": {"users_evaluated": 3, "warnings": 0, "failed": 0, "circuit_breaker": null, "new_count": 4}
    });
    let run = StoredRun::parse(&key, &serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(run.account_id, A, "a report without an account is the key's");
    assert_eq!(
        run.counts.dormant_found, 1,
        "a credential kind added later is a credential"
    );
    assert_eq!(run.mode, Mode::Report);
}

#[test]
fn an_unknown_schema_version_is_rejected_with_its_key() {
    let key = key(A, datetime!(2026-03-10 06:00 UTC));
    let mut json = serde_json::to_value(report(A, Vec::new())).unwrap();
    json["schema_version"] = serde_json::json!(2);
    let rejected = StoredRun::parse(&key, &serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert_eq!(rejected.key, key);
    assert!(rejected.reason.contains("schema_version 2"), "{}", rejected.reason);

    json.as_object_mut().unwrap().remove("schema_version");
    let rejected = StoredRun::parse(&key, &serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(rejected.reason.contains("no schema_version"), "{}", rejected.reason);

    let rejected = StoredRun::parse(&key, b"{\"schema_version\": 1, \"findings\": 3").unwrap_err();
    assert_eq!(rejected.key, key);
    assert!(rejected.reason.contains("not a JSON report"), "{}", rejected.reason);

    // Version 1 without its summary is not guessed at.
    let mut json = serde_json::to_value(report(A, Vec::new())).unwrap();
    json.as_object_mut().unwrap().remove("summary");
    let rejected = StoredRun::parse(&key, &serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert!(
        rejected.reason.contains("missing field `summary`"),
        "{}",
        rejected.reason
    );

    let rejected = StoredRun::parse("reports/README.txt", b"{}").unwrap_err();
    assert!(rejected.reason.contains("not a report key"), "{}", rejected.reason);
}

#[test]
fn a_report_stored_under_another_account_is_rejected() {
    let key = key(B, datetime!(2026-03-10 06:00 UTC));
    let rejected = StoredRun::parse(&key, &serde_json::to_vec(&report(A, Vec::new())).unwrap()).unwrap_err();
    assert_eq!(rejected.key, key);
    assert!(
        rejected.reason.contains(A) && rejected.reason.contains(B),
        "{}",
        rejected.reason
    );
}

#[test]
fn the_latest_run_is_the_accounts_row() {
    let runs = vec![
        run(A, datetime!(2026-03-10 06:00 UTC), 2),
        run(A, datetime!(2026-03-10 08:30 UTC), 1),
        run(A, datetime!(2026-03-09 06:00 UTC), 5),
    ];
    let v = view(runs, None);
    let a = row(&v, A);
    let latest = a.latest.as_ref().unwrap();
    assert_eq!(latest.started, datetime!(2026-03-10 08:30 UTC));
    assert_eq!(latest.counts.changed, 1);
    assert_eq!(a.runs_in_window, 3);
    assert_eq!(a.changed_in_window, 8);
    assert_eq!(v.totals.latest.changed, 1);
    assert_eq!(v.totals.changed_in_window, 8);
    assert_eq!(v.totals.runs, 3);
}

#[test]
fn stale_is_older_than_the_limit_not_at_it() {
    let limit = NOW - Duration::hours(48);
    let v = view(
        vec![run(A, limit, 0), run(B, limit - Duration::milliseconds(1), 0)],
        None,
    );
    assert!(!row(&v, A).has(Flag::Stale), "exactly 48 hours is not stale");
    assert!(row(&v, B).has(Flag::Stale));
    assert_eq!(v.totals.stale, 1);
    assert_eq!(v.flagged(Flag::Stale).count(), 1);
}

#[test]
fn active_accounts_without_a_run_in_the_window_are_missing() {
    let organization = org(&[
        (A, "prod", "ACTIVE"),
        (B, "sandbox", "ACTIVE"),
        (C, "closed", "SUSPENDED"),
        ("444444444444", "old", "ACTIVE"),
    ]);
    let runs = vec![
        run(A, datetime!(2026-03-10 06:00 UTC), 0),
        // before the window's first day (2026-02-09): as if there were none
        run("444444444444", datetime!(2026-02-08 23:59 UTC), 0),
    ];
    let v = view(runs, Some(&organization));
    let missing: Vec<&str> = v.flagged(Flag::Missing).map(|r| r.account_id.as_str()).collect();
    assert_eq!(missing, [B, "444444444444"]);
    assert_eq!(row(&v, B).name.as_deref(), Some("sandbox"));
    assert!(row(&v, B).latest.is_none());
    assert!(
        v.accounts.iter().all(|r| r.account_id != C),
        "a suspended account is not missing"
    );
    assert_eq!(v.totals.organization_accounts, Some(3));
    assert_eq!(v.totals.accounts_reporting, 1);
    assert_eq!(v.totals.missing, 2);
    assert_eq!(v.totals.runs, 1, "the run before the window is not read");
}

#[test]
fn accounts_outside_the_organization_are_shown_and_flagged() {
    let organization = org(&[(A, "prod", "ACTIVE")]);
    let runs = vec![
        run(A, datetime!(2026-03-10 06:00 UTC), 0),
        run(C, datetime!(2026-03-10 06:00 UTC), 0),
    ];
    let v = view(runs.clone(), Some(&organization));
    assert_eq!(row(&v, C).flags, [Flag::NotInOrganization]);
    assert_eq!(row(&v, A).flags, []);
    assert_eq!(row(&v, A).name.as_deref(), Some("prod"));
    assert_eq!(v.totals.not_in_organization, 1);

    // Without the organization's list: nothing is missing or outside it.
    let v = view(runs, None);
    assert!(v.accounts.iter().all(|r| r.flags.is_empty()));
    assert!(!v.organization_known);
    assert_eq!(v.totals.organization_accounts, None);
}

#[test]
fn accounts_needing_a_look_come_first_then_by_changes() {
    let mut failed = report(A, Vec::new());
    failed.summary.failed = 1;
    let mut breaker = report(B, Vec::new());
    breaker.summary.circuit_breaker = Some(BreakerTrip {
        planned_changes: 80,
        max_actions: 50,
        tripped: true,
        applied_before: 0,
    });
    let organization = org(&[
        (A, "a", "ACTIVE"),
        (B, "b", "ACTIVE"),
        (C, "c", "ACTIVE"),
        ("444444444444", "d", "ACTIVE"),
        ("555555555555", "e", "ACTIVE"),
        ("666666666666", "f", "ACTIVE"),
    ]);
    let today = datetime!(2026-03-10 06:00 UTC);
    let runs = vec![
        run("666666666666", today, 9),
        run("555555555555", today, 1),
        run("444444444444", datetime!(2026-03-05 06:00 UTC), 0),
        stored(B, today, &breaker),
        stored(A, today, &failed),
    ];
    let v = view(runs, Some(&organization));
    let order: Vec<&str> = v.accounts.iter().map(|r| r.account_id.as_str()).collect();
    assert_eq!(
        order,
        [A, B, "444444444444", C, "666666666666", "555555555555"],
        "failed, breaker, stale, missing, then by changes"
    );
    assert_eq!(v.totals.accounts_with_failures, 1);
    assert_eq!(v.totals.breakers_tripped, 1);
}

#[test]
fn the_trend_has_every_day_of_the_window_its_changes_and_each_accounts_latest_state_of_the_day() {
    let runs = vec![
        run(A, datetime!(2026-03-10 06:00 UTC), 2),
        run(A, datetime!(2026-03-10 09:00 UTC), 1),
        run(B, datetime!(2026-03-10 06:00 UTC), 4),
        run(A, datetime!(2026-03-08 06:00 UTC), 3),
    ];
    let options = ViewOptions {
        days: 5,
        ..ViewOptions::DEFAULT
    };
    let v = OrgView::build(runs, Vec::new(), None, NOW, options);
    let days: Vec<String> = v.trend.iter().map(|d| d.day.to_string()).collect();
    assert_eq!(
        days,
        ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10"]
    );
    let changed: Vec<usize> = v.trend.iter().map(|d| d.changed).collect();
    assert_eq!(
        changed,
        [0, 0, 3, 0, 7],
        "every run's changes: A's two (2 + 1) and B's (4) on the 10th"
    );
    let reporting: Vec<usize> = v.trend.iter().map(|d| d.accounts_reporting).collect();
    assert_eq!(reporting, [0, 0, 1, 0, 2]);
    assert_eq!(v.trend[0].dormant_found, 0);
    assert_eq!(v.trend[4].dormant_found, 5);
    assert_eq!(
        (v.first_day, v.last_day),
        (date!(2026 - 03 - 06), date!(2026 - 03 - 10))
    );
}

#[test]
fn a_run_dated_after_now_is_rejected_and_rejections_are_kept() {
    let future = run(A, datetime!(2026-03-11 00:00:01 UTC), 0);
    let earlier = vec![Rejected::new("reports/zzz", "bad")];
    let v = OrgView::build(vec![future], earlier, None, NOW, ViewOptions::DEFAULT);
    assert!(v.accounts.is_empty());
    let keys: Vec<&str> = v.rejected.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "reports/account=111111111111/date=2026-03-11/20260311T000001.000Z.json",
            "reports/zzz"
        ]
    );
    assert_eq!(v.totals.rejected, 2);
}

#[test]
fn the_view_serialises_dates_as_text() {
    let v = view(vec![run(A, datetime!(2026-03-10 06:00 UTC), 1)], None);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["first_day"], "2026-02-09");
    assert_eq!(json["trend"][29]["day"], "2026-03-10");
    assert_eq!(json["accounts"][0]["latest"]["started"], "2026-03-10T06:00:00Z");
    assert_eq!(json["accounts"][0]["latest"]["changed"], 1);
    assert_eq!(json["totals"]["changed"], 1);
}

#[test]
fn only_each_accounts_latest_key_is_read_for_the_latest_view() {
    let now = datetime!(2026-03-10 09:00 UTC);
    let keys: Vec<String> = vec![
        key(A, datetime!(2026-03-08 06:00 UTC)),
        key(A, datetime!(2026-03-10 06:00 UTC)),
        key(A, datetime!(2026-03-09 06:00 UTC)),
        key(B, datetime!(2026-03-01 06:00 UTC)),
        // A writer's clock ahead: read, so that the view rejects it by name.
        key(C, datetime!(2026-03-11 06:00 UTC)),
        key(C, datetime!(2026-03-10 05:00 UTC)),
        "reports/account=111111111111/stray.json".to_string(),
    ];
    assert_eq!(
        latest_keys(&keys, now),
        [
            key(A, datetime!(2026-03-10 06:00 UTC)),
            key(B, datetime!(2026-03-01 06:00 UTC)),
            key(C, datetime!(2026-03-10 05:00 UTC)),
            key(C, datetime!(2026-03-11 06:00 UTC)),
        ]
    );
}
