//! The Lambda entry point: structured JSON logs, settings and the IAM client built once
//! per cold start, then the handler for each scheduled (or manual) invocation, and for
//! the organization digest.

use iam_janitor::archive::ReportArchive;
use iam_janitor::handler::{App, budget_until, handle};
use iam_janitor::iam::{Iam, retry_config};
use iam_janitor::organizations::Organizations;
use iam_janitor::settings::Settings;
use iam_janitor::store::StateTable;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    // An invalid setting fails the cold start: nothing is read or changed. The message
    // names the variable and the value (Lambda shows it with the exit error).
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!(error = %e, "invalid settings; nothing was read or changed");
            return Err(e.to_string().into());
        }
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await;
    let state = settings
        .state_table
        .as_deref()
        .map(|name| StateTable::new(&config, name));
    let archive = settings
        .report_bucket
        .as_deref()
        .map(|bucket| ReportArchive::new(&config, bucket));
    let iam = Iam::new(&config, settings.iam_rate);
    let app = App {
        settings,
        iam,
        state,
        archive,
        organizations: Organizations::new(&config),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = time::OffsetDateTime::now_utc();
        let budget = budget_until(event.context.deadline);
        let outcome = handle(app, event.payload, now.replace_nanosecond(0).unwrap_or(now), budget).await?;
        Ok::<_, Error>(serde_json::to_value(&outcome)?)
    }))
    .await
}
