//! Confirms each dormant candidate on live data and, in enforce mode, records and makes
//! the change, user by user with bounded concurrency.
//!
//! One user's path is a pure step function and a thin driver:
//!
//! - [`confirm`] takes a candidate and the live reads made so far ([`Live`]) and returns
//!   either its verdict ([`Confirmed`]) or the next read it needs ([`Read`]);
//! - [`compact`], [`trail_records`], [`trail_failed`], [`write_of`], [`settle`] and
//!   [`not_done_failed`] say what to write and how each answer changes the findings;
//! - [`process_user`] (the driver) makes the reads and writes they ask for, and nothing
//!   else.
//!
//! The audit trail is written first: one TagUser call with a record per credential about
//! to change, then the changes. Before it, the records of keys the user no longer has are
//! removed (UntagUser), so that rotating keys never fills IAM's 50 tags per user; a user
//! still at the quota is not changed ([`compact`]). A change is never made without its record (restore reads
//! these tags), whatever fails or stops in between: a failed TagUser means no change at
//! all, and a run stopped after the tag (a Lambda timeout, a lost answer) leaves a record
//! that the next run completes, since the credential is still dormant. The price is a
//! record of a change that then failed (reported as failed, its record marked
//! `not-done`); restore acts on the live state, so giving back what was not taken does
//! nothing.
//!
//! Each user is independent: a failure is recorded on that user's findings and the run
//! goes on.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use time::OffsetDateTime;

use crate::budget::Budget;
use crate::dormant::compact::{Compaction, Held, Listed, compact, over_quota, room};
use crate::dormant::rules::{self, Credential, CredentialFacts, Planned, Standing};
use crate::iam::{AwsError, CredentialsOf, Deleted, ErrorKind, Iam, LiveCertificate, LiveKey, LiveUser};
use crate::model::inventory::{ServiceCredential, SshPublicKey, Tag};
use crate::model::report::{Finding, Kind, ReasonCode, Status};
use crate::settings::{Mode, Settings};
use crate::trail::{self, Record, Subject};

/// A live read the step function asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// GetLoginProfile: does the user have a console password now, set when?
    LoginProfile,
    /// GetUser: the user's creation time and the password's last use now.
    User,
    /// ListAccessKeys: the user's keys now.
    AccessKeys,
    /// GetAccessKeyLastUsed of one key.
    KeyLastUsed(String),
    /// ListUserTags: the user's tags now (the audit trail and the tag quota).
    Tags,
    /// ListSigningCertificates: the user's signing certificates now.
    Certificates,
    /// ListServiceSpecificCredentials: the user's service-specific credentials now.
    ServiceCredentials,
    /// ListSSHPublicKeys: the user's SSH public keys now.
    SshKeys,
}

/// The live reads of one user made so far; each is read at most once per phase.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// When the console password was set, or `None` if the user has none.
    pub login_profile: Option<Result<Option<OffsetDateTime>, AwsError>>,
    pub user: Option<Result<LiveUser, AwsError>>,
    pub keys: Option<Result<Vec<LiveKey>, AwsError>>,
    pub key_last_used: BTreeMap<String, Result<Option<OffsetDateTime>, AwsError>>,
    pub tags: Option<Result<Vec<Tag>, AwsError>>,
    pub certificates: Option<Result<Vec<LiveCertificate>, AwsError>>,
    pub service_credentials: Option<Result<Vec<ServiceCredential>, AwsError>>,
    pub ssh_keys: Option<Result<Vec<SshPublicKey>, AwsError>>,
}

/// The verdict on one candidate after live confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Still dormant on live data: change it (enforce) or say it was confirmed (report).
    Dormant {
        /// The credential's ID (a key's or a certificate's; none for a password).
        id: Option<String>,
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
        Credential::Console => confirm_console(item.facts, item.user_created, live, settings, now),
        Credential::AccessKey { slot, created } => confirm_key(item.facts, slot, created, live, settings, now),
        Credential::SigningCertificate { slot, uploaded } => {
            confirm_certificate(item.facts, slot, uploaded, live, settings, now)
        }
        Credential::ServiceCredential { .. } => confirm_listed(
            item,
            &live.service_credentials,
            Read::ServiceCredentials,
            "service-specific credential",
            settings,
            now,
        ),
        Credential::SshKey { .. } => {
            confirm_listed(item, &live.ssh_keys, Read::SshKeys, "SSH public key", settings, now)
        }
    }
}

