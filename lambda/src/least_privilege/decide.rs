//! Least privilege from IAM Access Advisor: which services to deny a user, and the deny
//! policy document. Pure functions of (Access Advisor data, the current deny policy,
//! settings, now); the engine does the I/O.
//!
//! The deny set of a user is:
//!
//! - every service the user's policies allow (Access Advisor lists it) that was never
//!   authenticated to, or not within `unused_service_days`;
//! - plus every service already in the user's deny policy (**sticky**): a denied attempt
//!   counts as access in Access Advisor, so newer access data cannot be trusted to lift a
//!   deny; the way back is the keep-services tag;
//! - minus the services in the user's keep-services tag (`iam-janitor:keep-services =
//!   s3,ec2`) and the never-deny list;
//! - minus `kms` while a service that calls KMS on the user's behalf (forward access
//!   sessions: S3 with SSE-KMS, EBS, Secrets Manager…) is still in use, because Access
//!   Advisor is not documented to show those calls as KMS use.
//!
//! Access Advisor answers are checked first ([`check_advisor_answer`]): an answer with a
//! namespace that is not a service prefix (`*`, `s?`, `S3`, `s3:Get`, empty…) is rejected
//! for that user and never acted on, since `*:*` or `s?:*` would deny far more than one
//! unused service; duplicate namespaces are merged keeping the most recent use. Only
//! service prefixes ever reach a document: invalid ones read from an edited deny policy,
//! a keep tag or the never-deny list are ignored.
//!
//! The document is one Deny statement with the sorted `namespace:*` actions on `*`. When
//! that exceeds the 6,144-character managed-policy limit, the fallback is a `NotAction`
//! over the services still in use (plus never-deny and kept ones): it fits any user, but
//! also denies services granted to the user later, so it is a fallback, not the default.

use std::collections::BTreeSet;

use iam_janitor_cfn::policy::{Effect, PolicyDocument, Statement, Values, policy_size};
use time::OffsetDateTime;

use crate::model::inventory::UserDetails;
use crate::model::report::ReasonCode;
use crate::model::services::{ServiceAccess, is_service_prefix, parse_service_list};
use crate::settings::LeastPrivilegeSettings;
use crate::trail::POLICY_PATH;

/// IAM's managed-policy document limit (characters, whitespace not counted).
pub const MAX_POLICY_SIZE: usize = 6_144;
/// Policy names are `<prefix><user name>`.
pub const POLICY_NAME_PREFIX: &str = "iam-janitor-deny-";
/// Policy names are at most 128 characters.
const MAX_POLICY_NAME: usize = 128;
/// The statement ID of the deny statement.
pub const STATEMENT_SID: &str = "IamJanitorDenyUnusedServices";
/// Services that call KMS on the user's behalf (forward access sessions).
const KMS_CALLERS: &[&str] = &[
    "s3",
    "ec2",
    "ebs",
    "rds",
    "dynamodb",
    "secretsmanager",
    "ssm",
    "sqs",
    "sns",
    "logs",
    "lambda",
    "kinesis",
    "firehose",
    "glue",
    "redshift",
    "elasticfilesystem",
    "backup",
    "athena",
    "sagemaker",
];

/// An Access Advisor answer the engine does not act on: service `index` (0-based, in
/// the order IAM listed them) has a namespace that is not a service prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedAnswer {
    pub index: usize,
    pub namespace: String,
}

impl std::fmt::Display for MalformedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Shown escaped, and cut: the value ends up in the report and the Slack digest.
        const SHOWN: usize = 80;
        let shown: String = self.namespace.chars().take(SHOWN).collect();
        write!(f, "service {} has namespace {shown:?}", self.index)?;
        let total = self.namespace.chars().count();
        if total > SHOWN {
            write!(f, " (cut, {total} characters)")?;
        }
        write!(f, ", not a service prefix")
    }
}

impl std::error::Error for MalformedAnswer {}

