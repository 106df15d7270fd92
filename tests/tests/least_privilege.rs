//! End-to-end tests of least privilege (the per-user explicit-Deny policy kept current
//! from Access Advisor data) through `audit`, against the emulator, whose Access Advisor
//! answers IN_PROGRESS on the first poll and pages with Marker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{audit_json, days_ago, deny_policy_arn, deny_policy_arns, findings_of, writes};
use iam_janitor::iam::permissions;
use iam_janitor::least_privilege::{MAX_POLICY_SIZE, direct_calls_only};
use iam_janitor_cfn::policy::{PolicyDocument, policy_size};
use iam_janitor_harness::{AdvisorService, Emulator, Fault, SeedKey, SeedPassword, SeedUser};
use serde_json::Value;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn svc(ns: &str, days: Option<i64>) -> AdvisorService {
    AdvisorService::new(ns, format!("Service {ns}"), days.map(days_ago))
}

/// An old user with AdministratorAccess who uses s3 only, with an access key (used
/// yesterday, for s3).
fn admin(name: &str) -> SeedUser {
    SeedUser {
        name: name.to_string(),
        create_date: Some(days_ago(400)),
        managed_policy_arns: vec![ADMIN.to_string()],
        ..SeedUser::default()
    }
    .with_key(
        SeedKey::new()
            .created(days_ago(400))
            .used(days_ago(1))
            .used_by("s3", "us-east-1"),
    )
}

fn usual_services() -> Vec<AdvisorService> {
    vec![
        svc("s3", Some(2)),
        svc("ec2", None),
        svc("rds", Some(200)),
        svc("sts", None),
        svc("iam", Some(300)),
    ]
}

/// The default version's document and the number of versions.
async fn policy_state(emu: &Emulator, user: &str) -> (PolicyDocument, usize) {
    let (json, versions) = common::deny_policy(emu, user).await.unwrap();
    (serde_json::from_str(&json).unwrap(), versions)
}

fn denied(doc: &PolicyDocument) -> Vec<String> {
    doc.statement[0]
        .action
        .as_ref()
        .map(|a| a.0.clone())
        .unwrap_or_default()
}

async fn attached(emu: &Emulator, user: &str) -> Vec<String> {
    let out = emu
        .iam()
        .await
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap();
    out.attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_string())
        .collect()
}

fn lp_findings<'a>(report: &'a Value, user: &str) -> Vec<&'a Value> {
    findings_of(report, user)
        .into_iter()
        .filter(|f| f["kind"] == "unused_services")
        .collect()
}

