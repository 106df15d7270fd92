#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::model::inventory::Tag;
use crate::model::report::ReasonCode;
use crate::model::services::MAX_SERVICE_PREFIX;
use proptest::prelude::*;
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-21 12:00:00 UTC);

fn ago(d: i64) -> Option<OffsetDateTime> {
    Some(NOW - Duration::days(d))
}

fn svc(ns: &str, last: Option<OffsetDateTime>) -> ServiceAccess {
    ServiceAccess {
        namespace: ns.to_string(),
        name: ns.to_uppercase(),
        last_authenticated: last,
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn s() -> LeastPrivilegeSettings {
    LeastPrivilegeSettings::default()
}

fn user(age_days: i64, tags: &[(&str, &str)], policies: usize) -> UserDetails {
    UserDetails {
        name: "u".into(),
        id: "AIDAUSERU".into(),
        arn: "arn:aws:iam::111122223333:user/u".into(),
        path: "/".into(),
        create_date: NOW - Duration::days(age_days),
        tags: tags
            .iter()
            .map(|(k, v)| Tag {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        attached_policy_arns: (0..policies).map(|i| format!("arn:aws:iam::aws:policy/P{i}")).collect(),
    }
}

/// A finding of `kind` on `user`: `action`, with `status`.
fn finding_of(user: &str, kind: crate::model::report::Kind, action: Action, status: Status) -> Finding {
    Finding {
        user: user.into(),
        arn: String::new(),
        kind,
        access_key_id: None,
        access_key_slot: None,
        credential_id: None,
        credential_slot: None,
        last_used: None,
        idle_days: None,
        action,
        status,
        reason: String::new(),
        reason_code: ReasonCode::Dormant,
        services: None,
    }
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

/// `deny_set` with no previous policy and no credential-report use.
fn fresh(services: &[ServiceAccess], keep: &BTreeSet<String>) -> BTreeSet<String> {
    deny_set(services, &[], keep, Evidence::NONE, &s(), NOW).deny
}

fn part(name: &str, attached: bool, deny: &[&str]) -> CurrentPart {
    CurrentPart {
        name: name.to_string(),
        arn: format!("arn:aws:iam::111122223333:policy/iam-janitor/{name}"),
        attached,
        document: Some(action_document(&set(deny)).0),
    }
}

fn subject<'a>(
    user: &'a UserDetails,
    parts: &'a [CurrentPart],
    keep: &'a BTreeSet<String>,
    recently_used: &'a BTreeSet<String>,
) -> Subject<'a> {
    Subject {
        user,
        parts,
        keep,
        evidence: used_only(recently_used),
    }
}

/// Evidence of the credential report's use only.
fn used_only(recently_used: &BTreeSet<String>) -> Evidence<'_> {
    Evidence {
        recently_used,
        granted: &NO_GRANTS,
    }
}

static NO_GRANTS: BTreeMap<String, OffsetDateTime> = BTreeMap::new();

/// `decide` for user `u` with no keep tag and no credential-report use.
fn decide_for(services: &[ServiceAccess], user: &UserDetails, parts: &[CurrentPart]) -> Change {
    let (keep, used) = (none(), none());
    decide(services, subject(user, parts, &keep, &used), &s(), NOW).0
}

/// The current parts after a change was applied to `parts`.
fn applied(parts: &[CurrentPart], change: &Change) -> Vec<CurrentPart> {
    let mut after = parts.to_vec();
    match change {
        Change::Write {
            parts: writes, detach, ..
        } => {
            for w in writes {
                let document = Some(serde_json::from_str(&w.json).unwrap());
                match after.iter_mut().find(|p| p.arn == w.arn) {
                    Some(p) => {
                        p.document = document;
                        p.attached = true;
                    }
                    None => after.push(CurrentPart {
                        name: w.name.clone(),
                        arn: w.arn.clone(),
                        attached: true,
                        document,
                    }),
                }
            }
            for p in after.iter_mut().filter(|p| detach.contains(&p.arn)) {
                p.attached = false;
            }
        }
        Change::Detach { arns } => {
            for p in after.iter_mut().filter(|p| arns.contains(&p.arn)) {
                p.attached = false;
            }
        }
        Change::None | Change::NeedsReview { .. } => {}
    }
    after.sort_by(|a, b| b.attached.cmp(&a.attached).then_with(|| a.name.cmp(&b.name)));
    after
}

#[test]
fn unused_and_never_used_services_are_denied_used_ones_are_not() {
    let services = [
        svc("s3", ago(3)),
        svc("ec2", ago(91)),
        svc("dynamodb", None),
        svc("lambda", ago(90)),
        svc("sts", None),
        svc("iam", ago(400)),
    ];
    assert_eq!(fresh(&services, &none()), set(&["dynamodb", "ec2"]));
}

#[test]
fn denies_are_sticky_until_the_keep_tag_lists_them() {
    // ec2 was denied; the user's denied attempts now show as recent access.
    let services = [svc("ec2", ago(1)), svc("s3", ago(1))];
    let previous = [Denied::Listed(set(&["ec2"]))];
    assert_eq!(
        deny_set(&services, &previous, &none(), Evidence::NONE, &s(), NOW).deny,
        set(&["ec2"])
    );
    assert!(
        deny_set(&services, &previous, &set(&["ec2"]), Evidence::NONE, &s(), NOW)
            .deny
            .is_empty()
    );
}

#[test]
fn never_deny_wins_over_sticky() {
    let services = [svc("sts", None)];
    let previous = [Denied::Listed(set(&["sts", "rds"]))];
    assert_eq!(
        deny_set(&services, &previous, &none(), Evidence::NONE, &s(), NOW).deny,
        set(&["rds"])
    );
}

#[test]
fn forwarded_calls_are_never_denied_so_kms_is_judged_like_any_service() {
    // No heuristic: kms unused is denied, since the condition leaves alone the calls S3
    // makes to KMS with the user's identity.
    let services = [svc("kms", None), svc("s3", ago(2)), svc("glacier", None)];
    assert_eq!(fresh(&services, &none()), set(&["glacier", "kms"]));
    let (document, json) = action_document(&set(&["kms"]));
    let statement = &document.statement[0];
    assert_eq!(
        statement.condition,
        Some(BTreeMap::from([(
            "BoolIfExists".to_string(),
            BTreeMap::from([("aws:ViaAWSService".to_string(), Values::one("false".to_string()))])
        )]))
    );
    assert!(
        json.contains(r#""Condition":{"BoolIfExists":{"aws:ViaAWSService":"false"}}"#),
        "{json}"
    );
}

#[test]
fn the_credential_reports_recent_use_spares_a_service_access_advisor_calls_unused() {
    let services = [svc("s3", None), svc("ec2", ago(200)), svc("rds", None)];
    let used = set(&["s3", "ec2"]);
    let out = deny_set(&services, &[], &none(), used_only(&used), &s(), NOW);
    assert_eq!(out.deny, set(&["rds"]));
    assert_eq!(out.spared_by_report, set(&["ec2", "s3"]));
    // A deny in place stays (sticky): the report's use may be a denied attempt.
    let previous = [Denied::Listed(set(&["s3"]))];
    let out = deny_set(&services, &previous, &none(), used_only(&used), &s(), NOW);
    assert_eq!(out.deny, set(&["rds", "s3"]));
    assert_eq!(out.spared_by_report, set(&["ec2"]));
    // Kept services are not reported as spared by the report.
    let out = deny_set(&services, &[], &set(&["ec2"]), used_only(&used), &s(), NOW);
    assert_eq!(out.spared_by_report, set(&["s3"]));
}

#[test]
fn a_service_granted_after_the_first_check_is_denied_only_once_unused_past_the_limit() {
    let u = user(1000, &[], 0);
    // First check 200 days ago: s3 and ec2 were listed then.
    let first = remember(
        None,
        &u,
        &[svc("s3", ago(1)), svc("ec2", None)],
        Vec::new(),
        NOW - Duration::days(200),
    );
    assert_eq!(first.first_checked, NOW - Duration::days(200));
    // At the first check, nothing is a new grant: today's rule (the user's age) applies.
    assert!(new_grants(None, &[svc("sagemaker", None)], NOW).is_empty());
    // Today sagemaker appears, never used: granted since, in grace.
    let today = [svc("s3", ago(1)), svc("ec2", None), svc("sagemaker", None)];
    let granted = new_grants(Some(&first), &today, NOW);
    assert_eq!(granted, BTreeMap::from([("sagemaker".to_string(), NOW)]));
    let evidence = Evidence {
        recently_used: &BTreeSet::new(),
        granted: &granted,
    };
    let out = deny_set(&today, &[], &none(), evidence, &s(), NOW);
    assert_eq!(out.deny, set(&["ec2"]));
    assert_eq!(out.in_grace, BTreeMap::from([("sagemaker".to_string(), NOW)]));
    // Remembered with its first sighting; 90 days later still in grace, 91 days later denied.
    let second = remember(Some(&first), &u, &today, Vec::new(), NOW);
    assert_eq!(second.first_checked, first.first_checked);
    assert_eq!(second.services["sagemaker"], NOW);
    assert_eq!(second.services["ec2"], NOW - Duration::days(200));
    for (days, denied) in [(90, false), (91, true)] {
        let later = NOW + Duration::days(days);
        let granted = new_grants(Some(&second), &today, later);
        let evidence = Evidence {
            recently_used: &BTreeSet::new(),
            granted: &granted,
        };
        let out = deny_set(&today, &[], &none(), evidence, &s(), later);
        assert_eq!(out.deny.contains("sagemaker"), denied, "{days} days");
    }
    // A grant removed and given again is a new grant.
    let removed = remember(
        Some(&second),
        &u,
        &[svc("s3", ago(1))],
        Vec::new(),
        NOW + Duration::days(10),
    );
    assert!(!removed.services.contains_key("sagemaker"));
    let again = new_grants(Some(&removed), &today, NOW + Duration::days(120));
    assert_eq!(again.get("sagemaker"), Some(&(NOW + Duration::days(120))));
    // Sticky denies stay whatever the grant's age.
    let previous = [Denied::Listed(set(&["sagemaker"]))];
    let evidence = Evidence {
        recently_used: &BTreeSet::new(),
        granted: &granted,
    };
    assert!(
        deny_set(&today, &previous, &none(), evidence, &s(), NOW)
            .deny
            .contains("sagemaker")
    );
}

#[test]
fn a_grant_listed_in_the_same_second_as_the_first_check_is_still_a_new_grant() {
    let u = user(1000, &[], 0);
    let first = remember(None, &u, &[svc("s3", ago(1))], Vec::new(), NOW);
    let today = [svc("s3", ago(1)), svc("sagemaker", None)];
    assert_eq!(
        new_grants(Some(&first), &today, NOW),
        BTreeMap::from([("sagemaker".to_string(), NOW)])
    );
    let second = remember(Some(&first), &u, &today, Vec::new(), NOW);
    assert!(second.services["sagemaker"] > second.first_checked);
    assert!(new_grants(Some(&second), &today, NOW).contains_key("sagemaker"));
}

#[test]
fn recently_used_services_come_from_keys_used_within_the_limit() {
    use crate::model::credential_report::{CertSlot, KeySlot};
    let key = |slot, used: Option<OffsetDateTime>, service: Option<&str>| KeySlot {
        slot,
        active: true,
        last_rotated: Observed::At(NOW - Duration::days(500)),
        last_used: used.map_or(Observed::NotApplicable, Observed::At),
        last_used_service: service.map(str::to_string),
    };
    let cert = |slot| CertSlot {
        slot,
        active: false,
        last_rotated: Observed::NotApplicable,
    };
    let row = |user: &str, keys: [KeySlot; 2]| CredentialRow {
        line: 2,
        user: user.to_string(),
        arn: format!("arn:aws:iam::111122223333:user/{user}"),
        user_creation_time: NOW - Duration::days(1000),
        password_enabled: Some(false),
        password_last_used: Observed::NotApplicable,
        password_last_changed: Observed::NotApplicable,
        keys,
        certificates: [cert(1), cert(2)],
    };
    let rows = [
        row("a", [key(1, ago(3), Some("s3")), key(2, ago(91), Some("ec2"))]),
        row("b", [key(1, ago(90), Some("sqs")), key(2, None, None)]),
        row("c", [key(1, ago(1), None), key(2, None, Some("rds"))]),
    ];
    let used = recently_used_services(&rows, &s(), NOW);
    assert_eq!(used.get("a"), Some(&set(&["s3"])));
    assert_eq!(used.get("b"), Some(&set(&["sqs"])));
    assert_eq!(used.get("c"), None);
}

#[test]
fn keep_tag_parsing() {
    let u = user(400, &[("IAM-Janitor:Keep-Services", "S3, ec2;rds  sqs")], 0);
    assert_eq!(kept_services(&u, &s()), set(&["ec2", "rds", "s3", "sqs"]));
}

#[test]
fn document_is_sorted_compact_and_deterministic() {
    let (doc, json) = action_document(&set(&["s3", "ec2"]));
    assert_eq!(
        json,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"IamJanitorDenyUnusedServices","Effect":"Deny","Action":["ec2:*","s3:*"],"Resource":"*","Condition":{"BoolIfExists":{"aws:ViaAWSService":"false"}}}]}"#
    );
    assert_eq!(denied_by(&doc), Some(Denied::Listed(set(&["ec2", "s3"]))));
}

