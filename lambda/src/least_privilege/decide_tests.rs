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
    let young = eligibility(&user(30, &[], 0), &none, &s(), NOW).unwrap_err();
    assert!(young.reason.starts_with("grace"));
    assert_eq!(young.code, ReasonCode::Grace);
    assert!(eligibility(&user(100, &[], 9), &none, &s(), NOW).is_ok());
    let full = eligibility(&user(100, &[], 10), &none, &s(), NOW).unwrap_err();
    assert!(full.reason.contains("quota of 10"));
    assert_eq!(full.code, ReasonCode::AttachedPolicyQuota);
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
    assert_eq!(deny_set(&merged, None, &BTreeSet::new(), &s(), NOW), set(&["ec2"]));
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
    assert_eq!(
        deny_set(&services, None, &BTreeSet::new(), &s(), NOW),
        set(&["s3", "sqs"])
    );
    for now in [
        NOW,
        PrimitiveDateTime::MIN.assume_utc(),
        PrimitiveDateTime::MAX.assume_utc(),
    ] {
        let _ = decide(&services, &CurrentPolicy::default(), &BTreeSet::new(), &s(), now);
    }
}

#[test]
fn an_edited_policy_cannot_make_the_engine_deny_a_wildcard() {
    // Someone edited the deny policy: `*:*` and `s?:*` are not carried over as sticky.
    let edited: PolicyDocument =
        serde_json::from_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*:*","s?:*","EC2:*",":*","*"],"Resource":"*"}]}"#)
            .unwrap();
    assert_eq!(denied_by(&edited), Some(Denied::Listed(set(&["ec2"]))));
    let current = CurrentPolicy {
        exists: true,
        attached: true,
        document: Some(edited),
    };
    let Change::Write { json, services, .. } = decide(&[svc("s3", ago(1))], &current, &BTreeSet::new(), &s(), NOW)
    else {
        panic!("expected a rewrite");
    };
    assert_eq!(services, ["ec2"]);
    assert!(json.contains(r#""Action":"ec2:*""#), "{json}");
}

#[test]
fn invalid_keep_and_never_deny_entries_stay_out_of_not_action() {
    let settings = LeastPrivilegeSettings {
        never_deny: set(&["sts", "-"]),
        ..s()
    };
    let allowed = allowed_set(
        &[svc("s3", ago(1))],
        &BTreeSet::new(),
        &set(&["*", "s3:*", "kms"]),
        &settings,
    );
    assert_eq!(allowed, set(&["kms", "s3", "sts"]));
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

/// The current deny policy: none, one in the engine's forms over any namespaces, or a
/// hand-edited one.
fn current() -> impl Strategy<Value = CurrentPolicy> {
    let set = || proptest::collection::btree_set(mixed(), 0..8);
    let document = prop_oneof![
        Just(None),
        set().prop_map(|s| Some(action_document(&s).0)),
        set().prop_map(|s| Some(not_action_document(&s).0)),
        proptest::collection::vec(hostile(), 1..5).prop_map(|actions| Some(statement(Some(Values(actions)), None))),
    ];
    (document, any::<bool>()).prop_map(|(document, attached)| CurrentPolicy {
        exists: document.is_some(),
        attached: attached && document.is_some(),
        document,
    })
}

/// The namespaces a previous document names, as the engine may keep them (sticky).
fn named_by(document: Option<&PolicyDocument>) -> BTreeSet<String> {
    document
        .into_iter()
        .flat_map(|d| &d.statement)
        .flat_map(|s| s.action.iter().chain(s.not_action.iter()))
        .flat_map(|v| &v.0)
        .filter_map(|a| a.split_once(':').map(|(ns, _)| ns.to_ascii_lowercase()))
        .collect()
}

proptest! {
    /// From any Access Advisor answer, previous policy and keep tag to the document:
    /// either the answer is rejected (naming its first bad namespace), or every entry of
    /// the document is `<prefix>:*` for a service prefix the inputs named; never-deny and
    /// kept services are never in an Action deny; the document fits, or the result is
    /// the TooLarge failure.
    #[test]
    fn only_service_prefixes_reach_a_deny_document(
        mut answer in prop_oneof![
            proptest::collection::vec((valid(), date()), 0..40),
            proptest::collection::vec((long(), date()), 100..800),
        ],
        bad in proptest::option::of((any::<prop::sample::Index>(), hostile(), date())),
        current in current(),
        keep in proptest::collection::btree_set(mixed(), 0..5),
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
        let sticky = named_by(current.document.as_ref());
        let previous = current.document.as_ref().and_then(denied_by);
        let deny = deny_set(&checked, previous.as_ref(), &keep, &settings, NOW);
        for ns in &deny {
            prop_assert!(reference_prefix(ns), "{:?}", ns);
            prop_assert!(input.contains(ns) || sticky.contains(ns), "{:?} from nowhere", ns);
            prop_assert!(!keep.contains(ns) && !settings.never_deny.contains(ns));
        }
        let listed: Vec<String> = deny.iter().cloned().collect();
        match decide(&checked, &current, &keep, &settings, NOW) {
            Change::Write { json, services, form, .. } => {
                prop_assert_eq!(&services, &listed);
                prop_assert!(policy_size(&json) <= MAX_POLICY_SIZE);
                let document: PolicyDocument = serde_json::from_str(&json).unwrap();
                let [statement] = document.statement.as_slice() else {
                    return Err(TestCaseError::fail("one statement"));
                };
                prop_assert_eq!(statement.effect, Effect::Deny);
                let entries = match form {
                    DocumentForm::Action => {
                        prop_assert!(statement.not_action.is_none());
                        statement.action.as_ref()
                    }
                    DocumentForm::NotAction => {
                        prop_assert!(statement.action.is_none());
                        statement.not_action.as_ref()
                    }
                };
                let entries = &entries.unwrap().0;
                prop_assert!(!entries.is_empty());
                for entry in entries {
                    let ns = entry.strip_suffix(":*").unwrap_or_default();
                    prop_assert!(reference_prefix(ns), "entry {:?}", entry);
                    prop_assert!(!entry.contains('?') && !ns.contains('*'), "entry {:?}", entry);
                    match form {
                        DocumentForm::Action => {
                            prop_assert!(input.contains(ns) || sticky.contains(ns), "{:?} from nowhere", entry);
                            prop_assert!(!keep.contains(ns) && !settings.never_deny.contains(ns), "{:?} kept", entry);
                        }
                        DocumentForm::NotAction => prop_assert!(
                            input.contains(ns) || keep.contains(ns) || settings.never_deny.contains(ns),
                            "{:?} from nowhere", entry
                        ),
                    }
                }
                if form == DocumentForm::Action {
                    let named: Vec<String> = entries.iter().map(|e| e.trim_end_matches(":*").to_string()).collect();
                    prop_assert_eq!(named, listed);
                } else {
                    // The fallback is taken only when the Action form does not fit.
                    prop_assert!(policy_size(&action_document(&deny).1) > MAX_POLICY_SIZE);
                    for ns in &settings.never_deny {
                        let entry = format!("{ns}:*");
                        prop_assert!(entries.contains(&entry), "{:?} missing", entry);
                    }
                }
            }
            Change::TooLarge { services, error } => {
                prop_assert_eq!(&services, &listed);
                prop_assert!(error.action_size > MAX_POLICY_SIZE);
                prop_assert!(error.not_action_size > MAX_POLICY_SIZE);
            }
            Change::Detach => prop_assert!(deny.is_empty() && current.attached),
            Change::None => prop_assert!(deny.is_empty() || current.attached),
        }
    }
}