#[tokio::test]
async fn first_attach_rerun_new_service_sticky_keep_tag_and_rollover() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[admin("alice")]).await.unwrap();
    emu.set_access_advisor("alice", &usual_services()).await.unwrap();
    // Real IAM may return short pages: force paging.
    emu.set_access_advisor_page_cap(2).await.unwrap();

    // Report mode first: planned, nothing written.
    let (code, report) = audit_json(&emu, &[]).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "alice");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["action"], "attach_deny_policy");
    assert_eq!(f[0]["status"], "planned");
    assert_eq!(f[0]["services"], serde_json::json!(["ec2", "rds"]));
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
    // A state, not a plan: nobody has a deny policy yet.
    assert_eq!(report["summary"]["users_with_deny_policy"], 0, "{report:#}");

    // First attach.
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(lp_findings(&report, "alice")[0]["status"], "applied");
    assert_eq!(report["summary"]["users_with_deny_policy"], 1, "{report:#}");
    let (doc, versions) = policy_state(&emu, "alice").await;
    assert_eq!(denied(&doc), ["ec2:*", "rds:*"]);
    assert_eq!(doc.statement[0].resource.0, ["*"]);
    assert_eq!(versions, 1);
    let on_user = attached(&emu, "alice").await;
    assert!(on_user.contains(&deny_policy_arn(&emu, "alice").await) && on_user.contains(&ADMIN.to_string()));
    let tags = emu
        .iam()
        .await
        .list_policy_tags()
        .policy_arn(deny_policy_arn(&emu, "alice").await)
        .send()
        .await
        .unwrap();
    let tags: BTreeSet<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let id = common::user_id(&emu, "alice").await;
    assert_eq!(
        tags,
        BTreeSet::from([
            ("iam-janitor:user".to_string(), "alice".to_string()),
            ("iam-janitor:user-id".to_string(), id.clone())
        ])
    );
    // Named after the user's ID, which a rename keeps; every call the user makes
    // directly is denied, none a service makes on the user's behalf.
    assert!(
        deny_policy_arn(&emu, "alice")
            .await
            .ends_with(&format!("/iam-janitor-deny-{id}"))
    );
    assert_eq!(doc.statement[0].condition, Some(direct_calls_only()));

    // Rerun with unchanged data: no write at all, and nothing to report.
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0);
    assert!(lp_findings(&report, "alice").is_empty(), "{report:#}");
    // The policy is still in place though the run reports nothing about it.
    assert_eq!(report["summary"]["users_with_deny_policy"], 1, "{report:#}");
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(writes(&calls), 0, "{calls:?}");
    // Five services in pages of two: three pages after the IN_PROGRESS poll.
    assert_eq!(calls["GetServiceLastAccessedDetails"], 4, "{calls:?}");

    // A new unused service: a new version of the same policy.
    let mut services = usual_services();
    services.push(svc("dynamodb", Some(150)));
    emu.set_access_advisor("alice", &services).await.unwrap();
    let (_, report) = audit_json(&emu, &["--enforce"]).await;
    let f = lp_findings(&report, "alice");
    assert!(f[0]["reason"].as_str().unwrap().contains("+dynamodb"), "{f:#?}");
    let (doc, versions) = policy_state(&emu, "alice").await;
    assert_eq!(denied(&doc), ["dynamodb:*", "ec2:*", "rds:*"]);
    assert_eq!(versions, 2);

    // Denied attempts show as access: ec2 "used" yesterday stays denied.
    services
        .iter_mut()
        .find(|s| s.namespace == "ec2")
        .unwrap()
        .last_authenticated = Some(days_ago(1));
    emu.set_access_advisor("alice", &services).await.unwrap();
    emu.reset_calls().await.unwrap();
    audit_json(&emu, &["--enforce"]).await;
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
    assert_eq!(
        denied(&policy_state(&emu, "alice").await.0),
        ["dynamodb:*", "ec2:*", "rds:*"]
    );

    // The keep-services tag is the way back.
    emu.iam()
        .await
        .tag_user()
        .user_name("alice")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("iam-janitor:keep-services")
                .value("ec2")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (_, report) = audit_json(&emu, &["--enforce"]).await;
    assert!(
        lp_findings(&report, "alice")[0]["reason"]
            .as_str()
            .unwrap()
            .contains("-ec2")
    );
    let (doc, versions) = policy_state(&emu, "alice").await;
    assert_eq!(denied(&doc), ["dynamodb:*", "rds:*"]);
    assert_eq!(versions, 3);

    // Five-version limit: the oldest non-default version makes room, never a gap.
    for (i, ns) in ["glacier", "sqs", "sns"].iter().enumerate() {
        services.push(svc(ns, None));
        emu.set_access_advisor("alice", &services).await.unwrap();
        let (code, report) = audit_json(&emu, &["--enforce"]).await;
        assert_eq!(code, 0, "{report:#}");
        let (doc, versions) = policy_state(&emu, "alice").await;
        assert!(denied(&doc).contains(&format!("{ns}:*")));
        assert_eq!(versions, (4 + i).min(5));
    }
    let calls = emu.calls().await.unwrap().calls;
    assert!(calls.get("DeletePolicyVersion").copied().unwrap_or(0) >= 1, "{calls:?}");
    assert!(
        attached(&emu, "alice")
            .await
            .contains(&deny_policy_arn(&emu, "alice").await)
    );
}

