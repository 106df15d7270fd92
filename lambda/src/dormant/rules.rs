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

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::model::credential_report::{CredentialRow, Observed};
use crate::model::inventory::{Inventory, UserDetails};
use crate::model::report::{Action, Finding, Kind, ReasonCode, Status, SuspiciousKind, SuspiciousTag};
use crate::model::services::SERVICE_CREDENTIAL_SERVICES;
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
    /// A service-specific credential (its ID is in the finding), of
    /// `SERVICE_CREDENTIAL_SERVICES[service]`; its use is the user's last
    /// authentication to that service in Access Advisor.
    ServiceCredential {
        service: u8,
        created: OffsetDateTime,
    },
    /// An SSH public key (its ID is in the finding); its use is the user's last
    /// authentication to CodeCommit in Access Advisor.
    SshKey {
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
pub fn recreated(listed_created: OffsetDateTime, details: &UserDetails) -> bool {
    listed_created.unix_timestamp() != details.create_date.unix_timestamp()
}

/// The user a credential belongs to, as the planner sees it.
#[derive(Debug, Clone, Copy)]
struct Owner<'a> {
    user: &'a str,
    arn: &'a str,
    /// The user's creation time in the data the credential was listed with (the report's
    /// row): a different one in the user details means the user was recreated since.
    listed_created: OffsetDateTime,
    details: Option<&'a UserDetails>,
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
        let owner = Owner {
            user: &row.user,
            arn: &row.arn,
            listed_created: row.user_creation_time,
            details,
        };
        for (credential, mut facts) in credentials(row) {
            if let Some(t) = restored {
                facts.baseline = facts.baseline.max(t);
            }
            plan.credentials_evaluated += 1;
            if let Some(item) = plan_credential(owner, credential, facts, settings, now) {
                plan.items.push(item);
            }
        }
    }
    plan_advisor_judged(inventory, settings, now, &mut plan);
    plan
}

/// A credential whose use shows only in Access Advisor: a service-specific credential or
/// an SSH public key (both listed live, with their IDs).
#[derive(Debug, Clone, Copy)]
struct AdvisorJudged<'a> {
    id: &'a str,
    user: &'a str,
    credential: Credential,
    /// The Access Advisor namespace of its service.
    namespace: &'static str,
    facts: CredentialFacts,
}

/// The credentials judged by Access Advisor that are old enough to need it (idle into the
/// warning window or beyond by their age alone), with their facts before Access Advisor.
/// A younger one is active whatever its use.
fn aged_advisor_judged<'a>(
    inventory: &'a Inventory,
    settings: &'a Settings,
    now: OffsetDateTime,
) -> impl Iterator<Item = AdvisorJudged<'a>> + 'a {
    let service_credentials = inventory
        .service_credentials
        .iter()
        .filter(|c| c.active)
        .filter_map(|c| {
            let service = SERVICE_CREDENTIAL_SERVICES
                .iter()
                .position(|s| s.service == c.service)?;
            Some((
                c.id.as_str(),
                c.user.as_str(),
                c.created,
                Credential::ServiceCredential {
                    service: u8::try_from(service).ok()?,
                    created: c.created,
                },
                SERVICE_CREDENTIAL_SERVICES[service].namespace,
            ))
        });
    let ssh_keys = inventory.ssh_keys.iter().filter(|k| k.active).map(|k| {
        (
            k.id.as_str(),
            k.user.as_str(),
            k.uploaded,
            Credential::SshKey { uploaded: k.uploaded },
            SSH_KEY_NAMESPACE,
        )
    });
    service_credentials
        .chain(ssh_keys)
        .filter_map(move |(id, user, created, credential, namespace)| {
            let restored = restored_at(inventory.details.get(user), now);
            let facts = CredentialFacts {
                last_used: None,
                baseline: restored.map_or(created, |t| t.max(created)),
            };
            let (_, standing) = assess(facts, settings, now);
            (standing != Standing::Active).then_some(AdvisorJudged {
                id,
                user,
                credential,
                namespace,
                facts,
            })
        })
}

/// The Access Advisor namespace that shows an SSH public key's use (CodeCommit).
pub const SSH_KEY_NAMESPACE: &str = "codecommit";

/// The users whose Access Advisor data the run must read before planning: those with a
/// service-specific credential or SSH key old enough to matter.
pub fn advisor_judged_users(inventory: &Inventory, settings: &Settings, now: OffsetDateTime) -> BTreeSet<String> {
    aged_advisor_judged(inventory, settings, now)
        .map(|c| c.user.to_string())
        .collect()
}

