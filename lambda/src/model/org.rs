//! The organization's view: every account's stored run reports (the report bucket),
//! read back and summed up per account, for the organization, and per day.
//!
//! Pure: the reports' bytes, the organization's accounts and a clock reading come in;
//! [`OrgView`] comes out. `cargo xtask report` reads the bucket and renders the view;
//! the management account's Lambda can build its organization digest from the same view.
//!
//! A stored report is read leniently (fields unknown to this reader are ignored, and so
//! are values of `kind`, `action` and `status` it does not know) but never guessed: a key
//! not in the bucket's layout, a report that does not parse, one whose `schema_version`
//! is not [`REPORT_SCHEMA_VERSION`] or one of another account than its key says is
//! [`Rejected`], with its key named.
//!
//! ## The bucket's layout
//!
//! `reports/account=<12-digit id>/date=<YYYY-MM-DD>/<YYYYMMDDTHHMMSS.mmmZ>.json`, the date
//! and name from the run's start time (UTC). The key's time is the run's time here: the
//! window, the latest run and staleness all go by it.
//!
//! ## The counts (of one run)
//!
//! - **users evaluated**: the report's `summary.users_evaluated`;
//! - **dormant found**: findings about a credential (every kind but `unused_services`)
//!   whose action is not `warn`, whatever their status: dormant credentials the run found,
//!   changed, would change, skipped (exempt, already done…) or failed to change;
//! - **changed**: findings with status `applied` (of any kind, deny policies included);
//! - **skipped**: findings with status `skipped` (of any kind: exempt, grace, already
//!   done, needs review…), a count only;
//! - **warned**: `summary.warnings`;
//! - **failed**: `summary.failed`; a run that could not check something (`not_checked`)
//!   is counted apart ([`RunCounts::not_checked`]) and flagged like a failure;
//! - **deny policies**: `unused_services` findings with action `attach_deny_policy` and
//!   status `applied` (written this run) or `planned` (would be, in report mode), or
//!   status `skipped` with reason `already_done` (live data shows it in place). The engine
//!   reports no finding for a deny policy that is already current, so this counts the
//!   deny policies a run wrote or would write, not those standing;
//! - **users denied**: `summary.users_with_deny_policy`, the users with a deny policy in
//!   place once the run's changes were made (a state; absent from older reports);
//! - **breaker tripped**: `summary.circuit_breaker.tripped` (an enforce run the breaker
//!   stopped; a report run's "would trip" is not counted).
//!
//! ## The rules (of the view)
//!
//! - The **window** is `days` UTC days ending with the day of `now`; a run is in it if
//!   its key's date is. A run dated after `now` is rejected.
//! - Each account's row shows its **latest** run (the latest key time; equal times are
//!   ordered by key), plus the number of its runs and of changes in the window.
//! - **Stale**: the latest run started more than `stale_after` before `now` (exactly
//!   `stale_after` is not stale).
//! - **Missing**: an `ACTIVE` account of the organization with no run in the window
//!   (only when the organization's accounts are known).
//! - **Not in the organization**: an account with runs that the organization's list
//!   (when known) does not have; shown and flagged.
//! - **Trend**: for each day of the window, the sums over the accounts of each one's
//!   latest run of that day; a day with no run is all zeros.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use crate::model::report::{Mode, REPORT_SCHEMA_VERSION};

/// Where the reports are, in the bucket.
pub const KEY_PREFIX: &str = "reports/";

/// The layout of a report's key, for messages.
pub const KEY_LAYOUT: &str = "reports/account=<12-digit id>/date=<YYYY-MM-DD>/<YYYYMMDDTHHMMSS.mmmZ>.json";

/// The organization's status of an account that runs (Organizations' `ACTIVE`).
pub const ACTIVE: &str = "ACTIVE";

/// A stored object that is not a report this reader can count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub key: String,
    pub reason: String,
}

