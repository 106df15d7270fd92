//! The member stack: the scheduled Lambda, its role, log group, schedule and alarm.
//!
//! Deployed by a service-managed StackSet to every member account, and as a plain stack
//! in the management account (StackSets never deploy there). One Region per account:
//! IAM is global, and two instances would remediate the same users.

use std::collections::BTreeMap;

use crate::expr::{Expr, Pseudo};
use crate::id::LogicalId;
use crate::policy::{Effect, PolicyDocument, Principal, ResourcePolicyDocument, ResourceStatement, Statement, Values};
use crate::resources::Resource;
use crate::resources::cloudwatch::{Alarm, ComparisonOperator, Dimension, Statistic, TreatMissingData};
use crate::resources::dynamodb::{AttributeDefinition, KeySchemaElement, PointInTimeRecovery, SseSpecification, Table};
use crate::resources::events::{EventPattern, Rule, RuleState, Target};
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
pub const ALERT_BUS_ARN: LogicalId = LogicalId::from_static("AlertBusArn");
pub const MISSED_RUN_HOURS: LogicalId = LogicalId::from_static("MissedRunHours");
pub const REPORT_BUCKET: LogicalId = LogicalId::from_static("ReportBucket");
pub const ORG_DIGEST_SCHEDULE: LogicalId = LogicalId::from_static("OrgDigestSchedule");
pub const REPORT_KMS_KEY_ARN: LogicalId = LogicalId::from_static("ReportKmsKeyArn");

// Conditions.
pub const HAS_ALERT_BUS: LogicalId = LogicalId::from_static("HasAlertBus");
pub const HAS_REPORT_BUCKET: LogicalId = LogicalId::from_static("HasReportBucket");
pub const HAS_ORG_DIGEST: LogicalId = LogicalId::from_static("HasOrgDigest");
pub const HAS_REPORT_KMS_KEY: LogicalId = LogicalId::from_static("HasReportKmsKey");
pub const HAS_ORG_DIGEST_KMS_KEY: LogicalId = LogicalId::from_static("HasOrgDigestKmsKey");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const FUNCTION: LogicalId = LogicalId::from_static("Function");
pub const ROLE: LogicalId = LogicalId::from_static("Role");
pub const ROLE_POLICY: LogicalId = LogicalId::from_static("RolePolicy");
pub const LOG_GROUP: LogicalId = LogicalId::from_static("LogGroup");
pub const SCHEDULE: LogicalId = LogicalId::from_static("Schedule");
pub const INVOKE_PERMISSION: LogicalId = LogicalId::from_static("InvokePermission");
pub const INVOKE_CONFIG: LogicalId = LogicalId::from_static("InvokeConfig");
pub const ERRORS_ALARM: LogicalId = LogicalId::from_static("ErrorsAlarm");
pub const STATE_TABLE: LogicalId = LogicalId::from_static("StateTable");
pub const MISSED_RUN_ALARM: LogicalId = LogicalId::from_static("MissedRunAlarm");
pub const ALERT_FORWARDER_POLICY: LogicalId = LogicalId::from_static("AlertForwarderPolicy");
pub const ALERT_FORWARDER_ROLE: LogicalId = LogicalId::from_static("AlertForwarderRole");
pub const ALERT_RULE: LogicalId = LogicalId::from_static("AlertRule");
pub const REPORT_WRITER_POLICY: LogicalId = LogicalId::from_static("ReportWriterPolicy");
pub const ORG_DIGEST_RULE: LogicalId = LogicalId::from_static("OrgDigestRule");
pub const ORG_DIGEST_PERMISSION: LogicalId = LogicalId::from_static("OrgDigestPermission");
pub const ORG_DIGEST_READER_POLICY: LogicalId = LogicalId::from_static("OrgDigestReaderPolicy");
pub const REPORT_ENCRYPT_POLICY: LogicalId = LogicalId::from_static("ReportEncryptPolicy");
pub const ORG_DIGEST_DECRYPT_POLICY: LogicalId = LogicalId::from_static("OrgDigestDecryptPolicy");

