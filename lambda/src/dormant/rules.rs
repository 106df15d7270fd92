//! The dormant-credential rules: pure functions of (inventory, settings, now).
//!
//! **Architecture invariant:** nothing here calls AWS or reads a clock. The engine runs
//! the same [`assess`] again on live data before every write, so the rule that picked a
//! credential is the rule that confirms it.
//!
//! Idle time is measured from the most recent sign of life of the credential itself:
//! its last use, or else (and also if more recent) its own creation — the password's
//! `password_last_changed`, the key's `last_rotated` — and only when neither is known,
//! the user's creation. A credential issued last week is never "unused for 400 days",
//! and each of a user's two keys is measured from its own dates.

use time::OffsetDateTime;

use crate::model::credential_report::{CredentialRow, Observed};
use crate::model::inventory::{Inventory, UserDetails};
use crate::model::report::{Action, Finding, Kind, ReasonCode, Status, SuspiciousKind, SuspiciousTag};
use crate::settings::{CertificateAction, Settings};
use crate::trail;

/// Where a credential stands against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Used recently enough.
    Active,
    /// Within `warn_days` of the limit: `days_left` whole days remain.
    Warn { days_left: i64 },
    /// Idle for more than `dormant_days`.
    Dormant,
}

/// Whole days since the most recent of `last_used` and `baseline`. Never negative: a
/// timestamp in the future (clock skew) counts as "now".
pub fn idle_days(now: OffsetDateTime, last_used: Option<OffsetDateTime>, baseline: OffsetDateTime) -> i64 {
    let since = last_used.map_or(baseline, |u| u.max(baseline));
    (now - since).whole_days().max(0)
}

/// Classifies idle days: dormant strictly above `dormant_days`, a warning from
/// `dormant_days - warn_days + 1` (and not when `warn_days` is 0).
pub fn standing(idle_days: i64, settings: &Settings) -> Standing {
    let dormant = i64::from(settings.dormant_days);
    let warn = i64::from(settings.warn_days);
    if idle_days > dormant {
        Standing::Dormant
    } else if warn > 0 && idle_days > dormant - warn {
        Standing::Warn {
            days_left: dormant + 1 - idle_days,
        }
    } else {
        Standing::Active
    }
}

/// One credential's facts, from the report or from live data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialFacts {
    pub last_used: Option<OffsetDateTime>,
    /// The credential's own creation (password set, key created), or the user's.
    pub baseline: OffsetDateTime,
}

/// Assesses one credential: its idle days and standing.
pub fn assess(facts: CredentialFacts, settings: &Settings, now: OffsetDateTime) -> (i64, Standing) {
    let idle = idle_days(now, facts.last_used, facts.baseline);
    (idle, standing(idle, settings))
}

/// Which credential a planned item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Console,
    /// A key, identified by its report slot and its creation time (the report has no IDs).
    AccessKey {
        slot: u8,
        created: OffsetDateTime,
    },
    /// A signing certificate, identified by its report slot and upload time. IAM records
    /// no use of them: its age is its idle time.
    SigningCertificate {
        slot: u8,
        uploaded: OffsetDateTime,
    },
}

/// A finding with what the engine needs to confirm and apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub finding: Finding,
    pub credential: Credential,
    pub facts: CredentialFacts,
    /// The user's creation time in the credential report's row: live confirmation
    /// compares it with GetUser's to tell a recreated user from the report's.
    pub user_created: OffsetDateTime,
}

impl Planned {
    /// Whether the engine should confirm and (in enforce mode) apply it.
    pub fn is_change(&self) -> bool {
        self.finding.action != Action::Warn && self.finding.status == Status::Planned
    }
}

/// The planner's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<Planned>,
    pub users_evaluated: usize,
    pub credentials_evaluated: usize,
    /// Tags ignored for the decisions (another spelling of the tool's keys, a restore
    /// time in the future).
    pub suspicious: Vec<SuspiciousTag>,
}

impl Plan {
    /// Credentials the run would change.
    pub fn change_count(&self) -> usize {
        self.items.iter().filter(|p| p.is_change()).count()
    }
}