impl Rejected {
    pub fn new(key: &str, reason: impl Into<String>) -> Rejected {
        Rejected {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// Where a report key says a run belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    pub account_id: String,
    /// The run's start, UTC (millisecond precision).
    pub started: OffsetDateTime,
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The key of a report of `account` stored at `at` (UTC; millisecond precision): what
/// [`parse_key`] reads back.
pub fn report_key(account: &str, at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let name = at
        .format(format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default();
    format!("{}date={}/{name}.json", account_prefix(account), at.date())
}

/// Reads a key of the bucket's layout; `None` for any other key (including one whose
/// `date=` is not the date of its name).
pub fn parse_key(key: &str) -> Option<ReportKey> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let mut parts = rest.split('/');
    let account = parts.next()?.strip_prefix("account=")?;
    let date = parts.next()?.strip_prefix("date=")?;
    let name = parts.next()?.strip_suffix(".json")?;
    if parts.next().is_some() || !is_account_id(account) {
        return None;
    }
    let date = Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    let started = PrimitiveDateTime::parse(
        name,
        format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"),
    )
    .ok()?
    .assume_utc();
    (started.date() == date).then(|| ReportKey {
        account_id: account.to_string(),
        started,
    })
}

/// The prefix of an account's reports.
pub fn account_prefix(account_id: &str) -> String {
    format!("{KEY_PREFIX}account={account_id}/")
}

/// The account of an account prefix (`reports/account=<id>/`), as S3 lists common prefixes.
pub fn account_of_prefix(prefix: &str) -> Option<&str> {
    let id = prefix
        .strip_prefix(KEY_PREFIX)?
        .strip_prefix("account=")?
        .strip_suffix('/')?;
    is_account_id(id).then_some(id)
}

/// What to list an account's reports after (S3's `StartAfter`) to get only those dated
/// `first_day` or later: every key of that day sorts after its `date=` prefix without
/// the slash, every earlier day before it.
pub fn start_after(account_id: &str, first_day: Date) -> String {
    format!("{}date={first_day}", account_prefix(account_id))
}

/// Of the window's report keys, those a view of the latest runs only needs to read (the
/// organization digest's, which shows each account's latest run): each account's latest
/// key dated on or before `now`'s day, and every key dated after it (the view rejects
/// those, naming them). Keys not in the layout are left out. Keys sort by time within an
/// account, as the layout is fixed-width.
pub fn latest_keys(keys: &[String], now: OffsetDateTime) -> Vec<String> {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let mut latest: BTreeMap<String, &String> = BTreeMap::new();
    let mut ahead = Vec::new();
    for key in keys {
        let Some(place) = parse_key(key) else { continue };
        if place.started.date() > today {
            ahead.push(key.clone());
        } else if latest.get(&place.account_id).is_none_or(|l| *l < key) {
            latest.insert(place.account_id, key);
        }
    }
    let mut chosen: Vec<String> = latest.into_values().cloned().collect();
    chosen.extend(ahead);
    chosen.sort();
    chosen
}

/// A stored report, as much of it as the view reads. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredReport {
    pub schema_version: u32,
    pub account_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub mode: Mode,
    pub findings: Vec<StoredFinding>,
    pub not_checked: Vec<String>,
    pub summary: StoredSummary,
}

/// A finding as the view reads it: its codes as text, so that a value this reader does
/// not know (a credential kind added later) is counted by the rules that do not name it.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredFinding {
    pub kind: String,
    pub action: String,
    pub status: String,
    #[serde(default)]
    pub reason_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredSummary {
    pub users_evaluated: usize,
    /// Absent from reports stored before it was added (same schema version).
    #[serde(default)]
    pub users_with_deny_policy: Option<usize>,
    pub warnings: usize,
    pub failed: usize,
    pub circuit_breaker: Option<StoredBreaker>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredBreaker {
    pub tripped: bool,
}

/// What one run counted (see the module's docs for each definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub users_evaluated: usize,
    pub dormant_found: usize,
    pub changed: usize,
    pub skipped: usize,
    pub warned: usize,
    pub failed: usize,
    /// Entries of the report's `not_checked`: what the run could not check.
    pub not_checked: usize,
    pub deny_policies: usize,
    /// Users with a deny policy in place after the run (`None`: a report from before
    /// the count; a sum counts the runs that have it).
    pub users_denied: Option<usize>,
    pub breaker_tripped: bool,
}

impl RunCounts {
    /// Counts a report's findings and summary.
    pub fn of(report: &StoredReport) -> RunCounts {
        let mut counts = RunCounts {
            users_evaluated: report.summary.users_evaluated,
            users_denied: report.summary.users_with_deny_policy,
            warned: report.summary.warnings,
            failed: report.summary.failed,
            not_checked: report.not_checked.len(),
            breaker_tripped: report.summary.circuit_breaker.as_ref().is_some_and(|b| b.tripped),
            ..RunCounts::default()
        };
        for f in &report.findings {
            match f.status.as_str() {
                "applied" => counts.changed += 1,
                "skipped" => counts.skipped += 1,
                _ => {}
            }
            if f.kind == "unused_services" {
                let in_place = matches!(f.status.as_str(), "applied" | "planned")
                    || (f.status == "skipped" && f.reason_code.as_deref() == Some("already_done"));
                if f.action == "attach_deny_policy" && in_place {
                    counts.deny_policies += 1;
                }
            } else if f.action != "warn" {
                counts.dormant_found += 1;
            }
        }
        counts
    }

    fn add(&mut self, other: &RunCounts) {
        self.users_evaluated += other.users_evaluated;
        self.dormant_found += other.dormant_found;
        self.changed += other.changed;
        self.skipped += other.skipped;
        self.warned += other.warned;
        self.failed += other.failed;
        self.not_checked += other.not_checked;
        self.deny_policies += other.deny_policies;
        self.users_denied = match (self.users_denied, other.users_denied) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Whether the run failed somewhere: a failed change or something not checked.
    pub fn has_failures(&self) -> bool {
        self.failed > 0 || self.not_checked > 0
    }
}

/// One stored run, read and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    pub key: String,
    pub account_id: String,
    /// The run's start (from its key).
    pub started: OffsetDateTime,
    pub generated_at: OffsetDateTime,
    pub mode: Mode,
    pub counts: RunCounts,
}

impl StoredRun {
    /// Reads the object at `key`: the key's layout, then the report's schema version,
    /// then the report; its account must be the key's.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<StoredRun, Rejected> {
        let place =
            parse_key(key).ok_or_else(|| Rejected::new(key, format!("not a report key (expected {KEY_LAYOUT})")))?;

        #[derive(Deserialize)]
        struct Version {
            schema_version: Option<serde_json::Value>,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|e| Rejected::new(key, format!("not a JSON report: {e}")))?;
        match version.schema_version {
            None => return Err(Rejected::new(key, "no schema_version: not an iam-janitor report")),
            Some(v) if v.as_u64() != Some(u64::from(REPORT_SCHEMA_VERSION)) => {
                return Err(Rejected::new(
                    key,
                    format!("schema_version {v}: this reader knows version {REPORT_SCHEMA_VERSION} only"),
                ));
            }
            Some(_) => {}
        }
        let report: StoredReport = serde_json::from_slice(bytes).map_err(|e| {
            Rejected::new(
                key,
                format!("does not parse as a version {REPORT_SCHEMA_VERSION} report: {e}"),
            )
        })?;
        if let Some(account) = report.account_id.as_deref().filter(|a| *a != place.account_id) {
            return Err(Rejected::new(
                key,
                format!(
                    "the report is of account {account}, stored under account {}",
                    place.account_id
                ),
            ));
        }
        Ok(StoredRun {
            key: key.to_string(),
            account_id: place.account_id,
            started: place.started,
            generated_at: report.generated_at,
            mode: report.mode,
            counts: RunCounts::of(&report),
        })
    }
}

/// An account of the organization (Organizations' ListAccounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`…
    pub status: String,
}

