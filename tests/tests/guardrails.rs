//! The optional guardrails SCPs (`cfn/templates/guardrails.yaml`, with their default
//! parameters) as service control policies over the account, on the emulator's IAM
//! authorizer (requests to services the emulator does not authorize itself, such as
//! `iam:PassRole` in `lambda:CreateFunction`, are put to the same evaluator through its
//! `authorize` endpoint):
//!
//! - a self-service principal allowed to tag users cannot exempt anyone, keep services,
//!   forge or remove the audit trail, or touch the engine's deny policies and role;
//! - an administrator of the member account cannot borrow the tool's role, the StackSets
//!   exemption or rewrite the tool's permissions, and cannot stop it quietly (schedule,
//!   log group, alarm, state table); the StackSets execution role still can;
//! - offboarding: a user marked for it may lose the deny policies (DeleteUser needs
//!   that), can do nothing, and only allowed principals can unmark them;
//! - without the SCPs each of these was possible (the tests are not vacuous);
//! - the engine, under its own role, still does its whole job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::Client;
use aws_sdk_iam::config::Credentials;
use aws_sdk_iam::types::Tag;
use common::{days_ago, error_code};
use iam_janitor::least_privilege::{action_document, legacy_policy_name};
use iam_janitor::trail::POLICY_PATH;
use iam_janitor_harness::{AdvisorService, Emulator, SeedKey, SeedUser};
use serde_json::{Value, json};

/// The SCPs' contents, resolved for `account`.
fn guardrails(account: &str) -> Vec<Value> {
    let template = common::template("guardrails.yaml");
    ["GuardrailsPolicy", "ToolGuardrailsPolicy"]
        .iter()
        .map(|id| {
            let policy = &template["Resources"][id];
            assert_eq!(policy["Properties"]["Type"], "SERVICE_CONTROL_POLICY");
            common::resolve(&policy["Properties"]["Content"], account, &template["Parameters"])
        })
        .collect()
}

/// A trust policy for Lambda: the tool's role's, and any function role's.
fn lambda_trust() -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    .to_string()
}

/// Everything allowed: an administrator of the member account.
fn admin_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
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
        .assume_role_policy_document(lambda_trust())
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
    let guarded = developer(&emu, &scp).await;
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
        .session_under_scps("iam-janitor-Role", "/iam-janitor/", &[role], &scp)
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

/// The tool's role and its own policy (path `/iam-janitor-role/`), and a StackSets
/// execution role, as a deployment leaves them. Returns the role policy's ARN.
async fn seed_deployment(emu: &Emulator) -> String {
    let root = emu.iam().await;
    let policy = root
        .create_policy()
        .policy_name("iam-janitor-RolePolicy-ABC")
        .path("/iam-janitor-role/")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_string();
    root.attach_role_policy()
        .role_name("iam-janitor-Role")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    root.create_role()
        .role_name("stacksets-exec-0123456789abcdef")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    policy_arn
}

