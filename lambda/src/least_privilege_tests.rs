#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::inventory::Tag;
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
    let deny = deny_set(&services, None, &BTreeSet::new(), &s(), NOW);
    assert_eq!(deny, set(&["dynamodb", "ec2"]));
}

#[test]
fn denies_are_sticky_until_the_keep_tag_lists_them() {
    // ec2 was denied; the user's denied attempts now show as recent access.
    let services = [svc("ec2", ago(1)), svc("s3", ago(1))];
    let previous = Denied::Listed(set(&["ec2"]));
    assert_eq!(
        deny_set(&services, Some(&previous), &BTreeSet::new(), &s(), NOW),
        set(&["ec2"])
    );
    assert!(deny_set(&services, Some(&previous), &set(&["ec2"]), &s(), NOW).is_empty());
}

#[test]
fn never_deny_wins_over_sticky() {
    let services = [svc("sts", None)];
    let previous = Denied::Listed(set(&["sts", "rds"]));
    assert_eq!(
        deny_set(&services, Some(&previous), &BTreeSet::new(), &s(), NOW),
        set(&["rds"])
    );
}

#[test]
fn kms_is_kept_while_a_service_that_uses_it_is_in_use() {
    let services = [svc("kms", None), svc("s3", ago(2)), svc("glacier", None)];
    assert_eq!(
        deny_set(&services, None, &BTreeSet::new(), &s(), NOW),
        set(&["glacier"])
    );
    let services = [svc("kms", None), svc("s3", None)];
    assert_eq!(
        deny_set(&services, None, &BTreeSet::new(), &s(), NOW),
        set(&["kms", "s3"])
    );
}

#[test]
fn keep_tag_parsing() {
    let u = user(400, &[("IAM-Janitor:Keep-Services", "S3, ec2;rds  sqs")], 0);
    assert_eq!(kept_services(&u, &s()), set(&["ec2", "rds", "s3", "sqs"]));
}

#[test]
fn document_is_sorted_compact_and_deterministic() {
    let (doc, json, form) = deny_document(&set(&["s3", "ec2"]), &set(&["sts"])).unwrap();
    assert_eq!(form, DocumentForm::Action);
    assert_eq!(
        json,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"IamJanitorDenyUnusedServices","Effect":"Deny","Action":["ec2:*","s3:*"],"Resource":"*"}]}"#
    );
    assert_eq!(denied_by(&doc), Some(Denied::Listed(set(&["ec2", "s3"]))));
}

#[test]
fn oversized_action_list_falls_back_to_not_action() {
    let deny: BTreeSet<String> = (0..400).map(|i| format!("averylongservicename{i:03}")).collect();
    let (doc, json, form) = deny_document(&deny, &set(&["s3", "sts", "iam"])).unwrap();
    assert_eq!(form, DocumentForm::NotAction);
    assert!(policy_size(&json) <= MAX_POLICY_SIZE);
    assert_eq!(denied_by(&doc), Some(Denied::AllExcept(set(&["iam", "s3", "sts"]))));
}

#[test]
fn neither_form_fits() {
    let deny: BTreeSet<String> = (0..400).map(|i| format!("averylongservicename{i:03}")).collect();
    let allowed: BTreeSet<String> = (0..400).map(|i| format!("anotherlongservicename{i:03}")).collect();
    let e = deny_document(&deny, &allowed).unwrap_err();
    assert!(e.action_size > MAX_POLICY_SIZE && e.not_action_size > MAX_POLICY_SIZE);
}

#[test]
fn sticky_from_a_not_action_policy() {
    let previous = Denied::AllExcept(set(&["s3", "sts"]));
    let services = [svc("s3", ago(1)), svc("ec2", ago(1)), svc("sts", ago(1))];
    assert_eq!(
        deny_set(&services, Some(&previous), &BTreeSet::new(), &s(), NOW),
        set(&["ec2"])
    );
}