/// The window and staleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewOptions {
    /// The window: this many UTC days, ending with today's.
    pub days: u32,
    /// An account whose latest run is older than this is stale.
    pub stale_after: Duration,
}

impl ViewOptions {
    /// The default: 30 days, stale after 48 hours (two periods of the default daily
    /// schedule).
    pub const DEFAULT: ViewOptions = ViewOptions {
        days: 30,
        stale_after: Duration::hours(48),
    };

    /// The window's first day.
    pub fn first_day(&self, now: OffsetDateTime) -> Date {
        let today = now.to_offset(time::UtcOffset::UTC).date();
        let back = i64::from(self.days.max(1)) - 1;
        today.checked_sub(Duration::days(back)).unwrap_or(Date::MIN)
    }
}

/// An account's latest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestRun {
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    pub mode: Mode,
    pub key: String,
    #[serde(flatten)]
    pub counts: RunCounts,
}

/// Why an account needs a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Its latest run failed a change.
    Failed,
    /// Its latest run could not check something.
    NotChecked,
    /// Its latest run's circuit breaker tripped.
    Breaker,
    /// Its latest run is older than the stale limit.
    Stale,
    /// An active account of the organization with no run in the window.
    Missing,
    /// It has runs but is not in the organization's list.
    NotInOrganization,
}

