//! The engine under exactly the Lambda role's policy, as committed in
//! `cfn/templates/member.yaml`, on an emulator that authorizes every IAM request the
//! way IAM does (the resource each action is authorized on and its condition keys,
//! see `tests/emulator/iam_authz.py`).
//!
//! - With the policy as generated, report and enforce runs (dormant credentials and
//!   least privilege) succeed and change what a root-credential run changes.
//! - With any one write permission removed, exactly the changes that need it fail,
//!   each reported with IAM's AccessDenied, and every other change is made.
//! - With any one read permission removed, the run fails or reports failures, and
//!   it never makes a change that the full run would not make.
//! - The role cannot attach a policy that is not one of the engine's, nor change
//!   its own policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::config::Credentials;
use common::{UserState, audit_json_with, days_ago, error_code, findings_of};
use iam_janitor::cli as audit;
use iam_janitor::iam::permissions::{PERMISSIONS, Scope};
use iam_janitor::least_privilege::{action_document, legacy_policy_name};
use iam_janitor::trail::{POLICY_OWNER as OWNER_TAG, POLICY_PATH};
use iam_janitor_harness::{
    AdvisorService, Chaos, ChaosKind, Emulator, SeedCertificate, SeedKey, SeedPassword, SeedServiceCredential,
    SeedSshKey, SeedUser,
};
use serde_json::{Value, json};

const FLAGS: &[&str] = &[
    "--enforce",
    "--least-privilege",
    "on",
    "--signing-certificates",
    "deactivate",
    "--state-table",
    common::STATE_TABLE,
];
const USERS: &[&str] = &[
    "console",
    "key",
    "cert",
    "git",
    "ssh",
    "lp-new",
    "lp-update",
    "lp-detach",
    "active",
];

/// The policy with `action` taken out of every statement (a statement left with no
/// action is dropped).
fn without(policy: &Value, action: &str) -> Value {
    let mut policy = policy.clone();
    let statements = policy["Statement"].as_array_mut().unwrap();
    let mut found = false;
    for st in statements.iter_mut() {
        let actions = match &st["Action"] {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(a) => a.clone(),
            other => panic!("Action {other}"),
        };
        let kept: Vec<Value> = actions.into_iter().filter(|a| a != action).collect();
        found |= kept.len() != st["Action"].as_array().map_or(1, Vec::len);
        st["Action"] = Value::Array(kept);
    }
    statements.retain(|st| !st["Action"].as_array().unwrap().is_empty());
    assert!(found, "{action} is not in the role policy");
    policy
}

fn svc(ns: &str, days: Option<i64>) -> AdvisorService {
    AdvisorService::new(ns, format!("Service {ns}"), days.map(days_ago))
}

fn old_user(name: &str) -> SeedUser {
    SeedUser::new(name).created(days_ago(400))
}

/// An old user with an access key in use: least privilege looks at it.
fn lp_user(name: &str) -> SeedUser {
    old_user(name).with_key(SeedKey::new().created(days_ago(400)).used(days_ago(1)))
}

/// A deny policy as the engine writes it, with five versions, attached to `user`.
async fn seed_policy_with_five_versions(emu: &Emulator, user: &str, deny: &[&str]) {
    let iam = emu.iam().await;
    let set: BTreeSet<String> = deny.iter().map(|s| s.to_string()).collect();
    let (_, document) = action_document(&set);
    let created = iam
        .create_policy()
        .policy_name(legacy_policy_name(user))
        .path(POLICY_PATH)
        .policy_document(&document)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(OWNER_TAG)
                .value(user)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = created.policy().unwrap().arn().unwrap().to_string();
    for _ in 0..4 {
        iam.create_policy_version()
            .policy_arn(&arn)
            .policy_document(&document)
            .set_as_default(true)
            .send()
            .await
            .unwrap();
    }
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
}

/// A user with a dormant key and 50 tags, one of them the record of a key deleted long
/// ago: its record fits only once the stale record is removed (UntagUser).
fn key_user_at_the_tag_quota() -> SeedUser {
    let mut user = old_user("key")
        .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(200)))
        .tag("iam-janitor:key-disabled:AKIADELETEDLONGAGO01", "2025-01-01T00:00:00Z");
    for i in 0..49 {
        user = user.tag(format!("team-{i:02}"), "x");
    }
    user
}

