//! The least-privilege phase of a run: Access Advisor jobs for the eligible users
//! (bounded concurrency), the answer's check and the pure decision of
//! [`crate::least_privilege`], and in enforce mode the writes that keep each user's deny
//! policy current. A user whose answer cannot be read or is rejected gets a failed
//! finding and no change; the others go on.
//!
//! Writes update in place: a new default version (deleting the oldest non-default one at
//! IAM's five-version limit), never detach-delete-recreate, which would leave a window
//! with no deny. No write at all when the document is unchanged and attached.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use iam_janitor_cfn::policy::PolicyDocument;
use time::OffsetDateTime;

use crate::budget::Budget;
use crate::iam::{AwsError, ErrorKind, Iam};
use crate::least_privilege::{self as lp, Change, CurrentPart, Denied, DenySet, Evidence, PartWrite, Subject};
use crate::model::inventory::{Inventory, PolicyVersion, Tag, UserDetails};
use crate::model::report::{Action, Finding, Kind, ReasonCode, Status};
use crate::model::services::ServiceAccess;
use crate::model::state::UserMemory;
use crate::settings::Settings;
use crate::store::{StateTable, StoreError};
use crate::trail::{POLICY_OWNER, POLICY_OWNER_ID};

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;
/// IAM calls a deny-policy change takes, about: CreatePolicy and AttachUserPolicy, or
/// DeletePolicyVersion and CreatePolicyVersion, and a spare.
const WRITE_CALLS: f64 = 3.0;

/// One user's least-privilege finding, with what is needed to apply it.
#[derive(Debug, Clone)]
pub struct DenyItem {
    pub finding: Finding,
    pub change: Change,
    /// The user's ID, for the tags of a new policy.
    pub user_id: String,
    /// The versions of the user's existing deny policies, by ARN (to free a slot at the
    /// five-version limit).
    pub versions: HashMap<String, Vec<PolicyVersion>>,
}

impl DenyItem {
    /// Whether applying it writes anything.
    pub fn is_change(&self) -> bool {
        self.finding.status == Status::Planned && matches!(self.change, Change::Write { .. } | Change::Detach { .. })
    }

    /// How many new policies applying it creates.
    fn creates(&self) -> usize {
        match &self.change {
            Change::Write { parts, .. } if self.is_change() => parts.iter().filter(|p| !p.exists).count(),
            _ => 0,
        }
    }
}

fn finding(
    user: &UserDetails,
    action: Action,
    status: Status,
    (reason_code, reason): (ReasonCode, String),
    services: Vec<String>,
) -> Finding {
    Finding {
        user: user.name.clone(),
        arn: user.arn.clone(),
        kind: Kind::UnusedServices,
        access_key_id: None,
        access_key_slot: None,
        credential_id: None,
        credential_slot: None,
        last_used: None,
        idle_days: None,
        action,
        status,
        reason,
        reason_code,
        services: Some(services),
    }
}

/// The item as a failure for this user alone: nothing is changed for them, the run goes on.
fn failed(item: DenyItem, reason_code: ReasonCode, reason: String) -> DenyItem {
    DenyItem {
        finding: Finding {
            status: Status::Failed,
            reason,
            reason_code,
            ..item.finding
        },
        ..item
    }
}

/// What the least-privilege phase found.
#[derive(Debug, Default)]
pub struct Assessed {
    /// The findings that need attention (changes, skips, failures).
    pub items: Vec<DenyItem>,
    /// Users whose Access Advisor data was read.
    pub checked: usize,
    /// Users left alone: no credential to call AWS with.
    pub without_credentials: usize,
    /// Eligible users the time budget left for the next run.
    pub not_reached: usize,
    /// When the least recently checked eligible user was last checked, once this run's
    /// checks are remembered (`None`: every one was checked this run, or none has ever
    /// been, or there is no memory).
    pub oldest_check: Option<OffsetDateTime>,
    /// What to remember of each user checked ([`remember`]).
    pub observed: Vec<Observed>,
}

/// A user checked this run: what to remember once the changes are made.
#[derive(Debug, Clone)]
pub struct Observed {
    pub user: UserDetails,
    pub services: Vec<ServiceAccess>,
    pub memory: Option<UserMemory>,
    /// The user's deny policies before this run's change.
    pub parts: Vec<CurrentPart>,
}