impl Flag {
    pub fn label(self) -> &'static str {
        match self {
            Flag::Failed => "failed",
            Flag::NotChecked => "not checked",
            Flag::Breaker => "breaker tripped",
            Flag::Stale => "stale",
            Flag::Missing => "missing",
            Flag::NotInOrganization => "not in organization",
        }
    }
}

/// One account's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    pub account_id: String,
    /// Its name in the organization (when known).
    pub name: Option<String>,
    /// Its status in the organization (`null`: not in it, or the organization unknown).
    pub org_status: Option<String>,
    pub latest: Option<LatestRun>,
    pub runs_in_window: usize,
    /// Changes (status `applied`) over every run in the window.
    pub changed_in_window: usize,
    /// Most important first.
    pub flags: Vec<Flag>,
}

impl AccountRow {
    /// 0 needs a look first; then by changes.
    fn attention_rank(&self) -> u8 {
        self.flags.first().map_or(u8::MAX, |f| *f as u8)
    }

    pub fn has(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// One day of the trend: what was found and what failed are each account's latest run
/// of the day (a state); what changed is every run's (events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrendDay {
    #[serde(serialize_with = "iso_date")]
    pub day: Date,
    pub accounts_reporting: usize,
    pub dormant_found: usize,
    /// Changes made by every run of the day.
    pub changed: usize,
    pub failed: usize,
}

/// The organization's totals, over each account's latest run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Rows: accounts with runs, plus missing ones.
    pub accounts: usize,
    /// Accounts with a run in the window.
    pub accounts_reporting: usize,
    /// Active accounts of the organization (`null`: unknown).
    pub organization_accounts: Option<usize>,
    #[serde(flatten)]
    pub latest: RunCounts,
    /// Changes over every run in the window.
    pub changed_in_window: usize,
    pub accounts_with_failures: usize,
    pub breakers_tripped: usize,
    pub stale: usize,
    pub missing: usize,
    pub not_in_organization: usize,
    /// Runs read in the window.
    pub runs: usize,
    pub rejected: usize,
}

/// The organization's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgView {
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    #[serde(serialize_with = "iso_date")]
    pub first_day: Date,
    #[serde(serialize_with = "iso_date")]
    pub last_day: Date,
    pub days: u32,
    pub stale_after_hours: i64,
    /// Whether the organization's accounts were known (missing accounts need them).
    pub organization_known: bool,
    pub totals: Totals,
    /// Those needing a look first (failed, breaker, stale, missing, not in the
    /// organization), then by changes, then by ID.
    pub accounts: Vec<AccountRow>,
    pub trend: Vec<TrendDay>,
    pub rejected: Vec<Rejected>,
}

fn iso_date<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