/// Users that need every write the engine has: a dormant password, a dormant key (on a
/// user whose audit trail needs compaction), an old signing certificate, an idle Git
/// credential and SSH key, a new deny policy, an update of a policy at the five-version limit, a
/// detach, and one active user who must not be touched.
async fn seed(emu: &Emulator) {
    emu.reset().await.unwrap();
    emu.create_table(common::STATE_TABLE, "user_id").await.unwrap();
    emu.seed(&[
        old_user("console").with_password(SeedPassword::new().changed(days_ago(400)).used(days_ago(200))),
        key_user_at_the_tag_quota(),
        old_user("cert").with_certificate(SeedCertificate::uploaded(days_ago(400))),
        // Kept from least privilege: only its Git credential changes.
        old_user("git")
            .with_service_credential(SeedServiceCredential::new("codecommit.amazonaws.com", days_ago(400)))
            .tag("iam-janitor:keep-services", "codecommit"),
        old_user("ssh")
            .with_ssh_key(SeedSshKey::uploaded(days_ago(400)))
            .tag("iam-janitor:keep-services", "codecommit"),
        lp_user("lp-new"),
        lp_user("lp-update"),
        lp_user("lp-detach").tag("iam-janitor:keep-services", "ec2"),
        old_user("active")
            .with_password(SeedPassword::new().changed(days_ago(400)).used(days_ago(1)))
            .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(1))),
    ])
    .await
    .unwrap();
    seed_policy_with_five_versions(emu, "lp-update", &["ec2"]).await;
    seed_policy_with_five_versions(emu, "lp-detach", &["ec2"]).await;
    let used = svc("s3", Some(2));
    emu.set_access_advisor("lp-new", &[used.clone(), svc("ec2", None)])
        .await
        .unwrap();
    emu.set_access_advisor("lp-update", &[used.clone(), svc("ec2", None), svc("rds", Some(200))])
        .await
        .unwrap();
    emu.set_access_advisor("lp-detach", &[used.clone(), svc("ec2", None)])
        .await
        .unwrap();
    emu.set_access_advisor("active", &[used]).await.unwrap();
    emu.set_access_advisor("git", &[svc("codecommit", Some(200))])
        .await
        .unwrap();
    emu.set_access_advisor("ssh", &[svc("codecommit", Some(200))])
        .await
        .unwrap();
    emu.reset_calls().await.unwrap();
}

async fn state(emu: &Emulator) -> BTreeMap<String, UserState> {
    common::state(emu, USERS).await
}

/// The SDK configuration of a session carrying exactly `policy`.
async fn as_role(emu: &Emulator, policy: &Value) -> aws_config::SdkConfig {
    let credentials: Credentials = emu.session("iam-janitor", std::slice::from_ref(policy)).await.unwrap();
    emu.sdk_config_as(credentials).await
}