#[test]
fn a_long_deny_list_is_split_into_policies_that_each_fit() {
    let deny: BTreeSet<String> = (0..400).map(|i| format!("averylongservicename{i:03}")).collect();
    let parts = split(&deny);
    assert_eq!(parts.len(), 2);
    let mut union = BTreeSet::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(policy_size(&action_document(p).1) <= MAX_POLICY_SIZE);
        // Greedy: each part but the last is full (the next entry would not fit).
        if let Some(next) = parts.get(i + 1).and_then(|n| n.first()) {
            let mut more = p.clone();
            more.insert(next.clone());
            assert!(policy_size(&action_document(&more).1) > MAX_POLICY_SIZE);
        }
        // In order: parts do not interleave.
        assert!(union.iter().all(|u: &String| p.iter().all(|x| u < x)));
        union.extend(p.iter().cloned());
    }
    assert_eq!(union, deny);
    assert_eq!(split(&set(&["s3"])), vec![set(&["s3"])]);
    assert!(split(&none()).is_empty());
}

#[test]
fn documents_of_earlier_versions_are_read_and_foreign_conditions_are_not() {
    // The NotAction form, and the Action form without the condition.
    let (legacy, _) = legacy_not_action_document(&set(&["s3", "sts"]));
    assert_eq!(denied_by(&legacy), Some(Denied::AllExcept(set(&["s3", "sts"]))));
    let bare: PolicyDocument = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["ec2:*"],"Resource":"*"}]}"#,
    )
    .unwrap();
    assert_eq!(denied_by(&bare), Some(Denied::Listed(set(&["ec2"]))));
    // Someone else's condition: not ours, treated as denying nothing (and rewritten).
    let foreign: PolicyDocument = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["ec2:*"],"Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#,
    )
    .unwrap();
    assert_eq!(denied_by(&foreign), None);
}

