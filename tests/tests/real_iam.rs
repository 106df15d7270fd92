//! Dormant credentials where real IAM differs from a fresh emulator: every test serves
//! the credential report from a snapshot taken before the live changes (IAM caches it
//! for up to 4 hours), and the emulator keeps IAM's tag rules (50 per user, keys unique
//! ignoring case).
//!
//! - a console password deleted and set again after the report is a new password;
//! - a user deleted and recreated under the same name is not judged by the old row;
//! - the tool's own tags count only as it writes them; other spellings and restore
//!   times in the future are ignored and reported;
//! - the audit trail drops the records of deleted keys to stay under the tag quota, and
//!   a user still at the quota is not changed, with the reason in plain words;
//! - signing certificates (no use recorded) are reported by age, deactivated only when
//!   asked to, and restored;
//! - service-specific credentials (moto has none: the emulator serves them) are judged by
//!   their service's use in Access Advisor, deactivated and restored; SSH public keys
//!   likewise (CodeCommit), listed for a share of the users each run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iam_janitor::cli::EXIT_PARTIAL;
use iam_janitor::iam::Iam;
use iam_janitor::restore::{RestoreRequest, restore};
use iam_janitor::trail;
use iam_janitor_harness::{
    AdvisorService, Emulator, SeedCertificate, SeedKey, SeedPassword, SeedServiceCredential, SeedSshKey, SeedUser,
};
use serde_json::Value;
use time::Duration;

mod common;

use common::{days_ago, findings_of, now, writes};

async fn enforce(emu: &Emulator) -> (i32, Value) {
    common::audit_json(emu, &["--enforce", "--least-privilege", "off"]).await
}

fn old_user(name: &str) -> SeedUser {
    SeedUser::new(name).created(days_ago(1000))
}

fn dormant_password() -> SeedPassword {
    SeedPassword::new().changed(days_ago(400)).used(days_ago(200))
}

fn dormant_key() -> SeedKey {
    SeedKey::new().created(days_ago(400)).used(days_ago(200))
}

fn tag(key: &str, value: &str) -> aws_sdk_iam::types::Tag {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap()
}

