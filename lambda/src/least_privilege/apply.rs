//! The least-privilege phase of a run: Access Advisor jobs for the eligible users
//! (bounded concurrency), the answer's check and the pure decision of
//! [`crate::least_privilege`], and in enforce mode the writes that keep each user's deny
//! policy current. A user whose answer cannot be read or is rejected gets a failed
//! finding and no change; the others go on.
//!
//! Writes update in place: a new default version (deleting the oldest non-default one at
//! IAM's five-version limit), never detach-delete-recreate, which would leave a window
//! with no deny. No write at all when the document is unchanged and attached.

use std::collections::BTreeSet;

use futures::StreamExt;
use iam_janitor_cfn::policy::PolicyDocument;
use time::OffsetDateTime;

use crate::iam::{AwsError, ErrorKind, Iam};
use crate::least_privilege::{self as lp, Change, CurrentPolicy, Denied, DocumentForm, policy_name};
use crate::model::inventory::{Inventory, PolicyVersion, Tag, UserDetails};
use crate::model::report::{Action, Finding, Kind, ReasonCode, Status};
use crate::model::services::ServiceAccess;
use crate::settings::Settings;
use crate::trail::{POLICY_OWNER, POLICY_PATH};

/// How long one Access Advisor job may take.
/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// One user's least-privilege finding, with what is needed to apply it.
#[derive(Debug, Clone)]
pub struct DenyItem {
    pub finding: Finding,
    pub change: Change,
    pub policy_name: String,
    /// The policy's ARN if it exists (or will, computed from the user's ARN).
    pub policy_arn: String,
    pub exists: bool,
    pub attached: bool,
    pub versions: Vec<PolicyVersion>,
}