#[test]
fn a_not_action_policy_is_migrated_to_action_lists_keeping_what_it_denied() {
    let u = user(400, &[], 1);
    let (legacy, _) = legacy_not_action_document(&set(&["s3", "sts"]));
    let parts = [CurrentPart {
        name: "iam-janitor-deny-u".into(),
        arn: "arn:aws:iam::111122223333:policy/iam-janitor/iam-janitor-deny-u".into(),
        attached: true,
        document: Some(legacy),
    }];
    // ec2 used yesterday (a denied attempt, perhaps) stays denied; s3 stays allowed.
    let services = [svc("s3", ago(1)), svc("ec2", ago(1)), svc("sts", ago(1))];
    let Change::Write {
        services,
        parts: writes,
        detach,
    } = decide_for(&services, &u, &parts)
    else {
        panic!("expected a rewrite");
    };
    assert_eq!(services, ["ec2"]);
    assert!(detach.is_empty());
    assert_eq!(writes.len(), 1);
    assert!(writes[0].exists && writes[0].document_changed && !writes[0].attach);
    let written: PolicyDocument = serde_json::from_str(&writes[0].json).unwrap();
    assert!(written.statement[0].not_action.is_none());
    assert_eq!(denied_by(&written), Some(Denied::Listed(set(&["ec2"]))));
}

#[test]
fn policy_names_follow_the_user_id_and_legacy_names_are_recognised() {
    assert_eq!(
        part_name("AIDAEXAMPLE123456789", 1),
        "iam-janitor-deny-AIDAEXAMPLE123456789"
    );
    assert_eq!(
        part_name("AIDAEXAMPLE123456789", 2),
        "iam-janitor-deny-AIDAEXAMPLE123456789-2"
    );
    assert!(is_part_of(
        "iam-janitor-deny-AIDAEXAMPLE123456789-2",
        "AIDAEXAMPLE123456789"
    ));
    assert!(is_part_of(
        "iam-janitor-deny-AIDAEXAMPLE123456789",
        "AIDAEXAMPLE123456789"
    ));
    for other in [
        "iam-janitor-deny-AIDAEXAMPLE123456789X",
        "iam-janitor-deny-AIDAEXAMPLE123456789-",
        "iam-janitor-deny-AIDAEXAMPLE123456789-x",
        "iam-janitor-deny-alice",
        "AIDAEXAMPLE123456789",
    ] {
        assert!(!is_part_of(other, "AIDAEXAMPLE123456789"), "{other}");
    }
    assert_eq!(id_in_name("iam-janitor-deny-AIDAEXAMPLE-2"), Some("AIDAEXAMPLE"));
    assert_eq!(id_in_name("iam-janitor-deny-bob-x"), Some("bob-x"));
    assert_eq!(id_in_name("other"), None);
    assert_eq!(legacy_policy_name("alice"), "iam-janitor-deny-alice");
    let long = "x".repeat(128);
    assert_eq!(legacy_policy_name(&long).len(), 128);
    assert_ne!(
        legacy_policy_name(&long),
        legacy_policy_name(&format!("{}y", "x".repeat(127)))
    );
    assert_eq!(
        policy_arn_in("arn:aws-us-gov:iam::111122223333:user/a", "p"),
        "arn:aws-us-gov:iam::111122223333:policy/iam-janitor/p"
    );
}