/// When `cargo xtask restore` last gave this user something back (the
/// `iam-janitor:restored` tag, read exactly as restore writes it): restored credentials
/// get a new window from then on, or the next run would disable them again. A time
/// more than [`CLOCK_SKEW`] later than `now` is ignored: it would shield the user
/// forever ([`suspicious_tags`] reports it); a time less far ahead (the clock of the
/// machine restore ran on) counts as now.
pub fn restored_at(details: Option<&UserDetails>, now: OffsetDateTime) -> Option<OffsetDateTime> {
    details?
        .tags
        .iter()
        .find(|t| t.key == trail::RESTORED)
        .and_then(|t| trail::parse_time(&t.value))
        .filter(|at| *at <= now + CLOCK_SKEW)
        .map(|at| at.min(now))
}

/// How far ahead of the run a restore time may be and still count: restore runs on an
/// administrator's machine, whose clock may be ahead of the Lambda's.
pub const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// The user's tags that the engine ignores for its decisions and reports: another
/// spelling of one of the tool's keys (the exemption and keep-services tags excepted,
/// which are matched ignoring case), and a restore time in the future.
pub fn suspicious_tags(details: &UserDetails, settings: &Settings, now: OffsetDateTime) -> Vec<SuspiciousTag> {
    let mut out = Vec::new();
    for t in &details.tags {
        let own_setting = t.key.eq_ignore_ascii_case(&settings.exempt_tag.key)
            || t.key.eq_ignore_ascii_case(&settings.least_privilege.keep_services_tag);
        let (kind, reason) = if trail::is_case_variant(&t.key) && !own_setting {
            (
                SuspiciousKind::CaseVariant,
                "another spelling of one of iam-janitor's own tag keys, which it reads exactly as it writes \
                 them: ignored. The tool did not write it; whoever did may want this user never disabled"
                    .to_string(),
            )
        } else if t.key == trail::RESTORED {
            match trail::parse_time(&t.value) {
                Some(at) if at > now + CLOCK_SKEW => (
                    SuspiciousKind::FutureRestore,
                    format!(
                        "restore time {} is later than this run: ignored (restore writes the time it ran)",
                        at.date()
                    ),
                ),
                _ => continue,
            }
        } else {
            continue;
        };
        out.push(SuspiciousTag {
            user: details.name.clone(),
            key: t.key.clone(),
            value: t.value.clone(),
            kind,
            reason,
        });
    }
    out
}

/// Whether the user GetAccountAuthorizationDetails lists is not the one in the report's
/// row: deleted and recreated under the same name since the report was generated.
/// Creation times are compared to the second (the report's precision).
pub fn recreated(row: &CredentialRow, details: &UserDetails) -> bool {
    row.user_creation_time.unix_timestamp() != details.create_date.unix_timestamp()
}

/// Plans the whole inventory.
pub fn plan(inventory: &Inventory, settings: &Settings, now: OffsetDateTime) -> Plan {
    let mut plan = Plan::default();
    for row in &inventory.rows {
        plan.users_evaluated += 1;
        let details = inventory.details.get(&row.user);
        if let Some(d) = details {
            plan.suspicious.extend(suspicious_tags(d, settings, now));
        }
        let restored = restored_at(details, now);
        for (credential, mut facts) in credentials(row) {
            if let Some(t) = restored {
                facts.baseline = facts.baseline.max(t);
            }
            plan.credentials_evaluated += 1;
            if let Some(item) = plan_credential(row, details, credential, facts, settings, now) {
                plan.items.push(item);
            }
        }
    }
    plan
}

/// The live credentials of a row with their facts: the password if enabled, each active
/// key with its own dates, and each active signing certificate with its upload time.
pub fn credentials(row: &CredentialRow) -> Vec<(Credential, CredentialFacts)> {
    let mut out = Vec::with_capacity(5);
    if row.password_enabled == Some(true) {
        out.push((
            Credential::Console,
            CredentialFacts {
                last_used: row.password_last_used.at(),
                baseline: row.password_last_changed.at().unwrap_or(row.user_creation_time),
            },
        ));
    }
    for key in &row.keys {
        if let (true, Observed::At(created)) = (key.active, key.last_rotated) {
            out.push((
                Credential::AccessKey {
                    slot: key.slot,
                    created,
                },
                CredentialFacts {
                    last_used: key.last_used.at(),
                    baseline: created,
                },
            ));
        }
    }
    for cert in &row.certificates {
        if let (true, Observed::At(uploaded)) = (cert.active, cert.last_rotated) {
            out.push((
                Credential::SigningCertificate {
                    slot: cert.slot,
                    uploaded,
                },
                CredentialFacts {
                    last_used: None,
                    baseline: uploaded,
                },
            ));
        }
    }
    out
}

