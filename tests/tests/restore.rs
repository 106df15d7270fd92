//! `restore` end to end: enforce a run that disables a password, a key and services,
//! then undo it for the user from the audit trail, and check that the next run leaves
//! the restored credentials alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{audit_json, days_ago, findings_of, now, writes};
use iam_janitor::iam::Iam;
use iam_janitor::restore::{RestoreRequest, restore};
use iam_janitor::trail::RESTORED as TAG_RESTORED;
use iam_janitor_harness::{AdvisorService, Emulator, KeyStatus, SeedKey, SeedPassword, SeedUser};

#[tokio::test]
async fn restore_gives_back_exactly_what_the_engine_took() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[SeedUser {
            name: "returning".into(),
            create_date: Some(days_ago(900)),
            password: Some(SeedPassword {
                last_changed: Some(days_ago(800)),
                last_used: Some(days_ago(300)),
            }),
            keys: vec![
                SeedKey {
                    create_date: Some(days_ago(700)),
                    last_used: Some(days_ago(250)),
                    ..SeedKey::default()
                },
                // Made inactive by someone else: restore must not touch it.
                SeedKey {
                    create_date: Some(days_ago(600)),
                    status: KeyStatus::Inactive,
                    ..SeedKey::default()
                },
            ],
            managed_policy_arns: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
            ..SeedUser::default()
        }])
        .await
        .unwrap();
    let (ours, theirs) = (&seeded[0].access_key_ids[0], &seeded[0].access_key_ids[1]);
    emu.set_access_advisor(
        "returning",
        &[
            AdvisorService::new("ec2", "Amazon EC2", None),
            AdvisorService::new("rds", "Amazon RDS", None),
            AdvisorService::new("s3", "Amazon S3", Some(days_ago(400))),
        ],
    )
    .await
    .unwrap();
    // While the user still had credentials in use, least privilege denied what they had
    // not used; then they went quiet, and their password and key were disabled (least
    // privilege leaves a user without credentials alone: the deny policy stays).
    let (code, report) = audit_json(&emu, &["--enforce", "--dormant-days", "1000"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 1, "{report:#}");
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 2, "{report:#}");
    assert_eq!(report["summary"]["users_without_credentials"], 1, "{report:#}");

    let iam = emu.iam().await;
    let request = RestoreRequest {
        user: "returning".into(),
        keys: true,
        certificates: false,
        service_credentials: false,
        ssh_keys: false,
        console: true,
        services: BTreeSet::from(["ec2".to_string()]),
    };
    let outcome = restore(
        &Iam::from_client(iam.clone()),
        &request,
        now(),
        "iam-janitor:keep-services",
    )
    .await
    .unwrap();
    assert_eq!(outcome.keys_reactivated, std::slice::from_ref(ours));
    assert!(outcome.console_restored);
    let password = outcome.temporary_password.clone().unwrap();
    assert_eq!(password.len(), 24);
    assert!(
        !serde_json::to_string(&outcome).unwrap().contains(&password),
        "the password is never serialised"
    );

    let keys = iam.list_access_keys().user_name("returning").send().await.unwrap();
    let status = |id: &str| {
        keys.access_key_metadata()
            .iter()
            .find(|k| k.access_key_id() == Some(id))
            .unwrap()
            .status()
            .unwrap()
            .as_str()
            .to_string()
    };
    assert_eq!(status(ours), "Active");
    assert_eq!(status(theirs), "Inactive");
    let profile = iam.get_login_profile().user_name("returning").send().await.unwrap();
    assert!(profile.login_profile().unwrap().password_reset_required());

    let tags: Vec<(String, String)> = iam
        .list_user_tags()
        .user_name("returning")
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert!(tags.iter().all(|(k, _)| !k.contains("disabled")), "{tags:?}");
    assert!(tags.iter().any(|(k, _)| k == TAG_RESTORED), "{tags:?}");
    assert!(
        tags.iter().any(|(k, v)| k == "iam-janitor:keep-services" && v == "ec2"),
        "{tags:?}"
    );

    // ec2 is no longer denied; rds still is; s3 too (unused for 400 days).
    let policy_arn = common::deny_policy_arn(&emu, "returning").await;
    let policy = iam.get_policy().policy_arn(&policy_arn).send().await.unwrap();
    let version = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id(policy.policy().unwrap().default_version_id().unwrap())
        .send()
        .await
        .unwrap();
    let document = iam_janitor::iam::decode_policy_document(version.policy_version().unwrap().document().unwrap());
    assert!(
        document.contains("rds:*") && document.contains("s3:*") && !document.contains("ec2:*"),
        "{document}"
    );

    // The next run leaves the restored credentials and the kept service alone.
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(findings_of(&report, "returning").is_empty(), "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);

    // Restoring twice changes nothing more.
    let again = restore(
        &Iam::from_client(iam.clone()),
        &request,
        now(),
        "iam-janitor:keep-services",
    )
    .await
    .unwrap();
    assert!(again.keys_reactivated.is_empty() && !again.console_restored);
}

