//! Shared by the end-to-end tests: run `audit` through its real flag parsing and JSON
//! output against an emulator.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use iam_janitor::least_privilege::{POLICY_NAME_PREFIX, part_name};
use iam_janitor::trail::POLICY_PATH;

use clap::Parser;
use iam_janitor::cli::{self as audit, AuditArgs};
use iam_janitor_harness::Emulator;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Parser)]
pub struct Cli {
    #[command(flatten)]
    pub args: AuditArgs,
}

/// The IAM operations that change something.
pub const WRITES: [&str; 13] = [
    "DeleteLoginProfile",
    "UpdateAccessKey",
    "UpdateSigningCertificate",
    "UpdateServiceSpecificCredential",
    "UpdateSSHPublicKey",
    "TagUser",
    "UntagUser",
    "CreatePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "TagPolicy",
];

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `d` days and one hour ago: well inside the day, so whole-day arithmetic in the engine
/// (which reads the clock a moment later, truncated to the second) gives exactly `d`.
pub fn days_ago(d: i64) -> OffsetDateTime {
    now() - Duration::days(d) - Duration::hours(1)
}

/// Runs `audit --format json <flags>` with `config`: `Ok((exit code, report))`, or the
/// error of a run that could not evaluate the account (and printed no report).
pub async fn audit_result(config: &aws_config::SdkConfig, flags: &[&str]) -> Result<(i32, Value), String> {
    let mut argv = vec!["audit", "--format", "json"];
    argv.extend_from_slice(flags);
    unpaced(&mut argv);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    match audit::run(&cli.args, config, now(), &mut out).await {
        Ok(code) => Ok((code, serde_json::from_slice(&out).unwrap())),
        Err(e) => {
            assert!(out.is_empty(), "no report after an error");
            Err(e.to_string())
        }
    }
}

/// The error code of a failed SDK call (`None` if it succeeded or IAM did not answer).
pub fn error_code<T, E: aws_sdk_iam::error::ProvideErrorMetadata, R>(
    result: Result<T, aws_sdk_iam::error::SdkError<E, R>>,
) -> Option<String> {
    result
        .err()
        .and_then(|e| e.as_service_error().and_then(|s| s.code()).map(str::to_string))
}

/// The ARN of the user's (first) deny policy: the one attached under `/iam-janitor/`
/// (the first by name, if several), else the one the engine names after the user's ID.
pub async fn deny_policy_arn(emu: &Emulator, user: &str) -> String {
    let mut attached = deny_policy_arns(emu, user).await;
    attached.sort();
    if let Some(first) = attached.into_iter().next() {
        return first;
    }
    let id = user_id(emu, user).await;
    format!(
        "arn:aws:iam::{}:policy{POLICY_PATH}{}",
        emu.account_id(),
        part_name(&id, 1)
    )
}

/// The user's IAM ID (`UserId`): new on every seed, and in the engine's policy names.
pub async fn user_id(emu: &Emulator, user: &str) -> String {
    let out = emu.iam().await.get_user().user_name(user).send().await.unwrap();
    out.user().unwrap().user_id().to_string()
}

/// The ARNs of the deny policies attached to the user now.
pub async fn deny_policy_arns(emu: &Emulator, user: &str) -> Vec<String> {
    let out = emu
        .iam()
        .await
        .list_attached_user_policies()
        .user_name(user)
        .path_prefix(POLICY_PATH)
        .send()
        .await
        .unwrap();
    out.attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .filter(|a| a.contains(&format!("{POLICY_PATH}{POLICY_NAME_PREFIX}")))
        .map(str::to_string)
        .collect()
}

/// The default version's document (decoded) and the number of versions of a policy, if
/// it exists.
pub async fn policy_document(emu: &Emulator, arn: &str) -> Option<(String, usize)> {
    let iam = emu.iam().await;
    let versions = iam.list_policy_versions().policy_arn(arn).send().await.ok()?;
    let default = versions.versions().iter().find(|v| v.is_default_version()).unwrap();
    let version = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(default.version_id().unwrap())
        .send()
        .await
        .unwrap();
    let raw = version.policy_version().unwrap().document().unwrap();
    Some((iam_janitor::iam::decode_policy_document(raw), versions.versions().len()))
}

/// The default version's document (decoded) and the number of versions of the user's
/// deny policy ([`deny_policy_arn`]), if it exists.
pub async fn deny_policy(emu: &Emulator, user: &str) -> Option<(String, usize)> {
    policy_document(emu, &deny_policy_arn(emu, user).await).await
}

