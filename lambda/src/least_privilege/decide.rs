//! Least privilege from IAM Access Advisor: which services to deny a user, and the deny
//! policy documents. Pure functions of (Access Advisor data, the user's current deny
//! policies, settings, now); the engine does the I/O.
//!
//! The deny set of a user is:
//!
//! - every service the user's policies allow (Access Advisor lists it) that was never
//!   authenticated to, or not within `unused_service_days`;
//! - minus every service the credential report shows one of the user's access keys used
//!   within those days (`access_key_N_last_used_service`): Access Advisor does not track
//!   every Region, so the report's word spares a service;
//! - plus every service already denied by one of the user's deny policies (**sticky**):
//!   a denied attempt counts as access in Access Advisor, so newer access data cannot be
//!   trusted to lift a deny; the way back is the keep-services tag;
//! - minus the services in the user's keep-services tag (`iam-janitor:keep-services =
//!   s3,ec2`) and the never-deny list.
//!
//! Every deny statement applies only to calls the user makes directly: its condition
//! `BoolIfExists aws:ViaAWSService false` leaves alone the calls a service makes with the
//! user's identity (forward access sessions: Athena reading S3 and Glue, S3 calling KMS,
//! CloudFormation without a service role), which Access Advisor does not count as the
//! user's use of those services.
//!
//! Only `Action` lists are written, never `NotAction`: Access Advisor does not list access
//! granted by resource policies alone (bucket, key and secret policies), so "deny all but
//! what is in use" would deny it. A deny list longer than one managed policy (6,144
//! characters) is split over up to [`MAX_DENY_POLICIES`] policies; beyond that, or beyond
//! the user's attached-policy quota, the user needs review and nothing is changed.
//! Policies written in the `NotAction` form by earlier versions are read (what they denied
//! stays denied) and rewritten in the `Action` form.
//!
//! A user's policies are found by attachment, not by name: a renamed user keeps them.
//! New ones are named after the user's stable ID ([`part_name`]).

use std::collections::BTreeSet;

use std::collections::{BTreeMap, HashMap, HashSet};

use iam_janitor_cfn::policy::{Condition, Effect, PolicyDocument, Statement, Values, policy_size};
use time::OffsetDateTime;

use crate::model::credential_report::{CredentialRow, Observed};
use crate::model::inventory::{Inventory, JanitorPolicy, UserDetails};
use crate::model::report::{Action, Finding, ReasonCode, Status};
use crate::model::services::{ServiceAccess, is_service_prefix, parse_service_list};
use crate::model::state::UserMemory;
use crate::settings::LeastPrivilegeSettings;
use crate::trail::POLICY_PATH;

/// IAM's managed-policy document limit (characters, whitespace not counted).
pub const MAX_POLICY_SIZE: usize = 6_144;
/// Policy names are `<prefix><user ID>[-<part>]` (earlier versions: `<prefix><user name>`).
pub const POLICY_NAME_PREFIX: &str = "iam-janitor-deny-";
/// Policy names are at most 128 characters.
const MAX_POLICY_NAME: usize = 128;
/// The statement ID of the deny statement.
pub const STATEMENT_SID: &str = "IamJanitorDenyUnusedServices";
/// At most this many deny policies per user. Two hold every service prefix AWS has
/// (about 450, some 5,500 characters in all); the third is headroom. Each counts
/// against the user's attached-policy quota (10 by default) and the account's customer
/// managed policy quota (1,500 by default).
pub const MAX_DENY_POLICIES: usize = 3;
/// The condition key set to `true` on the calls a service makes with the user's identity.
pub const VIA_AWS_SERVICE: &str = "aws:ViaAWSService";
/// The operator: matches when the key is `false` or absent, so every direct call is denied.
pub const DIRECT_CALLS_OPERATOR: &str = "BoolIfExists";

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

/// The condition every deny statement carries: it applies only to calls the user makes
/// directly, never to those an AWS service makes with the user's identity.
pub fn direct_calls_only() -> Condition<String> {
    BTreeMap::from([(
        DIRECT_CALLS_OPERATOR.to_string(),
        BTreeMap::from([(VIA_AWS_SERVICE.to_string(), Values::one("false".to_string()))]),
    )])
}

