//! End-to-end tests of `cargo xtask audit` (the `iam_janitor::cli` front end, with its
//! real flag parsing and JSON output) against the emulator: moto on loopback with the
//! harness's control endpoint for dates, faults and call counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use clap::Parser;
use iam_janitor::cli as audit;
use iam_janitor_harness::{Emulator, Fault, SeedKey, SeedPassword, SeedUser, SeededUser, WebhookReceiver};
use serde_json::Value;
use time::Duration;

mod common;

use common::{days_ago, findings_of, now, writes};

/// Runs `audit` with these flags (plus `--format json`); returns (exit code, report).
/// These tests are about dormant credentials: least privilege is off unless a test
/// says otherwise (tests/tests/least_privilege.rs covers it).
async fn audit(emu: &Emulator, flags: &[&str]) -> (i32, Value) {
    let mut argv = flags.to_vec();
    if !flags.contains(&"--least-privilege") {
        argv.extend(["--least-privilege", "off"]);
    }
    common::audit_json(emu, &argv).await
}

fn user(name: &str) -> SeedUser {
    SeedUser {
        name: name.to_string(),
        create_date: Some(days_ago(1000)),
        ..SeedUser::default()
    }
}

fn key(created: i64, used: Option<i64>) -> SeedKey {
    SeedKey {
        create_date: Some(days_ago(created)),
        last_used: used.map(days_ago),
        ..SeedKey::default()
    }
}

fn password(changed: i64, used: Option<i64>) -> SeedPassword {
    SeedPassword {
        last_changed: Some(days_ago(changed)),
        last_used: used.map(days_ago),
    }
}

/// A small account of mixed activity.
fn mixed_users() -> Vec<SeedUser> {
    vec![
        SeedUser {
            password: Some(password(400, Some(2))),
            keys: vec![key(300, Some(1))],
            ..user("active")
        },
        SeedUser {
            password: Some(password(400, Some(120))),
            ..user("dormant-console")
        },
        SeedUser {
            keys: vec![key(200, None)],
            ..user("never-used-key")
        },
        SeedUser {
            keys: vec![key(700, Some(150)), key(20, Some(1))],
            ..user("two-keys")
        },
        SeedUser {
            keys: vec![key(900, None)],
            password: Some(password(900, Some(500))),
            tags: BTreeMap::from([("IAM-Janitor:Exempt".to_string(), "true".to_string())]),
            ..user("break-glass")
        },
        SeedUser {
            create_date: Some(days_ago(5)),
            keys: vec![key(5, None)],
            password: Some(password(5, None)),
            ..user("new-hire")
        },
        SeedUser {
            keys: vec![key(400, Some(80))],
            ..user("soon-dormant")
        },
        SeedUser {
            keys: vec![key(365, Some(365))],
            ..user("odd+name=x,y.z@corp_-1")
        },
    ]
}

fn key_id(seeded: &[SeededUser], user: &str, index: usize) -> String {
    seeded.iter().find(|u| u.name == user).unwrap().access_key_ids[index].clone()
}

#[tokio::test]
async fn report_mode_finds_dormant_credentials_and_changes_nothing() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu.seed(&mixed_users()).await.unwrap();
    let (code, report) = audit(&emu, &[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["enforce"], false);
    assert_eq!(report["account_id"], emu.account_id());
    assert_eq!(report["schema_version"], 1, "stored reports are read by version");

    assert!(findings_of(&report, "active").is_empty());
    assert!(findings_of(&report, "new-hire").is_empty());

    let console = findings_of(&report, "dormant-console");
    assert_eq!(console.len(), 1);
    assert_eq!(console[0]["kind"], "console_password");
    assert_eq!(console[0]["action"], "delete_login_profile");
    assert_eq!(console[0]["status"], "planned");
    assert_eq!(console[0]["idle_days"], 120);

    let never = findings_of(&report, "never-used-key");
    assert_eq!(never[0]["access_key_id"], key_id(&seeded, "never-used-key", 0));
    assert_eq!(never[0]["last_used"], Value::Null);
    assert_eq!(never[0]["idle_days"], 200);

    // Only the old key of two, identified by its ID after live confirmation.
    let two = findings_of(&report, "two-keys");
    assert_eq!(two.len(), 1, "{two:#?}");
    assert_eq!(two[0]["access_key_id"], key_id(&seeded, "two-keys", 0));
    assert_eq!(two[0]["action"], "deactivate_access_key");

    let exempt = findings_of(&report, "break-glass");
    assert_eq!(exempt.len(), 2);
    assert!(exempt.iter().all(|f| f["status"] == "skipped"));
    assert!(
        exempt
            .iter()
            .all(|f| f["reason"].as_str().unwrap().starts_with("exempt: tag"))
    );
    assert!(exempt.iter().all(|f| f["reason_code"] == "exempt"), "{exempt:#?}");

    let soon = findings_of(&report, "soon-dormant");
    assert_eq!(
        (soon[0]["action"].as_str(), soon[0]["status"].as_str()),
        (Some("warn"), Some("planned"))
    );

    assert_eq!(
        findings_of(&report, "odd+name=x,y.z@corp_-1")[0]["action"],
        "deactivate_access_key"
    );

    assert_eq!(report["summary"]["planned"], 4);
    assert_eq!(report["summary"]["warnings"], 1);
    assert_eq!(report["summary"]["skipped"], 2);
    assert_eq!(report["summary"]["users_evaluated"], 8);

    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(writes(&calls), 0, "{calls:?}");
}

