//! Notifications: the Slack digest of a run, and the organization digest (built from
//! the organization's view by the management account's org-digest invocation).

pub mod org_digest;
pub mod slack;

use crate::model::report::Report;
use crate::settings::Settings;

/// Posts the run's digest to Slack if a webhook is set and `--slack-scope` includes the
/// account's digest. Never fails the run: a failure to post is logged.
pub async fn notify(report: &Report, settings: &Settings) {
    let Some(webhook) = &settings.slack_webhook else { return };
    if !settings.slack_scope.posts_account_digest() {
        tracing::info!(scope = %settings.slack_scope, "slack digest not posted: the slack scope is the organization's digest only");
        return;
    }
    let messages = slack::digest(report);
    let outcome = slack::post(webhook, &messages).await;
    match &outcome.error {
        None => tracing::info!(messages = outcome.sent, "slack digest posted"),
        Some(e) => {
            tracing::error!(sent = outcome.sent, total = outcome.total, error = %e, "slack digest not delivered")
        }
    }
}