impl DenyItem {
    /// Whether applying it writes anything.
    pub fn is_change(&self) -> bool {
        self.finding.status == Status::Planned && matches!(self.change, Change::Write { .. } | Change::Detach)
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

/// The partition and account of a user ARN, for the policy ARN.
fn policy_arn_for(user: &UserDetails, name: &str) -> String {
    let mut parts = user.arn.split(':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or("");
    format!("arn:{partition}:iam::{account}:policy{}{name}", POLICY_PATH)
}

/// Reads Access Advisor for every eligible user and decides. Returns the findings that
/// need attention (changes, skips, failures) and the number of users whose data was read.
pub async fn assess(
    iam: &Iam,
    inventory: &Inventory,
    settings: &Settings,
    now: OffsetDateTime,
) -> (Vec<DenyItem>, usize) {
    let lps = &settings.least_privilege;
    let mut users: Vec<&UserDetails> = inventory.details.values().collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));

    let mut skipped = Vec::new();
    let mut eligible = Vec::new();
    for user in users {
        let name = policy_name(&user.name);
        let existing = inventory.policies.get(&name);
        let policy_arn = existing.map_or_else(|| policy_arn_for(user, &name), |p| p.arn.clone());
        let current = CurrentPolicy {
            exists: existing.is_some(),
            attached: user.attached_policy_arns.contains(&policy_arn),
            document: existing
                .and_then(|p| p.default_document())
                .and_then(|d| serde_json::from_str::<PolicyDocument>(d).ok()),
        };
        let item = DenyItem {
            finding: finding(
                user,
                Action::AttachDenyPolicy,
                Status::Skipped,
                (ReasonCode::UnusedServices, String::new()),
                Vec::new(),
            ),
            change: Change::None,
            policy_name: name,
            policy_arn,
            exists: current.exists,
            attached: current.attached,
            versions: existing.map(|p| p.versions.clone()).unwrap_or_default(),
        };
        let why = settings
            .exemption(&user.name, Some(user))
            .map(|reason| (ReasonCode::Exempt, reason))
            .or_else(|| {
                lp::eligibility(user, &current, lps, now)
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
            None => eligible.push((user, current, item)),
        }
    }

    let checked = eligible.len();
    let decided: Vec<Option<DenyItem>> = futures::stream::iter(eligible)
        .map(|(user, current, item)| async move {
            let services = match read_advisor(iam, &user.arn).await {
                Ok(s) => s,
                Err(e) => {
                    return Some(failed(
                        item,
                        ReasonCode::AdvisorFailed,
                        format!("Access Advisor could not be read, nothing changed: {e}"),
                    ));
                }
            };
            let services = match lp::check_advisor_answer(services) {
                Ok(s) => s,
                Err(e) => {
                    return Some(failed(
                        item,
                        ReasonCode::AdvisorRejected,
                        format!("Access Advisor answer rejected, nothing changed: {e}"),
                    ));
                }
            };
            let keep = lp::kept_services(user, lps);
            let change = lp::decide(&services, &current, &keep, lps, now);
            describe(user, &services, &current, change, item)
        })
        .buffer_unordered(lps.advisor_concurrency.max(1))
        .collect()
        .await;
    let mut items: Vec<DenyItem> = skipped.into_iter().chain(decided.into_iter().flatten()).collect();
    items.sort_by(|a, b| a.finding.user.cmp(&b.finding.user));
    apply_policy_quota(iam, &mut items).await;
    (items, checked)
}

/// New deny policies count against the account's customer managed policy quota (1,500
/// by default). Reads it once, and only when a new policy is planned; users beyond the
/// room left (in user-name order) are skipped with the reason instead of failing one by
/// one at CreatePolicy.
async fn apply_policy_quota(iam: &Iam, items: &mut [DenyItem]) {
    let creates = |i: &DenyItem| i.is_change() && !i.exists && matches!(i.change, Change::Write { .. });
    if !items.iter().any(creates) {
        return;
    }
    match iam.policies_and_quota().await {
        Ok((used, quota)) => {
            let mut room = quota.saturating_sub(used);
            for item in items.iter_mut().filter(|i| creates(i)) {
                if room > 0 {
                    room -= 1;
                    continue;
                }
                item.finding.status = Status::Skipped;
                item.finding.reason_code = ReasonCode::PolicyQuota;
                item.finding.reason = format!(
                    "the account has {used} of its {quota} customer managed policies (PoliciesQuota), no room for a new deny policy: raise the quota (up to 5,000) ({})",
                    item.finding.reason
                );
            }
        }
        // The quota is a safeguard: without it, CreatePolicy still reports LimitExceeded per user.
        Err(e) => tracing::warn!(error = %e, "could not read the policy quota"),
    }
}

async fn read_advisor(iam: &Iam, arn: &str) -> Result<Vec<ServiceAccess>, AwsError> {
    iam.access_advisor(arn).await
}

/// Turns a decision into a finding (or none when nothing needs attention).
fn describe(
    user: &UserDetails,
    services: &[ServiceAccess],
    current: &CurrentPolicy,
    change: Change,
    item: DenyItem,
) -> Option<DenyItem> {
    let previous: BTreeSet<String> = match current.document.as_ref().and_then(lp::denied_by) {
        Some(Denied::Listed(s)) => s,
        Some(Denied::AllExcept(allowed)) => services
            .iter()
            .map(|s| s.namespace.clone())
            .filter(|ns| !allowed.contains(ns))
            .collect(),
        None => BTreeSet::new(),
    };
    let (action, status, reason_code, reason, listed) = match &change {
        Change::None => return None,
        Change::Detach => (
            Action::DetachDenyPolicy,
            Status::Planned,
            ReasonCode::NothingToDeny,
            format!(
                "nothing is left to deny (kept or in use); detach {} (kept, with its versions, as history)",
                item.policy_name
            ),
            Vec::new(),
        ),
        Change::TooLarge { services, error } => (
            Action::AttachDenyPolicy,
            Status::Failed,
            ReasonCode::PolicyTooLarge,
            error.to_string(),
            services.clone(),
        ),
        Change::Write {
            services: listed,
            form,
            document_changed,
            ..
        } => {
            let now_denied: BTreeSet<String> = listed.iter().cloned().collect();
            let added: Vec<&String> = now_denied.difference(&previous).collect();
            let removed: Vec<&String> = previous.difference(&now_denied).collect();
            let mut reason = if !item.exists {
                format!(
                    "deny {} unused services with a new policy {}",
                    listed.len(),
                    item.policy_name
                )
            } else if *document_changed {
                let mut diff = Vec::new();
                if !added.is_empty() {
                    diff.push(format!("+{}", join(&added)));
                }
                if !removed.is_empty() {
                    diff.push(format!("-{}", join(&removed)));
                }
                format!(
                    "update the deny list ({}) with a new version of {}",
                    if diff.is_empty() {
                        "rewritten".to_string()
                    } else {
                        diff.join(" ")
                    },
                    item.policy_name
                )
            } else {
                format!("the deny policy {} is not attached; attach it", item.policy_name)
            };
            if !item.attached && *document_changed {
                reason.push_str(" and attach it");
            }
            if *form == DocumentForm::NotAction {
                reason.push_str(
                    "; the Action list exceeds 6,144 characters, so the policy denies everything but the services in use (NotAction), which also denies services granted later",
                );
            }
            (
                Action::AttachDenyPolicy,
                Status::Planned,
                ReasonCode::UnusedServices,
                reason,
                listed.clone(),
            )
        }
    };
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
pub async fn apply(iam: &Iam, settings: &Settings, items: Vec<DenyItem>) -> Vec<DenyItem> {
    futures::stream::iter(items)
        .map(|mut item| async move {
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
/// request took effect), finishing it when only the attach is missing (the policy is
/// there with the wanted document, e.g. CreatePolicy took effect but its answer was
/// lost). `Ok(false)`: not in effect; `Err`: the live state could not be read.
async fn took_effect(iam: &Iam, item: &DenyItem) -> Result<bool, AwsError> {
    let user = &item.finding.user;
    let (document, attached) = iam.deny_policy_state(user, &item.policy_arn).await?;
    Ok(match &item.change {
        Change::Detach => !attached,
        Change::Write { json, .. } => {
            let parse = |text: &str| serde_json::from_str::<PolicyDocument>(text).ok();
            let written = document
                .as_deref()
                .and_then(parse)
                .is_some_and(|live| Some(live) == parse(json));
            if !written {
                return Ok(false);
            }
            if attached {
                return Ok(true);
            }
            // Finish the job; this answer may be lost as well, so look again.
            if let Err(e) = iam.attach_user_policy(user, &item.policy_arn).await {
                tracing::warn!(user = %user, error = %e, "attach after a failed change");
            }
            iam.deny_policy_state(user, &item.policy_arn).await?.1
        }
        _ => false,
    })
}

async fn apply_one(iam: &Iam, item: &DenyItem) -> Result<(), AwsError> {
    let user = &item.finding.user;
    match &item.change {
        Change::Detach => {
            iam.detach_user_policy(user, &item.policy_arn).await?;
        }
        Change::Write {
            json, document_changed, ..
        } => {
            let mut arn = item.policy_arn.clone();
            if *document_changed {
                if item.exists {
                    new_version(iam, &arn, json, &item.versions).await?;
                } else {
                    let owner = Tag {
                        key: POLICY_OWNER.to_string(),
                        value: user.clone(),
                    };
                    match iam.create_policy(&item.policy_name, json, &owner).await {
                        Ok(created) => arn = created,
                        // Created by an earlier run that stopped before listing it: update it.
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => new_version(iam, &arn, json, &[]).await?,
                        Err(e) => return Err(e),
                    }
                }
            }
            if !item.attached {
                iam.attach_user_policy(user, &arn).await.map_err(|e| {
                    if e.kind() == ErrorKind::LimitExceeded {
                        e.with_note("the user is at the managed-policy quota")
                    } else {
                        e
                    }
                })?;
            }
            tracing::info!(user = %user, policy = %arn, "deny policy current");
        }
        Change::None | Change::TooLarge { .. } => {}
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
