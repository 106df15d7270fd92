//! The run's report: one serde struct, printed as JSON (`--format json`, the Lambda's
//! response) or as a table, and summarised for Slack.
//!
//! The JSON shape is an interface that scripts depend on; fields are only ever added.

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::credential_report::RejectedRow;
use std::fmt;

/// Whether the run changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Report what would be done; change nothing.
    Report,
    /// Change what the rules say.
    Enforce,
}

impl Mode {
    /// Parses `report` or `enforce` (case-insensitive).
    pub fn parse(value: &str) -> Option<Mode> {
        if value.eq_ignore_ascii_case("report") {
            Some(Mode::Report)
        } else if value.eq_ignore_ascii_case("enforce") {
            Some(Mode::Enforce)
        } else {
            None
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Report => "report",
            Mode::Enforce => "enforce",
        })
    }
}

/// Which credential a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ConsolePassword,
    AccessKey,
    /// An X.509 signing certificate (SOAP-era APIs); IAM records no use of them.
    SigningCertificate,
    /// A service-specific credential: CodeCommit Git credentials, Amazon Keyspaces, or a
    /// Bedrock API key. Its use shows in Access Advisor (`codecommit`, `cassandra`,
    /// `bedrock`).
    ServiceSpecificCredential,
    /// An SSH public key, for CodeCommit: its use shows in Access Advisor (`codecommit`).
    SshPublicKey,
    UnusedServices,
}

/// What the rules want done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing changes yet; the credential is close to the limit.
    Warn,
    DeleteLoginProfile,
    DeactivateAccessKey,
    DeactivateSigningCertificate,
    DeactivateServiceSpecificCredential,
    DeactivateSshPublicKey,
    /// Create or update the user's deny policy, and attach it.
    AttachDenyPolicy,
    /// Nothing is left to deny: detach the user's deny policy.
    DetachDenyPolicy,
}

/// What happened to it.
///
/// For [`Action::Warn`] the status is always `planned`: a warning changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Would be done (report mode), or is a warning.
    Planned,
    /// Done in this run.
    Applied,
    /// Not done, with the reason (exempt, used recently, breaker, already done…).
    Skipped,
    /// Tried and failed, with the error.
    Failed,
}

/// One credential that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub user: String,
    pub arn: String,
    pub kind: Kind,
    /// The full key ID when it was resolved (live confirmation); `null` for warnings and
    /// unconfirmed keys, which are identified by `access_key_slot`.
    pub access_key_id: Option<String>,
    /// 1 or 2: the key's column in the credential report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_slot: Option<u8>,
    /// The ID of a credential other than a key: a signing certificate's once live
    /// confirmation resolved it, a service-specific credential's or SSH key's always.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// 1 or 2: a signing certificate's column in the credential report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_slot: Option<u8>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    pub idle_days: Option<i64>,
    pub action: Action,
    pub status: Status,
    /// Why, for people (free text).
    pub reason: String,
    /// Why, for programs: Slack, the demo, dashboards and tests branch on this, never on
    /// `reason`'s words.
    pub reason_code: ReasonCode,
    /// Service namespaces (`unused_services` findings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

/// Why a finding has its status: a stable, typed companion of the free-text `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The credential is idle beyond the limit (planned, confirmed or applied).
    Dormant,
    /// The credential is close to the limit: a warning.
    Warning,
    /// The user is exempt (user-name glob or exemption tag).
    Exempt,
    /// GetAccountAuthorizationDetails did not list the user: exemptions unknown.
    DetailsMissing,
    /// Live data shows the change was already made (password gone, key inactive).
    AlreadyDone,
    /// The credential or the user no longer exists.
    Gone,
    /// Live data shows use since the credential report.
    UsedSinceReport,
    /// The password was set again (a new login profile) since the credential report.
    SetSinceReport,
    /// The user was deleted and recreated under the same name since the credential
    /// report: the report's row is the old user's, so the next report judges the new one.
    UserRecreated,
    /// The user is at IAM's tag quota: the audit-trail record cannot be written, so the
    /// change is not made.
    TagQuota,
    /// Reported only, by setting (`--signing-certificates report`): nothing is done.
    ReportOnly,
    /// A live confirmation read failed: not changed.
    ConfirmationFailed,
    /// No key ID could be matched to the report's key: not changed.
    NoKeyId,
    /// The audit-trail record could not be written: not changed.
    TrailFailed,
    /// The change failed and live data shows it was not made.
    WriteFailed,
    /// The change failed and whether it was made is unknown.
    OutcomeUnknown,
    /// The circuit breaker stopped the run: nothing was changed.
    CircuitBreaker,
    /// Services to deny (a new deny policy, a new version, or an attach).
    UnusedServices,
    /// Nothing is left to deny: the deny policy is detached.
    NothingToDeny,
    /// The deny list needs more deny policies than the user may have: nothing is
    /// changed; a person should review the user's permissions.
    NeedsReview,
    /// The run's time budget ran out before this change was started: nothing was
    /// changed; the next run takes it.
    TimeBudget,
    /// The user is younger than the unused-service limit.
    Grace,
    /// The user is at the attached managed-policy quota.
    AttachedPolicyQuota,
    /// The account is at its customer managed policy quota.
    PolicyQuota,
    /// Access Advisor could not be read.
    AdvisorFailed,
    /// Access Advisor's answer was malformed and rejected.
    AdvisorRejected,
}

