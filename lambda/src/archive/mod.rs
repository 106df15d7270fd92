//! The organization's report bucket's adapter, the only code that calls S3: after each
//! run, its JSON report (the one `--format json` prints, on one line) is stored at
//!
//! `reports/account=<id>/date=<YYYY-MM-DD>/<YYYYMMDDTHHMMSS.mmm>Z.json`
//!
//! (the time the report is stored, UTC; `model::org::report_key`), the layout the
//! organization view (`model::org`, `cargo xtask report`) and the Athena table's
//! partition projection read. The bucket is in the
//! management account; each account's role may write under its own `account=` prefix
//! only (the bucket policy and the role's `ReportWriterPolicy`).
//!
//! Storing never fails a run: the caller records a failure on the report
//! (`Report::not_stored`), which the Slack digest shows and the logs keep.
//!
//! Reading is for the organization's view, in `cargo xtask report` and in the management
//! account's org-digest invocation (its role's `OrgDigestReaderPolicy`):
//! [`ReportArchive::list_reports`] lists the window's keys (the accounts' prefixes, then
//! each account's keys from the window's first day on), [`ReportArchive::read_reports`]
//! reads them, [`CONCURRENCY`] at a time. A key or prefix not in the layout, or an object
//! that cannot be read or parsed, is [`Rejected`] with why, never counted.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt as _;
use iam_janitor_cfn::stacks::artifacts::REPORT_BUCKET_PREFIX;
use time::{Date, OffsetDateTime};

use crate::model::org::{
    KEY_LAYOUT, KEY_PREFIX, Rejected, StoredRun, account_of_prefix, account_prefix, parse_key, report_key, start_after,
};
use crate::model::report::Report;
use crate::sdk_error::describe;

/// How long one attempt to store may take: a report is small, and the run's deadline
/// has only a margin left for the report, Slack and the logs.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// Requests to the bucket at once while listing accounts and reading reports.
pub const CONCURRENCY: usize = 8;

/// A report larger than this is not read (the largest accounts' reports are a few MB).
pub const MAX_REPORT_BYTES: i64 = 64 * 1024 * 1024;

/// The account that owns a bucket named by iam-janitor's convention
/// (`iam-janitor-reports-<account>-<region>`); `None` for another name.
///
/// Writes and reads name it as the expected bucket owner: a bucket of the same name that
/// someone else created after the organization's was deleted receives no report and is
/// not read.
pub fn bucket_owner(bucket: &str) -> Option<&str> {
    let rest = bucket.strip_prefix(REPORT_BUCKET_PREFIX)?;
    let account = rest.get(..12)?;
    (account.bytes().all(|b| b.is_ascii_digit()) && rest[12..].starts_with('-')).then_some(account)
}

/// What went wrong with the bucket, for a front end to say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveErrorKind {
    /// No such bucket.
    NoSuchBucket,
    /// The caller may not do this.
    AccessDenied,
    /// The bucket is in another Region (S3 says which, when it does).
    OtherRegion(Option<String>),
    /// Anything else (the message says what).
    Other,
}

/// A failed store or listing, naming the bucket and what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("report bucket {bucket}: {message}")]
pub struct ArchiveError {
    pub bucket: String,
    pub kind: ArchiveErrorKind,
    pub message: String,
}

/// What listing the bucket found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Report keys of the window (from its first day on), sorted.
    pub keys: Vec<String>,
    /// Keys and prefixes not in the bucket's layout (not read).
    pub rejected: Vec<Rejected>,
}

/// A step of reading the bucket, for a front end that shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Listing each account's keys.
    Listing,
    /// Reading the reports.
    Reading,
}

/// Told how reading the bucket goes (`cargo xtask report` shows bars; the Lambda nothing).
pub trait Progress: Sync {
    /// `phase` starts, with `total` steps.
    fn start(&self, _phase: Phase, _total: usize) {}
    /// One step of `phase` is done.
    fn advance(&self, _phase: Phase) {}
    /// `phase` is over.
    fn finish(&self, _phase: Phase) {}
}

