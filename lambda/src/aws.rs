//! The IAM adapter: the only module that calls AWS.
//!
//! Thin on purpose: each method is one IAM operation (or one paginated listing),
//! converting SDK types to the plain types the planner reads. Throttling is retried by
//! the SDK's retry configuration ([`retry_config`]); `ConcurrentModification` and
//! `EntityTemporarilyUnmodifiable`, which the SDK does not retry, are retried here with
//! a bounded, jittered backoff. "Already done" answers (no such login profile) are
//! outcomes, not errors, so that a rerun is a no-op.

use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{EntityType, ReportStateType, StatusType, Tag as SdkTag};
use aws_smithy_types::retry::RetryConfig;
use time::OffsetDateTime;

use crate::inventory::{Tag, UserDetails};

/// Every IAM action the engine calls. The Lambda's role must grant exactly these (a later
/// template is generated from this list, and a test checks it against the calls made).
pub const IAM_ACTIONS: &[&str] = &[
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:DeleteLoginProfile",
    "iam:UpdateAccessKey",
    "iam:TagUser",
];

/// The retry configuration for production: standard mode (exponential backoff with
/// jitter, throttling errors retried), more attempts than the SDK's default 3 because a
/// run does thousands of calls against one per-account rate quota.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

/// An IAM call that failed (after the SDK's and our retries).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    /// IAM's error code (`Throttling`, `NoSuchEntity`, `AccessDenied`…), if it answered.
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_string);
        let message = match err.message() {
            Some(m) => m.to_string(),
            None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        AwsError {
            operation,
            code,
            message,
        }
    }

    fn timeout(operation: &'static str, message: String) -> AwsError {
        AwsError {
            operation,
            code: None,
            message,
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// A key as ListAccessKeys shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: String,
    pub active: bool,
    pub created: OffsetDateTime,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// It was already gone.
    AlreadyGone,
}

/// The IAM adapter.
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
}

fn to_time(t: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}

/// Codes IAM uses for "try again in a moment" on writes, which the SDK does not retry.
const CONFLICT_CODES: [&str; 2] = ["ConcurrentModification", "EntityTemporarilyUnmodifiable"];
const CONFLICT_ATTEMPTS: u32 = 4;