/// Checks a user's Access Advisor answer before anything is decided from it.
///
/// Rejects the whole answer if any namespace is not a service prefix
/// ([`is_service_prefix`]): malformed data is reported, never acted on. Merges
/// duplicate namespaces (first position and name kept) with the most recent
/// `last_authenticated` (any date beats none): recent use only ever spares a service.
/// Dates are not judged: a future one counts as recent use, the safe direction.
pub fn check_advisor_answer(services: Vec<ServiceAccess>) -> Result<Vec<ServiceAccess>, MalformedAnswer> {
    if let Some((index, bad)) = services
        .iter()
        .enumerate()
        .find(|(_, s)| !is_service_prefix(&s.namespace))
    {
        return Err(MalformedAnswer {
            index,
            namespace: bad.namespace.clone(),
        });
    }
    let mut merged: Vec<ServiceAccess> = Vec::with_capacity(services.len());
    let mut position: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for service in services {
        match position.get(&service.namespace).and_then(|&i| merged.get_mut(i)) {
            // `Option`'s order: `None` < any `Some`, later dates greater.
            Some(first) => first.last_authenticated = first.last_authenticated.max(service.last_authenticated),
            None => {
                position.insert(service.namespace.clone(), merged.len());
                merged.push(service);
            }
        }
    }
    Ok(merged)
}

/// What a deny policy currently denies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The listed namespaces (the default form).
    Listed(BTreeSet<String>),
    /// Everything but these namespaces (the `NotAction` fallback).
    AllExcept(BTreeSet<String>),
}

impl Denied {
    fn denies(&self, namespace: &str) -> bool {
        match self {
            Denied::Listed(s) => s.contains(namespace),
            Denied::AllExcept(s) => !s.contains(namespace),
        }
    }
}

/// The namespace of an action pattern (`s3:*` → `s3`), if it is a service prefix (not
/// `*:*` or `s?:*` in a hand-edited policy).
fn namespace_of(action: &str) -> Option<String> {
    let (ns, _) = action.split_once(':')?;
    let ns = ns.to_ascii_lowercase();
    is_service_prefix(&ns).then_some(ns)
}

/// Reads what one of our deny policies denies. `None` if the document is not in the
/// engine's form (someone edited it): the engine then treats it as denying nothing and
/// rewrites it, which the report shows. Entries whose namespace is not a service prefix
/// are left out (and so dropped at the next rewrite).
pub fn denied_by(document: &PolicyDocument) -> Option<Denied> {
    let [statement] = document.statement.as_slice() else {
        return None;
    };
    if statement.effect != Effect::Deny {
        return None;
    }
    let collect = |values: &Values<String>| values.0.iter().filter_map(|a| namespace_of(a)).collect();
    match (&statement.action, &statement.not_action) {
        (Some(actions), None) => Some(Denied::Listed(collect(actions))),
        (None, Some(not_actions)) => Some(Denied::AllExcept(collect(not_actions))),
        _ => None,
    }
}

/// The services the user's keep-services tag lists (tag keys compared case-insensitively).
pub fn kept_services(user: &UserDetails, settings: &LeastPrivilegeSettings) -> BTreeSet<String> {
    user.tags
        .iter()
        .filter(|t| t.key.eq_ignore_ascii_case(&settings.keep_services_tag))
        .flat_map(|t| parse_service_list(&t.value))
        .collect()
}