/// (user, action) -> status of every finding that is a change.
fn changes(report: &Value) -> BTreeMap<(String, String), String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] != "warn")
        .map(|f| {
            (
                (
                    f["user"].as_str().unwrap().to_string(),
                    f["action"].as_str().unwrap().to_string(),
                ),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The full run with root credentials: the reference every restricted run is held to.
async fn reference(emu: &Emulator) -> (BTreeMap<String, UserState>, BTreeMap<String, UserState>, Value) {
    seed(emu).await;
    let before = state(emu).await;
    let (code, report) = audit_json_with(&emu.sdk_config().await, FLAGS).await;
    assert_eq!(code, 0, "{report:#}");
    (before, state(emu).await, report)
}

#[tokio::test]
async fn the_generated_role_policy_is_exactly_enough() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    let (before, after, root_report) = reference(&emu).await;
    let expected: BTreeMap<_, _> = [
        ("console", "delete_login_profile"),
        ("key", "deactivate_access_key"),
        ("cert", "deactivate_signing_certificate"),
        ("git", "deactivate_service_specific_credential"),
        ("ssh", "deactivate_ssh_public_key"),
        ("lp-new", "attach_deny_policy"),
        ("lp-update", "attach_deny_policy"),
        ("lp-detach", "detach_deny_policy"),
    ]
    .into_iter()
    .map(|(u, a)| ((u.to_string(), a.to_string()), "applied".to_string()))
    .collect();
    assert_eq!(changes(&root_report), expected, "{root_report:#}");
    assert_eq!(before["active"], after["active"]);

    // Report mode under the role: everything planned, nothing written.
    seed(&emu).await;
    let config = as_role(&emu, &policy).await;
    let (code, report) = audit_json_with(
        &config,
        &["--least-privilege", "on", "--signing-certificates", "deactivate"],
    )
    .await;
    assert_eq!(code, 0, "{report:#}");
    assert!(changes(&report).values().all(|s| s == "planned"), "{report:#}");
    assert_eq!(changes(&report).len(), expected.len(), "{report:#}");
    assert_eq!(state(&emu).await, before, "report mode changed nothing");

    // Enforce under the role: the same changes as with root credentials.
    let (code, report) = audit_json_with(&config, FLAGS).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(changes(&report), expected, "{report:#}");
    assert_eq!(state(&emu).await, after);

    // And a rerun under the role changes nothing.
    emu.reset_calls().await.unwrap();
    let (code, report) = audit_json_with(&config, FLAGS).await;
    assert_eq!(code, 0, "{report:#}");
    assert!(changes(&report).is_empty(), "{report:#}");
    assert_eq!(common::writes(&emu.calls().await.unwrap().calls), 0);
}

#[tokio::test]
async fn without_any_one_write_permission_only_the_changes_that_need_it_fail() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    let (before, after, root_report) = reference(&emu).await;
    let full = changes(&root_report);

    for permission in PERMISSIONS.iter().filter(|p| p.scope != Scope::Read) {
        let action = permission.action;
        seed(&emu).await;
        let config = as_role(&emu, &without(&policy, action)).await;
        let (code, report) = audit_json_with(&config, FLAGS).await;
        assert_eq!(code, audit::EXIT_PARTIAL, "without {action}: {report:#}");
        let got = changes(&report);
        // The same changes were attempted; each one either made or failed.
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            full.keys().collect::<Vec<_>>(),
            "without {action}: {report:#}"
        );
        let mut failed_users = BTreeSet::new();
        for f in report["findings"].as_array().unwrap() {
            let reason = f["reason"].as_str().unwrap();
            match f["status"].as_str().unwrap() {
                "failed" => {
                    assert!(
                        reason.contains("AccessDenied") && reason.contains(action),
                        "without {action}, a failure must name it: {f:#}"
                    );
                    failed_users.insert(f["user"].as_str().unwrap().to_string());
                }
                "applied" => {}
                other => panic!("without {action}: unexpected status {other}: {f:#}"),
            }
        }
        assert!(
            !failed_users.is_empty(),
            "without {action}, something must fail: {report:#}"
        );
        let now = state(&emu).await;
        for user in USERS {
            let (user_now, user_after) = (&now[*user], &after[*user]);
            if failed_users.contains(*user) {
                // Not (fully) done.
                assert_ne!(
                    user_now, user_after,
                    "without {action}: {user} reported failed but done"
                );
            } else {
                assert_eq!(user_now, user_after, "without {action}: {user} should be done");
            }
        }
        if action == "iam:TagUser" {
            // No change without its audit-trail record. (Records of keys the user no
            // longer has may be gone: they are removed to make room before writing.)
            for user in ["console", "key", "cert", "git", "ssh"] {
                let (now, before) = (&now[user], &before[user]);
                assert_eq!(
                    (
                        now.login_profile,
                        &now.key_statuses,
                        &now.certificate_statuses,
                        &now.service_credential_statuses,
                        &now.ssh_key_statuses,
                        &now.attached,
                        &now.deny_policy
                    ),
                    (
                        before.login_profile,
                        &before.key_statuses,
                        &before.certificate_statuses,
                        &before.service_credential_statuses,
                        &before.ssh_key_statuses,
                        &before.attached,
                        &before.deny_policy
                    ),
                    "without iam:TagUser: {user} changed"
                );
                assert!(
                    now.audit_tags.is_subset(&before.audit_tags),
                    "without iam:TagUser: {user} got a record"
                );
            }
        }
        assert_eq!(now["active"], before["active"]);

        // Given the permission back, the next run finishes the job.
        let config = as_role(&emu, &policy).await;
        let (code, report) = audit_json_with(&config, FLAGS).await;
        assert_eq!(code, 0, "after {action} is given back: {report:#}");
        assert_eq!(state(&emu).await, after, "after {action} is given back");
    }
}