fn plan_credential(
    row: &CredentialRow,
    details: Option<&UserDetails>,
    credential: Credential,
    facts: CredentialFacts,
    settings: &Settings,
    now: OffsetDateTime,
) -> Option<Planned> {
    let (idle, standing) = assess(facts, settings, now);
    let report_only = matches!(credential, Credential::SigningCertificate { .. })
        && settings.signing_certificates == CertificateAction::Report;
    let (kind, slot, noun) = match credential {
        Credential::Console => (Kind::ConsolePassword, None, "console password".to_string()),
        Credential::AccessKey { slot, created } => (
            Kind::AccessKey,
            Some(slot),
            format!("access key {slot} (created {})", created.date()),
        ),
        Credential::SigningCertificate { slot, uploaded } => (
            Kind::SigningCertificate,
            Some(slot),
            format!("signing certificate {slot} (uploaded {})", uploaded.date()),
        ),
    };
    let since = match (facts.last_used, credential) {
        (Some(t), _) if t >= facts.baseline => format!("last used {}", t.date()),
        (_, Credential::Console) => format!("not used since the password was set {}", facts.baseline.date()),
        (Some(_), Credential::AccessKey { .. }) => format!("not used since it was restored {}", facts.baseline.date()),
        (None, Credential::AccessKey { .. }) => "never used".to_string(),
        (_, Credential::SigningCertificate { uploaded, .. }) if facts.baseline > uploaded => {
            format!(
                "restored {}; IAM records no use of signing certificates",
                facts.baseline.date()
            )
        }
        (_, Credential::SigningCertificate { .. }) => "IAM records no use of signing certificates".to_string(),
    };
    let (action, mut status, mut reason) = match standing {
        Standing::Active => return None,
        // Nothing will happen to it: no warning.
        Standing::Warn { .. } if report_only => return None,
        Standing::Warn { days_left } => (
            Action::Warn,
            Status::Planned,
            format!(
                "{noun} idle {idle} days ({since}); it will be disabled in {days_left} day{} unless used",
                if days_left == 1 { "" } else { "s" }
            ),
        ),
        Standing::Dormant => (
            match credential {
                Credential::Console => Action::DeleteLoginProfile,
                Credential::AccessKey { .. } => Action::DeactivateAccessKey,
                Credential::SigningCertificate { .. } => Action::DeactivateSigningCertificate,
            },
            Status::Planned,
            format!(
                "{noun} idle {idle} days ({since}), more than {} days",
                settings.dormant_days
            ),
        ),
    };
    let mut reason_code = match action {
        Action::Warn => ReasonCode::Warning,
        _ => ReasonCode::Dormant,
    };
    if let Some(d) = details.filter(|d| recreated(row, d)) {
        status = Status::Skipped;
        reason_code = ReasonCode::UserRecreated;
        reason = format!(
            "the user was deleted and recreated since the credential report (created {}, the report's user {}): \
             the report's data is the old user's; the next report judges this one",
            trail::stamp(d.create_date),
            trail::stamp(row.user_creation_time)
        );
    } else if let Some(why) = settings.exemption(&row.user, details) {
        status = Status::Skipped;
        reason_code = ReasonCode::Exempt;
        reason = format!("{why}; {reason}");
    } else if report_only {
        status = Status::Skipped;
        reason_code = ReasonCode::ReportOnly;
        reason = format!("{reason}; reported only (--signing-certificates report)");
    } else if details.is_none() {
        status = Status::Skipped;
        reason_code = ReasonCode::DetailsMissing;
        reason =
            format!("user not listed by GetAccountAuthorizationDetails, so its exemption tags are unknown; {reason}");
    }
    Some(Planned {
        finding: Finding {
            user: row.user.clone(),
            arn: row.arn.clone(),
            kind,
            access_key_id: None,
            access_key_slot: slot.filter(|_| kind == Kind::AccessKey),
            credential_id: None,
            credential_slot: slot.filter(|_| kind == Kind::SigningCertificate),
            last_used: facts.last_used,
            idle_days: Some(idle),
            action,
            status,
            reason,
            reason_code,
            services: None,
        },
        credential,
        facts,
        user_created: row.user_creation_time,
    })
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
