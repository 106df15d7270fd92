//! The desired state: the engine's settings and the deployment as member-stack
//! parameters, the template's defaults for the rest, the stacks as they should be, and
//! the checks on what the command line gives (OU IDs, schedules).

use std::collections::BTreeMap;

use iam_janitor::settings::Settings;
use iam_janitor::settings::table::SLACK_WEBHOOK;
use iam_janitor_cfn::stacks::member;
use serde_json::Value;

use super::{TEMPLATE_BODY_LIMIT, WEBHOOK_TAG};

/// The S3 key of a code zip: content-addressed, so a new build is a new key and an
/// unchanged build is never uploaded twice. (The same rule as `package::artifact_key`.)
pub(crate) fn code_key(sha256_hex: &str) -> String {
    crate::package::artifact_key(sha256_hex)
}

pub(crate) use crate::package::sha256_hex;

/// The value of [`WEBHOOK_TAG`]: `none`, or the first 16 hex digits of a sha256 of the
/// URL. A change of webhook changes the tag, and so the plan; the tag tells nothing
/// usable about the URL (its secret part is a long random token).
fn webhook_fingerprint(url: &str) -> String {
    if url.is_empty() {
        "none".to_string()
    } else {
        let digest = sha256_hex(format!("iam-janitor slack webhook\n{url}").as_bytes());
        format!("sha256:{}", &digest[..16])
    }
}

/// Whether `id` is a root (`r-…`) or OU (`ou-…-…`) ID, as StackSets' DeploymentTargets
/// take them: `^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$`.
pub(crate) fn is_org_unit_id(id: &str) -> bool {
    fn lower_alnum(s: &str, min: usize, max: usize) -> bool {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }
    if let Some(rest) = id.strip_prefix("r-") {
        lower_alnum(rest, 4, 32)
    } else if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-')
            .is_some_and(|(root, ou)| lower_alnum(root, 4, 32) && lower_alnum(ou, 8, 32))
    } else {
        false
    }
}

/// Whether `expression` has the shape the template accepts: `cron(…)` or `rate(…)`.
/// (EventBridge checks the fields; a bad one fails the stack with its reason.)
pub(crate) fn is_schedule_expression(expression: &str) -> bool {
    (expression.starts_with("cron(") || expression.starts_with("rate("))
        && expression.ends_with(')')
        && expression.len() > "cron()".len()
}

/// Whether `address` has an email address's shape, as the artifact stack's `AlarmEmail`
/// pattern checks it (`name@domain.tld`, no spaces).
pub(crate) fn is_email_address(address: &str) -> bool {
    let Some((name, domain)) = address.split_once('@') else {
        return false;
    };
    let fine = |s: &str| !s.is_empty() && !s.contains('@') && !s.chars().any(char::is_whitespace);
    fine(name)
        && fine(domain)
        && domain
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
}

/// Whether `arn` is an SNS topic's ARN, as the artifact stack's `AlarmTopicArn` pattern
/// checks it.
/// The artifact stack's `ReportAccounts`: the organization's accounts, comma-separated,
/// or empty when they do not fit in a CloudFormation parameter value (4,096 characters,
/// about 315 accounts): the Athena table then takes accounts from each query.
pub(crate) fn report_accounts(accounts: &[String]) -> String {
    let joined = accounts.join(",");
    if joined.len() <= MAX_PARAMETER_VALUE {
        joined
    } else {
        String::new()
    }
}

/// The largest value of a CloudFormation parameter.
pub(crate) const MAX_PARAMETER_VALUE: usize = 4096;