fn confirm_console(
    facts: CredentialFacts,
    user_created: OffsetDateTime,
    live: &Live,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Confirmed, Read> {
    // The report may be hours old (IAM caches it up to 4 h): a password deleted since,
    // by an earlier run or by someone else, is not deleted "again". It also tells an
    // answer of NoSuchEntity to DeleteLoginProfile (a retry whose first attempt took
    // effect) from a password that was never there.
    let set_at = match live.login_profile.as_ref().ok_or(Read::LoginProfile)? {
        Ok(Some(set_at)) => *set_at,
        Ok(None) => {
            return Ok(Confirmed::Skip(
                ReasonCode::AlreadyDone,
                "login profile already deleted".to_string(),
            ));
        }
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
    };
    let user = match live.user.as_ref().ok_or(Read::User)? {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Confirmed::Skip(ReasonCode::Gone, "user no longer exists".to_string()));
        }
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
        Ok(user) => user,
    };
    // The report's row describes the user who had this name when it was generated.
    if user.created.unix_timestamp() != user_created.unix_timestamp() {
        return Ok(Confirmed::Skip(
            ReasonCode::UserRecreated,
            format!(
                "the user was deleted and recreated since the credential report (created {}, the report's user {}): \
                 not changed; the next report judges this one",
                trail::stamp(user.created),
                trail::stamp(user_created)
            ),
        ));
    }
    // A password deleted and set again since the report (a login profile created after
    // it) is a new password: its idle time starts when it was set, not at the report's
    // `password_last_changed`.
    if set_at > facts.baseline {
        let renewed = CredentialFacts {
            baseline: set_at,
            last_used: facts.last_used.max(user.password_last_used),
        };
        if let (idle, Standing::Active | Standing::Warn { .. }) = rules::assess(renewed, settings, now) {
            return Ok(Confirmed::Skip(
                ReasonCode::SetSinceReport,
                format!(
                    "console password set again {} (a new login profile), after the credential report: idle {idle} days \
                     on live data; not changed",
                    set_at.date()
                ),
            ));
        }
    }
    let facts = CredentialFacts {
        baseline: facts.baseline.max(set_at),
        ..facts
    };
    Ok(recheck(
        facts,
        user.password_last_used,
        None,
        settings,
        now,
        "console password",
    ))
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

fn confirm_certificate(
    facts: CredentialFacts,
    slot: u8,
    uploaded: OffsetDateTime,
    live: &Live,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Confirmed, Read> {
    let certificates = match live.certificates.as_ref().ok_or(Read::Certificates)? {
        Ok(certificates) => certificates,
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
    };
    // The report has no certificate IDs: its slot is matched by the upload time.
    let Some(cert) = certificates
        .iter()
        .find(|c| c.uploaded.unix_timestamp() == uploaded.unix_timestamp())
    else {
        return Ok(Confirmed::Skip(
            ReasonCode::Gone,
            format!(
                "signing certificate {slot} (uploaded {}) no longer exists; not changed",
                uploaded.date()
            ),
        ));
    };
    if !cert.active {
        return Ok(Confirmed::Skip(
            ReasonCode::AlreadyDone,
            format!("signing certificate {} is already inactive", cert.id),
        ));
    }
    // IAM records no use: the same age, on live data that it still exists.
    Ok(recheck(
        facts,
        None,
        Some(&cert.id),
        settings,
        now,
        &format!("signing certificate {}", cert.id),
    ))
}

/// Confirms a credential listed with its ID (a service-specific credential, an SSH key):
/// still there and active on live data, then the same rule on the facts planned from
/// Access Advisor moments ago, in this run.
fn confirm_listed<T: Listed>(
    item: &Planned,
    listing: &Option<Result<Vec<T>, AwsError>>,
    read: Read,
    noun: &str,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Confirmed, Read> {
    let listed = match listing.as_ref().ok_or(read)? {
        Ok(listed) => listed,
        Err(e) => return Ok(Confirmed::Failed(e.to_string())),
    };
    let id = item.finding.credential_id.as_deref();
    let Some(cred) = listed.iter().find(|c| Some(c.id()) == id) else {
        return Ok(Confirmed::Skip(
            ReasonCode::Gone,
            format!("the {noun} no longer exists; not changed"),
        ));
    };
    if !cred.active() {
        return Ok(Confirmed::Skip(
            ReasonCode::AlreadyDone,
            format!("{noun} {} is already inactive", cred.id()),
        ));
    }
    Ok(recheck(
        item.facts,
        None,
        Some(cred.id()),
        settings,
        now,
        &format!("{noun} {}", cred.id()),
    ))
}

/// The same rule again, on the later of the report's and the live last use.
fn recheck(
    facts: CredentialFacts,
    live_last_used: Option<OffsetDateTime>,
    id: Option<&str>,
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
            id: id.map(str::to_string),
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
            id,
            idle_days,
            last_used,
        } => {
            let resolved = id.is_some();
            match item.credential {
                Credential::Console => {}
                Credential::AccessKey { .. } => f.access_key_id = id,
                Credential::SigningCertificate { .. }
                | Credential::ServiceCredential { .. }
                | Credential::SshKey { .. } => f.credential_id = id,
            }
            f.idle_days = Some(idle_days);
            f.last_used = last_used;
            if !enforce {
                f.reason = format!("{} (confirmed on live data)", f.reason);
                return false;
            }
            if !resolved && item.credential != Credential::Console {
                f.status = Status::Failed;
                f.reason_code = ReasonCode::NoKeyId;
                let noun = match item.credential {
                    Credential::SigningCertificate { .. } => "certificate",
                    _ => "key",
                };
                f.reason = format!("no {noun} ID resolved, not changed ({})", f.reason);
                return false;
            }
            true
        }
    }
}