// Outputs.
pub const FUNCTION_ARN: LogicalId = LogicalId::from_static("FunctionArn");
pub const ROLE_ARN: LogicalId = LogicalId::from_static("RoleArn");
pub const LOG_GROUP_NAME: LogicalId = LogicalId::from_static("LogGroupName");
pub const STATE_TABLE_NAME: LogicalId = LogicalId::from_static("StateTableName");

/// The environment variable the function reads its state table's name from (the engine's
/// `--state-table` setting, not a parameter: the stack gives its own table).
pub const STATE_TABLE_ENV: &str = "IAM_JANITOR_STATE_TABLE";

/// The environment variable the function reads the organization's report bucket from
/// (the engine's `--report-bucket` setting; the stack gives `ReportBucket`).
pub const REPORT_BUCKET_ENV: &str = "IAM_JANITOR_REPORT_BUCKET";

/// The role's path. Service control policies can exempt `role/iam-janitor/*` without
/// knowing the generated role name. (Role paths and policy paths are separate: this
/// grants nothing on `policy/iam-janitor/*`.)
pub const ROLE_PATH: &str = "/iam-janitor/";

/// The path of the role's own managed policy: not `/iam-janitor/` (where the engine
/// writes deny policies, so it could rewrite its own permissions), and protected by the
/// guardrails SCP.
pub const ROLE_POLICY_PATH: &str = "/iam-janitor-role/";

/// The log group's name starts with this (then `<FunctionName>/<stack ID>`).
pub const LOG_GROUP_PREFIX: &str = "/iam-janitor/";

/// The state table's name starts with this (then the stack's ID).
pub const STATE_TABLE_PREFIX: &str = "iam-janitor-state-";

/// The errors alarm is named `<FunctionName>` followed by this; the schedule rule is
/// named `<FunctionName>`.
pub const ERRORS_ALARM_SUFFIX: &str = "-errors";

/// The missed-run alarm is named `<FunctionName>` followed by this.
pub const MISSED_RUN_ALARM_SUFFIX: &str = "-missed-run";

/// The rule forwarding the alarms' state changes is named `<FunctionName>` followed by this.
pub const ALERT_RULE_SUFFIX: &str = "-alerts";

/// The organization digest's schedule rule is named `<FunctionName>` followed by this.
pub const ORG_DIGEST_RULE_SUFFIX: &str = "-org-digest";

/// What the organization digest's rule sends the function (the handler's
/// `{"iam-janitor": "org-digest"}`).
pub const ORG_DIGEST_INPUT: &str = r#"{"iam-janitor":"org-digest"}"#;

/// The retention periods offered: those CloudWatch Logs accepts that the cfn-guard
/// registry rule CW_LOGGROUP_RETENTION_PERIOD_CHECK also accepts.
pub const LOG_RETENTION_DAYS: [u32; 17] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653,
];

/// Runs are daily by default; the alarm looks at the last 24 hours in hourly periods.
const ALARM_PERIOD_SECS: u32 = 3600;
const ALARM_EVALUATION_PERIODS: u32 = 24;

