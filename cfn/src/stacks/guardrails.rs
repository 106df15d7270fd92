//! The guardrails stack (optional; management account): service control policies that
//! keep member-account principals from switching the tool off for themselves.
//!
//! Without them, anyone allowed `iam:TagUser` on their own user can exempt themselves,
//! and anyone allowed `iam:DetachUserPolicy` or `iam:CreatePolicyVersion` can lift their
//! deny policy. The SCPs deny, to every principal except the ones listed in
//! `AllowedPrincipalArns` (the tool's role, StackSet execution roles and your admin
//! roles):
//!
//! - adding, changing or removing `iam-janitor:*` tags and the exemption tag on users
//!   (also at CreateUser), and removing the offboarding tag;
//! - detaching the deny policies under `/iam-janitor/` (except from a user being
//!   offboarded), changing or deleting them;
//! - creating, changing or passing the tool's role (path `/iam-janitor/`), changing its
//!   own policy (path `/iam-janitor-role/`), its function, schedule, log group, alarm and
//!   state table, and creating or changing a role named like the StackSet execution
//!   roles (which the allow-list names).
//!
//! and to users marked for offboarding, everything.
//!
//! SCPs do not apply to the management account: there, protect the tool with IAM.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::id::LogicalId;
use crate::policy::{Condition, Effect, PolicyDocument, Statement, Values, policy_size};
use crate::resources::Resource;
use crate::resources::organizations::{Policy, PolicyType};
use crate::stacks::permissions::JANITOR_POLICY_PATH as POLICY_PATH;
use crate::template::{Parameter, Template};

// Parameters.
pub const TARGET_IDS: LogicalId = LogicalId::from_static("TargetIds");
pub const ALLOWED_PRINCIPAL_ARNS: LogicalId = LogicalId::from_static("AllowedPrincipalArns");
pub const EXEMPT_TAG_KEY: LogicalId = LogicalId::from_static("ExemptTagKey");
pub const KEEP_SERVICES_TAG_KEY: LogicalId = LogicalId::from_static("KeepServicesTagKey");
pub const FUNCTION_NAME: LogicalId = LogicalId::from_static("FunctionName");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const GUARDRAILS_POLICY: LogicalId = LogicalId::from_static("GuardrailsPolicy");
pub const TOOL_GUARDRAILS_POLICY: LogicalId = LogicalId::from_static("ToolGuardrailsPolicy");

/// The principals allowed by default: the tool's role and service-managed StackSet
/// execution roles (in the `aws` partition; override the parameter elsewhere).
pub const DEFAULT_ALLOWED: &str = "arn:aws:iam::*:role/iam-janitor/*,arn:aws:iam::*:role/stacksets-exec-*";

fn condition(entries: &[(&str, &str, Values<Expr>)]) -> Condition<Expr> {
    let mut c: Condition<Expr> = BTreeMap::new();
    for (operator, key, values) in entries {
        c.entry(operator.to_string())
            .or_default()
            .insert(key.to_string(), values.clone());
    }
    c
}

fn exempt_principals() -> (&'static str, &'static str, Values<Expr>) {
    (
        "ArnNotLike",
        "aws:PrincipalArn",
        Values::one(Expr::Ref(ALLOWED_PRINCIPAL_ARNS)),
    )
}

fn actions(list: &[&str]) -> Values<Expr> {
    Values(list.iter().map(|a| Expr::from(*a)).collect())
}

fn deny(sid: &str, action: &[&str], resource: Expr, condition: Condition<Expr>) -> Statement<Expr> {
    Statement {
        sid: Some(sid.to_string()),
        effect: Effect::Deny,
        action: Some(actions(action)),
        not_action: None,
        resource: Values::one(resource),
        condition: Some(condition),
    }
}

/// The tag that marks a user being offboarded (see SECURITY.md): outside the
/// `iam-janitor:` prefix so that an offboarding pipeline may set it. A user carrying it
/// can do nothing at all (so no one gains by setting it on themselves), only allowed
/// principals can remove it, and the tool's deny policies may be detached from such a
/// user (which DeleteUser requires).
pub const OFFBOARDING_TAG_KEY: &str = "iam-janitor-offboarding";

