//! One run: read the inventory with bulk calls, plan with the pure rules, trip the
//! circuit breaker if needed, then confirm each candidate against live IAM data and (in
//! enforce mode) apply it, user by user with bounded concurrency.
//!
//! Each user is independent: a failure is recorded on that user's findings and the run
//! goes on. Nothing is written before the whole inventory has been read and planned, so
//! a bad report or a tripped breaker changes nothing.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;

use crate::budget::Budget;
use crate::dormant::{apply::confirm_and_apply, rules};
use crate::iam::{AwsError, CredentialsOf, Iam};
use crate::least_privilege::{self as lp, apply as deny};
use crate::model::credential_report::{self, ReportError};
use crate::model::inventory::{Inventory, SshPublicKey};
use crate::model::report::{BreakerTrip, Finding, ReasonCode, Report, Status, Summary};
use crate::model::services::{SERVICE_CREDENTIAL_SERVICES, ServiceAccess};
use crate::model::state::UserMemory;
use crate::settings::{Mode, Settings};
use crate::store::StateTable;

/// A run that could not evaluate the account. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("could not read the credential report, nothing was changed: {0}")]
    CredentialReport(AwsError),
    #[error("could not list users' details, nothing was changed: {0}")]
    UserDetails(AwsError),
    #[error("unusable credential report, nothing was changed: {0}")]
    BadReport(#[from] ReportError),
    #[error(
        "the credential report lacks {} users the account had when it was generated ({}{}); nothing was changed",
        .0.len(),
        .0.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
        if .0.len() > 5 { ", …" } else { "" }
    )]
    IncompleteReport(Vec<String>),
}

/// Runs the engine once. `now` is the clock reading (or `--as-of`); `state`: least
/// privilege's memory, if a table is configured; `budget`: the time the run may take.
pub async fn run(
    iam: &Iam,
    state: Option<&StateTable>,
    settings: &Settings,
    now: OffsetDateTime,
    budget: Budget,
) -> Result<Report, RunError> {
    let timeout = Duration::from_secs(u64::from(settings.report_timeout_secs));
    let (report, details) = tokio::join!(iam.credential_report(timeout), iam.account_details());
    let (csv, generated_at) = report.map_err(RunError::CredentialReport)?;
    let (details, policies) = details.map_err(RunError::UserDetails)?;
    let parsed = credential_report::parse(&csv)?;
    let mut inventory = Inventory::new(parsed, generated_at, details, policies);
    read_service_credentials(iam, &mut inventory, settings, now).await;
    let missing = inventory.missing_from_report();
    if !missing.is_empty() {
        return Err(RunError::IncompleteReport(missing));
    }
    let plan = rules::plan(&inventory, settings, now);
    tracing::info!(
        users = plan.users_evaluated,
        credentials = plan.credentials_evaluated,
        findings = plan.items.len(),
        changes = plan.change_count(),
        rejected_rows = inventory.rejected.len(),
        suspicious_tags = plan.suspicious.len(),
        "planned"
    );
    for t in &plan.suspicious {
        tracing::warn!(user = %t.user, key = %t.key, value = %t.value, reason = %t.reason, "suspicious tag ignored");
    }

    // Dormant credentials first, checked against the breaker on their own and applied
    // independently of least privilege, which then looks only at users who still have a
    // credential to call AWS with.
    let max = settings.max_actions as usize;
    let enforce = settings.mode == Mode::Enforce;
    let dormant_changes = plan.change_count();
    let mut items = plan.items;
    let dormant_tripped = enforce && dormant_changes > max;
    if dormant_tripped {
        trip(
            items.iter_mut().filter(|i| i.is_change()).map(|i| &mut i.finding),
            dormant_changes,
            max,
        );
    } else if settings.as_of.is_none() {
        let tags = inventory
            .details
            .iter()
            .map(|(name, d)| (name.clone(), d.tags.clone()))
            .collect();
        items = confirm_and_apply(iam, settings, now, items, &tags, budget).await;
    }
    let applied_before = items.iter().filter(|i| i.finding.status == Status::Applied).count();

    let mut not_checked = inventory.not_checked.clone();
    let memory = if settings.least_privilege.enabled {
        recall(state, &mut not_checked).await
    } else {
        None
    };
    let mut assessed = match &memory {
        Some(memory) => {
            let active = lp::users_with_credentials(&inventory, items.iter().map(|i| &i.finding));
            deny::assess(iam, &inventory, &active, memory, settings, now, budget).await
        }
        None => deny::Assessed::default(),
    };
    let mut deny_items = std::mem::take(&mut assessed.items);
    let changes = dormant_changes + deny_items.iter().filter(|d| d.is_change()).count();
    let breaker = (changes > max).then_some(BreakerTrip {
        planned_changes: changes,
        max_actions: settings.max_actions,
        tripped: enforce,
        applied_before,
    });
    if breaker.as_ref().is_some_and(|b| b.tripped) {
        tracing::error!(planned = changes, max, applied_before, "circuit breaker tripped");
        trip(
            deny_items.iter_mut().filter(|i| i.is_change()).map(|i| &mut i.finding),
            changes,
            max,
        );
    } else if settings.as_of.is_none() && enforce {
        deny_items = deny::apply(iam, settings, deny_items, budget).await;
    }
    // Remembered after the changes (in report mode too: what was seen is seen), never
    // for a run evaluated as of another time.
    if let Some(table) = state.filter(|_| settings.as_of.is_none()) {
        let failures = deny::remember_checked(table, &assessed.observed, &deny_items, settings, now).await;
        if let Some(first) = failures.first() {
            tracing::warn!(users = failures.len(), error = %first, "state not saved");
            not_checked.push(format!(
                "least privilege's memory of {} user(s) was not saved (they are checked again first next run): {first}",
                failures.len()
            ));
        }
    }

    let mut report = Report {
        schema_version: crate::model::report::REPORT_SCHEMA_VERSION,
        account_id: inventory.account_id.clone(),
        generated_at: now,
        enforce: settings.mode == Mode::Enforce,
        mode: settings.mode,
        credential_report_generated_at: inventory.report_generated_at,
        dormant_days: settings.dormant_days,
        warn_days: settings.warn_days,
        findings: items
            .into_iter()
            .map(|i| i.finding)
            .chain(deny_items.into_iter().map(|d| d.finding))
            .collect(),
        rejected_rows: inventory.rejected.clone(),
        suspicious_tags: plan.suspicious,
        not_checked,
        not_stored: None,
        summary: Summary {
            users_evaluated: plan.users_evaluated,
            credentials_evaluated: plan.credentials_evaluated,
            users_checked_for_unused_services: assessed.checked,
            users_without_credentials: assessed.without_credentials,
            users_left_for_next_run: assessed.not_reached,
            oldest_check_days: assessed.oldest_check.map(|t| (now - t).whole_days()),
            users_checked_for_ssh_keys: inventory.ssh_key_users,
            circuit_breaker: breaker,
            ..Summary::default()
        },
    };
    report.summary.users_with_deny_policy = lp::users_with_deny_policy(&inventory, &report.findings);
    report.recount();
    Ok(report)
}

