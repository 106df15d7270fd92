//! The engine's settings: one struct, read from environment variables in the Lambda and
//! from flags (each mirroring one of those variables) in `cargo xtask audit`.
//!
//! [`SettingsArgs`] is the raw, string-typed input (clap reads the flag, or else the
//! environment variable of the same setting); [`Settings::from_args`] validates it. An
//! invalid value is rejected with an error that names the setting, its variable and the
//! value, before anything is read from or written to AWS.
//!
//! Every setting's names, help, default and bounds are one row of [`table`], from which
//! `SettingsArgs`, the template's parameters and deploy's values are generated.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::inventory::UserDetails;
pub use crate::model::report::Mode;
use crate::model::services::{is_service_prefix, parse_service_list};

pub mod glob;
pub mod table;
use glob::Glob;
use std::collections::BTreeSet;
pub use table::SettingsArgs;
use table::{
    ADVISOR_CONCURRENCY, AS_OF, CONCURRENCY, DORMANT_DAYS, EXEMPT_TAG, EXEMPT_USERS, IAM_RATE, INVOKE_OVERRIDE,
    KEEP_SERVICES_TAG, LEAST_PRIVILEGE, MAX_ACTIONS, MODE, NEVER_DENY, Number, POLICY_QUOTA, REPORT_BUCKET,
    REPORT_TIMEOUT_SECS, SIGNING_CERTIFICATES, SLACK_SCOPE, SLACK_WEBHOOK, SSH_KEY_SWEEP, STATE_TABLE, Setting,
    TIME_BUDGET_SECS, UNUSED_SERVICE_DAYS, WARN_DAYS,
};

/// The least-privilege settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeastPrivilegeSettings {
    pub enabled: bool,
    pub unused_service_days: u32,
    pub advisor_concurrency: usize,
    pub keep_services_tag: String,
    pub never_deny: BTreeSet<String>,
    pub policy_quota: u32,
}

/// The table's defaults; `table::tests::defaults_are_the_tables` checks those not taken
/// from it.
impl Default for LeastPrivilegeSettings {
    fn default() -> Self {
        LeastPrivilegeSettings {
            enabled: true,
            unused_service_days: UNUSED_SERVICE_DAYS.value.default,
            advisor_concurrency: ADVISOR_CONCURRENCY.value.default as usize,
            keep_services_tag: KEEP_SERVICES_TAG.value.default.to_string(),
            never_deny: parse_service_list(NEVER_DENY.value.default),
            policy_quota: POLICY_QUOTA.value.default,
        }
    }
}

/// The tag that exempts a user: a key, compared case-insensitively as IAM does for user
/// tag keys, and an optional value (any value exempts when none is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemptTag {
    pub key: String,
    pub value: Option<String>,
}

impl ExemptTag {
    /// Whether a user's tag matches. Values are compared case-insensitively so that
    /// `True` exempts like `true`: a false negative here would lock someone out.
    pub fn matches(&self, key: &str, value: &str) -> bool {
        key.eq_ignore_ascii_case(&self.key) && self.value.as_deref().is_none_or(|v| v.eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for ExemptTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.key, v),
            None => f.write_str(&self.key),
        }
    }
}

/// A Slack incoming-webhook URL. It is a secret: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackWebhook(String);

impl SlackWebhook {
    pub fn url(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlackWebhook(<redacted>)")
    }
}

/// Which Slack digests are posted (`--slack-scope`): each run's own (the account's),
/// the organization's (posted by the management account's org-digest invocation), or
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlackScope {
    /// Only each run's own digest.
    Account,
    /// Only the organization digest: a run posts nothing of its own.
    Org,
    /// Both.
    #[default]
    Both,
}

impl SlackScope {
    /// Whether a run posts its own digest.
    pub fn posts_account_digest(self) -> bool {
        matches!(self, SlackScope::Account | SlackScope::Both)
    }

    /// Whether an org-digest invocation posts the organization digest.
    pub fn posts_org_digest(self) -> bool {
        matches!(self, SlackScope::Org | SlackScope::Both)
    }

    fn parse(value: &str) -> Option<SlackScope> {
        let value = value.trim();
        [SlackScope::Account, SlackScope::Org, SlackScope::Both]
            .into_iter()
            .find(|scope| value.eq_ignore_ascii_case(&scope.to_string()))
    }
}

impl fmt::Display for SlackScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlackScope::Account => "account",
            SlackScope::Org => "org",
            SlackScope::Both => "both",
        })
    }
}