#[tokio::test]
async fn grace_exemption_quota_and_never_deny() {
    let emu = Emulator::start().await.unwrap();
    let mut crowded = admin("crowded");
    for name in [
        "ReadOnlyAccess",
        "IAMUserChangePassword",
        "AmazonS3ReadOnlyAccess",
        "AmazonEC2ReadOnlyAccess",
        "AmazonDynamoDBReadOnlyAccess",
        "AmazonRDSReadOnlyAccess",
        "AmazonSQSReadOnlyAccess",
        "AmazonSNSReadOnlyAccess",
        "CloudWatchReadOnlyAccess",
    ] {
        crowded
            .managed_policy_arns
            .push(format!("arn:aws:iam::aws:policy/{name}"));
    }
    let mut exempt = admin("break-glass");
    exempt.tags.insert("iam-janitor:exempt".into(), "true".into());
    let newcomer = SeedUser {
        create_date: Some(days_ago(10)),
        ..admin("newcomer")
    };
    // No password and no access key: nothing to call AWS with, nothing to deny.
    let idle = SeedUser {
        keys: Vec::new(),
        ..admin("idle")
    };
    emu.seed(&[crowded, exempt, newcomer, idle, admin("plain")])
        .await
        .unwrap();
    for user in ["crowded", "break-glass", "newcomer", "idle", "plain"] {
        emu.set_access_advisor(user, &usual_services()).await.unwrap();
    }

    let (code, report) = audit_json(&emu, &["--enforce", "--never-deny", "sts,iam,rds"]).await;
    assert_eq!(code, 0, "{report:#}");
    let reason = |user: &str| lp_findings(&report, user)[0]["reason"].as_str().unwrap().to_string();
    assert!(reason("newcomer").starts_with("grace"), "{}", reason("newcomer"));
    assert!(
        reason("break-glass").starts_with("exempt: tag"),
        "{}",
        reason("break-glass")
    );
    assert!(reason("crowded").contains("quota of 10"), "{}", reason("crowded"));
    let code = |user: &str| lp_findings(&report, user)[0]["reason_code"].clone();
    assert_eq!(
        [code("newcomer"), code("break-glass"), code("crowded")],
        ["grace", "exempt", "attached_policy_quota"]
    );
    // The user without credentials is not news: counted, not listed.
    assert!(lp_findings(&report, "idle").is_empty(), "{report:#}");
    assert_eq!(report["summary"]["users_without_credentials"], 1);
    for user in ["newcomer", "break-glass", "crowded", "idle"] {
        if user != "idle" {
            assert_eq!(lp_findings(&report, user)[0]["status"], "skipped");
        }
        assert_eq!(attached(&emu, user).await.len(), if user == "crowded" { 10 } else { 1 });
    }
    // Skipped users cost no Access Advisor job.
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(calls["GenerateServiceLastAccessedDetails"], 1, "{calls:?}");
    // rds is on the never-deny list.
    assert_eq!(denied(&policy_state(&emu, "plain").await.0), ["ec2:*"]);
    assert_eq!(report["summary"]["users_checked_for_unused_services"], 1);

    // With the quota raised (IAM allows up to 20) the crowded user gets the policy.
    let (code, _) = audit_json(&emu, &["--enforce", "--policy-quota", "11"]).await;
    assert_eq!(code, 0);
    assert!(
        attached(&emu, "crowded")
            .await
            .contains(&deny_policy_arn(&emu, "crowded").await)
    );
}

