//! The Lambda handler against the emulator: a scheduled event runs with the settings it
//! was started with, a manual invoke may override the mode, a tripped breaker is an
//! error (so the function's Errors alarm fires), and `{"iam-janitor": "org-digest"}`
//! posts the organization digest from the stored reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iam_janitor::archive::ReportArchive;
use iam_janitor::budget::Budget;
use iam_janitor::handler::{App, HandlerError, handle};
use iam_janitor::iam::Iam;
use iam_janitor::model::report::{Action, Finding, Kind, REPORT_SCHEMA_VERSION, ReasonCode, Report, Status, Summary};
use iam_janitor::organizations::Organizations;
use iam_janitor::settings::{Mode, Settings, SettingsArgs};
use iam_janitor_harness::{Emulator, Organization, SeedKey, SeedUser, WebhookReceiver};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const SCHEDULED: &str = include_str!("../../lambda/tests/fixtures/eventbridge-scheduled.json");

async fn app(emu: &Emulator, settings: Settings) -> App {
    let config = emu.sdk_config().await;
    App {
        archive: settings
            .report_bucket
            .as_deref()
            .map(|bucket| ReportArchive::new(&config, bucket)),
        settings,
        iam: Iam::new(&config, 1000),
        state: None,
        organizations: Organizations::new(&config),
    }
}

async fn seed_stale(emu: &Emulator, n: usize) {
    let now = OffsetDateTime::now_utc();
    let users: Vec<SeedUser> = (0..n)
        .map(|i| SeedUser {
            name: format!("stale-{i}"),
            create_date: Some(now - Duration::days(900)),
            keys: vec![SeedKey {
                create_date: Some(now - Duration::days(400)),
                ..SeedKey::default()
            }],
            ..SeedUser::default()
        })
        .collect();
    emu.seed(&users).await.unwrap();
}