/// Retries `call` while it fails with a conflict code, with jittered exponential backoff.
async fn retry_conflicts<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < CONFLICT_ATTEMPTS && CONFLICT_CODES.iter().any(|c| e.is_code(c)) => {
                let base = 250u64 << attempt;
                let delay = base + fastrand::u64(0..base);
                tracing::warn!(operation = e.operation, code = ?e.code, attempt, delay_ms = delay, "retrying conflict");
                tokio::time::sleep(Duration::from_millis(delay)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl Iam {
    pub fn new(config: &aws_config::SdkConfig) -> Iam {
        Iam {
            client: aws_sdk_iam::Client::new(config),
        }
    }

    pub fn from_client(client: aws_sdk_iam::Client) -> Iam {
        Iam { client }
    }

    /// Generates the credential report (polling with backoff until COMPLETE, within
    /// `timeout`) and returns its CSV and generation time.
    pub async fn credential_report(&self, timeout: Duration) -> Result<(Vec<u8>, Option<OffsetDateTime>), AwsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(250);
        let wait = |delay: Duration, what: &str| {
            let what = what.to_string();
            async move {
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(AwsError::timeout(
                        "GenerateCredentialReport",
                        format!("credential report not ready after {} s ({what})", timeout.as_secs()),
                    ));
                }
                tokio::time::sleep(delay).await;
                Ok(())
            }
        };
        loop {
            let out = self
                .client
                .generate_credential_report()
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GenerateCredentialReport", e))?;
            if out.state() == Some(&ReportStateType::Complete) {
                break;
            }
            wait(delay, "state not COMPLETE").await?;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        loop {
            match self.client.get_credential_report().send().await {
                Ok(out) => {
                    let content = out.content().map(|b| b.as_ref().to_vec()).unwrap_or_default();
                    let generated = out.generated_time().and_then(to_time);
                    return Ok((content, generated));
                }
                Err(e) => {
                    let e = AwsError::from_sdk("GetCredentialReport", e);
                    if !["ReportInProgress", "ReportNotPresent", "ReportExpired"]
                        .iter()
                        .any(|c| e.is_code(c))
                    {
                        return Err(e);
                    }
                    wait(delay, e.code.as_deref().unwrap_or("")).await?;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    if !e.is_code("ReportInProgress") {
                        self.client
                            .generate_credential_report()
                            .send()
                            .await
                            .map_err(|e| AwsError::from_sdk("GenerateCredentialReport", e))?;
                    }
                }
            }
        }
    }

    /// Every user's path, tags and attached managed policies, from the paginated
    /// GetAccountAuthorizationDetails (users only): a handful of calls for thousands of users.
    pub async fn user_details(&self) -> Result<Vec<UserDetails>, AwsError> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .max_items(1000)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("GetAccountAuthorizationDetails", e))?;
            for u in page.user_detail_list() {
                let (Some(name), Some(arn), Some(created)) =
                    (u.user_name(), u.arn(), u.create_date().and_then(to_time))
                else {
                    tracing::warn!(user = ?u.user_name(), "user detail without name, ARN or creation date; ignored");
                    continue;
                };
                users.push(UserDetails {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    path: u.path().unwrap_or("/").to_string(),
                    create_date: created,
                    tags: u
                        .tags()
                        .iter()
                        .map(|t| Tag {
                            key: t.key().to_string(),
                            value: t.value().to_string(),
                        })
                        .collect(),
                    attached_policy_arns: u
                        .attached_managed_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn().map(str::to_string))
                        .collect(),
                });
            }
        }
        Ok(users)
    }

    /// The user's PasswordLastUsed as IAM has it now.
    pub async fn password_last_used(&self, user: &str) -> Result<Option<OffsetDateTime>, AwsError> {
        let out = self
            .client
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetUser", e))?;
        Ok(out.user().and_then(|u| u.password_last_used()).and_then(to_time))
    }

    /// The user's access keys as IAM has them now.
    pub async fn access_keys(&self, user: &str) -> Result<Vec<LiveKey>, AwsError> {
        let mut pages = self.client.list_access_keys().user_name(user).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListAccessKeys", e))?;
            for k in page.access_key_metadata() {
                let (Some(id), Some(created)) = (k.access_key_id(), k.create_date().and_then(to_time)) else {
                    continue;
                };
                keys.push(LiveKey {
                    id: id.to_string(),
                    active: k.status() == Some(&StatusType::Active),
                    created,
                });
            }
        }
        Ok(keys)
    }

    /// The key's LastUsedDate as IAM has it now.
    pub async fn access_key_last_used(&self, key_id: &str) -> Result<Option<OffsetDateTime>, AwsError> {
        let out = self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccessKeyLastUsed", e))?;
        Ok(out
            .access_key_last_used()
            .and_then(|u| u.last_used_date())
            .and_then(to_time))
    }

    /// Deletes the user's console password. Irreversible: only a new password restores access.
    pub async fn delete_login_profile(&self, user: &str) -> Result<Deleted, AwsError> {
        let result = retry_conflicts(|| async {
            self.client
                .delete_login_profile()
                .user_name(user)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeleteLoginProfile", e))
        })
        .await;
        match result {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if e.is_code("NoSuchEntity") => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Sets the key Inactive (reversible).
    pub async fn deactivate_access_key(&self, user: &str, key_id: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .update_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .status(StatusType::Inactive)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateAccessKey", e))
        })
        .await
        .map(|_| ())
    }

    /// Adds or replaces tags on the user.
    pub async fn tag_user(&self, user: &str, tags: &[Tag]) -> Result<(), AwsError> {
        let mut sdk_tags = Vec::with_capacity(tags.len());
        for t in tags {
            sdk_tags.push(
                SdkTag::builder()
                    .key(&t.key)
                    .value(&t.value)
                    .build()
                    .map_err(|e| AwsError {
                        operation: "TagUser",
                        code: None,
                        message: e.to_string(),
                    })?,
            );
        }
        retry_conflicts(|| async {
            self.client
                .tag_user()
                .user_name(user)
                .set_tags(Some(sdk_tags.clone()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("TagUser", e))
        })
        .await
        .map(|_| ())
    }
}