/// What is done to signing certificates older than the limit. IAM records no use of
/// them, so their age is all there is to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertificateAction {
    /// Report them; change nothing.
    #[default]
    Report,
    /// Deactivate them (in enforce mode), like dormant keys.
    Deactivate,
}

impl fmt::Display for CertificateAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateAction::Report => "report",
            CertificateAction::Deactivate => "deactivate",
        })
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// Whether a manual invoke may raise the mode to enforce (`--invoke-override`).
    pub invoke_override: bool,
    pub dormant_days: u32,
    pub warn_days: u32,
    pub exempt_tag: ExemptTag,
    pub exempt_users: Vec<Glob>,
    pub max_actions: u32,
    pub concurrency: usize,
    pub slack_webhook: Option<SlackWebhook>,
    /// Which digests are posted to the webhook.
    pub slack_scope: SlackScope,
    /// Evaluate as if it were this time (report mode only).
    pub as_of: Option<OffsetDateTime>,
    pub report_timeout_secs: u32,
    pub signing_certificates: CertificateAction,
    /// Users whose SSH public keys are listed per run (0: never).
    pub ssh_key_sweep: u32,
    pub least_privilege: LeastPrivilegeSettings,
    /// The DynamoDB table holding least privilege's memory, if any.
    pub state_table: Option<String>,
    /// The organization's report bucket, if runs are stored there.
    pub report_bucket: Option<String>,
    /// Stop starting new users after this long (`None`: no budget; the Lambda uses its
    /// deadline).
    pub time_budget: Option<std::time::Duration>,
    /// IAM requests per second at most.
    pub iam_rate: u32,
}

/// The table's defaults; `table::tests::defaults_are_the_tables` checks those not taken
/// from it.
impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Report,
            invoke_override: false,
            dormant_days: DORMANT_DAYS.value.default,
            warn_days: WARN_DAYS.value.default,
            exempt_tag: ExemptTag {
                key: crate::trail::EXEMPT.to_string(),
                value: Some(crate::trail::EXEMPT_VALUE.to_string()),
            },
            exempt_users: Vec::new(),
            max_actions: MAX_ACTIONS.value.default,
            concurrency: CONCURRENCY.value.default as usize,
            slack_webhook: None,
            slack_scope: SlackScope::default(),
            as_of: None,
            report_timeout_secs: REPORT_TIMEOUT_SECS.value.default,
            signing_certificates: CertificateAction::default(),
            ssh_key_sweep: SSH_KEY_SWEEP.value.default,
            least_privilege: LeastPrivilegeSettings::default(),
            state_table: None,
            report_bucket: None,
            time_budget: None,
            iam_rate: IAM_RATE.value.default,
        }
    }
}

/// A rejected setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {flag} ({env}) value {value:?}: {expected}")]
pub struct SettingsError {
    pub flag: &'static str,
    pub env: &'static str,
    pub value: String,
    pub expected: String,
}

impl Settings {
    /// Why a user is exempt (by user-name glob or exemption tag), if they are. Both
    /// features skip exempt users.
    pub fn exemption(&self, user: &str, details: Option<&UserDetails>) -> Option<String> {
        if let Some(glob) = self.exempt_users.iter().find(|g| g.matches(user)) {
            return Some(format!("exempt: user name matches --exempt-user {:?}", glob.as_str()));
        }
        let details = details?;
        details
            .tags
            .iter()
            .find(|t| self.exempt_tag.matches(&t.key, &t.value))
            .map(|t| format!("exempt: tag {}={}", t.key, t.value))
    }