/// The resources of the tool that no principal outside the allow-list may create,
/// change or remove, as `Fn::Sub` patterns.
pub fn protected_resources() -> Vec<String> {
    use crate::stacks::member::{
        ALERT_RULE_SUFFIX, ERRORS_ALARM_SUFFIX, LOG_GROUP_PREFIX, MISSED_RUN_ALARM_SUFFIX, ORG_DIGEST_RULE_SUFFIX,
        ROLE_PATH, ROLE_POLICY_PATH, STATE_TABLE_PREFIX,
    };
    vec![
        // The deny policies.
        format!("arn:${{AWS::Partition}}:iam::*:policy{POLICY_PATH}*"),
        // The role's own permissions.
        format!("arn:${{AWS::Partition}}:iam::*:policy{ROLE_POLICY_PATH}*"),
        // The role (also: no role may be created under its path).
        format!("arn:${{AWS::Partition}}:iam::*:role{ROLE_PATH}*"),
        // The StackSets execution roles, allowed by name: no one may create one or
        // change the real one's trust or permissions.
        "arn:${AWS::Partition}:iam::*:role/stacksets-exec-*".to_string(),
        "arn:${AWS::Partition}:lambda:*:*:function:${FunctionName}".to_string(),
        "arn:${AWS::Partition}:lambda:*:*:function:${FunctionName}:*".to_string(),
        // The schedule, named after the function, the rule forwarding its alarms and the
        // organization digest's schedule (the management account's).
        "arn:${AWS::Partition}:events:*:*:rule/${FunctionName}".to_string(),
        format!("arn:${{AWS::Partition}}:events:*:*:rule/${{FunctionName}}{ALERT_RULE_SUFFIX}"),
        format!("arn:${{AWS::Partition}}:events:*:*:rule/${{FunctionName}}{ORG_DIGEST_RULE_SUFFIX}"),
        // The record of what was changed.
        format!("arn:${{AWS::Partition}}:logs:*:*:log-group:{LOG_GROUP_PREFIX}*"),
        format!("arn:${{AWS::Partition}}:cloudwatch:*:*:alarm:${{FunctionName}}{ERRORS_ALARM_SUFFIX}"),
        format!("arn:${{AWS::Partition}}:cloudwatch:*:*:alarm:${{FunctionName}}{MISSED_RUN_ALARM_SUFFIX}"),
        // Least privilege's memory.
        format!("arn:${{AWS::Partition}}:dynamodb:*:*:table/{STATE_TABLE_PREFIX}*"),
    ]
}

/// What no principal outside the allow-list may do to `protected_resources()`. One
/// statement holds them all (each action applies only to its own kind of resource), so
/// that the allow-list, which CloudFormation writes into every statement, is written
/// once less per kind.
pub const PROTECTED_ACTIONS: &[&str] = &[
    // Roles: the tool's and the StackSets execution roles.
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    // Running one's own code as the tool: CreateFunction with the tool's role.
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    // Policies: the deny policies and the role's own.
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    // The function (Create*: also a public function URL, or the name taken first).
    "lambda:AddPermission",
    "lambda:Create*",
    "lambda:Delete*",
    "lambda:Put*",
    "lambda:RemovePermission",
    "lambda:Update*",
    // The schedule: a rule that never fires is a tool that never runs.
    "events:DeleteRule",
    "events:DisableRule",
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    // The log group and the alarm.
    "logs:AssociateKmsKey",
    "logs:Delete*",
    "logs:PutRetentionPolicy",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:DisableAlarmActions",
    "cloudwatch:PutMetricAlarm",
    // The state table and its items.
    "dynamodb:BatchWriteItem",
    "dynamodb:Delete*",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:Put*",
    "dynamodb:Update*",
];