/// No progress shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// The organization's report bucket.
#[derive(Debug, Clone)]
pub struct ReportArchive {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ReportArchive {
    /// A client for `bucket`, in the configuration's Region (the bucket's: deploy puts
    /// every stack and the bucket in one Region). Path-style addressing when an endpoint
    /// is set (an emulator).
    pub fn new(config: &aws_config::SdkConfig, bucket: &str) -> ReportArchive {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .timeout_config(
                aws_smithy_types::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        ReportArchive {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: bucket.to_string(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn error(&self, kind: ArchiveErrorKind, message: impl Into<String>) -> ArchiveError {
        ArchiveError {
            bucket: self.bucket.clone(),
            kind,
            message: message.into(),
        }
    }

    /// Stores `report` (compact JSON, one line) under its account's prefix at `at`;
    /// returns the key.
    pub async fn store(&self, report: &Report, at: OffsetDateTime) -> Result<String, ArchiveError> {
        let account = report.account_id.as_deref().ok_or_else(|| {
            self.error(
                ArchiveErrorKind::Other,
                "not stored: the run's account is unknown (no user ARN was read)",
            )
        })?;
        let key = report_key(account, at);
        let mut body =
            serde_json::to_vec(report).map_err(|e| self.error(ArchiveErrorKind::Other, format!("not stored: {e}")))?;
        body.push(b'\n');
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(bucket_owner(&self.bucket).map(str::to_string));
        put.send().await.map_err(|e| self.put_error(&key, &e))?;
        Ok(key)
    }

    /// What went wrong, from S3's answer.
    fn kind<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        e: &SdkError<E, HttpResponse>,
    ) -> ArchiveErrorKind {
        let code = e.as_service_error().and_then(ProvideErrorMetadata::code);
        let redirected =
            code == Some("PermanentRedirect") || e.raw_response().is_some_and(|r| r.status().as_u16() == 301);
        match code {
            Some("NoSuchBucket") => ArchiveErrorKind::NoSuchBucket,
            Some("AccessDenied") => ArchiveErrorKind::AccessDenied,
            _ if redirected => ArchiveErrorKind::OtherRegion(
                e.raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_string),
            ),
            _ => ArchiveErrorKind::Other,
        }
    }

    fn put_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        key: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> ArchiveError {
        let kind = Self::kind(e);
        let message = match &kind {
            ArchiveErrorKind::NoSuchBucket => {
                "the bucket does not exist (deploy creates it in the management account's artifact stack)".to_string()
            }
            ArchiveErrorKind::AccessDenied => {
                let said = e
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::message)
                    .unwrap_or("no message");
                if said.contains("kms:") {
                    format!(
                        "access denied writing {key}: the bucket encrypts with a KMS key, so the role needs \
                         kms:GenerateDataKey on it (ReportEncryptPolicy) and the key policy must allow the \
                         organization's tool roles (README, \"The report bucket's KMS key\") ({said})"
                    )
                } else {
                    format!(
                        "access denied writing {key}: the role needs s3:PutObject on its own reports/account=<id>/ \
                         prefix (ReportWriterPolicy) and the bucket policy must allow the organization ({said})"
                    )
                }
            }
            ArchiveErrorKind::OtherRegion(_) => {
                "the bucket is in another Region than this function (deploy puts both in one Region)".to_string()
            }
            ArchiveErrorKind::Other => format!("PutObject {key}: {}", describe(e)),
        };
        self.error(kind, message)
    }

    /// Why listing failed, with what to check (for the role; `cargo xtask report` says it
    /// its own way, from the kind).
    fn list_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        e: &SdkError<E, HttpResponse>,
    ) -> ArchiveError {
        let kind = Self::kind(e);
        let message = match &kind {
            ArchiveErrorKind::NoSuchBucket => "the bucket does not exist".to_string(),
            ArchiveErrorKind::AccessDenied => format!(
                "access denied listing {KEY_PREFIX}: reading needs s3:ListBucket on the bucket and s3:GetObject on \
                 {KEY_PREFIX}* ({})",
                describe(e)
            ),
            ArchiveErrorKind::OtherRegion(Some(region)) => format!("the bucket is in another Region ({region})"),
            ArchiveErrorKind::OtherRegion(None) => "the bucket is in another Region".to_string(),
            ArchiveErrorKind::Other => describe(e),
        };
        self.error(kind, message)
    }