#[test]
fn a_users_policies_are_found_by_attachment_and_by_their_id() {
    let policy = |name: &str, attachments: u32| {
        (
            name.to_string(),
            JanitorPolicy {
                name: name.to_string(),
                arn: format!("arn:aws:iam::111122223333:policy/iam-janitor/{name}"),
                attachments,
                versions: Vec::new(),
            },
        )
    };
    let arn = |name: &str| format!("arn:aws:iam::111122223333:policy/iam-janitor/{name}");
    let id = "AIDAEXAMPLE123456789";
    let other = "AIDAOTHERUSER0000001";
    let mut u = user(400, &[], 0);
    u.name = "renamed".into();
    u.id = id.into();
    u.attached_policy_arns = vec![
        arn("iam-janitor-deny-alice"),
        arn(&part_name(id, 2)),
        arn("iam-janitor-deny-shared"),
        arn(&part_name(other, 1)),
        arn("iam-janitor-other-thing"),
        "arn:aws:iam::111122223333:policy/elsewhere/iam-janitor-deny-bob".into(),
    ];
    let policies: HashMap<String, JanitorPolicy> = [
        policy("iam-janitor-deny-alice", 1), // legacy name, attached to this user alone: ours
        policy(&part_name(id, 2), 1),        // ours by ID
        policy(&part_name(id, 1), 0),        // ours by ID, detached (history)
        policy("iam-janitor-deny-shared", 2), // legacy name, attached to others too: not ours
        policy(&part_name(other, 1), 1),     // another user's
        policy("iam-janitor-other-thing", 1), // not a deny policy
        policy("iam-janitor-deny-bob", 0),   // someone's legacy policy, detached
    ]
    .into_iter()
    .collect();
    let ids = HashSet::from([id, other]);
    let parts = owned_parts(&u, &policies, &ids);
    let names: Vec<(&str, bool)> = parts.iter().map(|p| (p.name.as_str(), p.attached)).collect();
    assert_eq!(
        names,
        [
            (part_name(id, 2).as_str(), true),
            ("iam-janitor-deny-alice", true),
            (part_name(id, 1).as_str(), false),
        ]
    );
}

#[test]
fn eligibility_grace_and_quota() {
    let none: [CurrentPart; 0] = [];
    let young = eligibility(&user(30, &[], 0), &none, &s(), NOW).unwrap_err();
    assert!(young.reason.starts_with("grace"));
    assert_eq!(young.code, ReasonCode::Grace);
    assert!(eligibility(&user(100, &[], 9), &none, &s(), NOW).is_ok());
    let full = eligibility(&user(100, &[], 10), &none, &s(), NOW).unwrap_err();
    assert!(full.reason.contains("quota of 10"));
    assert_eq!(full.code, ReasonCode::AttachedPolicyQuota);
    // Our own policy already attached: the quota does not matter.
    let attached = [part("iam-janitor-deny-u", true, &["ec2"])];
    assert!(eligibility(&user(100, &[], 10), &attached, &s(), NOW).is_ok());
}

#[test]
fn users_with_credentials_after_this_runs_changes() {
    use crate::model::inventory::ServiceCredential;
    use crate::model::report::Kind;
    let report =
        crate::model::credential_report::parse(include_bytes!("../../tests/fixtures/credential-report-aws.csv"))
            .unwrap();
    let mut inventory = Inventory::new(report, None, Vec::new(), Vec::new());
    // A user with no credential at all.
    let mut idle_row = inventory.rows[0].clone();
    idle_row.user = "idle".into();
    idle_row.password_enabled = Some(false);
    for k in idle_row.keys.iter_mut() {
        k.active = false;
    }
    inventory.rows.push(idle_row);
    let idle = "idle".to_string();
    let holders: BTreeSet<String> = inventory
        .rows
        .iter()
        .filter(|r| r.password_enabled == Some(true) || r.keys.iter().any(|k| k.active))
        .map(|r| r.user.clone())
        .collect();
    assert!(!holders.contains(&idle));
    let all: BTreeSet<String> = users_with_credentials(&inventory, []).into_iter().collect();
    assert_eq!(all, holders);
    // A service-specific credential is a credential.
    inventory.service_credentials.push(ServiceCredential {
        id: "ACCA1".into(),
        user: idle.clone(),
        service: "codecommit.amazonaws.com".into(),
        created: NOW,
        active: true,
    });
    assert!(users_with_credentials(&inventory, []).contains(&idle));
    // Disabling every credential of a holder (applied, or planned in report mode) takes
    // them out; a skipped or failed change does not.
    let holder = inventory
        .rows
        .iter()
        .find(|r| r.password_enabled == Some(true) && r.keys.iter().all(|k| !k.active))
        .expect("the fixture has a password-only user")
        .user
        .clone();
    let f = |status| finding_of(&holder, Kind::ConsolePassword, Action::DeleteLoginProfile, status);
    for (status, has) in [
        (Status::Applied, false),
        (Status::Planned, false),
        (Status::Skipped, true),
        (Status::Failed, true),
    ] {
        let finding = f(status);
        assert_eq!(
            users_with_credentials(&inventory, [&finding]).contains(&holder),
            has,
            "{status:?}"
        );
    }
}