/// The two SCPs: who may change a user's standing (tags), and who may change the tool
/// (its deny policies' attachments, its resources). Two, because CloudFormation writes
/// the allow-list into every statement that names it and an SCP holds 5,120
/// characters: split this way, each carries it two or three times and both have room
/// for about as many patterns. A target holds at most 5 SCPs, FullAWSAccess included.
pub fn guardrails_policies() -> [(LogicalId, &'static str, &'static str, PolicyDocument<Expr>); 2] {
    [
        (
            GUARDRAILS_POLICY,
            "iam-janitor-guardrails-tags",
            "Keeps principals other than the tool and administrators from exempting users, forging or removing iam-janitor's records, or unmarking users being offboarded",
            tag_guardrails(),
        ),
        (
            TOOL_GUARDRAILS_POLICY,
            "iam-janitor-guardrails-tool",
            "Keeps principals other than the tool and administrators from detaching iam-janitor's deny policies or changing its role, function, schedule, logs, alarm and state; users being offboarded can do nothing",
            tool_guardrails(),
        ),
    ]
}

/// The first SCP: the tags that decide how the tool treats a user.
pub fn tag_guardrails() -> PolicyDocument<Expr> {
    const TAGGING: &[&str] = &["iam:CreateUser", "iam:TagUser", "iam:UntagUser"];
    PolicyDocument::new(vec![
        // Tag keys on users ignore case, and IAM has no case-insensitive wildcard
        // operator: the exemption and keep-services keys are matched ignoring case, the
        // rest of the tool's tags by prefix.
        deny(
            "ProtectExemptionTags",
            TAGGING,
            Expr::from("*"),
            condition(&[
                (
                    "ForAnyValue:StringEqualsIgnoreCase",
                    "aws:TagKeys",
                    Values(vec![Expr::Ref(EXEMPT_TAG_KEY), Expr::Ref(KEEP_SERVICES_TAG_KEY)]),
                ),
                exempt_principals(),
            ]),
        ),
        deny(
            "ProtectAuditTrailTags",
            TAGGING,
            Expr::from("*"),
            condition(&[
                (
                    "ForAnyValue:StringLike",
                    "aws:TagKeys",
                    Values::one(Expr::from("iam-janitor:*")),
                ),
                exempt_principals(),
            ]),
        ),
        // Offboarding is one way: anyone allowed to tag may mark a user, only the
        // allowed principals may unmark one.
        deny(
            "ProtectOffboardingTag",
            &["iam:UntagUser"],
            Expr::from("*"),
            condition(&[
                (
                    "ForAnyValue:StringEqualsIgnoreCase",
                    "aws:TagKeys",
                    Values::one(Expr::from(OFFBOARDING_TAG_KEY)),
                ),
                exempt_principals(),
            ]),
        ),
    ])
}

/// The second SCP: the tool's deny policies on users, and its own resources.
pub fn tool_guardrails() -> PolicyDocument<Expr> {
    let deny_policies = || Expr::sub(format!("arn:${{AWS::Partition}}:iam::*:policy{POLICY_PATH}*"));
    PolicyDocument::new(vec![
        deny(
            "ProtectDenyPolicyAttachments",
            &["iam:DetachUserPolicy"],
            Expr::from("*"),
            condition(&[
                ("ArnLike", "iam:PolicyARN", Values::one(deny_policies())),
                // DeleteUser needs every policy detached: a user being offboarded may
                // lose them (and can do nothing anyway).
                (
                    "Null",
                    &format!("aws:ResourceTag/{OFFBOARDING_TAG_KEY}"),
                    Values::one(Expr::from("true")),
                ),
                exempt_principals(),
            ]),
        ),
        Statement {
            sid: Some("ProtectTheTool".to_string()),
            effect: Effect::Deny,
            action: Some(actions(PROTECTED_ACTIONS)),
            not_action: None,
            resource: Values(protected_resources().into_iter().map(Expr::sub).collect()),
            condition: Some(condition(&[exempt_principals()])),
        },
        // A user marked for offboarding can do nothing (allowed principals included:
        // the mark is for users only, and roles cannot carry it into this statement).
        Statement {
            sid: Some("OffboardedUsersCannotAct".to_string()),
            effect: Effect::Deny,
            action: Some(actions(&["*"])),
            not_action: None,
            resource: Values::one(Expr::from("*")),
            condition: Some(condition(&[
                (
                    "Null",
                    &format!("aws:PrincipalTag/{OFFBOARDING_TAG_KEY}"),
                    Values::one(Expr::from("false")),
                ),
                (
                    "ArnLike",
                    "aws:PrincipalArn",
                    Values::one(Expr::sub("arn:${AWS::Partition}:iam::*:user/*")),
                ),
            ])),
        },
    ])
}