#[test]
fn policy_names() {
    assert_eq!(policy_name("alice"), "iam-janitor-deny-alice");
    let long = "x".repeat(128);
    let name = policy_name(&long);
    assert_eq!(name.len(), 128);
    assert_ne!(policy_name(&long), policy_name(&format!("{}y", "x".repeat(127))));
    assert_eq!(
        policy_arn("aws", "111122223333", "a+b@c"),
        "arn:aws:iam::111122223333:policy/iam-janitor/iam-janitor-deny-a+b@c"
    );
}

#[test]
fn eligibility_grace_and_quota() {
    let none = CurrentPolicy::default();
    assert!(
        eligibility(&user(30, &[], 0), &none, &s(), NOW)
            .unwrap_err()
            .starts_with("grace")
    );
    assert!(eligibility(&user(100, &[], 9), &none, &s(), NOW).is_ok());
    assert!(
        eligibility(&user(100, &[], 10), &none, &s(), NOW)
            .unwrap_err()
            .contains("quota of 10")
    );
    // Our own policy already attached: the quota does not matter.
    let attached = CurrentPolicy {
        exists: true,
        attached: true,
        document: None,
    };
    assert!(eligibility(&user(100, &[], 10), &attached, &s(), NOW).is_ok());
}

#[test]
fn decide_first_attach_then_no_change_then_new_service() {
    let services = vec![svc("ec2", None), svc("s3", ago(1))];
    let Change::Write {
        json,
        services: listed,
        document_changed,
        ..
    } = decide(&services, &CurrentPolicy::default(), &BTreeSet::new(), &s(), NOW)
    else {
        panic!("expected a write");
    };
    assert!(document_changed);
    assert_eq!(listed, ["ec2"]);
    let current = CurrentPolicy {
        exists: true,
        attached: true,
        document: Some(serde_json::from_str(&json).unwrap()),
    };
    assert_eq!(decide(&services, &current, &BTreeSet::new(), &s(), NOW), Change::None);
    let mut more = services.clone();
    more.push(svc("rds", ago(200)));
    let Change::Write { services: listed, .. } = decide(&more, &current, &BTreeSet::new(), &s(), NOW) else {
        panic!("expected a new version");
    };
    assert_eq!(listed, ["ec2", "rds"]);
    // Detached by someone: attach again, document unchanged.
    let detached = CurrentPolicy {
        attached: false,
        ..current.clone()
    };
    let Change::Write { document_changed, .. } = decide(&services, &detached, &BTreeSet::new(), &s(), NOW) else {
        panic!("expected an attach");
    };
    assert!(!document_changed);
    // Everything kept: detach.
    assert_eq!(decide(&services, &current, &set(&["ec2"]), &s(), NOW), Change::Detach);
}

proptest! {
    /// Whatever the data, never-deny and kept services are never denied, and a service
    /// used within the window is denied only if it was denied before.
    #[test]
    fn deny_set_invariants(
        data in proptest::collection::vec(("[a-z]{2,8}", proptest::option::of(0i64..500)), 0..40),
        previous in proptest::collection::btree_set("[a-z]{2,8}", 0..5),
        keep in proptest::collection::btree_set("[a-z]{2,8}", 0..5),
    ) {
        let services: Vec<ServiceAccess> = data.iter().map(|(ns, d)| svc(ns, d.and_then(ago))).collect();
        let prev = Denied::Listed(previous.clone());
        let deny = deny_set(&services, Some(&prev), &keep, &s(), NOW);
        for ns in &deny {
            prop_assert!(!keep.contains(ns));
            prop_assert!(!s().never_deny.contains(ns));
        }
        for (ns, d) in &data {
            let recently_used = d.is_some_and(|d| d <= 90)
                && data.iter().filter(|(n, _)| n == ns).all(|(_, d)| d.is_some_and(|d| d <= 90));
            if recently_used && !previous.contains(ns) {
                prop_assert!(!deny.contains(ns), "{} used recently but denied", ns);
            }
        }
        if let Ok((_, json, _)) = deny_document(&deny, &allowed_set(&services, &deny, &keep, &s())) {
            prop_assert!(policy_size(&json) <= MAX_POLICY_SIZE);
        }
    }
}