#[test]
fn decide_create_then_no_change_then_new_service_then_detach() {
    let u = user(400, &[], 1);
    let services = vec![svc("ec2", None), svc("s3", ago(1))];
    let first = decide_for(&services, &u, &[]);
    let Change::Write {
        services: listed,
        parts,
        detach,
    } = &first
    else {
        panic!("expected a write");
    };
    assert_eq!(listed, &["ec2"]);
    assert!(detach.is_empty());
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].name, "iam-janitor-deny-AIDAUSERU");
    assert_eq!(
        parts[0].arn,
        "arn:aws:iam::111122223333:policy/iam-janitor/iam-janitor-deny-AIDAUSERU"
    );
    assert!(!parts[0].exists && parts[0].document_changed && parts[0].attach);
    let current = applied(&[], &first);
    assert_eq!(decide_for(&services, &u, &current), Change::None);
    // Renamed: same ID, same policies, nothing to do.
    let renamed = UserDetails {
        name: "u-renamed".into(),
        arn: "arn:aws:iam::111122223333:user/u-renamed".into(),
        ..u.clone()
    };
    assert_eq!(decide_for(&services, &renamed, &current), Change::None);
    let mut more = services.clone();
    more.push(svc("rds", ago(200)));
    let Change::Write {
        services: listed,
        parts,
        ..
    } = decide_for(&more, &u, &current)
    else {
        panic!("expected a new version");
    };
    assert_eq!(listed, ["ec2", "rds"]);
    assert!(parts[0].exists && parts[0].document_changed && !parts[0].attach);
    // Detached by someone: attach again, document unchanged.
    let detached = [CurrentPart {
        attached: false,
        ..current[0].clone()
    }];
    let Change::Write { parts, .. } = decide_for(&services, &u, &detached) else {
        panic!("expected an attach");
    };
    assert!(parts[0].exists && !parts[0].document_changed && parts[0].attach);
    // Everything kept: detach.
    let (keep, used) = (set(&["ec2"]), none());
    assert_eq!(
        decide(&services, subject(&u, &current, &keep, &used), &s(), NOW).0,
        Change::Detach {
            arns: vec![current[0].arn.clone()]
        }
    );
}

#[test]
fn broad_users_get_several_policies_then_fewer_and_never_a_not_action() {
    let u = user(400, &[], 1);
    let mut services: Vec<ServiceAccess> = (0..300)
        .map(|i| svc(&format!("averylongservicename{i:03}"), None))
        .collect();
    services.push(svc("s3", ago(1)));
    let first = decide_for(&services, &u, &[]);
    let Change::Write {
        parts,
        services: listed,
        ..
    } = &first
    else {
        panic!("expected a write");
    };
    assert_eq!(listed.len(), 300);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].name, "iam-janitor-deny-AIDAUSERU-2");
    for p in parts {
        assert!(policy_size(&p.json) <= MAX_POLICY_SIZE);
        assert!(!p.json.contains("NotAction"));
    }
    let current = applied(&[], &first);
    assert_eq!(decide_for(&services, &u, &current), Change::None);
    // The deny list shrinks (kept services): part 2 is detached, part 1 rewritten.
    let keep: BTreeSet<String> = (0..250).map(|i| format!("averylongservicename{i:03}")).collect();
    let used = none();
    let (change, _) = decide(&services, subject(&u, &current, &keep, &used), &s(), NOW);
    let Change::Write { parts, detach, .. } = &change else {
        panic!("expected a rewrite");
    };
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].name, "iam-janitor-deny-AIDAUSERU");
    assert_eq!(detach, &[current[1].arn.clone()]);
    // It grows again: the detached part 2 is used again, not a new one.
    let shrunk = applied(&current, &change);
    let Change::Write { parts, .. } = decide_for(&services, &u, &shrunk) else {
        panic!("expected a write");
    };
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.exists));
}

#[test]
fn a_deny_list_that_does_not_fit_needs_review_and_changes_nothing() {
    // More than MAX_DENY_POLICIES policies' worth.
    let services: Vec<ServiceAccess> = (0..900)
        .map(|i| svc(&format!("averylongservicename-number{i:04}"), None))
        .collect();
    let Change::NeedsReview {
        services: listed,
        reason,
    } = decide_for(&services, &user(400, &[], 1), &[])
    else {
        panic!("expected needs review");
    };
    assert_eq!(listed.len(), 900);
    assert!(reason.contains("at most 3 per user"), "{reason}");
    // Two policies needed, room for one under the attached-policy quota.
    let services: Vec<ServiceAccess> = (0..300)
        .map(|i| svc(&format!("averylongservicename{i:03}"), None))
        .collect();
    let Change::NeedsReview { reason, .. } = decide_for(&services, &user(400, &[], 9), &[]) else {
        panic!("expected needs review");
    };
    assert!(
        reason.contains("9 other managed policies attached, and the quota is 10"),
        "{reason}"
    );
}