/// The namespaces to deny.
pub fn deny_set(
    services: &[ServiceAccess],
    previous: Option<&Denied>,
    keep: &BTreeSet<String>,
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> BTreeSet<String> {
    let limit = i64::from(settings.unused_service_days);
    let unused = |s: &ServiceAccess| s.last_authenticated.is_none_or(|t| (now - t).whole_days() > limit);
    let mut deny: BTreeSet<String> = services
        .iter()
        .filter(|s| unused(s) || previous.is_some_and(|p| p.denies(&s.namespace)))
        .map(|s| s.namespace.to_ascii_lowercase())
        .collect();
    // Sticky denies of services the report no longer lists stay too (harmless, and
    // lifting them needs the keep tag like any other).
    if let Some(Denied::Listed(previously)) = previous {
        deny.extend(previously.iter().cloned());
    }
    // Only service prefixes are ever denied, even if the caller skipped `check_advisor_answer`.
    deny.retain(|ns| is_service_prefix(ns) && !keep.contains(ns) && !settings.never_deny.contains(ns));
    let kms_caller_in_use = services
        .iter()
        .any(|s| KMS_CALLERS.contains(&s.namespace.as_str()) && !deny.contains(&s.namespace));
    if kms_caller_in_use {
        deny.remove("kms");
    }
    deny
}

/// The form a document took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentForm {
    /// `Action` lists the denied services.
    Action,
    /// `NotAction` lists the services still allowed (the size fallback).
    NotAction,
}

/// No form of the document fits IAM's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the deny policy does not fit IAM's {MAX_POLICY_SIZE}-character limit in either form ({action_size} with Action, {not_action_size} with NotAction)"
)]
pub struct TooLarge {
    pub action_size: usize,
    pub not_action_size: usize,
}

fn statement(action: Option<Values<String>>, not_action: Option<Values<String>>) -> PolicyDocument {
    PolicyDocument::new(vec![Statement {
        sid: Some(STATEMENT_SID.to_string()),
        effect: Effect::Deny,
        action,
        not_action,
        resource: Values::one("*".to_string()),
        condition: None,
    }])
}

fn wildcards(namespaces: &BTreeSet<String>) -> Values<String> {
    Values(namespaces.iter().map(|ns| format!("{ns}:*")).collect())
}

/// The default form: `Action` lists the denied services. Returns the document and its
/// compact JSON.
pub fn action_document(deny: &BTreeSet<String>) -> (PolicyDocument, String) {
    let document = statement(Some(wildcards(deny)), None);
    let json = document.to_compact_json().unwrap_or_default();
    (document, json)
}

/// The fallback form: `NotAction` lists the services that stay allowed.
pub fn not_action_document(allowed: &BTreeSet<String>) -> (PolicyDocument, String) {
    let document = statement(None, Some(wildcards(allowed)));
    let json = document.to_compact_json().unwrap_or_default();
    (document, json)
}

/// Builds the deny document and its compact JSON. `allowed` are the namespaces that
/// must stay usable in the `NotAction` fallback (in use, kept, never-deny).
pub fn deny_document(
    deny: &BTreeSet<String>,
    allowed: &BTreeSet<String>,
) -> Result<(PolicyDocument, String, DocumentForm), TooLarge> {
    let (by_action, json) = action_document(deny);
    let action_size = policy_size(&json);
    if action_size <= MAX_POLICY_SIZE && !json.is_empty() {
        return Ok((by_action, json, DocumentForm::Action));
    }
    let (by_not_action, json) = not_action_document(allowed);
    let not_action_size = policy_size(&json);
    if not_action_size <= MAX_POLICY_SIZE && !json.is_empty() && !allowed.is_empty() {
        return Ok((by_not_action, json, DocumentForm::NotAction));
    }
    Err(TooLarge {
        action_size,
        not_action_size,
    })
}

/// The namespaces that stay allowed in the `NotAction` fallback: every listed service
/// not denied, plus the kept and never-deny ones; service prefixes only (a keep tag
/// saying `*` does not turn the fallback into "deny nothing").
pub fn allowed_set(
    services: &[ServiceAccess],
    deny: &BTreeSet<String>,
    keep: &BTreeSet<String>,
    settings: &LeastPrivilegeSettings,
) -> BTreeSet<String> {
    services
        .iter()
        .map(|s| s.namespace.to_ascii_lowercase())
        .filter(|ns| !deny.contains(ns))
        .chain(keep.iter().cloned())
        .chain(settings.never_deny.iter().cloned())
        .filter(|ns| is_service_prefix(ns))
        .collect()
}

