//! The Lambda handler: an EventBridge scheduled event runs the engine with the settings
//! from the environment; a manual invoke may ask for one run in report mode with
//! `{"mode": "report"}`, and in enforce mode with `{"mode": "enforce"}` only where the
//! deployment allows it (`InvokeOverride`, off by default): otherwise anyone allowed
//! `lambda:InvokeFunction` could enforce in an account deployed to report.
//!
//! The response is the report. A tripped circuit breaker or a failed change returns an
//! error after the report is logged and posted, so the function's Errors alarm fires.
//!
//! The event `{"iam-janitor": "org-digest"}` (what the management account's
//! `OrgDigestSchedule` rule sends) runs no engine and changes nothing: it reads each
//! account's latest report from the report bucket and the organization's accounts, builds
//! the organization's view and posts the organization digest (when a webhook is set and
//! `--slack-scope` is `org` or `both`); the response is a small summary
//! ([`OrgDigestSummary`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::archive::{ArchiveError, Quiet, ReportArchive};
use crate::budget::Budget;
use crate::iam::Iam;
use crate::model::org::{OrgView, ViewOptions, latest_keys};
use crate::model::report::Report;
use crate::organizations::Organizations;
use crate::run;
use crate::settings::{Mode, Settings};
use crate::store::StateTable;

/// What a cold start builds once: validated settings, the IAM client, the state
/// table's, the report bucket's and Organizations'.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub iam: Iam,
    pub state: Option<StateTable>,
    pub archive: Option<ReportArchive>,
    pub organizations: Organizations,
}

/// The event key that asks for something other than a run, and its one value.
pub const TASK_KEY: &str = "iam-janitor";
/// `{"iam-janitor": "org-digest"}`: the organization digest.
pub const ORG_DIGEST_TASK: &str = "org-digest";

/// What an invocation is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A run of the engine (a scheduled event, or a manual invoke with a mode).
    Run,
    /// The organization digest.
    OrgDigest,
}

/// The task of an event: a run unless it says `{"iam-janitor": "org-digest"}`; any other
/// value is refused, naming it.
pub fn task(event: &Value) -> Result<Task, HandlerError> {
    match event.get(TASK_KEY) {
        None | Some(Value::Null) => Ok(Task::Run),
        Some(Value::String(s)) if s == ORG_DIGEST_TASK => Ok(Task::OrgDigest),
        Some(other) => Err(HandlerError::BadEvent(format!(
            "\"{TASK_KEY}\" must be \"{ORG_DIGEST_TASK}\", not {other}"
        ))),
    }
}

/// What an invocation returns: the run's report, or the organization digest's summary.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Run(Box<Report>),
    OrgDigest { org_digest: OrgDigestSummary },
}

impl Outcome {
    /// The run's report, if this was a run.
    pub fn into_report(self) -> Option<Report> {
        match self {
            Outcome::Run(report) => Some(*report),
            Outcome::OrgDigest { .. } => None,
        }
    }

    /// The organization digest's summary, if this was one.
    pub fn into_org_digest(self) -> Option<OrgDigestSummary> {
        match self {
            Outcome::Run(_) => None,
            Outcome::OrgDigest { org_digest } => Some(org_digest),
        }
    }
}