proptest! {
    /// Whatever the data, never-deny and kept services are never denied, and a service
    /// used within the window (by Access Advisor or the credential report) is denied
    /// only if it was denied before.
    #[test]
    fn deny_set_invariants(
        data in proptest::collection::vec(("[a-z]{2,8}", proptest::option::of(0i64..500)), 0..40),
        previous in proptest::collection::btree_set("[a-z]{2,8}", 0..5),
        keep in proptest::collection::btree_set("[a-z]{2,8}", 0..5),
        report_used in proptest::collection::btree_set("[a-z]{2,8}", 0..5),
    ) {
        let services: Vec<ServiceAccess> = data.iter().map(|(ns, d)| svc(ns, d.and_then(ago))).collect();
        let prev = [Denied::Listed(previous.clone())];
        let out = deny_set(&services, &prev, &keep, used_only(&report_used), &s(), NOW);
        for ns in &out.deny {
            prop_assert!(!keep.contains(ns));
            prop_assert!(!s().never_deny.contains(ns));
        }
        prop_assert!(out.deny.is_disjoint(&out.spared_by_report));
        for (ns, d) in &data {
            let recently_used = (d.is_some_and(|d| d <= 90)
                && data.iter().filter(|(n, _)| n == ns).all(|(_, d)| d.is_some_and(|d| d <= 90)))
                || report_used.contains(ns);
            if recently_used && !previous.contains(ns) {
                prop_assert!(!out.deny.contains(ns), "{} used recently but denied", ns);
            }
        }
        for part in split(&out.deny) {
            prop_assert!(policy_size(&action_document(&part).1) <= MAX_POLICY_SIZE);
        }
    }
}

#[test]
fn service_prefixes() {
    let longest = "a".repeat(MAX_SERVICE_PREFIX);
    for ok in [
        "s3",
        "ec2",
        "execute-api",
        "aws-marketplace",
        "a4b",
        "route53",
        "x",
        &longest,
    ] {
        assert!(is_service_prefix(ok), "{ok:?}");
    }
    let too_long = "a".repeat(MAX_SERVICE_PREFIX + 1);
    for bad in [
        "*", "?", "s?", "", "S3", "s3:Get", "s3:*", "ec2 ", " ec2", "-s3", "s3-", "s3--x", "é", "ｓ3", "s_3", "s3\0",
        &too_long,
    ] {
        assert!(!is_service_prefix(bad), "{bad:?}");
    }
}

#[test]
fn an_answer_with_a_bad_namespace_is_rejected_naming_it() {
    for bad in ["*", "s?", "", "S3", "s3:Get", "ec2 ", "\u{202e}s3", "s\"3"] {
        let services = vec![
            svc("s3", None),
            svc("ec2", None),
            svc("kms", None),
            svc(bad, None),
            svc("*", None),
        ];
        let e = check_advisor_answer(services).unwrap_err();
        assert_eq!(
            e,
            MalformedAnswer {
                index: 3,
                namespace: bad.to_string()
            }
        );
        assert_eq!(
            e.to_string(),
            format!("service 3 has namespace {bad:?}, not a service prefix")
        );
    }
    assert_eq!(
        check_advisor_answer(vec![svc("*", None)]).unwrap_err().to_string(),
        r#"service 0 has namespace "*", not a service prefix"#
    );
    // A huge value is cut in the message.
    let e = check_advisor_answer(vec![svc(&"*".repeat(10_000), None)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "service 0 has namespace {:?} (cut, 10000 characters), not a service prefix",
            "*".repeat(80)
        )
    );
}

#[test]
fn duplicates_merge_to_the_latest_use() {
    let services = vec![
        svc("s3", None),
        svc("ec2", ago(200)),
        svc("s3", ago(100)),
        svc("ec2", None),
        svc("s3", ago(2)),
        svc("s3", ago(50)),
    ];
    let merged = check_advisor_answer(services).unwrap();
    assert_eq!(merged, vec![svc("s3", ago(2)), svc("ec2", ago(200))]);
    // Recent use anywhere in the answer spares the service.
    assert_eq!(fresh(&merged, &none()), set(&["ec2"]));
    assert_eq!(
        check_advisor_answer(vec![svc("rds", None), svc("rds", None)]).unwrap(),
        vec![svc("rds", None)]
    );
    assert_eq!(check_advisor_answer(Vec::new()).unwrap(), Vec::new());
}

#[test]
fn extreme_dates_neither_panic_nor_deny_in_use_services() {
    use time::PrimitiveDateTime;
    let epoch = Some(OffsetDateTime::UNIX_EPOCH);
    let far_future = Some(PrimitiveDateTime::MAX.assume_utc());
    let year_9999 = Some(datetime!(9999-06-01 00:00 UTC));
    let far_past = Some(PrimitiveDateTime::MIN.assume_utc());
    let services = check_advisor_answer(vec![
        svc("s3", epoch),
        svc("ec2", far_future),
        svc("rds", year_9999),
        svc("sqs", far_past),
        svc("rds", far_past),
    ])
    .unwrap();
    // The epoch (the SDK's "missing") and the far past are old; future dates count as use.
    assert_eq!(fresh(&services, &none()), set(&["s3", "sqs"]));
    for now in [
        NOW,
        PrimitiveDateTime::MIN.assume_utc(),
        PrimitiveDateTime::MAX.assume_utc(),
    ] {
        let (keep, used) = (none(), none());
        let _ = decide(&services, subject(&user(400, &[], 0), &[], &keep, &used), &s(), now);
    }
}

#[test]
fn an_edited_policy_cannot_make_the_engine_deny_a_wildcard() {
    // Someone edited the deny policy: `*:*` and `s?:*` are not carried over as sticky.
    let edited: PolicyDocument =
        serde_json::from_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*:*","s?:*","EC2:*",":*","*"],"Resource":"*"}]}"#)
            .unwrap();
    assert_eq!(denied_by(&edited), Some(Denied::Listed(set(&["ec2"]))));
    let current = [CurrentPart {
        document: Some(edited),
        ..part("iam-janitor-deny-u", true, &[])
    }];
    let Change::Write { parts, services, .. } = decide_for(&[svc("s3", ago(1))], &user(400, &[], 1), &current) else {
        panic!("expected a rewrite");
    };
    assert_eq!(services, ["ec2"]);
    assert!(parts[0].json.contains(r#""Action":"ec2:*""#), "{}", parts[0].json);
}

/// Independent of `is_service_prefix`: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 64 characters.
fn reference_prefix(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 64
        && !ns.starts_with('-')
        && !ns.ends_with('-')
        && !ns.contains("--")
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

const POOL: &[&str] = &["s3", "ec2", "sts", "iam", "kms", "rds", "execute-api"];

/// Strings that must not reach a policy, and arbitrary ones.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "*", "?", "s?", "s3:*", "", "S3", "ec2 ", " ec2", "é", "日本", "-", "a--b", "*:*"
        ])
        .prop_map(str::to_string),
        ".{0,10}",
        any::<String>(),
    ]
}