/// Least privilege's memory: empty without a state table (every check is a first
/// sighting); `None` if the table is missing, of the wrong schema or unreadable: least
/// privilege is then skipped for this run, and the reason, naming the table, is
/// reported. Dormant credentials are unaffected.
async fn recall(state: Option<&StateTable>, not_checked: &mut Vec<String>) -> Option<HashMap<String, UserMemory>> {
    let Some(table) = state else {
        return Some(HashMap::new());
    };
    let loaded = match table.check().await {
        Ok(()) => table.load().await,
        Err(e) => Err(e),
    };
    match loaded {
        Ok(loaded) => {
            if loaded.unreadable > 0 {
                tracing::warn!(
                    table = table.name(),
                    items = loaded.unreadable,
                    "state items not in the engine's form ignored"
                );
            }
            Some(loaded.users)
        }
        Err(e) => {
            tracing::error!(error = %e, "least privilege skipped");
            not_checked.push(format!("least privilege was skipped this run: {e}"));
            None
        }
    }
}

/// Marks the changes the circuit breaker stops as skipped.
fn trip<'a>(findings: impl Iterator<Item = &'a mut Finding>, planned: usize, max: usize) {
    for f in findings {
        f.status = Status::Skipped;
        f.reason_code = ReasonCode::CircuitBreaker;
        f.reason = format!(
            "circuit breaker: {planned} changes planned, more than max-actions {max}; not changed ({})",
            f.reason
        );
    }
}

/// Service-specific credentials: one paged listing per service (`AllUsers`); SSH public
/// keys: one listing per user, for this run's share of the users
/// ([`rules::ssh_key_sweep`]); then Access Advisor for the users whose credentials are
/// old enough to matter, and no one else. A listing that fails is reported as not
/// checked; the run goes on.
async fn read_service_credentials(iam: &Iam, inventory: &mut Inventory, settings: &Settings, now: OffsetDateTime) {
    for s in SERVICE_CREDENTIAL_SERVICES {
        match iam.service_credentials(CredentialsOf::Service(s.service)).await {
            Ok(list) => inventory.service_credentials.extend(list),
            Err(e) => {
                tracing::warn!(service = s.service, error = %e, "service-specific credentials not listed");
                inventory
                    .not_checked
                    .push(format!("{}s ({}): {e}", s.credential, s.service));
            }
        }
    }
    let names: Vec<&str> = inventory.details.keys().map(String::as_str).collect();
    let share = rules::ssh_key_sweep(&names, settings.ssh_key_sweep, now);
    inventory.ssh_key_users = share.len();
    let listed: Vec<(String, Result<Vec<SshPublicKey>, AwsError>)> = futures::stream::iter(share)
        .map(|user| async move {
            let keys = iam.ssh_public_keys(&user).await;
            (user, keys)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut unlisted = Vec::new();
    for (user, keys) in listed {
        match keys {
            Ok(keys) => inventory.ssh_keys.extend(keys),
            Err(e) => unlisted.push((user, e)),
        }
    }
    if let Some((user, e)) = unlisted.first() {
        tracing::warn!(users = unlisted.len(), error = %e, "SSH public keys not listed");
        inventory.not_checked.push(format!(
            "SSH public keys of {} user(s), {user} first: {e}",
            unlisted.len()
        ));
    }
    let users: Vec<(String, String)> = rules::advisor_judged_users(inventory, settings, now)
        .into_iter()
        .filter_map(|user| {
            let arn = inventory.details.get(&user)?.arn.clone();
            Some((user, arn))
        })
        .collect();
    let advisor: Vec<(String, Result<Vec<ServiceAccess>, String>)> = futures::stream::iter(users)
        .map(|(user, arn)| async move {
            let services = iam.access_advisor(&arn).await.map_err(|e| e.to_string());
            (user, services)
        })
        .buffer_unordered(settings.least_privilege.advisor_concurrency.max(1))
        .collect()
        .await;
    inventory.advisor.extend(advisor);
}
