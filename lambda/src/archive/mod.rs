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

use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use iam_janitor_cfn::stacks::artifacts::REPORT_BUCKET_PREFIX;
use time::OffsetDateTime;

use crate::model::org::report_key;
use crate::model::report::Report;

/// How long one attempt to store may take: a report is small, and the run's deadline
/// has only a margin left for the report, Slack and the logs.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The account that owns a bucket named by iam-janitor's convention
/// (`iam-janitor-reports-<account>-<region>`); `None` for another name.
///
/// Writes name it as the expected bucket owner: a bucket of the same name that someone
/// else created after the organization's was deleted receives no report.
pub fn bucket_owner(bucket: &str) -> Option<&str> {
    let rest = bucket.strip_prefix(REPORT_BUCKET_PREFIX)?;
    let account = rest.get(..12)?;
    (account.bytes().all(|b| b.is_ascii_digit()) && rest[12..].starts_with('-')).then_some(account)
}

/// A failed store, naming the bucket and what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("report bucket {bucket}: {message}")]
pub struct ArchiveError {
    pub bucket: String,
    pub message: String,
}

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

    fn error(&self, message: impl Into<String>) -> ArchiveError {
        ArchiveError {
            bucket: self.bucket.clone(),
            message: message.into(),
        }
    }

    /// Stores `report` (compact JSON, one line) under its account's prefix at `at`;
    /// returns the key.
    pub async fn store(&self, report: &Report, at: OffsetDateTime) -> Result<String, ArchiveError> {
        let account = report
            .account_id
            .as_deref()
            .ok_or_else(|| self.error("not stored: the run's account is unknown (no user ARN was read)"))?;
        let key = report_key(account, at);
        let mut body = serde_json::to_vec(report).map_err(|e| self.error(format!("not stored: {e}")))?;
        body.push(b'\n');
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        if let Some(owner) = bucket_owner(&self.bucket) {
            put = put.expected_bucket_owner(owner);
        }
        put.send().await.map_err(|e| self.sdk_error(&key, &e))?;
        Ok(key)
    }

    fn sdk_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
        &self,
        key: &str,
        e: &SdkError<E, R>,
    ) -> ArchiveError {
        let message = match e.as_service_error().map(|s| (s.code(), s.message())) {
            Some((Some("NoSuchBucket"), _)) => {
                "the bucket does not exist (deploy creates it in the management account's artifact stack)".to_string()
            }
            Some((Some("AccessDenied"), message)) => format!(
                "access denied writing {key}: the role needs s3:PutObject on its own reports/account=<id>/ prefix \
                 (ReportWriterPolicy) and the bucket policy must allow the organization ({})",
                message.unwrap_or("no message")
            ),
            Some((Some("PermanentRedirect"), _)) => {
                "the bucket is in another Region than this function (deploy puts both in one Region)".to_string()
            }
            Some((code, message)) => format!(
                "PutObject {key}: {}: {}",
                code.unwrap_or("error"),
                message.unwrap_or("no message")
            ),
            None => format!("PutObject {key}: {}", DisplayErrorContext(e)),
        };
        self.error(message)
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
