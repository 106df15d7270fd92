//! The table of the engine's settings: for each one its flag, environment variable,
//! value name, help, default and bounds, and the member-stack parameter it is deployed as.
//!
//! Everything else is generated from this table or checked against it:
//!
//! - [`SettingsArgs`] (the clap flags, `--help` with its `[default: …]`) and
//!   [`SettingsArgs::from_vars`] (the Lambda's environment) are declared by the macro
//!   below from the same rows;
//! - validation ([`Settings::from_args`]) takes each number's bounds and default from its
//!   row, and `Default for Settings` its numbers (a test checks the rest);
//! - the member stack's engine parameters (`cargo xtask synth` maps the deployed rows),
//!   and the values `cargo xtask deploy` gives them ([`Settings::parameter_values`]);
//! - the README's settings table is checked against it by a test.
//!
//! **A new setting: one row here, plus its use** (its field in [`Settings`], its
//! validation in `from_args`), and a row in the README's table.

use iam_janitor_cfn::id::LogicalId;

use super::Settings;

/// One setting. `V` is what it takes: [`Number`], [`Text`] or a [`Switch`];
/// `Setting` alone (`V` = [`Value`]) is any of them.
#[derive(Debug, Clone)]
pub struct Setting<V = Value> {
    /// The long flag, with its dashes (`--dormant-days`), as errors name it.
    pub flag: &'static str,
    /// The environment variable; `None` for a command-line shorthand (`--enforce`).
    pub env: Option<&'static str>,
    /// The name of the flag's value in `--help`; `None` for a switch.
    pub value_name: Option<&'static str>,
    /// The help text, without the default (`--help` appends `[default: …]`).
    pub help: &'static str,
    pub value: V,
    /// The member stack's parameter, if the setting is deployed.
    pub deployed: Option<Deployed>,
}

/// A whole number from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

/// Text, validated by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// As it would be written on the command line; empty: no value (the setting is off,
    /// or means "now").
    pub default: &'static str,
    /// The canonical values, if only a few are accepted (the template allows only these).
    pub choices: &'static [&'static str],
    /// A secret: `--help` never shows the environment's value, the template masks it.
    pub secret: bool,
}

/// A flag without a value (`--enforce`): command line only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch;

/// What a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Number(Number),
    Text(Text),
    Switch,
}

impl From<Number> for Value {
    fn from(number: Number) -> Value {
        Value::Number(number)
    }
}

impl From<Text> for Value {
    fn from(text: Text) -> Value {
        Value::Text(text)
    }
}

impl From<Switch> for Value {
    fn from(_: Switch) -> Value {
        Value::Switch
    }
}

/// How a setting is deployed: the member stack's parameter, which the function gets in
/// the setting's environment variable. A number's bounds and every default are the row's.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub parameter: LogicalId,
    /// The parameter's description in the template (the console shows it).
    pub description: &'static str,
    pub constraints: Constraints,
    /// The value to deploy, from validated settings, in the form the engine reads back
    /// (canonical: `--dormant-days 060` deploys `60`).
    pub value: fn(&Settings) -> String,
}

/// What the template checks of a text value besides its choices, before the engine does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraints {
    /// `MinLength` and `MaxLength`.
    pub length: Option<(u32, u32)>,
    /// `AllowedPattern` (a Java regular expression), and what to tell the user otherwise.
    pub pattern: Option<(&'static str, &'static str)>,
}

impl Constraints {
    pub const NONE: Constraints = Constraints {
        length: None,
        pattern: None,
    };
}

/// The separator of list values in an environment variable (`IAM_JANITOR_EXEMPT_USERS`).
pub const LIST_DELIMITER: char = ',';

impl<V: Copy + Into<Value>> Setting<V> {
    /// The flag without its dashes, as clap takes it.
    pub fn long(&self) -> &'static str {
        self.flag.trim_start_matches('-')
    }

    /// The default as it would be written on the command line; `None` if there is none.
    pub fn default_value(&self) -> Option<String> {
        match self.value.into() {
            Value::Number(n) => Some(n.default.to_string()),
            Value::Text(t) if !t.default.is_empty() => Some(t.default.to_string()),
            Value::Text(_) | Value::Switch => None,
        }
    }

    /// The help text `--help` shows: the row's, then the default.
    pub fn help_text(&self) -> String {
        match self.default_value() {
            Some(default) => format!("{} [default: {default}]", self.help),
            None => self.help.to_string(),
        }
    }

    /// Whether it takes a number: then a negative value on the command line reaches the
    /// row's own check (which names the flag and its range) instead of clap's
    /// "unexpected argument '-5' found".
    pub fn is_number(&self) -> bool {
        matches!(self.value.into(), Value::Number(_))
    }

    pub fn is_secret(&self) -> bool {
        matches!(self.value.into(), Value::Text(Text { secret: true, .. }))
    }

    /// The row as any setting.
    pub fn erased(&self) -> Setting {
        Setting {
            flag: self.flag,
            env: self.env,
            value_name: self.value_name,
            help: self.help,
            value: self.value.into(),
            deployed: self.deployed.clone(),
        }
    }
}

