//! The artifact stack (management account): the bucket the member stacks' code is read
//! from, where the organization's alerts arrive (an event bus the member stacks
//! forward their alarms' state changes to, and a topic that tells people), and where
//! every account's run reports are kept (a bucket each account's tool role may write
//! under its own prefix only, and the Athena table over it).
//!
//! Lambda reads `Code.S3Bucket` with the credentials of whoever creates the function:
//! in member accounts that is the StackSet execution role `stacksets-exec-*`, in the
//! management account its own deployer. So the bucket policy lets only those roles of
//! the organization read objects (the management account needs no grant: its principals
//! are allowed by their own IAM policies). Lambda needs the bucket in the function's
//! Region: deploy this stack in the Region of the member stacks.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::id::LogicalId;
use crate::policy::{Condition, Effect, Principal, ResourcePolicyDocument, ResourceStatement, Values};
use crate::resources::Resource;
use crate::resources::events::{EventBus, EventBusPolicy, EventPattern, InputTransformer, Rule, RuleState, Target};
use crate::resources::glue::{Column, Database, DatabaseInput, SerdeInfo, StorageDescriptor, Table, TableInput};
use crate::resources::s3::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration, LifecycleRule,
    NoncurrentVersionExpiration, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryptionByDefault, ServerSideEncryptionRule, SseAlgorithm,
    VersioningConfiguration, VersioningStatus,
};
use crate::resources::sns::{Subscription, Topic, TopicPolicy};
use crate::template::{Parameter, Template};

// Parameters.
pub const ORGANIZATION_ID: LogicalId = LogicalId::from_static("OrganizationId");
pub const ALARM_EMAIL: LogicalId = LogicalId::from_static("AlarmEmail");
pub const ALARM_TOPIC_ARN: LogicalId = LogicalId::from_static("AlarmTopicArn");
pub const REPORT_RETENTION_DAYS: LogicalId = LogicalId::from_static("ReportRetentionDays");
pub const REPORT_ACCOUNTS: LogicalId = LogicalId::from_static("ReportAccounts");
pub const REPORT_KMS_KEY_ARN: LogicalId = LogicalId::from_static("ReportKmsKeyArn");

// Conditions.
pub const HAS_ALARM_EMAIL: LogicalId = LogicalId::from_static("HasAlarmEmail");
pub const HAS_ALARM_TOPIC: LogicalId = LogicalId::from_static("HasAlarmTopic");
pub const HAS_REPORT_ACCOUNTS: LogicalId = LogicalId::from_static("HasReportAccounts");
pub const HAS_REPORT_KMS_KEY: LogicalId = LogicalId::from_static("HasReportKmsKey");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const CODE_BUCKET: LogicalId = LogicalId::from_static("CodeBucket");
pub const CODE_BUCKET_POLICY: LogicalId = LogicalId::from_static("CodeBucketPolicy");
pub const ALERT_BUS: LogicalId = LogicalId::from_static("AlertBus");
pub const ALERT_BUS_POLICY: LogicalId = LogicalId::from_static("AlertBusPolicy");
pub const ALERT_TOPIC: LogicalId = LogicalId::from_static("AlertTopic");
pub const ALERT_TOPIC_POLICY: LogicalId = LogicalId::from_static("AlertTopicPolicy");
pub const ALERT_EMAIL: LogicalId = LogicalId::from_static("AlertEmail");
pub const ALERT_RULE: LogicalId = LogicalId::from_static("AlertRule");
pub const ALERT_TOPIC_RULE: LogicalId = LogicalId::from_static("AlertTopicRule");
pub const REPORT_BUCKET: LogicalId = LogicalId::from_static("ReportBucket");
pub const REPORT_BUCKET_POLICY: LogicalId = LogicalId::from_static("ReportBucketPolicy");
pub const REPORTS_DATABASE: LogicalId = LogicalId::from_static("ReportsDatabase");
pub const RUNS_TABLE: LogicalId = LogicalId::from_static("RunsTable");

// Outputs.
pub const CODE_BUCKET_NAME: LogicalId = LogicalId::from_static("CodeBucketName");
pub const ALERT_BUS_ARN: LogicalId = LogicalId::from_static("AlertBusArn");
pub const REPORT_BUCKET_NAME: LogicalId = LogicalId::from_static("ReportBucketName");

