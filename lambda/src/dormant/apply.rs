//! Confirms each dormant candidate on live data and, in enforce mode, records and makes
//! the change, user by user with bounded concurrency.
//!
//! One user's path is a pure step function and a thin driver:
//!
//! - [`confirm`] takes a candidate and the live reads made so far ([`Live`]) and returns
//!   either its verdict ([`Confirmed`]) or the next read it needs ([`Read`]);
//! - [`trail_records`], [`trail_failed`], [`write_of`], [`settle`] and [`not_done_failed`]
//!   say what to write and how each answer changes the findings;
//! - [`process_user`] (the driver) makes the reads and writes they ask for, and nothing
//!   else.
//!
//! The audit trail is written first: one TagUser call with a record per credential about
//! to change, then the changes. A change is never made without its record (restore reads
//! these tags), whatever fails or stops in between: a failed TagUser means no change at
//! all, and a run stopped after the tag (a Lambda timeout, a lost answer) leaves a record
//! that the next run completes, since the credential is still dormant. The price is a
//! record of a change that then failed (reported as failed, its record marked
//! `not-done`); restore acts on the live state, so giving back what was not taken does
//! nothing.
//!
//! Each user is independent: a failure is recorded on that user's findings and the run
//! goes on.

use std::collections::BTreeMap;

use futures::StreamExt;
use time::OffsetDateTime;

use crate::dormant::rules::{self, Credential, CredentialFacts, Planned, Standing};
use crate::iam::{AwsError, Deleted, ErrorKind, Iam, LiveKey};
use crate::model::inventory::Tag;
use crate::model::report::{Finding, ReasonCode, Status};
use crate::settings::{Mode, Settings};
use crate::trail::{Record, Subject};

/// A live read the step function asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// GetLoginProfile: does the user have a console password now?
    LoginProfile,
    /// GetUser: the password's last use now.
    PasswordLastUsed,
    /// ListAccessKeys: the user's keys now.
    AccessKeys,
    /// GetAccessKeyLastUsed of one key.
    KeyLastUsed(String),
}

/// The live reads of one user made so far; each is read at most once per phase.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub login_profile: Option<Result<bool, AwsError>>,
    pub password_last_used: Option<Result<Option<OffsetDateTime>, AwsError>>,
    pub keys: Option<Result<Vec<LiveKey>, AwsError>>,
    pub key_last_used: BTreeMap<String, Result<Option<OffsetDateTime>, AwsError>>,
}

/// The verdict on one candidate after live confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Still dormant on live data: change it (enforce) or say it was confirmed (report).
    Dormant {
        key_id: Option<String>,
        idle_days: i64,
        last_used: Option<OffsetDateTime>,
    },
    /// Nothing to do: already done, gone, or used since the report.
    Skip(ReasonCode, String),
    /// A live read failed: not changed.
    Failed(String),
}

/// One step of confirmation: the verdict, or the read still needed for it.
pub fn confirm(item: &Planned, live: &Live, settings: &Settings, now: OffsetDateTime) -> Result<Confirmed, Read> {
    match item.credential {
        Credential::Console => confirm_console(item.facts, live, settings, now),
        Credential::AccessKey { slot, created } => confirm_key(item.facts, slot, created, live, settings, now),
    }
}

fn confirm_console(
    facts: CredentialFacts,
    live: &Live,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Confirmed, Read> {
    // The report may be hours old (IAM caches it up to 4 h): a password deleted since,
    // by an earlier run or by someone else, is not deleted "again". It also tells an
    // answer of NoSuchEntity to DeleteLoginProfile (a retry whose first attempt took
    // effect) from a password that was never there.
    match live.login_profile.as_ref().ok_or(Read::LoginProfile)? {
        Ok(true) => {}
        Ok(false) => {
            return Ok(Confirmed::Skip(
                ReasonCode::AlreadyDone,
                "login profile already deleted".to_string(),
            ));
        }
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
    }
    Ok(match live.password_last_used.as_ref().ok_or(Read::PasswordLastUsed)? {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Confirmed::Skip(ReasonCode::Gone, "user no longer exists".to_string())
        }
        Err(e) => Confirmed::Failed(e.to_string()),
        Ok(last_used) => recheck(facts, *last_used, None, settings, now, "console password"),
    })
}

