//! Undo: reverses what the engine did to one user, from its audit trail, run by a human
//! with their own credentials (`cargo xtask restore`).
//!
//! - **Keys**: re-activates exactly the keys the engine disabled (the
//!   `iam-janitor:key-disabled:<id>` tags), if they still exist and are inactive.
//! - **Console**: gives console access back with a new random temporary password that
//!   must be reset at the next sign-in; the password is returned once to the caller
//!   (printed, never logged). Only if the engine deleted the password
//!   (`iam-janitor:console-disabled`) and the user has none now.
//! - **Services**: adds them to the user's keep-services tag (so the next run does not
//!   deny them again) and writes a new version of the deny policy without them at once.
//!
//! The Lambda's role never needs these powers (CreateLoginProfile above all), so these
//! calls live here and not in [`crate::iam`], whose calls define that role.

use std::collections::BTreeSet;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{StatusType, Tag as SdkTag};
use iam_janitor_cfn::policy::PolicyDocument;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::iam::decode_policy_document;
use crate::least_privilege::{self as lp, Denied};
use crate::model::services::parse_service_list;
use crate::trail::{
    CONSOLE_DISABLED as TAG_CONSOLE_DISABLED, KEY_DISABLED_PREFIX as TAG_KEY_DISABLED_PREFIX, NOT_DONE, POLICY_PATH,
};

/// Tag set on a user when something was restored; the value is the time.
pub const TAG_RESTORED: &str = "iam-janitor:restored";

/// What to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreRequest {
    pub user: String,
    pub keys: bool,
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

fn err<E: ProvideErrorMetadata + std::fmt::Debug>(operation: &'static str, e: E) -> RestoreError {
    RestoreError {
        operation,
        message: match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            _ => format!("{e:?}"),
        },
    }
}

/// A temporary password: 24 characters from a CSPRNG with upper and lower case letters,
/// digits and symbols (so it meets any IAM password policy's character classes).
pub fn temporary_password() -> Result<String, RestoreError> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!@#$%^&*()-_=+[]{}";
    let classes = [UPPER, LOWER, DIGITS, SYMBOLS];
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| RestoreError {
        operation: "random",
        message: e.to_string(),
    })?;
    // One character of each class first, then any class; then a shuffle.
    let mut chars: Vec<u8> = Vec::with_capacity(24);
    for (i, b) in bytes[..24].iter().enumerate() {
        let class = if i < 4 {
            classes[i]
        } else {
            classes[usize::from(*b) % 4]
        };
        chars.push(class[usize::from(bytes[24 + i]) % class.len()]);
    }
    for i in (1..chars.len()).rev() {
        let j = usize::from(bytes[i]) % (i + 1);
        chars.swap(i, j);
    }
    Ok(String::from_utf8_lossy(&chars).into_owned())
}

/// Restores what the request asks for.
pub async fn restore(
    client: &aws_sdk_iam::Client,
    request: &RestoreRequest,
    now: OffsetDateTime,
    keep_services_tag: &str,
) -> Result<RestoreOutcome, RestoreError> {
    let user = request.user.as_str();
    let tags = client
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .map_err(|e| err("ListUserTags", e.into_service_error()))?;
    let tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    let mut outcome = RestoreOutcome {
        user: user.to_string(),
        ..RestoreOutcome::default()
    };
    let mut untag: Vec<String> = Vec::new();
    let stamp = now.format(&Rfc3339).unwrap_or_default();

    if request.keys {
        let disabled: Vec<(String, String)> = tags
            .iter()
            .filter_map(|(k, _)| Some((k.clone(), k.strip_prefix(TAG_KEY_DISABLED_PREFIX)?.to_string())))
            .collect();
        let live = client
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| err("ListAccessKeys", e.into_service_error()))?;
        for (tag, id) in disabled {
            if tags.iter().any(|(k, v)| *k == tag && v.starts_with(NOT_DONE)) {
                outcome
                    .keys_skipped
                    .push((id, "iam-janitor's deactivation did not take effect".to_string()));
                untag.push(tag);
                continue;
            }
            match live
                .access_key_metadata()
                .iter()
                .find(|k| k.access_key_id() == Some(id.as_str()))
            {
                None => outcome.keys_skipped.push((id, "the key no longer exists".to_string())),
                Some(k) if k.status() == Some(&StatusType::Active) => {
                    outcome.keys_skipped.push((id, "already active".to_string()));
                    untag.push(tag);
                }
                Some(_) => {
                    client
                        .update_access_key()
                        .user_name(user)
                        .access_key_id(&id)
                        .status(StatusType::Active)
                        .send()
                        .await
                        .map_err(|e| err("UpdateAccessKey", e.into_service_error()))?;
                    outcome.keys_reactivated.push(id);
                    untag.push(tag);
                }
            }
        }
    }

    if request.console {
        let disabled_by_us = tags
            .iter()
            .any(|(k, v)| k == TAG_CONSOLE_DISABLED && !v.starts_with(NOT_DONE));
        if tags
            .iter()
            .any(|(k, v)| k == TAG_CONSOLE_DISABLED && v.starts_with(NOT_DONE))
        {
            // The record of a deletion that failed: nothing to give back.
            untag.push(TAG_CONSOLE_DISABLED.to_string());
        }
        let has_password = match client.get_login_profile().user_name(user).send().await {
            Ok(_) => true,
            Err(e) => {
                let e = e.into_service_error();
                if e.is_no_such_entity_exception() {
                    false
                } else {
                    return Err(err("GetLoginProfile", e));
                }
            }
        };
        if has_password {
            outcome.console_note = Some("the user already has a console password; not changed".to_string());
            if disabled_by_us {
                untag.push(TAG_CONSOLE_DISABLED.to_string());
            }
        } else if !disabled_by_us {
            outcome.console_note = Some(format!(
                "no {TAG_CONSOLE_DISABLED} tag: iam-janitor did not delete this user's password; not changed"
            ));
        } else {
            let password = temporary_password()?;
            client
                .create_login_profile()
                .user_name(user)
                .password(&password)
                .password_reset_required(true)
                .send()
                .await
                .map_err(|e| err("CreateLoginProfile", e.into_service_error()))?;
            outcome.console_restored = true;
            outcome.temporary_password = Some(password);
            untag.push(TAG_CONSOLE_DISABLED.to_string());
        }
    }

    if !request.services.is_empty() {
        restore_services(client, user, &tags, &request.services, keep_services_tag, &mut outcome).await?;
    }

    if !untag.is_empty() {
        client
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(untag))
            .send()
            .await
            .map_err(|e| err("UntagUser", e.into_service_error()))?;
    }
    if !outcome.keys_reactivated.is_empty() || outcome.console_restored || !outcome.services_kept.is_empty() {
        tag_user(client, user, TAG_RESTORED, &stamp).await?;
    }
    Ok(outcome)
}

