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
use aws_sdk_iam::operation::get_service_last_accessed_details::GetServiceLastAccessedDetailsOutput;
use aws_sdk_iam::types::{EntityType, JobStatusType, ReportStateType, StatusType, SummaryKeyType, Tag as SdkTag};
use aws_smithy_types::retry::RetryConfig;
use time::OffsetDateTime;

use crate::inventory::{JanitorPolicy, PolicyVersion, Tag, UserDetails};
use crate::least_privilege::{POLICY_PATH, ServiceAccess};

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

/// IAM returns policy documents URL-encoded (RFC 3986); emulators may not.
pub fn decode_policy_document(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_string();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

const ADVISOR_OP: &str = "GetServiceLastAccessedDetails";
/// The most pages of one Access Advisor job read (a few hundred services fit one page of
/// 1,000): a bound against an answer whose Marker never ends.
const MAX_ADVISOR_PAGES: usize = 20;

fn advisor_error(message: String) -> AwsError {
    AwsError {
        operation: ADVISOR_OP,
        code: None,
        message,
    }
}

/// One page of GetServiceLastAccessedDetails, read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Page {
    /// The job is still running (first page only): poll again.
    InProgress,
    /// The job is complete: this page's services, and the Marker of the next page.
    Services {
        services: Vec<ServiceAccess>,
        next: Option<String>,
    },
}

/// Reads one page of GetServiceLastAccessedDetails, asked for with `sent_marker` (`None`
/// for the first page). Pure, so that any answer can be tested without I/O.
///
/// The status is checked before any date is read: the SDK fills missing dates with the
/// epoch. IN_PROGRESS on a later page, FAILED (with IAM's code and message), an unknown
/// status, a truncated page without a (new, non-empty) Marker and a date `time` cannot
/// represent (beyond the year 9999, which would otherwise read as "never used") are
/// errors, never a page of services. Namespaces are not checked here: see
/// [`crate::least_privilege::check_advisor_answer`].
fn read_page(out: &GetServiceLastAccessedDetailsOutput, sent_marker: Option<&str>) -> Result<Page, AwsError> {
    match out.job_status() {
        JobStatusType::Completed => {}
        JobStatusType::InProgress if sent_marker.is_none() => return Ok(Page::InProgress),
        JobStatusType::Failed => {
            let (code, message) = out
                .error()
                .map(|e| (Some(e.code().to_string()), e.message().to_string()))
                .unwrap_or((None, "job failed without an error".to_string()));
            return Err(AwsError {
                operation: ADVISOR_OP,
                code,
                message: format!("job FAILED: {message}"),
            });
        }
        other => return Err(advisor_error(format!("unexpected job status {other:?}"))),
    }
    let mut services = Vec::with_capacity(out.services_last_accessed().len());
    for (index, s) in out.services_last_accessed().iter().enumerate() {
        let last_authenticated = match s.last_authenticated() {
            None => None,
            Some(t) => Some(to_time(t).ok_or_else(|| {
                advisor_error(format!(
                    "service {index} ({:?}) has LastAuthenticated {} s from the epoch, out of range",
                    s.service_namespace(),
                    t.secs()
                ))
            })?),
        };
        services.push(ServiceAccess {
            namespace: s.service_namespace().to_string(),
            name: s.service_name().to_string(),
            last_authenticated,
        });
    }
    let next = match (out.is_truncated(), out.marker()) {
        (false, _) => None,
        (true, None | Some("")) => return Err(advisor_error("truncated page without a Marker".to_string())),
        (true, Some(m)) if Some(m) == sent_marker => {
            return Err(advisor_error(format!("truncated page repeats the Marker {m:?}")));
        }
        (true, Some(m)) => Some(m.to_string()),
    };
    Ok(Page::Services { services, next })
}