impl ReasonCode {
    /// Whether a finding skipped for this reason needs a person: the data or a quota
    /// stopped the tool (an administrator can act), as opposed to a skip that is the rule
    /// working (an exempt user, grace, a change already made, a budget the next run picks
    /// up). Skips of the second kind repeat every day and are not news.
    pub fn needs_attention(self) -> bool {
        match self {
            ReasonCode::DetailsMissing
            | ReasonCode::TagQuota
            | ReasonCode::ConfirmationFailed
            | ReasonCode::NoKeyId
            | ReasonCode::TrailFailed
            | ReasonCode::WriteFailed
            | ReasonCode::OutcomeUnknown
            | ReasonCode::CircuitBreaker
            | ReasonCode::NeedsReview
            | ReasonCode::AttachedPolicyQuota
            | ReasonCode::PolicyQuota
            | ReasonCode::AdvisorFailed
            | ReasonCode::AdvisorRejected => true,
            ReasonCode::Dormant
            | ReasonCode::Warning
            | ReasonCode::Exempt
            | ReasonCode::AlreadyDone
            | ReasonCode::Gone
            | ReasonCode::UsedSinceReport
            | ReasonCode::SetSinceReport
            | ReasonCode::UserRecreated
            | ReasonCode::ReportOnly
            | ReasonCode::UnusedServices
            | ReasonCode::NothingToDeny
            | ReasonCode::TimeBudget
            | ReasonCode::Grace => false,
        }
    }

    /// A short label for people (summaries).
    pub fn label(self) -> &'static str {
        match self {
            ReasonCode::Dormant => "dormant",
            ReasonCode::Warning => "warning",
            ReasonCode::Exempt => "exempt",
            ReasonCode::DetailsMissing => "user details missing",
            ReasonCode::AlreadyDone => "already done",
            ReasonCode::Gone => "no longer exists",
            ReasonCode::UsedSinceReport => "used since the report",
            ReasonCode::SetSinceReport => "password set since the report",
            ReasonCode::UserRecreated => "user recreated since the report",
            ReasonCode::TagQuota => "user at the tag quota",
            ReasonCode::ReportOnly => "reported only",
            ReasonCode::ConfirmationFailed => "live confirmation failed",
            ReasonCode::NoKeyId => "key ID not resolved",
            ReasonCode::TrailFailed => "audit trail not written",
            ReasonCode::WriteFailed => "change failed",
            ReasonCode::OutcomeUnknown => "outcome unknown",
            ReasonCode::CircuitBreaker => "circuit breaker",
            ReasonCode::UnusedServices => "unused services",
            ReasonCode::NothingToDeny => "nothing left to deny",
            ReasonCode::NeedsReview => "needs review (deny list too long)",
            ReasonCode::TimeBudget => "left for the next run (time budget)",
            ReasonCode::Grace => "new user (grace)",
            ReasonCode::AttachedPolicyQuota => "user at the attached-policy quota",
            ReasonCode::PolicyQuota => "account at the policy quota",
            ReasonCode::AdvisorFailed => "Access Advisor unreadable",
            ReasonCode::AdvisorRejected => "Access Advisor answer rejected",
        }
    }
}

/// A tag the engine ignored for its decisions, and why: someone other than the engine may
/// have written it to keep a user from being disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuspiciousTag {
    pub user: String,
    pub key: String,
    pub value: String,
    pub kind: SuspiciousKind,
    /// Why, for people.
    pub reason: String,
}

