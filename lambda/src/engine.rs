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
/// Tag set when the console password was deleted. The tags are written just before the
/// change: the value is its time (RFC 3339), or [`NOT_DONE`] and the time when the change
/// then failed.
pub const TAG_CONSOLE_DISABLED: &str = "iam-janitor:console-disabled";
/// Prefix of the tag set when a key was deactivated: `iam-janitor:key-disabled:<key id>`.
pub const TAG_KEY_DISABLED_PREFIX: &str = "iam-janitor:key-disabled:";
/// Start of an audit-trail tag value whose change was not made (`not-done <time>`).
pub const NOT_DONE: &str = "not-done";

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

/// Confirms one user's candidates on live data and, in enforce mode, changes them.
///
/// The audit trail is written first: one TagUser call with a tag per credential about
/// to change, then the changes. A change is never made without its record (restore
/// reads these tags), whatever fails or stops in between: a failed TagUser means no
/// change at all, and a run stopped after the tag (a Lambda timeout, a lost answer)
/// leaves a record that the next run completes, since the credential is still
/// dormant. The price is a record of a change that then failed (reported as failed);
/// restore acts on the live state, so giving back what was not taken does nothing.
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

    // 1. Confirm every candidate on live data.
    // Keys are listed once per user, and only if the user has a key candidate.
    let mut live_keys: Option<Result<Vec<crate::aws::LiveKey>, AwsError>> = None;
    let mut confirmed = Vec::new();
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
                match (&item.credential, &f.access_key_id) {
                    (Credential::AccessKey { .. }, None) => {
                        f.status = Status::Failed;
                        f.reason = format!("no key ID resolved, not changed ({})", f.reason);
                    }
                    _ => confirmed.push(idx),
                }
            }
        }
    }
    if confirmed.is_empty() {
        return items;
    }

    // 2. The audit trail, before any change.
    let audit_tags: Vec<Tag> = confirmed
        .iter()
        .map(|&idx| Tag {
            key: audit_tag_key(items[idx].1.finding.access_key_id.as_deref()),
            value: stamp.clone(),
        })
        .collect();
    if let Err(e) = iam.tag_user(&user, &audit_tags).await
        && !tags_written(iam, &user, &audit_tags).await
    {
        tracing::error!(user = %user, error = %e, "audit tag failed; nothing changed");
        for idx in confirmed {
            let f = &mut items[idx].1.finding;
            f.status = Status::Failed;
            f.reason = format!(
                "the audit-trail tag could not be written, not changed: {e} ({})",
                f.reason
            );
        }
        return items;
    }

    // 3. The changes.
    let mut not_done = Vec::new();
    let mut not_done_idx = Vec::new();
    for idx in confirmed {
        let item = &mut items[idx].1;
        let f = &mut item.finding;
        let write = match (&item.credential, &f.access_key_id) {
            (Credential::Console, _) => iam.delete_login_profile(&user).await.map(Some),
            (Credential::AccessKey { .. }, Some(id)) => iam.deactivate_access_key(&user, id).await.map(|_| None),
            (Credential::AccessKey { .. }, None) => continue,
        };
        if let Ok(Some(Deleted::AlreadyGone)) = write {
            // Confirmed present a moment ago: an earlier attempt of this request took
            // effect and its answer was lost (the SDK retried), or someone deleted it at
            // the same moment. Either way it is gone, as recorded.
            f.reason = format!(
                "{} (the login profile was gone when the delete was retried: an earlier attempt took effect)",
                f.reason
            );
        }
        let Err(e) = write else {
            f.status = Status::Applied;
            tracing::info!(user = %user, action = ?f.action, key = ?f.access_key_id, "applied");
            continue;
        };
        // The request may have taken effect although its answer was lost (a dropped
        // connection, a retry that then failed): look before saying what was not done.
        f.status = Status::Failed;
        match took_effect(iam, &user, &item.credential, f.access_key_id.as_deref()).await {
            Ok(true) => {
                f.status = Status::Applied;
                f.reason = format!("{} (confirmed on re-read after: {e})", f.reason);
                tracing::info!(user = %user, action = ?f.action, key = ?f.access_key_id, "applied (answer lost)");
            }
            Ok(false) => {
                f.reason = format!("{e} ({})", f.reason);
                tracing::error!(user = %user, action = ?f.action, error = %e, "write failed");
                not_done_idx.push(idx);
                not_done.push(Tag {
                    key: audit_tag_key(f.access_key_id.as_deref()),
                    value: format!("{NOT_DONE} {stamp}"),
                });
            }
            Err(unknown) => {
                // The record stays: the change may have been made. The next run confirms
                // again, and re-does it if the credential is still there.
                f.reason = format!("{e}; whether it took effect is unknown ({unknown}) ({})", f.reason);
                tracing::error!(user = %user, action = ?f.action, error = %e, "write failed, outcome unknown");
            }
        }
    }

    // 4. The record of a change that was not made says so.
    if !not_done.is_empty()
        && let Err(e) = iam.tag_user(&user, &not_done).await
    {
        tracing::error!(user = %user, error = %e, "could not mark the audit trail not-done");
        for idx in not_done_idx {
            let f = &mut items[idx].1.finding;
            f.reason = format!("{}; its audit-trail tag still records the change: {e}", f.reason);
        }
    }
    items
}

/// Whether a TagUser whose answer was lost took effect: every tag is on the user with
/// its value. A failed re-read counts as "no" (then nothing is changed).
async fn tags_written(iam: &Iam, user: &str, tags: &[Tag]) -> bool {
    match iam.user_tags(user).await {
        Ok(live) => tags.iter().all(|t| live.contains(t)),
        Err(e) => {
            tracing::warn!(user = %user, error = %e, "could not re-read the audit trail");
            false
        }
    }
}

/// The audit-trail tag key of a credential.
fn audit_tag_key(key_id: Option<&str>) -> String {
    match key_id {
        Some(id) => format!("{TAG_KEY_DISABLED_PREFIX}{id}"),
        None => TAG_CONSOLE_DISABLED.to_string(),
    }
}

/// Whether a change whose request failed is nevertheless in effect (live state).
async fn took_effect(iam: &Iam, user: &str, credential: &Credential, key_id: Option<&str>) -> Result<bool, AwsError> {
    match (credential, key_id) {
        (Credential::Console, _) => Ok(!iam.has_login_profile(user).await?),
        (Credential::AccessKey { .. }, Some(id)) => {
            let keys = iam.access_keys(user).await?;
            Ok(keys.iter().any(|k| k.id == id && !k.active))
        }
        (Credential::AccessKey { .. }, None) => Ok(false),
    }
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
    // The report may be hours old (IAM caches it up to 4 h): a password deleted since,
    // by an earlier run or by someone else, is not deleted "again". It also tells an
    // answer of NoSuchEntity to DeleteLoginProfile (a retry whose first attempt took
    // effect) from a password that was never there.
    match iam.has_login_profile(user).await {
        Ok(true) => {}
        Ok(false) => return Confirmed::Skip("login profile already deleted".to_string()),
        Err(e) => return Confirmed::Failed(e.to_string()),
    }
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