#[tokio::test]
async fn enforce_disables_exactly_the_dormant_credentials_and_a_rerun_writes_nothing() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu.seed(&mixed_users()).await.unwrap();
    let (code, report) = audit(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 4, "{report:#}");

    let iam = emu.iam().await;
    // The console password is gone; the active user's is not.
    assert!(
        iam.get_login_profile()
            .user_name("dormant-console")
            .send()
            .await
            .is_err()
    );
    assert!(iam.get_login_profile().user_name("active").send().await.is_ok());
    assert!(iam.get_login_profile().user_name("break-glass").send().await.is_ok());
    assert!(iam.get_login_profile().user_name("new-hire").send().await.is_ok());

    let status = |user: &'static str| {
        let iam = iam.clone();
        async move {
            let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
            keys.access_key_metadata()
                .iter()
                .map(|k| {
                    (
                        k.access_key_id().unwrap().to_string(),
                        k.status().unwrap().as_str().to_string(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        }
    };
    let two = status("two-keys").await;
    assert_eq!(two[&key_id(&seeded, "two-keys", 0)], "Inactive");
    assert_eq!(two[&key_id(&seeded, "two-keys", 1)], "Active");
    assert_eq!(
        status("never-used-key").await[&key_id(&seeded, "never-used-key", 0)],
        "Inactive"
    );
    assert_eq!(
        status("break-glass").await[&key_id(&seeded, "break-glass", 0)],
        "Active"
    );
    assert_eq!(
        status("soon-dormant").await[&key_id(&seeded, "soon-dormant", 0)],
        "Active"
    );
    assert_eq!(status("active").await[&key_id(&seeded, "active", 0)], "Active");

    // The audit trail on the user names what was done.
    let tags = iam.list_user_tags().user_name("two-keys").send().await.unwrap();
    let keys: Vec<&str> = tags.tags().iter().map(|t| t.key()).collect();
    assert_eq!(
        keys,
        [format!("iam-janitor:key-disabled:{}", key_id(&seeded, "two-keys", 0)).as_str()]
    );
    let tags = iam.list_user_tags().user_name("dormant-console").send().await.unwrap();
    assert_eq!(tags.tags()[0].key(), "iam-janitor:console-disabled");

    // Idempotent: a second run makes no write.
    emu.reset_calls().await.unwrap();
    let (code, report) = audit(&emu, &["--enforce"]).await;
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["applied"], 0, "{report:#}");
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(writes(&calls), 0, "{calls:?}");
}

#[tokio::test]
async fn circuit_breaker_changes_nothing_and_fails_the_run() {
    let emu = Emulator::start().await.unwrap();
    let users: Vec<SeedUser> = (0..5)
        .map(|i| SeedUser {
            keys: vec![key(400, None)],
            ..user(&format!("stale-{i}"))
        })
        .collect();
    emu.seed(&users).await.unwrap();
    let (code, report) = audit(&emu, &["--enforce", "--max-actions", "4"]).await;
    assert_eq!(code, audit::EXIT_BREAKER);
    assert_eq!(report["summary"]["circuit_breaker"]["planned_changes"], 5);
    assert_eq!(report["summary"]["circuit_breaker"]["tripped"], true);
    assert_eq!(report["summary"]["applied"], 0);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == "skipped" && f["reason"].as_str().unwrap().contains("circuit breaker"))
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason_code"] == "circuit_breaker"),
        "{report:#}"
    );
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(writes(&calls), 0, "{calls:?}");
    // Not even a confirmation read: the breaker acts on the plan.
    assert_eq!(calls.get("ListAccessKeys"), None, "{calls:?}");

    // At the limit it goes through.
    let (code, report) = audit(&emu, &["--enforce", "--max-actions", "5"]).await;
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["applied"], 5);
}