#[cfg(test)]
#[path = "aws_advisor_tests.rs"]
mod advisor_tests;

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

    /// Every user's path, tags and attached managed policies, and the engine's own deny
    /// policies (under [`POLICY_PATH`]) with their versions, from the paginated
    /// GetAccountAuthorizationDetails: a handful of calls for thousands of users.
    pub async fn account_details(&self) -> Result<(Vec<UserDetails>, Vec<JanitorPolicy>), AwsError> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(1000)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        let mut policies = Vec::new();
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
            for p in page.policies() {
                if p.path() != Some(POLICY_PATH) {
                    continue;
                }
                let Some(arn) = p.arn() else { continue };
                // The name is the ARN's last segment (some emulators omit PolicyName).
                let Some(name) = p.policy_name().or_else(|| arn.rsplit('/').next()) else {
                    continue;
                };
                policies.push(JanitorPolicy {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    versions: p
                        .policy_version_list()
                        .iter()
                        .filter_map(|v| {
                            Some(PolicyVersion {
                                id: v.version_id()?.to_string(),
                                is_default: v.is_default_version(),
                                created: v.create_date().and_then(to_time)?,
                                document: v.document().map(decode_policy_document),
                            })
                        })
                        .collect(),
                });
            }
        }
        Ok((users, policies))
    }

    /// Starts an Access Advisor job for a user (service level).
    pub async fn generate_service_last_accessed(&self, arn: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .generate_service_last_accessed_details()
            .arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GenerateServiceLastAccessedDetails", e))?;
        out.job_id().map(str::to_string).ok_or_else(|| AwsError {
            operation: "GenerateServiceLastAccessedDetails",
            code: None,
            message: "no JobId in the answer".to_string(),
        })
    }

    /// Polls an Access Advisor job until COMPLETED (with jittered backoff, within
    /// `timeout`), then reads every page (at most [`MAX_ADVISOR_PAGES`]); each page is
    /// read by [`read_page`].
    pub async fn service_last_accessed(&self, job_id: &str, timeout: Duration) -> Result<Vec<ServiceAccess>, AwsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(200);
        let mut services = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            let out = self
                .client
                .get_service_last_accessed_details()
                .job_id(job_id)
                .max_items(1000)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(ADVISOR_OP, e))?;
            match read_page(&out, marker.as_deref())? {
                Page::InProgress => {
                    let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 2));
                    if tokio::time::Instant::now() + delay + jitter > deadline {
                        return Err(AwsError::timeout(
                            ADVISOR_OP,
                            format!("job not complete after {} s", timeout.as_secs()),
                        ));
                    }
                    tokio::time::sleep(delay + jitter).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
                Page::Services { services: page, next } => {
                    services.extend(page);
                    pages += 1;
                    match next {
                        None => return Ok(services),
                        Some(_) if pages >= MAX_ADVISOR_PAGES => {
                            return Err(advisor_error(format!(
                                "still truncated after {MAX_ADVISOR_PAGES} pages of {} services",
                                services.len()
                            )));
                        }
                        Some(next) => marker = Some(next),
                    }
                }
            }
        }
    }

    /// The account's customer managed policies and their quota (GetAccountSummary).
    pub async fn policies_and_quota(&self) -> Result<(u64, u64), AwsError> {
        let out = self
            .client
            .get_account_summary()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccountSummary", e))?;
        let map = out.summary_map();
        let get = |key: SummaryKeyType| map.and_then(|m| m.get(&key)).map(|v| u64::try_from(*v).unwrap_or(0));
        match (get(SummaryKeyType::Policies), get(SummaryKeyType::PoliciesQuota)) {
            (Some(used), Some(quota)) => Ok((used, quota)),
            _ => Err(AwsError {
                operation: "GetAccountSummary",
                code: None,
                message: "no Policies or PoliciesQuota in the summary".to_string(),
            }),
        }
    }

    /// Creates a deny policy under [`POLICY_PATH`], tagged with its user. Returns its ARN.
    pub async fn create_policy(&self, name: &str, document: &str, owner_tag: &Tag) -> Result<String, AwsError> {
        let tag = SdkTag::builder()
            .key(&owner_tag.key)
            .value(&owner_tag.value)
            .build()
            .map_err(|e| AwsError {
                operation: "CreatePolicy",
                code: None,
                message: e.to_string(),
            })?;
        let out = retry_conflicts(|| async {
            self.client
                .create_policy()
                .policy_name(name)
                .path(POLICY_PATH)
                .policy_document(document)
                .description("iam-janitor: denies services this user has not used; see the iam-janitor:user tag")
                .tags(tag.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicy", e))
        })
        .await?;
        out.policy()
            .and_then(|p| p.arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError {
                operation: "CreatePolicy",
                code: None,
                message: "no policy ARN in the answer".to_string(),
            })
    }

    /// Adds a new default version to a policy.
    pub async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(document)
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicyVersion", e))
        })
        .await
        .map(|_| ())
    }

    /// Lists a policy's versions (to free a slot at the 5-version limit).
    pub async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        let mut pages = self
            .client
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListPolicyVersions", e))?;
            for v in page.versions() {
                if let (Some(id), Some(created)) = (v.version_id(), v.create_date().and_then(to_time)) {
                    versions.push(PolicyVersion {
                        id: id.to_string(),
                        is_default: v.is_default_version(),
                        created,
                        document: None,
                    });
                }
            }
        }
        Ok(versions)
    }

    /// Deletes a non-default policy version.
    pub async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(version_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeletePolicyVersion", e))
        })
        .await
        .map(|_| ())
    }

    /// Attaches a managed policy to a user.
    pub async fn attach_user_policy(&self, user: &str, arn: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .attach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("AttachUserPolicy", e))
        })
        .await
        .map(|_| ())
    }

    /// Detaches a managed policy from a user.
    pub async fn detach_user_policy(&self, user: &str, arn: &str) -> Result<Deleted, AwsError> {
        let result = retry_conflicts(|| async {
            self.client
                .detach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DetachUserPolicy", e))
        })
        .await;
        match result {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if e.is_code("NoSuchEntity") => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// The user's tags as IAM has them now (to tell whether a TagUser whose answer was
    /// lost took effect).
    pub async fn user_tags(&self, user: &str) -> Result<Vec<Tag>, AwsError> {
        let mut pages = self.client.list_user_tags().user_name(user).into_paginator().send();
        let mut tags = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListUserTags", e))?;
            tags.extend(page.tags().iter().map(|t| Tag {
                key: t.key().to_string(),
                value: t.value().to_string(),
            }));
        }
        Ok(tags)
    }

    /// A deny policy as IAM has it now: its default version's document (`None` if the
    /// policy does not exist) and whether it is attached to the user. Read after a
    /// change failed, to tell whether it took effect.
    pub async fn deny_policy_state(&self, user: &str, arn: &str) -> Result<(Option<String>, bool), AwsError> {
        let policy = match self.client.get_policy().policy_arn(arn).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("GetPolicy", e);
                return if e.is_code("NoSuchEntity") {
                    Ok((None, false))
                } else {
                    Err(e)
                };
            }
        };
        let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
            return Err(AwsError {
                operation: "GetPolicy",
                code: None,
                message: format!("{arn} has no default version"),
            });
        };
        let out = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetPolicyVersion", e))?;
        let document = out
            .policy_version()
            .and_then(|v| v.document())
            .map(decode_policy_document);
        let mut pages = self
            .client
            .list_attached_user_policies()
            .user_name(user)
            .path_prefix(POLICY_PATH)
            .into_paginator()
            .send();
        let mut attached = false;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListAttachedUserPolicies", e))?;
            attached |= page.attached_policies().iter().any(|p| p.policy_arn() == Some(arn));
        }
        Ok((document, attached))
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

    /// Whether the user has a console password now (GetLoginProfile; a missing user has
    /// none).
    pub async fn has_login_profile(&self, user: &str) -> Result<bool, AwsError> {
        match self.client.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("GetLoginProfile", e);
                if e.is_code("NoSuchEntity") { Ok(false) } else { Err(e) }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_url_decoded_once() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Resource%22%3A%22arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fa%2Bb%22%7D%5D%7D";
        assert_eq!(
            decode_policy_document(encoded),
            r#"{"Version":"2012-10-17","Statement":[{"Resource":"arn:aws:iam::1:user/a+b"}]}"#
        );
        // Already decoded (some emulators): unchanged, even with a literal %.
        let plain = r#"{"Sid":"100%25"}"#;
        assert_eq!(decode_policy_document(plain), plain);
    }
}