/// The guardrails stack.
pub fn guardrails_stack() -> Template {
    let mut template = Template::new(
        "iam-janitor (optional): two service control policies that keep member-account principals \
         from exempting themselves, removing the tool's deny policies, or changing or borrowing \
         its role, function, schedule, logs and state (management account; SCPs do not apply \
         to it).",
    );
    template.parameter(
        TARGET_IDS,
        Parameter::list("Roots, OUs or accounts to attach the SCP to (r-…, ou-…, account IDs)"),
    );
    template.parameter(
        ALLOWED_PRINCIPAL_ARNS,
        Parameter::list(
            "ARN patterns of the principals still allowed: keep the tool's role and the StackSet \
             execution roles, and add your IAM administrators' roles (room for about 20 more \
             patterns of 60 characters: each SCP holds 5,120)",
        )
        .default(DEFAULT_ALLOWED),
    );
    template.parameter(
        EXEMPT_TAG_KEY,
        Parameter::string("The engine's exemption tag key (ExemptTag of the member stack, without =VALUE)")
            .default("iam-janitor:exempt")
            .length(1, 128),
    );
    template.parameter(
        KEEP_SERVICES_TAG_KEY,
        Parameter::string("The engine's keep-services tag key (KeepServicesTag of the member stack)")
            .default("iam-janitor:keep-services")
            .length(1, 128),
    );
    template.parameter(
        FUNCTION_NAME,
        Parameter::string("The member stacks' FunctionName")
            .default("iam-janitor")
            .pattern("^[A-Za-z0-9_-]{1,64}$", "1 to 64 letters, digits, - and _"),
    );
    for (id, name, description, content) in guardrails_policies() {
        template.resource(
            id,
            Resource::new(Policy {
                name: Expr::from(name),
                description: Some(Expr::from(description)),
                kind: PolicyType::ServiceControlPolicy,
                content,
                target_ids: Some(Expr::Ref(TARGET_IDS)),
            }),
        );
    }
    template
}

/// How many more `AllowedPrincipalArns` patterns of 60 characters fit (checked by a
/// test; said in the parameter's description).
pub const ALLOWED_CAPACITY_60: usize = 20;

/// The largest SCP Organizations accepts, in characters (whitespace excluded).
pub const SCP_MAX_CHARS: usize = 5120;

/// How many extra `AllowedPrincipalArns` patterns of `pattern_len` characters fit beside
/// the defaults, found by substituting them the way CloudFormation does (into every
/// statement that names the parameter).
pub fn allowed_capacity(pattern_len: usize) -> usize {
    let mut n = 0;
    loop {
        let extra: Vec<String> = (0..=n).map(|i| format!("{:x<pattern_len$}", i)).collect();
        if substituted_size(&extra) > SCP_MAX_CHARS {
            return n;
        }
        n += 1;
    }
}

/// The larger SCP's size once CloudFormation has substituted the default parameters
/// plus `extra_allowed` patterns.
pub fn substituted_size(extra_allowed: &[String]) -> usize {
    let mut allowed: Vec<String> = DEFAULT_ALLOWED.split(',').map(str::to_string).collect();
    allowed.extend(extra_allowed.iter().cloned());
    guardrails_policies()
        .into_iter()
        .map(|(_, _, _, content)| match serde_json::to_value(content) {
            Ok(mut value) => {
                substitute(&mut value, &allowed);
                policy_size(&value.to_string())
            }
            Err(_) => usize::MAX,
        })
        .max()
        .unwrap_or(usize::MAX)
}

