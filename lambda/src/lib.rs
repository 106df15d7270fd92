//! iam-janitor's engine: finds IAM credentials unused for more than N days and disables
//! them, warning before the limit, with exemptions, a circuit breaker, live confirmation
//! before every write, an audit trail on the user, and a Slack digest.
//!
//! Layers (see ARCHITECTURE.md): [`credential_report`], [`inventory`] and [`rules`] are
//! pure; [`aws`] is the only module that calls AWS; [`engine`] wires them together;
//! [`audit`] and [`handler`] are the two front ends (CLI and Lambda).

pub mod audit;
pub mod aws;
pub mod credential_report;
pub mod deny;
pub mod engine;
pub mod glob;
pub mod handler;
pub mod inventory;
pub mod least_privilege;
pub mod permissions;
pub mod report;
pub mod restore;
pub mod rules;
pub mod settings;
pub mod slack;

/// Posts the run's digest to Slack if a webhook is set. Never fails the run: a failure
/// to post is logged.
pub async fn notify(report: &report::Report, settings: &settings::Settings) {
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