    /// Validates raw settings. Nothing is defaulted silently from a bad value.
    pub fn from_args(args: &SettingsArgs) -> Result<Settings, SettingsError> {
        let defaults = Settings::default();
        let mode = if args.enforce {
            Mode::Enforce
        } else {
            match &args.mode {
                None => defaults.mode,
                Some(v) => Mode::parse(v).ok_or_else(|| err(&MODE, v, &MODE.value.choices.join(" or ")))?,
            }
        };
        let dormant_days = number(args.dormant_days.as_deref(), &DORMANT_DAYS)?;
        let warn_days = number(args.warn_days.as_deref(), &WARN_DAYS)?;
        if warn_days >= dormant_days {
            return Err(err(
                &WARN_DAYS,
                &warn_days.to_string(),
                &format!("fewer days than {} ({dormant_days})", DORMANT_DAYS.flag),
            ));
        }
        let exempt_tag = match &args.exempt_tag {
            None => defaults.exempt_tag,
            Some(v) => parse_exempt_tag(v)?,
        };
        let mut exempt_users = Vec::new();
        for pattern in args.exempt_users.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            exempt_users.push(Glob::new(pattern).map_err(|reason| err(&EXEMPT_USERS, pattern, &reason))?);
        }
        let max_actions = number(args.max_actions.as_deref(), &MAX_ACTIONS)?;
        let concurrency = number(args.concurrency.as_deref(), &CONCURRENCY)? as usize;
        let slack_webhook = match args.slack_webhook.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_webhook(v)?),
        };
        let slack_scope = match args.slack_scope.as_deref() {
            None => SlackScope::default(),
            Some(v) => {
                SlackScope::parse(v).ok_or_else(|| err(&SLACK_SCOPE, v, &SLACK_SCOPE.value.choices.join(", ")))?
            }
        };
        let as_of = match &args.as_of {
            None => None,
            Some(v) => {
                let t = OffsetDateTime::parse(v.trim(), &Rfc3339)
                    .map_err(|_| err(&AS_OF, v, "an RFC 3339 time such as 2026-11-21T00:00:00Z"))?;
                if mode == Mode::Enforce {
                    return Err(err(
                        &AS_OF,
                        v,
                        "no value in enforce mode: evaluating at another time is for reports only",
                    ));
                }
                Some(t.to_offset(time::UtcOffset::UTC))
            }
        };
        let report_timeout_secs = number(args.report_timeout_secs.as_deref(), &REPORT_TIMEOUT_SECS)?;
        let signing_certificates = match args.signing_certificates.as_deref().map(str::trim) {
            None => CertificateAction::default(),
            Some(v) if v.eq_ignore_ascii_case("report") => CertificateAction::Report,
            Some(v) if v.eq_ignore_ascii_case("deactivate") => CertificateAction::Deactivate,
            Some(v) => {
                return Err(err(
                    &SIGNING_CERTIFICATES,
                    v,
                    &SIGNING_CERTIFICATES.value.choices.join(" or "),
                ));
            }
        };
        let ssh_key_sweep = number(args.ssh_key_sweep.as_deref(), &SSH_KEY_SWEEP)?;
        let least_privilege = least_privilege_settings(args)?;
        let state_table = match args.state_table.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_table_name(v)?),
        };
        let report_bucket = match args.report_bucket.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_bucket_name(v)?),
        };
        let time_budget = match number(args.time_budget_secs.as_deref(), &TIME_BUDGET_SECS)? {
            0 => None,
            secs => Some(std::time::Duration::from_secs(u64::from(secs))),
        };
        let iam_rate = number(args.iam_rate.as_deref(), &IAM_RATE)?;
        let invoke_override = match args.invoke_override.as_deref().map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(err(&INVOKE_OVERRIDE, v, &INVOKE_OVERRIDE.value.choices.join(" or "))),
        };
        Ok(Settings {
            invoke_override,
            state_table,
            report_bucket,
            time_budget,
            iam_rate,
            signing_certificates,
            ssh_key_sweep,
            least_privilege,
            mode,
            dormant_days,
            warn_days,
            exempt_tag,
            exempt_users,
            max_actions,
            concurrency,
            slack_webhook,
            slack_scope,
            as_of,
            report_timeout_secs,
        })
    }

    /// Reads the settings from the process environment only (the Lambda's way).
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_args(&SettingsArgs::from_vars(|name| std::env::var(name).ok()))
    }
}

/// A DynamoDB table name: 3 to 255 of `a-z A-Z 0-9 _ - .`.
/// An S3 bucket name as S3's rules for general purpose buckets have it: 3 to 63
/// lowercase letters, digits, `.` and `-`, beginning and ending with a letter or digit,
/// no `..`, not an IP address.
fn parse_bucket_name(v: &str) -> Result<String, SettingsError> {
    let bytes = v.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let valid = (3..=63).contains(&v.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && edge(bytes.first())
        && edge(bytes.last())
        && !v.contains("..")
        && v.parse::<std::net::Ipv4Addr>().is_err();
    if valid {
        Ok(v.to_string())
    } else {
        Err(err(
            &REPORT_BUCKET,
            v,
            "an S3 bucket name: 3 to 63 lowercase letters, digits, `.` or `-`, beginning and ending with a letter or digit",
        ))
    }
}

fn parse_table_name(v: &str) -> Result<String, SettingsError> {
    let valid = (3..=255).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(v.to_string())
    } else {
        Err(err(
            &STATE_TABLE,
            v,
            "a DynamoDB table name: 3 to 255 letters, digits, `_`, `-` or `.`",
        ))
    }
}

