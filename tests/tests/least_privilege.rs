//! End-to-end tests of least privilege (the per-user explicit-Deny policy kept current
//! from Access Advisor data) through `audit`, against the emulator, whose Access Advisor
//! answers IN_PROGRESS on the first poll and pages with Marker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{audit_json, days_ago, findings_of, writes};
use iam_janitor::iam::permissions;
use iam_janitor::least_privilege::{MAX_POLICY_SIZE, policy_name};
use iam_janitor_cfn::policy::{PolicyDocument, policy_size};
use iam_janitor_harness::{AdvisorService, Emulator, Fault, SeedUser};
use serde_json::Value;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn svc(ns: &str, days: Option<i64>) -> AdvisorService {
    AdvisorService::new(ns, format!("Service {ns}"), days.map(days_ago))
}

/// An old user with AdministratorAccess who uses s3 only.
fn admin(name: &str) -> SeedUser {
    SeedUser {
        name: name.to_string(),
        create_date: Some(days_ago(400)),
        managed_policy_arns: vec![ADMIN.to_string()],
        ..SeedUser::default()
    }
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

fn policy_arn(emu: &Emulator, user: &str) -> String {
    format!(
        "arn:aws:iam::{}:policy/iam-janitor/{}",
        emu.account_id(),
        policy_name(user)
    )
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

    // First attach.
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(lp_findings(&report, "alice")[0]["status"], "applied");
    let (doc, versions) = policy_state(&emu, "alice").await;
    assert_eq!(denied(&doc), ["ec2:*", "rds:*"]);
    assert_eq!(doc.statement[0].resource.0, ["*"]);
    assert_eq!(versions, 1);
    let on_user = attached(&emu, "alice").await;
    assert!(on_user.contains(&policy_arn(&emu, "alice")) && on_user.contains(&ADMIN.to_string()));
    let tags = emu
        .iam()
        .await
        .list_policy_tags()
        .policy_arn(policy_arn(&emu, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (tags.tags()[0].key(), tags.tags()[0].value()),
        ("iam-janitor:user", "alice")
    );

    // Rerun with unchanged data: no write at all, and nothing to report.
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json(&emu, &["--enforce"]).await;
    assert_eq!(code, 0);
    assert!(lp_findings(&report, "alice").is_empty(), "{report:#}");
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
    assert!(attached(&emu, "alice").await.contains(&policy_arn(&emu, "alice")));
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
    emu.seed(&[crowded, exempt, newcomer, admin("plain")]).await.unwrap();
    for user in ["crowded", "break-glass", "newcomer", "plain"] {
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
    for user in ["newcomer", "break-glass", "crowded"] {
        assert_eq!(lp_findings(&report, user)[0]["status"], "skipped");
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
    assert!(attached(&emu, "crowded").await.contains(&policy_arn(&emu, "crowded")));
}

#[tokio::test]
async fn a_user_allowed_hundreds_of_services_gets_a_policy_that_fits() {
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
    assert_eq!(f[0]["status"], "applied");
    assert!(f[0]["reason"].as_str().unwrap().contains("NotAction"), "{f:#?}");
    assert_eq!(f[0]["services"].as_array().unwrap().len(), 320);
    let (doc, _) = policy_state(&emu, "wide").await;
    let json = doc.to_compact_json().unwrap();
    assert!(policy_size(&json) <= MAX_POLICY_SIZE);
    let allowed: BTreeSet<String> = doc.statement[0]
        .not_action
        .as_ref()
        .unwrap()
        .0
        .iter()
        .cloned()
        .collect();
    assert_eq!(
        allowed,
        ["iam:*", "s3:*", "sts:*"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
    // Rerun: unchanged, no write.
    emu.reset_calls().await.unwrap();
    audit_json(&emu, &["--enforce"]).await;
    assert_eq!(writes(&emu.calls().await.unwrap().calls), 0);
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