/// This run's share of the users whose SSH public keys are listed: no bulk call lists
/// them, so each run takes `per_run` users (by name) in turn, one share a day, and every
/// user is covered once in `ceil(users / per_run)` days. Stateless: users added or
/// removed between runs shift the shares, so a user may wait a day more or less.
pub fn ssh_key_sweep(users: &[&str], per_run: u32, now: OffsetDateTime) -> Vec<String> {
    let per_run = per_run as usize;
    if per_run == 0 || users.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&str> = users.to_vec();
    sorted.sort_unstable();
    let shares = sorted.len().div_ceil(per_run);
    let day = usize::try_from((now - OffsetDateTime::UNIX_EPOCH).whole_days()).unwrap_or(0);
    let share = day % shares;
    sorted
        .into_iter()
        .skip(share * per_run)
        .take(per_run)
        .map(str::to_string)
        .collect()
}

/// Plans the credentials judged by Access Advisor: idle since the later of their
/// creation, the last restore and the user's last authentication to their service.
fn plan_advisor_judged(inventory: &Inventory, settings: &Settings, now: OffsetDateTime, plan: &mut Plan) {
    plan.credentials_evaluated += inventory.service_credentials.iter().filter(|c| c.active).count()
        + inventory.ssh_keys.iter().filter(|k| k.active).count();
    for judged in aged_advisor_judged(inventory, settings, now) {
        let details = inventory.details.get(judged.user);
        let owner = Owner {
            user: judged.user,
            arn: details.map_or("", |d| d.arn.as_str()),
            // Listed live, with the user details: no report row to be stale.
            listed_created: details.map_or(now, |d| d.create_date),
            details,
        };
        let mut facts = judged.facts;
        let advisor_failure = match inventory.advisor.get(judged.user) {
            Some(Ok(services)) => {
                facts.last_used = services
                    .iter()
                    .find(|s| s.namespace == judged.namespace)
                    .and_then(|s| s.last_authenticated);
                None
            }
            Some(Err(e)) => Some(format!("Access Advisor could not be read, not changed: {e}")),
            None => Some("Access Advisor was not read for this user, not changed".to_string()),
        };
        let Some(mut item) = plan_credential(owner, judged.credential, facts, settings, now) else {
            continue;
        };
        item.finding.credential_id = Some(judged.id.to_string());
        if let Some(why) = advisor_failure.filter(|_| item.finding.status == Status::Planned) {
            item.finding.status = Status::Failed;
            item.finding.reason_code = ReasonCode::AdvisorFailed;
            item.finding.reason = format!("{why} ({})", item.finding.reason);
        }
        plan.items.push(item);
    }
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
    owner: Owner<'_>,
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
        Credential::ServiceCredential { service, created } => {
            let s = SERVICE_CREDENTIAL_SERVICES[usize::from(service)];
            (
                Kind::ServiceSpecificCredential,
                None,
                format!("{} (created {})", s.credential, created.date()),
            )
        }
        Credential::SshKey { uploaded } => (
            Kind::SshPublicKey,
            None,
            format!("SSH public key (uploaded {})", uploaded.date()),
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
        (Some(t), Credential::ServiceCredential { service, .. }) => format!(
            "{} last authenticated {} (Access Advisor), before the credential was created or restored",
            SERVICE_CREDENTIAL_SERVICES[usize::from(service)].namespace,
            t.date()
        ),
        (None, Credential::ServiceCredential { service, .. }) => format!(
            "the user never authenticated to {} (Access Advisor)",
            SERVICE_CREDENTIAL_SERVICES[usize::from(service)].namespace
        ),
        (Some(t), Credential::SshKey { .. }) => format!(
            "{SSH_KEY_NAMESPACE} last authenticated {} (Access Advisor), before the key was uploaded or restored",
            t.date()
        ),
        (None, Credential::SshKey { .. }) => {
            format!("the user never authenticated to {SSH_KEY_NAMESPACE} (Access Advisor)")
        }
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
                Credential::ServiceCredential { .. } => Action::DeactivateServiceSpecificCredential,
                Credential::SshKey { .. } => Action::DeactivateSshPublicKey,
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
    let Owner {
        user,
        arn,
        listed_created,
        details,
    } = owner;
    if let Some(d) = details.filter(|d| recreated(listed_created, d)) {
        status = Status::Skipped;
        reason_code = ReasonCode::UserRecreated;
        reason = format!(
            "the user was deleted and recreated since the credential report (created {}, the report's user {}): \
             the report's data is the old user's; the next report judges this one",
            trail::stamp(d.create_date),
            trail::stamp(listed_created)
        );
    } else if let Some(why) = settings.exemption(user, details) {
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
            user: user.to_string(),
            arn: arn.to_string(),
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
        user_created: listed_created,
    })
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
