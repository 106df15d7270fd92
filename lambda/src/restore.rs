//! Undo: reverses what the engine did to one user, from its audit trail, run by a human
//! with their own credentials (`cargo xtask restore`).
//!
//! - **Keys**: re-activates exactly the keys the engine disabled (the
//!   `iam-janitor:key-disabled:<id>` tags), if they still exist and are inactive.
//! - **Certificates**: likewise for signing certificates
//!   (`iam-janitor:certificate-disabled:<id>`), and **service credentials** for
//!   service-specific credentials (`iam-janitor:service-credential-disabled:<id>`), and
//!   **SSH keys** (`iam-janitor:ssh-key-disabled:<id>`).
//! - **Console**: gives console access back with a new random temporary password that
//!   must be reset at the next sign-in; the password is returned once to the caller
//!   (printed, never logged). Only if the engine deleted the password
//!   (`iam-janitor:console-disabled`) and the user has none now.
//! - **Services**: adds them to the user's keep-services tag (so the next run does not
//!   deny them again) and writes a new version of the deny policy without them at once.
//!
//! It calls IAM through the engine's adapter: the powers the Lambda's role never needs
//! (CreateLoginProfile above all) are the adapter's [`crate::iam::Admin`] extension,
//! which the role is not generated from.

use std::collections::BTreeSet;

use iam_janitor_cfn::policy::PolicyDocument;
use time::OffsetDateTime;

use crate::iam::{AwsError, CredentialsOf, Iam, PasswordPolicy};
use crate::least_privilege::{self as lp, Denied, apply::new_version};
use crate::model::inventory::Tag;
use crate::model::services::parse_service_list;
use crate::trail::{self, Record, Subject};

/// What to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreRequest {
    pub user: String,
    pub keys: bool,
    pub certificates: bool,
    pub service_credentials: bool,
    pub ssh_keys: bool,
    pub console: bool,
    pub services: BTreeSet<String>,
}

/// What was done.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RestoreOutcome {
    pub user: String,
    pub keys_reactivated: Vec<String>,
    /// Keys in the audit trail that were left alone, with the reason.
    pub keys_skipped: Vec<(String, String)>,
    pub certificates_reactivated: Vec<String>,
    /// Certificates in the audit trail that were left alone, with the reason.
    pub certificates_skipped: Vec<(String, String)>,
    pub service_credentials_reactivated: Vec<String>,
    /// Service-specific credentials in the audit trail that were left alone, with the reason.
    pub service_credentials_skipped: Vec<(String, String)>,
    pub ssh_keys_reactivated: Vec<String>,
    /// SSH keys in the audit trail that were left alone, with the reason.
    pub ssh_keys_skipped: Vec<(String, String)>,
    /// The temporary password, if console access was given back. Shown once.
    #[serde(skip)]
    pub temporary_password: Option<String>,
    pub console_restored: bool,
    pub console_note: Option<String>,
    pub services_kept: Vec<String>,
    pub deny_policy_note: Option<String>,
}

/// A restore that could not be done.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct RestoreError {
    pub operation: &'static str,
    pub message: String,
}

impl From<AwsError> for RestoreError {
    fn from(e: AwsError) -> RestoreError {
        RestoreError {
            operation: e.operation,
            message: match e.code {
                Some(code) => format!("{code}: {}", e.message),
                None => e.message,
            },
        }
    }
}

/// The shortest temporary password: longer if the account's password policy asks for it.
const PASSWORD_LENGTH: usize = 24;
/// IAM's longest password.
const MAX_PASSWORD_LENGTH: usize = 128;

/// A uniformly random index below `n` (`n` ≤ 256), from the operating system's CSPRNG,
/// without modulo bias (rejection sampling).
fn random_below(n: usize) -> Result<usize, RestoreError> {
    let n = u16::try_from(n)
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or(RestoreError {
            operation: "random",
            message: format!("cannot draw below {n}"),
        })?;
    // The largest multiple of n that fits in a byte's 256 values.
    let limit = 256 - 256 % n;
    loop {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|e| RestoreError {
            operation: "random",
            message: e.to_string(),
        })?;
        if u16::from(byte[0]) < limit {
            return Ok(usize::from(u16::from(byte[0]) % n));
        }
    }
}