/// Why a tag is suspicious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspiciousKind {
    /// One of the tool's keys spelt in another case (`IAM-JANITOR:RESTORED`).
    CaseVariant,
    /// A restore time (`iam-janitor:restored`) later than the run.
    FutureRestore,
}

/// Why the circuit breaker stopped the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerTrip {
    /// Credentials the run would have changed.
    pub planned_changes: usize,
    pub max_actions: u32,
    /// `true` in enforce mode (nothing more was changed); `false` in report mode, where
    /// it says that an enforce run would trip.
    pub tripped: bool,
    /// Changes made before the breaker tripped: the dormant-credential phase runs and
    /// is checked first, so when least privilege trips it, the dormant changes (within
    /// the limit) are made. 0 when the dormant phase tripped it.
    pub applied_before: usize,
}

impl BreakerTrip {
    /// What the trip means, for people.
    pub fn outcome(&self) -> String {
        match (self.tripped, self.applied_before) {
            (false, _) => "an enforce run would change nothing more".to_string(),
            (true, 0) => "nothing was changed".to_string(),
            (true, n) => format!("no deny policy was changed ({n} dormant-credential changes were made first)"),
        }
    }
}

/// Counts over the findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub users_evaluated: usize,
    pub credentials_evaluated: usize,
    /// Users whose Access Advisor data was read (least privilege).
    pub users_checked_for_unused_services: usize,
    /// Users least privilege leaves alone: no enabled password, active access key or
    /// service-specific credential once this run's changes are made.
    pub users_without_credentials: usize,
    /// Users least privilege would check whom the time budget left for the next run.
    pub users_left_for_next_run: usize,
    /// How many days ago the least recently checked of those was last checked (`null`:
    /// none is left, or there is no state table to remember checks).
    pub oldest_check_days: Option<i64>,
    /// Users whose SSH public keys were listed this run (a share of them each run).
    pub users_checked_for_ssh_keys: usize,
    /// Users with one of the engine's deny policies attached once this run's changes are
    /// made: a state (in report mode, what is in place; planned policies are not).
    pub users_with_deny_policy: usize,
    pub warnings: usize,
    pub planned: usize,
    pub applied: usize,
    pub skipped: usize,
    pub failed: usize,
    pub rejected_rows: usize,
    pub suspicious_tags: usize,
    pub circuit_breaker: Option<BreakerTrip>,
}

/// The JSON report's schema version. It changes when a field is removed or its meaning
/// changes; fields may be added within a version, so readers ignore unknown ones.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// [`REPORT_SCHEMA_VERSION`]: readers of stored reports (the organization's report
    /// bucket, dashboards) check it.
    pub schema_version: u32,
    pub account_id: Option<String>,
    /// When the run evaluated the data (the `--as-of` time when given).
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub enforce: bool,
    pub mode: Mode,
    #[serde(with = "time::serde::rfc3339::option")]
    pub credential_report_generated_at: Option<OffsetDateTime>,
    pub dormant_days: u32,
    pub warn_days: u32,
    pub findings: Vec<Finding>,
    /// Credential-report rows that did not parse: reported, never acted on.
    pub rejected_rows: Vec<RejectedRow>,
    /// Tags the engine ignored for its decisions (see [`SuspiciousTag`]).
    pub suspicious_tags: Vec<SuspiciousTag>,
    /// What could not be checked this run, and why (a listing that failed).
    pub not_checked: Vec<String>,
    pub summary: Summary,
    /// Why this report could not be stored in the organization's report bucket (set
    /// after the run, so never part of a stored report; the run itself is not affected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_stored: Option<String>,
}