impl Settings {
    /// Each deployed setting's member-stack parameter and its value, in table order.
    pub fn parameter_values(&self) -> Vec<(LogicalId, String)> {
        settings()
            .into_iter()
            .filter_map(|s| s.deployed)
            .map(|d| (d.parameter, (d.value)(self)))
            .collect()
    }

    /// The deployed Lambda's environment: each deployed setting's variable and value (the
    /// member template maps each parameter to its variable).
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        settings()
            .into_iter()
            .filter_map(|s| Some((s.env?, (s.deployed?.value)(self))))
            .collect()
    }

    /// Checks the environment against Lambda's limit ([`LAMBDA_ENVIRONMENT_LIMIT`] bytes of
    /// names and values together): every account's CreateFunction would fail past it.
    /// The error names the settings that take the most room.
    pub fn check_environment(&self) -> Result<usize, String> {
        let mut sizes: Vec<(&'static str, usize)> = self
            .environment()
            .into_iter()
            .map(|(name, value)| (name, name.len() + value.len()))
            .collect();
        let total: usize = sizes.iter().map(|(_, n)| n).sum();
        if total <= LAMBDA_ENVIRONMENT_LIMIT {
            return Ok(total);
        }
        sizes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let largest: Vec<String> = sizes
            .iter()
            .take(3)
            .map(|(name, n)| {
                let flag = settings()
                    .into_iter()
                    .find(|s| s.env == Some(*name))
                    .map_or("", |s| s.flag);
                format!("{flag} ({name}): {n} bytes")
            })
            .collect();
        Err(format!(
            "the Lambda's environment would be {total} bytes, over Lambda's limit of {LAMBDA_ENVIRONMENT_LIMIT} bytes \
             (names and values together), so CreateFunction would fail in every account; the largest: {}. Shorten \
             them (one --exempt-user glob can cover many users; an exemption tag needs no list at all)",
            largest.join(", ")
        ))
    }
}

/// Lambda's limit on a function's environment variables: 4 KB, names and values together.
pub const LAMBDA_ENVIRONMENT_LIMIT: usize = 4096;

/// A field of [`SettingsArgs`] from its environment variable's value.
trait FromVar {
    fn from_var(value: Option<String>) -> Self;
}

impl FromVar for Option<String> {
    fn from_var(value: Option<String>) -> Self {
        value
    }
}

/// A list: comma-separated in the environment (repeated on the command line).
impl FromVar for Vec<String> {
    fn from_var(value: Option<String>) -> Self {
        value
            .map(|v| v.split(LIST_DELIMITER).map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// A switch: never set by the environment.
impl FromVar for bool {
    fn from_var(_: Option<String>) -> Self {
        false
    }
}

/// Declares, from one list of rows, each row's constant, [`settings`], and the
/// [`SettingsArgs`] field read from the row's flag or environment variable. A row:
/// `CONST: Setting<Kind> => field: FieldType [extra clap arguments] = Setting { … };`.
macro_rules! settings {
    ($(
        $(#[$meta:meta])*
        $name:ident: Setting<$kind:ident> => $field:ident: $ty:ty $([$($clap:tt)*])? = $row:expr;
    )*) => {
        $(
            $(#[$meta])*
            pub const $name: Setting<$kind> = $row;
        )*

        /// Every setting, in the order of `--help` and of the template's parameters.
        pub fn settings() -> Vec<Setting> {
            vec![$($name.erased()),*]
        }

        /// Raw settings as given on the command line or in the environment.
        ///
        /// Every field is a string so that validation, and its error message, is ours: it names
        /// the flag, the environment variable and the value.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct SettingsArgs {
            $(
                #[arg(
                    long = $name.long(),
                    env = $name.env,
                    value_name = $name.value_name,
                    help = $name.help_text(),
                    hide_env_values = $name.is_secret(),
                    allow_negative_numbers = $name.is_number()
                    $(, $($clap)*)?
                )]
                pub $field: $ty,
            )*
        }

        impl SettingsArgs {
            /// The raw settings from environment variables only (the Lambda's way), each
            /// read with `var`.
            pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> SettingsArgs {
                SettingsArgs {
                    $($field: FromVar::from_var($name.env.and_then(&var)),)*
                }
            }
        }
    };
}

settings! {
    /// Report or enforce; `--enforce` is its shorthand.
    MODE: Setting<Text> => mode: Option<String> = Setting {
        flag: "--mode",
        env: Some("IAM_JANITOR_MODE"),
        value_name: Some("report|enforce"),
        help: "`report` (change nothing) or `enforce`",
        value: Text { default: "report", choices: &["report", "enforce"], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("Mode"),
            description: "report: change nothing, only report; enforce: disable dormant credentials",
            constraints: Constraints::NONE,
            value: |s| s.mode.to_string(),
        }),
    };

    ENFORCE: Setting<Switch> => enforce: bool [conflicts_with = "mode"] = Setting {
        flag: "--enforce",
        env: None,
        value_name: None,
        help: "Shorthand for `--mode enforce`",
        value: Switch,
        deployed: None,
    };

    /// Whether a manual invoke's `{"mode": "enforce"}` may enforce in a deployment set
    /// to report. Off by default: otherwise anyone allowed `lambda:InvokeFunction` could.
    INVOKE_OVERRIDE: Setting<Text> => invoke_override: Option<String> = Setting {
        flag: "--invoke-override",
        env: Some("IAM_JANITOR_INVOKE_OVERRIDE"),
        value_name: Some("on|off"),
        help: "Lambda only: whether an invoke payload {\"mode\": \"enforce\"} may enforce a run when the mode is report (`{\"mode\": \"report\"}` is always honoured)",
        value: Text { default: "off", choices: &["on", "off"], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("InvokeOverride"),
            description: "on: a manual invoke with {\"mode\": \"enforce\"} enforces one run although Mode is report (anyone allowed lambda:InvokeFunction on the function could); off: such an invoke is refused",
            constraints: Constraints::NONE,
            value: |s| if s.invoke_override { "on" } else { "off" }.to_string(),
        }),
    };