/// A temporary password from a CSPRNG with upper and lower case letters, digits and
/// symbols (so it meets any IAM password policy's character classes), at least 24
/// characters and at least the policy's minimum length. Every draw is unbiased and
/// independent; the shuffle (Fisher–Yates) draws fresh indices.
pub fn temporary_password(policy: PasswordPolicy) -> Result<String, RestoreError> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!@#$%^&*()-_=+[]{}";
    let classes = [UPPER, LOWER, DIGITS, SYMBOLS];
    let length = policy
        .minimum_length
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .clamp(PASSWORD_LENGTH, MAX_PASSWORD_LENGTH);
    // One character of each class first, then any class; then a shuffle.
    let mut chars: Vec<u8> = Vec::with_capacity(length);
    for i in 0..length {
        let class = match classes.get(i) {
            Some(class) => class,
            None => classes[random_below(classes.len())?],
        };
        chars.push(class[random_below(class.len())?]);
    }
    for i in (1..chars.len()).rev() {
        chars.swap(i, random_below(i + 1)?);
    }
    Ok(String::from_utf8_lossy(&chars).into_owned())
}

/// How restore reads one audit-trail record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trail {
    /// The engine made the change.
    Done,
    /// The engine recorded the change, which then failed: nothing was taken.
    NotDone,
    /// A value that is not a record (edited by someone else): nothing is given back.
    Unreadable,
}

fn read_record(value: &str) -> Trail {
    match Record::parse(value) {
        Ok(Record::Done(_)) => Trail::Done,
        Ok(Record::NotDone(_)) => Trail::NotDone,
        Err(_) => Trail::Unreadable,
    }
}

/// The records of one kind of credential on the user: (tag key, credential ID, record).
fn records_of(tags: &[(String, String)], id_of: impl Fn(Subject) -> Option<String>) -> Vec<(String, String, Trail)> {
    tags.iter()
        .filter_map(|(k, v)| Some((k.clone(), id_of(Subject::from_tag_key(k)?)?, read_record(v))))
        .collect()
}

/// Reactivates the credentials the engine deactivated, from their records and the live
/// list of (ID, active): returns what was reactivated and what was left alone, and
/// adds the records that are done with to `untag`.
async fn reactivate_recorded<F, Fut>(
    recorded: Vec<(String, String, Trail)>,
    live: &[(String, bool)],
    noun: &str,
    untag: &mut Vec<String>,
    reactivate: F,
) -> Result<(Vec<String>, Vec<(String, String)>), RestoreError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (tag, id, record) in recorded {
        match record {
            Trail::NotDone => {
                skipped.push((id, "iam-janitor's deactivation did not take effect".to_string()));
                untag.push(tag);
                continue;
            }
            Trail::Unreadable => {
                skipped.push((
                    id,
                    format!("its record {tag} is not a value iam-janitor writes; check it by hand"),
                ));
                continue;
            }
            Trail::Done => {}
        }
        match live.iter().find(|(live_id, _)| *live_id == id) {
            None => skipped.push((id, format!("the {noun} no longer exists"))),
            Some((_, true)) => {
                skipped.push((id, "already active".to_string()));
                untag.push(tag);
            }
            Some((_, false)) => {
                reactivate(id.clone()).await?;
                done.push(id);
                untag.push(tag);
            }
        }
    }
    Ok((done, skipped))
}