/// The alert bus's and topic's name: one per account and Region.
pub const ALERT_BUS_NAME: &str = "iam-janitor-alerts";

/// The alert bus's ARN in `account` and `region` (what deploy gives the member stacks).
pub fn alert_bus_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:events:{region}:{account}:event-bus/{ALERT_BUS_NAME}")
}

/// What a person reads: which account, which alarm, its state and why.
fn alert_message() -> InputTransformer {
    InputTransformer {
        input_paths_map: BTreeMap::from([
            ("account".to_string(), "$.account".to_string()),
            ("alarm".to_string(), "$.detail.alarmName".to_string()),
            ("state".to_string(), "$.detail.state.value".to_string()),
            ("reason".to_string(), "$.detail.state.reason".to_string()),
            ("region".to_string(), "$.region".to_string()),
            ("time".to_string(), "$.time".to_string()),
        ]),
        input_template: "\"iam-janitor in account <account> (<region>): alarm <alarm> is <state> since <time>. \
                         <reason>. ALARM on -errors: a run failed (see the function's log group /iam-janitor/…); \
                         ALARM on -missed-run: the tool has stopped running there. OK: recovered.\""
            .to_string(),
    }
}

/// The bucket's name: one per account and Region.
pub const BUCKET_NAME: &str = "iam-janitor-code-${AWS::AccountId}-${AWS::Region}";

/// The report bucket's name starts with this, then `<account>-<region>`: one per
/// account and Region, its owner readable from its name (writers check it).
pub const REPORT_BUCKET_PREFIX: &str = "iam-janitor-reports-";

/// The report bucket of `account` in `region` (what deploy gives the member stacks).
pub fn report_bucket_name(account: &str, region: &str) -> String {
    format!("{REPORT_BUCKET_PREFIX}{account}-{region}")
}

/// `ReportKmsKeyArn`'s pattern (both stacks): empty, or the ARN of a key (not an
/// alias: S3 needs the key's ARN for a key of another account, and an IAM policy on an
/// alias ARN grants nothing on the key), single- or multi-Region.
pub const KMS_KEY_ARN_PATTERN: &str = "^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}))?$";

/// Where the reports are, in the bucket; each account's under `account=<id>/`.
pub const REPORTS_PREFIX: &str = "reports/";

/// The roles that may store reports: the tool's own, in every account of the
/// organization (the member stacks' `Role`, path `/iam-janitor/`).
pub const WRITER_ROLE_ARNS: &str = "arn:${AWS::Partition}:iam::*:role/iam-janitor/*";

/// Days a noncurrent version of a report (one overwritten or expired) is kept: an
/// overwrite stays visible for a month.
pub const NONCURRENT_REPORT_DAYS: u32 = 30;

/// The Glue database and table Athena reads the reports through.
pub const REPORTS_DATABASE_NAME: &str = "iam_janitor";
pub const RUNS_TABLE_NAME: &str = "runs";

/// The stored report's columns (the JSON report of `lambda/src/model/report.rs`, one
/// object per line), as Hive types. The engine's tests check that every field it
/// writes has its column.
pub const RUN_COLUMNS: &[(&str, &str)] = &[
    ("schema_version", "int"),
    ("account_id", "string"),
    ("generated_at", "string"),
    ("enforce", "boolean"),
    ("mode", "string"),
    ("credential_report_generated_at", "string"),
    ("dormant_days", "int"),
    ("warn_days", "int"),
    (
        "findings",
        "array<struct<user:string,arn:string,kind:string,access_key_id:string,access_key_slot:int,\
         credential_id:string,credential_slot:int,last_used:string,idle_days:bigint,action:string,status:string,\
         reason:string,reason_code:string,services:array<string>>>",
    ),
    ("rejected_rows", "array<struct<line:bigint,user:string,reason:string>>"),
    (
        "suspicious_tags",
        "array<struct<user:string,key:string,value:string,kind:string,reason:string>>",
    ),
    ("not_checked", "array<string>"),
    (
        "summary",
        "struct<users_evaluated:bigint,credentials_evaluated:bigint,users_checked_for_unused_services:bigint,\
         users_without_credentials:bigint,users_left_for_next_run:bigint,oldest_check_days:bigint,\
         users_checked_for_ssh_keys:bigint,users_with_deny_policy:bigint,warnings:bigint,planned:bigint,applied:bigint,skipped:bigint,\
         failed:bigint,rejected_rows:bigint,suspicious_tags:bigint,\
         circuit_breaker:struct<planned_changes:bigint,max_actions:bigint,tripped:boolean,applied_before:bigint>>",
    ),
];