/// The emulator answers far faster than IAM and does not throttle unless told to: the
/// tests do not pace IAM requests unless they say `--iam-rate`.
pub fn unpaced(argv: &mut Vec<&str>) {
    if !argv.contains(&"--iam-rate") {
        argv.extend(["--iam-rate", "1000"]);
    }
}

/// Runs `audit --format json <flags>`; returns (exit code, report).
pub async fn audit_json(emu: &Emulator, flags: &[&str]) -> (i32, Value) {
    audit_json_with(&emu.sdk_config().await, flags).await
}

/// [`audit_json`] with the given SDK configuration (other credentials, other retries).
pub async fn audit_json_with(config: &aws_config::SdkConfig, flags: &[&str]) -> (i32, Value) {
    let mut argv = vec!["audit", "--format", "json"];
    argv.extend_from_slice(flags);
    unpaced(&mut argv);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let code = audit::run(&cli.args, config, now(), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"));
    (code, report)
}

pub fn findings_of<'a>(report: &'a Value, user: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["user"] == user)
        .collect()
}

pub fn writes(calls: &BTreeMap<String, u64>) -> u64 {
    WRITES.iter().map(|w| calls.get(*w).copied().unwrap_or(0)).sum()
}

/// What the engine can change on a user, read with root credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub login_profile: bool,
    pub key_statuses: Vec<String>,
    pub certificate_statuses: Vec<String>,
    pub service_credential_statuses: Vec<String>,
    pub ssh_key_statuses: Vec<String>,
    pub attached: BTreeSet<String>,
    /// The deny policy's default document and its number of versions.
    pub deny_policy: Option<(String, usize)>,
    /// `iam-janitor:*` audit tags (key IDs as `<id>`); `=not-done` marks the record of a
    /// change that was not made.
    pub audit_tags: BTreeSet<String>,
}

pub async fn user_state(emu: &Emulator, user: &str) -> UserState {
    let iam = emu.iam().await;
    let login_profile = iam.get_login_profile().user_name(user).send().await.is_ok();
    let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
    let key_statuses = keys
        .access_key_metadata()
        .iter()
        .map(|k| k.status().unwrap().as_str().to_string())
        .collect();
    let certificate_statuses = iam
        .list_signing_certificates()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .certificates()
        .iter()
        .map(|c| c.status().as_str().to_string())
        .collect();
    let service_credential_statuses = iam
        .list_service_specific_credentials()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .service_specific_credentials()
        .iter()
        .map(|c| c.status().as_str().to_string())
        .collect();
    let ssh_key_statuses = iam
        .list_ssh_public_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .ssh_public_keys()
        .iter()
        .map(|k| k.status().as_str().to_string())
        .collect();
    // User IDs are new on every seed, and name the engine's policies.
    let id = user_id(emu, user).await;
    let attached = iam
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().replace(&id, "<user id>"))
        .collect();
    let deny_policy = deny_policy(emu, user).await;
    let audit_tags = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .filter(|t| t.key().starts_with("iam-janitor:") && t.key() != "iam-janitor:keep-services")
        .map(|t| {
            // Key and certificate IDs are new on every seed.
            let key = [
                "iam-janitor:key-disabled:",
                "iam-janitor:certificate-disabled:",
                "iam-janitor:service-credential-disabled:",
                "iam-janitor:ssh-key-disabled:",
            ]
            .into_iter()
            .find(|p| t.key().starts_with(p))
            .map_or_else(|| t.key().to_string(), |p| format!("{p}<id>"));
            // The record of a change that was not made.
            if t.value().starts_with("not-done") {
                format!("{key}=not-done")
            } else {
                key
            }
        })
        .collect();
    UserState {
        login_profile,
        key_statuses,
        certificate_statuses,
        service_credential_statuses,
        ssh_key_statuses,
        attached,
        deny_policy,
        audit_tags,
    }
}

pub async fn state(emu: &Emulator, users: &[&str]) -> BTreeMap<String, UserState> {
    let mut out = BTreeMap::new();
    for user in users {
        out.insert(user.to_string(), user_state(emu, user).await);
    }
    out
}