#[tokio::test]
async fn throttling_is_retried_and_the_run_completes() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&mixed_users()).await.unwrap();
    for (action, count) in [
        ("GetAccountAuthorizationDetails", 2),
        ("UpdateAccessKey", 2),
        ("GetCredentialReport", 1),
    ] {
        emu.inject_fault(Fault::throttling(action, count)).await.unwrap();
    }
    let (code, report) = audit(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 4);
    assert_eq!(report["summary"]["failed"], 0);
    let calls = emu.calls().await.unwrap().calls;
    // Three keys deactivated, two throttled attempts retried.
    assert_eq!(calls["UpdateAccessKey"], 3 + 2, "{calls:?}");
    assert_eq!(calls["GetAccountAuthorizationDetails"], 1 + 2, "{calls:?}");
}

#[tokio::test]
async fn one_users_failure_is_reported_and_the_others_are_done() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&mixed_users()).await.unwrap();
    emu.inject_fault(Fault {
        action: "UpdateAccessKey".to_string(),
        count: 100,
        code: "AccessDenied".to_string(),
        status: 403,
        message: "not allowed".to_string(),
        user: Some("two-keys".to_string()),
    })
    .await
    .unwrap();
    let (code, report) = audit(&emu, &["--enforce"]).await;
    assert_eq!(code, audit::EXIT_PARTIAL);
    let failed = findings_of(&report, "two-keys");
    assert_eq!(failed[0]["status"], "failed");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("AccessDenied"),
        "{failed:#?}"
    );
    assert_eq!(report["summary"]["applied"], 3);
    assert_eq!(report["summary"]["failed"], 1);
    // The record, written before the change, now says it was not done.
    let tags = emu
        .iam()
        .await
        .list_user_tags()
        .user_name("two-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1, "{tags:?}");
    assert!(tags.tags()[0].key().starts_with("iam-janitor:key-disabled:"));
    assert!(tags.tags()[0].value().starts_with("not-done "), "{tags:?}");
}

#[tokio::test]
async fn live_data_newer_than_the_report_prevents_the_change() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[SeedUser {
            keys: vec![key(300, Some(200))],
            ..user("back-from-leave")
        }])
        .await
        .unwrap();
    // The report is generated now and frozen (IAM serves it for up to 4 hours); then the
    // key is used.
    emu.freeze_credential_report().await.unwrap();
    emu.set_access_key(
        &key_id(&seeded, "back-from-leave", 0),
        iam_janitor_harness::KeyPatch {
            last_used: Some(Some(days_ago(0))),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (code, report) = audit(&emu, &["--enforce"]).await;
    assert_eq!(code, 0);
    let f = findings_of(&report, "back-from-leave");
    assert_eq!(f[0]["status"], "skipped", "{f:#?}");
    assert!(
        f[0]["reason"]
            .as_str()
            .unwrap()
            .contains("used since the credential report")
    );
    assert_eq!(f[0]["reason_code"], "used_since_report", "{f:#?}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
}

#[tokio::test]
async fn an_invalid_setting_is_rejected_before_any_call() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&mixed_users()).await.unwrap();
    emu.reset_calls().await.unwrap();
    let cli = common::Cli::try_parse_from(["audit", "--enforce", "--dormant-days", "ninety"]).unwrap();
    let config = emu.sdk_config().await;
    let err = audit::run(&cli.args, &config, now(), &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), audit::EXIT_USAGE);
    assert!(err.to_string().contains("IAM_JANITOR_DORMANT_DAYS") && err.to_string().contains("ninety"));
    assert_eq!(emu.calls().await.unwrap().total, 0);
}

#[tokio::test]
async fn as_of_evaluates_at_another_time_without_confirming() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[SeedUser {
        keys: vec![key(30, Some(30))],
        ..user("fine-today")
    }])
    .await
    .unwrap();
    let later = (now() + Duration::days(100))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, report) = audit(&emu, &["--as-of", &later]).await;
    assert_eq!(code, 0);
    let f = findings_of(&report, "fine-today");
    assert_eq!(f[0]["idle_days"], 130);
    assert_eq!(f[0]["status"], "planned");
    assert_eq!(emu.calls().await.unwrap().calls.get("ListAccessKeys"), None);
}