async fn tags_of(emu: &Emulator, user: &str) -> Vec<(String, String)> {
    let out = emu.iam().await.list_user_tags().user_name(user).send().await.unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn key_statuses(emu: &Emulator, user: &str) -> Vec<String> {
    let out = emu.iam().await.list_access_keys().user_name(user).send().await.unwrap();
    out.access_key_metadata()
        .iter()
        .map(|k| k.status().unwrap().as_str().to_string())
        .collect()
}

async fn has_login_profile(emu: &Emulator, user: &str) -> bool {
    emu.iam().await.get_login_profile().user_name(user).send().await.is_ok()
}

#[tokio::test]
async fn a_password_set_again_or_a_user_recreated_after_the_report_is_not_changed() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[
        old_user("reset").with_password(dormant_password()),
        old_user("reborn")
            .with_password(dormant_password())
            .with_key(dormant_key()),
        old_user("still-dormant").with_password(dormant_password()),
    ])
    .await
    .unwrap();
    emu.freeze_credential_report().await.unwrap();

    // After the report: an admin answers the Slack warning by deleting the password and
    // setting a new one; infrastructure code deletes "reborn" and creates it again.
    let iam = emu.iam().await;
    iam.delete_login_profile().user_name("reset").send().await.unwrap();
    iam.create_login_profile()
        .user_name("reset")
        .password("New-Passw0rd!-reset")
        .send()
        .await
        .unwrap();
    iam.delete_login_profile().user_name("reborn").send().await.unwrap();
    for key in iam
        .list_access_keys()
        .user_name("reborn")
        .send()
        .await
        .unwrap()
        .access_key_metadata()
    {
        iam.delete_access_key()
            .user_name("reborn")
            .access_key_id(key.access_key_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    iam.delete_user().user_name("reborn").send().await.unwrap();
    iam.create_user().user_name("reborn").send().await.unwrap();
    iam.create_login_profile()
        .user_name("reborn")
        .password("New-Passw0rd!-reborn")
        .send()
        .await
        .unwrap();
    iam.create_access_key().user_name("reborn").send().await.unwrap();

    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");

    let reset = findings_of(&report, "reset");
    assert_eq!(reset.len(), 1, "{reset:#?}");
    assert_eq!(reset[0]["status"], "skipped", "{reset:#?}");
    assert_eq!(reset[0]["reason_code"], "set_since_report", "{reset:#?}");
    assert!(reset[0]["reason"].as_str().unwrap().contains("set again"), "{reset:#?}");
    assert!(has_login_profile(&emu, "reset").await, "the new password was deleted");

    let reborn = findings_of(&report, "reborn");
    assert_eq!(reborn.len(), 2, "the old user's password and key: {reborn:#?}");
    for f in &reborn {
        assert_eq!(f["status"], "skipped", "{f:#}");
        assert_eq!(f["reason_code"], "user_recreated", "{f:#}");
    }
    assert!(has_login_profile(&emu, "reborn").await);
    assert_eq!(key_statuses(&emu, "reborn").await, ["Active"]);

    // The control: the same report, an unchanged user.
    let still = findings_of(&report, "still-dormant");
    assert_eq!(still[0]["status"], "applied", "{still:#?}");
    assert!(!has_login_profile(&emu, "still-dormant").await);
    assert!(
        tags_of(&emu, "reset").await.is_empty() && tags_of(&emu, "reborn").await.is_empty(),
        "no record of a change that was not made"
    );
}

#[tokio::test]
async fn the_tools_own_tags_count_only_as_it_writes_them() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[
        old_user("sly").with_key(dormant_key()),
        old_user("time-traveller").with_key(dormant_key()),
        old_user("break-glass").with_key(dormant_key()),
        old_user("restored").with_key(dormant_key()),
    ])
    .await
    .unwrap();
    emu.freeze_credential_report().await.unwrap();
    // After the report, users tag themselves (the guardrails SCP matches `iam-janitor:*`
    // case-sensitively, so nothing stops the first two in a real account).
    let iam = emu.iam().await;
    let recent = trail::stamp(now() - Duration::days(3));
    let future = trail::stamp(now() + Duration::days(3650));
    for (user, key, value) in [
        ("sly", "IAM-JANITOR:RESTORED", recent.as_str()),
        ("time-traveller", trail::RESTORED, future.as_str()),
        // The exemption tag is matched ignoring case, as IAM compares keys.
        ("break-glass", "IAM-Janitor:Exempt", "TRUE"),
        // The real thing: restore's record opens a new window.
        ("restored", trail::RESTORED, recent.as_str()),
    ] {
        iam.tag_user()
            .user_name(user)
            .tags(tag(key, value))
            .send()
            .await
            .unwrap();
    }

    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    for user in ["sly", "time-traveller"] {
        let f = findings_of(&report, user);
        assert_eq!(f[0]["status"], "applied", "{user}: {f:#?}");
        assert_eq!(key_statuses(&emu, user).await, ["Inactive"], "{user}");
    }
    assert_eq!(findings_of(&report, "break-glass")[0]["reason_code"], "exempt");
    assert_eq!(key_statuses(&emu, "break-glass").await, ["Active"]);
    assert!(findings_of(&report, "restored").is_empty(), "{report:#}");
    assert_eq!(key_statuses(&emu, "restored").await, ["Active"]);

    let suspicious = report["suspicious_tags"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = suspicious
        .iter()
        .map(|t| {
            (
                t["user"].as_str().unwrap(),
                t["key"].as_str().unwrap(),
                t["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("sly", "IAM-JANITOR:RESTORED", "case_variant"),
            ("time-traveller", "iam-janitor:restored", "future_restore"),
        ],
        "{suspicious:#?}"
    );
    assert_eq!(report["summary"]["suspicious_tags"], 2);
    // Still reported on the next run, which changes nothing.
    emu.reset_calls().await.unwrap();
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["suspicious_tags"].as_array().unwrap().len(), 2);
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
}

#[tokio::test]
async fn the_audit_trail_stays_under_the_tag_quota_and_a_full_user_is_not_changed() {
    let emu = Emulator::start().await.unwrap();
    let mut rotated = old_user("rotated").with_key(dormant_key());
    let mut full = old_user("full")
        .with_key(dormant_key())
        .with_password(dormant_password());
    for i in 0..48 {
        rotated = rotated.tag(format!("team-{i:02}"), "x");
        full = full.tag(format!("team-{i:02}"), "x");
    }
    emu.seed(&[rotated, full]).await.unwrap();
    emu.freeze_credential_report().await.unwrap();
    // Records of keys rotated away long ago (the engine deactivated them; someone deleted
    // them since): "rotated" is at 50 tags.
    let iam = emu.iam().await;
    iam.tag_user()
        .user_name("rotated")
        .tags(tag(
            "iam-janitor:key-disabled:AKIAROTATEDAWAY00001",
            "2025-01-01T00:00:00Z",
        ))
        .tags(tag(
            "iam-janitor:key-disabled:AKIAROTATEDAWAY00002",
            "not-done 2025-02-01T00:00:00Z",
        ))
        .send()
        .await
        .unwrap();
    // "full" holds 50 tags of its own: no room for any record.
    iam.tag_user()
        .user_name("full")
        .tags(tag("cost-center", "1"))
        .tags(tag("owner", "platform"))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&emu, "rotated").await.len(), 50);
    assert_eq!(tags_of(&emu, "full").await.len(), 50);

    let (code, report) = enforce(&emu).await;
    assert_eq!(code, EXIT_PARTIAL, "the full user's changes failed: {report:#}");

    let f = findings_of(&report, "rotated");
    assert_eq!(f[0]["status"], "applied", "{f:#?}");
    assert_eq!(key_statuses(&emu, "rotated").await, ["Inactive"]);
    let tags = tags_of(&emu, "rotated").await;
    let records: Vec<&String> = tags
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(trail::KEY_DISABLED_PREFIX))
        .collect();
    assert_eq!(records.len(), 1, "only the record of the key it has: {tags:?}");
    assert_eq!(
        records[0].as_str(),
        format!(
            "{}{}",
            trail::KEY_DISABLED_PREFIX,
            f[0]["access_key_id"].as_str().unwrap()
        )
    );
    assert_eq!(tags.len(), 49);

    let f = findings_of(&report, "full");
    assert_eq!(f.len(), 2, "{f:#?}");
    for finding in &f {
        assert_eq!(finding["status"], "failed", "{finding:#}");
        assert_eq!(finding["reason_code"], "tag_quota", "{finding:#}");
        let reason = finding["reason"].as_str().unwrap();
        assert!(reason.contains("52 tags where IAM allows 50"), "{reason}");
        assert!(reason.contains("remove tags the user no longer needs"), "{reason}");
    }
    assert_eq!(
        key_statuses(&emu, "full").await,
        ["Active"],
        "no change without its record"
    );
    assert!(has_login_profile(&emu, "full").await, "no change without its record");
    assert_eq!(tags_of(&emu, "full").await.len(), 50);

    // An admin makes room; the next run makes the change.
    iam.untag_user()
        .user_name("full")
        .tag_keys("owner")
        .tag_keys("cost-center")
        .send()
        .await
        .unwrap();
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(
        findings_of(&report, "full").iter().all(|f| f["status"] == "applied"),
        "{report:#}"
    );
    assert_eq!(tags_of(&emu, "full").await.len(), 50);
    assert_eq!(key_statuses(&emu, "full").await, ["Inactive"]);
}