/// What the organization digest saw and whether it was posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgDigestSummary {
    pub bucket: String,
    /// The view's rows: accounts with a report in the window, plus missing ones.
    pub accounts: usize,
    pub accounts_reporting: usize,
    pub stale: usize,
    pub missing: usize,
    pub rejected: usize,
    /// Why the organization's accounts are unknown (then none is missing), if they are.
    pub organization_unknown: Option<String>,
    pub posted: bool,
    /// Why it was not posted, if it was not.
    pub not_posted: Option<String>,
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
    #[error(
        "the organization digest needs the report bucket (IAM_JANITOR_REPORT_BUCKET): deploy gives the management \
         account's stack the artifact stack's bucket; nothing was read or posted"
    )]
    NoReportBucket,
    #[error("the organization digest could not read the reports: {0}")]
    OrgDigest(#[from] ArchiveError),
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

/// Handles one invocation: a run, or the organization digest.
pub async fn handle(app: &App, event: Value, now: OffsetDateTime, budget: Budget) -> Result<Outcome, HandlerError> {
    match task(&event)? {
        Task::Run => run_once(app, event, now, budget)
            .await
            .map(|r| Outcome::Run(Box::new(r))),
        Task::OrgDigest => org_digest(app, now)
            .await
            .map(|org_digest| Outcome::OrgDigest { org_digest }),
    }
}

/// The organization digest's window and staleness: the view's defaults (each account's
/// latest run in the last 30 days, stale after 48 hours).
pub const ORG_DIGEST_VIEW: ViewOptions = ViewOptions::DEFAULT;

/// The organization digest: each account's latest report of the window, the
/// organization's accounts (unknown if they cannot be listed), the view, the digest.
/// Changes nothing in IAM.
async fn org_digest(app: &App, now: OffsetDateTime) -> Result<OrgDigestSummary, HandlerError> {
    let settings = &app.settings;
    let archive = app.archive.as_ref().ok_or(HandlerError::NoReportBucket)?;
    tracing::info!(bucket = archive.bucket(), "organization digest starting");
    let organization = app.organizations.accounts().await;
    if let Err(e) = &organization {
        tracing::warn!(error = %e, "the organization's accounts are unknown: no missing accounts are shown");
    }
    let listing = archive.list_reports(ORG_DIGEST_VIEW.first_day(now), &Quiet).await?;
    let keys = latest_keys(&listing.keys, now);
    let (runs, mut rejected) = archive.read_reports(&keys, &Quiet).await;
    rejected.extend(listing.rejected);
    let view = OrgView::build(
        runs,
        rejected,
        organization.as_ref().ok().map(Vec::as_slice),
        now,
        ORG_DIGEST_VIEW,
    );
    let unknown = organization.err().map(|e| e.to_string());
    let not_posted = match (&settings.slack_webhook, settings.slack_scope.posts_org_digest()) {
        (None, _) => Some("no Slack webhook is set".to_string()),
        (Some(_), false) => Some(format!("--slack-scope is {}", settings.slack_scope)),
        (Some(webhook), true) => {
            let message = crate::notify::org_digest::org_digest(&view, unknown.as_deref());
            let outcome = crate::notify::slack::post(webhook, std::slice::from_ref(&message)).await;
            outcome.error.map(|e| format!("the webhook: {e}"))
        }
    };
    let summary = OrgDigestSummary {
        bucket: archive.bucket().to_string(),
        accounts: view.totals.accounts,
        accounts_reporting: view.totals.accounts_reporting,
        stale: view.totals.stale,
        missing: view.totals.missing,
        rejected: view.totals.rejected,
        organization_unknown: unknown,
        posted: not_posted.is_none(),
        not_posted,
    };
    match &summary.not_posted {
        None => tracing::info!(summary = ?summary, "organization digest posted"),
        Some(why) => tracing::info!(summary = ?summary, why, "organization digest not posted"),
    }
    Ok(summary)
}

/// One run of the engine.
async fn run_once(app: &App, event: Value, now: OffsetDateTime, budget: Budget) -> Result<Report, HandlerError> {
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
        assert_eq!(task(&event).unwrap(), Task::Run);
    }

    #[test]
    fn the_org_digest_event_is_its_own_task_and_other_tasks_are_refused() {
        assert_eq!(
            task(&serde_json::json!({"iam-janitor": "org-digest"})).unwrap(),
            Task::OrgDigest
        );
        assert_eq!(task(&serde_json::json!({"mode": "report"})).unwrap(), Task::Run);
        for bad in [
            serde_json::json!({"iam-janitor": "nuke"}),
            serde_json::json!({"iam-janitor": 1}),
        ] {
            let e = task(&bad).unwrap_err();
            assert!(matches!(e, HandlerError::BadEvent(_)), "{e}");
            assert!(e.to_string().contains("org-digest"), "{e}");
        }
        assert!(
            task(&serde_json::json!({"iam-janitor": "nuke"}))
                .unwrap_err()
                .to_string()
                .contains("nuke")
        );
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
