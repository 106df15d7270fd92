//! The AWS side of `report`, its only AWS calls: the caller's account (STS), the
//! organization's accounts (Organizations), and the report bucket (S3): the window's keys,
//! listed per account from the window's first day on, and the reports, read a few at a
//! time.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_organizations::operation::list_accounts::ListAccountsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use futures::StreamExt as _;
use iam_janitor::model::org::{
    KEY_LAYOUT, KEY_PREFIX, OrgAccount, Rejected, StoredRun, account_of_prefix, account_prefix, parse_key, start_after,
};
use indicatif::{ProgressBar, ProgressStyle};
use time::Date;

/// Reports read at once.
const CONCURRENCY: usize = 8;

/// A report larger than this is not read (the largest accounts' reports are a few MB).
const MAX_REPORT_BYTES: i64 = 64 * 1024 * 1024;

/// An SDK error as one line: the service's code and message, or what went wrong on the way.
fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match error.as_service_error().map(|e| (e.code(), e.message())) {
        Some((Some(code), Some(message))) => format!("{code}: {message}"),
        Some((Some(code), None)) => code.to_string(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// What listing the bucket found.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// Report keys of the window (from its first day on).
    pub(super) keys: Vec<String>,
    /// Keys and prefixes not in the bucket's layout (not read).
    pub(super) rejected: Vec<Rejected>,
}

pub(super) struct Aws {
    s3: aws_sdk_s3::Client,
    orgs: aws_sdk_organizations::Client,
    sts: aws_sdk_sts::Client,
}

impl Aws {
    pub(super) fn new(config: &SdkConfig) -> Aws {
        // A custom endpoint (an emulator, a proxy) rarely resolves bucket subdomains.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            orgs: aws_sdk_organizations::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    pub(super) async fn caller_account(&self) -> anyhow::Result<String> {
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| {
            anyhow::Error::msg(describe(&e))
                .context("cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity)")
        })?;
        identity
            .account()
            .map(str::to_string)
            .context("sts:GetCallerIdentity returned no account")
    }

    /// The organization's accounts, or why they are unknown (one line).
    pub(super) async fn organization_accounts(&self) -> Result<Vec<OrgAccount>, String> {
        let why = |e: &SdkError<ListAccountsError, HttpResponse>| {
            let service = e.as_service_error();
            if service.is_some_and(|s| s.is_aws_organizations_not_in_use_exception()) {
                "this account is not in an AWS Organization".to_string()
            } else if service.is_some_and(|s| s.is_access_denied_exception()) {
                format!(
                    "the organization's accounts cannot be listed ({}): run with the management account's (or a \
                     delegated administrator's) credentials to see accounts that never reported",
                    describe(e)
                )
            } else {
                format!("the organization's accounts cannot be listed ({})", describe(e))
            }
        };
        let mut accounts = Vec::new();
        let mut pages = self.orgs.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            accounts.extend(page.map_err(|e| why(&e))?.accounts().iter().cloned());
        }
        Ok(accounts
            .iter()
            .filter_map(|a| {
                let id = a.id()?;
                // `State` replaces `Status` (retired in 2026); both say ACTIVE.
                let status = a
                    .state()
                    .map(|s| s.as_str())
                    .or_else(|| a.status().map(|s| s.as_str()))
                    .unwrap_or("UNKNOWN");
                Some(OrgAccount {
                    id: id.to_string(),
                    name: a.name().unwrap_or_default().to_string(),
                    status: status.to_string(),
                })
            })
            .collect())
    }

    /// Explains a failed listing of the bucket, with what to do.
    fn bucket_error(bucket: &str, error: &SdkError<ListObjectsV2Error, HttpResponse>) -> anyhow::Error {
        let code = error.as_service_error().and_then(ProvideErrorMetadata::code);
        let redirected =
            code == Some("PermanentRedirect") || error.raw_response().is_some_and(|r| r.status().as_u16() == 301);
        if code == Some("NoSuchBucket") {
            anyhow::anyhow!(
                "the report bucket {bucket} does not exist: pass --bucket NAME (the default is \
                 iam-janitor-reports-<management account>-<region>, so check --region and the credentials' account)"
            )
        } else if code == Some("AccessDenied") {
            anyhow::anyhow!(
                "access denied to the report bucket {bucket}: the caller needs s3:ListBucket on arn:aws:s3:::{bucket} \
                 and s3:GetObject on arn:aws:s3:::{bucket}/{KEY_PREFIX}* (use the management account's credentials)"
            )
        } else if redirected {
            let region = error
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            anyhow::anyhow!("the report bucket {bucket} is in another Region{region}: pass --region with its Region")
        } else {
            anyhow::Error::msg(describe(error)).context(format!("listing the report bucket {bucket}"))
        }
    }

    /// Lists one level of `prefix`: its keys and its sub-prefixes.
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<String>,
        delimiter: bool,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after)
            .set_delimiter(delimiter.then(|| "/".to_string()))
            .into_paginator()
            .send();
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::bucket_error(bucket, &e))?;
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
    /// account's keys from `first_day` on.
    pub(super) async fn list_reports(&self, bucket: &str, first_day: Date, progress: bool) -> anyhow::Result<Listing> {
        let (stray, prefixes) = self.list(bucket, KEY_PREFIX, None, true).await?;
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
        let bar = bar(progress, accounts.len(), "listed {human_pos} of {human_len} accounts");
        let mut listed = futures::stream::iter(accounts.iter().map(|account| {
            let after = start_after(account, first_day);
            async move { self.list(bucket, &account_prefix(account), Some(after), false).await }
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
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        listing.keys.sort();
        Ok(listing)
    }

    /// Reads and parses the reports, [`CONCURRENCY`] at a time. An object that cannot be
    /// read or parsed is rejected, with why.
    pub(super) async fn read_reports(
        &self,
        bucket: &str,
        keys: &[String],
        progress: bool,
    ) -> (Vec<StoredRun>, Vec<Rejected>) {
        let bar = bar(progress, keys.len(), "read {human_pos} of {human_len} reports");
        let mut reads =
            futures::stream::iter(keys.iter().map(|key| self.read_report(bucket, key))).buffer_unordered(CONCURRENCY);
        let (mut runs, mut rejected) = (Vec::new(), Vec::new());
        while let Some(result) = reads.next().await {
            match result {
                Ok(run) => runs.push(run),
                Err(why) => rejected.push(why),
            }
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        (runs, rejected)
    }

    async fn read_report(&self, bucket: &str, key: &str) -> Result<StoredRun, Rejected> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Rejected::new(key, format!("cannot be read: {}", describe(&e))))?;
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

/// A progress bar on stderr, when it is a terminal.
fn bar(progress: bool, len: usize, template: &str) -> Option<ProgressBar> {
    if !progress {
        return None;
    }
    let bar = ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template(&format!("{{spinner}} {template}")) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn error(status: u16, code: &str, region: Option<&str>) -> SdkError<ListObjectsV2Error, HttpResponse> {
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(region) = region {
            response.headers_mut().insert("x-amz-bucket-region", region.to_string());
        }
        let meta = ErrorMetadata::builder().code(code).message("said S3").build();
        SdkError::service_error(ListObjectsV2Error::generic(meta), response)
    }

    #[test]
    fn an_unreadable_bucket_is_named_with_what_to_do() {
        let said = |e| Aws::bucket_error("reports-b", &e).to_string();
        let missing = said(error(404, "NoSuchBucket", None));
        assert!(
            missing.starts_with("the report bucket reports-b does not exist: pass --bucket NAME"),
            "{missing}"
        );
        let denied = said(error(403, "AccessDenied", None));
        assert!(
            denied.contains("reports-b") && denied.contains("s3:ListBucket on arn:aws:s3:::reports-b"),
            "{denied}"
        );
        let elsewhere = said(error(301, "PermanentRedirect", Some("eu-west-1")));
        assert_eq!(
            elsewhere,
            "the report bucket reports-b is in another Region (eu-west-1): pass --region with its Region"
        );
        let other = format!(
            "{:#}",
            Aws::bucket_error("reports-b", &error(500, "InternalError", None))
        );
        assert_eq!(other, "listing the report bucket reports-b: InternalError: said S3");
    }
}
