//! The Lambda handler against the emulator: a scheduled event runs with the settings it
//! was started with, a manual invoke may override the mode, and a tripped breaker is an
//! error (so the function's Errors alarm fires).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iam_janitor::archive::ReportArchive;
use iam_janitor::budget::Budget;
use iam_janitor::handler::{App, HandlerError, handle};
use iam_janitor::iam::Iam;
use iam_janitor::settings::{Mode, Settings};
use iam_janitor_harness::{Emulator, SeedKey, SeedUser};
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