/// What an administrator of a member account would try, to run their own code with the
/// tool's powers, rewrite them, or stop the tool without anyone hearing of it. Each:
/// what, and None if allowed or the denial.
async fn admin_attempts(
    emu: &Emulator,
    session: &Credentials,
    role_policy: &str,
) -> Vec<(&'static str, Option<String>)> {
    let account = emu.account_id();
    let iam = Client::new(&emu.sdk_config_as(session.clone()).await);
    let trust = lambda_trust();
    let mut out = vec![
        (
            "create a role named like the StackSets execution roles (allow-listed by name)",
            error_code(
                iam.create_role()
                    .role_name("stacksets-exec-mine")
                    .assume_role_policy_document(&trust)
                    .send()
                    .await,
            ),
        ),
        (
            "rewrite the StackSets execution role's trust",
            error_code(
                iam.update_assume_role_policy()
                    .role_name("stacksets-exec-0123456789abcdef")
                    .policy_document(&trust)
                    .send()
                    .await,
            ),
        ),
        (
            "create a role under the tool's path (allow-listed by path)",
            error_code(
                iam.create_role()
                    .role_name("mine")
                    .path("/iam-janitor/")
                    .assume_role_policy_document(&trust)
                    .send()
                    .await,
            ),
        ),
        (
            "rewrite the tool's own permissions",
            error_code(
                iam.create_policy_version()
                    .policy_arn(role_policy)
                    .policy_document(
                        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"none:*","Resource":"*"}]}"#,
                    )
                    .set_as_default(true)
                    .send()
                    .await,
            ),
        ),
        (
            "detach the tool's own permissions",
            error_code(
                iam.detach_role_policy()
                    .role_name("iam-janitor-Role")
                    .policy_arn(role_policy)
                    .send()
                    .await,
            ),
        ),
    ];
    // Requests of other services, with the resource ARNs the member stack gives them.
    let function = format!("arn:aws:lambda:us-east-1:{account}:function:iam-janitor");
    let simulated: [(&'static str, &str, String, Value); 13] = [
        (
            "pass the tool's role to a function of one's own",
            "iam:PassRole",
            format!("arn:aws:iam::{account}:role/iam-janitor/iam-janitor-Role"),
            json!({"iam:PassedToService": "lambda.amazonaws.com"}),
        ),
        (
            "change the tool's code",
            "lambda:UpdateFunctionCode",
            function.clone(),
            json!({}),
        ),
        (
            "stop the tool with zero concurrency",
            "lambda:PutFunctionConcurrency",
            function,
            json!({}),
        ),
        (
            "disable the schedule",
            "events:DisableRule",
            format!("arn:aws:events:us-east-1:{account}:rule/iam-janitor"),
            json!({}),
        ),
        (
            "point the schedule elsewhere",
            "events:RemoveTargets",
            format!("arn:aws:events:us-east-1:{account}:rule/iam-janitor"),
            json!({}),
        ),
        (
            "delete the record of changes",
            "logs:DeleteLogGroup",
            format!(
                "arn:aws:logs:us-east-1:{account}:log-group:/iam-janitor/iam-janitor/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            ),
            json!({}),
        ),
        (
            "shorten its retention",
            "logs:PutRetentionPolicy",
            format!(
                "arn:aws:logs:us-east-1:{account}:log-group:/iam-janitor/iam-janitor/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            ),
            json!({}),
        ),
        (
            "silence the alarm",
            "cloudwatch:DisableAlarmActions",
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:iam-janitor-errors"),
            json!({}),
        ),
        (
            "delete the alarm",
            "cloudwatch:DeleteAlarms",
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:iam-janitor-errors"),
            json!({}),
        ),
        (
            "delete the missed-run alarm",
            "cloudwatch:DeleteAlarms",
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:iam-janitor-missed-run"),
            json!({}),
        ),
        (
            "stop forwarding the alarms to the management account",
            "events:RemoveTargets",
            format!("arn:aws:events:us-east-1:{account}:rule/iam-janitor-alerts"),
            json!({}),
        ),
        (
            "silence the organization digest",
            "events:DisableRule",
            format!("arn:aws:events:us-east-1:{account}:rule/iam-janitor-org-digest"),
            json!({}),
        ),
        (
            "rewrite least privilege's memory",
            "dynamodb:PutItem",
            format!(
                "arn:aws:dynamodb:us-east-1:{account}:table/iam-janitor-state-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            ),
            json!({}),
        ),
    ];
    for (what, action, resource, context) in simulated {
        let denied = emu.authorize(session, action, &resource, context).await.unwrap();
        out.push((what, denied.map(|_| "AccessDenied".to_string())));
    }
    out
}

#[tokio::test]
async fn an_account_admin_can_neither_borrow_nor_silence_the_tool_and_the_deployment_still_can() {
    let emu = Emulator::start().await.unwrap();
    let scps = guardrails(emu.account_id());

    // Without the SCPs, an administrator of the account can do all of it.
    seed(&emu).await;
    let role_policy = seed_deployment(&emu).await;
    let admin = emu
        .session_under_scps("admin", "/", &[admin_policy()], &[])
        .await
        .unwrap();
    for (what, code) in admin_attempts(&emu, &admin, &role_policy).await {
        assert_eq!(code, None, "without the SCPs: {what}");
    }

    // With them, none of it.
    seed(&emu).await;
    let role_policy = seed_deployment(&emu).await;
    let admin = emu
        .session_under_scps("admin", "/", &[admin_policy()], &scps)
        .await
        .unwrap();
    for (what, code) in admin_attempts(&emu, &admin, &role_policy).await {
        assert_eq!(code.as_deref(), Some("AccessDenied"), "with the SCPs: {what}");
    }
    // The administrator's ordinary work is untouched: their own roles, functions,
    // rules and log groups.
    let iam = Client::new(&emu.sdk_config_as(admin.clone()).await);
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(lambda_trust())
        .send()
        .await
        .unwrap();
    let account = emu.account_id();
    for (action, resource) in [
        ("iam:PassRole", format!("arn:aws:iam::{account}:role/app")),
        (
            "lambda:UpdateFunctionCode",
            format!("arn:aws:lambda:us-east-1:{account}:function:app"),
        ),
        (
            "events:DisableRule",
            format!("arn:aws:events:us-east-1:{account}:rule/app-nightly"),
        ),
        (
            "logs:DeleteLogGroup",
            format!("arn:aws:logs:us-east-1:{account}:log-group:/aws/lambda/app"),
        ),
        (
            "cloudwatch:DeleteAlarms",
            format!("arn:aws:cloudwatch:us-east-1:{account}:alarm:app-errors"),
        ),
        (
            "dynamodb:PutItem",
            format!("arn:aws:dynamodb:us-east-1:{account}:table/app"),
        ),
    ] {
        let denied = emu.authorize(&admin, action, &resource, json!({})).await.unwrap();
        assert_eq!(denied, None, "{action} on {resource}");
    }
    // Reading the tool is not denied either.
    let read = emu
        .authorize(
            &admin,
            "logs:GetLogEvents",
            &format!("arn:aws:logs:us-east-1:{account}:log-group:/iam-janitor/iam-janitor/x"),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(read, None);

    // The StackSets execution role (allow-listed) still deploys and updates the tool.
    seed(&emu).await;
    let role_policy = seed_deployment(&emu).await;
    let stacksets = emu
        .session_under_scps("stacksets-exec-0123456789abcdef", "/", &[admin_policy()], &scps)
        .await
        .unwrap();
    for (what, code) in admin_attempts(&emu, &stacksets, &role_policy).await {
        assert_eq!(code, None, "the StackSets execution role: {what}");
    }
}

#[tokio::test]
async fn offboarding_detaches_the_deny_policies_of_a_marked_user_and_the_mark_is_one_way() {
    const MARK: &str = "iam-janitor-offboarding";
    let emu = Emulator::start().await.unwrap();
    let scps = guardrails(emu.account_id());
    let alice_policy = seed(&emu).await;
    // bob, with a deny policy too.
    let root = emu.iam().await;
    root.create_user().user_name("bob").send().await.unwrap();
    root.attach_user_policy()
        .user_name("bob")
        .policy_arn(&alice_policy)
        .send()
        .await
        .unwrap();

    // An offboarding pipeline: broad IAM rights, not on the allow-list.
    let pipeline = Client::new(
        &emu.sdk_config_as(
            emu.session_under_scps("offboarding", "/", &[admin_policy()], &scps)
                .await
                .unwrap(),
        )
        .await,
    );
    let detach = |user: &'static str| {
        pipeline
            .detach_user_policy()
            .user_name(user)
            .policy_arn(&alice_policy)
            .send()
    };
    // An unmarked user keeps the deny policy.
    assert_eq!(error_code(detach("bob").await).as_deref(), Some("AccessDenied"));

    // Marked, alice can do nothing with her own credentials.
    pipeline
        .tag_user()
        .user_name("alice")
        .tags(tag(MARK, "2026-12-02"))
        .send()
        .await
        .unwrap();
    let alice = emu
        .user_session_under_scps("alice", &[admin_policy()], &scps)
        .await
        .unwrap();
    let alice_iam = Client::new(&emu.sdk_config_as(alice.clone()).await);
    assert_eq!(
        error_code(alice_iam.get_user().user_name("alice").send().await).as_deref(),
        Some("AccessDenied")
    );
    let s3 = emu
        .authorize(&alice, "s3:ListAllMyBuckets", "*", json!({}))
        .await
        .unwrap();
    assert!(s3.is_some(), "a marked user can do nothing");
    // The pipeline cannot take the mark back (the allow-listed principals can).
    assert_eq!(
        error_code(pipeline.untag_user().user_name("alice").tag_keys(MARK).send().await).as_deref(),
        Some("AccessDenied")
    );
    assert_eq!(
        error_code(
            pipeline
                .untag_user()
                .user_name("alice")
                .tag_keys("IAM-Janitor-Offboarding")
                .send()
                .await
        )
        .as_deref(),
        Some("AccessDenied"),
        "in any case"
    );
    // It may detach her deny policy, and delete her.
    detach("alice").await.unwrap();
    pipeline.delete_user().user_name("alice").send().await.unwrap();

    // Marking oneself gains nothing: bob, allowed everything by IAM, marks himself and
    // can then not even detach his own deny policy.
    let bob = emu
        .user_session_under_scps("bob", &[admin_policy()], &scps)
        .await
        .unwrap();
    let bob_iam = Client::new(&emu.sdk_config_as(bob).await);
    bob_iam
        .tag_user()
        .user_name("bob")
        .tags(tag(MARK, "now"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(
            bob_iam
                .detach_user_policy()
                .user_name("bob")
                .policy_arn(&alice_policy)
                .send()
                .await
        )
        .as_deref(),
        Some("AccessDenied")
    );
    // An allowed principal can unmark him, and then his deny policy is protected again.
    let tool = Client::new(
        &emu.sdk_config_as(
            emu.session_under_scps("iam-janitor-Role", "/iam-janitor/", &[admin_policy()], &scps)
                .await
                .unwrap(),
        )
        .await,
    );
    tool.untag_user().user_name("bob").tag_keys(MARK).send().await.unwrap();
    assert_eq!(error_code(detach("bob").await).as_deref(), Some("AccessDenied"));
}