/// The audit-trail subject of a finding's credential (`None` for a key or certificate
/// whose ID is not resolved, which is never changed).
fn subject(finding: &Finding) -> Option<Subject> {
    match finding.kind {
        Kind::ConsolePassword => Some(Subject::Console),
        Kind::AccessKey => finding.access_key_id.clone().map(Subject::Key),
        Kind::SigningCertificate => finding.credential_id.clone().map(Subject::Certificate),
        Kind::ServiceSpecificCredential => finding.credential_id.clone().map(Subject::ServiceCredential),
        Kind::SshPublicKey => finding.credential_id.clone().map(Subject::SshKey),
        Kind::UnusedServices => None,
    }
}

/// What one step needs before it can answer.
enum Needs {
    /// This read first.
    Read(Read),
    /// A read it needs failed.
    Failed(AwsError),
}

/// The listing of one kind of credential, if the user has records of that kind (else it
/// is not needed, `None`).
fn held_if<'a, T>(
    tags: &[Tag],
    kind: fn(&Subject) -> bool,
    listing: &'a Option<Result<Vec<T>, AwsError>>,
    read: Read,
) -> Result<Option<&'a [T]>, Needs> {
    if !tags
        .iter()
        .any(|t| Subject::from_tag_key(&t.key).is_some_and(|s| kind(&s)))
    {
        return Ok(None);
    }
    match listing {
        None => Err(Needs::Read(read)),
        Some(Err(e)) => Err(Needs::Failed(e.clone())),
        Some(Ok(listed)) => Ok(Some(listed.as_slice())),
    }
}

/// One step before the audit trail: the compaction of the user's tags now, or the read
/// still needed for it. A failed read is the error (then nothing is changed). Each kind of
/// credential is read only for a user with records of it.
pub fn prepare_trail(records: &[Tag], live: &Live) -> Result<Result<Compaction, AwsError>, Read> {
    let note = "reading the user's tags and credentials before writing the audit trail";
    let tags = match live.tags.as_ref().ok_or(Read::Tags)? {
        Ok(tags) => tags,
        Err(e) => return Ok(Err(e.clone().with_note(note))),
    };
    let held = || -> Result<Held<'_>, Needs> {
        Ok(Held {
            keys: held_if(tags, |s| matches!(s, Subject::Key(_)), &live.keys, Read::AccessKeys)?,
            certificates: held_if(
                tags,
                |s| matches!(s, Subject::Certificate(_)),
                &live.certificates,
                Read::Certificates,
            )?,
            service_credentials: held_if(
                tags,
                |s| matches!(s, Subject::ServiceCredential(_)),
                &live.service_credentials,
                Read::ServiceCredentials,
            )?,
            ssh_keys: held_if(tags, |s| matches!(s, Subject::SshKey(_)), &live.ssh_keys, Read::SshKeys)?,
        })
    };
    match held() {
        Ok(held) => Ok(Ok(compact(records, tags, &held))),
        Err(Needs::Read(read)) => Err(read),
        Err(Needs::Failed(e)) => Ok(Err(e.with_note(note))),
    }
}