/// One engine setting: its parameter, the environment variable it becomes, and its
/// parameter definition.
///
/// The engine's settings are not defined here: they are the deployed rows of the engine's
/// settings table (`lambda/src/settings/table.rs`), which `cargo xtask synth` maps to
/// these (the engine depends on this crate, not the reverse). Each is passed to the
/// function in the environment variable of the same setting, which the engine validates
/// at cold start: an invalid combination (e.g. `WarnDays` ≥ `DormantDays`) fails every
/// run, which the errors alarm reports.
#[derive(Debug, Clone)]
pub struct EngineSetting {
    pub parameter: LogicalId,
    pub env: &'static str,
    pub definition: Parameter,
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
            ALERT_BUS_ARN,
            Parameter::string(
                "Event bus the alarms' state changes are forwarded to (the artifact stack's AlertBusArn, in \
                 the management account), which notifies people in one place; empty: the alarms notify no one",
            )
            .default("")
            .pattern(
                "^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]{1,256})?$",
                "empty, or an event bus ARN",
            ),
        ),
        (
            REPORT_BUCKET,
            Parameter::string(
                "Bucket each run's report is stored in, under reports/account=<this account>/ (the artifact \
                 stack's ReportBucketName, in the management account); empty: reports are not stored",
            )
            .default("")
            .pattern("^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$", "empty, or an S3 bucket name"),
        ),
        (
            REPORT_KMS_KEY_ARN,
            Parameter::string(
                "The KMS key the report bucket encrypts with (the artifact stack's ReportKmsKeyArn): the role may \
                 have S3 generate data keys with it; empty: the bucket uses SSE-S3",
            )
            .default("")
            .pattern(
                crate::stacks::artifacts::KMS_KEY_ARN_PATTERN,
                "empty, or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
            ),
        ),
        (
            ORG_DIGEST_SCHEDULE,
            Parameter::string(
                "When the organization digest is posted, in UTC: cron(…) or rate(…); it reads every account's \
                 latest report from ReportBucket and the organization's accounts (only the management account's \
                 stack has one); empty: none",
            )
            .default("")
            .pattern(r"^((cron|rate)\(.+\))?$", "empty, or cron(…) or rate(…)"),
        ),
        (
            MISSED_RUN_HOURS,
            Parameter::number(
                "Hours without a run after which MissedRunAlarm fires: longer than the schedule's interval \
                 (daily by default)",
                2,
                168,
            )
            .default(26),
        ),
    ]
}

/// The role's grant to store reports: `s3:PutObject` under its own account's prefix of
/// the report bucket, nothing else (the bucket policy allows the same, and no reads).
pub fn report_writer_policy() -> PolicyDocument<Expr> {
    PolicyDocument::new(vec![Statement {
        sid: Some("StoreOwnReports".to_string()),
        effect: Effect::Allow,
        action: Some(Values::one(Expr::from("s3:PutObject"))),
        not_action: None,
        resource: Values::one(Expr::sub(
            "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/account=${AWS::AccountId}/*",
        )),
        condition: None,
    }])
}

/// A grant of `action` on the report bucket's KMS key, only through S3 in this Region.
fn report_key_policy(sid: &str, action: &str) -> PolicyDocument<Expr> {
    PolicyDocument::new(vec![Statement {
        sid: Some(sid.to_string()),
        effect: Effect::Allow,
        action: Some(Values::one(Expr::from(action))),
        not_action: None,
        resource: Values::one(Expr::Ref(REPORT_KMS_KEY_ARN)),
        condition: Some(BTreeMap::from([(
            "StringEquals".to_string(),
            BTreeMap::from([(
                "kms:ViaService".to_string(),
                Values::one(Expr::sub("s3.${AWS::Region}.amazonaws.com")),
            )]),
        )])),
    }])
}

/// The role's grant to store reports in a bucket encrypted with `ReportKmsKeyArn`:
/// S3 generates each report's data key with the caller's permissions. The key's policy
/// must allow it too (README).
pub fn report_encrypt_policy() -> PolicyDocument<Expr> {
    report_key_policy("EncryptOwnReports", "kms:GenerateDataKey")
}

/// The organization digest's grant to read reports encrypted with `ReportKmsKeyArn`.
pub fn org_digest_decrypt_policy() -> PolicyDocument<Expr> {
    report_key_policy("DecryptReports", "kms:Decrypt")
}

/// The role's grant to build the organization digest (the management account's stack,
/// when `OrgDigestSchedule` is set): list the report bucket's `reports/`, read the
/// reports, list the organization's accounts. No writes.
pub fn org_digest_reader_policy() -> PolicyDocument<Expr> {
    PolicyDocument::new(vec![
        Statement {
            sid: Some("ListReports".to_string()),
            effect: Effect::Allow,
            action: Some(Values::one(Expr::from("s3:ListBucket"))),
            not_action: None,
            resource: Values::one(Expr::sub("arn:${AWS::Partition}:s3:::${ReportBucket}")),
            condition: Some(BTreeMap::from([(
                "StringLike".to_string(),
                BTreeMap::from([("s3:prefix".to_string(), Values::one(Expr::from("reports/*")))]),
            )])),
        },
        Statement {
            sid: Some("ReadReports".to_string()),
            effect: Effect::Allow,
            action: Some(Values::one(Expr::from("s3:GetObject"))),
            not_action: None,
            resource: Values::one(Expr::sub("arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*")),
            condition: None,
        },
        Statement {
            sid: Some("ListOrganizationAccounts".to_string()),
            effect: Effect::Allow,
            action: Some(Values::one(Expr::from("organizations:ListAccounts"))),
            not_action: None,
            resource: Values::one(Expr::from("*")),
            condition: None,
        },
    ])
}