impl OrgView {
    /// Builds the view from the runs read, the objects rejected, the organization's
    /// accounts (`None`: unknown) and `now`.
    pub fn build(
        runs: Vec<StoredRun>,
        mut rejected: Vec<Rejected>,
        organization: Option<&[OrgAccount]>,
        now: OffsetDateTime,
        options: ViewOptions,
    ) -> OrgView {
        let now = now.to_offset(time::UtcOffset::UTC);
        let first_day = options.first_day(now);
        let last_day = now.date();

        let mut by_account: BTreeMap<String, Vec<StoredRun>> = BTreeMap::new();
        for run in runs {
            if run.started.date() > last_day {
                rejected.push(Rejected::new(
                    &run.key,
                    format!("dated after now ({now}): the writer's clock is ahead"),
                ));
            } else if run.started.date() >= first_day {
                by_account.entry(run.account_id.clone()).or_default().push(run);
            }
        }
        for account_runs in by_account.values_mut() {
            account_runs.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.key.cmp(&b.key)));
        }
        let members: Option<BTreeMap<&str, &OrgAccount>> =
            organization.map(|accounts| accounts.iter().map(|a| (a.id.as_str(), a)).collect());

        let mut rows = Vec::new();
        for (account, account_runs) in &by_account {
            let Some(latest) = account_runs.last() else {
                continue;
            };
            let member = members.as_ref().and_then(|m| m.get(account.as_str()));
            let mut flags = Vec::new();
            if latest.counts.failed > 0 {
                flags.push(Flag::Failed);
            }
            if latest.counts.not_checked > 0 {
                flags.push(Flag::NotChecked);
            }
            if latest.counts.breaker_tripped {
                flags.push(Flag::Breaker);
            }
            if now - latest.started > options.stale_after {
                flags.push(Flag::Stale);
            }
            if members.is_some() && member.is_none() {
                flags.push(Flag::NotInOrganization);
            }
            rows.push(AccountRow {
                account_id: account.clone(),
                name: member.map(|m| m.name.clone()),
                org_status: member.map(|m| m.status.clone()),
                latest: Some(LatestRun {
                    started: latest.started,
                    mode: latest.mode,
                    key: latest.key.clone(),
                    counts: latest.counts,
                }),
                runs_in_window: account_runs.len(),
                changed_in_window: account_runs.iter().map(|r| r.counts.changed).sum(),
                flags,
            });
        }
        for account in organization.unwrap_or_default() {
            if account.status == ACTIVE && !by_account.contains_key(&account.id) {
                rows.push(AccountRow {
                    account_id: account.id.clone(),
                    name: Some(account.name.clone()),
                    org_status: Some(account.status.clone()),
                    latest: None,
                    runs_in_window: 0,
                    changed_in_window: 0,
                    flags: vec![Flag::Missing],
                });
            }
        }
        rows.sort_by(|a, b| {
            let changed = |r: &AccountRow| r.latest.as_ref().map_or(0, |l| l.counts.changed);
            a.attention_rank()
                .cmp(&b.attention_rank())
                .then_with(|| changed(b).cmp(&changed(a)))
                .then_with(|| a.account_id.cmp(&b.account_id))
        });

        let mut totals = Totals {
            accounts: rows.len(),
            organization_accounts: organization.map(|o| o.iter().filter(|a| a.status == ACTIVE).count()),
            runs: by_account.values().map(Vec::len).sum(),
            rejected: rejected.len(),
            ..Totals::default()
        };
        for row in &rows {
            if let Some(latest) = &row.latest {
                totals.accounts_reporting += 1;
                totals.latest.add(&latest.counts);
                totals.changed_in_window += row.changed_in_window;
            }
            totals.accounts_with_failures += usize::from(row.has(Flag::Failed) || row.has(Flag::NotChecked));
            totals.breakers_tripped += usize::from(row.has(Flag::Breaker));
            totals.stale += usize::from(row.has(Flag::Stale));
            totals.missing += usize::from(row.has(Flag::Missing));
            totals.not_in_organization += usize::from(row.has(Flag::NotInOrganization));
        }
        totals.latest.breaker_tripped = totals.breakers_tripped > 0;

        let trend = trend(&by_account, first_day, last_day);
        rejected.sort_by(|a, b| a.key.cmp(&b.key));
        OrgView {
            generated_at: now,
            first_day,
            last_day,
            days: options.days,
            stale_after_hours: options.stale_after.whole_hours(),
            organization_known: organization.is_some(),
            totals,
            accounts: rows,
            trend,
            rejected,
        }
    }

    /// The rows with a flag.
    pub fn flagged(&self, flag: Flag) -> impl Iterator<Item = &AccountRow> {
        self.accounts.iter().filter(move |r| r.has(flag))
    }
}

/// Each day of the window: the sums over the accounts of each one's latest run of the day.
/// `runs` are sorted by start within each account.
fn trend(runs: &BTreeMap<String, Vec<StoredRun>>, first_day: Date, last_day: Date) -> Vec<TrendDay> {
    let mut days: BTreeMap<Date, TrendDay> = BTreeMap::new();
    let mut day = first_day;
    loop {
        days.insert(
            day,
            TrendDay {
                day,
                accounts_reporting: 0,
                dormant_found: 0,
                changed: 0,
                failed: 0,
            },
        );
        match day.next_day() {
            Some(next) if next <= last_day => day = next,
            _ => break,
        }
    }
    for account_runs in runs.values() {
        let mut latest_of_day: BTreeMap<Date, &StoredRun> = BTreeMap::new();
        for run in account_runs {
            latest_of_day.insert(run.started.date(), run);
            // Changes are events: every run of the day made its own.
            if let Some(day) = days.get_mut(&run.started.date()) {
                day.changed += run.counts.changed;
            }
        }
        // What was found and what failed is a state: the day's last word on it.
        for (date, run) in latest_of_day {
            if let Some(day) = days.get_mut(&date) {
                day.accounts_reporting += 1;
                day.dormant_found += run.counts.dormant_found;
                day.failed += run.counts.failed;
            }
        }
    }
    days.into_values().collect()
}

#[cfg(test)]
#[path = "org_tests.rs"]
mod tests;
