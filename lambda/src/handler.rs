//! The Lambda handler: an EventBridge scheduled event runs the engine with the settings
//! from the environment; a manual invoke may ask for one run in report mode with
//! `{"mode": "report"}`, and in enforce mode with `{"mode": "enforce"}` only where the
//! deployment allows it (`InvokeOverride`, off by default): otherwise anyone allowed
//! `lambda:InvokeFunction` could enforce in an account deployed to report.
//!
//! The response is the report. A tripped circuit breaker or a failed change returns an
//! error after the report is logged and posted, so the function's Errors alarm fires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use time::OffsetDateTime;

use crate::archive::ReportArchive;
use crate::budget::Budget;
use crate::iam::Iam;
use crate::model::report::Report;
use crate::run;
use crate::settings::{Mode, Settings};
use crate::store::StateTable;

/// What a cold start builds once: validated settings, the IAM client, the state
/// table's and the report bucket's.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub iam: Iam,
    pub state: Option<StateTable>,
    pub archive: Option<ReportArchive>,
}

/// Kept back from the invocation's deadline: the report, Slack and the logs need time
/// after the last change.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

/// The run's budget: until the invocation's deadline (milliseconds since the epoch, as
/// the Runtime API gives it) less [`DEADLINE_MARGIN`]; none if the deadline is unknown.
pub fn budget_until(deadline_ms: u64) -> Budget {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if deadline_ms == 0 || deadline_ms <= now_ms {
        return Budget::NONE;
    }
    let total = Duration::from_millis(deadline_ms - now_ms).saturating_sub(DEADLINE_MARGIN);
    Budget::of(total)
}

/// Errors the handler returns to Lambda.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("invalid event: {0}")]
    BadEvent(String),
    #[error(
        "refused: the invoke asks for {{\"mode\": \"enforce\"}} but this function is deployed in report mode \
         and its InvokeOverride parameter is off (IAM_JANITOR_INVOKE_OVERRIDE); nothing was run. Deploy with \
         --mode enforce, or with --invoke-override on to allow enforce runs on demand"
    )]
    OverrideRefused,
    #[error(transparent)]
    Run(#[from] run::RunError),
    #[error("circuit breaker tripped: {planned} changes planned, more than max-actions {max}; {outcome}")]
    Breaker { planned: usize, max: u32, outcome: String },
    #[error("{failed} changes failed (see the report in the logs)")]
    Partial { failed: usize },
}

/// The mode override of a manual invoke, if any. Scheduled events carry none.
pub fn mode_override(event: &Value) -> Result<Option<Mode>, HandlerError> {
    match event.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Mode::parse(s)
            .map(Some)
            .ok_or_else(|| HandlerError::BadEvent(format!("\"mode\" must be \"report\" or \"enforce\", not {s:?}"))),
        Some(other) => Err(HandlerError::BadEvent(format!(
            "\"mode\" must be \"report\" or \"enforce\", not {other}"
        ))),
    }
}

/// The mode of this run: the deployment's, or the invoke's where allowed. Asking for
/// report is always allowed (it changes nothing); asking for enforce in a deployment set
/// to report only with `invoke_override`.
pub fn run_mode(settings: &Settings, event: &Value) -> Result<Mode, HandlerError> {
    match mode_override(event)? {
        None => Ok(settings.mode),
        Some(Mode::Enforce) if settings.mode == Mode::Report && !settings.invoke_override => {
            Err(HandlerError::OverrideRefused)
        }
        Some(mode) => Ok(mode),
    }
}

/// Handles one invocation.
pub async fn handle(app: &App, event: Value, now: OffsetDateTime, budget: Budget) -> Result<Report, HandlerError> {
    let mut settings = app.settings.clone();
    settings.mode = run_mode(&settings, &event)?;
    tracing::info!(mode = %settings.mode, source = ?event.get("source"), "run starting");
    let mut report = run::run(&app.iam, app.state.as_ref(), &settings, now, budget).await?;
    crate::archive::keep(app.archive.as_ref(), &mut report).await;
    tracing::info!(report = %serde_json::to_string(&report).unwrap_or_default(), "run finished");
    crate::notify::notify(&report, &settings).await;
    if let Some(b) = report.summary.circuit_breaker.as_ref().filter(|b| b.tripped) {
        return Err(HandlerError::Breaker {
            planned: b.planned_changes,
            max: b.max_actions,
            outcome: b.outcome(),
        });
    }
    if report.summary.failed > 0 {
        return Err(HandlerError::Partial {
            failed: report.summary.failed,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scheduled_event_has_no_override() {
        let event: Value = serde_json::from_str(include_str!("../tests/fixtures/eventbridge-scheduled.json")).unwrap();
        assert_eq!(mode_override(&event).unwrap(), None);
    }

    #[test]
    fn manual_override() {
        assert_eq!(
            mode_override(&serde_json::json!({"mode": "enforce"})).unwrap(),
            Some(Mode::Enforce)
        );
        assert_eq!(
            mode_override(&serde_json::json!({"mode": "Report"})).unwrap(),
            Some(Mode::Report)
        );
        let e = mode_override(&serde_json::json!({"mode": "delete-everything"})).unwrap_err();
        assert!(matches!(e, HandlerError::BadEvent(_)));
        assert!(e.to_string().contains("delete-everything"));
        assert!(mode_override(&serde_json::json!({"mode": 1})).is_err());
    }

    #[test]
    fn an_invoke_may_enforce_a_report_deployment_only_where_allowed() {
        let enforce = serde_json::json!({"mode": "enforce"});
        let report = serde_json::json!({"mode": "report"});
        let scheduled = serde_json::json!({"source": "aws.events"});
        let deployed = |mode, invoke_override| Settings {
            mode,
            invoke_override,
            ..Settings::default()
        };
        // Off (the default): refused, with what to do.
        let e = run_mode(&deployed(Mode::Report, false), &enforce).unwrap_err();
        assert!(matches!(e, HandlerError::OverrideRefused));
        assert!(e.to_string().contains("InvokeOverride"), "{e}");
        assert!(!Settings::default().invoke_override);
        // On: allowed.
        assert_eq!(
            run_mode(&deployed(Mode::Report, true), &enforce).unwrap(),
            Mode::Enforce
        );
        // Report is always allowed; enforce where the deployment enforces anyway.
        assert_eq!(
            run_mode(&deployed(Mode::Enforce, false), &report).unwrap(),
            Mode::Report
        );
        assert_eq!(
            run_mode(&deployed(Mode::Enforce, false), &enforce).unwrap(),
            Mode::Enforce
        );
        // The schedule: the deployment's mode.
        assert_eq!(
            run_mode(&deployed(Mode::Report, false), &scheduled).unwrap(),
            Mode::Report
        );
        assert_eq!(
            run_mode(&deployed(Mode::Enforce, false), &scheduled).unwrap(),
            Mode::Enforce
        );
    }
}