/// An alarm on the hourly sum of one of the function's metrics against 1, named
/// `<FunctionName><suffix>` (so that the guardrails SCP can protect it), with no actions:
/// its state changes are forwarded to the organization's alert bus. The caller sets
/// the evaluation, the comparison and what missing data means.
fn hourly_function_alarm(suffix: &str, metric: &str, description: &str) -> Alarm {
    Alarm {
        alarm_name: Some(Expr::sub(format!("${{FunctionName}}{suffix}"))),
        alarm_description: Some(Expr::sub(description)),
        namespace: Expr::from("AWS/Lambda"),
        metric_name: Expr::from(metric),
        dimensions: vec![Dimension {
            name: Expr::from("FunctionName"),
            value: Expr::Ref(FUNCTION),
        }],
        statistic: Statistic::Sum,
        period: Expr::from(ALARM_PERIOD_SECS),
        evaluation_periods: Expr::from(1u32),
        datapoints_to_alarm: None,
        threshold: Expr::from(1u32),
        comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
        treat_missing_data: None,
        alarm_actions: None,
        ok_actions: None,
    }
}

/// The member stack, with a role that allows exactly `permissions` (and writing its logs),
/// and a function configured by `settings`.
pub fn member_stack(permissions: &[RolePermission<'_>], settings: &[EngineSetting]) -> Template {
    let mut template = Template::new(
        "iam-janitor: a scheduled Lambda that disables dormant IAM credentials in this account \
         (report mode until Mode is enforce).",
    );

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
        template.parameter(setting.parameter.clone(), setting.definition.clone());
    }

    variables.insert(STATE_TABLE_ENV.to_string(), Expr::Ref(STATE_TABLE));
    variables.insert(REPORT_BUCKET_ENV.to_string(), Expr::Ref(REPORT_BUCKET));

    template.condition(HAS_ALERT_BUS, Expr::not_equals(Expr::Ref(ALERT_BUS_ARN), ""));
    template.condition(HAS_REPORT_BUCKET, Expr::not_equals(Expr::Ref(REPORT_BUCKET), ""));
    // A schedule and a bucket to read: without one there is nothing to post.
    template.condition(
        HAS_ORG_DIGEST,
        Expr::and([
            Expr::not_equals(Expr::Ref(ORG_DIGEST_SCHEDULE), ""),
            Expr::Condition(HAS_REPORT_BUCKET),
        ]),
    );
    template.condition(
        HAS_REPORT_KMS_KEY,
        Expr::and([
            Expr::not_equals(Expr::Ref(REPORT_KMS_KEY_ARN), ""),
            Expr::Condition(HAS_REPORT_BUCKET),
        ]),
    );
    template.condition(
        HAS_ORG_DIGEST_KMS_KEY,
        Expr::and([Expr::Condition(HAS_ORG_DIGEST), Expr::Condition(HAS_REPORT_KMS_KEY)]),
    );

    template.resource(
        STATE_TABLE,
        Resource::new(Table {
            // Named so that the guardrails SCP can protect it (`table/iam-janitor-state-*`);
            // the stack's own ID keeps a redeploy clear of a table a deleted stack retained.
            table_name: Some(Expr::SubWith(
                format!("{STATE_TABLE_PREFIX}${{StackUuid}}"),
                BTreeMap::from([("StackUuid".to_string(), Expr::stack_uuid())]),
            )),
            billing_mode: Expr::from("PAY_PER_REQUEST"),
            attribute_definitions: vec![AttributeDefinition {
                attribute_name: Expr::from("user_id"),
                attribute_type: Expr::from("S"),
            }],
            key_schema: vec![KeySchemaElement {
                attribute_name: Expr::from("user_id"),
                key_type: Expr::from("HASH"),
            }],
            point_in_time_recovery: Some(PointInTimeRecovery { enabled: true }),
            sse: Some(SseSpecification { enabled: true }),
        })
        // Least privilege's memory (when each user's services were first listed): a stack
        // deleted or replaced by mistake must not make every grant look new or old.
        .retained()
        .checkov_skip(
            "CKV_AWS_119",
            "Encrypted at rest with DynamoDB's AWS managed KMS key (SSEEnabled). A customer \
             managed key would be one more key and key policy in every account, for a table \
             that holds user IDs, names and service prefixes, no secrets.",
        ),
    );

    template.resource(
        LOG_GROUP,
        Resource::new(LogGroup {
            // Under /iam-janitor/, which the guardrails SCP protects, and named with the
            // stack's own ID: a retained log group with a fixed name would make a deploy
            // after a destroy fail ("already exists"). The function logs to it through
            // LoggingConfig.
            log_group_name: Some(Expr::SubWith(
                format!("{LOG_GROUP_PREFIX}${{FunctionName}}/${{StackUuid}}"),
                BTreeMap::from([("StackUuid".to_string(), Expr::stack_uuid())]),
            )),
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
                "iam-janitor Lambda: IAM reads, writes on users and on its own /iam-janitor/ policies, its own logs and state table",
            )),
            // Deliberately not under /iam-janitor/: the engine may change policies there.
            // A path of its own, which the guardrails SCP protects.
            path: Some(Expr::from(ROLE_POLICY_PATH)),
            policy_document: role_policy(permissions, LOG_GROUP, STATE_TABLE),
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
            managed_policy_arns: vec![
                Expr::Ref(ROLE_POLICY),
                Expr::if_then_else(HAS_REPORT_BUCKET, Expr::Ref(REPORT_WRITER_POLICY), Expr::NO_VALUE),
                Expr::if_then_else(HAS_ORG_DIGEST, Expr::Ref(ORG_DIGEST_READER_POLICY), Expr::NO_VALUE),
                Expr::if_then_else(HAS_REPORT_KMS_KEY, Expr::Ref(REPORT_ENCRYPT_POLICY), Expr::NO_VALUE),
                Expr::if_then_else(
                    HAS_ORG_DIGEST_KMS_KEY,
                    Expr::Ref(ORG_DIGEST_DECRYPT_POLICY),
                    Expr::NO_VALUE,
                ),
            ],
        }),
    );

    template.resource(
        REPORT_WRITER_POLICY,
        Resource::conditional(
            HAS_REPORT_BUCKET,
            ManagedPolicy {
                description: Some(Expr::from(
                    "iam-janitor Lambda: store its run reports in the organization's report bucket, under this account's prefix only",
                )),
                path: Some(Expr::from(ROLE_POLICY_PATH)),
                policy_document: report_writer_policy(),
            },
        ),
    );

    template.resource(
        ORG_DIGEST_READER_POLICY,
        Resource::conditional(
            HAS_ORG_DIGEST,
            ManagedPolicy {
                description: Some(Expr::from(
                    "iam-janitor Lambda: read every account's reports and list the organization's accounts, for the organization digest",
                )),
                path: Some(Expr::from(ROLE_POLICY_PATH)),
                policy_document: org_digest_reader_policy(),
            },
        ),
    );

    template.resource(
        REPORT_ENCRYPT_POLICY,
        Resource::conditional(
            HAS_REPORT_KMS_KEY,
            ManagedPolicy {
                description: Some(Expr::from(
                    "iam-janitor Lambda: have S3 encrypt its run reports with the report bucket's KMS key",
                )),
                path: Some(Expr::from(ROLE_POLICY_PATH)),
                policy_document: report_encrypt_policy(),
            },
        ),
    );

    template.resource(
        ORG_DIGEST_DECRYPT_POLICY,
        Resource::conditional(
            HAS_ORG_DIGEST_KMS_KEY,
            ManagedPolicy {
                description: Some(Expr::from(
                    "iam-janitor Lambda: have S3 decrypt the reports with the report bucket's KMS key, for the organization digest",
                )),
                path: Some(Expr::from(ROLE_POLICY_PATH)),
                policy_document: org_digest_decrypt_policy(),
            },
        ),
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
            // Named after the function, so that the guardrails SCP can protect it.
            name: Some(Expr::Ref(FUNCTION_NAME)),
            description: Some(Expr::from("Starts an iam-janitor run")),
            event_bus_name: None,
            event_pattern: None,
            schedule_expression: Some(Expr::Ref(SCHEDULE_EXPRESSION)),
            state: Some(RuleState::Enabled),
            targets: vec![Target {
                id: Expr::from("iam-janitor"),
                arn: Expr::get_att(FUNCTION, "Arn"),
                role_arn: None,
                input: None,
                input_transformer: None,
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

    // The organization digest (the management account's stack only): the same function,
    // sent a constant event that runs no engine.
    template.resource(
        ORG_DIGEST_RULE,
        Resource::conditional(
            HAS_ORG_DIGEST,
            Rule {
                // Named after the function, so that the guardrails SCP can protect it.
                name: Some(Expr::sub(format!("${{FunctionName}}{ORG_DIGEST_RULE_SUFFIX}"))),
                description: Some(Expr::from("Posts iam-janitor's organization digest")),
                event_bus_name: None,
                event_pattern: None,
                schedule_expression: Some(Expr::Ref(ORG_DIGEST_SCHEDULE)),
                state: Some(RuleState::Enabled),
                targets: vec![Target {
                    id: Expr::from("iam-janitor-org-digest"),
                    arn: Expr::get_att(FUNCTION, "Arn"),
                    role_arn: None,
                    input: Some(Expr::from(ORG_DIGEST_INPUT)),
                    input_transformer: None,
                }],
            },
        ),
    );

    template.resource(
        ORG_DIGEST_PERMISSION,
        Resource::conditional(
            HAS_ORG_DIGEST,
            Permission {
                action: Expr::from("lambda:InvokeFunction"),
                function_name: Expr::get_att(FUNCTION, "Arn"),
                principal: Expr::from("events.amazonaws.com"),
                source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
                source_arn: Some(Expr::get_att(ORG_DIGEST_RULE, "Arn")),
            },
        ),
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

    // A failed run: the function's Errors.
    template.resource(
        ERRORS_ALARM,
        Resource::new(Alarm {
            evaluation_periods: Expr::from(ALARM_EVALUATION_PERIODS),
            datapoints_to_alarm: Some(Expr::from(1u32)),
            comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing_data: Some(TreatMissingData::NotBreaching),
            ..hourly_function_alarm(
                ERRORS_ALARM_SUFFIX,
                "Errors",
                "A run of ${FunctionName} failed in the last 24 hours: nothing or only part of the \
                 plan was done. See the log group ${LogGroup}.",
            )
        }),
    );

    // A missing run is a failure too: a schedule disabled, deleted or throttled emits no
    // datapoint at all, which the errors alarm reads as fine. Lambda publishes
    // Invocations only for hours with a run; an hour without one is missing data, which
    // here counts as breaching, so the alarm fires after MissedRunHours hours in a row
    // without a run (a period of an hour allows up to 7 days).
    template.resource(
        MISSED_RUN_ALARM,
        Resource::new(Alarm {
            evaluation_periods: Expr::Ref(MISSED_RUN_HOURS),
            datapoints_to_alarm: Some(Expr::Ref(MISSED_RUN_HOURS)),
            comparison_operator: ComparisonOperator::LessThanThreshold,
            treat_missing_data: Some(TreatMissingData::Breaching),
            ..hourly_function_alarm(
                MISSED_RUN_ALARM_SUFFIX,
                "Invocations",
                "${FunctionName} has not run for ${MissedRunHours} hours: is its schedule (rule \
                 ${FunctionName}) enabled? Dormant credentials are not being disabled in this account.",
            )
        }),
    );

    // Alarms notify through the management account: their state changes (every alarm
    // emits them to the account's default bus) are forwarded to the bus given, where one
    // rule notifies people. One subscription for the organization, not one per account.
    template.resource(
        ALERT_FORWARDER_POLICY,
        Resource::conditional(
            HAS_ALERT_BUS,
            ManagedPolicy {
                description: Some(Expr::from(
                    "iam-janitor alert forwarding: put events on the organization's alert bus only",
                )),
                // Protected by the guardrails SCP, like the function's own policy.
                path: Some(Expr::from(ROLE_POLICY_PATH)),
                policy_document: PolicyDocument::new(vec![Statement {
                    sid: Some("ForwardAlarmStateChanges".to_string()),
                    effect: Effect::Allow,
                    action: Some(Values::one(Expr::from("events:PutEvents"))),
                    not_action: None,
                    resource: Values::one(Expr::Ref(ALERT_BUS_ARN)),
                    condition: None,
                }]),
            },
        ),
    );
    template.resource(
        ALERT_FORWARDER_ROLE,
        Resource::conditional(
            HAS_ALERT_BUS,
            Role {
                description: Some(Expr::from(
                    "EventBridge forwards iam-janitor's alarm state changes with it",
                )),
                path: Some(Expr::from(ROLE_PATH)),
                assume_role_policy_document: ResourcePolicyDocument::new(vec![ResourceStatement {
                    sid: None,
                    effect: Effect::Allow,
                    principal: Principal::Service(Values::one(Expr::from("events.amazonaws.com"))),
                    action: Values::one(Expr::from("sts:AssumeRole")),
                    resource: None,
                    condition: Some(BTreeMap::from([(
                        "StringEquals".to_string(),
                        BTreeMap::from([(
                            "aws:SourceAccount".to_string(),
                            Values::one(Expr::Pseudo(Pseudo::AccountId)),
                        )]),
                    )])),
                }]),
                managed_policy_arns: vec![Expr::Ref(ALERT_FORWARDER_POLICY)],
            },
        ),
    );
    template.resource(
        ALERT_RULE,
        Resource::conditional(
            HAS_ALERT_BUS,
            Rule {
                name: Some(Expr::sub(format!("${{FunctionName}}{ALERT_RULE_SUFFIX}"))),
                description: Some(Expr::from(
                    "Forwards iam-janitor's alarm state changes to the organization's alert bus",
                )),
                event_bus_name: None,
                event_pattern: Some(EventPattern {
                    source: vec![Expr::from("aws.cloudwatch")],
                    detail_type: vec![Expr::from("CloudWatch Alarm State Change")],
                    resources: Vec::new(),
                    // By name (unique in the account and Region): the alarms' own.
                    detail: BTreeMap::from([(
                        "alarmName".to_string(),
                        vec![
                            Expr::sub(format!("${{FunctionName}}{ERRORS_ALARM_SUFFIX}")),
                            Expr::sub(format!("${{FunctionName}}{MISSED_RUN_ALARM_SUFFIX}")),
                        ],
                    )]),
                }),
                schedule_expression: None,
                state: Some(RuleState::Enabled),
                targets: vec![Target {
                    id: Expr::from("alert-bus"),
                    arn: Expr::Ref(ALERT_BUS_ARN),
                    role_arn: Some(Expr::get_att(ALERT_FORWARDER_ROLE, "Arn")),
                    input: None,
                    input_transformer: None,
                }],
            },
        ),
    );

    template.output(FUNCTION_ARN, "The function's ARN", Expr::get_att(FUNCTION, "Arn"));
    template.output(
        ROLE_ARN,
        "The function's role, to exempt in service control policies",
        Expr::get_att(ROLE, "Arn"),
    );
    template.output(LOG_GROUP_NAME, "Where each run logs what it did", Expr::Ref(LOG_GROUP));
    template.output(
        STATE_TABLE_NAME,
        "Least privilege's memory (kept when the stack is deleted)",
        Expr::Ref(STATE_TABLE),
    );
    template
}