/// `Resources.RolePolicy.Properties.PolicyDocument` of the committed member template,
/// with its intrinsics resolved for `account`.
pub fn role_policy(account: &str) -> Value {
    let template = template("member.yaml");
    let policy = &template["Resources"]["RolePolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let role = &template["Resources"]["Role"]["Properties"];
    // Besides RolePolicy, only the conditional report policies (storing its own reports,
    // encrypted with the bucket's KMS key if it has one; in the management account,
    // reading them for the organization digest), which grant no IAM action: the role's
    // IAM permissions are RolePolicy's alone.
    let others = [
        "ReportWriterPolicy",
        "OrgDigestReaderPolicy",
        "ReportEncryptPolicy",
        "OrgDigestDecryptPolicy",
    ];
    let conditional = |name: &str| {
        let condition = template["Resources"][name]["Condition"].clone();
        json!({"Fn::If": [condition, {"Ref": name}, {"Ref": "AWS::NoValue"}]})
    };
    let mut expected = vec![json!({"Ref": "RolePolicy"})];
    expected.extend(others.iter().map(|name| conditional(name)));
    assert_eq!(
        role["ManagedPolicyArns"],
        json!(expected),
        "the role has no other policy"
    );
    for name in others {
        for statement in template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            let actions = match &statement["Action"] {
                Value::Array(actions) => actions.clone(),
                action => vec![action.clone()],
            };
            assert!(
                actions.iter().all(|a| !a.as_str().unwrap().starts_with("iam:")),
                "{name} grants IAM actions: {statement}"
            );
        }
    }
    assert!(role.get("Policies").is_none(), "the role has no inline policy");
    resolve(
        &policy["Properties"]["PolicyDocument"],
        account,
        &template["Parameters"],
    )
}

/// A committed template from `cfn/templates/`, parsed.
pub fn template(name: &str) -> Value {
    let text = std::fs::read_to_string(iam_janitor_harness::workspace_root().join("cfn/templates").join(name)).unwrap();
    yaml_serde::from_str(&text).unwrap()
}

/// The name the tests give the member stack's state table.
pub const STATE_TABLE: &str = "iam-janitor-StateTable";

/// Resolves the intrinsics of a template fragment for `account`: `Ref` and `Fn::Sub` of
/// pseudo parameters and of parameters (their defaults; a CommaDelimitedList becomes a
/// list), and `Fn::GetAtt` of the log group's and the state table's `Arn` ([`STATE_TABLE`]).
/// Any other intrinsic fails the test.
pub fn resolve(v: &Value, account: &str, parameters: &Value) -> Value {
    let param = |name: &str| -> Value {
        let p = &parameters[name];
        let default = p["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("parameter {name} has no default"));
        if p["Type"] == "CommaDelimitedList" {
            Value::Array(default.split(',').map(|s| Value::String(s.to_string())).collect())
        } else {
            Value::String(default.to_string())
        }
    };
    match v {
        Value::Object(map)
            if map.len() == 1 && (map.contains_key("Ref") || map.keys().next().unwrap().starts_with("Fn::")) =>
        {
            let (name, arg) = map.iter().next().unwrap();
            match (name.as_str(), arg) {
                ("Ref", Value::String(p)) => param(p),
                ("Fn::Sub", Value::String(s)) => {
                    let mut out = s
                        .replace("${AWS::Partition}", "aws")
                        .replace("${AWS::AccountId}", account)
                        .replace("${AWS::Region}", "us-east-1");
                    while let Some(start) = out.find("${") {
                        let end = out[start..].find('}').unwrap() + start;
                        let value = param(&out[start + 2..end]);
                        out.replace_range(start..=end, value.as_str().unwrap());
                    }
                    Value::String(out)
                }
                ("Fn::GetAtt", Value::Array(a)) if a == &[json!("LogGroup"), json!("Arn")] => Value::String(format!(
                    "arn:aws:logs:us-east-1:{account}:log-group:iam-janitor-LogGroup:*"
                )),
                ("Fn::GetAtt", Value::Array(a)) if a == &[json!("StateTable"), json!("Arn")] => {
                    Value::String(format!("arn:aws:dynamodb:us-east-1:{account}:table/{STATE_TABLE}"))
                }
                _ => panic!("unresolved intrinsic {v}"),
            }
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, account, parameters)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .flat_map(|v| match resolve(v, account, parameters) {
                    // A list parameter inside a list splices in.
                    Value::Array(inner) if v.get("Ref").is_some() => inner,
                    other => vec![other],
                })
                .collect(),
        ),
        Value::String(s) => {
            assert!(!s.contains("${"), "unresolved placeholder in {s}");
            v.clone()
        }
        other => other.clone(),
    }
}