/// SSE-S3: keys managed by S3.
fn sse_s3() -> ServerSideEncryptionRule {
    ServerSideEncryptionRule {
        bucket_key_enabled: None,
        server_side_encryption_by_default: ServerSideEncryptionByDefault {
            sse_algorithm: Expr::from(SseAlgorithm::Aes256),
            kms_master_key_id: None,
        },
    }
}

/// The report bucket's encryption: SSE-KMS with `ReportKmsKeyArn` and a Bucket Key
/// (one KMS request now and then rather than one per report) when the key is given,
/// SSE-S3 otherwise.
fn report_bucket_encryption() -> ServerSideEncryptionRule {
    ServerSideEncryptionRule {
        bucket_key_enabled: Some(Expr::if_then_else(HAS_REPORT_KMS_KEY, true, Expr::NO_VALUE)),
        server_side_encryption_by_default: ServerSideEncryptionByDefault {
            sse_algorithm: Expr::if_then_else(HAS_REPORT_KMS_KEY, SseAlgorithm::AwsKms, SseAlgorithm::Aes256),
            kms_master_key_id: Some(Expr::if_then_else(
                HAS_REPORT_KMS_KEY,
                Expr::Ref(REPORT_KMS_KEY_ARN),
                Expr::NO_VALUE,
            )),
        },
    }
}

/// A bucket only its policy opens: encrypted with `encryption`, ownership enforced (no
/// ACLs), every public access block on, versioned.
fn private_bucket(
    name: Expr,
    encryption: ServerSideEncryptionRule,
    lifecycle_configuration: Option<LifecycleConfiguration>,
) -> Bucket {
    Bucket {
        bucket_name: Some(name),
        lifecycle_configuration,
        bucket_encryption: Some(BucketEncryption {
            server_side_encryption_configuration: vec![encryption],
        }),
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::BucketOwnerEnforced,
            }],
        }),
        public_access_block_configuration: Some(PublicAccessBlockConfiguration::ALL),
        versioning_configuration: Some(VersioningConfiguration {
            status: VersioningStatus::Enabled,
        }),
    }
}

/// The statement of a bucket policy that denies every request not over TLS.
fn deny_insecure_transport(bucket: LogicalId) -> ResourceStatement<Expr> {
    ResourceStatement {
        sid: Some("DenyInsecureTransport".to_string()),
        effect: Effect::Deny,
        principal: Principal::Any,
        action: Values::one(Expr::from("s3:*")),
        resource: Some(Values(vec![
            Expr::get_att(bucket.clone(), "Arn"),
            Expr::sub(format!("${{{}.Arn}}/*", bucket.as_str())),
        ])),
        condition: Some(condition("Bool", "aws:SecureTransport", Expr::from("false"))),
    }
}

/// The report bucket's policy: TLS only; the tool's role in each account of the
/// organization may put objects under its own account's prefix and nowhere else; no
/// one outside the account reads anything (the management account's principals are
/// allowed by their own IAM policies, as for any bucket of theirs).
pub fn report_bucket_policy() -> ResourcePolicyDocument<Expr> {
    let mut writers = condition("StringEquals", "aws:PrincipalOrgID", Expr::Ref(ORGANIZATION_ID));
    writers.extend(condition("ArnLike", "aws:PrincipalArn", Expr::sub(WRITER_ROLE_ARNS)));
    ResourcePolicyDocument::new(vec![
        deny_insecure_transport(REPORT_BUCKET),
        ResourceStatement {
            sid: Some("OrganizationToolWritesOwnPrefix".to_string()),
            effect: Effect::Allow,
            principal: Principal::Any,
            action: Values::one(Expr::from("s3:PutObject")),
            // `${!…}` is Fn::Sub's literal `${…}`: the policy variable S3 fills with the
            // caller's account.
            resource: Some(Values::one(Expr::sub(format!(
                "${{ReportBucket.Arn}}/{REPORTS_PREFIX}account=${{!aws:PrincipalAccount}}/*"
            )))),
            condition: Some(writers),
        },
    ])
}

/// The `Sid` of [`report_key_policy_statement`]: deploy looks for it in the key's policy.
pub const REPORT_KEY_STATEMENT_SID: &str = "IamJanitorRolesEncryptReports";