#[tokio::test]
async fn without_any_one_read_permission_nothing_unconfirmed_is_changed() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    let (before, after, _) = reference(&emu).await;

    let mut not_called = BTreeSet::new();
    for permission in PERMISSIONS.iter().filter(|p| p.scope == Scope::Read) {
        let action = permission.action;
        seed(&emu).await;
        let config = as_role(&emu, &without(&policy, action)).await;
        match common::audit_result(&config, FLAGS).await {
            Err(e) => {
                assert!(
                    e.contains("AccessDenied") && e.contains(action),
                    "without {action}: {e}"
                );
                assert_eq!(
                    state(&emu).await,
                    before,
                    "without {action}: a run that failed changed something"
                );
            }
            Ok((0, report)) => {
                // Reads that only serve after a failure, or as a safeguard, may be
                // missing without a failure here:
                // - GetAccountSummary: the policy quota is a safeguard that saves failing
                //   CreatePolicy calls one by one at the quota; without it the run goes
                //   on (a warning is logged) and IAM still enforces the quota;
                // - the others are only called after a write failed (did it take
                //   effect?) or after a LimitExceeded from a stale listing
                //   (ListPolicyVersions); tests/tests/faults.rs exercises them.
                let calls = emu.calls().await.unwrap();
                let name = action.trim_start_matches("iam:");
                if calls.get(name) > 0 {
                    assert_eq!(
                        action, "iam:GetAccountSummary",
                        "without {action} the run must fail: {report:#}"
                    );
                } else {
                    not_called.insert(name);
                }
                assert_eq!(state(&emu).await, after);
            }
            Ok((code, report)) => {
                assert_eq!(code, audit::EXIT_PARTIAL, "without {action}: {report:#}");
                let failed: Vec<&Value> = report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["status"] == "failed")
                    .collect();
                // A listing it could not make leaves its check undone, and says so.
                for what in report["not_checked"].as_array().unwrap() {
                    let what = what.as_str().unwrap();
                    assert!(what.contains("AccessDenied") && what.contains(action), "{what}");
                }
                assert!(
                    !failed.is_empty() || !report["not_checked"].as_array().unwrap().is_empty(),
                    "without {action}: {report:#}"
                );
                for f in failed {
                    let reason = f["reason"].as_str().unwrap();
                    assert!(reason.contains("AccessDenied") && reason.contains(action), "{f:#}");
                    let user = f["user"].as_str().unwrap();
                    assert!(!findings_of(&report, user).is_empty());
                }
                // Each user is either untouched or exactly as the full run left it.
                let now = state(&emu).await;
                for user in USERS {
                    assert!(
                        now[*user] == before[*user] || now[*user] == after[*user],
                        "without {action}: {user} is neither untouched nor done: {:#?}",
                        now[*user]
                    );
                }
            }
        }
    }
    assert_eq!(
        not_called,
        BTreeSet::from([
            "GetPolicy",
            "GetPolicyVersion",
            "ListAttachedUserPolicies",
            "ListPolicyVersions",
            "ListUserTags",
        ]),
        "the reads a fault-free run does not need"
    );
}

#[tokio::test]
async fn the_state_table_permissions_are_exactly_enough_and_only_for_its_table() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    let (_, after, _) = reference(&emu).await;
    for action in iam_janitor_cfn::stacks::permissions::STATE_TABLE_ACTIONS {
        seed(&emu).await;
        let config = as_role(&emu, &without(&policy, action)).await;
        let (code, report) = audit_json_with(&config, FLAGS).await;
        assert_eq!(code, audit::EXIT_PARTIAL, "without {action}: {report:#}");
        let not_checked = report["not_checked"].to_string();
        assert!(
            not_checked.contains("AccessDenied") && not_checked.contains(action),
            "without {action}: {report:#}"
        );
        // Dormant credentials are done all the same.
        for user in ["console", "key", "cert", "git", "ssh"] {
            assert_eq!(state(&emu).await[user], after[user], "without {action}: {user}");
        }
    }
    // Another table, even of the right form, is out of reach.
    seed(&emu).await;
    emu.create_table("someone-elses-table", "user_id").await.unwrap();
    let config = as_role(&emu, &policy).await;
    let mut flags = FLAGS.to_vec();
    let at = flags.iter().position(|f| *f == common::STATE_TABLE).unwrap();
    flags[at] = "someone-elses-table";
    let (code, report) = audit_json_with(&config, &flags).await;
    assert_eq!(code, audit::EXIT_PARTIAL, "{report:#}");
    let not_checked = report["not_checked"].to_string();
    assert!(
        not_checked.contains("someone-elses-table") && not_checked.contains("AccessDenied"),
        "{report:#}"
    );
}