/// Reads what one of our deny policies denies. `None` if the document is not in a form
/// the engine writes or wrote (someone edited it): the engine then treats it as denying
/// nothing and rewrites it, which the report shows. Documents of earlier versions
/// (without the condition, or in the `NotAction` form) are read. Entries whose namespace
/// is not a service prefix are left out (and so dropped at the next rewrite).
pub fn denied_by(document: &PolicyDocument) -> Option<Denied> {
    let [statement] = document.statement.as_slice() else {
        return None;
    };
    if statement.effect != Effect::Deny {
        return None;
    }
    if statement.condition.as_ref().is_some_and(|c| *c != direct_calls_only()) {
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

/// The services to deny, and those unused but spared, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DenySet {
    pub deny: BTreeSet<String>,
    /// Unused by Access Advisor's account, but the credential report shows an access
    /// key of the user used them within the limit: not denied.
    pub spared_by_report: BTreeSet<String>,
    /// Unused, but granted since the user was first checked and listed for no more than
    /// the limit: not denied yet. With when each was first listed.
    pub in_grace: BTreeMap<String, OffsetDateTime>,
}

/// What besides Access Advisor speaks for a user's services.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Services the credential report shows the user's access keys used within the limit.
    pub recently_used: &'a BTreeSet<String>,
    /// Services granted since the user was first checked, with when each was first
    /// listed ([`new_grants`]).
    pub granted: &'a BTreeMap<String, OffsetDateTime>,
}

impl Evidence<'static> {
    /// Nothing besides Access Advisor.
    pub const NONE: Evidence<'static> = Evidence {
        recently_used: &BTreeSet::new(),
        granted: &BTreeMap::new(),
    };
}

