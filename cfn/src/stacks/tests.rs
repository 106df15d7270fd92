//! Invariants of the stacks: what the templates grant, to whom, and under which IDs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::artifacts::{self, artifact_stack};
use super::member::{EngineSetting, member_stack};
use super::permissions::{ActionScope, JANITOR_POLICY_ARNS, RolePermission, USER_ARNS};
use crate::id::LogicalId;
use crate::policy::policy_size;
use crate::template::Parameter;

/// A permission list like the engine's, with every scope.
const PERMISSIONS: &[RolePermission<'static>] = &[
    RolePermission {
        action: "iam:GenerateCredentialReport",
        scope: ActionScope::Read,
        why: "generate the credential report",
    },
    RolePermission {
        action: "iam:GetUser",
        scope: ActionScope::Read,
        why: "confirm a password's last use",
    },
    RolePermission {
        action: "iam:DeleteLoginProfile",
        scope: ActionScope::User,
        why: "delete a dormant console password",
    },
    RolePermission {
        action: "iam:UpdateAccessKey",
        scope: ActionScope::User,
        why: "set a dormant key Inactive",
    },
    RolePermission {
        action: "iam:CreatePolicyVersion",
        scope: ActionScope::JanitorPolicy,
        why: "update a deny policy",
    },
    RolePermission {
        action: "iam:AttachUserPolicy",
        scope: ActionScope::AttachJanitorPolicy,
        why: "attach a deny policy",
    },
];

/// Engine settings as `cargo xtask synth` gives them from the engine's table: a choice, a
/// number and a secret. (The real ones are checked on the real template in xtask.)
fn settings() -> Vec<EngineSetting> {
    vec![
        EngineSetting {
            parameter: LogicalId::from_static("Mode"),
            env: "IAM_JANITOR_MODE",
            definition: Parameter::string("report: change nothing, only report; enforce: disable dormant credentials")
                .allowed_values(["report", "enforce"])
                .default("report"),
        },
        EngineSetting {
            parameter: LogicalId::from_static("DormantDays"),
            env: "IAM_JANITOR_DORMANT_DAYS",
            definition: Parameter::number("A credential unused for more than this many days is dormant", 1, 3650)
                .default(90),
        },
        EngineSetting {
            parameter: LogicalId::from_static("SlackWebhook"),
            env: "IAM_JANITOR_SLACK_WEBHOOK",
            definition: Parameter::string("Slack incoming-webhook URL for the run's digest; empty: no Slack")
                .default("")
                .pattern("^(https://.+)?$", "empty, or an https:// URL")
                .no_echo(),
        },
    ]
}

fn member_template() -> crate::template::Template {
    member_stack(PERMISSIONS, &settings())
}

fn member() -> Value {
    member_template().to_value().unwrap()
}

fn artifacts() -> Value {
    artifact_stack().to_value().unwrap()
}

