//! The optional guardrails SCP (`cfn/templates/guardrails.yaml`, with its default
//! parameters) as a service control policy over the account, on the emulator's IAM
//! authorizer:
//!
//! - a self-service principal allowed to tag users cannot exempt anyone, keep services,
//!   forge or remove the audit trail, or touch the engine's deny policies and role;
//!   without the SCP it could (the test is not vacuous);
//! - the engine, under its own role, still does its whole job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use common::{days_ago, error_code};
use iam_janitor::least_privilege::{action_document, legacy_policy_name};
use iam_janitor::trail::POLICY_PATH;
use iam_janitor_harness::{AdvisorService, Emulator, SeedKey, SeedUser};
use serde_json::{Value, json};

/// The SCP's content, resolved for `account`.
fn guardrails(account: &str) -> Value {
    let template = common::template("guardrails.yaml");
    let policy = &template["Resources"]["GuardrailsPolicy"];
    assert_eq!(policy["Properties"]["Type"], "SERVICE_CONTROL_POLICY");
    common::resolve(&policy["Properties"]["Content"], account, &template["Parameters"])
}

/// What a self-service policy commonly grants: tag users, manage one's policies.
fn self_service() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["iam:TagUser", "iam:UntagUser", "iam:DetachUserPolicy", "iam:CreatePolicyVersion",
                   "iam:DeletePolicy", "iam:AttachRolePolicy", "iam:Get*", "iam:List*"],
        "Resource": "*"
    }]})
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

async fn developer(emu: &Emulator, scps: &[Value]) -> Client {
    let credentials = emu
        .session_under_scps("developer", "/", &[self_service()], scps)
        .await
        .unwrap();
    Client::new(&emu.sdk_config_as(credentials).await)
}

/// The first error code of what a developer tries (None: everything was allowed).
async fn attempts(iam: &Client, deny_policy: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        (
            "exempt a user",
            error_code(
                iam.tag_user()
                    .user_name("alice")
                    .tags(tag("iam-janitor:exempt", "true"))
                    .send()
                    .await,
            ),
        ),
        (
            "exempt a user, other case",
            error_code(
                iam.tag_user()
                    .user_name("alice")
                    .tags(tag("IAM-Janitor:Exempt", "true"))
                    .send()
                    .await,
            ),
        ),
        (
            "keep services",
            error_code(
                iam.tag_user()
                    .user_name("alice")
                    .tags(tag("iam-janitor:keep-services", "ec2"))
                    .send()
                    .await,
            ),
        ),
        (
            "forge the audit trail",
            error_code(
                iam.tag_user()
                    .user_name("alice")
                    .tags(tag("iam-janitor:console-disabled", "2026-01-01T00:00:00Z"))
                    .send()
                    .await,
            ),
        ),
        (
            "remove the audit trail",
            error_code(
                iam.untag_user()
                    .user_name("alice")
                    .tag_keys("iam-janitor:key-disabled:X")
                    .send()
                    .await,
            ),
        ),
        (
            "detach a deny policy",
            error_code(
                iam.detach_user_policy()
                    .user_name("alice")
                    .policy_arn(deny_policy)
                    .send()
                    .await,
            ),
        ),
        (
            "rewrite a deny policy",
            error_code(
                iam.create_policy_version()
                    .policy_arn(deny_policy)
                    .policy_document(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"none:*","Resource":"*"}]}"#,
                    )
                    .set_as_default(true)
                    .send()
                    .await,
            ),
        ),
        (
            "give the tool's role more power",
            error_code(
                iam.attach_role_policy()
                    .role_name("iam-janitor-Role")
                    .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
                    .send()
                    .await,
            ),
        ),
    ]
}

/// alice with a deny policy attached, and the tool's role.
async fn seed(emu: &Emulator) -> String {
    emu.reset().await.unwrap();
    emu.seed(&[SeedUser::new("alice").created(days_ago(400))])
        .await
        .unwrap();
    let root = emu.iam().await;
    let created = root
        .create_policy()
        .policy_name(legacy_policy_name("alice"))
        .path(POLICY_PATH)
        .policy_document(action_document(&["ec2".to_string()].into()).1)
        .send()
        .await
        .unwrap();
    let arn = created.policy().unwrap().arn().unwrap().to_string();
    root.attach_user_policy()
        .user_name("alice")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    root.create_role()
        .role_name("iam-janitor-Role")
        .path("/iam-janitor/")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    arn
}

#[tokio::test]
async fn the_guardrails_stop_self_service_principals_and_not_the_tool() {
    let emu = Emulator::start().await.unwrap();
    let scp = guardrails(emu.account_id());

    // Without the SCP, a principal allowed to tag users can do all of it.
    let deny_policy = seed(&emu).await;
    let unguarded = attempts(&developer(&emu, &[]).await, &deny_policy).await;
    for (what, code) in &unguarded {
        assert_ne!(code.as_deref(), Some("AccessDenied"), "without the SCP: {what}");
    }

    // With it, none of it.
    let deny_policy = seed(&emu).await;
    let guarded = developer(&emu, std::slice::from_ref(&scp)).await;
    for (what, code) in attempts(&guarded, &deny_policy).await {
        assert_eq!(code.as_deref(), Some("AccessDenied"), "with the SCP: {what}");
    }
    // Ordinary tagging still works.
    guarded
        .tag_user()
        .user_name("alice")
        .tags(tag("team", "platform"))
        .send()
        .await
        .unwrap();

    // The engine, under its own role (at /iam-janitor/) and the SCP, does its job:
    // audit-trail tags, the deny policy's new version, a key deactivated.
    emu.reset().await.unwrap();
    emu.seed(&[SeedUser::new("bob")
        .created(days_ago(400))
        .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(200)))
        .with_key(SeedKey::new().created(days_ago(300)).used(days_ago(1)))])
        .await
        .unwrap();
    emu.set_access_advisor("bob", &[AdvisorService::new("ec2", "Amazon EC2", None)])
        .await
        .unwrap();
    let role = common::role_policy(emu.account_id());
    let credentials = emu
        .session_under_scps("iam-janitor-Role", "/iam-janitor/", &[role], &[scp])
        .await
        .unwrap();
    let (code, report) = common::audit_json_with(
        &emu.sdk_config_as(credentials).await,
        &["--enforce", "--least-privilege", "on"],
    )
    .await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 2, "{report:#}");
    let bob = common::user_state(&emu, "bob").await;
    let mut statuses = bob.key_statuses.clone();
    statuses.sort();
    assert_eq!(statuses, ["Active", "Inactive"]);
    assert!(bob.audit_tags.contains("iam-janitor:key-disabled:<id>"), "{bob:?}");
    assert_eq!(bob.attached.len(), 1);
}
