//! One run: read the inventory with bulk calls, plan with the pure rules, trip the
//! circuit breaker if needed, then confirm each candidate against live IAM data and (in
//! enforce mode) apply it, user by user with bounded concurrency.
//!
//! Each user is independent: a failure is recorded on that user's findings and the run
//! goes on. Nothing is written before the whole inventory has been read and planned, so
//! a bad report or a tripped breaker changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::{AwsError, Deleted, Iam};
use crate::credential_report::{self, ReportError};
use crate::deny;
use crate::inventory::{Inventory, Tag};
use crate::report::{BreakerTrip, Report, Status, Summary};
use crate::rules::{self, Credential, CredentialFacts, Planned, Standing};
use crate::settings::{Mode, Settings};

/// Prefix of the audit-trail tags the engine writes on users it changed.
pub const TAG_PREFIX: &str = "iam-janitor:";
/// Tag set when the console password was deleted; the value is the time (RFC 3339).
pub const TAG_CONSOLE_DISABLED: &str = "iam-janitor:console-disabled";
/// Prefix of the tag set when a key was deactivated: `iam-janitor:key-disabled:<key id>`.
pub const TAG_KEY_DISABLED_PREFIX: &str = "iam-janitor:key-disabled:";

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

/// Runs the engine once. `now` is the clock reading (or `--as-of`).
pub async fn run(iam: &Iam, settings: &Settings, now: OffsetDateTime) -> Result<Report, RunError> {
    let timeout = Duration::from_secs(u64::from(settings.report_timeout_secs));
    let (report, details) = tokio::join!(iam.credential_report(timeout), iam.account_details());
    let (csv, generated_at) = report.map_err(RunError::CredentialReport)?;
    let (details, policies) = details.map_err(RunError::UserDetails)?;
    let parsed = credential_report::parse(&csv)?;
    let inventory = Inventory::new(parsed, generated_at, details, policies);
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
        "planned"
    );

    let (mut deny_items, advisor_users) = if settings.least_privilege.enabled {
        deny::assess(iam, &inventory, settings, now).await
    } else {
        (Vec::new(), 0)
    };
    let changes = plan.change_count() + deny_items.iter().filter(|d| d.is_change()).count();
    let breaker = (changes > settings.max_actions as usize).then(|| BreakerTrip {
        planned_changes: changes,
        max_actions: settings.max_actions,
        tripped: settings.mode == Mode::Enforce,
    });

    let mut items = plan.items;
    if let Some(trip) = breaker.as_ref().filter(|b| b.tripped) {
        tracing::error!(
            planned = trip.planned_changes,
            max = trip.max_actions,
            "circuit breaker tripped; nothing changed"
        );
        let trip_reason = |f: &mut crate::report::Finding| {
            f.status = Status::Skipped;
            f.reason = format!(
                "circuit breaker: {} changes planned, more than max-actions {}; nothing was changed ({})",
                trip.planned_changes, trip.max_actions, f.reason
            );
        };
        items
            .iter_mut()
            .filter(|i| i.is_change())
            .for_each(|i| trip_reason(&mut i.finding));
        deny_items
            .iter_mut()
            .filter(|i| i.is_change())
            .for_each(|i| trip_reason(&mut i.finding));
    } else if settings.as_of.is_none() {
        items = confirm_and_apply(iam, settings, now, items).await;
        if settings.mode == Mode::Enforce {
            deny_items = deny::apply(iam, settings, deny_items).await;
        }
    }

    let mut report = Report {
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
        summary: Summary {
            users_evaluated: plan.users_evaluated,
            credentials_evaluated: plan.credentials_evaluated,
            users_checked_for_unused_services: advisor_users,
            circuit_breaker: breaker,
            ..Summary::default()
        },
    };
    report.recount();
    Ok(report)
}

/// Groups the plan by user and processes users concurrently (bounded), keeping the
/// findings in plan order.
async fn confirm_and_apply(iam: &Iam, settings: &Settings, now: OffsetDateTime, items: Vec<Planned>) -> Vec<Planned> {
    let mut by_user: BTreeMap<String, Vec<(usize, Planned)>> = BTreeMap::new();
    let mut untouched = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if item.is_change() {
            by_user.entry(item.finding.user.clone()).or_default().push((i, item));
        } else {
            untouched.push((i, item));
        }
    }
    let done: Vec<Vec<(usize, Planned)>> = futures::stream::iter(by_user.into_values())
        .map(|user_items| process_user(iam, settings, now, user_items))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut all: Vec<(usize, Planned)> = untouched.into_iter().chain(done.into_iter().flatten()).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, item)| item).collect()
}