/// The statement the report bucket's KMS key policy needs (the README gives it; the
/// key is the user's, not the stack's): the tool's role in every account of
/// `organization_id` may have S3 generate data keys for the report bucket `bucket` in
/// `region`, and nothing else. Each role's own `ReportEncryptPolicy` must allow the
/// same (KMS, like S3, needs both across accounts). Reading stays with the key's
/// account, through its IAM policies (the key's default statement).
pub fn report_key_policy_statement(
    partition: &str,
    organization_id: &str,
    region: &str,
    bucket: &str,
) -> ResourceStatement<String> {
    let one = |value: String| Values::one(value);
    ResourceStatement {
        sid: Some(REPORT_KEY_STATEMENT_SID.to_string()),
        effect: Effect::Allow,
        principal: Principal::Aws(one("*".to_string())),
        action: one("kms:GenerateDataKey".to_string()),
        resource: Some(one("*".to_string())),
        condition: Some(BTreeMap::from([
            (
                "StringEquals".to_string(),
                BTreeMap::from([
                    ("aws:PrincipalOrgID".to_string(), one(organization_id.to_string())),
                    ("kms:ViaService".to_string(), one(format!("s3.{region}.amazonaws.com"))),
                ]),
            ),
            (
                "ArnLike".to_string(),
                BTreeMap::from([(
                    "aws:PrincipalArn".to_string(),
                    one(WRITER_ROLE_ARNS.replace("${AWS::Partition}", partition)),
                )]),
            ),
            (
                // With the Bucket Key the context is the bucket's ARN; an object's
                // ARN should S3 ever ask without it.
                "StringLike".to_string(),
                BTreeMap::from([(
                    "kms:EncryptionContext:aws:s3:arn".to_string(),
                    Values(vec![
                        format!("arn:{partition}:s3:::{bucket}"),
                        format!("arn:{partition}:s3:::{bucket}/{REPORTS_PREFIX}*"),
                    ]),
                )]),
            ),
        ])),
    }
}

/// The Athena table over the reports: partitions projected from the keys
/// (`account=<id>/date=<YYYY-MM-DD>/`), so that no crawler or `MSCK REPAIR` is needed.
/// Accounts are an `enum` of `ReportAccounts` (deploy lists the organization's);
/// without it, `injected`: each query then names its accounts.
fn runs_table() -> Table {
    let column = |(name, r#type): &(&str, &str)| Column {
        name: Expr::from(*name),
        r#type: Some(Expr::from(r#type.replace(char::is_whitespace, ""))),
        comment: None,
    };
    let partition = |name: &str, comment: &str| Column {
        name: Expr::from(name),
        r#type: Some(Expr::from("string")),
        comment: Some(Expr::from(comment)),
    };
    let parameters = BTreeMap::from([
        ("EXTERNAL".to_string(), Expr::from("TRUE")),
        ("classification".to_string(), Expr::from("json")),
        ("projection.enabled".to_string(), Expr::from("true")),
        (
            "projection.account.type".to_string(),
            Expr::if_then_else(HAS_REPORT_ACCOUNTS, "enum", "injected"),
        ),
        (
            "projection.account.values".to_string(),
            Expr::if_then_else(HAS_REPORT_ACCOUNTS, Expr::Ref(REPORT_ACCOUNTS), Expr::NO_VALUE),
        ),
        ("projection.date.type".to_string(), Expr::from("date")),
        ("projection.date.format".to_string(), Expr::from("yyyy-MM-dd")),
        (
            "projection.date.range".to_string(),
            Expr::sub("NOW-${ReportRetentionDays}DAYS,NOW"),
        ),
        ("projection.date.interval".to_string(), Expr::from("1")),
        ("projection.date.interval.unit".to_string(), Expr::from("DAYS")),
        (
            "storage.location.template".to_string(),
            Expr::sub(format!(
                "s3://${{ReportBucket}}/{REPORTS_PREFIX}account=${{!account}}/date=${{!date}}/"
            )),
        ),
    ]);
    Table {
        catalog_id: Expr::Pseudo(crate::expr::Pseudo::AccountId),
        database_name: Expr::Ref(REPORTS_DATABASE),
        table_input: TableInput {
            name: Some(Expr::from(RUNS_TABLE_NAME)),
            description: Some(Expr::from(
                "iam-janitor: one row per run of every account (its JSON report), partitioned by account and date",
            )),
            table_type: Some(Expr::from("EXTERNAL_TABLE")),
            parameters,
            partition_keys: vec![
                partition("account", "The account ID (reports/account=<id>/)"),
                partition("date", "The UTC day the report was stored, YYYY-MM-DD"),
            ],
            storage_descriptor: Some(StorageDescriptor {
                columns: RUN_COLUMNS.iter().map(column).collect(),
                location: Some(Expr::sub(format!("s3://${{ReportBucket}}/{REPORTS_PREFIX}"))),
                input_format: Some(Expr::from("org.apache.hadoop.mapred.TextInputFormat")),
                output_format: Some(Expr::from("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat")),
                serde_info: Some(SerdeInfo {
                    serialization_library: Some(Expr::from("org.openx.data.jsonserde.JsonSerDe")),
                    // Unknown fields (added within a schema version) are ignored.
                    parameters: BTreeMap::new(),
                }),
            }),
        },
    }
}

