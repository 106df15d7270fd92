//! The engine's settings: one struct, read from environment variables in the Lambda and
//! from flags (each mirroring one of those variables) in `cargo xtask audit`.
//!
//! [`SettingsArgs`] is the raw, string-typed input (clap reads the flag, or else the
//! environment variable of the same setting); [`Settings::from_args`] validates it. An
//! invalid value is rejected with an error that names the setting, its variable and the
//! value, before anything is read from or written to AWS.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::inventory::UserDetails;
pub use crate::model::report::Mode;
use crate::model::services::{is_service_prefix, parse_service_list};

pub mod glob;
use glob::Glob;
use std::collections::BTreeSet;

/// Default idle days after which a credential is dormant.
pub const DEFAULT_DORMANT_DAYS: u32 = 90;
/// Default days before the limit at which a warning starts.
pub const DEFAULT_WARN_DAYS: u32 = 14;
/// Default exemption tag.
pub const DEFAULT_EXEMPT_TAG: &str = "iam-janitor:exempt=true";
/// Default circuit breaker: more planned changes than this in one run, and nothing is changed.
///
/// Small on purpose: a first rollout in enforce mode should trip it in an account with a
/// backlog, so a human looks at the report before raising it.
pub const DEFAULT_MAX_ACTIONS: u32 = 25;
/// Default number of users processed at once (live confirmation and writes).
pub const DEFAULT_CONCURRENCY: u32 = 8;
/// Default deadline for the credential report to be generated.
pub const DEFAULT_REPORT_TIMEOUT_SECS: u32 = 300;

/// The services never denied by default.
///
/// `sts`: assuming roles is how users are meant to work; denying it pushes them back to
/// long-lived user permissions. `iam`: per-namespace denial cannot spare the self-service
/// actions (ChangePassword, own MFA and access keys), and a user locked out of rotating
/// their own credentials is worse than an unused IAM grant, which should be removed at
/// its source. Override with `--never-deny`.
pub const DEFAULT_NEVER_DENY: &[&str] = &["iam", "sts"];
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