/// A scheduled run runs in the deployment's mode and stores its report in the
/// organization's bucket, under its account's prefix and the day; a bucket that is not
/// there is reported on the report (for Slack), never fails the run.
#[tokio::test]
async fn scheduled_event_runs_in_the_configured_mode_and_stores_its_report() {
    let emu = Emulator::start().await.unwrap();
    seed_stale(&emu, 2).await;
    let config = emu.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("iam-janitor-reports-{}-us-east-1", emu.account_id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let storing = app(
        &emu,
        Settings {
            report_bucket: Some(bucket.clone()),
            ..Settings::default()
        },
    )
    .await;
    let event = serde_json::from_str(SCHEDULED).unwrap();
    let before = OffsetDateTime::now_utc();
    let report = handle(&storing, event, OffsetDateTime::now_utc(), Budget::NONE)
        .await
        .unwrap()
        .into_report()
        .unwrap();
    assert_eq!(report.mode, Mode::Report);
    assert_eq!(report.summary.planned, 2);
    assert_eq!(report.summary.applied, 0);
    assert_eq!(report.not_stored, None);

    let prefix = format!("reports/account={}/", emu.account_id());
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = keys[0];
    let day = |t: OffsetDateTime| format!("{prefix}date={}/", t.date());
    assert!(
        key.starts_with(&day(before)) || key.starts_with(&day(OffsetDateTime::now_utc())),
        "{key}"
    );
    assert!(key.ends_with("Z.json"), "{key}");
    let body = s3.get_object().bucket(&bucket).key(key).send().await.unwrap();
    let body = body.body.collect().await.unwrap().into_bytes();
    let text = std::str::from_utf8(&body).unwrap();
    // One JSON object on one line (what Athena's JSON SerDe reads), the report itself.
    assert_eq!(text.lines().count(), 1, "{text}");
    let stored: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(stored, serde_json::to_value(&report).unwrap());
    assert_eq!(stored["schema_version"], 1);

    // No such bucket: the run is done and reported; the report says why it was not stored.
    let missing = app(
        &emu,
        Settings {
            report_bucket: Some("iam-janitor-reports-no-such-bucket".to_string()),
            ..Settings::default()
        },
    )
    .await;
    let report = handle(
        &missing,
        serde_json::from_str(SCHEDULED).unwrap(),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap()
    .into_report()
    .unwrap();
    assert_eq!(report.summary.planned, 2);
    let why = report.not_stored.unwrap();
    assert!(
        why.contains("iam-janitor-reports-no-such-bucket") && why.contains("does not exist"),
        "{why}"
    );
}

#[tokio::test]
async fn manual_invoke_may_enforce_once_only_where_the_deployment_allows_it() {
    let emu = Emulator::start().await.unwrap();
    seed_stale(&emu, 2).await;
    // As deployed by default (report, InvokeOverride off): refused, nothing changed.
    let app_default = app(&emu, Settings::default()).await;
    let err = handle(
        &app_default,
        json!({"mode": "enforce"}),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HandlerError::OverrideRefused), "{err}");
    let calls = emu.calls().await.unwrap();
    assert_eq!(
        calls.get("DeleteLoginProfile") + calls.get("UpdateAccessKey"),
        0,
        "{calls:?}"
    );

    let app = app(
        &emu,
        Settings {
            invoke_override: true,
            ..Settings::default()
        },
    )
    .await;
    let report = handle(
        &app,
        json!({"mode": "enforce"}),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap()
    .into_report()
    .unwrap();
    assert_eq!(report.summary.applied, 2);
    // The next scheduled run is back in report mode and finds nothing left to do.
    let report = handle(
        &app,
        serde_json::from_str(SCHEDULED).unwrap(),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap()
    .into_report()
    .unwrap();
    assert_eq!(report.mode, Mode::Report);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[tokio::test]
async fn tripped_breaker_is_an_error() {
    let emu = Emulator::start().await.unwrap();
    seed_stale(&emu, 3).await;
    let settings = Settings {
        mode: Mode::Enforce,
        max_actions: 2,
        ..Settings::default()
    };
    let app = app(&emu, settings).await;
    let err = handle(
        &app,
        serde_json::from_str(SCHEDULED).unwrap(),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, HandlerError::Breaker { planned: 3, max: 2, .. }), "{err}");
    assert_eq!(emu.calls().await.unwrap().calls.get("UpdateAccessKey"), None);
}

#[tokio::test]
async fn bad_mode_override_changes_nothing() {
    let emu = Emulator::start().await.unwrap();
    seed_stale(&emu, 1).await;
    let app = app(&emu, Settings::default()).await;
    let err = handle(&app, json!({"mode": "nuke"}), OffsetDateTime::now_utc(), Budget::NONE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nuke"));
    assert_eq!(emu.calls().await.unwrap().total, 0);
}

/// A stored report of `account` at `at`: `applied` changes and `failed` failures of
/// `users` users evaluated, in enforce mode.
fn stored_report(account: &str, at: OffsetDateTime, users: usize, applied: usize, failed: usize) -> Report {
    let finding = |status| Finding {
        user: "alice".to_string(),
        arn: format!("arn:aws:iam::{account}:user/alice"),
        kind: Kind::AccessKey,
        access_key_id: None,
        access_key_slot: Some(1),
        credential_id: None,
        credential_slot: None,
        last_used: None,
        idle_days: Some(200),
        action: Action::DeactivateAccessKey,
        status,
        reason: "idle".to_string(),
        reason_code: if status == Status::Failed {
            ReasonCode::WriteFailed
        } else {
            ReasonCode::Dormant
        },
        services: None,
    };
    let mut findings: Vec<Finding> = (0..applied).map(|_| finding(Status::Applied)).collect();
    findings.extend((0..failed).map(|_| finding(Status::Failed)));
    let mut report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        account_id: Some(account.to_string()),
        generated_at: at,
        enforce: true,
        mode: Mode::Enforce,
        credential_report_generated_at: Some(at),
        dormant_days: 90,
        warn_days: 14,
        findings,
        rejected_rows: Vec::new(),
        suspicious_tags: Vec::new(),
        not_checked: Vec::new(),
        summary: Summary::default(),
        not_stored: None,
    };
    report.recount();
    report.summary.users_evaluated = users;
    report
}

/// Settings with a webhook, a report bucket and a Slack scope.
fn slack_settings(webhook: &str, bucket: Option<&str>, scope: &str) -> Settings {
    Settings::from_args(&SettingsArgs {
        slack_webhook: Some(webhook.to_string()),
        report_bucket: bucket.map(str::to_string),
        slack_scope: Some(scope.to_string()),
        ..SettingsArgs::default()
    })
    .unwrap()
}

/// The texts of a Slack message's blocks, one after the other.
fn message_text(body: &str) -> String {
    let message: serde_json::Value = serde_json::from_str(body).unwrap();
    message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The management account's organization digest: a scheduled run with `--slack-scope org`
/// stores its report and posts nothing of its own; `{"iam-janitor": "org-digest"}` reads
/// every account's latest report and the organization's accounts, changes nothing in IAM,
/// and posts exactly one message with the totals and the stale and missing accounts by
/// name; with `--slack-scope account` it posts nothing; without a bucket it is an error.
#[tokio::test]
async fn the_org_digest_reads_every_accounts_latest_report_and_posts_one_message() {
    let emu = Emulator::start().await.unwrap();
    let org = Organization::builder()
        .account("prod", "workloads")
        .account("payments", "workloads")
        .account("sandbox", "sandbox")
        .account("dev", "sandbox")
        .create(&emu)
        .await
        .unwrap();
    let (prod, payments, sandbox, dev) = (
        org.account_id("prod").unwrap(),
        org.account_id("payments").unwrap(),
        org.account_id("sandbox").unwrap(),
        org.account_id("dev").unwrap(),
    );
    assert_eq!(org.management_account, emu.account_id());
    seed_stale(&emu, 2).await;
    let config = emu.sdk_config().await;
    let bucket = format!("iam-janitor-reports-{}-us-east-1", emu.account_id());
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket(&bucket)
    .send()
    .await
    .unwrap();
    let hook = WebhookReceiver::start().await.unwrap();

    // The management account's scheduled run, scope org: stored, nothing posted.
    let org_only = app(&emu, slack_settings(&hook.url(), Some(&bucket), "org")).await;
    let report = handle(
        &org_only,
        serde_json::from_str(SCHEDULED).unwrap(),
        OffsetDateTime::now_utc(),
        Budget::NONE,
    )
    .await
    .unwrap()
    .into_report()
    .unwrap();
    assert_eq!((report.summary.planned, report.not_stored.as_deref()), (2, None));
    assert!(hook.requests().is_empty(), "scope org: no account digest");

    // The members' runs, as their Lambdas store them: prod changed 3 keys, payments
    // failed one, sandbox last ran three days ago (stale), dev never (missing).
    let archive = ReportArchive::new(&config, &bucket);
    let now = OffsetDateTime::now_utc();
    for (account, hours_ago, users, applied, failed) in [
        (prod, 30, 40, 1, 0),
        (prod, 2, 40, 3, 0),
        (payments, 3, 10, 0, 1),
        (sandbox, 72, 5, 0, 0),
    ] {
        let at = now - Duration::hours(hours_ago);
        archive
            .store(&stored_report(account, at, users, applied, failed), at)
            .await
            .unwrap();
    }

    emu.reset_calls().await.unwrap();
    let digest = json!({"iam-janitor": "org-digest"});
    let summary = handle(&org_only, digest.clone(), OffsetDateTime::now_utc(), Budget::NONE)
        .await
        .unwrap()
        .into_org_digest()
        .unwrap();
    assert_eq!(summary.bucket, bucket);
    assert_eq!(
        (
            summary.accounts_reporting,
            summary.stale,
            summary.missing,
            summary.rejected
        ),
        (4, 1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(summary.organization_unknown, None);
    assert!(summary.posted && summary.not_posted.is_none(), "{summary:?}");
    // Read only: no IAM call, no write to the bucket; only each account's latest report read.
    let calls = emu.calls().await.unwrap();
    assert_eq!(calls.total, 0, "{calls:?}");
    assert_eq!(calls.s3.get("PutObject"), None, "{calls:?}");
    assert_eq!(calls.s3.get("GetObject"), Some(&4), "{calls:?}");

    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "one message: {bodies:?}");
    let text = message_text(&bodies[0]);
    // 2 planned in the management account, 3 changed in prod, 1 failed in payments.
    let users = report.summary.users_evaluated + 40 + 10 + 5;
    let skipped = report.summary.skipped;
    assert!(
        text.contains(&format!(
            "*4 accounts reporting* (each one's latest run): *{users} users* evaluated, *6 dormant credentials* \
             found, *3 changes*, *{skipped}* skipped, *1 failure*"
        )),
        "{text}"
    );
    assert!(
        text.contains("The organization has 5 active accounts: 3 ran in the last 48 hours, 1 stale, 1 missing."),
        "{text}"
    );
    assert!(text.contains(&format!("• payments ({payments}): 1 failed")), "{text}");
    assert!(text.contains(&format!("• prod ({prod}): 3 changed")), "{text}");
    assert!(
        text.contains(&format!(
            "*Stale: no run for more than 48 hours* (1)\n• sandbox ({sandbox}): last run"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "*Missing: active accounts with no report in the last 30 days* (1)\n• dev ({dev})"
        )),
        "{text}"
    );

    // Scope account: the digest is built, not posted.
    let account_only = app(&emu, slack_settings(&hook.url(), Some(&bucket), "account")).await;
    let summary = handle(&account_only, digest.clone(), OffsetDateTime::now_utc(), Budget::NONE)
        .await
        .unwrap()
        .into_org_digest()
        .unwrap();
    assert!(!summary.posted, "{summary:?}");
    assert_eq!(summary.not_posted.as_deref(), Some("--slack-scope is account"));
    assert_eq!(hook.bodies().len(), 1, "still the one message");

    // No report bucket: a clear error, nothing posted.
    let no_bucket = app(&emu, slack_settings(&hook.url(), None, "both")).await;
    let err = handle(&no_bucket, digest, OffsetDateTime::now_utc(), Budget::NONE)
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::NoReportBucket), "{err}");
    assert!(err.to_string().contains("IAM_JANITOR_REPORT_BUCKET"), "{err}");
    assert_eq!(hook.bodies().len(), 1);
}