/// The roles allowed to read code: the execution roles of service-managed StackSets.
pub const READER_ROLE_ARNS: &str = "arn:${AWS::Partition}:iam::*:role/stacksets-exec-*";

fn condition(operator: &str, key: &str, value: Expr) -> Condition<Expr> {
    BTreeMap::from([(
        operator.to_string(),
        BTreeMap::from([(key.to_string(), Values::one(value))]),
    )])
}

/// The bucket policy: TLS only; objects readable by StackSet execution roles of the
/// organization; nothing else.
pub fn bucket_policy() -> ResourcePolicyDocument<Expr> {
    let mut org_reader = condition("StringEquals", "aws:PrincipalOrgID", Expr::Ref(ORGANIZATION_ID));
    org_reader.extend(condition("ArnLike", "aws:PrincipalArn", Expr::sub(READER_ROLE_ARNS)));
    ResourcePolicyDocument::new(vec![
        deny_insecure_transport(CODE_BUCKET),
        ResourceStatement {
            sid: Some("OrganizationStackSetsReadCode".to_string()),
            effect: Effect::Allow,
            principal: Principal::Any,
            action: Values(vec![Expr::from("s3:GetObject"), Expr::from("s3:GetObjectVersion")]),
            resource: Some(Values::one(Expr::sub("${CodeBucket.Arn}/*"))),
            condition: Some(org_reader),
        },
    ])
}

