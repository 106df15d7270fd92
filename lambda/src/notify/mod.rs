//! Notifications: the Slack digest of a run.

pub mod slack;

use crate::model::report::Report;
use crate::settings::Settings;

/// Posts the run's digest to Slack if a webhook is set. Never fails the run: a failure
/// to post is logged.
pub async fn notify(report: &Report, settings: &Settings) {
    let Some(webhook) = &settings.slack_webhook else { return };
    let messages = slack::digest(report);
    let outcome = slack::post(webhook, &messages).await;
    match &outcome.error {
        None => tracing::info!(messages = outcome.sent, "slack digest posted"),
        Some(e) => {
            tracing::error!(sent = outcome.sent, total = outcome.total, error = %e, "slack digest not delivered")
        }
    }
}