/// Long valid namespaces, to reach the size fallback and the TooLarge failure.
fn long() -> impl Strategy<Value = String> {
    "[a-z0-9]{20,40}(-[a-z0-9]{1,10}){0,2}"
}

/// Valid namespaces: mostly the pool, some long ones.
fn valid() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(POOL).prop_map(str::to_string), 1 => long()]
}

fn mixed() -> impl Strategy<Value = String> {
    prop_oneof![3 => valid(), 1 => hostile()]
}

fn date() -> impl Strategy<Value = Option<OffsetDateTime>> {
    use time::PrimitiveDateTime;
    proptest::option::of(prop_oneof![
        4 => (-1000i64..1000).prop_map(|d| NOW - Duration::days(d)),
        1 => Just(OffsetDateTime::UNIX_EPOCH),
        1 => Just(PrimitiveDateTime::MAX.assume_utc()),
        1 => Just(PrimitiveDateTime::MIN.assume_utc()),
    ])
}

/// The user's current deny policies: none, or up to two in the engine's forms (of now or
/// of earlier versions) over any namespaces, or hand-edited.
fn current() -> impl Strategy<Value = Vec<CurrentPart>> {
    let set = || proptest::collection::btree_set(mixed(), 0..8);
    let document = prop_oneof![
        Just(None),
        set().prop_map(|s| Some(action_document(&s).0)),
        set().prop_map(|s| Some(legacy_not_action_document(&s).0)),
        proptest::collection::vec(hostile(), 1..5).prop_map(|actions| {
            Some(PolicyDocument::new(vec![Statement {
                sid: None,
                effect: Effect::Deny,
                action: Some(Values(actions)),
                not_action: None,
                resource: Values::one("*".to_string()),
                condition: None,
            }]))
        }),
    ];
    proptest::collection::vec((document, any::<bool>()), 0..3).prop_map(|docs| {
        let mut parts: Vec<CurrentPart> = docs
            .into_iter()
            .enumerate()
            .map(|(i, (document, attached))| CurrentPart {
                name: part_name("AIDAUSERU", i + 1),
                arn: format!(
                    "arn:aws:iam::111122223333:policy/iam-janitor/{}",
                    part_name("AIDAUSERU", i + 1)
                ),
                attached,
                document,
            })
            .collect();
        parts.sort_by(|a, b| b.attached.cmp(&a.attached).then_with(|| a.name.cmp(&b.name)));
        parts
    })
}

/// The namespaces the attached documents name, as the engine may keep them (sticky).
fn named_by(parts: &[CurrentPart]) -> BTreeSet<String> {
    parts
        .iter()
        .filter(|p| p.attached)
        .filter_map(|p| p.document.as_ref())
        .flat_map(|d| &d.statement)
        .flat_map(|s| s.action.iter().chain(s.not_action.iter()))
        .flat_map(|v| &v.0)
        .filter_map(|a| a.split_once(':').map(|(ns, _)| ns.to_ascii_lowercase()))
        .collect()
}