impl Report {
    /// Recomputes the finding counts from the findings.
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        s.warnings = 0;
        s.planned = 0;
        s.applied = 0;
        s.skipped = 0;
        s.failed = 0;
        for f in &self.findings {
            if f.action == Action::Warn {
                s.warnings += 1;
                continue;
            }
            match f.status {
                Status::Planned => s.planned += 1,
                Status::Applied => s.applied += 1,
                Status::Skipped => s.skipped += 1,
                Status::Failed => s.failed += 1,
            }
        }
        s.rejected_rows = self.rejected_rows.len();
        s.suspicious_tags = self.suspicious_tags.len();
    }

    /// Whether the run should end with a non-zero status: a tripped breaker, a failure, or
    /// something it could not check.
    pub fn is_failure(&self) -> bool {
        self.summary.failed > 0
            || !self.not_checked.is_empty()
            || self.summary.circuit_breaker.as_ref().is_some_and(|b| b.tripped)
    }

    /// The report as a human-readable table.
    /// Least privilege's progress, when the time budget left users for the next run.
    pub fn least_privilege_progress(&self) -> Option<String> {
        let s = &self.summary;
        (s.users_left_for_next_run > 0).then(|| {
            format!(
                "least privilege: {} users checked this run, {} left for the next runs (time budget){}",
                s.users_checked_for_unused_services,
                s.users_left_for_next_run,
                s.oldest_check_days
                    .map(|d| format!("; the least recently checked of them {d} days ago"))
                    .unwrap_or_default()
            )
        })
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let account = self.account_id.as_deref().unwrap_or("unknown");
        let _ = writeln!(
            out,
            "iam-janitor {} run · account {} · {} · dormant after {} days, warn {} days before",
            self.mode,
            account,
            self.generated_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            self.dormant_days,
            self.warn_days
        );
        if self.findings.is_empty() {
            let _ = writeln!(out, "\nNo credential needs attention.");
        } else {
            let header = ["USER", "CREDENTIAL", "LAST USED", "IDLE", "ACTION", "STATUS", "REASON"];
            let rows: Vec<[String; 7]> = self
                .findings
                .iter()
                .map(|f| {
                    [
                        f.user.clone(),
                        credential_label(f),
                        f.last_used
                            .map(|t| t.date().to_string())
                            .unwrap_or_else(|| "never".to_string()),
                        f.idle_days.map(|d| format!("{d}d")).unwrap_or_default(),
                        serde_label(&f.action),
                        serde_label(&f.status),
                        f.reason.clone(),
                    ]
                })
                .collect();
            let mut widths = header.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row.iter()).take(6) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            out.push('\n');
            let line = |cells: &[&str]| {
                let mut l = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if i < 6 {
                        let _ = write!(l, "{:<w$}  ", cell, w = widths[i]);
                    } else {
                        l.push_str(cell);
                    }
                }
                l.trim_end().to_string()
            };
            let _ = writeln!(out, "{}", line(&header));
            for row in &rows {
                let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                let _ = writeln!(out, "{}", line(&cells));
            }
        }
        for r in &self.rejected_rows {
            let _ = writeln!(
                out,
                "rejected credential-report line {} ({}): {}",
                r.line,
                r.user.as_deref().unwrap_or("?"),
                r.reason
            );
        }
        for what in &self.not_checked {
            let _ = writeln!(out, "not checked: {what}");
        }
        for t in &self.suspicious_tags {
            let _ = writeln!(
                out,
                "suspicious tag on {}: {}={} ({})",
                t.user, t.key, t.value, t.reason
            );
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "\n{} users, {} credentials evaluated: {} warnings, {} planned, {} applied, {} skipped, {} failed, {} rejected rows",
            s.users_evaluated,
            s.credentials_evaluated,
            s.warnings,
            s.planned,
            s.applied,
            s.skipped,
            s.failed,
            s.rejected_rows
        );
        if let Some(line) = self.least_privilege_progress() {
            let _ = writeln!(out, "{line}");
        }
        if let Some(b) = &s.circuit_breaker {
            let _ = writeln!(
                out,
                "circuit breaker: {} changes planned, more than --max-actions {}; {}",
                b.planned_changes,
                b.max_actions,
                b.outcome()
            );
        }
        out
    }
}

/// "console", "key 1 AKIA…" or "key 2".
pub fn credential_label(f: &Finding) -> String {
    match f.kind {
        Kind::ConsolePassword => "console password".to_string(),
        Kind::AccessKey => match (&f.access_key_id, f.access_key_slot) {
            (Some(id), _) => format!("key {id}"),
            (None, Some(slot)) => format!("key {slot}"),
            (None, None) => "key".to_string(),
        },
        Kind::SigningCertificate => match (&f.credential_id, f.credential_slot) {
            (Some(id), _) => format!("certificate {id}"),
            (None, Some(slot)) => format!("certificate {slot}"),
            (None, None) => "certificate".to_string(),
        },
        Kind::ServiceSpecificCredential => match &f.credential_id {
            Some(id) => format!("service credential {id}"),
            None => "service credential".to_string(),
        },
        Kind::SshPublicKey => match &f.credential_id {
            Some(id) => format!("SSH key {id}"),
            None => "SSH key".to_string(),
        },
        Kind::UnusedServices => "services".to_string(),
    }
}

fn serde_label<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