/// Confirms one user's candidates on live data and applies them in enforce mode, then
/// writes one audit-trail TagUser call for everything changed.
async fn process_user(
    iam: &Iam,
    settings: &Settings,
    now: OffsetDateTime,
    mut items: Vec<(usize, Planned)>,
) -> Vec<(usize, Planned)> {
    let Some(user) = items.first().map(|(_, p)| p.finding.user.clone()) else {
        return items;
    };
    let stamp = now.format(&Rfc3339).unwrap_or_default();
    let enforce = settings.mode == Mode::Enforce;
    let mut audit_tags = Vec::new();
    let mut applied = Vec::new();

    // Keys are listed once per user, and only if the user has a key candidate.
    let mut live_keys: Option<Result<Vec<crate::aws::LiveKey>, AwsError>> = None;

    for (idx, (_, item)) in items.iter_mut().enumerate() {
        let outcome = match item.credential {
            Credential::Console => confirm_console(iam, &user, item.facts, settings, now).await,
            Credential::AccessKey { slot, created } => {
                if live_keys.is_none() {
                    live_keys = Some(iam.access_keys(&user).await);
                }
                match live_keys.as_ref() {
                    Some(Ok(keys)) => confirm_key(iam, keys, slot, created, item, settings, now).await,
                    Some(Err(e)) => Confirmed::Failed(e.to_string()),
                    None => Confirmed::Failed("access keys were not listed".to_string()),
                }
            }
        };
        let f = &mut item.finding;
        match outcome {
            Confirmed::Skip(why) => {
                f.status = Status::Skipped;
                f.reason = why;
            }
            Confirmed::Failed(err) => {
                f.status = Status::Failed;
                f.reason = format!("live confirmation failed, not changed: {err}");
            }
            Confirmed::Dormant {
                key_id,
                idle_days,
                last_used,
            } => {
                f.access_key_id = key_id;
                f.idle_days = Some(idle_days);
                f.last_used = last_used;
                if !enforce {
                    f.reason = format!("{} (confirmed on live data)", f.reason);
                    continue;
                }
                let write = match (&item.credential, &f.access_key_id) {
                    (Credential::Console, _) => iam.delete_login_profile(&user).await.map(Some),
                    (Credential::AccessKey { .. }, Some(id)) => {
                        iam.deactivate_access_key(&user, id).await.map(|_| None)
                    }
                    (Credential::AccessKey { .. }, None) => Err(AwsError {
                        operation: "UpdateAccessKey",
                        code: None,
                        message: "no key ID resolved".to_string(),
                    }),
                };
                match write {
                    Ok(Some(Deleted::AlreadyGone)) => {
                        f.status = Status::Skipped;
                        f.reason = "login profile already deleted".to_string();
                    }
                    Ok(_) => {
                        f.status = Status::Applied;
                        audit_tags.push(Tag {
                            key: match &f.access_key_id {
                                Some(id) => format!("{TAG_KEY_DISABLED_PREFIX}{id}"),
                                None => TAG_CONSOLE_DISABLED.to_string(),
                            },
                            value: stamp.clone(),
                        });
                        applied.push(idx);
                        tracing::info!(user = %user, action = ?f.action, key = ?f.access_key_id, "applied");
                    }
                    Err(e) => {
                        f.status = Status::Failed;
                        f.reason = format!("{e} ({})", f.reason);
                        tracing::error!(user = %user, action = ?f.action, error = %e, "write failed");
                    }
                }
            }
        }
    }

    if !audit_tags.is_empty()
        && let Err(e) = iam.tag_user(&user, &audit_tags).await
    {
        tracing::error!(user = %user, error = %e, "audit tag failed");
        for idx in applied {
            let f = &mut items[idx].1.finding;
            f.reason = format!("{}; the audit-trail tag could not be written: {e}", f.reason);
            f.audit_trail_error = Some(e.to_string());
        }
    }
    items
}

enum Confirmed {
    Dormant {
        key_id: Option<String>,
        idle_days: i64,
        last_used: Option<OffsetDateTime>,
    },
    Skip(String),
    Failed(String),
}

/// The later of two optional times.
fn latest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    a.max(b)
}

fn recheck(facts: CredentialFacts, settings: &Settings, now: OffsetDateTime, what: &str) -> Result<i64, String> {
    match rules::assess(facts, settings, now) {
        (idle, Standing::Dormant) => Ok(idle),
        (idle, _) => Err(format!(
            "{what} used since the credential report: live data says idle {idle} days{}; not changed",
            facts
                .last_used
                .map(|t| format!(", last used {}", t.date()))
                .unwrap_or_default()
        )),
    }
}

async fn confirm_console(
    iam: &Iam,
    user: &str,
    facts: CredentialFacts,
    settings: &Settings,
    now: OffsetDateTime,
) -> Confirmed {
    match iam.password_last_used(user).await {
        Err(e) if e.is_code("NoSuchEntity") => Confirmed::Skip("user no longer exists".to_string()),
        Err(e) => Confirmed::Failed(e.to_string()),
        Ok(live) => {
            let facts = CredentialFacts {
                last_used: latest(facts.last_used, live),
                ..facts
            };
            match recheck(facts, settings, now, "console password") {
                Ok(idle_days) => Confirmed::Dormant {
                    key_id: None,
                    idle_days,
                    last_used: facts.last_used,
                },
                Err(why) => Confirmed::Skip(why),
            }
        }
    }
}

async fn confirm_key(
    iam: &Iam,
    keys: &[crate::aws::LiveKey],
    slot: u8,
    created: OffsetDateTime,
    item: &Planned,
    settings: &Settings,
    now: OffsetDateTime,
) -> Confirmed {
    // The report has no key IDs: its slot is matched to a key by the key's creation time.
    let Some(key) = keys
        .iter()
        .find(|k| k.created.unix_timestamp() == created.unix_timestamp())
    else {
        return Confirmed::Skip(format!(
            "access key {slot} (created {}) no longer exists; not changed",
            created.date()
        ));
    };
    if !key.active {
        return Confirmed::Skip(format!("access key {} is already inactive", key.id));
    }
    match iam.access_key_last_used(&key.id).await {
        Err(e) => Confirmed::Failed(e.to_string()),
        Ok(live) => {
            let facts = CredentialFacts {
                last_used: latest(item.facts.last_used, live),
                ..item.facts
            };
            match recheck(facts, settings, now, &format!("access key {}", key.id)) {
                Ok(idle_days) => Confirmed::Dormant {
                    key_id: Some(key.id.clone()),
                    idle_days,
                    last_used: facts.last_used,
                },
                Err(why) => Confirmed::Skip(why),
            }
        }
    }
}