#[tokio::test]
async fn the_role_cannot_attach_other_policies_or_change_its_own() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    emu.seed(&[old_user("victim")]).await.unwrap();
    let root = emu.iam().await;
    // The role's own policy, at the default path as in the template.
    let own = root
        .create_policy()
        .policy_name("iam-janitor-RolePolicy")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let own_arn = own.policy().unwrap().arn().unwrap().to_string();

    let iam = aws_sdk_iam::Client::new(&as_role(&emu, &policy).await);
    let denied = |code: Option<String>, what: &str| assert_eq!(code.as_deref(), Some("AccessDenied"), "{what}");
    denied(
        error_code(
            iam.attach_user_policy()
                .user_name("victim")
                .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
                .send()
                .await,
        ),
        "attach AdministratorAccess",
    );
    let admin_doc =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    denied(
        error_code(
            iam.create_policy_version()
                .policy_arn(&own_arn)
                .policy_document(admin_doc.to_string())
                .set_as_default(true)
                .send()
                .await,
        ),
        "rewrite its own policy",
    );
    denied(
        error_code(
            iam.create_policy()
                .policy_name("escalate")
                .policy_document(admin_doc.to_string())
                .send()
                .await,
        ),
        "create a policy outside /iam-janitor/",
    );
    denied(
        error_code(iam.create_access_key().user_name("victim").send().await),
        "create an access key",
    );
    // While attaching one of its own policies is allowed.
    let ours = root
        .create_policy()
        .policy_name(legacy_policy_name("victim"))
        .path(POLICY_PATH)
        .policy_document(action_document(&BTreeSet::from(["ec2".to_string()])).1)
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("victim")
        .policy_arn(ours.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
}

/// Under the role, every write's answer is lost after it took effect: the reads that
/// tell whether a failed change took effect are in the role too, and the run ends as a
/// fault-free one.
#[tokio::test]
async fn the_role_can_confirm_changes_whose_answers_were_lost() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    let (_, after, _) = reference(&emu).await;
    seed(&emu).await;
    let credentials: Credentials = emu.session("iam-janitor", std::slice::from_ref(&policy)).await.unwrap();
    emu.set_chaos(&Chaos {
        seed: 1,
        fraction: 1.0,
        kinds: vec![ChaosKind::DropAfter],
        actions: common::WRITES.map(String::from).to_vec(),
        access_key: Some(credentials.access_key_id().to_string()),
    })
    .await
    .unwrap();
    let (code, report) = audit_json_with(&emu.sdk_config_as(credentials).await, FLAGS).await;
    assert!(emu.stop_chaos().await.unwrap()[&ChaosKind::DropAfter] > 0);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(state(&emu).await, after);
}

/// The IAM operations the engine's client actually sent (recorded by an SDK interceptor,
/// whatever file of the adapter sends them) over a fault-free run and runs where writes
/// are lost before or after they take effect: every one is granted by the role, and
/// every permission of the role was needed by one of them.
#[tokio::test]
async fn the_engine_sends_only_what_its_role_grants_and_needs_all_it_grants() {
    let emu = Emulator::start().await.unwrap();
    let policy = common::role_policy(emu.account_id());
    reference(&emu).await;
    let runs: [(ChaosKind, &[&str]); 3] = [
        (ChaosKind::DropAfter, &common::WRITES),
        (ChaosKind::DropBefore, &common::WRITES),
        // A lost DeletePolicyVersion: CreatePolicyVersion then finds the five versions
        // still there, and the engine lists them.
        (ChaosKind::DropBefore, &["DeletePolicyVersion"]),
    ];
    for (kind, actions) in runs {
        seed(&emu).await;
        let credentials: Credentials = emu.session("iam-janitor", std::slice::from_ref(&policy)).await.unwrap();
        emu.set_chaos(&Chaos {
            seed: 1,
            fraction: 1.0,
            kinds: vec![kind],
            actions: actions.iter().map(|a| a.to_string()).collect(),
            access_key: Some(credentials.access_key_id().to_string()),
        })
        .await
        .unwrap();
        // Runs with every write lost fail partly; what they sent is what matters here.
        let _ = common::audit_result(&emu.sdk_config_as(credentials).await, FLAGS).await;
        assert!(emu.stop_chaos().await.unwrap()[&kind] > 0, "{kind:?} on {actions:?}");
    }
    let sent = iam_janitor::iam::operations_sent();
    let granted: BTreeSet<String> = PERMISSIONS.iter().map(|p| p.action.to_string()).collect();
    assert!(sent.len() >= 10, "too few operations recorded: {sent:?}");
    let not_granted: Vec<_> = sent.difference(&granted).collect();
    assert!(not_granted.is_empty(), "sent without a permission: {not_granted:?}");
    // CreatePolicy with tags needs iam:TagPolicy too; nothing sends TagPolicy itself.
    assert!(sent.contains("iam:CreatePolicy"));
    let unused: Vec<_> = granted
        .difference(&sent)
        .filter(|a| a.as_str() != "iam:TagPolicy")
        .collect();
    assert!(unused.is_empty(), "granted but never sent: {unused:?}");
}