#[tokio::test]
async fn a_user_allowed_hundreds_of_services_gets_several_policies_never_a_not_action() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[admin("wide")]).await.unwrap();
    let mut services: Vec<AdvisorService> = (0..320)
        .map(|i| svc(&format!("unusedservicenumber{i:03}"), None))
        .collect();
    services.push(svc("s3", Some(1)));
    emu.set_access_advisor("wide", &services).await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "wide");
    assert_eq!(f[0]["status"], "applied", "{f:#?}");
    assert_eq!(f[0]["services"].as_array().unwrap().len(), 320);
    let arns = deny_policy_arns(&emu, "wide").await;
    assert_eq!(arns.len(), 2, "{arns:?}");
    let mut denied_all = BTreeSet::new();
    for arn in &arns {
        let (json, _) = common::policy_document(&emu, arn).await.unwrap();
        assert!(policy_size(&json) <= MAX_POLICY_SIZE);
        let doc: PolicyDocument = serde_json::from_str(&json).unwrap();
        assert!(doc.statement[0].not_action.is_none(), "{json}");
        assert_eq!(doc.statement[0].condition, Some(direct_calls_only()));
        denied_all.extend(denied(&doc));
    }
    assert_eq!(denied_all.len(), 320);
    assert!(!denied_all.contains("s3:*"));
    // Rerun: unchanged, no write.
    emu.reset_calls().await.unwrap();
    audit_json(&emu, &["--enforce"]).await;
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);

    // With no room for a second policy under the attached-policy quota: needs review,
    // nothing changed.
    let mut crowded = admin("crowded");
    for name in [
        "ReadOnlyAccess",
        "IAMUserChangePassword",
        "AmazonS3ReadOnlyAccess",
        "AmazonEC2ReadOnlyAccess",
        "AmazonDynamoDBReadOnlyAccess",
        "AmazonRDSReadOnlyAccess",
        "AmazonSQSReadOnlyAccess",
        "AmazonSNSReadOnlyAccess",
    ] {
        crowded
            .managed_policy_arns
            .push(format!("arn:aws:iam::aws:policy/{name}"));
    }
    emu.seed(&[crowded]).await.unwrap();
    emu.set_access_advisor("crowded", &services).await.unwrap();
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "crowded");
    assert_eq!(
        (f[0]["status"].as_str(), f[0]["reason_code"].as_str()),
        (Some("skipped"), Some("needs_review")),
        "{f:#?}"
    );
    assert!(deny_policy_arns(&emu, "crowded").await.is_empty());
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
}

#[tokio::test]
async fn a_renamed_user_keeps_its_policy_and_a_not_action_policy_is_migrated() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[admin("alice"), admin("legacy")]).await.unwrap();
    emu.set_access_advisor("alice", &usual_services()).await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let arn = deny_policy_arn(&emu, "alice").await;
    let iam = emu.iam().await;

    // Renamed: the same policy stays attached and current; no second one.
    iam.update_user()
        .user_name("alice")
        .new_user_name("alicia")
        .send()
        .await
        .unwrap();
    emu.set_access_advisor("alicia", &usual_services()).await.unwrap();
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(lp_findings(&report, "alicia").is_empty(), "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
    assert_eq!(deny_policy_arns(&emu, "alicia").await, std::slice::from_ref(&arn));
    // The keep tag still works on it: a new version of the same policy.
    iam.tag_user()
        .user_name("alicia")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("iam-janitor:keep-services")
                .value("ec2")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(
        lp_findings(&report, "alicia")[0]["reason"]
            .as_str()
            .unwrap()
            .contains("-ec2"),
        "{report:#}"
    );
    assert_eq!(deny_policy_arns(&emu, "alicia").await, std::slice::from_ref(&arn));
    let (json, versions) = common::policy_document(&emu, &arn).await.unwrap();
    assert_eq!(denied(&serde_json::from_str(&json).unwrap()), ["rds:*"]);
    assert_eq!(versions, 2);
    // A new user under the old name gets a policy of its own.
    emu.seed(&[admin("alice")]).await.unwrap();
    emu.set_access_advisor("alice", &usual_services()).await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let new_arn = deny_policy_arn(&emu, "alice").await;
    assert_ne!(new_arn, arn);
    assert_eq!(deny_policy_arns(&emu, "alicia").await, [arn]);

    // A policy of an earlier version: named after the user, in the NotAction form,
    // without the condition. It is kept (found by attachment) and rewritten as an
    // Action list; what it denied among the listed services stays denied.
    let legacy_doc = iam_janitor::least_privilege::legacy_not_action_document(
        &["s3", "sts", "iam"].iter().map(|s| s.to_string()).collect(),
    )
    .1;
    let created = iam
        .create_policy()
        .policy_name(iam_janitor::least_privilege::legacy_policy_name("legacy"))
        .path("/iam-janitor/")
        .policy_document(legacy_doc)
        .send()
        .await
        .unwrap();
    let legacy_arn = created.policy().unwrap().arn().unwrap().to_string();
    iam.attach_user_policy()
        .user_name("legacy")
        .policy_arn(&legacy_arn)
        .send()
        .await
        .unwrap();
    emu.set_access_advisor("legacy", &[svc("s3", Some(2)), svc("ec2", Some(3)), svc("sts", None)])
        .await
        .unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "legacy");
    assert!(f[0]["reason"].as_str().unwrap().contains("NotAction"), "{f:#?}");
    assert_eq!(
        deny_policy_arns(&emu, "legacy").await,
        std::slice::from_ref(&legacy_arn)
    );
    let (json, _) = common::policy_document(&emu, &legacy_arn).await.unwrap();
    let doc: PolicyDocument = serde_json::from_str(&json).unwrap();
    assert!(doc.statement[0].not_action.is_none(), "{json}");
    assert_eq!(denied(&doc), ["ec2:*"]);
    assert_eq!(doc.statement[0].condition, Some(direct_calls_only()));
}

