//! The AWS side of `report`: the caller's account (STS), and the engine's adapters for the
//! rest (`iam_janitor::organizations` for the organization's accounts,
//! `iam_janitor::archive` for the report bucket: the window's keys, listed per account
//! from the window's first day on, and the reports, read a few at a time), shared with
//! the management account's org-digest invocation. This adds what only the command line
//! needs: the default bucket's account, progress bars, and the errors in the flags' words.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use iam_janitor::archive::{ArchiveError, ArchiveErrorKind, Listing, Phase, Progress, ReportArchive};
use iam_janitor::model::org::{KEY_PREFIX, OrgAccount, Rejected, StoredRun};
use iam_janitor::organizations::{OrgError, Organizations};
use iam_janitor::sdk_error::describe;
use indicatif::{ProgressBar, ProgressStyle};
use time::Date;

pub(super) struct Aws {
    config: SdkConfig,
    orgs: Organizations,
    sts: aws_sdk_sts::Client,
}

impl Aws {
    pub(super) fn new(config: &SdkConfig) -> Aws {
        Aws {
            config: config.clone(),
            orgs: Organizations::new(config),
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
        self.orgs.accounts().await.map_err(|e| match e {
            OrgError::AccessDenied(_) => format!(
                "{e}: run with the management account's (or a delegated administrator's) credentials to see \
                 accounts that never reported"
            ),
            other => other.to_string(),
        })
    }

    /// The window's report keys (see `ReportArchive::list_reports`).
    pub(super) async fn list_reports(&self, bucket: &str, first_day: Date, progress: bool) -> anyhow::Result<Listing> {
        let archive = ReportArchive::new(&self.config, bucket);
        archive
            .list_reports(first_day, &Bars::new(progress))
            .await
            .map_err(|e| bucket_error(&e))
    }

    /// Reads and parses the reports (see `ReportArchive::read_reports`).
    pub(super) async fn read_reports(
        &self,
        bucket: &str,
        keys: &[String],
        progress: bool,
    ) -> (Vec<StoredRun>, Vec<Rejected>) {
        let archive = ReportArchive::new(&self.config, bucket);
        archive.read_reports(keys, &Bars::new(progress)).await
    }
}

/// Explains a failed listing of the bucket, with what to do on the command line.
fn bucket_error(error: &ArchiveError) -> anyhow::Error {
    let bucket = &error.bucket;
    match &error.kind {
        ArchiveErrorKind::NoSuchBucket => anyhow::anyhow!(
            "the report bucket {bucket} does not exist: pass --bucket NAME (the default is \
             iam-janitor-reports-<management account>-<region>, so check --region and the credentials' account)"
        ),
        ArchiveErrorKind::AccessDenied => anyhow::anyhow!(
            "access denied to the report bucket {bucket}: the caller needs s3:ListBucket on arn:aws:s3:::{bucket} \
             and s3:GetObject on arn:aws:s3:::{bucket}/{KEY_PREFIX}* (use the management account's credentials)"
        ),
        ArchiveErrorKind::OtherRegion(region) => anyhow::anyhow!(
            "the report bucket {bucket} is in another Region{}: pass --region with its Region",
            region.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ),
        ArchiveErrorKind::Other => {
            anyhow::Error::msg(error.message.clone()).context(format!("listing the report bucket {bucket}"))
        }
    }
}

/// Progress bars on stderr (when it is a terminal), one per phase.
struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
        Bars {
            enabled,
            bar: Mutex::new(None),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        if let Ok(mut bar) = self.bar.lock() {
            f(&mut bar);
        }
    }
}

impl Progress for Bars {
    fn start(&self, phase: Phase, total: usize) {
        if !self.enabled {
            return;
        }
        let template = match phase {
            Phase::Listing => "listed {human_pos} of {human_len} accounts",
            Phase::Reading => "read {human_pos} of {human_len} reports",
        };
        let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
        if let Ok(style) = ProgressStyle::with_template(&format!("{{spinner}} {template}")) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        self.with(|slot| *slot = Some(bar));
    }

    fn advance(&self, _phase: Phase) {
        self.with(|slot| {
            if let Some(bar) = slot {
                bar.inc(1);
            }
        });
    }

    fn finish(&self, _phase: Phase) {
        self.with(|slot| {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ArchiveErrorKind, message: &str) -> ArchiveError {
        ArchiveError {
            bucket: "reports-b".to_string(),
            kind,
            message: message.to_string(),
        }
    }

    #[test]
    fn an_unreadable_bucket_is_named_with_what_to_do() {
        let said = |kind| bucket_error(&error(kind, "said S3")).to_string();
        let missing = said(ArchiveErrorKind::NoSuchBucket);
        assert!(
            missing.starts_with("the report bucket reports-b does not exist: pass --bucket NAME"),
            "{missing}"
        );
        let denied = said(ArchiveErrorKind::AccessDenied);
        assert!(
            denied.contains("reports-b") && denied.contains("s3:ListBucket on arn:aws:s3:::reports-b"),
            "{denied}"
        );
        let elsewhere = said(ArchiveErrorKind::OtherRegion(Some("eu-west-1".to_string())));
        assert_eq!(
            elsewhere,
            "the report bucket reports-b is in another Region (eu-west-1): pass --region with its Region"
        );
        let other = format!(
            "{:#}",
            bucket_error(&error(ArchiveErrorKind::Other, "InternalError: said S3"))
        );
        assert_eq!(other, "listing the report bucket reports-b: InternalError: said S3");
    }
}