pub(crate) fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(parts.as_slice(), ["arn", partition, "sns", region, account, name]
        if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && (1..=256).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The engine's settings as member-stack parameters, each in the canonical form of its
/// validated value (so that `--dormant-days 060` and `60` deploy the same thing): the
/// deployed rows of the engine's settings table ([`Settings::parameter_values`]).
///
/// A test checks them against the template's engine parameters.
fn engine_parameters(settings: &Settings) -> BTreeMap<String, String> {
    settings
        .parameter_values()
        .into_iter()
        .map(|(id, value)| (id.as_str().to_string(), value))
        .collect()
}

/// The deployment parameters `deploy` sets besides the engine's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployment {
    pub(crate) code_bucket: String,
    pub(crate) code_key: String,
    pub(crate) architecture: String,
    pub(crate) schedule: String,
    /// The organization's alert bus (the artifact stack's), which the alarms are forwarded to.
    pub(crate) alert_bus: String,
    /// `--missed-run-hours`.
    pub(crate) missed_run_hours: String,
    /// The organization's report bucket (the artifact stack's).
    pub(crate) report_bucket: String,
    /// The KMS key the report bucket encrypts with (`--report-kms-key-arn`); empty: SSE-S3.
    pub(crate) report_kms_key_arn: String,
    /// When the organization digest is posted: the management account's stack only
    /// (`--org-digest-schedule`); empty for the StackSet's.
    pub(crate) org_digest_schedule: String,
}

impl Deployment {
    fn parameters(&self) -> BTreeMap<String, String> {
        [
            (member::CODE_BUCKET, &self.code_bucket),
            (member::CODE_KEY, &self.code_key),
            (member::ARCHITECTURE, &self.architecture),
            (member::SCHEDULE_EXPRESSION, &self.schedule),
            (member::ALERT_BUS_ARN, &self.alert_bus),
            (member::MISSED_RUN_HOURS, &self.missed_run_hours),
            (member::REPORT_BUCKET, &self.report_bucket),
            (member::REPORT_KMS_KEY_ARN, &self.report_kms_key_arn),
            (member::ORG_DIGEST_SCHEDULE, &self.org_digest_schedule),
        ]
        .into_iter()
        .map(|(id, value)| (id.as_str().to_string(), value.clone()))
        .collect()
    }
}

/// A template parameter as `deploy` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParameterDef {
    pub(super) default: Option<String>,
    pub(super) no_echo: bool,
}

/// The parameters of a template (its JSON form), with defaults as CloudFormation shows
/// them (numbers as decimal strings).
pub(super) fn parameter_defs(template: &Value) -> BTreeMap<String, ParameterDef> {
    let Some(parameters) = template.get("Parameters").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    parameters
        .iter()
        .map(|(name, definition)| {
            let default = definition.get("Default").map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let no_echo = definition
                .get("NoEcho")
                .is_some_and(|v| v == &Value::Bool(true) || v == "true");
            (name.clone(), ParameterDef { default, no_echo })
        })
        .collect()
}

/// Every parameter of `template` with the value to deploy: what `values` says, else the
/// template's default. Declarative on purpose: a setting not given on the command line
/// goes back to its default (the plan shows it), so one command line describes the whole
/// deployment.
pub(crate) fn complete_parameters(
    template: &Value,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let defs = parameter_defs(template);
    if let Some(unknown) = values.keys().find(|k| !defs.contains_key(*k)) {
        return Err(format!("the template has no parameter {unknown}"));
    }
    defs.into_iter()
        .map(|(name, def)| {
            let value = values.get(&name).cloned().or(def.default);
            value
                .map(|v| (name.clone(), v))
                .ok_or_else(|| format!("the template parameter {name} has no default and no value"))
        })
        .collect()
}

/// Every member-stack parameter: the engine's settings, the deployment's, and the
/// template's defaults for the rest.
pub(crate) fn member_parameters(
    template: &Value,
    settings: &Settings,
    deployment: &Deployment,
) -> Result<BTreeMap<String, String>, String> {
    let mut values = engine_parameters(settings);
    values.extend(deployment.parameters());
    complete_parameters(template, &values)
}

/// A stack (or StackSet) as it should be.
#[derive(Debug, Clone)]
pub(crate) struct DesiredStack {
    pub(crate) name: String,
    pub(crate) template: Value,
    /// The JSON sent as `TemplateBody`.
    pub(crate) body: String,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
}