    /// Lists one level of `prefix`: its keys and its sub-prefixes.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<String>,
        delimiter: bool,
    ) -> Result<(Vec<String>, Vec<String>), ArchiveError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after)
            .set_delimiter(delimiter.then(|| "/".to_string()))
            .set_expected_bucket_owner(bucket_owner(&self.bucket).map(str::to_string))
            .into_paginator()
            .send();
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.list_error(&e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_string));
            prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(str::to_string),
            );
        }
        Ok((keys, prefixes))
    }

    /// The window's report keys: the accounts (prefixes under `reports/`), then each
    /// account's keys from `first_day` on, [`CONCURRENCY`] accounts at a time.
    pub async fn list_reports(&self, first_day: Date, progress: &dyn Progress) -> Result<Listing, ArchiveError> {
        let (stray, prefixes) = self.list(KEY_PREFIX, None, true).await?;
        let mut listing = Listing::default();
        let not_a_report = format!("not a report key (expected {KEY_LAYOUT})");
        listing
            .rejected
            .extend(stray.iter().map(|key| Rejected::new(key, &not_a_report)));
        let mut accounts = Vec::new();
        for prefix in prefixes {
            match account_of_prefix(&prefix) {
                Some(account) => accounts.push(account.to_string()),
                None => listing.rejected.push(Rejected::new(
                    &prefix,
                    format!("not an account's prefix (expected {KEY_PREFIX}account=<12-digit id>/): not read"),
                )),
            }
        }
        progress.start(Phase::Listing, accounts.len());
        let mut listed = futures::stream::iter(accounts.iter().map(|account| {
            let after = start_after(account, first_day);
            async move { self.list(&account_prefix(account), Some(after), false).await }
        }))
        .buffer_unordered(CONCURRENCY);
        while let Some(result) = listed.next().await {
            let (keys, _) = result?;
            for key in keys {
                if parse_key(&key).is_some() {
                    listing.keys.push(key);
                } else {
                    listing.rejected.push(Rejected::new(&key, &not_a_report));
                }
            }
            progress.advance(Phase::Listing);
        }
        progress.finish(Phase::Listing);
        listing.keys.sort();
        Ok(listing)
    }

    /// Reads and parses the reports, [`CONCURRENCY`] at a time. An object that cannot be
    /// read or parsed is rejected, with why.
    pub async fn read_reports(&self, keys: &[String], progress: &dyn Progress) -> (Vec<StoredRun>, Vec<Rejected>) {
        progress.start(Phase::Reading, keys.len());
        let mut reads =
            futures::stream::iter(keys.iter().map(|key| self.read_report(key))).buffer_unordered(CONCURRENCY);
        let (mut runs, mut rejected) = (Vec::new(), Vec::new());
        while let Some(result) = reads.next().await {
            match result {
                Ok(run) => runs.push(run),
                Err(why) => rejected.push(why),
            }
            progress.advance(Phase::Reading);
        }
        progress.finish(Phase::Reading);
        (runs, rejected)
    }

    async fn read_report(&self, key: &str) -> Result<StoredRun, Rejected> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(bucket_owner(&self.bucket).map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                let said = describe(&e);
                let hint = if said.contains("kms:") {
                    " (the report is encrypted with the bucket's KMS key: the reader needs kms:Decrypt on it)"
                } else {
                    ""
                };
                Rejected::new(key, format!("cannot be read: {said}{hint}"))
            })?;
        if object.content_length().is_some_and(|n| n > MAX_REPORT_BYTES) {
            return Err(Rejected::new(
                key,
                format!("larger than {} MiB: not read", MAX_REPORT_BYTES / 1024 / 1024),
            ));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Rejected::new(key, format!("cannot be read: {e}")))?
            .into_bytes();
        StoredRun::parse(key, &bytes)
    }
}