#[tokio::test]
async fn a_service_the_credential_report_shows_in_use_is_not_denied() {
    let emu = Emulator::start().await.unwrap();
    // The key was last used for ec2 five days ago (in a Region Access Advisor does not
    // track, say), while Access Advisor shows ec2 unused for 200 days.
    let user = SeedUser {
        keys: vec![
            SeedKey::new()
                .created(days_ago(400))
                .used(days_ago(5))
                .used_by("ec2", "ap-east-2"),
        ],
        ..admin("roamer")
    };
    emu.seed(&[user]).await.unwrap();
    emu.set_access_advisor("roamer", &[svc("ec2", Some(200)), svc("rds", None), svc("s3", Some(1))])
        .await
        .unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "roamer");
    assert_eq!(f[0]["services"], serde_json::json!(["rds"]), "{f:#?}");
    let reason = f[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not denied: ec2") && reason.contains("credential report"),
        "{reason}"
    );
    assert_eq!(denied(&policy_state(&emu, "roamer").await.0), ["rds:*"]);
}

#[tokio::test]
async fn throttled_and_failed_access_advisor_jobs() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[admin("a"), admin("b"), admin("c")]).await.unwrap();
    for user in ["a", "b", "c"] {
        emu.set_access_advisor(user, &usual_services()).await.unwrap();
    }
    emu.fail_access_advisor("b").await.unwrap();
    emu.inject_fault(Fault::throttling("GenerateServiceLastAccessedDetails", 2))
        .await
        .unwrap();
    emu.inject_fault(Fault::throttling("GetServiceLastAccessedDetails", 3))
        .await
        .unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, iam_janitor::cli::EXIT_PARTIAL, "{report:#}");
    let b = lp_findings(&report, "b");
    assert_eq!(b[0]["status"], "failed");
    assert!(b[0]["reason"].as_str().unwrap().contains("FAILED"), "{b:#?}");
    assert_eq!(b[0]["reason_code"], "advisor_failed", "{b:#?}");
    assert_eq!(attached(&emu, "b").await, [ADMIN]);
    for user in ["a", "c"] {
        assert_eq!(lp_findings(&report, user)[0]["status"], "applied", "{report:#}");
    }
}

