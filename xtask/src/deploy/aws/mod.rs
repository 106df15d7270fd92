//! The AWS side of `deploy` and `destroy`: one method per call (or per wait), errors
//! turned into one line that names what was being done. The requests that matter most
//! (the StackSet's) are built by separate functions so that tests can read them.
//!
//! Here: the clients ([`Aws`]), error descriptions and the pace of waits. The methods
//! are grouped by what they act on: [`org`] who deploys and where (STS, Organizations),
//! [`stacks`] plain stacks and change sets, [`stackset`] the StackSet, its stack
//! instances and operations, [`bucket`] the S3 code bucket, [`kms`] the report bucket's
//! KMS key.

mod bucket;
mod kms;
mod org;
mod stacks;
mod stackset;

use std::fmt;
use std::time::Duration;

use anyhow::bail;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{CallAs, Parameter, Tag};
use iam_janitor::backoff::AtDeadline;

pub(super) use self::stacks::ChangeSetOutcome;
pub(super) use self::stackset::{InstanceChange, operation_preferences};
use super::plan::DesiredStack;
pub(crate) use iam_janitor::sdk_error::describe;

/// First pause between two polls; it grows by half up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(2);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(20);

/// The service's error code, if it answered.
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// `.or_fail(|| "what was being done")`: the SDK error, described, in that context.
trait OrFail<T> {
    fn or_fail(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E, R> OrFail<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    fn or_fail(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::msg(describe(&e)).context(what()))
    }
}

/// Paces a wait: polls at growing intervals (×1.5) until a deadline, the last wait
/// shortened to end at it; the engine's one poller.
struct Backoff {
    timeout: Duration,
    waits: iam_janitor::backoff::Backoff,
}

impl Backoff {
    fn new(timeout: Duration) -> Backoff {
        Backoff {
            timeout,
            waits: iam_janitor::backoff::Backoff::new(FIRST_POLL_INTERVAL, MAX_POLL_INTERVAL)
                .growth(3, 2)
                .deadline(timeout, AtDeadline::Shorten),
        }
    }

    /// Sleeps before the next poll; an error once the deadline has passed.
    async fn pause(&mut self, what: &str) -> anyhow::Result<()> {
        if self.waits.wait().await.is_err() {
            bail!(
                "gave up waiting for {what} after {} minutes (--timeout-minutes); it may still finish: check the \
                 CloudFormation console, then run the command again",
                self.timeout.as_secs() / 60
            );
        }
        Ok(())
    }
}

fn parameters(desired: &DesiredStack) -> Vec<Parameter> {
    desired
        .parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .collect()
}

fn tags(desired: &DesiredStack) -> Vec<Tag> {
    desired
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}
/// The clients, and whether StackSet calls are made as the management account or as a
/// delegated administrator.
pub(super) struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    orgs: aws_sdk_organizations::Client,
    kms: aws_sdk_kms::Client,
    sts: aws_sdk_sts::Client,
    call_as: CallAs,
}

impl Aws {
    pub(super) fn new(config: &SdkConfig, call_as: CallAs) -> Aws {
        // A custom endpoint (an emulator, a proxy) rarely resolves bucket subdomains.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Aws {
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            orgs: aws_sdk_organizations::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            call_as,
        }
    }
}