/// Stores the run's report if there is a bucket: logs where it went, or records why not
/// on the report (`not_stored`, for the digest) and logs it. Never fails.
pub async fn keep(archive: Option<&ReportArchive>, report: &mut Report) {
    let Some(archive) = archive else { return };
    match archive.store(report, OffsetDateTime::now_utc()).await {
        Ok(key) => tracing::info!(bucket = archive.bucket(), key, "report stored"),
        Err(e) => {
            tracing::error!(error = %e, "report not stored; the run is not affected");
            report.not_stored = Some(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use iam_janitor_cfn::stacks::artifacts::RUN_COLUMNS;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn keys_are_partitioned_by_account_and_utc_date_and_sort_by_time() {
        let at = datetime!(2026-12-02 06:00:05.123456 UTC);
        let key = report_key("123456789012", at);
        assert_eq!(
            key,
            "reports/account=123456789012/date=2026-12-02/20261202T060005.123Z.json"
        );
        // What the organization view reads back.
        let parsed = crate::model::org::parse_key(&key).unwrap();
        assert_eq!(parsed.account_id, "123456789012");
        assert_eq!(parsed.started, datetime!(2026-12-02 06:00:05.123 UTC));
        // An offset time is stored by its UTC date.
        let late = datetime!(2026-12-02 23:30:00 -02:00);
        assert_eq!(
            report_key("123456789012", late),
            "reports/account=123456789012/date=2026-12-03/20261203T013000.000Z.json"
        );
        let earlier = report_key("123456789012", datetime!(2026-12-02 06:00:05.122 UTC));
        assert!(earlier < key);
    }

    fn s3_error(status: u16, code: &str, region: Option<&str>) -> SdkError<ListObjectsV2Error, HttpResponse> {
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(region) = region {
            response.headers_mut().insert("x-amz-bucket-region", region.to_string());
        }
        let meta = ErrorMetadata::builder().code(code).message("said S3").build();
        SdkError::service_error(ListObjectsV2Error::generic(meta), response)
    }

    /// A failed listing says what went wrong (for xtask's own words) and what to check.
    #[test]
    fn an_unreadable_bucket_is_classified_and_named() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let archive = ReportArchive::new(&config, "reports-b");
        let said = |status, code, region| archive.list_error(&s3_error(status, code, region));
        let missing = said(404, "NoSuchBucket", None);
        assert_eq!(missing.kind, ArchiveErrorKind::NoSuchBucket);
        assert_eq!(
            missing.to_string(),
            "report bucket reports-b: the bucket does not exist"
        );
        let denied = said(403, "AccessDenied", None);
        assert_eq!(denied.kind, ArchiveErrorKind::AccessDenied);
        assert!(
            denied.message.contains("s3:ListBucket") && denied.message.contains("s3:GetObject on reports/*"),
            "{denied}"
        );
        let elsewhere = said(301, "PermanentRedirect", Some("eu-west-1"));
        assert_eq!(
            elsewhere.kind,
            ArchiveErrorKind::OtherRegion(Some("eu-west-1".to_string()))
        );
        assert_eq!(elsewhere.message, "the bucket is in another Region (eu-west-1)");
        let other = said(500, "InternalError", None);
        assert_eq!(
            (other.kind, other.message.as_str()),
            (ArchiveErrorKind::Other, "InternalError: said S3")
        );
    }

    #[test]
    fn the_owner_is_read_only_from_iam_janitors_own_bucket_names() {
        assert_eq!(
            bucket_owner("iam-janitor-reports-123456789012-eu-west-1"),
            Some("123456789012")
        );
        for other in [
            "my-reports",
            "iam-janitor-reports-12345678901-eu-west-1",
            "iam-janitor-reports-1234567890123-eu-west-1",
            "iam-janitor-reports-12345678901x-eu-west-1",
            "iam-janitor-reports-123456789012",
        ] {
            assert_eq!(bucket_owner(other), None, "{other}");
        }
    }

    /// A Hive type, as the Athena table declares a column.
    #[derive(Debug)]
    enum Hive {
        Scalar(String),
        Array(Box<Hive>),
        Struct(Vec<(String, Hive)>),
    }

    fn parse(text: &str) -> (Hive, &str) {
        if let Some(rest) = text.strip_prefix("array<") {
            let (inner, rest) = parse(rest);
            (Hive::Array(Box::new(inner)), rest.strip_prefix('>').unwrap())
        } else if let Some(mut rest) = text.strip_prefix("struct<") {
            let mut fields = Vec::new();
            loop {
                let (name, after) = rest.split_once(':').unwrap();
                let (r#type, after) = parse(after);
                fields.push((name.to_string(), r#type));
                match after.split_at(1) {
                    (",", more) => rest = more,
                    (">", more) => return (Hive::Struct(fields), more),
                    other => panic!("unexpected {other:?}"),
                }
            }
        } else {
            let end = text.find([',', '>']).unwrap_or(text.len());
            (Hive::Scalar(text[..end].to_string()), &text[end..])
        }
    }

    /// Whether every field of `value` has a column of a matching type in `hive`.
    fn check(path: &str, value: &serde_json::Value, hive: &Hive) {
        use serde_json::Value;
        match (value, hive) {
            (Value::Null, _) => {}
            (Value::Object(fields), Hive::Struct(columns)) => {
                for (name, v) in fields {
                    let column = columns.iter().find(|(c, _)| c == name);
                    let (_, r#type) = column.unwrap_or_else(|| panic!("{path}.{name} has no column"));
                    check(&format!("{path}.{name}"), v, r#type);
                }
            }
            (Value::Array(items), Hive::Array(inner)) => {
                for item in items {
                    check(&format!("{path}[]"), item, inner);
                }
            }
            (Value::Bool(_), Hive::Scalar(t)) => assert_eq!(t, "boolean", "{path}"),
            (Value::Number(_), Hive::Scalar(t)) => assert!(t == "int" || t == "bigint", "{path}: {t}"),
            (Value::String(_), Hive::Scalar(t)) => assert_eq!(t, "string", "{path}"),
            (v, t) => panic!("{path}: {v} is not a {t:?}"),
        }
    }

    /// Athena reads what the engine stores: every field of a report with every optional
    /// part present has its column, of its type (the table is in the artifact stack).
    #[test]
    fn every_stored_field_has_its_athena_column() {
        use crate::model::credential_report::RejectedRow;
        use crate::model::report::*;
        let at = datetime!(2026-12-02 06:00:00 UTC);
        let finding = Finding {
            user: "alice".into(),
            arn: "arn:aws:iam::123456789012:user/alice".into(),
            kind: Kind::AccessKey,
            access_key_id: Some("AKIAEXAMPLE".into()),
            access_key_slot: Some(1),
            credential_id: Some("ID".into()),
            credential_slot: Some(2),
            last_used: Some(at),
            idle_days: Some(100),
            action: Action::DeactivateAccessKey,
            status: Status::Applied,
            reason: "idle".into(),
            reason_code: ReasonCode::Dormant,
            services: Some(vec!["s3".into()]),
        };
        let mut report = Report {
            schema_version: REPORT_SCHEMA_VERSION,
            account_id: Some("123456789012".into()),
            generated_at: at,
            enforce: true,
            mode: Mode::Enforce,
            credential_report_generated_at: Some(at),
            dormant_days: 90,
            warn_days: 14,
            findings: vec![finding],
            rejected_rows: vec![RejectedRow {
                line: 3,
                user: Some("bob".into()),
                reason: "bad date".into(),
            }],
            suspicious_tags: vec![SuspiciousTag {
                user: "carol".into(),
                key: "IAM-JANITOR:RESTORED".into(),
                value: "x".into(),
                kind: SuspiciousKind::CaseVariant,
                reason: "case".into(),
            }],
            not_checked: vec!["ssh keys".into()],
            summary: Summary {
                oldest_check_days: Some(3),
                circuit_breaker: Some(BreakerTrip {
                    planned_changes: 30,
                    max_actions: 25,
                    tripped: true,
                    applied_before: 0,
                }),
                ..Summary::default()
            },
            not_stored: None,
        };
        report.recount();
        let columns = Hive::Struct(
            RUN_COLUMNS
                .iter()
                .map(|(name, r#type)| {
                    let compact: String = r#type.chars().filter(|c| !c.is_whitespace()).collect();
                    let (hive, rest) = parse(&compact);
                    assert_eq!(rest, "", "{name}");
                    (name.to_string(), hive)
                })
                .collect(),
        );
        check("report", &serde_json::to_value(&report).unwrap(), &columns);
    }
}
