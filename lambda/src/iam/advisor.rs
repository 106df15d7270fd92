//! IAM Access Advisor: a job per user (service level), polled until complete, its pages
//! read by the pure [`read_page`].

use std::time::Duration;

use aws_sdk_iam::operation::get_service_last_accessed_details::GetServiceLastAccessedDetailsOutput;
use aws_sdk_iam::types::JobStatusType;

use super::{AwsError, Iam, to_time};
use crate::backoff::{AtDeadline, Backoff, Jitter};
use crate::model::services::ServiceAccess;

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
#[path = "advisor_tests.rs"]
mod advisor_tests;

/// How long an Access Advisor job may take.
pub const ADVISOR_JOB_TIMEOUT: Duration = Duration::from_secs(180);

impl Iam {
    /// A user's Access Advisor services: starts a job and reads it.
    pub async fn access_advisor(&self, arn: &str) -> Result<Vec<ServiceAccess>, AwsError> {
        let job = self.generate_service_last_accessed(arn).await?;
        self.service_last_accessed(&job, ADVISOR_JOB_TIMEOUT).await
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
        out.job_id().map(str::to_string).ok_or_else(|| {
            AwsError::local(
                "GenerateServiceLastAccessedDetails",
                "no JobId in the answer".to_string(),
            )
        })
    }

    /// Polls an Access Advisor job until COMPLETED (with jittered backoff, within
    /// `timeout`), then reads every page (at most [`MAX_ADVISOR_PAGES`]); each page is
    /// read by [`read_page`].
    pub async fn service_last_accessed(&self, job_id: &str, timeout: Duration) -> Result<Vec<ServiceAccess>, AwsError> {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(3))
            .jitter(Jitter::Half)
            .deadline(timeout, AtDeadline::GiveUp);
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
                Page::InProgress => backoff.wait().await.map_err(|_| {
                    AwsError::local(ADVISOR_OP, format!("job not complete after {} s", timeout.as_secs()))
                })?,
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
}