fn ids(section: &Value) -> Vec<&str> {
    section.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn logical_ids_are_pinned() {
    // Renaming a resource replaces it (and a retained log group or bucket then blocks the
    // update): change these only on purpose.
    let member = member();
    assert_eq!(
        ids(&member["Resources"]),
        [
            "AlertForwarderPolicy",
            "AlertForwarderRole",
            "AlertRule",
            "ErrorsAlarm",
            "Function",
            "InvokeConfig",
            "InvokePermission",
            "LogGroup",
            "MissedRunAlarm",
            "OrgDigestDecryptPolicy",
            "OrgDigestPermission",
            "OrgDigestReaderPolicy",
            "OrgDigestRule",
            "ReportEncryptPolicy",
            "ReportWriterPolicy",
            "Role",
            "RolePolicy",
            "Schedule",
            "StateTable"
        ]
    );
    // The deployment's parameters and the engine settings given (the engine's own are
    // pinned on the real template by xtask's `member_parameter_ids_are_pinned`).
    assert_eq!(
        ids(&member["Parameters"]),
        [
            "AlertBusArn",
            "Architecture",
            "CodeBucket",
            "CodeKey",
            "DormantDays",
            "FunctionName",
            "LogRetentionInDays",
            "MemorySize",
            "MissedRunHours",
            "Mode",
            "OrgDigestSchedule",
            "ReportBucket",
            "ReportKmsKeyArn",
            "ScheduleExpression",
            "SlackWebhook",
            "Timeout"
        ]
    );
    assert_eq!(
        ids(&member["Outputs"]),
        ["FunctionArn", "LogGroupName", "RoleArn", "StateTableName"]
    );
    let artifacts = artifacts();
    assert_eq!(
        ids(&artifacts["Resources"]),
        [
            "AlertBus",
            "AlertBusPolicy",
            "AlertEmail",
            "AlertRule",
            "AlertTopic",
            "AlertTopicPolicy",
            "AlertTopicRule",
            "CodeBucket",
            "CodeBucketPolicy",
            "ReportBucket",
            "ReportBucketPolicy",
            "ReportsDatabase",
            "RunsTable"
        ]
    );
    assert_eq!(
        ids(&artifacts["Parameters"]),
        [
            "AlarmEmail",
            "AlarmTopicArn",
            "OrganizationId",
            "ReportAccounts",
            "ReportKmsKeyArn",
            "ReportRetentionDays"
        ]
    );
    assert_eq!(
        ids(&artifacts["Outputs"]),
        ["AlertBusArn", "CodeBucketName", "ReportBucketName"]
    );
}

#[test]
fn failed_and_missed_runs_reach_people_through_the_management_account() {
    let member = member();
    let resources = &member["Resources"];
    // A missed run alarms: no Invocations for MissedRunHours hours in a row (missing
    // data breaches), within CloudWatch's 7-day evaluation limit for hourly periods.
    let missed = &resources["MissedRunAlarm"]["Properties"];
    assert_eq!(missed["MetricName"], "Invocations");
    assert_eq!(missed["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(missed["Threshold"], 1);
    assert_eq!(missed["TreatMissingData"], "breaching");
    assert_eq!(missed["Period"], 3600);
    assert_eq!(missed["EvaluationPeriods"], json!({"Ref": "MissedRunHours"}));
    assert_eq!(missed["DatapointsToAlarm"], json!({"Ref": "MissedRunHours"}));
    let hours = &member["Parameters"]["MissedRunHours"];
    assert_eq!(hours["MaxValue"], 168);
    assert!(hours["Default"].as_u64().unwrap() > 24, "a daily schedule plus slack");
    // Neither alarm needs a topic in the account: their state changes are forwarded.
    assert!(resources["ErrorsAlarm"]["Properties"].get("AlarmActions").is_none());
    let rule = &resources["AlertRule"];
    assert_eq!(rule["Condition"], "HasAlertBus");
    assert_eq!(
        rule["Properties"]["EventPattern"],
        json!({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
               "detail": {"alarmName": [{"Fn::Sub": "${FunctionName}-errors"}, {"Fn::Sub": "${FunctionName}-missed-run"}]}})
    );
    assert_eq!(
        rule["Properties"]["Targets"],
        json!([{"Id": "alert-bus", "Arn": {"Ref": "AlertBusArn"},
                "RoleArn": {"Fn::GetAtt": ["AlertForwarderRole", "Arn"]}}])
    );
    // The forwarder may only put events on that bus.
    let forwarder = &resources["AlertForwarderPolicy"]["Properties"];
    assert_eq!(forwarder["Path"], "/iam-janitor-role/");
    assert_eq!(
        forwarder["PolicyDocument"]["Statement"],
        json!([{"Sid": "ForwardAlarmStateChanges", "Effect": "Allow", "Action": "events:PutEvents",
                "Resource": {"Ref": "AlertBusArn"}}])
    );
    let trust = &resources["AlertForwarderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"], json!({"Service": "events.amazonaws.com"}));
    assert_eq!(
        trust["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})
    );

    // The management account: only the organization's forwarders put events on the bus,
    // one rule tells the topic, which mails the address given.
    let artifacts = artifacts();
    let resources = &artifacts["Resources"];
    let bus_policy = &resources["AlertBusPolicy"]["Properties"]["Statement"];
    assert_eq!(bus_policy["Action"], "events:PutEvents");
    assert_eq!(
        bus_policy["Condition"],
        json!({"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
               "ArnLike": {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/iam-janitor/*"}}})
    );
    let target = &resources["AlertRule"]["Properties"]["Targets"][0];
    assert_eq!(target["Arn"], json!({"Ref": "AlertTopic"}));
    let template = target["InputTransformer"]["InputTemplate"].as_str().unwrap();
    for variable in ["<account>", "<alarm>", "<state>", "<reason>"] {
        assert!(template.contains(variable), "{template}");
    }
    assert_eq!(
        resources["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"],
        json!({"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["AlertRule", "Arn"]}}})
    );
    assert_eq!(resources["AlertEmail"]["Condition"], "HasAlarmEmail");
    assert_eq!(resources["AlertEmail"]["Properties"]["Protocol"], "email");
    assert_eq!(resources["AlertTopicRule"]["Condition"], "HasAlarmTopic");
    assert_eq!(
        crate::stacks::artifacts::alert_bus_arn("aws", "eu-west-1", "123456789012"),
        "arn:aws:events:eu-west-1:123456789012:event-bus/iam-janitor-alerts"
    );
    assert_eq!(resources["AlertBus"]["Properties"]["Name"], "iam-janitor-alerts");
}

#[test]
fn synthesis_is_byte_identical_and_yaml_matches_json() {
    for (first, second) in [
        (member_template(), member_template()),
        (artifact_stack(), artifact_stack()),
    ] {
        let yaml = first.to_yaml().unwrap();
        assert_eq!(yaml, second.to_yaml().unwrap());
        assert_eq!(first.to_json().unwrap(), second.to_json().unwrap());
        assert!(yaml.starts_with("# Generated by `cargo xtask synth` from cfn/src — do not edit.\n"));
        assert!(yaml.ends_with('\n') && !yaml.ends_with("\n\n"));
        // The YAML says exactly what the JSON says (no YAML tags, no lossy quoting).
        let from_yaml: Value = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(from_yaml, first.to_value().unwrap());
    }
}

#[test]
fn yaml_keeps_the_cloudformation_layout() {
    let yaml = member_template().to_yaml().unwrap();
    let top: Vec<&str> = yaml
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        top,
        [
            "AWSTemplateFormatVersion",
            "Description",
            "Metadata",
            "Parameters",
            "Conditions",
            "Resources",
            "Outputs"
        ]
    );
    // `Type` first in every resource.
    assert!(yaml.contains("  Function:\n    Type: AWS::Lambda::Function\n"));
}

#[test]
fn templates_fit_cloudformation_limits() {
    // A StackSet's TemplateBody is at most 51,200 bytes.
    assert!(member_template().to_compact_json().unwrap().len() < 51_200);
    assert!(artifact_stack().to_compact_json().unwrap().len() < 51_200);
    // A managed policy is at most 6,144 characters without whitespace. The template form
    // is longer than the deployed one except for the log group's ARN (about 100 more).
    let member = member();
    let policy = serde_json::to_string(&member["Resources"]["RolePolicy"]["Properties"]["PolicyDocument"]).unwrap();
    assert!(policy_size(&policy) + 200 < 6_144, "{}", policy_size(&policy));
}

/// The role policy's statements.
fn role_statements(member: &Value) -> Vec<Value> {
    member["Resources"]["RolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone()
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

#[test]
fn role_grants_every_action_on_its_scope_and_nothing_else() {
    let member = member();
    let statements = role_statements(&member);
    for permission in PERMISSIONS {
        let granting: Vec<&Value> = statements
            .iter()
            .filter(|s| as_list(&s["Action"]).contains(&json!(permission.action)))
            .collect();
        assert_eq!(granting.len(), 1, "{} granted once", permission.action);
        assert_eq!(
            granting[0]["Resource"],
            serde_json::to_value(permission.scope.resource()).unwrap()
        );
    }
    for statement in &statements {
        assert_eq!(statement["Effect"], "Allow");
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        let actions = as_list(&statement["Action"]);
        assert!(
            actions.iter().all(|a| !a.as_str().unwrap().contains('*')),
            "no wildcard actions"
        );
        let resource = &statement["Resource"];
        if resource == "*" {
            // Only reads are unscoped.
            for action in &actions {
                let action = action.as_str().unwrap();
                assert!(
                    PERMISSIONS
                        .iter()
                        .any(|p| p.action == action && p.scope == ActionScope::Read),
                    "{action} on *"
                );
            }
        } else {
            let allowed = [
                json!({"Fn::Sub": USER_ARNS}),
                json!({"Fn::Sub": JANITOR_POLICY_ARNS}),
                json!({"Fn::GetAtt": ["LogGroup", "Arn"]}),
                json!({"Fn::GetAtt": ["StateTable", "Arn"]}),
            ];
            assert!(allowed.contains(resource), "write on {resource}");
        }
    }
    // Attaching is limited to the engine's own policies.
    let attach = statements.iter().find(|s| s["Sid"] == "AttachJanitorPolicies").unwrap();
    assert_eq!(
        attach["Condition"],
        json!({"ArnLike": {"iam:PolicyARN": {"Fn::Sub": JANITOR_POLICY_ARNS}}})
    );
    // Logs: only the function's own log group.
    let logs = statements.iter().find(|s| s["Sid"] == "WriteOwnLogs").unwrap();
    assert_eq!(logs["Action"], json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
    // DynamoDB: only the stack's own state table, and no deleting or scanning others.
    let state = statements.iter().find(|s| s["Sid"] == "UseOwnStateTable").unwrap();
    assert_eq!(
        state["Action"],
        json!(["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"])
    );
    assert_eq!(state["Resource"], json!({"Fn::GetAtt": ["StateTable", "Arn"]}));
}

#[test]
fn the_role_cannot_change_its_own_policy_or_role() {
    let member = member();
    let role_policy = &member["Resources"]["RolePolicy"]["Properties"];
    // Not under the engine's /iam-janitor/ policy path, which the role may write, but
    // under one of its own, which the guardrails SCP protects.
    assert_eq!(role_policy["Path"], "/iam-janitor-role/");
    assert!(!JANITOR_POLICY_ARNS.contains("iam-janitor-role"));
    let role = &member["Resources"]["Role"]["Properties"];
    assert_eq!(
        role["ManagedPolicyArns"],
        json!([
            {"Ref": "RolePolicy"},
            {"Fn::If": ["HasReportBucket", {"Ref": "ReportWriterPolicy"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["HasOrgDigest", {"Ref": "OrgDigestReaderPolicy"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["HasReportKmsKey", {"Ref": "ReportEncryptPolicy"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["HasOrgDigestKmsKey", {"Ref": "OrgDigestDecryptPolicy"}, {"Ref": "AWS::NoValue"}]}
        ])
    );
    // Its report grants are under the same protected path.
    for policy in [
        "ReportWriterPolicy",
        "OrgDigestReaderPolicy",
        "ReportEncryptPolicy",
        "OrgDigestDecryptPolicy",
    ] {
        assert_eq!(
            member["Resources"][policy]["Properties"]["Path"], "/iam-janitor-role/",
            "{policy}"
        );
    }
    assert!(role.get("Policies").is_none(), "no inline policies");
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"],
        json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}])
    );
}

#[test]
fn function_runs_the_engine_with_every_setting_from_its_parameter() {
    let member = member();
    let function = &member["Resources"]["Function"]["Properties"];
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Handler"], "bootstrap");
    assert_eq!(function["Architectures"], json!([{"Ref": "Architecture"}]));
    assert_eq!(member["Parameters"]["Architecture"]["Default"], "arm64");
    assert_eq!(member["Parameters"]["Timeout"]["MaxValue"], 900);
    assert_eq!(member["Parameters"]["SlackWebhook"]["NoEcho"], true);
    assert_eq!(member["Parameters"]["SlackWebhook"]["Default"], "");
    let variables = function["Environment"]["Variables"].as_object().unwrap();
    for setting in settings() {
        assert_eq!(variables[setting.env], json!({"Ref": setting.parameter.as_str()}));
    }
    // Plus the stack's own state table and the organization's report bucket.
    assert_eq!(variables["IAM_JANITOR_STATE_TABLE"], json!({"Ref": "StateTable"}));
    assert_eq!(variables["IAM_JANITOR_REPORT_BUCKET"], json!({"Ref": "ReportBucket"}));
    assert_eq!(variables.len(), settings().len() + 2);
    let table = &member["Resources"]["StateTable"];
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(
        table["Properties"]["KeySchema"],
        json!([{"AttributeName": "user_id", "KeyType": "HASH"}])
    );
    assert_eq!(table["Properties"]["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"],
        json!({"PointInTimeRecoveryEnabled": true})
    );
    assert_eq!(table["Properties"]["SSESpecification"], json!({"SSEEnabled": true}));
    // Named under /iam-janitor/ (which the guardrails SCP protects) with the stack's
    // own ID, so a deploy after a destroy (which keeps the log group and the table) does
    // not collide with the retained ones.
    let stack_uuid = json!({"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]});
    assert_eq!(
        member["Resources"]["LogGroup"]["Properties"]["LogGroupName"],
        json!({"Fn::Sub": ["/iam-janitor/${FunctionName}/${StackUuid}", {"StackUuid": stack_uuid}]})
    );
    assert_eq!(
        table["Properties"]["TableName"],
        json!({"Fn::Sub": ["iam-janitor-state-${StackUuid}", {"StackUuid": stack_uuid}]})
    );
    // The schedule and the alarm are named after the function, for the same SCP.
    assert_eq!(
        member["Resources"]["Schedule"]["Properties"]["Name"],
        json!({"Ref": "FunctionName"})
    );
    assert_eq!(
        member["Resources"]["ErrorsAlarm"]["Properties"]["AlarmName"],
        json!({"Fn::Sub": "${FunctionName}-errors"})
    );
    assert_eq!(
        member["Resources"]["Function"]["Properties"]["LoggingConfig"]["LogGroup"],
        json!({"Ref": "LogGroup"})
    );
    assert_eq!(member["Resources"]["LogGroup"]["DeletionPolicy"], "Retain");
    assert_eq!(member["Resources"]["LogGroup"]["UpdateReplacePolicy"], "Retain");
    assert_eq!(
        member["Resources"]["InvokeConfig"]["Properties"]["MaximumRetryAttempts"],
        0
    );
}

#[test]
fn only_the_schedules_may_invoke_the_function() {
    let member = member();
    for (permission, rule) in [
        ("InvokePermission", "Schedule"),
        ("OrgDigestPermission", "OrgDigestRule"),
    ] {
        let properties = &member["Resources"][permission]["Properties"];
        assert_eq!(properties["Action"], "lambda:InvokeFunction");
        assert_eq!(properties["FunctionName"], json!({"Fn::GetAtt": ["Function", "Arn"]}));
        assert_eq!(properties["Principal"], "events.amazonaws.com");
        assert_eq!(properties["SourceArn"], json!({"Fn::GetAtt": [rule, "Arn"]}));
        assert_eq!(properties["SourceAccount"], json!({"Ref": "AWS::AccountId"}));
    }
    assert_eq!(
        member["Parameters"]["ScheduleExpression"]["Default"],
        "cron(0 6 * * ? *)"
    );
}

/// The organization digest: none unless `OrgDigestSchedule` is set (only the management
/// account's stack sets it) and there is a `ReportBucket` to read; then a rule named after the function (which the guardrails
/// SCP protects) sends the constant event the handler reads, and the role may list and
/// read the reports and list the organization's accounts, and write nothing.
#[test]
fn the_org_digest_is_scheduled_only_when_set_and_reads_without_writing() {
    let member = member();
    let parameter = &member["Parameters"]["OrgDigestSchedule"];
    assert_eq!(parameter["Default"], "");
    // Empty (none), or a schedule as ScheduleExpression takes it.
    assert_eq!(parameter["AllowedPattern"], r"^((cron|rate)\(.+\))?$");
    assert_eq!(
        member["Conditions"]["HasOrgDigest"],
        json!({"Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrgDigestSchedule"}, ""]}]},
            {"Condition": "HasReportBucket"}
        ]})
    );
    for id in ["OrgDigestRule", "OrgDigestPermission", "OrgDigestReaderPolicy"] {
        assert_eq!(member["Resources"][id]["Condition"], "HasOrgDigest", "{id}");
    }
    let rule = &member["Resources"]["OrgDigestRule"]["Properties"];
    assert_eq!(rule["Name"], json!({"Fn::Sub": "${FunctionName}-org-digest"}));
    assert_eq!(rule["ScheduleExpression"], json!({"Ref": "OrgDigestSchedule"}));
    assert_eq!(rule["Targets"][0]["Arn"], json!({"Fn::GetAtt": ["Function", "Arn"]}));
    let input: Value = serde_json::from_str(rule["Targets"][0]["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"iam-janitor": "org-digest"}));
    assert_eq!(
        member["Resources"]["OrgDigestReaderPolicy"]["Properties"]["PolicyDocument"]["Statement"],
        json!([
            {"Sid": "ListReports", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ReportBucket}"},
             "Condition": {"StringLike": {"s3:prefix": "reports/*"}}},
            {"Sid": "ReadReports", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/*"}},
            {"Sid": "ListOrganizationAccounts", "Effect": "Allow", "Action": "organizations:ListAccounts",
             "Resource": "*"}
        ])
    );
}

#[test]
fn bucket_is_private_versioned_and_encrypted() {
    let artifacts = artifacts();
    let bucket = &artifacts["Resources"]["CodeBucket"]["Properties"];
    assert_eq!(
        bucket["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
}

#[test]
fn bucket_policy_is_tls_only_and_org_scoped() {
    let artifacts = artifacts();
    let statements = artifacts["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let deny_tls = statements
        .iter()
        .find(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a statement denying requests without TLS");
    assert_eq!(deny_tls["Principal"], "*");
    assert_eq!(deny_tls["Action"], "s3:*");
    for allow in statements.iter().filter(|s| s["Effect"] == "Allow") {
        // No unconditioned Allow to everyone: every Allow is limited to the organization's
        // StackSet execution roles, and only reads objects.
        let condition = allow["Condition"].as_object().expect("a condition on every Allow");
        assert_eq!(
            condition["StringEquals"]["aws:PrincipalOrgID"],
            json!({"Ref": "OrganizationId"})
        );
        assert_eq!(
            condition["ArnLike"]["aws:PrincipalArn"],
            json!({"Fn::Sub": artifacts::READER_ROLE_ARNS})
        );
        assert_eq!(allow["Action"], json!(["s3:GetObject", "s3:GetObjectVersion"]));
        assert_eq!(allow["Resource"], json!({"Fn::Sub": "${CodeBucket.Arn}/*"}));
    }
    assert_eq!(
        artifacts["Parameters"]["OrganizationId"]["AllowedPattern"],
        "^o-[a-z0-9]{10,32}$"
    );
}

#[test]
fn each_account_may_only_put_reports_under_its_own_prefix() {
    let member = member();
    // The role: PutObject under reports/account=<its account>/, only with a bucket.
    let writer = &member["Resources"]["ReportWriterPolicy"];
    assert_eq!(writer["Condition"], "HasReportBucket");
    assert_eq!(
        writer["Properties"]["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "StoreOwnReports",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ReportBucket}/reports/account=${AWS::AccountId}/*"}
        }])
    );
    // The bucket: TLS only; the tool's roles of the organization put under their own
    // account's prefix (S3's policy variable); no Allow of any read to anyone.
    let artifacts = artifacts();
    let statements = artifacts["Resources"]["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    assert!(statements.iter().any(|s| s["Effect"] == "Deny"
        && s["Action"] == "s3:*"
        && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    let allows: Vec<&Value> = statements.iter().filter(|s| s["Effect"] == "Allow").collect();
    assert_eq!(allows.len(), 1);
    assert_eq!(allows[0]["Action"], "s3:PutObject");
    assert_eq!(
        allows[0]["Resource"],
        json!({"Fn::Sub": "${ReportBucket.Arn}/reports/account=${!aws:PrincipalAccount}/*"})
    );
    assert_eq!(
        allows[0]["Condition"],
        json!({
            "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
            "ArnLike": {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/iam-janitor/*"}}
        })
    );
    let bucket = &artifacts["Resources"]["ReportBucket"];
    assert_eq!(bucket["DeletionPolicy"], "Retain");
    let properties = &bucket["Properties"];
    assert_eq!(
        properties["BucketName"],
        json!({"Fn::Sub": "iam-janitor-reports-${AWS::AccountId}-${AWS::Region}"})
    );
    assert_eq!(
        properties["OwnershipControls"]["Rules"],
        json!([{"ObjectOwnership": "BucketOwnerEnforced"}])
    );
    assert_eq!(properties["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], true);
    let rule = &properties["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(rule["ExpirationInDays"], json!({"Ref": "ReportRetentionDays"}));
    assert_eq!(rule["Prefix"], "reports/");
    assert_eq!(artifacts["Parameters"]["ReportRetentionDays"]["Default"], 400);
}

#[test]
fn athena_reads_the_reports_by_projected_account_and_date_partitions() {
    let artifacts = artifacts();
    let table = &artifacts["Resources"]["RunsTable"]["Properties"];
    assert_eq!(table["DatabaseName"], json!({"Ref": "ReportsDatabase"}));
    let input = &table["TableInput"];
    let parameters = &input["Parameters"];
    assert_eq!(parameters["projection.enabled"], "true");
    assert_eq!(
        parameters["storage.location.template"],
        json!({"Fn::Sub": "s3://${ReportBucket}/reports/account=${!account}/date=${!date}/"})
    );
    // Accounts: the organization's list when deploy gives it, else named by each query.
    assert_eq!(
        parameters["projection.account.type"],
        json!({"Fn::If": ["HasReportAccounts", "enum", "injected"]})
    );
    assert_eq!(parameters["projection.date.format"], "yyyy-MM-dd");
    assert_eq!(
        parameters["projection.date.range"],
        json!({"Fn::Sub": "NOW-${ReportRetentionDays}DAYS,NOW"})
    );
    assert_eq!(
        input["PartitionKeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Name"].clone())
            .collect::<Vec<_>>(),
        [json!("account"), json!("date")]
    );
    let columns = input["StorageDescriptor"]["Columns"].as_array().unwrap();
    assert_eq!(columns.len(), artifacts::RUN_COLUMNS.len());
    // Hive types carry no whitespace.
    assert!(
        columns
            .iter()
            .all(|c| !c["Type"].as_str().unwrap().contains(char::is_whitespace))
    );
    assert_eq!(
        input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"],
        "org.openx.data.jsonserde.JsonSerDe"
    );
}

#[test]
fn every_suppression_has_a_reason() {
    for template in [member_template(), artifact_stack()] {
        for (id, resource) in &template.resources {
            for s in resource
                .suppressions
                .checkov
                .iter()
                .chain(&resource.suppressions.cfn_lint)
            {
                assert!(
                    s.reason.len() > 40 && s.reason.ends_with('.'),
                    "{id} {}: {}",
                    s.id,
                    s.reason
                );
            }
        }
    }
}

#[test]
fn reports_are_encrypted_with_the_kms_key_when_one_is_given_and_sse_s3_otherwise() {
    let artifacts = artifacts();
    let encryption = &artifacts["Resources"]["ReportBucket"]["Properties"]["BucketEncryption"];
    assert_eq!(
        encryption["ServerSideEncryptionConfiguration"],
        json!([{
            "BucketKeyEnabled": {"Fn::If": ["HasReportKmsKey", true, {"Ref": "AWS::NoValue"}]},
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": {"Fn::If": ["HasReportKmsKey", "aws:kms", "AES256"]},
                "KMSMasterKeyID": {"Fn::If": ["HasReportKmsKey", {"Ref": "ReportKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
            }
        }])
    );
    assert_eq!(
        artifacts["Conditions"]["HasReportKmsKey"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReportKmsKeyArn"}, ""]}]})
    );
    // The code bucket stays SSE-S3: StackSet execution roles read it in every account.
    assert_eq!(
        artifacts["Resources"]["CodeBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"],
        json!([{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}])
    );

    // Each role: GenerateDataKey on that key through S3 only, with a bucket and a key;
    // the org digest's role Decrypt the same way.
    let member = member();
    let via_s3 = json!({"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}});
    for (policy, condition, sid, action) in [
        (
            "ReportEncryptPolicy",
            "HasReportKmsKey",
            "EncryptOwnReports",
            "kms:GenerateDataKey",
        ),
        (
            "OrgDigestDecryptPolicy",
            "HasOrgDigestKmsKey",
            "DecryptReports",
            "kms:Decrypt",
        ),
    ] {
        let resource = &member["Resources"][policy];
        assert_eq!(resource["Condition"], condition);
        assert_eq!(
            resource["Properties"]["PolicyDocument"]["Statement"],
            json!([{"Sid": sid, "Effect": "Allow", "Action": action, "Resource": {"Ref": "ReportKmsKeyArn"},
                    "Condition": via_s3}]),
            "{policy}"
        );
    }
    assert_eq!(
        member["Conditions"]["HasReportKmsKey"],
        json!({"Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReportKmsKeyArn"}, ""]}]},
            {"Condition": "HasReportBucket"}
        ]})
    );
    assert_eq!(
        member["Conditions"]["HasOrgDigestKmsKey"],
        json!({"Fn::And": [{"Condition": "HasOrgDigest"}, {"Condition": "HasReportKmsKey"}]})
    );

    // Both stacks take a key's ARN (deploy's `kms_key_arn` is checked against the pattern).
    for stack in [&artifacts, &member] {
        assert_eq!(
            stack["Parameters"]["ReportKmsKeyArn"]["AllowedPattern"],
            artifacts::KMS_KEY_ARN_PATTERN
        );
        assert_eq!(stack["Parameters"]["ReportKmsKeyArn"]["Default"], "");
    }
}

#[test]
fn the_key_policy_statement_lets_only_the_organizations_tool_roles_encrypt_for_the_report_bucket() {
    let statement = serde_json::to_value(artifacts::report_key_policy_statement(
        "aws",
        "o-abcd123456",
        "eu-west-1",
        "iam-janitor-reports-111122223333-eu-west-1",
    ))
    .unwrap();
    assert_eq!(
        statement,
        json!({
            "Sid": "IamJanitorRolesEncryptReports",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:GenerateDataKey",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": "o-abcd123456", "kms:ViaService": "s3.eu-west-1.amazonaws.com"},
                "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/iam-janitor/*"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [
                    "arn:aws:s3:::iam-janitor-reports-111122223333-eu-west-1",
                    "arn:aws:s3:::iam-janitor-reports-111122223333-eu-west-1/reports/*"
                ]}
            }
        })
    );
}