/// A record of a change that then failed (`not-done <time>`) gives nothing back: the key
/// made inactive by someone else since stays inactive, and no password is created.
#[tokio::test]
async fn restore_gives_nothing_back_for_a_change_recorded_as_not_done() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[SeedUser {
            name: "never-changed".into(),
            create_date: Some(days_ago(900)),
            keys: vec![SeedKey {
                create_date: Some(days_ago(700)),
                status: KeyStatus::Inactive,
                ..SeedKey::default()
            }],
            ..SeedUser::default()
        }])
        .await
        .unwrap();
    let key = &seeded[0].access_key_ids[0];
    let iam = emu.iam().await;
    let tag = |k: String| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value("not-done 2026-11-01T00:00:00Z")
            .build()
            .unwrap()
    };
    iam.tag_user()
        .user_name("never-changed")
        .tags(tag(format!("iam-janitor:key-disabled:{key}")))
        .tags(tag("iam-janitor:console-disabled".to_string()))
        .send()
        .await
        .unwrap();
    let request = RestoreRequest {
        user: "never-changed".into(),
        keys: true,
        certificates: false,
        service_credentials: false,
        ssh_keys: false,
        console: true,
        services: BTreeSet::new(),
    };
    let outcome = restore(
        &Iam::from_client(iam.clone()),
        &request,
        now(),
        "iam-janitor:keep-services",
    )
    .await
    .unwrap();
    assert!(outcome.keys_reactivated.is_empty(), "{outcome:?}");
    assert_eq!(outcome.keys_skipped.len(), 1, "{outcome:?}");
    assert!(outcome.keys_skipped[0].1.contains("did not take effect"), "{outcome:?}");
    assert!(!outcome.console_restored && outcome.temporary_password.is_none());
    let keys = iam.list_access_keys().user_name("never-changed").send().await.unwrap();
    assert_eq!(keys.access_key_metadata()[0].status().unwrap().as_str(), "Inactive");
    assert!(iam.get_login_profile().user_name("never-changed").send().await.is_err());
    // The not-done records are cleared.
    let tags = iam.list_user_tags().user_name("never-changed").send().await.unwrap();
    assert!(tags.tags().iter().all(|t| !t.key().contains("disabled")), "{tags:?}");
}

/// A console password given back meets the account's password policy (its minimum
/// length, here above the default 24), and a record restore cannot read (edited by
/// someone else) gives nothing back.
#[tokio::test]
async fn restore_meets_the_password_policy_and_ignores_records_it_cannot_read() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[SeedUser {
            name: "policy-bound".into(),
            create_date: Some(days_ago(900)),
            keys: vec![SeedKey {
                create_date: Some(days_ago(700)),
                status: KeyStatus::Inactive,
                ..SeedKey::default()
            }],
            ..SeedUser::default()
        }])
        .await
        .unwrap();
    let key = &seeded[0].access_key_ids[0];
    let iam = emu.iam().await;
    iam.update_account_password_policy()
        .minimum_password_length(40)
        .require_symbols(true)
        .send()
        .await
        .unwrap();
    let tag = |k: String, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();
    iam.tag_user()
        .user_name("policy-bound")
        .tags(tag("iam-janitor:console-disabled".to_string(), "2026-11-01T00:00:00Z"))
        .tags(tag(format!("iam-janitor:key-disabled:{key}"), "yes"))
        .send()
        .await
        .unwrap();
    let request = RestoreRequest {
        user: "policy-bound".into(),
        keys: true,
        certificates: false,
        service_credentials: false,
        ssh_keys: false,
        console: true,
        services: BTreeSet::new(),
    };
    let outcome = restore(
        &Iam::from_client(iam.clone()),
        &request,
        now(),
        "iam-janitor:keep-services",
    )
    .await
    .unwrap();
    assert!(outcome.console_restored, "{outcome:?}");
    assert_eq!(outcome.temporary_password.as_deref().map(str::len), Some(40));
    assert!(iam.get_login_profile().user_name("policy-bound").send().await.is_ok());
    // The unreadable key record: the key stays inactive, the record stays for a human.
    assert!(outcome.keys_reactivated.is_empty(), "{outcome:?}");
    assert_eq!(outcome.keys_skipped.len(), 1, "{outcome:?}");
    assert!(outcome.keys_skipped[0].1.contains("check it by hand"), "{outcome:?}");
    let keys = iam.list_access_keys().user_name("policy-bound").send().await.unwrap();
    assert_eq!(keys.access_key_metadata()[0].status().unwrap().as_str(), "Inactive");
    let tags = iam.list_user_tags().user_name("policy-bound").send().await.unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key().starts_with("iam-janitor:key-disabled:")),
        "{tags:?}"
    );
    assert!(tags.tags().iter().any(|t| t.key() == TAG_RESTORED), "{tags:?}");
}