impl Default for LeastPrivilegeSettings {
    fn default() -> Self {
        LeastPrivilegeSettings {
            enabled: true,
            unused_service_days: 90,
            advisor_concurrency: 8,
            keep_services_tag: crate::trail::KEEP_SERVICES.to_string(),
            never_deny: DEFAULT_NEVER_DENY.iter().map(|s| s.to_string()).collect(),
            policy_quota: 10,
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

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub dormant_days: u32,
    pub warn_days: u32,
    pub exempt_tag: ExemptTag,
    pub exempt_users: Vec<Glob>,
    pub max_actions: u32,
    pub concurrency: usize,
    pub slack_webhook: Option<SlackWebhook>,
    /// Evaluate as if it were this time (report mode only).
    pub as_of: Option<OffsetDateTime>,
    pub report_timeout_secs: u32,
    pub least_privilege: LeastPrivilegeSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Report,
            dormant_days: DEFAULT_DORMANT_DAYS,
            warn_days: DEFAULT_WARN_DAYS,
            exempt_tag: ExemptTag {
                key: crate::trail::EXEMPT.to_string(),
                value: Some("true".to_string()),
            },
            exempt_users: Vec::new(),
            max_actions: DEFAULT_MAX_ACTIONS,
            concurrency: DEFAULT_CONCURRENCY as usize,
            slack_webhook: None,
            as_of: None,
            report_timeout_secs: DEFAULT_REPORT_TIMEOUT_SECS,
            least_privilege: LeastPrivilegeSettings::default(),
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

/// Raw settings as given on the command line or in the environment.
///
/// Every field is a string so that validation, and its error message, is ours: it names
/// the flag, the environment variable and the value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// `report` (change nothing) or `enforce`
    #[arg(long, env = "IAM_JANITOR_MODE", value_name = "report|enforce")]
    pub mode: Option<String>,
    /// Shorthand for `--mode enforce`
    #[arg(long, conflicts_with = "mode")]
    pub enforce: bool,
    /// A credential unused for more than this many days is dormant [default: 90]
    #[arg(long, env = "IAM_JANITOR_DORMANT_DAYS", value_name = "N")]
    pub dormant_days: Option<String>,
    /// Warn this many days before a credential becomes dormant [default: 14]
    #[arg(long, env = "IAM_JANITOR_WARN_DAYS", value_name = "N")]
    pub warn_days: Option<String>,
    /// User tag that exempts a user, KEY or KEY=VALUE [default: iam-janitor:exempt=true]
    #[arg(long, env = "IAM_JANITOR_EXEMPT_TAG", value_name = "KEY[=VALUE]")]
    pub exempt_tag: Option<String>,
    /// Exempt users whose name matches this glob (`*`, `?`); repeatable; comma-separated in the environment
    #[arg(
        long = "exempt-user",
        env = "IAM_JANITOR_EXEMPT_USERS",
        value_name = "GLOB",
        value_delimiter = ','
    )]
    pub exempt_users: Vec<String>,
    /// Circuit breaker: in enforce mode, change nothing if more credentials than this would change [default: 25]
    #[arg(long, env = "IAM_JANITOR_MAX_ACTIONS", value_name = "N")]
    pub max_actions: Option<String>,
    /// Users processed at once during confirmation and writes [default: 8]
    #[arg(long, env = "IAM_JANITOR_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<String>,
    /// Slack incoming-webhook URL for the run's digest
    #[arg(long, env = "IAM_JANITOR_SLACK_WEBHOOK", value_name = "URL", hide_env_values = true)]
    pub slack_webhook: Option<String>,
    /// Evaluate as if it were this time (RFC 3339); report mode only
    #[arg(long, env = "IAM_JANITOR_AS_OF", value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Seconds to wait for IAM to generate the credential report [default: 300]
    #[arg(long, env = "IAM_JANITOR_REPORT_TIMEOUT_SECS", value_name = "SECS")]
    pub report_timeout_secs: Option<String>,
    /// Deny services a user has not used: `on` or `off` [default: on]
    #[arg(long, env = "IAM_JANITOR_LEAST_PRIVILEGE", value_name = "on|off")]
    pub least_privilege: Option<String>,
    /// A service not used for more than this many days is denied [default: 90]
    #[arg(long, env = "IAM_JANITOR_UNUSED_SERVICE_DAYS", value_name = "N")]
    pub unused_service_days: Option<String>,
    /// Access Advisor jobs run at once [default: 8]
    #[arg(long, env = "IAM_JANITOR_ADVISOR_CONCURRENCY", value_name = "N")]
    pub advisor_concurrency: Option<String>,
    /// User tag listing services never to deny that user, e.g. `s3,ec2` [default: iam-janitor:keep-services]
    #[arg(long, env = "IAM_JANITOR_KEEP_SERVICES_TAG", value_name = "KEY")]
    pub keep_services_tag: Option<String>,
    /// Service namespaces never denied to anyone, comma-separated [default: iam,sts]
    #[arg(long, env = "IAM_JANITOR_NEVER_DENY", value_name = "LIST")]
    pub never_deny: Option<String>,
    /// Managed policies a user may have attached (the account's AttachedPoliciesPerUser quota, 10 to 20) [default: 10]
    #[arg(long, env = "IAM_JANITOR_POLICY_QUOTA", value_name = "N")]
    pub policy_quota: Option<String>,
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
                Some(v) => Mode::parse(v).ok_or_else(|| err("--mode", "IAM_JANITOR_MODE", v, "report or enforce"))?,
            }
        };
        let dormant_days = number(
            args.dormant_days.as_deref(),
            "--dormant-days",
            "IAM_JANITOR_DORMANT_DAYS",
            1,
            3650,
            defaults.dormant_days,
        )?;
        let warn_days = number(
            args.warn_days.as_deref(),
            "--warn-days",
            "IAM_JANITOR_WARN_DAYS",
            0,
            3650,
            defaults.warn_days,
        )?;
        if warn_days >= dormant_days {
            return Err(err(
                "--warn-days",
                "IAM_JANITOR_WARN_DAYS",
                &warn_days.to_string(),
                &format!("fewer days than --dormant-days ({dormant_days})"),
            ));
        }
        let exempt_tag = match &args.exempt_tag {
            None => defaults.exempt_tag,
            Some(v) => parse_exempt_tag(v)?,
        };
        let mut exempt_users = Vec::new();
        for pattern in args.exempt_users.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            exempt_users.push(
                Glob::new(pattern)
                    .map_err(|reason| err("--exempt-user", "IAM_JANITOR_EXEMPT_USERS", pattern, &reason))?,
            );
        }
        let max_actions = number(
            args.max_actions.as_deref(),
            "--max-actions",
            "IAM_JANITOR_MAX_ACTIONS",
            0,
            100_000,
            defaults.max_actions,
        )?;
        let concurrency = number(
            args.concurrency.as_deref(),
            "--concurrency",
            "IAM_JANITOR_CONCURRENCY",
            1,
            64,
            DEFAULT_CONCURRENCY,
        )? as usize;
        let slack_webhook = match args.slack_webhook.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(parse_webhook(v)?),
        };
        let as_of = match &args.as_of {
            None => None,
            Some(v) => {
                let t = OffsetDateTime::parse(v.trim(), &Rfc3339).map_err(|_| {
                    err(
                        "--as-of",
                        "IAM_JANITOR_AS_OF",
                        v,
                        "an RFC 3339 time such as 2026-11-21T00:00:00Z",
                    )
                })?;
                if mode == Mode::Enforce {
                    return Err(err(
                        "--as-of",
                        "IAM_JANITOR_AS_OF",
                        v,
                        "no value in enforce mode: evaluating at another time is for reports only",
                    ));
                }
                Some(t.to_offset(time::UtcOffset::UTC))
            }
        };
        let report_timeout_secs = number(
            args.report_timeout_secs.as_deref(),
            "--report-timeout-secs",
            "IAM_JANITOR_REPORT_TIMEOUT_SECS",
            1,
            840,
            defaults.report_timeout_secs,
        )?;
        let least_privilege = least_privilege_settings(args)?;
        Ok(Settings {
            least_privilege,
            mode,
            dormant_days,
            warn_days,
            exempt_tag,
            exempt_users,
            max_actions,
            concurrency,
            slack_webhook,
            as_of,
            report_timeout_secs,
        })
    }

    /// Reads the settings from the process environment only (the Lambda's way).
    pub fn from_env() -> Result<Settings, SettingsError> {
        let var = |name: &str| std::env::var(name).ok();
        Settings::from_args(&SettingsArgs {
            mode: var("IAM_JANITOR_MODE"),
            enforce: false,
            dormant_days: var("IAM_JANITOR_DORMANT_DAYS"),
            warn_days: var("IAM_JANITOR_WARN_DAYS"),
            exempt_tag: var("IAM_JANITOR_EXEMPT_TAG"),
            exempt_users: var("IAM_JANITOR_EXEMPT_USERS")
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            max_actions: var("IAM_JANITOR_MAX_ACTIONS"),
            concurrency: var("IAM_JANITOR_CONCURRENCY"),
            slack_webhook: var("IAM_JANITOR_SLACK_WEBHOOK"),
            as_of: var("IAM_JANITOR_AS_OF"),
            report_timeout_secs: var("IAM_JANITOR_REPORT_TIMEOUT_SECS"),
            least_privilege: var("IAM_JANITOR_LEAST_PRIVILEGE"),
            unused_service_days: var("IAM_JANITOR_UNUSED_SERVICE_DAYS"),
            advisor_concurrency: var("IAM_JANITOR_ADVISOR_CONCURRENCY"),
            keep_services_tag: var("IAM_JANITOR_KEEP_SERVICES_TAG"),
            never_deny: var("IAM_JANITOR_NEVER_DENY"),
            policy_quota: var("IAM_JANITOR_POLICY_QUOTA"),
        })
    }
}