/// Restores what the request asks for.
pub async fn restore(
    iam: &Iam,
    request: &RestoreRequest,
    now: OffsetDateTime,
    keep_services_tag: &str,
) -> Result<RestoreOutcome, RestoreError> {
    let user = request.user.as_str();
    let admin = iam.admin();
    let tags: Vec<(String, String)> = iam
        .user_tags(user)
        .await?
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    let mut outcome = RestoreOutcome {
        user: user.to_string(),
        ..RestoreOutcome::default()
    };
    let mut untag: Vec<String> = Vec::new();

    if request.keys {
        let live: Vec<(String, bool)> = iam
            .access_keys(user)
            .await?
            .into_iter()
            .map(|k| (k.id, k.active))
            .collect();
        let recorded = records_of(&tags, |s| match s {
            Subject::Key(id) => Some(id),
            _ => None,
        });
        let (done, skipped) = reactivate_recorded(recorded, &live, "key", &mut untag, |id| async move {
            admin.reactivate_access_key(user, &id).await
        })
        .await?;
        outcome.keys_reactivated = done;
        outcome.keys_skipped = skipped;
    }

    if request.certificates {
        let live: Vec<(String, bool)> = iam
            .signing_certificates(user)
            .await?
            .into_iter()
            .map(|c| (c.id, c.active))
            .collect();
        let recorded = records_of(&tags, |s| match s {
            Subject::Certificate(id) => Some(id),
            _ => None,
        });
        let (done, skipped) = reactivate_recorded(recorded, &live, "certificate", &mut untag, |id| async move {
            admin.reactivate_signing_certificate(user, &id).await
        })
        .await?;
        outcome.certificates_reactivated = done;
        outcome.certificates_skipped = skipped;
    }

    if request.service_credentials {
        let live: Vec<(String, bool)> = iam
            .service_credentials(CredentialsOf::User(user))
            .await?
            .into_iter()
            .map(|c| (c.id, c.active))
            .collect();
        let recorded = records_of(&tags, |s| match s {
            Subject::ServiceCredential(id) => Some(id),
            _ => None,
        });
        let (done, skipped) = reactivate_recorded(recorded, &live, "credential", &mut untag, |id| async move {
            admin.reactivate_service_credential(user, &id).await
        })
        .await?;
        outcome.service_credentials_reactivated = done;
        outcome.service_credentials_skipped = skipped;
    }

    if request.ssh_keys {
        let live: Vec<(String, bool)> = iam
            .ssh_public_keys(user)
            .await?
            .into_iter()
            .map(|k| (k.id, k.active))
            .collect();
        let recorded = records_of(&tags, |s| match s {
            Subject::SshKey(id) => Some(id),
            _ => None,
        });
        let (done, skipped) = reactivate_recorded(recorded, &live, "SSH key", &mut untag, |id| async move {
            admin.reactivate_ssh_key(user, &id).await
        })
        .await?;
        outcome.ssh_keys_reactivated = done;
        outcome.ssh_keys_skipped = skipped;
    }

    if request.console {
        let console = trail::CONSOLE_DISABLED;
        let record = tags.iter().find(|(k, _)| k == console).map(|(_, v)| read_record(v));
        if record == Some(Trail::NotDone) {
            // The record of a deletion that failed: nothing to give back.
            untag.push(console.to_string());
        }
        let disabled_by_us = record == Some(Trail::Done);
        if iam.login_profile(user).await?.is_some() {
            outcome.console_note = Some("the user already has a console password; not changed".to_string());
            if disabled_by_us {
                untag.push(console.to_string());
            }
        } else if record == Some(Trail::Unreadable) {
            outcome.console_note = Some(format!(
                "the {console} tag is not a value iam-janitor writes; check it by hand; not changed"
            ));
        } else if !disabled_by_us {
            outcome.console_note = Some(format!(
                "no {console} tag: iam-janitor did not delete this user's password; not changed"
            ));
        } else {
            let password = temporary_password(admin.password_policy().await?)?;
            admin.create_login_profile(user, &password).await?;
            outcome.console_restored = true;
            outcome.temporary_password = Some(password);
            untag.push(console.to_string());
        }
    }

    if !request.services.is_empty() {
        restore_services(iam, user, &tags, &request.services, keep_services_tag, &mut outcome).await?;
    }

    if !untag.is_empty() {
        iam.untag_user(user, &untag).await?;
    }
    if !outcome.keys_reactivated.is_empty()
        || !outcome.certificates_reactivated.is_empty()
        || !outcome.service_credentials_reactivated.is_empty()
        || !outcome.ssh_keys_reactivated.is_empty()
        || outcome.console_restored
        || !outcome.services_kept.is_empty()
    {
        tag_user(iam, user, trail::RESTORED, &trail::stamp(now)).await?;
    }
    Ok(outcome)
}

async fn tag_user(iam: &Iam, user: &str, key: &str, value: &str) -> Result<(), RestoreError> {
    let tag = Tag {
        key: key.to_string(),
        value: value.to_string(),
    };
    Ok(iam.tag_user(user, std::slice::from_ref(&tag)).await?)
}

/// Adds the services to the keep tag and removes them from the deny policy now.
async fn restore_services(
    iam: &Iam,
    user: &str,
    tags: &[(String, String)],
    services: &BTreeSet<String>,
    keep_services_tag: &str,
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    let mut keep: BTreeSet<String> = tags
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(keep_services_tag))
        .flat_map(|(_, v)| parse_service_list(v))
        .collect();
    keep.extend(services.iter().cloned());
    let value = keep.iter().cloned().collect::<Vec<_>>().join(",");
    if value.len() > 256 {
        return Err(RestoreError {
            operation: "TagUser",
            message: format!("the {keep_services_tag} tag would exceed 256 characters: {value}"),
        });
    }
    // The existing tag's own spelling of the key, so IAM replaces it rather than adding a twin.
    let key = tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(keep_services_tag))
        .map_or(keep_services_tag, |(k, _)| k.as_str());
    tag_user(iam, user, key, &value).await?;
    outcome.services_kept = services.iter().cloned().collect();

    // The deny policies attached (found by attachment: a renamed user keeps them): a new
    // version of each without the services.
    let arns: Vec<String> = iam
        .admin()
        .attached_janitor_policies(user)
        .await?
        .into_iter()
        .filter(|a| {
            a.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(lp::POLICY_NAME_PREFIX))
        })
        .collect();
    if arns.is_empty() {
        outcome.deny_policy_note = Some("no deny policy attached".to_string());
        return Ok(());
    }
    let mut notes = Vec::new();
    for arn in arns {
        notes.push(lift_services(iam, user, &arn, services).await?);
    }
    outcome.deny_policy_note = Some(notes.join("; "));
    Ok(())
}