#[tokio::test]
async fn circuit_breaker_counts_deny_policies_and_every_call_is_permitted() {
    let emu = Emulator::start().await.unwrap();
    let users: Vec<SeedUser> = (0..4).map(|i| admin(&format!("u{i}"))).collect();
    emu.seed(&users).await.unwrap();
    for i in 0..4 {
        emu.set_access_advisor(&format!("u{i}"), &usual_services())
            .await
            .unwrap();
    }
    let (code, report) = audit_json(&emu, &["--enforce", "--max-actions", "3"]).await;
    assert_eq!(code, iam_janitor::cli::EXIT_BREAKER);
    assert_eq!(report["summary"]["circuit_breaker"]["planned_changes"], 4);
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);

    let (code, _) = audit_json(&emu, &["--enforce", "--max-actions", "4"]).await;
    assert_eq!(code, 0);
    // Every operation the engine sent is one its role grants.
    let granted: BTreeSet<String> = permissions::actions()
        .map(|a| a.trim_start_matches("iam:").to_string())
        .collect();
    for action in emu.calls().await.unwrap().calls.keys() {
        assert!(
            granted.contains(action),
            "{action} is called but not in permissions::PERMISSIONS"
        );
    }
}

#[tokio::test]
async fn the_accounts_policy_quota_is_respected_before_creating() {
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[admin("p1"), admin("p2"), admin("p3")]).await.unwrap();
    for user in ["p1", "p2", "p3"] {
        emu.set_access_advisor(user, &usual_services()).await.unwrap();
    }
    // Room for two more customer managed policies in the account.
    emu.set_policies_quota(2).await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(lp_findings(&report, "p1")[0]["status"], "applied");
    assert_eq!(lp_findings(&report, "p2")[0]["status"], "applied");
    let p3 = lp_findings(&report, "p3");
    assert_eq!(p3[0]["status"], "skipped");
    assert!(p3[0]["reason"].as_str().unwrap().contains("PoliciesQuota"), "{p3:#?}");
    assert_eq!(p3[0]["reason_code"], "policy_quota", "{p3:#?}");
    let calls = emu.calls().await.unwrap().calls;
    assert_eq!(calls["CreatePolicy"], 2, "{calls:?}");
    assert_eq!(calls["GetAccountSummary"], 1, "{calls:?}");
}

/// The user's remembered state, from the state table.
async fn memory_of(emu: &Emulator, table: &str, user: &str) -> Option<iam_janitor::model::state::UserMemory> {
    let id = common::user_id(emu, user).await;
    let out = emu
        .dynamodb()
        .await
        .get_item()
        .table_name(table)
        .key("user_id", aws_sdk_dynamodb::types::AttributeValue::S(id))
        .send()
        .await
        .unwrap();
    out.item().and_then(iam_janitor::store::from_item)
}

#[tokio::test]
async fn a_service_granted_later_is_denied_only_once_unused_past_the_limit() {
    let emu = Emulator::start().await.unwrap();
    emu.create_table("janitor-state", "user_id").await.unwrap();
    emu.seed(&[admin("alice"), admin("bob")]).await.unwrap();
    for user in ["alice", "bob"] {
        emu.set_access_advisor(user, &usual_services()).await.unwrap();
    }
    let remembering = ["--enforce", "--state-table", "janitor-state"];
    let (code, report) = audit_json(&emu, &remembering).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(denied(&policy_state(&emu, "alice").await.0), ["ec2:*", "rds:*"]);
    let first = memory_of(&emu, "janitor-state", "alice").await.unwrap();
    assert_eq!(first.services.len(), 5);
    assert_eq!(first.first_checked, first.checked_at);
    assert_eq!(first.policies, [deny_policy_arn(&emu, "alice").await]);

    // The next run: sagemaker was granted since, and never used. With the memory it is a
    // new grant in its own grace; without (bob, audited with no table), the first-sighting
    // rule would deny it at once.
    let mut services = usual_services();
    services.push(svc("sagemaker", None));
    emu.set_access_advisor("alice", &services).await.unwrap();
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &remembering).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(lp_findings(&report, "alice").is_empty(), "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
    assert_eq!(denied(&policy_state(&emu, "alice").await.0), ["ec2:*", "rds:*"]);
    let second = memory_of(&emu, "janitor-state", "alice").await.unwrap();
    assert_eq!(second.first_checked, first.first_checked);
    assert!(second.services["sagemaker"] > first.first_checked, "{second:?}");

    // 91 days later (the memory says sagemaker was first listed 91 days ago), still
    // unused: denied.
    let aged = iam_janitor::model::state::UserMemory {
        first_checked: first.first_checked - time::Duration::days(200),
        services: second
            .services
            .iter()
            .map(|(ns, t)| {
                (
                    ns.clone(),
                    *t - time::Duration::days(if ns == "sagemaker" { 91 } else { 200 }),
                )
            })
            .collect(),
        ..second
    };
    emu.dynamodb()
        .await
        .put_item()
        .table_name("janitor-state")
        .set_item(Some(iam_janitor::store::to_item(&aged)))
        .send()
        .await
        .unwrap();
    let (code, report) = audit_json(&emu, &remembering).await;
    assert_eq!(code, 0, "{report:#}");
    let f = lp_findings(&report, "alice");
    assert!(f[0]["reason"].as_str().unwrap().contains("+sagemaker"), "{f:#?}");
    assert_eq!(
        denied(&policy_state(&emu, "alice").await.0),
        ["ec2:*", "rds:*", "sagemaker:*"]
    );
}

