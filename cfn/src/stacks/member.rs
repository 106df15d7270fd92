//! The member stack: the scheduled Lambda, its role, log group, schedule and alarm.
//!
//! Deployed by a service-managed StackSet to every member account, and as a plain stack
//! in the management account (StackSets never deploy there). One Region per account:
//! IAM is global, and two instances would remediate the same users.

use std::collections::BTreeMap;

use crate::expr::{Expr, Pseudo};
use crate::id::LogicalId;
use crate::policy::{Effect, Principal, ResourcePolicyDocument, ResourceStatement, Values};
use crate::resources::Resource;
use crate::resources::cloudwatch::{Alarm, ComparisonOperator, Dimension, Statistic, TreatMissingData};
use crate::resources::events::{Rule, RuleState, Target};
use crate::resources::iam::{ManagedPolicy, Role};
use crate::resources::lambda::{Code, Environment, EventInvokeConfig, Function, LoggingConfig, Permission};
use crate::resources::logs::LogGroup;
use crate::stacks::permissions::{RolePermission, role_policy};
use crate::template::{Parameter, ParameterGroup, Template};

// Parameters: deployment.
pub const FUNCTION_NAME: LogicalId = LogicalId::from_static("FunctionName");
pub const CODE_BUCKET: LogicalId = LogicalId::from_static("CodeBucket");
pub const CODE_KEY: LogicalId = LogicalId::from_static("CodeKey");
pub const ARCHITECTURE: LogicalId = LogicalId::from_static("Architecture");
pub const TIMEOUT: LogicalId = LogicalId::from_static("Timeout");
pub const MEMORY_SIZE: LogicalId = LogicalId::from_static("MemorySize");
pub const LOG_RETENTION_IN_DAYS: LogicalId = LogicalId::from_static("LogRetentionInDays");
pub const SCHEDULE_EXPRESSION: LogicalId = LogicalId::from_static("ScheduleExpression");
pub const ALARM_TOPIC_ARN: LogicalId = LogicalId::from_static("AlarmTopicArn");

// Parameters: the engine's settings (see `engine_settings`).
pub const MODE: LogicalId = LogicalId::from_static("Mode");
pub const DORMANT_DAYS: LogicalId = LogicalId::from_static("DormantDays");
pub const WARN_DAYS: LogicalId = LogicalId::from_static("WarnDays");
pub const EXEMPT_TAG: LogicalId = LogicalId::from_static("ExemptTag");
pub const EXEMPT_USERS: LogicalId = LogicalId::from_static("ExemptUsers");
pub const MAX_ACTIONS: LogicalId = LogicalId::from_static("MaxActions");
pub const CONCURRENCY: LogicalId = LogicalId::from_static("Concurrency");
pub const SLACK_WEBHOOK: LogicalId = LogicalId::from_static("SlackWebhook");
pub const REPORT_TIMEOUT_SECS: LogicalId = LogicalId::from_static("ReportTimeoutSecs");
pub const LEAST_PRIVILEGE: LogicalId = LogicalId::from_static("LeastPrivilege");
pub const UNUSED_SERVICE_DAYS: LogicalId = LogicalId::from_static("UnusedServiceDays");
pub const ADVISOR_CONCURRENCY: LogicalId = LogicalId::from_static("AdvisorConcurrency");
pub const KEEP_SERVICES_TAG: LogicalId = LogicalId::from_static("KeepServicesTag");
pub const NEVER_DENY: LogicalId = LogicalId::from_static("NeverDeny");
pub const POLICY_QUOTA: LogicalId = LogicalId::from_static("PolicyQuota");

// Conditions.
pub const HAS_ALARM_TOPIC: LogicalId = LogicalId::from_static("HasAlarmTopic");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const FUNCTION: LogicalId = LogicalId::from_static("Function");
pub const ROLE: LogicalId = LogicalId::from_static("Role");
pub const ROLE_POLICY: LogicalId = LogicalId::from_static("RolePolicy");
pub const LOG_GROUP: LogicalId = LogicalId::from_static("LogGroup");
pub const SCHEDULE: LogicalId = LogicalId::from_static("Schedule");
pub const INVOKE_PERMISSION: LogicalId = LogicalId::from_static("InvokePermission");
pub const INVOKE_CONFIG: LogicalId = LogicalId::from_static("InvokeConfig");
pub const ERRORS_ALARM: LogicalId = LogicalId::from_static("ErrorsAlarm");