/// Removes the services from one deny policy: a new default version without them, or a
/// detach when nothing is left. Returns what was done.
async fn lift_services(iam: &Iam, user: &str, arn: &str, services: &BTreeSet<String>) -> Result<String, RestoreError> {
    let (raw, _) = iam.deny_policy_state(user, arn).await?;
    let raw = raw.ok_or_else(|| RestoreError {
        operation: "GetPolicy",
        message: format!("{arn} no longer exists"),
    })?;
    let document: PolicyDocument = serde_json::from_str(&raw).map_err(|e| RestoreError {
        operation: "GetPolicyVersion",
        message: format!("{arn} is not a policy document iam-janitor wrote: {e}"),
    })?;
    let json = match lp::denied_by(&document) {
        // The form the engine writes: deny what was denied, minus the services.
        Some(Denied::Listed(denied)) => {
            let remaining: BTreeSet<String> = denied.difference(services).cloned().collect();
            if remaining.len() == denied.len() {
                return Ok(format!("{arn} did not deny these services"));
            }
            if remaining.is_empty() {
                iam.detach_user_policy(user, arn).await?;
                return Ok(format!("nothing left to deny: {arn} detached"));
            }
            lp::action_document(&remaining).1
        }
        // The NotAction form of earlier versions: allow the services by adding them to
        // NotAction (the next run rewrites it in the Action form).
        Some(Denied::AllExcept(mut allowed)) => {
            allowed.extend(services.iter().cloned());
            lp::legacy_not_action_document(&allowed).1
        }
        None => {
            return Err(RestoreError {
                operation: "GetPolicyVersion",
                message: format!("{arn} is not in the form iam-janitor writes; edit it by hand"),
            });
        }
    };
    if lp::MAX_POLICY_SIZE < iam_janitor_cfn::policy::policy_size(&json) {
        return Err(RestoreError {
            operation: "CreatePolicyVersion",
            message: format!("the new version of {arn} would exceed the policy size limit"),
        });
    }
    // The engine's own rotation: frees a slot at the five-version limit, retries
    // conflicts, and sorts out a stale listing or an unanswered delete.
    let versions = iam.list_policy_versions(arn).await?;
    new_version(iam, arn, &json, &versions).await?;
    Ok(format!("new default version of {arn} without the services"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn classes(password: &str) -> [bool; 4] {
        [
            password.chars().any(|c| c.is_ascii_uppercase()),
            password.chars().any(|c| c.is_ascii_lowercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_ascii_alphanumeric()),
        ]
    }

    #[test]
    fn temporary_passwords_have_every_class_and_differ() {
        let a = temporary_password(PasswordPolicy::default()).unwrap();
        let b = temporary_password(PasswordPolicy::default()).unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert_eq!(classes(&a), [true; 4]);
    }

    #[test]
    fn temporary_passwords_meet_the_accounts_minimum_length() {
        for (minimum, expected) in [
            (Some(6), 24),
            (Some(24), 24),
            (Some(40), 40),
            (Some(128), 128),
            (None, 24),
        ] {
            let password = temporary_password(PasswordPolicy {
                minimum_length: minimum,
            })
            .unwrap();
            assert_eq!(password.len(), expected, "minimum {minimum:?}");
            assert_eq!(classes(&password), [true; 4]);
        }
    }

    #[test]
    fn draws_are_in_range_and_every_value_is_reached() {
        for n in [1, 3, 8, 18, 25, 128, 256] {
            let mut seen = vec![false; n];
            for _ in 0..(n * 64) {
                let i = random_below(n).unwrap();
                assert!(i < n);
                seen[i] = true;
            }
            assert!(seen.iter().all(|s| *s), "below {n}: {seen:?}");
        }
        assert!(random_below(0).is_err() && random_below(257).is_err());
    }

    #[test]
    fn records_are_read_as_done_not_done_or_unreadable() {
        assert_eq!(read_record("2026-11-01T00:00:00Z"), Trail::Done);
        assert_eq!(read_record("not-done 2026-11-01T00:00:00Z"), Trail::NotDone);
        assert_eq!(read_record("true"), Trail::Unreadable);
    }
}