fn least_privilege_settings(args: &SettingsArgs) -> Result<LeastPrivilegeSettings, SettingsError> {
    let defaults = LeastPrivilegeSettings::default();
    let enabled = match args.least_privilege.as_deref().map(str::trim) {
        None => defaults.enabled,
        Some(v) if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(err(&LEAST_PRIVILEGE, v, &LEAST_PRIVILEGE.value.choices.join(" or "))),
    };
    let unused_service_days = number(args.unused_service_days.as_deref(), &UNUSED_SERVICE_DAYS)?;
    let advisor_concurrency = number(args.advisor_concurrency.as_deref(), &ADVISOR_CONCURRENCY)? as usize;
    let keep_services_tag = match args.keep_services_tag.as_deref().map(str::trim) {
        None => defaults.keep_services_tag,
        Some(v) => parse_exempt_tag(v)
            .ok()
            .filter(|t| t.value.is_none())
            .map(|t| t.key)
            .ok_or_else(|| err(&KEEP_SERVICES_TAG, v, "a valid IAM tag key"))?,
    };
    let never_deny = match args.never_deny.as_deref() {
        None => defaults.never_deny,
        Some(v) => {
            let list = parse_service_list(v);
            if let Some(bad) = list.iter().find(|ns| !is_service_prefix(ns)) {
                return Err(err(
                    &NEVER_DENY,
                    bad,
                    "service prefixes such as sts,iam (lowercase letters and digits, single hyphens inside)",
                ));
            }
            list
        }
    };
    let policy_quota = number(args.policy_quota.as_deref(), &POLICY_QUOTA)?;
    Ok(LeastPrivilegeSettings {
        enabled,
        unused_service_days,
        advisor_concurrency,
        keep_services_tag,
        never_deny,
        policy_quota,
    })
}

/// The error for `setting`: its flag, its environment variable, the value and what was
/// expected.
fn err<V>(setting: &Setting<V>, value: &str, expected: &str) -> SettingsError {
    SettingsError {
        flag: setting.flag,
        // Every setting that is validated has a variable (a table test checks it).
        env: setting.env.unwrap_or_default(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// A whole number within the row's bounds; the row's default if not given.
fn number(value: Option<&str>, setting: &Setting<Number>) -> Result<u32, SettingsError> {
    let Number { min, max, default } = setting.value;
    let Some(raw) = value else { return Ok(default) };
    match raw.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(setting, raw, &format!("a whole number from {min} to {max}"))),
    }
}

fn parse_exempt_tag(value: &str) -> Result<ExemptTag, SettingsError> {
    let (key, tag_value) = match value.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
        None => (value.trim(), None),
    };
    let valid_char = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    if key.is_empty() || key.len() > 128 || !key.chars().all(valid_char) || key.starts_with("aws:") {
        return Err(err(
            &EXEMPT_TAG,
            value,
            "KEY or KEY=VALUE with a valid IAM tag key (1-128 of letters, digits, spaces and _.:/=+-@, not starting with aws:)",
        ));
    }
    Ok(ExemptTag {
        key: key.to_string(),
        value: tag_value,
    })
}