async fn certificate_statuses(emu: &Emulator, user: &str) -> Vec<(String, String)> {
    let out = emu
        .iam()
        .await
        .list_signing_certificates()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let mut statuses: Vec<(String, String)> = out
        .certificates()
        .iter()
        .map(|c| (c.certificate_id().to_string(), c.status().as_str().to_string()))
        .collect();
    statuses.sort();
    statuses
}

#[tokio::test]
async fn signing_certificates_are_reported_by_default_deactivated_when_asked_and_restored() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[old_user("signer")
            .with_certificate(SeedCertificate::uploaded(days_ago(400)))
            .with_certificate(SeedCertificate::uploaded(days_ago(10)))])
        .await
        .unwrap();
    let (old, new) = (&seeded[0].certificate_ids[0], &seeded[0].certificate_ids[1]);
    emu.freeze_credential_report().await.unwrap();
    let active = |id: &str| (id.to_string(), "Active".to_string());
    let inactive = |id: &str| (id.to_string(), "Inactive".to_string());
    let mut expected = vec![active(old), active(new)];
    expected.sort();

    // Default: reported with its age, never changed.
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    let f = findings_of(&report, "signer");
    assert_eq!(f.len(), 1, "only the old one: {f:#?}");
    assert_eq!(f[0]["kind"], "signing_certificate");
    assert_eq!(f[0]["credential_slot"], 1);
    assert_eq!(f[0]["idle_days"], 400);
    assert_eq!(
        (f[0]["status"].as_str(), f[0]["reason_code"].as_str()),
        (Some("skipped"), Some("report_only"))
    );
    assert_eq!(certificate_statuses(&emu, "signer").await, expected);

    // Asked to: deactivated like a key, with its record, and only the old one.
    let deactivate = [
        "--enforce",
        "--least-privilege",
        "off",
        "--signing-certificates",
        "deactivate",
    ];
    let (code, report) = common::audit_json(&emu, &deactivate).await;
    assert_eq!(code, 0, "{report:#}");
    let f = findings_of(&report, "signer");
    assert_eq!(f[0]["status"], "applied", "{f:#?}");
    assert_eq!(f[0]["credential_id"], old.as_str());
    let mut expected = vec![inactive(old), active(new)];
    expected.sort();
    assert_eq!(certificate_statuses(&emu, "signer").await, expected);
    let tags = tags_of(&emu, "signer").await;
    assert!(
        tags.iter()
            .any(|(k, _)| *k == format!("{}{old}", trail::CERTIFICATE_DISABLED_PREFIX)),
        "{tags:?}"
    );
    // A second run changes nothing.
    emu.reset_calls().await.unwrap();
    let (code, report) = common::audit_json(&emu, &deactivate).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0, "{report:#}");

    // Restore gives exactly it back; the next run leaves it alone.
    let request = RestoreRequest {
        user: "signer".into(),
        certificates: true,
        ..RestoreRequest::default()
    };
    let outcome = restore(
        &Iam::from_client(emu.iam().await),
        &request,
        now(),
        trail::KEEP_SERVICES,
    )
    .await
    .unwrap();
    assert_eq!(outcome.certificates_reactivated, std::slice::from_ref(old));
    let mut expected = vec![active(old), active(new)];
    expected.sort();
    assert_eq!(certificate_statuses(&emu, "signer").await, expected);
    let tags = tags_of(&emu, "signer").await;
    assert!(tags.iter().all(|(k, _)| !k.contains("disabled")), "{tags:?}");
    emu.unfreeze_credential_report().await.unwrap();
    let (code, report) = common::audit_json(&emu, &deactivate).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(findings_of(&report, "signer").is_empty(), "{report:#}");
}