/// The artifact stack.
pub fn artifact_stack() -> Template {
    let mut template = Template::new(
        "iam-janitor: the bucket of the Lambda's code, readable by the organization's StackSet \
         execution roles, and the organization's alerts: a bus the member stacks forward their \
         alarms to, and a topic that tells people (management account, in the member stacks' Region).",
    );
    template.parameter(
        ORGANIZATION_ID,
        Parameter::string("The organization whose StackSet execution roles may read the code (o-…)")
            .pattern("^o-[a-z0-9]{10,32}$", "an organization ID such as o-abcd123456"),
    );
    template.parameter(
        ALARM_EMAIL,
        Parameter::string(
            "Email address told of every iam-janitor alarm in the organization (a failed or a missed run); \
             SNS sends it a confirmation first. Empty: none",
        )
        .default("")
        .pattern("^([^@\\s]+@[^@\\s]+\\.[^@\\s]+)?$", "empty, or an email address"),
    );
    template.parameter(
        ALARM_TOPIC_ARN,
        Parameter::string(
            "An SNS topic of this account told of them too (its policy must let events.amazonaws.com publish). \
             Empty: none",
        )
        .default("")
        .pattern(
            "^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256})?$",
            "empty, or an SNS topic ARN",
        ),
    );
    template.parameter(
        REPORT_RETENTION_DAYS,
        Parameter::number(
            "Days each run report is kept in the report bucket (the Athena table's window too)",
            1,
            3650,
        )
        .default(400),
    );
    template.parameter(
        REPORT_ACCOUNTS,
        Parameter::string(
            "The organization's account IDs, comma-separated, for the Athena table's account partitions (deploy \
             lists them); empty: each query must name its accounts (WHERE account IN (…))",
        )
        .default("")
        .pattern(
            "^([0-9]{12}(,[0-9]{12})*)?$",
            "empty, or 12-digit account IDs separated by commas",
        ),
    );
    template.resource(
        CODE_BUCKET,
        Resource::new(private_bucket(Expr::sub(BUCKET_NAME), sse_s3(), None))
            // Stacks in every account refer to its objects: never delete it with the stack.
            .retained()
            .checkov_skip(
                "CKV_AWS_18",
                "No server access logging: the bucket holds build artefacts only, written by the \
             release process and read by CloudFormation; reads and writes are in CloudTrail \
             (data events if enabled), and logging needs a second bucket.",
            ),
    );
    template.resource(
        CODE_BUCKET_POLICY,
        Resource::new(BucketPolicy {
            bucket: Expr::Ref(CODE_BUCKET),
            policy_document: bucket_policy(),
        }),
    );
    template.parameter(
        REPORT_KMS_KEY_ARN,
        Parameter::string(
            "A KMS key (its ARN, in this Region) the report bucket encrypts with, SSE-KMS with a Bucket Key; its \
             key policy must let the organization's tool roles use it (README, \"The report bucket's KMS key\"). \
             Empty: SSE-S3",
        )
        .default("")
        .pattern(
            KMS_KEY_ARN_PATTERN,
            "empty, or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ),
    );
    template.condition(HAS_REPORT_ACCOUNTS, Expr::not_equals(Expr::Ref(REPORT_ACCOUNTS), ""));
    template.condition(HAS_REPORT_KMS_KEY, Expr::not_equals(Expr::Ref(REPORT_KMS_KEY_ARN), ""));
    template.resource(
        REPORT_BUCKET,
        // An overwritten report stays as a noncurrent version for a month.
        Resource::new(private_bucket(
            Expr::sub(format!("{REPORT_BUCKET_PREFIX}${{AWS::AccountId}}-${{AWS::Region}}")),
            report_bucket_encryption(),
            Some(LifecycleConfiguration {
                rules: vec![LifecycleRule {
                    id: Some(Expr::from("expire-reports")),
                    status: Expr::from("Enabled"),
                    prefix: Some(Expr::from(REPORTS_PREFIX)),
                    expiration_in_days: Some(Expr::Ref(REPORT_RETENTION_DAYS)),
                    noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                        noncurrent_days: Expr::from(NONCURRENT_REPORT_DAYS),
                    }),
                    abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                        days_after_initiation: Expr::from(1u32),
                    }),
                    expired_object_delete_marker: None,
                }],
            }),
        ))
        // The organization's record of every run: never delete it with the stack.
        .retained()
        .checkov_skip(
            "CKV_AWS_19",
            "Always encrypted: SSE-KMS with ReportKmsKeyArn, or SSE-S3 without it; checkov does not read the Fn::If \
             choosing between the two.",
        )
        .checkov_skip(
            "CKV_AWS_18",
            "No server access logging: each account's tool role may only put objects under its own \
             prefix, and the writes are in CloudTrail (data events if enabled); logging needs a second bucket.",
        ),
    );
    template.resource(
        REPORT_BUCKET_POLICY,
        Resource::new(BucketPolicy {
            bucket: Expr::Ref(REPORT_BUCKET),
            policy_document: report_bucket_policy(),
        }),
    );
    template.resource(
        REPORTS_DATABASE,
        Resource::new(Database {
            catalog_id: Expr::Pseudo(crate::expr::Pseudo::AccountId),
            database_input: DatabaseInput {
                name: Some(Expr::from(REPORTS_DATABASE_NAME)),
                description: Some(Expr::from("iam-janitor: the organization's run reports (Athena)")),
            },
        }),
    );
    template.resource(RUNS_TABLE, Resource::new(runs_table()));
    template.condition(HAS_ALARM_EMAIL, Expr::not_equals(Expr::Ref(ALARM_EMAIL), ""));
    template.condition(HAS_ALARM_TOPIC, Expr::not_equals(Expr::Ref(ALARM_TOPIC_ARN), ""));
    template.resource(
        ALERT_BUS,
        Resource::new(EventBus {
            name: Expr::from(ALERT_BUS_NAME),
        }),
    );
    let mut forwarders = condition("StringEquals", "aws:PrincipalOrgID", Expr::Ref(ORGANIZATION_ID));
    forwarders.extend(condition(
        "ArnLike",
        "aws:PrincipalArn",
        Expr::sub("arn:${AWS::Partition}:iam::*:role/iam-janitor/*"),
    ));
    template.resource(
        ALERT_BUS_POLICY,
        Resource::new(EventBusPolicy {
            event_bus_name: Some(Expr::from(ALERT_BUS_NAME)),
            statement_id: Expr::from("OrganizationForwardsAlarms"),
            statement: ResourceStatement {
                sid: Some("OrganizationForwardsAlarms".to_string()),
                effect: Effect::Allow,
                principal: Principal::Any,
                action: Values::one(Expr::from("events:PutEvents")),
                resource: Some(Values::one(Expr::get_att(ALERT_BUS, "Arn"))),
                condition: Some(forwarders),
            },
        }),
    );
    template.resource(
        ALERT_TOPIC,
        Resource::new(Topic {
            topic_name: Some(Expr::from(ALERT_BUS_NAME)),
        })
        .checkov_skip(
            "CKV_AWS_26",
            "Not encrypted with KMS: EventBridge can publish to an encrypted topic only with a \
             customer managed key whose policy lets it, one more key to run; the messages say \
             that an alarm changed state, in which account, and why, no secrets.",
        ),
    );
    template.resource(
        ALERT_TOPIC_POLICY,
        Resource::new(TopicPolicy {
            policy_document: ResourcePolicyDocument::new(vec![ResourceStatement {
                sid: Some("AlertRulePublishes".to_string()),
                effect: Effect::Allow,
                principal: Principal::Service(Values::one(Expr::from("events.amazonaws.com"))),
                action: Values::one(Expr::from("sns:Publish")),
                resource: Some(Values::one(Expr::Ref(ALERT_TOPIC))),
                condition: Some(condition(
                    "ArnEquals",
                    "aws:SourceArn",
                    Expr::get_att(ALERT_RULE, "Arn"),
                )),
            }]),
            topics: vec![Expr::Ref(ALERT_TOPIC)],
        }),
    );
    template.resource(
        ALERT_EMAIL,
        Resource::conditional(
            HAS_ALARM_EMAIL,
            Subscription {
                protocol: Expr::from("email"),
                endpoint: Some(Expr::Ref(ALARM_EMAIL)),
                topic_arn: Expr::Ref(ALERT_TOPIC),
            },
        ),
    );
    let pattern = || EventPattern {
        source: vec![Expr::from("aws.cloudwatch")],
        detail_type: vec![Expr::from("CloudWatch Alarm State Change")],
        resources: Vec::new(),
        detail: BTreeMap::new(),
    };
    template.resource(
        ALERT_RULE,
        Resource::new(Rule {
            name: None,
            description: Some(Expr::from(
                "Tells people of iam-janitor's alarms in every account (the topic iam-janitor-alerts)",
            )),
            event_bus_name: Some(Expr::from(ALERT_BUS_NAME)),
            event_pattern: Some(pattern()),
            schedule_expression: None,
            state: Some(RuleState::Enabled),
            targets: vec![Target {
                id: Expr::from("alert-topic"),
                arn: Expr::Ref(ALERT_TOPIC),
                role_arn: None,
                input: None,
                input_transformer: Some(alert_message()),
            }],
        })
        .after(ALERT_BUS),
    );
    template.resource(
        ALERT_TOPIC_RULE,
        Resource::conditional(
            HAS_ALARM_TOPIC,
            Rule {
                name: None,
                description: Some(Expr::from("Sends iam-janitor's alarms to the topic AlarmTopicArn too")),
                event_bus_name: Some(Expr::from(ALERT_BUS_NAME)),
                event_pattern: Some(pattern()),
                schedule_expression: None,
                state: Some(RuleState::Enabled),
                targets: vec![Target {
                    id: Expr::from("alarm-topic"),
                    arn: Expr::Ref(ALARM_TOPIC_ARN),
                    role_arn: None,
                    input: None,
                    input_transformer: Some(alert_message()),
                }],
            },
        )
        .after(ALERT_BUS),
    );
    template.output(
        ALERT_BUS_ARN,
        "The alert bus (AlertBusArn of the member stacks)",
        Expr::get_att(ALERT_BUS, "Arn"),
    );
    template.output(
        REPORT_BUCKET_NAME,
        "The report bucket (ReportBucket of the member stacks; cargo xtask report reads it)",
        Expr::Ref(REPORT_BUCKET),
    );
    template.output(
        CODE_BUCKET_NAME,
        "The code bucket (CodeBucket of the member stacks)",
        Expr::Ref(CODE_BUCKET),
    );
    template
}