// Outputs.
pub const FUNCTION_ARN: LogicalId = LogicalId::from_static("FunctionArn");
pub const ROLE_ARN: LogicalId = LogicalId::from_static("RoleArn");
pub const LOG_GROUP_NAME: LogicalId = LogicalId::from_static("LogGroupName");

/// The role's path. Service control policies can exempt `role/iam-janitor/*` without
/// knowing the generated role name. (Role paths and policy paths are separate: this
/// grants nothing on `policy/iam-janitor/*`.)
pub const ROLE_PATH: &str = "/iam-janitor/";

/// The retention periods offered: those CloudWatch Logs accepts that the cfn-guard
/// registry rule CW_LOGGROUP_RETENTION_PERIOD_CHECK also accepts.
pub const LOG_RETENTION_DAYS: [u32; 17] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653,
];

/// Runs are daily by default; the alarm looks at the last 24 hours in hourly periods.
const ALARM_PERIOD_SECS: u32 = 3600;
const ALARM_EVALUATION_PERIODS: u32 = 24;

/// One engine setting: its parameter, the environment variable it becomes, and its
/// parameter definition (defaults and bounds are the engine's own).
#[derive(Debug, Clone)]
pub struct EngineSetting {
    pub parameter: LogicalId,
    pub env: &'static str,
    pub definition: Parameter,
}

fn setting(parameter: LogicalId, env: &'static str, definition: Parameter) -> EngineSetting {
    EngineSetting {
        parameter,
        env,
        definition,
    }
}

/// The engine's settings, as template parameters. Each is passed to the function in the
/// environment variable of the same setting (`lambda/src/settings.rs`), which validates it
/// at cold start: an invalid combination (e.g. `WarnDays` ≥ `DormantDays`) fails every
/// run, which the errors alarm reports.
pub fn engine_settings() -> Vec<EngineSetting> {
    vec![
        setting(
            MODE,
            "IAM_JANITOR_MODE",
            Parameter::string("report: change nothing, only report; enforce: disable dormant credentials")
                .allowed_values(["report", "enforce"])
                .default("report"),
        ),
        setting(
            DORMANT_DAYS,
            "IAM_JANITOR_DORMANT_DAYS",
            Parameter::number("A credential unused for more than this many days is dormant", 1, 3650).default(90),
        ),
        setting(
            WARN_DAYS,
            "IAM_JANITOR_WARN_DAYS",
            Parameter::number(
                "Warn this many days before a credential becomes dormant (0: never); fewer than DormantDays",
                0,
                3650,
            )
            .default(14),
        ),
        setting(
            EXEMPT_TAG,
            "IAM_JANITOR_EXEMPT_TAG",
            Parameter::string("Users with this tag, KEY or KEY=VALUE, are never changed (compared case-insensitively)")
                .default("iam-janitor:exempt=true")
                .length(1, 385),
        ),
        setting(
            EXEMPT_USERS,
            "IAM_JANITOR_EXEMPT_USERS",
            Parameter::string(
                "Users whose name matches one of these comma-separated globs (* and ?) are never changed",
            )
            .default(""),
        ),
        setting(
            MAX_ACTIONS,
            "IAM_JANITOR_MAX_ACTIONS",
            Parameter::number(
                "Circuit breaker: in enforce mode, if more credentials than this would change, change none",
                0,
                100_000,
            )
            .default(25),
        ),
        setting(
            CONCURRENCY,
            "IAM_JANITOR_CONCURRENCY",
            Parameter::number("Users confirmed and changed at once", 1, 64).default(8),
        ),
        setting(
            SLACK_WEBHOOK,
            "IAM_JANITOR_SLACK_WEBHOOK",
            Parameter::string("Slack incoming-webhook URL for the run's digest; empty: no Slack")
                .default("")
                .pattern("^(https://.+)?$", "empty, or an https:// URL")
                .no_echo(),
        ),
        setting(
            REPORT_TIMEOUT_SECS,
            "IAM_JANITOR_REPORT_TIMEOUT_SECS",
            Parameter::number(
                "Seconds to wait for IAM to generate the credential report; less than Timeout",
                1,
                840,
            )
            .default(300),
        ),
        setting(
            LEAST_PRIVILEGE,
            "IAM_JANITOR_LEAST_PRIVILEGE",
            Parameter::string("on: deny users the services they have not used (Access Advisor); off: never")
                .allowed_values(["on", "off"])
                .default("on"),
        ),
        setting(
            UNUSED_SERVICE_DAYS,
            "IAM_JANITOR_UNUSED_SERVICE_DAYS",
            Parameter::number("A service not used for more than this many days is denied", 1, 400).default(90),
        ),
        setting(
            ADVISOR_CONCURRENCY,
            "IAM_JANITOR_ADVISOR_CONCURRENCY",
            Parameter::number("Access Advisor jobs run at once", 1, 32).default(8),
        ),
        setting(
            KEEP_SERVICES_TAG,
            "IAM_JANITOR_KEEP_SERVICES_TAG",
            Parameter::string("User tag listing services never to deny that user, e.g. s3,ec2")
                .default("iam-janitor:keep-services")
                .length(1, 128),
        ),
        setting(
            NEVER_DENY,
            "IAM_JANITOR_NEVER_DENY",
            Parameter::string("Service namespaces never denied to anyone, comma-separated").default("iam,sts"),
        ),
        setting(
            POLICY_QUOTA,
            "IAM_JANITOR_POLICY_QUOTA",
            Parameter::number(
                "Managed policies a user may have attached (the account's AttachedPoliciesPerUser quota)",
                1,
                20,
            )
            .default(10),
        ),
    ]
}