    DORMANT_DAYS: Setting<Number> => dormant_days: Option<String> = Setting {
        flag: "--dormant-days",
        env: Some("IAM_JANITOR_DORMANT_DAYS"),
        value_name: Some("N"),
        help: "A credential unused for more than this many days is dormant",
        value: Number { min: 1, max: 3650, default: 90 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("DormantDays"),
            description: "A credential unused for more than this many days is dormant",
            constraints: Constraints::NONE,
            value: |s| s.dormant_days.to_string(),
        }),
    };

    WARN_DAYS: Setting<Number> => warn_days: Option<String> = Setting {
        flag: "--warn-days",
        env: Some("IAM_JANITOR_WARN_DAYS"),
        value_name: Some("N"),
        help: "Warn this many days before a credential becomes dormant",
        value: Number { min: 0, max: 3650, default: 14 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("WarnDays"),
            description: "Warn this many days before a credential becomes dormant (0: never); fewer than DormantDays",
            constraints: Constraints::NONE,
            value: |s| s.warn_days.to_string(),
        }),
    };

    SIGNING_CERTIFICATES: Setting<Text> => signing_certificates: Option<String> = Setting {
        flag: "--signing-certificates",
        env: Some("IAM_JANITOR_SIGNING_CERTIFICATES"),
        value_name: Some("report|deactivate"),
        help: "Signing certificates older than --dormant-days (IAM records no use of them): `report` them, or `deactivate` them too",
        value: Text { default: "report", choices: &["report", "deactivate"], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("SigningCertificates"),
            description: "Signing certificates older than DormantDays (IAM records no use of them): report them, or deactivate them too",
            constraints: Constraints::NONE,
            value: |s| s.signing_certificates.to_string(),
        }),
    };

    SSH_KEY_SWEEP: Setting<Number> => ssh_key_sweep: Option<String> = Setting {
        flag: "--ssh-key-sweep",
        env: Some("IAM_JANITOR_SSH_KEY_SWEEP"),
        value_name: Some("N"),
        help: "Users whose SSH public keys are listed per run, in turn (no bulk call lists them; 0: never)",
        value: Number { min: 0, max: 100_000, default: 500 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("SshKeySweep"),
            description: "Users whose SSH public keys are listed per run, in turn (no bulk call lists them; 0: never)",
            constraints: Constraints::NONE,
            value: |s| s.ssh_key_sweep.to_string(),
        }),
    };

    EXEMPT_TAG: Setting<Text> => exempt_tag: Option<String> = Setting {
        flag: "--exempt-tag",
        env: Some("IAM_JANITOR_EXEMPT_TAG"),
        value_name: Some("KEY[=VALUE]"),
        help: "User tag that exempts a user, KEY or KEY=VALUE",
        value: Text { default: "iam-janitor:exempt=true", choices: &[], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("ExemptTag"),
            description: "Users with this tag, KEY or KEY=VALUE, are never changed (compared case-insensitively)",
            // A key of up to 128 characters, `=`, a value of up to 256.
            constraints: Constraints { length: Some((1, 385)), pattern: None },
            value: |s| s.exempt_tag.to_string(),
        }),
    };

    EXEMPT_USERS: Setting<Text> => exempt_users: Vec<String> [value_delimiter = LIST_DELIMITER] = Setting {
        flag: "--exempt-user",
        env: Some("IAM_JANITOR_EXEMPT_USERS"),
        value_name: Some("GLOB"),
        help: "Exempt users whose name matches this glob (`*`, `?`); repeatable; comma-separated in the environment",
        value: Text { default: "", choices: &[], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("ExemptUsers"),
            description: "Users whose name matches one of these comma-separated globs (* and ?) are never changed",
            constraints: Constraints::NONE,
            value: |s| {
                let globs: Vec<&str> = s.exempt_users.iter().map(|g| g.as_str()).collect();
                globs.join(",")
            },
        }),
    };

    /// Small on purpose: a first rollout in enforce mode should trip it in an account with
    /// a backlog, so that a human looks at the report before raising it.
    MAX_ACTIONS: Setting<Number> => max_actions: Option<String> = Setting {
        flag: "--max-actions",
        env: Some("IAM_JANITOR_MAX_ACTIONS"),
        value_name: Some("N"),
        help: "Circuit breaker: in enforce mode, change nothing if more credentials than this would change",
        value: Number { min: 0, max: 100_000, default: 25 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("MaxActions"),
            description: "Circuit breaker: in enforce mode, if more credentials than this would change, change none",
            constraints: Constraints::NONE,
            value: |s| s.max_actions.to_string(),
        }),
    };

    CONCURRENCY: Setting<Number> => concurrency: Option<String> = Setting {
        flag: "--concurrency",
        env: Some("IAM_JANITOR_CONCURRENCY"),
        value_name: Some("N"),
        help: "Users processed at once during confirmation and writes",
        value: Number { min: 1, max: 64, default: 8 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("Concurrency"),
            description: "Users confirmed and changed at once",
            constraints: Constraints::NONE,
            value: |s| s.concurrency.to_string(),
        }),
    };

    SLACK_WEBHOOK: Setting<Text> => slack_webhook: Option<String> = Setting {
        flag: "--slack-webhook",
        env: Some("IAM_JANITOR_SLACK_WEBHOOK"),
        value_name: Some("URL"),
        help: "Slack incoming-webhook URL for the run's digest",
        value: Text { default: "", choices: &[], secret: true },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("SlackWebhook"),
            description: "Slack incoming-webhook URL for the run's digest; empty: no Slack",
            constraints: Constraints { length: None, pattern: Some(("^(https://.+)?$", "empty, or an https:// URL")) },
            value: |s| s.slack_webhook.as_ref().map(|w| w.url().to_string()).unwrap_or_default(),
        }),
    };

    SLACK_SCOPE: Setting<Text> => slack_scope: Option<String> = Setting {
        flag: "--slack-scope",
        env: Some("IAM_JANITOR_SLACK_SCOPE"),
        value_name: Some("account|org|both"),
        help: "Which Slack digests the webhook gets: `account` (each run's own), `org` (only the organization digest, which the management account posts on its org-digest schedule) or `both`",
        value: Text { default: "both", choices: &["account", "org", "both"], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("SlackScope"),
            description: "account: each run posts its own digest; org: only the organization digest (posted by the management account on OrgDigestSchedule), runs post none; both",
            constraints: Constraints::NONE,
            value: |s| s.slack_scope.to_string(),
        }),
    };

    /// Not a parameter: the member stack gives its own table's name.
    STATE_TABLE: Setting<Text> => state_table: Option<String> = Setting {
        flag: "--state-table",
        env: Some("IAM_JANITOR_STATE_TABLE"),
        value_name: Some("NAME"),
        help: "DynamoDB table holding least privilege's memory across runs (when each service was first seen, when each user was last checked); none: every run is a first sighting",
        value: Text { default: "", choices: &[], secret: false },
        deployed: None,
    };

    /// Not a parameter: the member stack gives the organization's bucket (deploy passes
    /// the artifact stack's `ReportBucketName`).
    REPORT_BUCKET: Setting<Text> => report_bucket: Option<String> = Setting {
        flag: "--report-bucket",
        env: Some("IAM_JANITOR_REPORT_BUCKET"),
        value_name: Some("NAME"),
        help: "S3 bucket of the organization's run reports: after each run its JSON report is stored under reports/account=<id>/date=<YYYY-MM-DD>/ (a failure to store is reported, never fails the run); none: not stored",
        value: Text { default: "", choices: &[], secret: false },
        deployed: None,
    };

    IAM_RATE: Setting<Number> => iam_rate: Option<String> = Setting {
        flag: "--iam-rate",
        env: Some("IAM_JANITOR_IAM_RATE"),
        value_name: Some("N"),
        help: "IAM requests per second at most, every attempt and page counted (IAM throttles each account well below what a client can send)",
        value: Number { min: 1, max: 1000, default: 10 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("IamRate"),
            description: "IAM requests per second at most (IAM throttles each account; raise it only if the account allows more)",
            constraints: Constraints::NONE,
            value: |s| s.iam_rate.to_string(),
        }),
    };

    /// Not a parameter: the Lambda's budget is its invocation's deadline.
    TIME_BUDGET_SECS: Setting<Number> => time_budget_secs: Option<String> = Setting {
        flag: "--time-budget",
        env: Some("IAM_JANITOR_TIME_BUDGET_SECS"),
        value_name: Some("SECS"),
        help: "Stop starting new users after this many seconds, report what was done and leave the rest to the next run (0: no budget)",
        value: Number { min: 0, max: 86_400, default: 0 },
        deployed: None,
    };

    /// Not deployed: evaluating as of another time is for local reports (`cargo xtask audit`).
    AS_OF: Setting<Text> => as_of: Option<String> = Setting {
        flag: "--as-of",
        env: Some("IAM_JANITOR_AS_OF"),
        value_name: Some("RFC3339"),
        help: "Evaluate as if it were this time (RFC 3339); report mode only",
        value: Text { default: "", choices: &[], secret: false },
        deployed: None,
    };

    REPORT_TIMEOUT_SECS: Setting<Number> => report_timeout_secs: Option<String> = Setting {
        flag: "--report-timeout-secs",
        env: Some("IAM_JANITOR_REPORT_TIMEOUT_SECS"),
        value_name: Some("SECS"),
        help: "Seconds to wait for IAM to generate the credential report",
        value: Number { min: 1, max: 840, default: 300 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("ReportTimeoutSecs"),
            description: "Seconds to wait for IAM to generate the credential report; less than Timeout",
            constraints: Constraints::NONE,
            value: |s| s.report_timeout_secs.to_string(),
        }),
    };

    LEAST_PRIVILEGE: Setting<Text> => least_privilege: Option<String> = Setting {
        flag: "--least-privilege",
        env: Some("IAM_JANITOR_LEAST_PRIVILEGE"),
        value_name: Some("on|off"),
        help: "Deny services a user has not used: `on` or `off`",
        value: Text { default: "on", choices: &["on", "off"], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("LeastPrivilege"),
            description: "on: deny users the services they have not used (Access Advisor); off: never",
            constraints: Constraints::NONE,
            value: |s| if s.least_privilege.enabled { "on" } else { "off" }.to_string(),
        }),
    };

    UNUSED_SERVICE_DAYS: Setting<Number> => unused_service_days: Option<String> = Setting {
        flag: "--unused-service-days",
        env: Some("IAM_JANITOR_UNUSED_SERVICE_DAYS"),
        value_name: Some("N"),
        help: "A service not used for more than this many days is denied",
        value: Number { min: 1, max: 400, default: 90 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("UnusedServiceDays"),
            description: "A service not used for more than this many days is denied",
            constraints: Constraints::NONE,
            value: |s| s.least_privilege.unused_service_days.to_string(),
        }),
    };

    ADVISOR_CONCURRENCY: Setting<Number> => advisor_concurrency: Option<String> = Setting {
        flag: "--advisor-concurrency",
        env: Some("IAM_JANITOR_ADVISOR_CONCURRENCY"),
        value_name: Some("N"),
        help: "Access Advisor jobs run at once",
        value: Number { min: 1, max: 32, default: 8 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("AdvisorConcurrency"),
            description: "Access Advisor jobs run at once",
            constraints: Constraints::NONE,
            value: |s| s.least_privilege.advisor_concurrency.to_string(),
        }),
    };

    KEEP_SERVICES_TAG: Setting<Text> => keep_services_tag: Option<String> = Setting {
        flag: "--keep-services-tag",
        env: Some("IAM_JANITOR_KEEP_SERVICES_TAG"),
        value_name: Some("KEY"),
        help: "User tag listing services never to deny that user, e.g. `s3,ec2`",
        value: Text { default: crate::trail::KEEP_SERVICES, choices: &[], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("KeepServicesTag"),
            description: "User tag listing services never to deny that user, e.g. s3,ec2",
            constraints: Constraints { length: Some((1, 128)), pattern: None },
            value: |s| s.least_privilege.keep_services_tag.clone(),
        }),
    };

    /// `sts`: assuming roles is how users are meant to work; denying it pushes them back to
    /// long-lived user permissions. `iam`: per-namespace denial cannot spare the
    /// self-service actions (ChangePassword, own MFA and access keys), and a user locked
    /// out of rotating their own credentials is worse than an unused IAM grant, which
    /// should be removed at its source.
    NEVER_DENY: Setting<Text> => never_deny: Option<String> = Setting {
        flag: "--never-deny",
        env: Some("IAM_JANITOR_NEVER_DENY"),
        value_name: Some("LIST"),
        help: "Service namespaces never denied to anyone, comma-separated",
        value: Text { default: "iam,sts", choices: &[], secret: false },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("NeverDeny"),
            description: "Service namespaces never denied to anyone, comma-separated",
            constraints: Constraints::NONE,
            value: |s| {
                let services: Vec<&str> = s.least_privilege.never_deny.iter().map(String::as_str).collect();
                services.join(",")
            },
        }),
    };

    POLICY_QUOTA: Setting<Number> => policy_quota: Option<String> = Setting {
        flag: "--policy-quota",
        env: Some("IAM_JANITOR_POLICY_QUOTA"),
        value_name: Some("N"),
        help: "Managed policies a user may have attached (the account's AttachedPoliciesPerUser quota, 10 to 20)",
        value: Number { min: 1, max: 20, default: 10 },
        deployed: Some(Deployed {
            parameter: LogicalId::from_static("PolicyQuota"),
            description: "Managed policies a user may have attached (the account's AttachedPoliciesPerUser quota)",
            constraints: Constraints::NONE,
            value: |s| s.least_privilege.policy_quota.to_string(),
        }),
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::{BTreeMap, BTreeSet};

    use clap::Args;

    use super::*;

    /// The raw settings with only `env` set, to `value`.
    fn only(env: &str, value: &str) -> SettingsArgs {
        SettingsArgs::from_vars(|name| (name == env).then(|| value.to_string()))
    }

    fn numbers() -> Vec<(Setting, Number)> {
        settings()
            .into_iter()
            .filter_map(|s| match s.value {
                Value::Number(n) => Some((s, n)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn flags_variables_and_parameters_are_unique() {
        let rows = settings();
        let flags: BTreeSet<_> = rows.iter().map(|s| s.flag).collect();
        let envs: BTreeSet<_> = rows.iter().filter_map(|s| s.env).collect();
        let parameters: BTreeSet<_> = rows
            .iter()
            .filter_map(|s| s.deployed.clone())
            .map(|d| d.parameter)
            .collect();
        assert_eq!(flags.len(), rows.len());
        assert_eq!(envs.len(), rows.iter().filter(|s| s.env.is_some()).count());
        assert_eq!(parameters.len(), rows.iter().filter(|s| s.deployed.is_some()).count());
        for s in &rows {
            assert!(
                s.flag.starts_with("--") && s.long().len() + 2 == s.flag.len(),
                "{}",
                s.flag
            );
            assert!(s.env.is_none_or(|e| e.starts_with("IAM_JANITOR_")), "{}", s.flag);
        }
    }

    #[test]
    fn rows_are_well_formed() {
        for s in settings() {
            let is_switch = s.value == Value::Switch;
            // A switch is a command-line shorthand: no variable, no value, not deployed.
            // Everything else can be given in the environment (the Lambda's only way).
            assert_eq!(s.env.is_none(), is_switch, "{}", s.flag);
            assert_eq!(s.value_name.is_none(), is_switch, "{}", s.flag);
            assert!(!(is_switch && s.deployed.is_some()), "{}", s.flag);
            assert!(!s.help.contains("[default:"), "{}: the default is appended", s.flag);
            match s.value {
                Value::Number(n) => {
                    assert!(n.min <= n.default && n.default <= n.max, "{}", s.flag);
                    assert!(
                        s.deployed.as_ref().is_none_or(|d| d.constraints == Constraints::NONE),
                        "{}: no text constraints on a number",
                        s.flag
                    );
                }
                Value::Text(t) => {
                    if !t.choices.is_empty() {
                        assert!(t.choices.contains(&t.default), "{}", s.flag);
                        assert_eq!(s.value_name, Some(t.choices.join("|").as_str()), "{}", s.flag);
                    }
                    if let Some(Constraints {
                        length: Some((min, max)),
                        ..
                    }) = s.deployed.as_ref().map(|d| d.constraints)
                    {
                        let len = t.default.chars().count() as u32;
                        assert!(min <= len && len <= max, "{}: the default fits its length", s.flag);
                    }
                }
                Value::Switch => {}
            }
        }
    }

    /// `--dormant-days -5` reaches the setting's own check, whose error names the flag,
    /// the variable and the range (not clap's "unexpected argument '-5' found").
    #[test]
    fn a_negative_number_is_rejected_by_its_own_setting() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        for (s, n) in numbers() {
            for value in ["-5", "-1", "-0.5"] {
                let cli = <Cli as clap::Parser>::try_parse_from(["audit", s.flag, value])
                    .unwrap_or_else(|e| panic!("{} {value}: {e}", s.flag));
                let err = Settings::from_args(&cli.settings).unwrap_err();
                let text = err.to_string();
                assert!(text.contains(s.flag) && text.contains(value), "{text}");
                assert!(text.contains(&format!("from {} to {}", n.min, n.max)), "{text}");
            }
        }
    }

    /// clap's arguments are exactly the table's rows, with their names, help and defaults.
    #[test]
    fn settings_args_are_the_table() {
        let command = SettingsArgs::augment_args(clap::Command::new("settings"));
        let args: Vec<&clap::Arg> = command.get_arguments().collect();
        let rows = settings();
        assert_eq!(args.len(), rows.len());
        for (arg, s) in args.iter().zip(&rows) {
            assert_eq!(arg.get_long(), Some(s.long()));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), s.env, "{}", s.flag);
            let value_names: Vec<String> = arg
                .get_value_names()
                .unwrap_or_default()
                .iter()
                .map(|n| n.to_string())
                .collect();
            if s.value != Value::Switch {
                assert_eq!(value_names, s.value_name.into_iter().collect::<Vec<_>>(), "{}", s.flag);
            }
            assert_eq!(arg.get_help().map(|h| h.to_string()), Some(s.help_text()), "{}", s.flag);
            assert_eq!(arg.is_hide_env_values_set(), s.is_secret(), "{}", s.flag);
        }
        assert_eq!(
            DORMANT_DAYS.help_text(),
            "A credential unused for more than this many days is dormant [default: 90]"
        );
        assert_eq!(AS_OF.help_text(), AS_OF.help, "no default, no suffix");
    }

    /// Validation takes each number's bounds from its row: just outside them is rejected
    /// with the row's flag, variable and range; the bounds themselves are in range.
    #[test]
    fn number_bounds_are_the_tables() {
        assert!(!numbers().is_empty());
        for (s, Number { min, max, .. }) in numbers() {
            let env = s.env.unwrap();
            let range = format!("a whole number from {min} to {max}");
            let mut outside = vec![u64::from(max) + 1, 0x1_0000_0000];
            if min > 0 {
                outside.push(u64::from(min) - 1);
            }
            for value in outside {
                let e = Settings::from_args(&only(env, &value.to_string())).unwrap_err();
                assert_eq!(
                    (e.flag, e.env, e.expected.as_str()),
                    (s.flag, env, range.as_str()),
                    "{value}"
                );
            }
            for value in [min, max] {
                // Within range: accepted, or rejected for another reason (`--warn-days`
                // must stay below `--dormant-days`).
                if let Err(e) = Settings::from_args(&only(env, &value.to_string())) {
                    assert_ne!(e.expected, range, "{} {value}", s.flag);
                }
            }
        }
    }

    /// Each variable feeds its own setting: a bad value in it is rejected by name.
    #[test]
    fn each_variable_is_read_and_validated_as_its_setting() {
        let bad = BTreeMap::from([
            ("--mode", "yolo"),
            ("--signing-certificates", "sometimes"),
            ("--exempt-tag", "aws:reserved"),
            ("--exempt-user", "ok,bad["),
            ("--slack-webhook", "http://hooks.example.com/x"),
            ("--as-of", "yesterday"),
            ("--least-privilege", "maybe"),
            ("--keep-services-tag", "k=v"),
            ("--never-deny", "s3:*"),
            ("--state-table", "no/slashes"),
            ("--report-bucket", "Reports_Bucket"),
            ("--invoke-override", "sometimes"),
            ("--slack-scope", "channel"),
        ]);
        for s in settings() {
            let Some(env) = s.env else { continue };
            let value = match s.value {
                Value::Number(_) => "ninety",
                Value::Text(_) => bad
                    .get(s.flag)
                    .copied()
                    .unwrap_or_else(|| panic!("a bad {} here", s.flag)),
                Value::Switch => unreachable!(),
            };
            let e = Settings::from_args(&only(env, value)).unwrap_err();
            assert_eq!((e.flag, e.env), (s.flag, env));
        }
        assert!(Settings::from_args(&SettingsArgs::from_vars(|_| None)).is_ok());
        assert_eq!(only("IAM_JANITOR_EXEMPT_USERS", "a-*,b").exempt_users, ["a-*", "b"]);
    }

    /// `Default for Settings` is the table's defaults, as if each were given.
    #[test]
    fn defaults_are_the_tables() {
        let rows = settings();
        let defaults: BTreeMap<&str, String> = rows.iter().filter_map(|s| Some((s.env?, s.default_value()?))).collect();
        let args = SettingsArgs::from_vars(|name| defaults.get(name).cloned());
        assert_eq!(
            format!("{:?}", Settings::from_args(&args).unwrap()),
            format!("{:?}", Settings::default())
        );
        assert_eq!(MODE.value.default, Settings::default().mode.to_string());
        // A text without a default is off.
        let defaults = Settings::default();
        assert!(defaults.exempt_users.is_empty() && defaults.slack_webhook.is_none() && defaults.as_of.is_none());
    }

    /// Lambda's 4 KB environment: the defaults fit; a long exemption list does not, and the
    /// error names it before any account's CreateFunction fails.
    #[test]
    fn the_environment_is_checked_against_lambdas_limit() {
        let defaults = Settings::default();
        let env = defaults.environment();
        let deployed_with_env = settings()
            .into_iter()
            .filter(|s| s.deployed.is_some() && s.env.is_some())
            .count();
        assert_eq!(env.len(), deployed_with_env);
        let total = defaults.check_environment().unwrap();
        assert_eq!(total, env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
        assert!(total < LAMBDA_ENVIRONMENT_LIMIT / 2, "{total}");

        let users: Vec<String> = (0..200).map(|i| format!("break-glass-admin-{i:03}")).collect();
        let long = Settings::from_args(&only("IAM_JANITOR_EXEMPT_USERS", &users.join(","))).unwrap();
        let err = long.check_environment().unwrap_err();
        assert!(err.contains("over Lambda's limit of 4096 bytes"), "{err}");
        assert!(
            err.contains("--exempt-user (IAM_JANITOR_EXEMPT_USERS): "),
            "the largest first: {err}"
        );
    }

    /// What deploy gives the template reads back as the same settings, and the defaults
    /// deploy as the table's defaults (the template's).
    #[test]
    fn deployed_values_read_back_as_the_same_settings() {
        let rows = settings();
        let env_of: BTreeMap<String, &str> = rows
            .iter()
            .filter_map(|s| Some((s.deployed.clone()?.parameter.as_str().to_string(), s.env?)))
            .collect();
        let read_back = |settings: &Settings| {
            let vars: BTreeMap<&str, String> = settings
                .parameter_values()
                .into_iter()
                .map(|(id, value)| (env_of[id.as_str()], value))
                .collect();
            Settings::from_args(&SettingsArgs::from_vars(|name| vars.get(name).cloned())).unwrap()
        };
        let defaults = Settings::default();
        assert_eq!(format!("{:?}", read_back(&defaults)), format!("{defaults:?}"));
        let given = [
            ("IAM_JANITOR_MODE", "ENFORCE"),
            ("IAM_JANITOR_DORMANT_DAYS", "060"),
            ("IAM_JANITOR_EXEMPT_TAG", "Owner = SecOps"),
            ("IAM_JANITOR_EXEMPT_USERS", "admin-*, ci-?"),
            ("IAM_JANITOR_SLACK_WEBHOOK", "https://hooks.slack.com/services/T/B/x"),
            ("IAM_JANITOR_LEAST_PRIVILEGE", "false"),
            ("IAM_JANITOR_NEVER_DENY", "sts kms"),
        ];
        let settings = Settings::from_args(&SettingsArgs::from_vars(|name| {
            given.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        }))
        .unwrap();
        assert_eq!(format!("{:?}", read_back(&settings)), format!("{settings:?}"));
        for (s, (id, value)) in rows
            .iter()
            .filter(|s| s.deployed.is_some())
            .zip(defaults.parameter_values())
        {
            assert_eq!(s.deployed.clone().unwrap().parameter, id);
            assert_eq!(value, s.default_value().unwrap_or_default(), "{}", s.flag);
        }
    }

    /// The cells of a Markdown table row (`\|` is a pipe inside a cell).
    fn cells(line: &str) -> Vec<String> {
        line.replace("\\|", "\u{0}")
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.replace('\u{0}', "|").trim().to_string())
            .collect()
    }

    /// The `--flag`s or `IAM_JANITOR_` variables a cell names in backticks.
    fn names(cell: &str, prefix: &str) -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|code| code.split(' ').next())
            .filter(|name| name.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    /// Flags of `cargo xtask audit` in the README's table that are not engine settings.
    const NOT_SETTINGS: [&str; 1] = ["--format"];

    /// The README's settings table names every setting with its variable and default, and
    /// no setting the table lacks.
    #[test]
    fn readme_settings_table_matches() {
        let readme = include_str!("../../../README.md");
        let rows: Vec<Vec<String>> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| flag (environment variable) | default | meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(cells)
            .collect();
        assert!(rows.len() > 10, "the README's settings table");
        let table = settings();
        for row in &rows {
            for flag in names(&row[0], "--") {
                assert!(
                    table.iter().any(|s| s.flag == flag) || NOT_SETTINGS.contains(&flag.as_str()),
                    "the README names {flag}, which is not in the settings table"
                );
            }
            for env in names(&row[0], "IAM_JANITOR_") {
                assert!(table.iter().any(|s| s.env == Some(env.as_str())), "{env}");
            }
        }
        for s in &table {
            let row = rows
                .iter()
                .find(|row| names(&row[0], "--").contains(&s.flag.to_string()))
                .unwrap_or_else(|| panic!("{} is not in the README's settings table", s.flag));
            let Some(env) = s.env else { continue };
            assert_eq!(names(&row[0], "IAM_JANITOR_"), [env], "{}", s.flag);
            let shown = row[1].trim_matches('`');
            match s.default_value() {
                Some(default) => assert_eq!(shown, default, "{}", s.flag),
                None => assert!(["none", "now"].contains(&shown), "{}: {shown}", s.flag),
            }
        }
    }
}