/// Reads Access Advisor for the eligible users, least recently checked first, while the
/// budget lets new jobs start, and decides. `active`: the users with a credential to
/// call AWS with after this run's dormant changes ([`lp::users_with_credentials`]); the
/// others are left alone, and counted. `memory`: what the state table remembers, by user
/// ID (empty without one: every check is a first sighting).
pub async fn assess(
    iam: &Iam,
    inventory: &Inventory,
    active: &HashSet<String>,
    memory: &HashMap<String, UserMemory>,
    settings: &Settings,
    now: OffsetDateTime,
    budget: Budget,
) -> Assessed {
    let lps = &settings.least_privilege;
    let mut users: Vec<&UserDetails> = inventory.details.values().collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let recently_used = lp::recently_used_services(&inventory.rows, lps, now);
    let no_services = BTreeSet::new();

    let ids: HashSet<&str> = inventory.details.values().map(|u| u.id.as_str()).collect();
    let mut skipped = Vec::new();
    let mut eligible = Vec::new();
    let mut without_credentials = 0;
    for user in users {
        if !active.contains(&user.name) {
            without_credentials += 1;
            continue;
        }
        let parts = lp::owned_parts(user, &inventory.policies, &ids);
        let item = DenyItem {
            finding: finding(
                user,
                Action::AttachDenyPolicy,
                Status::Skipped,
                (ReasonCode::UnusedServices, String::new()),
                Vec::new(),
            ),
            change: Change::None,
            user_id: user.id.clone(),
            versions: parts
                .iter()
                .filter_map(|p| inventory.policies.get(&p.name))
                .map(|p| (p.arn.clone(), p.versions.clone()))
                .collect(),
        };
        let why = settings
            .exemption(&user.name, Some(user))
            .map(|reason| (ReasonCode::Exempt, reason))
            .or_else(|| {
                lp::eligibility(user, &parts, lps, now)
                    .err()
                    .map(|i| (i.code, i.reason))
            });
        match why {
            Some((reason_code, reason)) => skipped.push(DenyItem {
                finding: Finding {
                    reason,
                    reason_code,
                    ..item.finding
                },
                ..item
            }),
            None => eligible.push((user, parts, item)),
        }
    }
    // Least recently checked first (never checked before all), so that a run the budget
    // stops goes on from there the next time.
    let last_check = |u: &UserDetails| memory.get(&u.id).map(|m| m.checked_at);
    eligible.sort_by(|(a, _, _), (b, _, _)| last_check(a).cmp(&last_check(b)).then_with(|| a.name.cmp(&b.name)));

    let recently_used = &recently_used;
    let no_services = &no_services;
    // The writes of the changes decided so far must fit in the budget too: each takes
    // about WRITE_CALLS calls at the paced rate.
    let planned = &AtomicUsize::new(0);
    let per_write = Duration::from_secs_f64(WRITE_CALLS / f64::from(settings.iam_rate.max(1)));
    // And a job started must finish in it: the longest job so far is the estimate.
    let longest_job_ms = &AtomicU64::new(0);
    let outcomes: Vec<Checked> = futures::stream::iter(eligible)
        .map(|(user, parts, item)| async move {
            // Near the end of the budget (what is left of it, less the time the writes
            // decided so far and one more job will take) no new job starts; the ones in
            // flight finish.
            let writes = u32::try_from(planned.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
            let job = Duration::from_millis(longest_job_ms.load(Ordering::Relaxed));
            if !budget.may_start_with(per_write.saturating_mul(writes).saturating_add(job)) {
                return Checked::NotReached(last_check(user));
            }
            let started = std::time::Instant::now();
            let answer = iam.access_advisor(&user.arn).await;
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            longest_job_ms.fetch_max(took, Ordering::Relaxed);
            let services = match answer {
                Ok(s) => s,
                Err(e) => {
                    return Checked::Failed(failed(
                        item,
                        ReasonCode::AdvisorFailed,
                        format!("Access Advisor could not be read, nothing changed: {e}"),
                    ));
                }
            };
            let services = match lp::check_advisor_answer(services) {
                Ok(s) => s,
                Err(e) => {
                    return Checked::Failed(failed(
                        item,
                        ReasonCode::AdvisorRejected,
                        format!("Access Advisor answer rejected, nothing changed: {e}"),
                    ));
                }
            };
            let keep = lp::kept_services(user, lps);
            let previous = memory.get(&user.id);
            let granted = lp::new_grants(previous, &services, now);
            let subject = Subject {
                user,
                parts: &parts,
                keep: &keep,
                evidence: Evidence {
                    recently_used: recently_used.get(&user.name).unwrap_or(no_services),
                    granted: &granted,
                },
            };
            let (change, set) = lp::decide(&services, subject, lps, now);
            let item = describe(user, &services, &parts, change, &set, lps.unused_service_days, item);
            if item.as_ref().is_some_and(DenyItem::is_change) {
                planned.fetch_add(1, Ordering::Relaxed);
            }
            Checked::Read(
                item,
                Box::new(Observed {
                    user: user.clone(),
                    services,
                    memory: previous.cloned(),
                    parts,
                }),
            )
        })
        .buffer_unordered(lps.advisor_concurrency.max(1))
        .collect()
        .await;
    let mut items: Vec<DenyItem> = skipped;
    let mut observed = Vec::new();
    let mut not_reached = 0;
    let mut oldest_check: Option<OffsetDateTime> = None;
    for outcome in outcomes {
        match outcome {
            Checked::Read(item, seen) => {
                items.extend(item);
                observed.push(*seen);
            }
            Checked::Failed(item) => items.push(item),
            Checked::NotReached(last) => {
                not_reached += 1;
                if let Some(t) = last {
                    oldest_check = Some(oldest_check.map_or(t, |o| o.min(t)));
                }
            }
        }
    }
    items.sort_by(|a, b| a.finding.user.cmp(&b.finding.user));
    apply_policy_quota(iam, &mut items).await;
    Assessed {
        items,
        checked: observed.len(),
        without_credentials,
        not_reached,
        oldest_check,
        observed,
    }
}

/// One eligible user's check.
enum Checked {
    /// Access Advisor was read: the finding, if any, and what to remember.
    Read(Option<DenyItem>, Box<Observed>),
    /// Access Advisor could not be read, or its answer was rejected.
    Failed(DenyItem),
    /// The budget ran out first; when the user was last checked.
    NotReached(Option<OffsetDateTime>),
}

/// The deny policies the engine manages for a user once its item was applied (or not):
/// the user's policies attached after the change, by ARN, sorted.
pub fn policies_after(parts: &[CurrentPart], item: Option<&DenyItem>) -> Vec<String> {
    let mut attached: BTreeSet<String> = parts.iter().filter(|p| p.attached).map(|p| p.arn.clone()).collect();
    if let Some(item) = item.filter(|i| i.finding.status == Status::Applied) {
        match &item.change {
            Change::Write { parts, detach, .. } => {
                attached.extend(parts.iter().map(|p| p.arn.clone()));
                for arn in detach {
                    attached.remove(arn);
                }
            }
            Change::Detach { arns } => {
                for arn in arns {
                    attached.remove(arn);
                }
            }
            Change::None | Change::NeedsReview { .. } => {}
        }
    }
    attached.into_iter().collect()
}

/// Remembers each user checked this run (one PutItem each, bounded concurrency), after
/// the changes. Returns the failures: the user is checked again next run, sooner.
pub async fn remember_checked(
    table: &StateTable,
    observed: &[Observed],
    items: &[DenyItem],
    settings: &Settings,
    now: OffsetDateTime,
) -> Vec<StoreError> {
    let by_user: HashMap<&str, &DenyItem> = items.iter().map(|i| (i.finding.user.as_str(), i)).collect();
    // A user whose change the budget left undone is not remembered as checked: the next
    // run takes it first.
    let undone = |seen: &&Observed| {
        by_user
            .get(seen.user.name.as_str())
            .is_some_and(|i| i.finding.reason_code == ReasonCode::TimeBudget)
    };
    let results: Vec<Result<(), StoreError>> = futures::stream::iter(observed.iter().filter(|s| !undone(s)))
        .map(|seen| {
            let policies = policies_after(&seen.parts, by_user.get(seen.user.name.as_str()).copied());
            let memory = lp::remember(seen.memory.as_ref(), &seen.user, &seen.services, policies, now);
            async move { table.save(&memory).await }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    results.into_iter().filter_map(Result::err).collect()
}

/// New deny policies count against the account's customer managed policy quota (1,500
/// by default). Reads it once, and only when a new policy is planned; users beyond the
/// room left (in user-name order) are skipped with the reason instead of failing one by
/// one at CreatePolicy.
async fn apply_policy_quota(iam: &Iam, items: &mut [DenyItem]) {
    if !items.iter().any(|i| i.creates() > 0) {
        return;
    }
    match iam.policies_and_quota().await {
        Ok((used, quota)) => {
            let mut room = quota.saturating_sub(used) as usize;
            for item in items.iter_mut() {
                let needed = item.creates();
                if needed == 0 {
                    continue;
                }
                if room >= needed {
                    room -= needed;
                    continue;
                }
                item.finding.status = Status::Skipped;
                item.finding.reason_code = ReasonCode::PolicyQuota;
                item.finding.reason = format!(
                    "the account has {used} of its {quota} customer managed policies (PoliciesQuota), no room for {needed} new deny {}: raise the quota (up to 5,000) ({})",
                    if needed == 1 { "policy" } else { "policies" },
                    item.finding.reason
                );
            }
        }
        // The quota is a safeguard: without it, CreatePolicy still reports LimitExceeded per user.
        Err(e) => tracing::warn!(error = %e, "could not read the policy quota"),
    }
}

/// What the user's attached deny policies deny now, as names (a `NotAction` policy of an
/// earlier version: the listed services it does not allow), and whether one is in the
/// `NotAction` form.
fn denied_now(services: &[ServiceAccess], parts: &[CurrentPart]) -> (BTreeSet<String>, bool) {
    let mut denied = BTreeSet::new();
    let mut legacy = false;
    for document in parts.iter().filter(|p| p.attached).filter_map(|p| p.document.as_ref()) {
        match lp::denied_by(document) {
            Some(Denied::Listed(s)) => denied.extend(s),
            Some(Denied::AllExcept(allowed)) => {
                legacy = true;
                denied.extend(
                    services
                        .iter()
                        .map(|s| s.namespace.clone())
                        .filter(|ns| !allowed.contains(ns)),
                );
            }
            None => {}
        }
    }
    (denied, legacy)
}

/// The steps of a write, for the reason: `create X`, `new version of X`, `attach X`, `detach X`.
fn steps(parts: &[PartWrite], detach: &[String]) -> String {
    let mut steps = Vec::new();
    for p in parts {
        let mut step = match (p.exists, p.document_changed) {
            (false, _) => format!("create {}", p.name),
            (true, true) => format!("new version of {}", p.name),
            (true, false) => format!("attach {}", p.name),
        };
        if p.attach && p.document_changed {
            step.push_str(" and attach it");
        }
        steps.push(step);
    }
    for arn in detach {
        steps.push(format!("detach {}", arn.rsplit('/').next().unwrap_or(arn)));
    }
    steps.join(", ")
}

/// Turns a decision into a finding (or none when nothing needs attention).
fn describe(
    user: &UserDetails,
    services: &[ServiceAccess],
    parts: &[CurrentPart],
    change: Change,
    set: &DenySet,
    days: u32,
    item: DenyItem,
) -> Option<DenyItem> {
    let (previous, legacy) = denied_now(services, parts);
    let (action, status, reason_code, mut reason, listed) = match &change {
        Change::None => return None,
        Change::Detach { arns } => (
            Action::DetachDenyPolicy,
            Status::Planned,
            ReasonCode::NothingToDeny,
            format!(
                "nothing is left to deny (kept or in use); {} (kept, with {}, as history)",
                steps(&[], arns),
                if arns.len() == 1 {
                    "its versions"
                } else {
                    "their versions"
                }
            ),
            Vec::new(),
        ),
        Change::NeedsReview { services, reason } => (
            Action::AttachDenyPolicy,
            Status::Skipped,
            ReasonCode::NeedsReview,
            reason.clone(),
            services.clone(),
        ),
        Change::Write {
            services: listed,
            parts: writes,
            detach,
        } => {
            let now_denied: BTreeSet<String> = listed.iter().cloned().collect();
            let added: Vec<&String> = now_denied.difference(&previous).collect();
            let removed: Vec<&String> = previous.difference(&now_denied).collect();
            let steps = steps(writes, detach);
            let reason = if parts.is_empty() {
                format!(
                    "deny {} unused services with a new {} ({steps})",
                    listed.len(),
                    if writes.len() == 1 { "policy" } else { "set of policies" }
                )
            } else if !added.is_empty() || !removed.is_empty() {
                let mut diff = Vec::new();
                if !added.is_empty() {
                    diff.push(format!("+{}", join(&added)));
                }
                if !removed.is_empty() {
                    diff.push(format!("-{}", join(&removed)));
                }
                format!("update the deny list ({}): {steps}", diff.join(" "))
            } else if writes.iter().any(|w| w.document_changed) {
                format!("rewrite the deny policy in the current form (same services): {steps}")
            } else {
                format!("the deny policy is not attached: {steps}")
            };
            (
                Action::AttachDenyPolicy,
                Status::Planned,
                ReasonCode::UnusedServices,
                reason,
                listed.clone(),
            )
        }
    };
    if legacy && !matches!(change, Change::NeedsReview { .. }) {
        reason.push_str(
            "; migrates a NotAction policy of an earlier version (which also denied services granted later, and access granted by resource policies) to an Action list",
        );
    }
    if !set.in_grace.is_empty() {
        let listed: Vec<String> = set
            .in_grace
            .iter()
            .map(|(ns, t)| format!("{ns} (first listed {})", t.date()))
            .collect();
        reason.push_str(&format!(
            "; not denied yet: {}, granted since the user was first checked and listed for no more than {days} days",
            listed.join(", ")
        ));
    }
    if !set.spared_by_report.is_empty() {
        let spared: Vec<&String> = set.spared_by_report.iter().collect();
        reason.push_str(&format!(
            "; not denied: {}, unused in Access Advisor but used by an access key within {days} days in the credential report (Access Advisor does not track every Region)",
            join(&spared)
        ));
    }
    Some(DenyItem {
        finding: finding(user, action, status, (reason_code, reason), listed),
        change,
        ..item
    })
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// Applies the planned changes (enforce mode), users concurrently within `concurrency`.
pub async fn apply(iam: &Iam, settings: &Settings, items: Vec<DenyItem>, budget: Budget) -> Vec<DenyItem> {
    futures::stream::iter(items)
        .map(|mut item| async move {
            // The writes of decided changes use the reserve the checks kept for them;
            // once the budget is spent no more starts: the user is checked again, first,
            // by the next run (its check is not remembered).
            if item.is_change() && budget.is_spent() {
                item.finding.status = Status::Skipped;
                item.finding.reason_code = ReasonCode::TimeBudget;
                item.finding.reason = format!(
                    "time budget: not reached this run, nothing changed; the next run checks this user first ({})",
                    item.finding.reason
                );
            }
            if item.is_change() {
                match apply_one(iam, &item).await {
                    Ok(()) => item.finding.status = Status::Applied,
                    // The change may have taken effect although an answer was lost: look
                    // before saying it was not made.
                    Err(e) => match took_effect(iam, &item).await {
                        Ok(true) => {
                            item.finding.status = Status::Applied;
                            item.finding.reason = format!("{} (confirmed on re-read after: {e})", item.finding.reason);
                        }
                        Ok(false) => {
                            item.finding.status = Status::Failed;
                            item.finding.reason_code = ReasonCode::WriteFailed;
                            item.finding.reason = format!("{e} ({})", item.finding.reason);
                            tracing::error!(user = %item.finding.user, error = %e, "deny policy change failed");
                        }
                        Err(unknown) => {
                            item.finding.status = Status::Failed;
                            item.finding.reason_code = ReasonCode::OutcomeUnknown;
                            item.finding.reason = format!(
                                "{e}; whether it took effect is unknown ({unknown}) ({})",
                                item.finding.reason
                            );
                            tracing::error!(user = %item.finding.user, error = %e, "deny policy change failed, outcome unknown");
                        }
                    },
                }
            }
            item
        })
        .buffered(settings.concurrency.max(1))
        .collect()
        .await
}

/// After a failed change: whether it is in effect now (an answer was lost after the
/// request took effect), finishing a part when only its attach is missing (the policy is
/// there with the wanted document, e.g. CreatePolicy took effect but its answer was
/// lost). `Ok(false)`: not in effect; `Err`: the live state could not be read.
async fn took_effect(iam: &Iam, item: &DenyItem) -> Result<bool, AwsError> {
    let user = &item.finding.user;
    let (parts, detach): (&[PartWrite], &[String]) = match &item.change {
        Change::Detach { arns } => (&[], arns),
        Change::Write { parts, detach, .. } => (parts, detach),
        _ => return Ok(false),
    };
    for arn in detach {
        if iam.deny_policy_state(user, arn).await?.1 {
            return Ok(false);
        }
    }
    let parse = |text: &str| serde_json::from_str::<PolicyDocument>(text).ok();
    for part in parts {
        let (document, attached) = iam.deny_policy_state(user, &part.arn).await?;
        let written = document
            .as_deref()
            .and_then(parse)
            .is_some_and(|live| Some(live) == parse(&part.json));
        if !written {
            return Ok(false);
        }
        if attached {
            continue;
        }
        // Finish the job; this answer may be lost as well, so look again.
        if let Err(e) = iam.attach_user_policy(user, &part.arn).await {
            tracing::warn!(user = %user, error = %e, "attach after a failed change");
        }
        if !iam.deny_policy_state(user, &part.arn).await?.1 {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn apply_one(iam: &Iam, item: &DenyItem) -> Result<(), AwsError> {
    let user = &item.finding.user;
    match &item.change {
        Change::Detach { arns } => {
            for arn in arns {
                iam.detach_user_policy(user, arn).await?;
            }
        }
        Change::Write { parts, detach, .. } => {
            for part in parts {
                write_part(iam, item, part).await?;
            }
            // Only once the new parts are in place: never a window with less denied.
            for arn in detach {
                iam.detach_user_policy(user, arn).await?;
            }
            tracing::info!(user = %user, policies = parts.len(), "deny policies current");
        }
        Change::None | Change::NeedsReview { .. } => {}
    }
    Ok(())
}

/// Writes one part (a new default version, or a new policy tagged with its user) and
/// attaches it.
async fn write_part(iam: &Iam, item: &DenyItem, part: &PartWrite) -> Result<(), AwsError> {
    let user = &item.finding.user;
    let mut arn = part.arn.clone();
    if part.document_changed {
        if part.exists {
            let known = item.versions.get(&part.arn).map(Vec::as_slice).unwrap_or_default();
            new_version(iam, &arn, &part.json, known).await?;
        } else {
            let owner = [
                Tag {
                    key: POLICY_OWNER.to_string(),
                    value: user.clone(),
                },
                Tag {
                    key: POLICY_OWNER_ID.to_string(),
                    value: item.user_id.clone(),
                },
            ];
            match iam.create_policy(&part.name, &part.json, &owner).await {
                Ok(created) => arn = created,
                // Created by an earlier run that stopped before listing it (the name
                // carries the user's ID, so it is this user's): update it.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => new_version(iam, &arn, &part.json, &[]).await?,
                Err(e) => return Err(e),
            }
        }
    }
    if part.attach {
        iam.attach_user_policy(user, &arn).await.map_err(|e| {
            if e.kind() == ErrorKind::LimitExceeded {
                e.with_note("the user is at the managed-policy quota")
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// The oldest non-default version, to delete at the version limit.
fn oldest_non_default(versions: &[PolicyVersion]) -> Option<&PolicyVersion> {
    versions.iter().filter(|v| !v.is_default).min_by_key(|v| v.created)
}

/// Adds a default version, first freeing a slot at the five-version limit (`known`: the
/// versions as last listed). Restore uses it too.
pub async fn new_version(iam: &Iam, arn: &str, json: &str, known: &[PolicyVersion]) -> Result<(), AwsError> {
    if known.len() >= MAX_VERSIONS
        && let Some(old) = oldest_non_default(known)
    {
        match iam.delete_policy_version(arn, &old.id).await {
            Ok(()) => {}
            // Gone already (a retry after an answer was lost).
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            // No answer: it may be deleted. If not, CreatePolicyVersion says LimitExceeded
            // and the listing below sorts it out.
            Err(e) if e.kind() == ErrorKind::NoAnswer => {
                tracing::warn!(policy = %arn, error = %e, "DeletePolicyVersion unanswered")
            }
            Err(e) => return Err(e),
        }
    }
    match iam.create_policy_version(arn, json).await {
        Err(e) if e.kind() == ErrorKind::LimitExceeded => {
            // The listing was stale (or unknown): list, free the oldest slot, retry once.
            let versions = iam.list_policy_versions(arn).await?;
            if let Some(old) = oldest_non_default(&versions) {
                iam.delete_policy_version(arn, &old.id).await?;
            }
            iam.create_policy_version(arn, json).await
        }
        other => other,
    }
}