fn least_privilege_settings(args: &SettingsArgs) -> Result<LeastPrivilegeSettings, SettingsError> {
    let defaults = LeastPrivilegeSettings::default();
    let enabled = match args.least_privilege.as_deref().map(str::trim) {
        None => defaults.enabled,
        Some(v) if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(err("--least-privilege", "IAM_JANITOR_LEAST_PRIVILEGE", v, "on or off")),
    };
    let unused_service_days = number(
        args.unused_service_days.as_deref(),
        "--unused-service-days",
        "IAM_JANITOR_UNUSED_SERVICE_DAYS",
        1,
        400,
        defaults.unused_service_days,
    )?;
    let advisor_concurrency = number(
        args.advisor_concurrency.as_deref(),
        "--advisor-concurrency",
        "IAM_JANITOR_ADVISOR_CONCURRENCY",
        1,
        32,
        defaults.advisor_concurrency as u32,
    )? as usize;
    let keep_services_tag = match args.keep_services_tag.as_deref().map(str::trim) {
        None => defaults.keep_services_tag,
        Some(v) => parse_exempt_tag(v)
            .ok()
            .filter(|t| t.value.is_none())
            .map(|t| t.key)
            .ok_or_else(|| {
                err(
                    "--keep-services-tag",
                    "IAM_JANITOR_KEEP_SERVICES_TAG",
                    v,
                    "a valid IAM tag key",
                )
            })?,
    };
    let never_deny = match args.never_deny.as_deref() {
        None => defaults.never_deny,
        Some(v) => {
            let list = parse_service_list(v);
            if let Some(bad) = list.iter().find(|ns| !is_service_prefix(ns)) {
                return Err(err(
                    "--never-deny",
                    "IAM_JANITOR_NEVER_DENY",
                    bad,
                    "service prefixes such as sts,iam (lowercase letters and digits, single hyphens inside)",
                ));
            }
            list
        }
    };
    let policy_quota = number(
        args.policy_quota.as_deref(),
        "--policy-quota",
        "IAM_JANITOR_POLICY_QUOTA",
        1,
        20,
        defaults.policy_quota,
    )?;
    Ok(LeastPrivilegeSettings {
        enabled,
        unused_service_days,
        advisor_concurrency,
        keep_services_tag,
        never_deny,
        policy_quota,
    })
}

fn err(flag: &'static str, env: &'static str, value: &str, expected: &str) -> SettingsError {
    SettingsError {
        flag,
        env,
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

fn number(
    value: Option<&str>,
    flag: &'static str,
    env: &'static str,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, SettingsError> {
    let Some(raw) = value else { return Ok(default) };
    match raw.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(flag, env, raw, &format!("a whole number from {min} to {max}"))),
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
            "--exempt-tag",
            "IAM_JANITOR_EXEMPT_TAG",
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
            "--slack-webhook",
            "IAM_JANITOR_SLACK_WEBHOOK",
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