fn parse_webhook(value: &str) -> Result<SlackWebhook, SettingsError> {
    let loopback = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://localhost:",
        "http://localhost/",
        "http://[::1]:",
    ];
    let ok = (value.starts_with("https://") && value.len() > "https://".len())
        || loopback.iter().any(|p| value.starts_with(p));
    if !ok {
        // The value is a secret: name the setting, show only the scheme.
        let shown = value.split("://").next().unwrap_or("").to_string() + "://…";
        return Err(err(
            &SLACK_WEBHOOK,
            &shown,
            "an https:// URL (plain http only to a loopback address)",
        ));
    }
    Ok(SlackWebhook(value.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn args() -> SettingsArgs {
        SettingsArgs::default()
    }

    #[test]
    fn defaults_are_report_mode_90_and_14() {
        let s = Settings::from_args(&args()).unwrap();
        assert_eq!(s.mode, Mode::Report);
        assert_eq!((s.dormant_days, s.warn_days, s.max_actions), (90, 14, 25));
        assert_eq!(s.exempt_tag.to_string(), "iam-janitor:exempt=true");
    }

    #[test]
    fn report_buckets_follow_s3s_naming_rules() {
        let bucket = |v: &str| {
            Settings::from_args(&SettingsArgs {
                report_bucket: Some(v.into()),
                ..args()
            })
        };
        for good in [
            "iam-janitor-reports-123456789012-eu-west-1",
            "abc",
            "a.b-c",
            &"a".repeat(63),
        ] {
            assert_eq!(bucket(good).unwrap().report_bucket.as_deref(), Some(good), "{good}");
        }
        assert_eq!(bucket("  ").unwrap().report_bucket, None);
        for bad in [
            "ab",
            "Reports",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "192.168.1.1",
            "s3://abc",
            &"a".repeat(64),
        ] {
            let e = bucket(bad).unwrap_err();
            assert_eq!(e.flag, "--report-bucket", "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn bad_number_names_the_setting_and_value() {
        let e = Settings::from_args(&SettingsArgs {
            dormant_days: Some("ninety".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.flag, "--dormant-days");
        assert_eq!(e.env, "IAM_JANITOR_DORMANT_DAYS");
        let text = e.to_string();
        assert!(
            text.contains("--dormant-days") && text.contains("IAM_JANITOR_DORMANT_DAYS") && text.contains("\"ninety\""),
            "{text}"
        );
    }

    #[test]
    fn warn_days_must_be_below_dormant_days() {
        let e = Settings::from_args(&SettingsArgs {
            dormant_days: Some("30".into()),
            warn_days: Some("30".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.flag, "--warn-days");
    }

    #[test]
    fn unknown_mode_is_rejected() {
        let e = Settings::from_args(&SettingsArgs {
            mode: Some("yolo".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!((e.flag, e.value.as_str()), ("--mode", "yolo"));
    }

    /// `--slack-scope`: which digests are posted; both by default; a bad value is named.
    #[test]
    fn slack_scope_says_which_digests_are_posted() {
        let scope = |v: &str| {
            Settings::from_args(&SettingsArgs {
                slack_scope: Some(v.into()),
                ..args()
            })
            .map(|s| s.slack_scope)
        };
        assert_eq!(Settings::from_args(&args()).unwrap().slack_scope, SlackScope::Both);
        assert_eq!(scope("account").unwrap(), SlackScope::Account);
        assert_eq!(scope(" ORG ").unwrap(), SlackScope::Org);
        assert_eq!(scope("both").unwrap(), SlackScope::Both);
        let e = scope("channel").unwrap_err();
        assert_eq!(
            (e.flag, e.env, e.value.as_str()),
            ("--slack-scope", "IAM_JANITOR_SLACK_SCOPE", "channel")
        );
        assert_eq!(
            e.to_string(),
            "invalid --slack-scope (IAM_JANITOR_SLACK_SCOPE) value \"channel\": account, org, both"
        );
        let posts = |s: SlackScope| (s.posts_account_digest(), s.posts_org_digest());
        assert_eq!(posts(SlackScope::Account), (true, false));
        assert_eq!(posts(SlackScope::Org), (false, true));
        assert_eq!(posts(SlackScope::Both), (true, true));
        // Deployed as it reads back.
        for s in [SlackScope::Account, SlackScope::Org, SlackScope::Both] {
            assert_eq!(scope(&s.to_string()).unwrap(), s);
        }
    }

    #[test]
    fn as_of_is_report_only() {
        let e = Settings::from_args(&SettingsArgs {
            enforce: true,
            as_of: Some("2026-01-01T00:00:00Z".into()),
            ..args()
        })
        .unwrap_err();
        assert_eq!(e.flag, "--as-of");
        let ok = Settings::from_args(&SettingsArgs {
            as_of: Some("2026-01-01T00:00:00Z".into()),
            ..args()
        })
        .unwrap();
        assert!(ok.as_of.is_some());
    }

    #[test]
    fn webhook_must_be_https_and_is_never_echoed() {
        let e = Settings::from_args(&SettingsArgs {
            slack_webhook: Some("http://hooks.example.com/services/SECRET".into()),
            ..args()
        })
        .unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let s = Settings::from_args(&SettingsArgs {
            slack_webhook: Some("https://hooks.slack.com/services/T/B/SECRET".into()),
            ..args()
        })
        .unwrap();
        assert!(!format!("{s:?}").contains("SECRET"));
    }

    #[test]
    fn exempt_tag_forms() {
        let s = Settings::from_args(&SettingsArgs {
            exempt_tag: Some("break-glass".into()),
            ..args()
        })
        .unwrap();
        assert!(s.exempt_tag.matches("Break-Glass", "anything"));
        let s = Settings::from_args(&SettingsArgs {
            exempt_tag: Some("Owner=SecOps".into()),
            ..args()
        })
        .unwrap();
        assert!(s.exempt_tag.matches("owner", "secops"));
        assert!(!s.exempt_tag.matches("owner", "dev"));
        assert!(
            Settings::from_args(&SettingsArgs {
                exempt_tag: Some("aws:reserved".into()),
                ..args()
            })
            .is_err()
        );
    }

    #[test]
    fn least_privilege_flags() {
        let s = Settings::from_args(&args()).unwrap();
        assert!(s.least_privilege.enabled);
        assert_eq!(s.least_privilege.never_deny.iter().collect::<Vec<_>>(), ["iam", "sts"]);
        let s = Settings::from_args(&SettingsArgs {
            least_privilege: Some("off".into()),
            never_deny: Some("sts, kms".into()),
            policy_quota: Some("20".into()),
            ..args()
        })
        .unwrap();
        assert!(!s.least_privilege.enabled);
        assert_eq!(s.least_privilege.never_deny.iter().collect::<Vec<_>>(), ["kms", "sts"]);
        assert_eq!(s.least_privilege.policy_quota, 20);
        for (a, flag) in [
            (
                SettingsArgs {
                    least_privilege: Some("maybe".into()),
                    ..args()
                },
                "--least-privilege",
            ),
            (
                SettingsArgs {
                    policy_quota: Some("21".into()),
                    ..args()
                },
                "--policy-quota",
            ),
            (
                SettingsArgs {
                    never_deny: Some("s3:*".into()),
                    ..args()
                },
                "--never-deny",
            ),
            (
                SettingsArgs {
                    never_deny: Some("sts,-".into()),
                    ..args()
                },
                "--never-deny",
            ),
            (
                SettingsArgs {
                    never_deny: Some("a--b".into()),
                    ..args()
                },
                "--never-deny",
            ),
            (
                SettingsArgs {
                    advisor_concurrency: Some("0".into()),
                    ..args()
                },
                "--advisor-concurrency",
            ),
            (
                SettingsArgs {
                    unused_service_days: Some("401".into()),
                    ..args()
                },
                "--unused-service-days",
            ),
        ] {
            assert_eq!(Settings::from_args(&a).unwrap_err().flag, flag);
        }
    }

    proptest::proptest! {
        /// Whatever the input, parsing never panics; a rejection names a real flag, its
        /// variable and the offending value; an acceptance is internally consistent.
        #[test]
        fn any_input_is_accepted_consistently_or_rejected_by_name(
            values in proptest::collection::vec(proptest::option::of(".{0,40}"), 13),
            globs in proptest::collection::vec(".{0,20}", 0..4),
        ) {
            let v = |i: usize| values[i].clone();
            let args = SettingsArgs {
                mode: v(0),
                enforce: false,
                dormant_days: v(1),
                warn_days: v(2),
                exempt_tag: v(3),
                exempt_users: globs.clone(),
                max_actions: v(4),
                concurrency: v(5),
                slack_webhook: v(6),
                as_of: v(7),
                report_timeout_secs: v(8),
                least_privilege: v(9),
                unused_service_days: v(10),
                advisor_concurrency: v(11),
                never_deny: v(12),
                ..args()
            };
            match Settings::from_args(&args) {
                Ok(s) => {
                    proptest::prop_assert!(s.warn_days < s.dormant_days);
                    proptest::prop_assert!((1..=64).contains(&s.concurrency));
                    proptest::prop_assert!(s.as_of.is_none() || s.mode == Mode::Report);
                    proptest::prop_assert!((1..=20).contains(&s.least_privilege.policy_quota));
                }
                Err(e) => {
                    proptest::prop_assert!(e.flag.starts_with("--"));
                    proptest::prop_assert!(e.env.starts_with("IAM_JANITOR_"));
                    let text = e.to_string();
                    proptest::prop_assert!(text.contains(e.flag) && text.contains(e.env), "{}", text);
                }
            }
        }
    }

    #[test]
    fn bad_glob_is_rejected() {
        let e = Settings::from_args(&SettingsArgs {
            exempt_users: vec!["ok-*".into(), "bad[".into()],
            ..args()
        })
        .unwrap_err();
        assert_eq!((e.flag, e.value.as_str()), ("--exempt-user", "bad["));
    }
}