/// The deny policy as it is now, from the bulk listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentPolicy {
    /// Whether the policy exists.
    pub exists: bool,
    /// Whether it is attached to the user.
    pub attached: bool,
    /// Its default version's document, if it could be read.
    pub document: Option<PolicyDocument>,
}

/// Whether a user is looked at, before any Access Advisor call.
pub fn eligibility(
    user: &UserDetails,
    current: &CurrentPolicy,
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> Result<(), Ineligible> {
    let age = (now - user.create_date).whole_days();
    if age < i64::from(settings.unused_service_days) {
        return Err(Ineligible::new(
            ReasonCode::Grace,
            format!(
                "grace: user created {} ({age} days ago), younger than {} days",
                user.create_date.date(),
                settings.unused_service_days
            ),
        ));
    }
    if !current.attached && user.attached_policy_arns.len() >= settings.policy_quota as usize {
        return Err(Ineligible::new(
            ReasonCode::AttachedPolicyQuota,
            format!(
                "the user already has {} managed policies attached, the quota of {}: the deny policy cannot be attached \
             (raise the AttachedPoliciesPerUser quota, up to 20, and --policy-quota)",
                user.attached_policy_arns.len(),
                settings.policy_quota
            ),
        ));
    }
    Ok(())
}

/// Why a user gets no Access Advisor job this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ineligible {
    pub code: ReasonCode,
    pub reason: String,
}

impl Ineligible {
    fn new(code: ReasonCode, reason: String) -> Ineligible {
        Ineligible { code, reason }
    }
}

/// What to do with a user's deny policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The policy is current (or there is nothing to deny and no policy).
    None,
    /// Write this document (create the policy or add a version) and make sure it is attached.
    Write {
        json: String,
        services: Vec<String>,
        form: DocumentForm,
        /// Whether the document differs from the current one (else only an attach is needed).
        document_changed: bool,
    },
    /// Nothing is left to deny: detach the policy (kept, with its versions, as history).
    Detach,
    /// No form of the document fits.
    TooLarge { services: Vec<String>, error: TooLarge },
}

/// Decides a user's change from Access Advisor data and the current policy.
pub fn decide(
    services: &[ServiceAccess],
    current: &CurrentPolicy,
    keep: &BTreeSet<String>,
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> Change {
    let previous = current.document.as_ref().and_then(denied_by);
    let deny = deny_set(services, previous.as_ref(), keep, settings, now);
    if deny.is_empty() {
        return if current.attached { Change::Detach } else { Change::None };
    }
    let allowed = allowed_set(services, &deny, keep, settings);
    let listed: Vec<String> = deny.iter().cloned().collect();
    match deny_document(&deny, &allowed) {
        Err(error) => Change::TooLarge {
            services: listed,
            error,
        },
        Ok((document, json, form)) => {
            let document_changed = current.document.as_ref() != Some(&document);
            if !document_changed && current.attached {
                Change::None
            } else {
                Change::Write {
                    json,
                    services: listed,
                    form,
                    document_changed,
                }
            }
        }
    }
}

/// The deny policy's name for a user: `iam-janitor-deny-<user>`, or, for legacy user
/// names too long for IAM's 128-character policy names, a truncated name plus a stable
/// hash of the full name.
pub fn policy_name(user: &str) -> String {
    let name = format!("{POLICY_NAME_PREFIX}{user}");
    if name.len() <= MAX_POLICY_NAME {
        return name;
    }
    let hash = fnv1a64(user.as_bytes());
    let keep = MAX_POLICY_NAME - POLICY_NAME_PREFIX.len() - 17;
    let truncated: String = user.chars().take(keep).collect();
    format!("{POLICY_NAME_PREFIX}{truncated}-{hash:016x}")
}

/// The deny policy's ARN in an account.
pub fn policy_arn(partition: &str, account_id: &str, user: &str) -> String {
    format!(
        "arn:{partition}:iam::{account_id}:policy{POLICY_PATH}{}",
        policy_name(user)
    )
}

/// FNV-1a, 64 bit: a stable hash with no dependency (not for security).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
