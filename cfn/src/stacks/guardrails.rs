//! The guardrails stack (optional; management account): a service control policy that
//! keeps member-account principals from switching the tool off for themselves.
//!
//! Without it, anyone allowed `iam:TagUser` on their own user can exempt themselves, and
//! anyone allowed `iam:DetachUserPolicy` or `iam:CreatePolicyVersion` can lift their deny
//! policy. The SCP denies, to every principal except the ones listed in
//! `AllowedPrincipalArns` (the tool's role, StackSet execution roles and your admin
//! roles):
//!
//! - adding, changing or removing `iam-janitor:*` tags and the exemption tag on users
//!   (also at CreateUser);
//! - changing, deleting or detaching the deny policies under `/iam-janitor/`;
//! - changing the tool's role (path `/iam-janitor/`) and function.
//!
//! SCPs do not apply to the management account: there, protect the tool with IAM.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::id::LogicalId;
use crate::policy::{Condition, Effect, PolicyDocument, Statement, Values};
use crate::resources::Resource;
use crate::resources::organizations::{Policy, PolicyType};
use crate::template::{Parameter, Template};

// Parameters.
pub const TARGET_IDS: LogicalId = LogicalId::from_static("TargetIds");
pub const ALLOWED_PRINCIPAL_ARNS: LogicalId = LogicalId::from_static("AllowedPrincipalArns");
pub const EXEMPT_TAG_KEY: LogicalId = LogicalId::from_static("ExemptTagKey");
pub const KEEP_SERVICES_TAG_KEY: LogicalId = LogicalId::from_static("KeepServicesTagKey");
pub const FUNCTION_NAME: LogicalId = LogicalId::from_static("FunctionName");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const GUARDRAILS_POLICY: LogicalId = LogicalId::from_static("GuardrailsPolicy");

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

/// The SCP's content.
pub fn guardrails_policy() -> PolicyDocument<Expr> {
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
        deny(
            "ProtectDenyPolicies",
            &[
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:TagPolicy",
                "iam:UntagPolicy",
            ],
            Expr::sub("arn:${AWS::Partition}:iam::*:policy/iam-janitor/*"),
            condition(&[exempt_principals()]),
        ),
        Statement {
            sid: Some("ProtectDenyPolicyAttachments".to_string()),
            effect: Effect::Deny,
            action: Some(actions(&["iam:DetachUserPolicy"])),
            not_action: None,
            resource: Values::one(Expr::from("*")),
            condition: Some(condition(&[
                (
                    "ArnLike",
                    "iam:PolicyARN",
                    Values::one(Expr::sub("arn:${AWS::Partition}:iam::*:policy/iam-janitor/*")),
                ),
                exempt_principals(),
            ])),
        },
        deny(
            "ProtectToolRole",
            &[
                "iam:AttachRolePolicy",
                "iam:DeleteRole",
                "iam:DeleteRolePermissionsBoundary",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
            ],
            Expr::sub("arn:${AWS::Partition}:iam::*:role/iam-janitor/*"),
            condition(&[exempt_principals()]),
        ),
        deny(
            "ProtectToolFunction",
            &[
                "lambda:AddPermission",
                "lambda:DeleteFunction",
                "lambda:PutFunctionConcurrency",
                "lambda:RemovePermission",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            Expr::sub("arn:${AWS::Partition}:lambda:*:*:function:${FunctionName}"),
            condition(&[exempt_principals()]),
        ),
    ])
}

/// The guardrails stack.
pub fn guardrails_stack() -> Template {
    let mut template = Template::new(
        "iam-janitor (optional): a service control policy that keeps member-account principals from \
         exempting themselves or removing the tool's deny policies, role and function \
         (management account; SCPs do not apply to it).",
    );
    template.parameter(
        TARGET_IDS,
        Parameter::list("Roots, OUs or accounts to attach the SCP to (r-…, ou-…, account IDs)"),
    );
    template.parameter(
        ALLOWED_PRINCIPAL_ARNS,
        Parameter::list(
            "ARN patterns of the principals still allowed: keep the tool's role and the StackSet \
             execution roles, and add your IAM administrators' roles",
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
    template.resource(
        GUARDRAILS_POLICY,
        Resource::new(Policy {
            name: Expr::from("iam-janitor-guardrails"),
            description: Some(Expr::from(
                "Keeps principals other than the tool and administrators from exempting users or removing iam-janitor's policies, role and function",
            )),
            kind: PolicyType::ServiceControlPolicy,
            content: guardrails_policy(),
            target_ids: Some(Expr::Ref(TARGET_IDS)),
        }),
    );
    template
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_statement_denies_and_spares_the_allowed_principals() {
        let doc = serde_json::to_value(guardrails_policy()).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 6);
        for s in statements {
            assert_eq!(s["Effect"], "Deny", "{s}");
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
        // An SCP holds at most 5,120 characters.
        let json = guardrails_stack().to_compact_json().unwrap();
        let content: serde_json::Value = serde_json::from_str(&json).unwrap();
        let content = content["Resources"]["GuardrailsPolicy"]["Properties"]["Content"].to_string();
        assert!(crate::policy::policy_size(&content) < 5120, "{}", content.len());
    }
}