/// The records to write before the changes: one per credential about to change.
pub fn trail_records(findings: &[&Finding], now: OffsetDateTime) -> Vec<Tag> {
    findings
        .iter()
        .filter_map(|f| subject(f))
        .map(|subject| Tag {
            key: subject.tag_key(),
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
    finding.reason_code = match error.kind() {
        // Tags added by someone else since the user's tags were read.
        ErrorKind::LimitExceeded => ReasonCode::TagQuota,
        _ => ReasonCode::TrailFailed,
    };
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
    /// UpdateSigningCertificate to Inactive.
    DeactivateCertificate(String),
    /// UpdateServiceSpecificCredential to Inactive.
    DeactivateServiceCredential(String),
    /// UpdateSSHPublicKey to Inactive.
    DeactivateSshKey(String),
}

/// The write of a confirmed candidate (`None` for a key or certificate without an ID,
/// which [`take_verdict`] never confirms).
pub fn write_of(item: &Planned) -> Option<Write> {
    let f = &item.finding;
    match item.credential {
        Credential::Console => Some(Write::DeleteLoginProfile),
        Credential::AccessKey { .. } => f.access_key_id.clone().map(Write::DeactivateKey),
        Credential::SigningCertificate { .. } => f.credential_id.clone().map(Write::DeactivateCertificate),
        Credential::ServiceCredential { .. } => f.credential_id.clone().map(Write::DeactivateServiceCredential),
        Credential::SshKey { .. } => f.credential_id.clone().map(Write::DeactivateSshKey),
    }
}

/// The read that tells whether a write whose request failed is in effect anyway.
pub fn reread_of(write: &Write) -> Read {
    match write {
        Write::DeleteLoginProfile => Read::LoginProfile,
        Write::DeactivateKey(_) => Read::AccessKeys,
        Write::DeactivateCertificate(_) => Read::Certificates,
        Write::DeactivateServiceCredential(_) => Read::ServiceCredentials,
        Write::DeactivateSshKey(_) => Read::SshKeys,
    }
}

/// Whether a write is in effect on the live state read after it failed.
pub fn in_effect(write: &Write, live: &Live) -> Option<Result<bool, AwsError>> {
    fn inactive<T: Listed>(listing: &Option<Result<Vec<T>, AwsError>>, id: &str) -> Option<Result<bool, AwsError>> {
        listing.as_ref().map(|r| match r {
            Ok(listed) => Ok(listed.iter().any(|c| c.id() == id && !c.active())),
            Err(e) => Err(e.clone()),
        })
    }
    match write {
        Write::DeleteLoginProfile => live.login_profile.clone().map(|r| r.map(|set| set.is_none())),
        Write::DeactivateKey(id) => inactive(&live.keys, id),
        Write::DeactivateCertificate(id) => inactive(&live.certificates, id),
        Write::DeactivateServiceCredential(id) => inactive(&live.service_credentials, id),
        Write::DeactivateSshKey(id) => inactive(&live.ssh_keys, id),
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
            match subject(finding) {
                Some(subject) => Settled::NotDone(Tag {
                    key: subject.tag_key(),
                    value: Record::NotDone(now).to_string(),
                }),
                // Not reached: a write is made only for a credential with its ID.
                None => Settled::Unknown,
            }
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
///
/// `tags` are the users' tags as GetAccountAuthorizationDetails listed them at the start
/// of the run: the audit trail is compacted from them, with no call of its own. Tags added
/// since make TagUser fail on the quota (`tag_quota`, nothing changed), never a change
/// without its record.
pub async fn confirm_and_apply(
    iam: &Iam,
    settings: &Settings,
    now: OffsetDateTime,
    items: Vec<Planned>,
    tags: &HashMap<String, Vec<Tag>>,
    budget: Budget,
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
        .map(|user_items| {
            let user_tags = user_items.first().and_then(|(_, p)| tags.get(&p.finding.user)).cloned();
            async move {
                // Near the end of the budget no new user starts (the ones in flight
                // finish): the next run takes the rest. Records are written before
                // changes, so stopping between users is safe.
                if !budget.may_start() {
                    return not_reached(user_items);
                }
                process_user(iam, settings, now, user_items, user_tags).await
            }
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut all: Vec<(usize, Planned)> = untouched.into_iter().chain(done.into_iter().flatten()).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, item)| item).collect()
}

/// A user's candidates the time budget did not reach: skipped, for the next run.
fn not_reached(items: Vec<(usize, Planned)>) -> Vec<(usize, Planned)> {
    items
        .into_iter()
        .map(|(i, mut item)| {
            item.finding.status = Status::Skipped;
            item.finding.reason_code = ReasonCode::TimeBudget;
            item.finding.reason = format!(
                "time budget: not reached this run, nothing changed; the next run takes it ({})",
                item.finding.reason
            );
            (i, item)
        })
        .collect()
}

/// Makes one read into `live`.
async fn read(iam: &Iam, user: &str, what: Read, live: &mut Live) {
    match what {
        Read::LoginProfile => live.login_profile = Some(iam.login_profile(user).await),
        Read::User => live.user = Some(iam.user(user).await),
        Read::AccessKeys => live.keys = Some(iam.access_keys(user).await),
        Read::Tags => live.tags = Some(iam.user_tags(user).await),
        Read::Certificates => live.certificates = Some(iam.signing_certificates(user).await),
        Read::ServiceCredentials => {
            live.service_credentials = Some(iam.service_credentials(CredentialsOf::User(user)).await);
        }
        Read::SshKeys => live.ssh_keys = Some(iam.ssh_public_keys(user).await),
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
    listed_tags: Option<Vec<Tag>>,
) -> Vec<(usize, Planned)> {
    let Some(user) = items.first().map(|(_, p)| p.finding.user.clone()) else {
        return items;
    };
    let enforce = settings.mode == Mode::Enforce;

    // 1. Confirm every candidate on live data (keys are listed once per user). The tags
    // are those listed at the start of the run (read again only if they are missing).
    let mut live = Live {
        tags: listed_tags.map(Ok),
        ..Live::default()
    };
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

    // 2. The audit trail, before any change: first make room (records of keys the user
    // no longer has), then write.
    let records = trail_records(
        &confirmed.iter().map(|&idx| &items[idx].1.finding).collect::<Vec<_>>(),
        now,
    );
    let compaction = loop {
        match prepare_trail(&records, &live) {
            Ok(compaction) => break compaction,
            Err(what) => read(iam, &user, what, &mut live).await,
        }
    };
    let compaction = match compaction {
        Ok(compaction) => compaction,
        Err(e) => {
            for idx in confirmed {
                trail_failed(&mut items[idx].1.finding, &e);
            }
            return items;
        }
    };
    let over = match compaction {
        Compaction::OverQuota(over) => Some((over, None)),
        Compaction::Write { untag } if !untag.is_empty() => match iam.untag_user(&user, &untag).await {
            Ok(()) => {
                tracing::info!(user = %user, removed = untag.len(), "removed records of deleted keys");
                None
            }
            Err(e) => {
                // The answer may have been lost after the records were removed: look
                // again (or, if that fails too, count them as still there). Without
                // that room, the new records may still fit.
                let before = live
                    .tags
                    .as_ref()
                    .and_then(|t| t.as_ref().ok())
                    .cloned()
                    .unwrap_or_default();
                let now = iam.user_tags(&user).await.unwrap_or(before);
                room(&records, &now, &[]).err().map(|over| (over, Some(e)))
            }
        },
        Compaction::Write { .. } => None,
    };
    if let Some((over, unremoved)) = over {
        tracing::error!(user = %user, needed = over.needed, "at the tag quota; nothing changed");
        for idx in confirmed {
            over_quota(&mut items[idx].1.finding, over, unremoved.as_ref());
        }
        return items;
    }
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
            Write::DeactivateCertificate(id) => iam.deactivate_signing_certificate(&user, id).await.map(|()| None),
            Write::DeactivateServiceCredential(id) => iam.deactivate_service_credential(&user, id).await.map(|()| None),
            Write::DeactivateSshKey(id) => iam.deactivate_ssh_key(&user, id).await.map(|()| None),
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
                tracing::info!(user = %user, action = ?f.action, key = ?f.access_key_id, id = ?f.credential_id, "applied");
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