#[tokio::test]
async fn a_missing_or_broken_state_table_skips_least_privilege_and_nothing_else() {
    let emu = Emulator::start().await.unwrap();
    emu.create_table("wrong-key", "id").await.unwrap();
    for (table, says) in [("nope", "does not exist"), ("wrong-key", "wrong schema")] {
        emu.reset().await.unwrap();
        emu.create_table("wrong-key", "id").await.ok();
        let dormant = SeedUser::new("dormant")
            .created(days_ago(400))
            .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(200)));
        emu.seed(&[dormant, admin("alice")]).await.unwrap();
        emu.set_access_advisor("alice", &usual_services()).await.unwrap();
        let (code, report) = audit_json(&emu, &["--enforce", "--state-table", table]).await;
        assert_eq!(code, iam_janitor::cli::EXIT_PARTIAL, "{report:#}");
        let not_checked = report["not_checked"].to_string();
        assert!(
            not_checked.contains(&format!("state table {table}")) && not_checked.contains(says),
            "{not_checked}"
        );
        // Dormant credentials are unaffected; no Access Advisor job, no deny policy.
        assert_eq!(findings_of(&report, "dormant")[0]["status"], "applied", "{report:#}");
        assert!(lp_findings(&report, "alice").is_empty());
        assert!(deny_policy_arns(&emu, "alice").await.is_empty());
        assert_eq!(emu.calls().await.unwrap().get("GenerateServiceLastAccessedDetails"), 0);
    }
}

