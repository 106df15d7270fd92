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
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_iam::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_types::retry::RetryConfig;
use time::OffsetDateTime;

use crate::backoff::{Backoff, Jitter};

mod admin;
mod advisor;
#[cfg(feature = "operation-log")]
mod operation_log;
pub use admin::{Admin, PasswordPolicy};
#[cfg(feature = "operation-log")]
pub use operation_log::operations_sent;
pub mod pace;
pub mod permissions;
mod policies;
mod report;
mod users;
pub use users::CredentialsOf;

/// The retry configuration for production: standard mode (exponential backoff with
/// jitter, throttling errors retried), more attempts than the SDK's default 3 because a
/// run does thousands of calls against one per-account rate quota. [`Iam::new`] also
/// paces the client and lifts the retry quota.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

/// A retry partition for one client, with no retry quota (and its own, so that clients
/// in the same process, as in the tests, do not share one).
fn unquoted_partition() -> RetryPartition {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    RetryPartition::custom(format!("iam-janitor-{n}"))
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// What kind of failure an IAM error is: the callers' branches, so that no IAM error
/// code string leaves the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Throttling` and its kin (still failing after the SDK's retries).
    Throttled,
    /// `NoSuchEntity`: the user, policy, version or login profile does not exist.
    NotFound,
    /// `EntityAlreadyExists`.
    AlreadyExists,
    /// `LimitExceeded`: a quota (policy versions, attached policies, tags…).
    LimitExceeded,
    /// `ConcurrentModification`, `EntityTemporarilyUnmodifiable`: try again in a moment.
    Conflict,
    /// `AccessDenied` (an IAM policy, an SCP or a permissions boundary said no).
    AccessDenied,
    /// No answer from IAM at all: a timeout, a dropped connection, a job that never
    /// completed. The request may or may not have taken effect.
    NoAnswer,
    /// Any other answer.
    Other,
}

/// An IAM call that failed (after the SDK's and our retries).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    /// IAM's error code (`Throttling`, `NoSuchEntity`, `AccessDenied`…), if it answered:
    /// shown to people; code branches on [`AwsError::kind`].
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

    /// An error the adapter itself found in an answer (or the lack of one).
    fn local(operation: &'static str, message: String) -> AwsError {
        AwsError {
            operation,
            code: None,
            message,
        }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ErrorKind {
        match self.code.as_deref() {
            None => ErrorKind::NoAnswer,
            Some("NoSuchEntity") => ErrorKind::NotFound,
            Some("EntityAlreadyExists") => ErrorKind::AlreadyExists,
            Some("LimitExceeded") => ErrorKind::LimitExceeded,
            Some("ConcurrentModification" | "EntityTemporarilyUnmodifiable") => ErrorKind::Conflict,
            Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => ErrorKind::AccessDenied,
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException") => {
                ErrorKind::Throttled
            }
            Some(_) => ErrorKind::Other,
        }
    }

    /// The same error with a note for people added to its message.
    pub fn with_note(self, note: &str) -> AwsError {
        AwsError {
            message: format!("{} ({note})", self.message),
            ..self
        }
    }

    fn is_code(&self, code: &str) -> bool {
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

/// A signing certificate as ListSigningCertificates shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCertificate {
    pub id: String,
    pub active: bool,
    pub uploaded: OffsetDateTime,
}

/// A user as GetUser shows it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveUser {
    /// When this user was created: a user deleted and recreated under the same name has
    /// a new one.
    pub created: OffsetDateTime,
    pub password_last_used: Option<OffsetDateTime>,
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
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

fn to_time(t: &aws_smithy_types::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}

const CONFLICT_ATTEMPTS: u32 = 4;

/// Retries `call` while it fails with a conflict code, with jittered exponential backoff.
async fn retry_conflicts<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    // 0.5 s, 1 s, 2 s, each plus up to as much again.
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(2))
        .jitter(Jitter::Full)
        .attempts(CONFLICT_ATTEMPTS - 1);
    loop {
        match call().await {
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let Some(delay) = backoff.next_delay() else {
                    return Err(e);
                };
                tracing::warn!(operation = e.operation, code = ?e.code, delay_ms = delay.as_millis(), "retrying conflict");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

impl Iam {
    /// The client for `config`, paced at `rate` requests a second ([`pace`]), in a
    /// retry partition of its own with no retry quota: under sustained throttling the
    /// SDK's standard quota runs dry and calls fail, where a throttled run must only be
    /// slower. `config`'s retry settings (attempts, backoff) are kept.
    pub fn new(config: &aws_config::SdkConfig, rate: u32) -> Iam {
        // The configuration's HTTP client if it has one, else the SDK's default (rustls
        // with aws-lc), wrapped by the pacer.
        let http = config.http_client().unwrap_or_else(|| {
            use aws_smithy_http_client::tls;
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .build_https()
        });
        let conf = aws_sdk_iam::config::Builder::from(config)
            .retry_partition(unquoted_partition())
            .http_client(pace::PacedClient::new(http, rate))
            .build();
        Iam::from_client(aws_sdk_iam::Client::from_conf(conf))
    }

    pub fn from_client(client: aws_sdk_iam::Client) -> Iam {
        #[cfg(feature = "operation-log")]
        let client = aws_sdk_iam::Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(operation_log::OperationLog)
                .build(),
        );
        Iam { client }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The hand-written decoder the crate replaced, kept as the oracle.
    fn hand_decode(raw: &str) -> String {
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

    proptest! {
        #[test]
        fn percent_decoding_matches_the_hand_written_decoder(raw in "[%0-9a-fA-Fg{}\"a-z:/+ \u{e9}]{0,40}") {
            prop_assume!(!raw.trim_start().starts_with('{'));
            prop_assert_eq!(decode_policy_document(&raw), hand_decode(&raw));
        }
    }

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