async fn tag_user(client: &aws_sdk_iam::Client, user: &str, key: &str, value: &str) -> Result<(), RestoreError> {
    let tag = SdkTag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| RestoreError {
            operation: "TagUser",
            message: e.to_string(),
        })?;
    client
        .tag_user()
        .user_name(user)
        .tags(tag)
        .send()
        .await
        .map_err(|e| err("TagUser", e.into_service_error()))?;
    Ok(())
}

/// Adds the services to the keep tag and removes them from the deny policy now.
async fn restore_services(
    client: &aws_sdk_iam::Client,
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
    tag_user(client, user, key, &value).await?;
    outcome.services_kept = services.iter().cloned().collect();

    // The deny policy, if attached: a new version without the services.
    let attached = client
        .list_attached_user_policies()
        .user_name(user)
        .path_prefix(POLICY_PATH)
        .send()
        .await
        .map_err(|e| err("ListAttachedUserPolicies", e.into_service_error()))?;
    let name = lp::policy_name(user);
    let Some(arn) = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .find(|a| a.ends_with(&format!("/{name}")))
        .map(str::to_string)
    else {
        outcome.deny_policy_note = Some("no deny policy attached".to_string());
        return Ok(());
    };
    let policy = client
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| err("GetPolicy", e.into_service_error()))?;
    let Some(version_id) = policy.policy().and_then(|p| p.default_version_id()).map(str::to_string) else {
        return Err(RestoreError {
            operation: "GetPolicy",
            message: format!("{arn} has no default version"),
        });
    };
    let version = client
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&version_id)
        .send()
        .await
        .map_err(|e| err("GetPolicyVersion", e.into_service_error()))?;
    let raw = version.policy_version().and_then(|v| v.document()).unwrap_or_default();
    let document: PolicyDocument = serde_json::from_str(&decode_policy_document(raw)).map_err(|e| RestoreError {
        operation: "GetPolicyVersion",
        message: format!("{arn} is not a policy document iam-janitor wrote: {e}"),
    })?;
    let json = match lp::denied_by(&document) {
        // The default form: deny what was denied, minus the services.
        Some(Denied::Listed(denied)) => {
            let remaining: BTreeSet<String> = denied.difference(services).cloned().collect();
            if remaining.len() == denied.len() {
                outcome.deny_policy_note = Some("the deny policy did not deny these services".to_string());
                return Ok(());
            }
            if remaining.is_empty() {
                client
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| err("DetachUserPolicy", e.into_service_error()))?;
                outcome.deny_policy_note = Some(format!("nothing left to deny: {arn} detached"));
                return Ok(());
            }
            lp::action_document(&remaining).1
        }
        // The NotAction fallback: allow the services by adding them to NotAction.
        Some(Denied::AllExcept(mut allowed)) => {
            allowed.extend(services.iter().cloned());
            lp::not_action_document(&allowed).1
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
    write_version(client, &arn, &json, outcome).await
}

async fn write_version(
    client: &aws_sdk_iam::Client,
    arn: &str,
    json: &str,
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    // Free a slot at the five-version limit.
    let versions = client
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| err("ListPolicyVersions", e.into_service_error()))?;
    if versions.versions().len() >= 5
        && let Some(oldest) = versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .min_by_key(|v| v.create_date().map(|d| d.secs()))
            .and_then(|v| v.version_id())
    {
        client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(oldest)
            .send()
            .await
            .map_err(|e| err("DeletePolicyVersion", e.into_service_error()))?;
    }
    client
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(json)
        .set_as_default(true)
        .send()
        .await
        .map_err(|e| err("CreatePolicyVersion", e.into_service_error()))?;
    outcome.deny_policy_note = Some(format!("new default version of {arn} without the services"));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn temporary_passwords_have_every_class_and_differ() {
        let a = temporary_password().unwrap();
        let b = temporary_password().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
        assert!(a.chars().any(|c| !c.is_ascii_alphanumeric()));
    }
}