fn substitute(value: &mut serde_json::Value, allowed: &[String]) {
    use serde_json::Value;
    let replacement = match value {
        Value::Object(map) if map.len() == 1 => match (map.get("Ref"), map.get("Fn::Sub")) {
            (Some(Value::String(name)), _) => Some(match name.as_str() {
                "AllowedPrincipalArns" => Value::from(allowed.to_vec()),
                "ExemptTagKey" => Value::from("iam-janitor:exempt"),
                "KeepServicesTagKey" => Value::from("iam-janitor:keep-services"),
                other => Value::from(other.to_string()),
            }),
            (_, Some(Value::String(text))) => Some(Value::from(
                text.replace("${AWS::Partition}", "aws")
                    .replace("${FunctionName}", "iam-janitor"),
            )),
            _ => None,
        },
        _ => None,
    };
    if let Some(replacement) = replacement {
        *value = replacement;
        return;
    }
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, allowed)),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, allowed)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_statement_denies_and_spares_the_allowed_principals() {
        let doc = serde_json::to_value(
            guardrails_policies()
                .into_iter()
                .flat_map(|(_, _, _, p)| p.statement)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let statements = doc.as_array().unwrap();
        assert_eq!(statements.len(), 6);
        for s in statements {
            assert_eq!(s["Effect"], "Deny", "{s}");
            if s["Sid"] == "OffboardedUsersCannotAct" {
                // Only users, by their own tag.
                assert_eq!(
                    s["Condition"]["ArnLike"]["aws:PrincipalArn"]["Fn::Sub"],
                    "arn:${AWS::Partition}:iam::*:user/*"
                );
                continue;
            }
            assert_eq!(
                s["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Ref"], "AllowedPrincipalArns",
                "{s}"
            );
        }
        let text = doc.to_string();
        assert!(
            text.contains("ForAnyValue:StringEqualsIgnoreCase"),
            "exemption keys must match ignoring case"
        );
        assert!(DEFAULT_ALLOWED.contains("role/iam-janitor/*") && DEFAULT_ALLOWED.contains("stacksets-exec-*"));
        // The StackSets exemption's name and the role's own policy are protected.
        let protected = protected_resources().join(" ");
        assert!(protected.contains("role/stacksets-exec-*") && protected.contains("policy/iam-janitor-role/*"));
        assert!(PROTECTED_ACTIONS.contains(&"iam:PassRole") && PROTECTED_ACTIONS.contains(&"events:DisableRule"));
    }

    #[test]
    fn the_policy_fits_with_the_allow_list_substituted() {
        // Organizations counts the policy as attached, after CloudFormation wrote the
        // allow-list into each statement that names it.
        let default = substituted_size(&[]);
        assert!(default < SCP_MAX_CHARS, "{default}");
        // The capacity the parameter's description promises.
        assert!(allowed_capacity(60) >= ALLOWED_CAPACITY_60, "{}", allowed_capacity(60));
        let fits: Vec<String> = (0..ALLOWED_CAPACITY_60)
            .map(|i| format!("arn:aws:iam::*:role/{i:x<40}"))
            .collect();
        assert!(substituted_size(&fits) <= SCP_MAX_CHARS);
        // One more pattern than the capacity does not fit: the limit is real.
        let over: Vec<String> = (0..=allowed_capacity(60)).map(|i| format!("{i:x<60}")).collect();
        assert!(substituted_size(&over) > SCP_MAX_CHARS);
        // Two SCPs: a target holds at most 5, FullAWSAccess among them.
        let stack: serde_json::Value = serde_json::from_str(&guardrails_stack().to_compact_json().unwrap()).unwrap();
        let policies = stack["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::Organizations::Policy")
            .count();
        assert_eq!(policies, 2);
    }
}