impl DesiredStack {
    pub(crate) fn new(
        name: &str,
        template: Value,
        parameters: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<DesiredStack, String> {
        let body = serde_json::to_string(&template).map_err(|e| format!("template of {name}: {e}"))?;
        if body.len() > TEMPLATE_BODY_LIMIT {
            return Err(format!(
                "the template of {name} is {} bytes, over CloudFormation's TemplateBody limit of {TEMPLATE_BODY_LIMIT}",
                body.len()
            ));
        }
        Ok(DesiredStack {
            name: name.to_string(),
            template,
            body,
            parameters,
            tags,
        })
    }
}

/// The tags of the member stacks: the webhook's fingerprint.
pub(crate) fn member_tags(parameters: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let webhook = SLACK_WEBHOOK
        .deployed
        .and_then(|d| parameters.get(d.parameter.as_str()))
        .map(String::as_str)
        .unwrap_or("");
    BTreeMap::from([(WEBHOOK_TAG.to_string(), webhook_fingerprint(webhook))])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use clap::{Args, FromArgMatches};
    use iam_janitor::settings::SettingsArgs;
    use serde_json::json;

    use super::*;
    use crate::deploy::plan::DEFAULT_SCHEDULE;
    use crate::deploy::plan::fixtures::{deployment, member_template};
    use crate::synth::engine_settings;

    fn settings_from(flags: &[&str]) -> Settings {
        let command = SettingsArgs::augment_args(clap::Command::new("deploy"));
        let mut argv = vec!["deploy"];
        argv.extend_from_slice(flags);
        let args = SettingsArgs::from_arg_matches(&command.try_get_matches_from(argv).unwrap()).unwrap();
        Settings::from_args(&args).unwrap()
    }

    #[test]
    fn org_unit_ids_follow_the_stacksets_pattern() {
        for good in [
            "r-ab12",
            "r-abcdefghijklmnopqrstuvwxyz012345",
            "ou-ab12-abcdefgh",
            "ou-abcd-0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_org_unit_id(good), "{good}");
        }
        for bad in [
            "",
            "r-",
            "r-abc",
            "R-abcd",
            "r-ABCD",
            "r-abcd-efgh",
            "ou-abcd",
            "ou-abc-abcdefgh",
            "ou-abcd-abcdefg",
            "ou-abcd-abcdefgh-",
            "ou-abcd-abcd_efgh",
            "o-abcdefghij",
            "123456789012",
            " r-abcd",
        ] {
            assert!(!is_org_unit_id(bad), "{bad}");
        }
        assert!(!is_org_unit_id(&format!("r-{}", "a".repeat(33))));
        assert!(!is_org_unit_id(&format!("ou-abcd-{}", "a".repeat(33))));
    }

    #[test]
    fn alarm_recipients_are_checked_as_the_template_checks_them() {
        for good in ["ops@example.com", "a.b+iam@sec.example.co.uk"] {
            assert!(is_email_address(good), "{good}");
        }
        for bad in [
            "",
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "o ps@example.com",
            "a@b@c.d",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
        assert!(is_sns_topic_arn("arn:aws:sns:eu-west-1:123456789012:security-alerts"));
        assert!(is_sns_topic_arn("arn:aws-cn:sns:cn-north-1:123456789012:a_b"));
        for bad in [
            "",
            "arn:aws:sns:eu-west-1:123456789012",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:12345:t",
            "arn:aws:sns:eu-west-1:123456789012:t.fifo",
        ] {
            assert!(!is_sns_topic_arn(bad), "{bad}");
        }
    }

    #[test]
    fn report_accounts_are_listed_while_they_fit_in_a_parameter() {
        let accounts = |n: usize| -> Vec<String> { (0..n).map(|i| format!("{i:012}")).collect() };
        assert_eq!(report_accounts(&accounts(2)), "000000000000,000000000001");
        assert_eq!(report_accounts(&[]), "");
        // 12 digits and a comma each: 315 fit in 4,096 characters, 316 do not.
        assert_eq!(report_accounts(&accounts(315)).len(), 315 * 13 - 1);
        assert_eq!(report_accounts(&accounts(316)), "");
    }

    #[test]
    fn schedule_expressions_are_cron_or_rate() {
        assert!(is_schedule_expression("cron(0 6 * * ? *)"));
        assert!(is_schedule_expression("rate(1 day)"));
        for bad in ["", "cron()", "daily", "cron(0 6 * * ? *", "at(2026-01-01T00:00:00)"] {
            assert!(!is_schedule_expression(bad), "{bad}");
        }
    }

    #[test]
    fn every_engine_setting_of_the_template_is_mapped() {
        let mapped: BTreeSet<String> = engine_parameters(&Settings::default()).into_keys().collect();
        let template: BTreeSet<String> = engine_settings()
            .into_iter()
            .map(|s| s.parameter.as_str().to_string())
            .collect();
        assert_eq!(mapped, template);
    }

    /// A first deploy without flags deploys exactly the template's defaults.
    #[test]
    fn default_settings_are_the_template_defaults() {
        let template = member_template();
        let defs = parameter_defs(&template);
        for (name, value) in engine_parameters(&Settings::default()) {
            assert_eq!(defs[&name].default.as_deref(), Some(value.as_str()), "{name}");
        }
        assert_eq!(defs["ScheduleExpression"].default.as_deref(), Some(DEFAULT_SCHEDULE));
    }

    #[test]
    fn flags_map_to_their_parameters_in_canonical_form() {
        let settings = settings_from(&[
            "--mode",
            "ENFORCE",
            "--dormant-days",
            "060",
            "--warn-days",
            "7",
            "--signing-certificates",
            "DEACTIVATE",
            "--ssh-key-sweep",
            "0100",
            "--exempt-tag",
            "break-glass",
            "--exempt-user",
            "admin-*",
            "--exempt-user",
            "ci-?",
            "--max-actions",
            "5",
            "--concurrency",
            "4",
            "--slack-webhook",
            "https://hooks.slack.com/services/T/B/x",
            "--report-timeout-secs",
            "120",
            "--least-privilege",
            "off",
            "--unused-service-days",
            "30",
            "--advisor-concurrency",
            "2",
            "--keep-services-tag",
            "keep",
            "--never-deny",
            "sts, iam ,kms",
            "--policy-quota",
            "20",
            "--iam-rate",
            "015",
            "--invoke-override",
            "ON",
            "--slack-scope",
            "ORG",
        ]);
        let p = engine_parameters(&settings);
        let expected = json!({
            "Mode": "enforce", "DormantDays": "60", "WarnDays": "7", "SigningCertificates": "deactivate", "SshKeySweep": "100",
            "ExemptTag": "break-glass",
            "ExemptUsers": "admin-*,ci-?", "MaxActions": "5", "Concurrency": "4",
            "SlackWebhook": "https://hooks.slack.com/services/T/B/x", "ReportTimeoutSecs": "120",
            "LeastPrivilege": "off", "UnusedServiceDays": "30", "AdvisorConcurrency": "2",
            "KeepServicesTag": "keep", "NeverDeny": "iam,kms,sts", "PolicyQuota": "20", "IamRate": "15",
            "InvokeOverride": "on", "SlackScope": "org",
        });
        assert_eq!(serde_json::to_value(&p).unwrap(), expected);
        assert_eq!(engine_parameters(&settings_from(&["--enforce"]))["Mode"], "enforce");
    }

    #[test]
    fn member_parameters_are_complete_and_reject_unknown_names() {
        let template = member_template();
        let parameters = member_parameters(&template, &Settings::default(), &deployment()).unwrap();
        assert_eq!(
            parameters.keys().collect::<Vec<_>>(),
            parameter_defs(&template).keys().collect::<Vec<_>>()
        );
        assert_eq!(parameters["CodeKey"], format!("iam-janitor/{}.zip", "ab".repeat(32)));
        assert_eq!(parameters["Architecture"], "arm64");
        assert_eq!(
            parameters["Timeout"], "900",
            "not managed by deploy: the template's default"
        );
        let unknown = BTreeMap::from([("Nope".to_string(), "1".to_string())]);
        assert_eq!(
            complete_parameters(&template, &unknown).unwrap_err(),
            "the template has no parameter Nope"
        );
        let no_default = json!({"Parameters": {"X": {"Type": "String"}}});
        assert!(complete_parameters(&no_default, &BTreeMap::new()).is_err());
    }

    #[test]
    fn webhook_fingerprint_tells_urls_apart_without_showing_them() {
        assert_eq!(webhook_fingerprint(""), "none");
        let a = webhook_fingerprint("https://hooks.slack.com/services/T/B/secret1");
        let b = webhook_fingerprint("https://hooks.slack.com/services/T/B/secret2");
        assert_ne!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == "sha256:".len() + 16);
        assert!(!a.contains("secret"));
        assert_eq!(a, webhook_fingerprint("https://hooks.slack.com/services/T/B/secret1"));
    }
}