fn confirm_key(
    facts: CredentialFacts,
    slot: u8,
    created: OffsetDateTime,
    live: &Live,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Confirmed, Read> {
    let keys = match live.keys.as_ref().ok_or(Read::AccessKeys)? {
        Ok(keys) => keys,
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
    };
    // The report has no key IDs: its slot is matched to a key by the key's creation time.
    let Some(key) = keys
        .iter()
        .find(|k| k.created.unix_timestamp() == created.unix_timestamp())
    else {
        return Ok(Confirmed::Skip(
            ReasonCode::Gone,
            format!(
                "access key {slot} (created {}) no longer exists; not changed",
                created.date()
            ),
        ));
    };
    if !key.active {
        return Ok(Confirmed::Skip(
            ReasonCode::AlreadyDone,
            format!("access key {} is already inactive", key.id),
        ));
    }
    let read = || Read::KeyLastUsed(key.id.clone());
    Ok(match live.key_last_used.get(&key.id).ok_or_else(read)? {
        Err(e) => Confirmed::Failed(e.to_string()),
        Ok(last_used) => recheck(
            facts,
            *last_used,
            Some(&key.id),
            settings,
            now,
            &format!("access key {}", key.id),
        ),
    })
}

/// The same rule again, on the later of the report's and the live last use.
fn recheck(
    facts: CredentialFacts,
    live_last_used: Option<OffsetDateTime>,
    key_id: Option<&str>,
    settings: &Settings,
    now: OffsetDateTime,
    what: &str,
) -> Confirmed {
    let facts = CredentialFacts {
        last_used: facts.last_used.max(live_last_used),
        ..facts
    };
    match rules::assess(facts, settings, now) {
        (idle_days, Standing::Dormant) => Confirmed::Dormant {
            key_id: key_id.map(str::to_string),
            idle_days,
            last_used: facts.last_used,
        },
        (idle, _) => Confirmed::Skip(
            ReasonCode::UsedSinceReport,
            format!(
                "{what} used since the credential report: live data says idle {idle} days{}; not changed",
                facts
                    .last_used
                    .map(|t| format!(", last used {}", t.date()))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Applies a verdict to the finding. Returns whether the credential is to be changed
/// (confirmed dormant, in enforce mode, with what the change needs).
pub fn take_verdict(item: &mut Planned, verdict: Confirmed, enforce: bool) -> bool {
    let f = &mut item.finding;
    match verdict {
        Confirmed::Skip(code, why) => {
            f.status = Status::Skipped;
            f.reason_code = code;
            f.reason = why;
            false
        }
        Confirmed::Failed(err) => {
            f.status = Status::Failed;
            f.reason_code = ReasonCode::ConfirmationFailed;
            f.reason = format!("live confirmation failed, not changed: {err}");
            false
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
                return false;
            }
            match (&item.credential, &f.access_key_id) {
                (Credential::AccessKey { .. }, None) => {
                    f.status = Status::Failed;
                    f.reason_code = ReasonCode::NoKeyId;
                    f.reason = format!("no key ID resolved, not changed ({})", f.reason);
                    false
                }
                _ => true,
            }
        }
    }
}

/// The audit-trail subject of a finding's credential.
fn subject(finding: &Finding) -> Subject {
    match &finding.access_key_id {
        Some(id) => Subject::Key(id.clone()),
        None => Subject::Console,
    }
}

/// The records to write before the changes: one per credential about to change.
pub fn trail_records(findings: &[&Finding], now: OffsetDateTime) -> Vec<Tag> {
    findings
        .iter()
        .map(|f| Tag {
            key: subject(f).tag_key(),
            value: Record::Done(now).to_string(),
        })
        .collect()
}

/// Whether a TagUser whose answer was lost took effect: every record is on the user with
/// its value. A failed re-read counts as "no" (then nothing is changed).
pub fn records_written(records: &[Tag], live_tags: &Result<Vec<Tag>, AwsError>) -> bool {
    match live_tags {
        Ok(live) => records.iter().all(|t| live.contains(t)),
        Err(_) => false,
    }
}

/// The records could not be written: nothing is changed.
pub fn trail_failed(finding: &mut Finding, error: &AwsError) {
    finding.status = Status::Failed;
    finding.reason_code = ReasonCode::TrailFailed;
    finding.reason = format!(
        "the audit-trail tag could not be written, not changed: {error} ({})",
        finding.reason
    );
}

/// The write that makes a confirmed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// DeleteLoginProfile.
    DeleteLoginProfile,
    /// UpdateAccessKey to Inactive.
    DeactivateKey(String),
}

/// The write of a confirmed candidate (`None` for a key without an ID, which
/// [`take_verdict`] never confirms).
pub fn write_of(item: &Planned) -> Option<Write> {
    match (&item.credential, &item.finding.access_key_id) {
        (Credential::Console, _) => Some(Write::DeleteLoginProfile),
        (Credential::AccessKey { .. }, Some(id)) => Some(Write::DeactivateKey(id.clone())),
        (Credential::AccessKey { .. }, None) => None,
    }
}

/// The read that tells whether a write whose request failed is in effect anyway.
pub fn reread_of(write: &Write) -> Read {
    match write {
        Write::DeleteLoginProfile => Read::LoginProfile,
        Write::DeactivateKey(_) => Read::AccessKeys,
    }
}

/// Whether a write is in effect on the live state read after it failed.
pub fn in_effect(write: &Write, live: &Live) -> Option<Result<bool, AwsError>> {
    match write {
        Write::DeleteLoginProfile => live.login_profile.clone().map(|r| r.map(|has| !has)),
        Write::DeactivateKey(id) => live
            .keys
            .clone()
            .map(|r| r.map(|keys| keys.iter().any(|k| k.id == *id && !k.active))),
    }
}

/// How a write ended, once settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// In effect.
    Applied,
    /// Not in effect: its record is to be marked not-done with this tag.
    NotDone(Tag),
    /// Whether it took effect is unknown: the record stays.
    Unknown,
}

/// Settles one write from its answer and, if it failed, the re-read after it
/// (`reread` is `None` when the write succeeded). Updates the finding.
pub fn settle(
    finding: &mut Finding,
    answer: &Result<Option<Deleted>, AwsError>,
    reread: Option<Result<bool, AwsError>>,
    now: OffsetDateTime,
) -> Settled {
    let e = match answer {
        Ok(deleted) => {
            if *deleted == Some(Deleted::AlreadyGone) {
                // Confirmed present a moment ago: an earlier attempt of this request took
                // effect and its answer was lost (the SDK retried), or someone deleted it
                // at the same moment. Either way it is gone, as recorded.
                finding.reason = format!(
                    "{} (the login profile was gone when the delete was retried: an earlier attempt took effect)",
                    finding.reason
                );
            }
            finding.status = Status::Applied;
            return Settled::Applied;
        }
        Err(e) => e,
    };
    // The request may have taken effect although its answer was lost (a dropped
    // connection, a retry that then failed): look before saying what was not done.
    match reread {
        Some(Ok(true)) => {
            finding.status = Status::Applied;
            finding.reason = format!("{} (confirmed on re-read after: {e})", finding.reason);
            Settled::Applied
        }
        Some(Ok(false)) => {
            finding.status = Status::Failed;
            finding.reason_code = ReasonCode::WriteFailed;
            finding.reason = format!("{e} ({})", finding.reason);
            Settled::NotDone(Tag {
                key: subject(finding).tag_key(),
                value: Record::NotDone(now).to_string(),
            })
        }
        Some(Err(unknown)) => {
            // The record stays: the change may have been made. The next run confirms
            // again, and re-does it if the credential is still there.
            finding.status = Status::Failed;
            finding.reason_code = ReasonCode::OutcomeUnknown;
            finding.reason = format!(
                "{e}; whether it took effect is unknown ({unknown}) ({})",
                finding.reason
            );
            Settled::Unknown
        }
        None => {
            finding.status = Status::Failed;
            finding.reason_code = ReasonCode::OutcomeUnknown;
            finding.reason = format!(
                "{e}; whether it took effect is unknown (not re-read) ({})",
                finding.reason
            );
            Settled::Unknown
        }
    }
}

/// The not-done records could not be written either: the finding says so.
pub fn not_done_failed(finding: &mut Finding, error: &AwsError) {
    finding.reason = format!(
        "{}; its audit-trail tag still records the change: {error}",
        finding.reason
    );
}

/// Groups the plan by user and processes users concurrently (bounded), keeping the
/// findings in plan order.
pub async fn confirm_and_apply(
    iam: &Iam,
    settings: &Settings,
    now: OffsetDateTime,
    items: Vec<Planned>,
) -> Vec<Planned> {
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

/// Makes one read into `live`.
async fn read(iam: &Iam, user: &str, what: Read, live: &mut Live) {
    match what {
        Read::LoginProfile => live.login_profile = Some(iam.has_login_profile(user).await),
        Read::PasswordLastUsed => live.password_last_used = Some(iam.password_last_used(user).await),
        Read::AccessKeys => live.keys = Some(iam.access_keys(user).await),
        Read::KeyLastUsed(id) => {
            let answer = iam.access_key_last_used(&id).await;
            live.key_last_used.insert(id, answer);
        }
    }
}

/// The driver of one user's candidates: the reads and writes the step functions ask for.
async fn process_user(
    iam: &Iam,
    settings: &Settings,
    now: OffsetDateTime,
    mut items: Vec<(usize, Planned)>,
) -> Vec<(usize, Planned)> {
    let Some(user) = items.first().map(|(_, p)| p.finding.user.clone()) else {
        return items;
    };
    let enforce = settings.mode == Mode::Enforce;

    // 1. Confirm every candidate on live data (keys are listed once per user).
    let mut live = Live::default();
    let mut confirmed = Vec::new();
    for (idx, (_, item)) in items.iter_mut().enumerate() {
        let verdict = loop {
            match confirm(item, &live, settings, now) {
                Ok(verdict) => break verdict,
                Err(what) => read(iam, &user, what, &mut live).await,
            }
        };
        if take_verdict(item, verdict, enforce) {
            confirmed.push(idx);
        }
    }
    if confirmed.is_empty() {
        return items;
    }

    // 2. The audit trail, before any change.
    let records = trail_records(
        &confirmed.iter().map(|&idx| &items[idx].1.finding).collect::<Vec<_>>(),
        now,
    );
    if let Err(e) = iam.tag_user(&user, &records).await {
        let live_tags = iam.user_tags(&user).await;
        if let Err(unread) = &live_tags {
            tracing::warn!(user = %user, error = %unread, "could not re-read the audit trail");
        }
        if !records_written(&records, &live_tags) {
            tracing::error!(user = %user, error = %e, "audit tag failed; nothing changed");
            for idx in confirmed {
                trail_failed(&mut items[idx].1.finding, &e);
            }
            return items;
        }
    }

    // 3. The changes, each re-read after a failure.
    let mut not_done = Vec::new();
    for idx in confirmed {
        let item = &mut items[idx].1;
        let Some(write) = write_of(item) else { continue };
        let answer = match &write {
            Write::DeleteLoginProfile => iam.delete_login_profile(&user).await.map(Some),
            Write::DeactivateKey(id) => iam.deactivate_access_key(&user, id).await.map(|()| None),
        };
        let reread = match &answer {
            Ok(_) => None,
            Err(_) => {
                let mut after = Live::default();
                read(iam, &user, reread_of(&write), &mut after).await;
                in_effect(&write, &after)
            }
        };
        let f = &mut item.finding;
        match settle(f, &answer, reread, now) {
            Settled::Applied => {
                tracing::info!(user = %user, action = ?f.action, key = ?f.access_key_id, "applied");
            }
            Settled::NotDone(tag) => {
                tracing::error!(user = %user, action = ?f.action, reason = %f.reason, "write failed");
                not_done.push((idx, tag));
            }
            Settled::Unknown => {
                tracing::error!(user = %user, action = ?f.action, reason = %f.reason, "write failed, outcome unknown");
            }
        }
    }

    // 4. The record of a change that was not made says so.
    if !not_done.is_empty() {
        let tags: Vec<Tag> = not_done.iter().map(|(_, t)| t.clone()).collect();
        if let Err(e) = iam.tag_user(&user, &tags).await {
            tracing::error!(user = %user, error = %e, "could not mark the audit trail not-done");
            for (idx, _) in not_done {
                not_done_failed(&mut items[idx].1.finding, &e);
            }
        }
    }
    items
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