async fn service_credential_statuses(emu: &Emulator, user: &str) -> Vec<(String, String)> {
    let out = emu
        .iam()
        .await
        .list_service_specific_credentials()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let mut statuses: Vec<(String, String)> = out
        .service_specific_credentials()
        .iter()
        .map(|c| {
            (
                c.service_specific_credential_id().to_string(),
                c.status().as_str().to_string(),
            )
        })
        .collect();
    statuses.sort();
    statuses
}

#[tokio::test]
async fn service_specific_credentials_are_judged_by_access_advisor_deactivated_and_restored() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[
            old_user("git-idle")
                .with_service_credential(SeedServiceCredential::new("codecommit.amazonaws.com", days_ago(400))),
            old_user("git-busy")
                .with_service_credential(SeedServiceCredential::new("codecommit.amazonaws.com", days_ago(400))),
            old_user("keyspaces-never")
                .with_service_credential(SeedServiceCredential::new("cassandra.amazonaws.com", days_ago(120))),
            old_user("bedrock-new")
                .with_service_credential(SeedServiceCredential::new("bedrock.amazonaws.com", days_ago(10))),
        ])
        .await
        .unwrap();
    let id = |user: &str| seeded.iter().find(|u| u.name == user).unwrap().service_credential_ids[0].clone();
    emu.freeze_credential_report().await.unwrap();
    let svc = |ns: &str, days: i64| AdvisorService::new(ns, ns, Some(days_ago(days)));
    emu.set_access_advisor("git-idle", &[svc("codecommit", 200)])
        .await
        .unwrap();
    emu.set_access_advisor("git-busy", &[svc("codecommit", 2)])
        .await
        .unwrap();
    emu.set_access_advisor("keyspaces-never", &[svc("s3", 1)])
        .await
        .unwrap();
    emu.reset_calls().await.unwrap();

    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    let calls = emu.calls().await.unwrap().calls;
    // One listing per service, and Access Advisor only for the three old credentials.
    assert_eq!(calls.get("ListServiceSpecificCredentials"), Some(&(3 + 2)), "{calls:?}");
    assert_eq!(calls.get("GenerateServiceLastAccessedDetails"), Some(&3), "{calls:?}");
    for user in ["git-idle", "keyspaces-never"] {
        let f = findings_of(&report, user);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0]["kind"], "service_specific_credential");
        assert_eq!(f[0]["status"], "applied", "{f:#?}");
        assert_eq!(f[0]["credential_id"], id(user).as_str());
        assert_eq!(
            service_credential_statuses(&emu, user).await,
            [(id(user), "Inactive".to_string())]
        );
        let tags = tags_of(&emu, user).await;
        assert!(
            tags.iter()
                .any(|(k, _)| *k == format!("{}{}", trail::SERVICE_CREDENTIAL_DISABLED_PREFIX, id(user))),
            "{tags:?}"
        );
    }
    assert_eq!(findings_of(&report, "git-idle")[0]["idle_days"], 200);
    for user in ["git-busy", "bedrock-new"] {
        assert!(findings_of(&report, user).is_empty(), "{report:#}");
        assert_eq!(
            service_credential_statuses(&emu, user).await,
            [(id(user), "Active".to_string())]
        );
    }

    // Idempotent.
    emu.reset_calls().await.unwrap();
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0, "{report:#}");

    // Restore gives exactly it back; the next run leaves it alone.
    let request = RestoreRequest {
        user: "git-idle".into(),
        service_credentials: true,
        ..RestoreRequest::default()
    };
    let outcome = restore(
        &Iam::from_client(emu.iam().await),
        &request,
        now(),
        trail::KEEP_SERVICES,
    )
    .await
    .unwrap();
    assert_eq!(outcome.service_credentials_reactivated, [id("git-idle")]);
    assert_eq!(
        service_credential_statuses(&emu, "git-idle").await,
        [(id("git-idle"), "Active".to_string())]
    );
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(findings_of(&report, "git-idle").is_empty(), "{report:#}");
}