/// The namespaces to deny. `previous`: what the user's attached deny policies deny now.
pub fn deny_set(
    services: &[ServiceAccess],
    previous: &[Denied],
    keep: &BTreeSet<String>,
    evidence: Evidence<'_>,
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> DenySet {
    let limit = i64::from(settings.unused_service_days);
    let unused = |s: &ServiceAccess| s.last_authenticated.is_none_or(|t| (now - t).whole_days() > limit);
    let sticky = |ns: &str| previous.iter().any(|p| p.denies(ns));
    let mut spared_by_report = BTreeSet::new();
    let mut in_grace = BTreeMap::new();
    let mut deny = BTreeSet::new();
    for s in services {
        let ns = s.namespace.to_ascii_lowercase();
        if sticky(&ns) {
            deny.insert(ns);
        } else if unused(s) {
            if evidence.recently_used.contains(&ns) {
                spared_by_report.insert(ns);
            } else if let Some(listed) = evidence.granted.get(&ns).filter(|t| (now - **t).whole_days() <= limit) {
                in_grace.insert(ns, *listed);
            } else {
                deny.insert(ns);
            }
        }
    }
    // Sticky denies of services Access Advisor no longer lists stay too (harmless, and
    // lifting them needs the keep tag like any other).
    for p in previous {
        if let Denied::Listed(previously) = p {
            deny.extend(previously.iter().cloned());
        }
    }
    // Only service prefixes are ever denied, even if the caller skipped `check_advisor_answer`.
    let allowed = |ns: &String| is_service_prefix(ns) && !keep.contains(ns) && !settings.never_deny.contains(ns);
    deny.retain(allowed);
    spared_by_report.retain(allowed);
    in_grace.retain(|ns, _| allowed(ns));
    DenySet {
        deny,
        spared_by_report,
        in_grace,
    }
}

/// The services Access Advisor lists that were granted since the engine first checked
/// the user, with when each was first listed (now, for those listed for the first time).
/// Empty at the first check (no memory): today's rule, the user's age, applies to
/// everything then.
pub fn new_grants(
    memory: Option<&UserMemory>,
    services: &[ServiceAccess],
    now: OffsetDateTime,
) -> BTreeMap<String, OffsetDateTime> {
    let Some(memory) = memory else {
        return BTreeMap::new();
    };
    services
        .iter()
        .map(|s| s.namespace.to_ascii_lowercase())
        .filter_map(|ns| match memory.services.get(&ns) {
            // Not listed at the last check: granted since, listed for the first time now.
            None => Some((ns, now)),
            // Listed since a check after the first one.
            Some(&listed) => (listed > memory.first_checked).then_some((ns, listed)),
        })
        .collect()
}

/// What to remember of a user after a check: the services listed now, each with when it
/// was first listed, and the policies the engine manages for the user.
pub fn remember(
    memory: Option<&UserMemory>,
    user: &UserDetails,
    services: &[ServiceAccess],
    policies: Vec<String>,
    now: OffsetDateTime,
) -> UserMemory {
    let first_checked = memory.map_or(now, |m| m.first_checked);
    UserMemory {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        first_checked,
        checked_at: now,
        services: services
            .iter()
            .map(|s| s.namespace.to_ascii_lowercase())
            .map(|ns| {
                let listed = match memory {
                    Some(m) => m.services.get(&ns).copied().unwrap_or_else(|| {
                        // First listed after the first check: remembered as later than it,
                        // even within the same second (two runs in a row).
                        now.max(m.first_checked + time::Duration::SECOND)
                    }),
                    None => now,
                };
                (ns, listed)
            })
            .collect(),
        policies,
    }
}

/// One deny document (one policy): the sorted `namespace:*` actions on `*`, for direct
/// calls only. Returns the document and its compact JSON.
pub fn action_document(deny: &BTreeSet<String>) -> (PolicyDocument, String) {
    let document = PolicyDocument::new(vec![Statement {
        sid: Some(STATEMENT_SID.to_string()),
        effect: Effect::Deny,
        action: Some(Values(deny.iter().map(|ns| format!("{ns}:*")).collect())),
        not_action: None,
        resource: Values::one("*".to_string()),
        condition: Some(direct_calls_only()),
    }]);
    let json = document.to_compact_json().unwrap_or_default();
    (document, json)
}

/// The document form of earlier versions for very broad users: deny everything but
/// `allowed`. Never written by the engine any more; `restore` keeps a policy of that form
/// working until the next run rewrites it.
pub fn legacy_not_action_document(allowed: &BTreeSet<String>) -> (PolicyDocument, String) {
    let document = PolicyDocument::new(vec![Statement {
        sid: Some(STATEMENT_SID.to_string()),
        effect: Effect::Deny,
        action: None,
        not_action: Some(Values(allowed.iter().map(|ns| format!("{ns}:*")).collect())),
        resource: Values::one("*".to_string()),
        condition: None,
    }]);
    let json = document.to_compact_json().unwrap_or_default();
    (document, json)
}

/// Splits a deny set into parts whose documents each fit IAM's size limit, in order.
pub fn split(deny: &BTreeSet<String>) -> Vec<BTreeSet<String>> {
    let mut parts: Vec<BTreeSet<String>> = Vec::new();
    let mut current = BTreeSet::new();
    for ns in deny {
        current.insert(ns.clone());
        if current.len() > 1 && policy_size(&action_document(&current).1) > MAX_POLICY_SIZE {
            current.remove(ns);
            parts.push(std::mem::take(&mut current));
            current.insert(ns.clone());
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// The name of a user's deny policy: part 1 is `iam-janitor-deny-<user ID>`, the next
/// ones `…-2`, `…-3`. Named after the ID, which a rename keeps.
pub fn part_name(user_id: &str, part: usize) -> String {
    if part <= 1 {
        format!("{POLICY_NAME_PREFIX}{user_id}")
    } else {
        format!("{POLICY_NAME_PREFIX}{user_id}-{part}")
    }
}

/// Whether a policy name is one [`part_name`] makes for this user ID.
fn is_part_of(name: &str, user_id: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(POLICY_NAME_PREFIX)
        .and_then(|r| r.strip_prefix(user_id))
    else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The user ID a policy name would be made from by [`part_name`]: the name without the
/// prefix, and without a `-<digits>` part number (IDs have no hyphens).
fn id_in_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(POLICY_NAME_PREFIX)?;
    Some(match rest.rsplit_once('-') {
        Some((id, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => rest,
    })
}

/// The name earlier versions gave a user's deny policy: `iam-janitor-deny-<user name>`
/// (truncated plus a stable hash for names too long). Such policies are still found by
/// attachment and kept.
pub fn legacy_policy_name(user: &str) -> String {
    let name = format!("{POLICY_NAME_PREFIX}{user}");
    if name.len() <= MAX_POLICY_NAME {
        return name;
    }
    let hash = fnv1a64(user.as_bytes());
    let keep = MAX_POLICY_NAME - POLICY_NAME_PREFIX.len() - 17;
    let truncated: String = user.chars().take(keep).collect();
    format!("{POLICY_NAME_PREFIX}{truncated}-{hash:016x}")
}

/// How many users have one of the engine's deny policies (under [`POLICY_PATH`], named
/// `iam-janitor-deny-…`) attached once `findings` are done: those the inventory shows
/// with one, plus those an applied `attach_deny_policy` gave one, minus those an applied
/// `detach_deny_policy` left without. Planned and failed findings change nothing.
pub fn users_with_deny_policy<'a>(inventory: &Inventory, findings: impl IntoIterator<Item = &'a Finding>) -> usize {
    let deny_policy = |arn: &String| {
        arn.rsplit('/')
            .next()
            .and_then(|name| inventory.policies.get(name))
            .is_some_and(|p| &p.arn == arn && p.name.starts_with(POLICY_NAME_PREFIX))
    };
    let mut denied: HashSet<&str> = inventory
        .details
        .values()
        .filter(|u| u.attached_policy_arns.iter().any(deny_policy))
        .map(|u| u.name.as_str())
        .collect();
    for f in findings.into_iter().filter(|f| f.status == Status::Applied) {
        match f.action {
            Action::AttachDenyPolicy => {
                denied.insert(f.user.as_str());
            }
            Action::DetachDenyPolicy => {
                denied.remove(f.user.as_str());
            }
            _ => {}
        }
    }
    denied.len()
}

/// The ARN of a policy under [`POLICY_PATH`] in the account of a user ARN.
pub fn policy_arn_in(user_arn: &str, name: &str) -> String {
    let mut parts = user_arn.split(':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or("");
    format!("arn:{partition}:iam::{account}:policy{POLICY_PATH}{name}")
}

/// One of the user's deny policies as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPart {
    pub name: String,
    pub arn: String,
    pub attached: bool,
    /// Its default version's document, if it could be read.
    pub document: Option<PolicyDocument>,
}

/// The user's deny policies, found by attachment rather than by name: every policy under
/// [`POLICY_PATH`] named `iam-janitor-deny-…` that is attached to the user and to no one
/// else (unless named after this user's ID), plus the detached ones named after the
/// user's ID (kept as history, and used again). A policy named after another user's ID
/// (`ids`: every user ID of the account) is that user's. Attached ones first, then by
/// name. `policies`: the account's deny policies by name.
pub fn owned_parts(
    user: &UserDetails,
    policies: &HashMap<String, JanitorPolicy>,
    ids: &HashSet<&str>,
) -> Vec<CurrentPart> {
    let by_arn = |arn: &String| policies.get(arn.rsplit('/').next()?).filter(|p| &p.arn == arn);
    let attached = user.attached_policy_arns.iter().filter_map(by_arn).filter(|p| {
        p.name.starts_with(POLICY_NAME_PREFIX)
            && (is_part_of(&p.name, &user.id)
                || (p.attachments <= 1 && !id_in_name(&p.name).is_some_and(|id| ids.contains(id))))
    });
    let by_id = (1..=MAX_DENY_POLICIES + 2)
        .filter_map(|n| policies.get(&part_name(&user.id, n)))
        .filter(|p| !user.attached_policy_arns.contains(&p.arn));
    let mut parts: Vec<CurrentPart> = attached
        .chain(by_id)
        .map(|p| CurrentPart {
            name: p.name.clone(),
            arn: p.arn.clone(),
            attached: user.attached_policy_arns.contains(&p.arn),
            document: p
                .default_document()
                .and_then(|d| serde_json::from_str::<PolicyDocument>(d).ok()),
        })
        .collect();
    parts.sort_by(|a, b| b.attached.cmp(&a.attached).then_with(|| a.name.cmp(&b.name)));
    parts.dedup_by(|a, b| a.arn == b.arn);
    parts
}

/// Per user, the services the credential report shows one of their access keys last
/// used within `unused_service_days` (`access_key_N_last_used_service`): never denied,
/// whatever Access Advisor says, since Access Advisor does not track every Region.
pub fn recently_used_services(
    rows: &[CredentialRow],
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> HashMap<String, BTreeSet<String>> {
    let limit = i64::from(settings.unused_service_days);
    let mut used: HashMap<String, BTreeSet<String>> = HashMap::new();
    for row in rows {
        for key in &row.keys {
            if let (Observed::At(t), Some(service)) = (&key.last_used, &key.last_used_service)
                && (now - *t).whole_days() <= limit
            {
                used.entry(row.user.clone()).or_default().insert(service.clone());
            }
        }
    }
    used
}

/// The users with a credential to call AWS with once this run's dormant changes are
/// made: an enabled password, an active access key or an active service-specific
/// credential, less those `findings` disable (applied, or planned in report mode).
/// SSH public keys (listed for a share of the users each run) and signing certificates
/// are not counted.
pub fn users_with_credentials<'a>(
    inventory: &Inventory,
    findings: impl IntoIterator<Item = &'a Finding>,
) -> HashSet<String> {
    let mut active: HashMap<&str, usize> = HashMap::new();
    for row in &inventory.rows {
        let n = usize::from(row.password_enabled == Some(true)) + row.keys.iter().filter(|k| k.active).count();
        *active.entry(row.user.as_str()).or_default() += n;
    }
    for c in inventory.service_credentials.iter().filter(|c| c.active) {
        *active.entry(c.user.as_str()).or_default() += 1;
    }
    let mut removed: HashMap<String, usize> = HashMap::new();
    for f in findings {
        let disables = matches!(
            f.action,
            Action::DeleteLoginProfile | Action::DeactivateAccessKey | Action::DeactivateServiceSpecificCredential
        );
        if disables && matches!(f.status, Status::Applied | Status::Planned) {
            *removed.entry(f.user.clone()).or_default() += 1;
        }
    }
    active
        .into_iter()
        .filter(|(user, n)| *n > removed.get(*user).copied().unwrap_or(0))
        .map(|(user, _)| user.to_string())
        .collect()
}

/// Whether a user is looked at, before any Access Advisor call.
pub fn eligibility(
    user: &UserDetails,
    parts: &[CurrentPart],
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
    if !parts.iter().any(|p| p.attached) && user.attached_policy_arns.len() >= settings.policy_quota as usize {
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

/// One deny policy to write or attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartWrite {
    pub name: String,
    pub arn: String,
    /// Whether the policy exists (else it is created).
    pub exists: bool,
    pub json: String,
    pub services: Vec<String>,
    /// Whether the document differs from the current one (else only an attach is needed).
    pub document_changed: bool,
    /// Whether it must be attached.
    pub attach: bool,
}

/// What to do with a user's deny policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The policies are current (or there is nothing to deny and none is attached).
    None,
    /// Write these parts (create, or add a version) and attach them; detach the user's
    /// other deny policies (kept, with their versions, as history).
    Write {
        services: Vec<String>,
        parts: Vec<PartWrite>,
        detach: Vec<String>,
    },
    /// Nothing is left to deny: detach these policies (kept as history).
    Detach { arns: Vec<String> },
    /// The deny list does not fit the policies the user may have: nothing is changed.
    NeedsReview { services: Vec<String>, reason: String },
}

/// What one user's decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: &'a UserDetails,
    /// The user's deny policies ([`owned_parts`]).
    pub parts: &'a [CurrentPart],
    /// The keep-services tag's services.
    pub keep: &'a BTreeSet<String>,
    /// The credential report's use and the services granted since the first check.
    pub evidence: Evidence<'a>,
}

/// Decides a user's change from Access Advisor data and the current policies. Returns
/// the change and the deny set (with what was spared, and why).
pub fn decide(
    services: &[ServiceAccess],
    subject: Subject<'_>,
    settings: &LeastPrivilegeSettings,
    now: OffsetDateTime,
) -> (Change, DenySet) {
    let previous: Vec<Denied> = subject
        .parts
        .iter()
        .filter(|p| p.attached)
        .filter_map(|p| p.document.as_ref().and_then(denied_by))
        .collect();
    let set = deny_set(services, &previous, subject.keep, subject.evidence, settings, now);
    let deny = set.deny.clone();
    let attached: Vec<&CurrentPart> = subject.parts.iter().filter(|p| p.attached).collect();
    if deny.is_empty() {
        let change = if attached.is_empty() {
            Change::None
        } else {
            Change::Detach {
                arns: attached.iter().map(|p| p.arn.clone()).collect(),
            }
        };
        return (change, set);
    }
    let listed: Vec<String> = deny.iter().cloned().collect();
    let chunks = split(&deny);
    let others = subject.user.attached_policy_arns.len().saturating_sub(attached.len());
    let quota = settings.policy_quota as usize;
    if chunks.len() > MAX_DENY_POLICIES || others + chunks.len() > quota {
        let reason = format!(
            "{} services to deny need {} deny policies of at most {MAX_POLICY_SIZE} characters; {}; nothing changed: \
             review the user's permissions (a narrower policy, or the keep-services tag)",
            listed.len(),
            chunks.len(),
            if chunks.len() > MAX_DENY_POLICIES {
                format!("iam-janitor writes at most {MAX_DENY_POLICIES} per user")
            } else {
                format!(
                    "the user has {others} other managed policies attached, and the quota is {quota} (--policy-quota)"
                )
            }
        );
        return (
            Change::NeedsReview {
                services: listed,
                reason,
            },
            set,
        );
    }
    // Each part to the policy that already holds it (so that a second run finds nothing
    // to do), the others to the user's remaining policies (attached first), then to new
    // ones.
    let documents: Vec<(Vec<String>, PolicyDocument, String)> = chunks
        .iter()
        .map(|chunk| {
            let (document, json) = action_document(chunk);
            (chunk.iter().cloned().collect(), document, json)
        })
        .collect();
    let mut used = vec![false; subject.parts.len()];
    let mut target: Vec<Option<usize>> = documents
        .iter()
        .map(|(_, document, _)| {
            let j = subject
                .parts
                .iter()
                .enumerate()
                .position(|(j, p)| !used[j] && p.attached && p.document.as_ref() == Some(document))?;
            used[j] = true;
            Some(j)
        })
        .collect();
    for t in target.iter_mut().filter(|t| t.is_none()) {
        if let Some(j) = used.iter().position(|u| !u) {
            used[j] = true;
            *t = Some(j);
        }
    }
    let mut taken: BTreeSet<String> = subject.parts.iter().map(|p| p.name.clone()).collect();
    let mut next_part = 1;
    let mut parts = Vec::new();
    for ((services, document, json), t) in documents.into_iter().zip(target) {
        let write = match t.and_then(|j| subject.parts.get(j)) {
            Some(current) => PartWrite {
                name: current.name.clone(),
                arn: current.arn.clone(),
                exists: true,
                document_changed: current.document.as_ref() != Some(&document),
                json,
                services,
                attach: !current.attached,
            },
            None => {
                let name = loop {
                    let name = part_name(&subject.user.id, next_part);
                    next_part += 1;
                    if taken.insert(name.clone()) {
                        break name;
                    }
                };
                PartWrite {
                    arn: policy_arn_in(&subject.user.arn, &name),
                    name,
                    exists: false,
                    json,
                    services,
                    document_changed: true,
                    attach: true,
                }
            }
        };
        parts.push(write);
    }
    let detach: Vec<String> = subject
        .parts
        .iter()
        .zip(&used)
        .filter(|(p, used)| p.attached && !**used)
        .map(|(p, _)| p.arn.clone())
        .collect();
    let change = if detach.is_empty() && parts.iter().all(|p| !p.document_changed && !p.attach) {
        Change::None
    } else {
        Change::Write {
            services: listed,
            parts: parts.into_iter().filter(|p| p.document_changed || p.attach).collect(),
            detach,
        }
    };
    (change, set)
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