#[tokio::test]
async fn table_output_lists_the_findings() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&mixed_users()).await.unwrap();
    let cli = common::Cli::try_parse_from(["audit"]).unwrap();
    let mut out = Vec::new();
    audit::run(&cli.args, &emu.sdk_config().await, now(), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("USER") && text.contains("dormant-console") && text.contains("delete_login_profile"));
    assert!(text.contains("8 users"), "{text}");
}

#[tokio::test]
async fn slack_digest_is_one_valid_redacted_message_and_survives_429() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu.seed(&mixed_users()).await.unwrap();
    let hook = WebhookReceiver::start().await.unwrap();
    hook.respond_429_first(1, 1);
    let (code, report) = audit(&emu, &["--slack-webhook", &hook.url()]).await;
    assert_eq!(code, 0, "{report:#}");
    let bodies = hook.bodies();
    // One 429, then the digest delivered once.
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let digest: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert!(digest["blocks"].as_array().unwrap().len() >= 3);
    let text = bodies[1].as_str();
    assert!(text.contains("would"), "{text}");
    for user in &seeded {
        for id in &user.access_key_ids {
            assert!(!text.contains(id.as_str()), "full key ID {id} in {text}");
        }
    }
    let id = key_id(&seeded, "never-used-key", 0);
    assert!(
        text.contains(&format!("{}…{}", &id[..4], &id[id.len() - 4..])),
        "{text}"
    );

    // Enforce mode says what was done.
    let (code, _) = audit(&emu, &["--enforce", "--slack-webhook", &hook.url()]).await;
    assert_eq!(code, 0);
    let last: Value = serde_json::from_str(hook.bodies().last().unwrap()).unwrap();
    assert!(last.to_string().contains("Changed"), "{last}");
}

/// Quiet Slack: an account whose only findings are the rule working (an exempt
/// break-glass user, every day) posts nothing; the same account with a change to make
/// posts one digest, which counts the skip.
#[tokio::test]
async fn skips_alone_post_nothing_and_news_posts_with_the_skips_counted() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[SeedUser {
        keys: vec![key(400, None)],
        ..user("break-glass").tag("iam-janitor:exempt", "true")
    }])
    .await
    .unwrap();
    let hook = WebhookReceiver::start().await.unwrap();
    let (code, report) = audit(&emu, &["--enforce", "--slack-webhook", &hook.url()]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["skipped"], 1, "{report:#}");
    assert!(hook.bodies().is_empty(), "{:?}", hook.bodies());

    emu.seed(&[SeedUser {
        keys: vec![key(400, None)],
        ..user("stale")
    }])
    .await
    .unwrap();
    let (code, report) = audit(&emu, &["--slack-webhook", &hook.url()]).await;
    assert_eq!(code, 0, "{report:#}");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("*1* skipped"), "{}", bodies[0]);
    assert!(bodies[0].contains("break-glass"), "{}", bodies[0]);
}

#[tokio::test]
async fn a_dead_webhook_does_not_block_remediation() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&mixed_users()).await.unwrap();
    let hook = WebhookReceiver::start().await.unwrap();
    hook.hang();
    let (code, report) = audit(&emu, &["--enforce", "--slack-webhook", &hook.url()]).await;
    assert_eq!(code, 0);
    assert_eq!(report["summary"]["applied"], 4);
}

#[tokio::test]
async fn a_report_missing_users_the_account_had_changes_nothing() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[SeedUser {
        keys: vec![key(400, None)],
        ..user("stale")
    }])
    .await
    .unwrap();
    emu.freeze_credential_report().await.unwrap();
    // A user that existed before the report was generated, but is not in it: the report is
    // truncated or wrong.
    emu.seed(&[SeedUser {
        keys: vec![key(400, None)],
        ..user("not-in-report")
    }])
    .await
    .unwrap();
    emu.reset_calls().await.unwrap();
    let cli = common::Cli::try_parse_from(["audit", "--enforce", "--least-privilege", "off"]).unwrap();
    let err = audit::run(&cli.args, &emu.sdk_config().await, now(), &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), audit::EXIT_ERROR);
    assert!(err.to_string().contains("not-in-report"), "{err}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
}