/// The deployment parameters (code, function, logs, schedule, alarm).
fn deployment_parameters() -> Vec<(LogicalId, Parameter)> {
    vec![
        (
            FUNCTION_NAME,
            Parameter::string("The function's name")
                .default("iam-janitor")
                .pattern("^[A-Za-z0-9_-]{1,64}$", "1 to 64 letters, digits, - and _"),
        ),
        (
            CODE_BUCKET,
            Parameter::string("S3 bucket of the code package, in this stack's Region (the artifact stack's bucket)")
                .pattern("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name"),
        ),
        (
            CODE_KEY,
            Parameter::string("S3 key of the code package (a .zip with bootstrap at its root)").length(1, 1024),
        ),
        (
            ARCHITECTURE,
            Parameter::string("Instruction set the bootstrap binary is built for")
                .allowed_values(["arm64", "x86_64"])
                .default("arm64"),
        ),
        (
            TIMEOUT,
            Parameter::number("Seconds a run may take", 60, 900).default(900),
        ),
        (
            MEMORY_SIZE,
            Parameter::number("Memory of the function, MB", 128, 10_240).default(256),
        ),
        (
            LOG_RETENTION_IN_DAYS,
            Parameter::number("Days the function's logs are kept", 1, 3653)
                .allowed_values(LOG_RETENTION_DAYS)
                .default(365),
        ),
        (
            SCHEDULE_EXPRESSION,
            Parameter::string(
                "When runs start, in UTC: cron(minutes hours day-of-month month day-of-week year) or rate(…)",
            )
            .default("cron(0 6 * * ? *)")
            .pattern(r"^(cron|rate)\(.+\)$", "cron(…) or rate(…)"),
        ),
        (
            ALARM_TOPIC_ARN,
            Parameter::string("SNS topic notified when a run fails; empty: the alarm notifies no one")
                .default("")
                .pattern(
                    "^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256})?$",
                    "empty, or an SNS topic ARN",
                ),
        ),
    ]
}

