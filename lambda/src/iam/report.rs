//! The credential report: generated, polled until ready, read.

use std::time::Duration;

use aws_sdk_iam::types::ReportStateType;
use time::OffsetDateTime;

use super::{AwsError, Iam, to_time};
use crate::backoff::{AtDeadline, Backoff};

impl Iam {
    /// Generates the credential report (polling with backoff until COMPLETE, within
    /// `timeout`) and returns its CSV and generation time.
    pub async fn credential_report(&self, timeout: Duration) -> Result<(Vec<u8>, Option<OffsetDateTime>), AwsError> {
        let mut backoff =
            Backoff::new(Duration::from_millis(250), Duration::from_secs(5)).deadline(timeout, AtDeadline::GiveUp);
        let not_ready = |what: &str| {
            AwsError::local(
                "GenerateCredentialReport",
                format!("credential report not ready after {} s ({what})", timeout.as_secs()),
            )
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
            backoff.wait().await.map_err(|_| not_ready("state not COMPLETE"))?;
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
                    backoff
                        .wait()
                        .await
                        .map_err(|_| not_ready(e.code.as_deref().unwrap_or("")))?;
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
}