proptest! {
    /// From any Access Advisor answer, previous policies and keep tag to the documents:
    /// either the answer is rejected (naming its first bad namespace), or every entry of
    /// every document is `<prefix>:*` for a service prefix the inputs named; never-deny
    /// and kept services are never denied; every document is an Action list with the
    /// direct-calls condition and fits, or the user needs review and nothing changes.
    #[test]
    fn only_service_prefixes_reach_a_deny_document(
        mut answer in prop_oneof![
            proptest::collection::vec((valid(), date()), 0..40),
            proptest::collection::vec((long(), date()), 100..800),
        ],
        bad in proptest::option::of((any::<prop::sample::Index>(), hostile(), date())),
        current in current(),
        keep in proptest::collection::btree_set(mixed(), 0..5),
        other_policies in 0usize..10,
    ) {
        if let Some((at, ns, d)) = bad {
            let at = at.index(answer.len() + 1);
            answer.insert(at, (ns, d));
        }
        let services: Vec<ServiceAccess> = answer
            .iter()
            .map(|(ns, d)| ServiceAccess { namespace: ns.clone(), name: format!("{ns:?}"), last_authenticated: *d })
            .collect();
        let first_bad = answer.iter().position(|(ns, _)| !reference_prefix(ns));
        let checked = match check_advisor_answer(services) {
            Err(e) => {
                prop_assert_eq!(Some(e.index), first_bad);
                prop_assert_eq!(&e.namespace, &answer[e.index].0);
                let start = format!("service {} has namespace \"", e.index);
                prop_assert!(e.to_string().starts_with(&start), "{}", e);
                return Ok(());
            }
            Ok(checked) => checked,
        };
        prop_assert_eq!(first_bad, None);
        // Merged: each namespace once, with its latest use.
        let input: BTreeSet<String> = answer.iter().map(|(ns, _)| ns.clone()).collect();
        prop_assert_eq!(checked.len(), input.len());
        for c in &checked {
            let latest = answer.iter().filter(|(ns, _)| *ns == c.namespace).map(|(_, d)| *d).max().flatten();
            prop_assert_eq!(c.last_authenticated, latest);
        }

        let settings = s();
        let sticky = named_by(&current);
        let mut u = user(400, &[], other_policies);
        u.attached_policy_arns.extend(current.iter().filter(|p| p.attached).map(|p| p.arn.clone()));
        let previous: Vec<Denied> = current
            .iter()
            .filter(|p| p.attached)
            .filter_map(|p| p.document.as_ref().and_then(denied_by))
            .collect();
        let used = none();
        let deny = deny_set(&checked, &previous, &keep, used_only(&used), &settings, NOW).deny;
        for ns in &deny {
            prop_assert!(reference_prefix(ns), "{:?}", ns);
            prop_assert!(input.contains(ns) || sticky.contains(ns), "{:?} from nowhere", ns);
            prop_assert!(!keep.contains(ns) && !settings.never_deny.contains(ns));
        }
        let listed: Vec<String> = deny.iter().cloned().collect();
        let (change, _) = decide(&checked, subject(&u, &current, &keep, &used), &settings, NOW);
        match &change {
            Change::Write { services, parts, detach } => {
                prop_assert_eq!(services, &listed);
                let mut written = BTreeSet::new();
                for part in parts {
                    prop_assert!(policy_size(&part.json) <= MAX_POLICY_SIZE);
                    let document: PolicyDocument = serde_json::from_str(&part.json).unwrap();
                    let [statement] = document.statement.as_slice() else {
                        return Err(TestCaseError::fail("one statement"));
                    };
                    prop_assert_eq!(statement.effect, Effect::Deny);
                    prop_assert!(statement.not_action.is_none());
                    prop_assert_eq!(statement.condition.as_ref(), Some(&direct_calls_only()));
                    let entries = &statement.action.as_ref().unwrap().0;
                    prop_assert!(!entries.is_empty());
                    for entry in entries {
                        let ns = entry.strip_suffix(":*").unwrap_or_default();
                        prop_assert!(reference_prefix(ns), "entry {:?}", entry);
                        prop_assert!(deny.contains(ns), "{:?} not in the deny set", entry);
                        written.insert(ns.to_string());
                    }
                }
                // Applied, the attached documents deny exactly the deny set.
                let after = applied(&current, &change);
                let denied: BTreeSet<String> = after
                    .iter()
                    .filter(|p| p.attached)
                    .filter_map(|p| p.document.as_ref().and_then(denied_by))
                    .flat_map(|d| match d {
                        Denied::Listed(s) => s,
                        Denied::AllExcept(_) => BTreeSet::from(["<not action>".to_string()]),
                    })
                    .collect();
                prop_assert_eq!(&denied, &deny);
                prop_assert!(after.iter().filter(|p| p.attached).count() <= MAX_DENY_POLICIES);
                prop_assert!(detach.iter().all(|a| current.iter().any(|p| &p.arn == a && p.attached)));
                // And deciding again changes nothing: idempotent.
                u.attached_policy_arns.retain(|a| !current.iter().any(|p| &p.arn == a));
                u.attached_policy_arns.extend(after.iter().filter(|p| p.attached).map(|p| p.arn.clone()));
                let (again, _) = decide(&checked, subject(&u, &after, &keep, &used), &settings, NOW);
                prop_assert_eq!(again, Change::None);
            }
            Change::NeedsReview { services, .. } => {
                prop_assert_eq!(services, &listed);
                let needed = split(&deny).len();
                let others = other_policies;
                prop_assert!(needed > MAX_DENY_POLICIES || others + needed > settings.policy_quota as usize);
            }
            Change::Detach { arns } => {
                prop_assert!(deny.is_empty());
                prop_assert_eq!(arns.len(), current.iter().filter(|p| p.attached).count());
            }
            Change::None => prop_assert!(
                deny.is_empty() && current.iter().all(|p| !p.attached) || !deny.is_empty()
            ),
        }
    }
}

#[test]
fn users_with_a_deny_policy_are_counted_as_the_run_leaves_them() {
    use crate::model::report::Kind;
    let arn = |name: &str| format!("arn:aws:iam::111122223333:policy/iam-janitor/{name}");
    let policy = |name: &str| JanitorPolicy {
        name: name.to_string(),
        arn: arn(name),
        attachments: 1,
        versions: Vec::new(),
    };
    let named = |name: &str, attached: &[String]| {
        let mut u = user(400, &[], 0);
        u.name = name.into();
        u.id = format!("AIDA{}", name.to_uppercase());
        u.attached_policy_arns = attached.to_vec();
        u
    };
    let report =
        crate::model::credential_report::parse(include_bytes!("../../tests/fixtures/credential-report-aws.csv"))
            .unwrap();
    let inventory = Inventory::new(
        report,
        None,
        vec![
            named("alice", &[arn("iam-janitor-deny-alice")]),
            named("bob", &[arn(&part_name("AIDABOB", 1)), arn(&part_name("AIDABOB", 2))]),
            // Not deny policies: another of the engine's names, another path, AWS's.
            named(
                "carol",
                &[
                    arn("iam-janitor-other-thing"),
                    "arn:aws:iam::111122223333:policy/elsewhere/iam-janitor-deny-carol".into(),
                    "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
                ],
            ),
            named("dave", &[]),
            named("erin", &[]),
        ],
        vec![
            policy("iam-janitor-deny-alice"),
            policy(&part_name("AIDABOB", 1)),
            policy(&part_name("AIDABOB", 2)),
            policy("iam-janitor-other-thing"),
        ],
    );
    assert_eq!(users_with_deny_policy(&inventory, []), 2, "alice and bob, bob once");

    let f = |user: &str, action, status| finding_of(user, Kind::UnusedServices, action, status);
    // Applied: dave gains one, alice loses hers, bob's update changes nothing. Planned
    // (report mode), failed and skipped findings change nothing.
    let findings = [
        f("dave", Action::AttachDenyPolicy, Status::Applied),
        f("alice", Action::DetachDenyPolicy, Status::Applied),
        f("bob", Action::AttachDenyPolicy, Status::Applied),
        f("erin", Action::AttachDenyPolicy, Status::Planned),
        f("carol", Action::AttachDenyPolicy, Status::Failed),
        f("bob", Action::DetachDenyPolicy, Status::Skipped),
    ];
    assert_eq!(users_with_deny_policy(&inventory, &findings), 2, "bob and dave");
}