/// The member stack, with a role that allows exactly `permissions` (and writing its logs).
pub fn member_stack(permissions: &[RolePermission<'_>]) -> Template {
    let mut template = Template::new(
        "iam-janitor: a scheduled Lambda that disables dormant IAM credentials in this account \
         (report mode until Mode is enforce).",
    );

    let settings = engine_settings();
    template.parameter_groups = vec![
        ParameterGroup {
            label: "Engine".to_string(),
            parameters: settings.iter().map(|s| s.parameter.clone()).collect(),
        },
        ParameterGroup {
            label: "Deployment".to_string(),
            parameters: deployment_parameters().into_iter().map(|(id, _)| id).collect(),
        },
    ];
    for (id, parameter) in deployment_parameters() {
        template.parameter(id, parameter);
    }
    let mut variables = BTreeMap::new();
    for setting in settings {
        variables.insert(setting.env.to_string(), Expr::Ref(setting.parameter.clone()));
        template.parameter(setting.parameter, setting.definition);
    }

    template.condition(HAS_ALARM_TOPIC, Expr::not_equals(Expr::Ref(ALARM_TOPIC_ARN), ""));

    template.resource(
        LOG_GROUP,
        Resource::new(LogGroup {
            // No fixed name: CloudFormation names it after the stack, and the function
            // logs to it through LoggingConfig. A retained log group with a fixed name
            // would make a deploy after a destroy fail ("already exists").
            log_group_name: None,
            retention_in_days: Some(Expr::Ref(LOG_RETENTION_IN_DAYS)),
        })
        // The logs are the record of what was changed: keep them beyond the stack.
        .retained()
        .checkov_skip(
            "CKV_AWS_158",
            "Encrypted at rest with CloudWatch Logs' own keys. A customer managed KMS key would be \
             one more key and key policy in every account, for logs that hold user names and \
             redacted key IDs, no secrets.",
        ),
    );

    template.resource(
        ROLE_POLICY,
        Resource::new(ManagedPolicy {
            description: Some(Expr::from(
                "iam-janitor Lambda: IAM reads, writes on users and on its own /iam-janitor/ policies, its own logs",
            )),
            // Deliberately not under /iam-janitor/: the engine may change policies there.
            path: None,
            policy_document: role_policy(permissions, LOG_GROUP),
        }),
    );

    template.resource(
        ROLE,
        Resource::new(Role {
            description: Some(Expr::from("Execution role of the iam-janitor Lambda")),
            path: Some(Expr::from(ROLE_PATH)),
            assume_role_policy_document: ResourcePolicyDocument::new(vec![ResourceStatement {
                sid: None,
                effect: Effect::Allow,
                principal: Principal::Service(Values::one(Expr::from("lambda.amazonaws.com"))),
                action: Values::one(Expr::from("sts:AssumeRole")),
                resource: None,
                condition: None,
            }]),
            managed_policy_arns: vec![Expr::Ref(ROLE_POLICY)],
        }),
    );

    template.resource(
        FUNCTION,
        Resource::new(Function {
            function_name: Some(Expr::Ref(FUNCTION_NAME)),
            description: Some(Expr::from("Disables dormant IAM credentials (iam-janitor)")),
            runtime: Some(Expr::from("provided.al2023")),
            architectures: Some(vec![Expr::Ref(ARCHITECTURE)]),
            handler: Some(Expr::from("bootstrap")),
            code: Code {
                s3_bucket: Expr::Ref(CODE_BUCKET),
                s3_key: Expr::Ref(CODE_KEY),
            },
            role: Expr::get_att(ROLE, "Arn"),
            timeout: Some(Expr::Ref(TIMEOUT)),
            memory_size: Some(Expr::Ref(MEMORY_SIZE)),
            environment: Some(Environment { variables }),
            logging_config: Some(LoggingConfig {
                log_group: Some(Expr::Ref(LOG_GROUP)),
            }),
        })
        .checkov_skip(
            "CKV_AWS_115",
            "No reserved concurrency: reserving any fails in new accounts whose concurrency quota \
             is 10 to 50 (AutoDeployment enrols accounts right after creation). One run a day, \
             asynchronous retries off; the engine is idempotent if two runs ever overlap.",
        )
        .checkov_skip(
            "CKV_AWS_116",
            "No dead-letter queue: the only event is the schedule's, asynchronous retries are 0 \
             (InvokeConfig), and a failed run is reported by ErrorsAlarm; the next run starts \
             from scratch, so a queued event would add nothing.",
        )
        .checkov_skip(
            "CKV_AWS_117",
            "Not in a VPC: the function reaches only public AWS endpoints (IAM, STS, CloudWatch \
             Logs) and Slack, and has no VPC resources; a VPC would need a NAT gateway in every \
             account.",
        )
        .checkov_skip(
            "CKV_AWS_173",
            "Environment encrypted at rest with Lambda's AWS managed key. The only secret is the \
             Slack webhook (a NoEcho parameter, post-only to one channel); a customer managed key \
             would be one more key per account and would not hide it from readers of the \
             function's configuration who may decrypt.",
        ),
    );

    template.resource(
        SCHEDULE,
        Resource::new(Rule {
            description: Some(Expr::from("Starts an iam-janitor run")),
            schedule_expression: Some(Expr::Ref(SCHEDULE_EXPRESSION)),
            state: Some(RuleState::Enabled),
            targets: vec![Target {
                id: Expr::from("iam-janitor"),
                arn: Expr::get_att(FUNCTION, "Arn"),
            }],
        }),
    );

    template.resource(
        INVOKE_PERMISSION,
        Resource::new(Permission {
            action: Expr::from("lambda:InvokeFunction"),
            function_name: Expr::get_att(FUNCTION, "Arn"),
            principal: Expr::from("events.amazonaws.com"),
            source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
            source_arn: Some(Expr::get_att(SCHEDULE, "Arn")),
        }),
    );

    // A run is single-flight: it reads the whole account, plans, and acts within limits
    // (the circuit breaker). Lambda's default 2 asynchronous retries would start the same
    // run again 1 and 2 minutes after a failure: most failures repeat (settings,
    // permissions, a tripped breaker), each retry posts another Slack digest, and a retry
    // of a run that timed out overlaps its tail. A failure is reported by ErrorsAlarm
    // instead, and the next scheduled run starts afresh.
    template.resource(
        INVOKE_CONFIG,
        Resource::new(EventInvokeConfig {
            function_name: Expr::Ref(FUNCTION),
            qualifier: Expr::from("$LATEST"),
            maximum_retry_attempts: Some(Expr::from(0u32)),
        }),
    );

    let topic = || Expr::if_then_else(HAS_ALARM_TOPIC, vec![Expr::Ref(ALARM_TOPIC_ARN)], Expr::NO_VALUE);
    template.resource(
        ERRORS_ALARM,
        Resource::new(Alarm {
            alarm_description: Some(Expr::sub(
                "A run of ${FunctionName} failed in the last 24 hours: nothing or only part of the \
                 plan was done. See the log group ${LogGroup}.",
            )),
            namespace: Expr::from("AWS/Lambda"),
            metric_name: Expr::from("Errors"),
            dimensions: vec![Dimension {
                name: Expr::from("FunctionName"),
                value: Expr::Ref(FUNCTION),
            }],
            statistic: Statistic::Sum,
            period: Expr::from(ALARM_PERIOD_SECS),
            evaluation_periods: Expr::from(ALARM_EVALUATION_PERIODS),
            datapoints_to_alarm: Some(Expr::from(1u32)),
            threshold: Expr::from(1u32),
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing_data: Some(TreatMissingData::NotBreaching),
            alarm_actions: Some(topic()),
            ok_actions: Some(topic()),
        }),
    );

    template.output(FUNCTION_ARN, "The function's ARN", Expr::get_att(FUNCTION, "Arn"));
    template.output(
        ROLE_ARN,
        "The function's role, to exempt in service control policies",
        Expr::get_att(ROLE, "Arn"),
    );
    template.output(LOG_GROUP_NAME, "Where each run logs what it did", Expr::Ref(LOG_GROUP));
    template
}