async fn ssh_key_statuses(emu: &Emulator, user: &str) -> Vec<(String, String)> {
    let out = emu
        .iam()
        .await
        .list_ssh_public_keys()
        .user_name(user)
        .send()
        .await
        .unwrap();
    out.ssh_public_keys()
        .iter()
        .map(|k| (k.ssh_public_key_id().to_string(), k.status().as_str().to_string()))
        .collect()
}

#[tokio::test]
async fn ssh_keys_are_listed_in_turn_judged_by_codecommit_use_deactivated_and_restored() {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[
            old_user("pusher").with_ssh_key(SeedSshKey::uploaded(days_ago(500))),
            old_user("gone-quiet").with_ssh_key(SeedSshKey::uploaded(days_ago(500))),
        ])
        .await
        .unwrap();
    let id = |user: &str| seeded.iter().find(|u| u.name == user).unwrap().ssh_key_ids[0].clone();
    emu.freeze_credential_report().await.unwrap();
    let svc = |days: i64| AdvisorService::new("codecommit", "AWS CodeCommit", Some(days_ago(days)));
    emu.set_access_advisor("pusher", &[svc(1)]).await.unwrap();
    emu.set_access_advisor("gone-quiet", &[svc(300)]).await.unwrap();

    // One user a run: one listing, of one of them.
    emu.reset_calls().await.unwrap();
    let (code, report) = common::audit_json(&emu, &["--least-privilege", "off", "--ssh-key-sweep", "1"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["users_checked_for_ssh_keys"], 1);
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(calls.get("ListSSHPublicKeys"), Some(&1), "{calls:?}");

    // Everyone in one run.
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["users_checked_for_ssh_keys"], 2);
    assert!(findings_of(&report, "pusher").is_empty(), "{report:#}");
    let f = findings_of(&report, "gone-quiet");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0]["kind"].as_str(), f[0]["status"].as_str()),
        (Some("ssh_public_key"), Some("applied"))
    );
    assert_eq!(f[0]["credential_id"], id("gone-quiet").as_str());
    assert_eq!(f[0]["idle_days"], 300);
    assert_eq!(
        ssh_key_statuses(&emu, "gone-quiet").await,
        [(id("gone-quiet"), "Inactive".to_string())]
    );
    assert_eq!(
        ssh_key_statuses(&emu, "pusher").await,
        [(id("pusher"), "Active".to_string())]
    );
    let tags = tags_of(&emu, "gone-quiet").await;
    assert!(
        tags.iter()
            .any(|(k, _)| *k == format!("{}{}", trail::SSH_KEY_DISABLED_PREFIX, id("gone-quiet"))),
        "{tags:?}"
    );

    // Restore gives it back; the next run leaves it alone.
    let request = RestoreRequest {
        user: "gone-quiet".into(),
        ssh_keys: true,
        ..RestoreRequest::default()
    };
    let outcome = restore(
        &Iam::from_client(emu.iam().await),
        &request,
        now(),
        trail::KEEP_SERVICES,
    )
    .await
    .unwrap();
    assert_eq!(outcome.ssh_keys_reactivated, [id("gone-quiet")]);
    assert_eq!(
        ssh_key_statuses(&emu, "gone-quiet").await,
        [(id("gone-quiet"), "Active".to_string())]
    );
    emu.reset_calls().await.unwrap();
    let (code, report) = enforce(&emu).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(findings_of(&report, "gone-quiet").is_empty(), "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
}