#[tokio::test]
async fn slow_access_advisor_jobs_under_a_budget_are_resumed_over_runs() {
    let emu = Emulator::start().await.unwrap();
    emu.create_table("janitor-state", "user_id").await.unwrap();
    let users: Vec<SeedUser> = (0..6).map(|i| admin(&format!("slow-{i}"))).collect();
    emu.seed(&users).await.unwrap();
    for i in 0..6 {
        emu.set_access_advisor(&format!("slow-{i}"), &usual_services())
            .await
            .unwrap();
    }
    // Real jobs take seconds.
    emu.set_access_advisor_job_duration(1.0).await.unwrap();
    let flags = [
        "--enforce",
        "--state-table",
        "janitor-state",
        "--advisor-concurrency",
        "1",
        "--time-budget",
        "3",
    ];
    let mut covered: Vec<BTreeSet<String>> = Vec::new();
    for _ in 0..6 {
        let (code, report) = audit_json(&emu, &flags).await;
        assert_eq!(code, 0, "{report:#}");
        let checked = report["summary"]["users_checked_for_unused_services"].as_u64().unwrap();
        let left = report["summary"]["users_left_for_next_run"].as_u64().unwrap();
        let applied: BTreeSet<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "unused_services" && f["status"] == "applied")
            .map(|f| f["user"].as_str().unwrap().to_string())
            .collect();
        // Every user checked for the first time gets its deny policy.
        assert_eq!(applied.len() as u64, checked, "{report:#}");
        assert!(checked >= 1, "every run makes progress: {report:#}");
        assert_eq!(checked + left, 6, "{report:#}");
        // Never the same user twice while others wait: least recently checked first.
        for earlier in &covered {
            assert!(earlier.is_disjoint(&applied), "{earlier:?} {applied:?}");
        }
        covered.push(applied);
        if covered.iter().map(BTreeSet::len).sum::<usize>() == 6 {
            break;
        }
        assert!(left > 0, "a 3 s budget cannot cover six 1 s jobs in a row");
    }
    assert!(covered.len() >= 2, "{covered:?}");
    // The next run checks again the least recently checked (done already), changes
    // nothing, and says how long ago the others were checked.
    let (code, report) = audit_json(&emu, &flags).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(lp_findings(&report, "slow-0").is_empty(), "{report:#}");
    assert!(report["summary"]["users_checked_for_unused_services"].as_u64().unwrap() >= 1);
    assert!(report["summary"]["users_left_for_next_run"].as_u64().unwrap() > 0);
    assert_eq!(report["summary"]["oldest_check_days"], 0, "{report:#}");
}

#[tokio::test]
async fn a_first_enforce_run_under_a_request_rate_limit_finishes_over_runs_without_a_failure() {
    let emu = Emulator::start().await.unwrap();
    let users: Vec<SeedUser> = (0..24)
        .map(|i| {
            SeedUser::new(format!("backlog-{i:02}"))
                .created(days_ago(400))
                .with_password(SeedPassword::new().changed(days_ago(400)).used(days_ago(200)))
                .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(200)))
        })
        .collect();
    emu.seed(&users).await.unwrap();
    // IAM throttles each account well below the emulator's speed.
    emu.set_request_rate(20, 20).await.unwrap();
    // Paced below the limit.
    let flags = [
        "--enforce",
        "--max-actions",
        "1000",
        "--time-budget",
        "4",
        "--iam-rate",
        "15",
    ];
    let mut runs = 0;
    let mut applied = 0;
    loop {
        runs += 1;
        let (code, report) = audit_json(&emu, &flags).await;
        assert_eq!(code, 0, "run {runs}: {report:#}");
        assert_eq!(report["summary"]["failed"], 0, "run {runs}: {report:#}");
        applied += report["summary"]["applied"].as_u64().unwrap();
        let left = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["reason_code"] == "time_budget")
            .count();
        if left == 0 {
            break;
        }
        assert!(runs < 8, "{report:#}");
    }
    assert_eq!(applied, 48, "every password and key disabled, none failed");
    assert!(
        runs >= 2,
        "a 4 s budget at 15 requests/s cannot do 24 users' changes at once"
    );
    let calls = emu.calls().await.unwrap();
    assert_eq!(
        calls.throttled.values().sum::<u64>(),
        0,
        "paced below the limit: {calls:?}"
    );

    // Unpaced, the same work is throttled: slower, but with the production retries
    // (and no retry quota) nothing fails.
    emu.reset().await.unwrap();
    emu.seed(&users).await.unwrap();
    emu.set_request_rate(20, 20).await.unwrap();
    let production = emu
        .sdk_config()
        .await
        .to_builder()
        .retry_config(iam_janitor::iam::retry_config())
        .build();
    let (code, report) = common::audit_json_with(
        &production,
        &["--enforce", "--max-actions", "1000", "--iam-rate", "1000"],
    )
    .await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert_eq!(report["summary"]["applied"], 48, "{report:#}");
    let calls = emu.calls().await.unwrap();
    assert!(
        calls.throttled.values().sum::<u64>() > 0,
        "the limit was reached: {calls:?}"
    );
}
