//! The Lambda role's permissions: from the engine's list of actions and scopes to the
//! statements of the role's policy, and to a plain-words summary for review.
//!
//! The engine's list lives in the `iam-janitor` crate (`permissions::PERMISSIONS`),
//! which depends on this crate; `cargo xtask synth` converts it into [`RolePermission`]s
//! with an exhaustive `match`, so a new engine scope cannot ship unmapped.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::id::LogicalId;
use crate::policy::{Condition, Effect, PolicyDocument, Statement, Values};

/// The path of the IAM policies the engine creates and changes.
///
/// **Invariant:** nothing else is ever put under it, in particular not the Lambda's own
/// policy, which the engine could otherwise rewrite.
pub const JANITOR_POLICY_PATH: &str = "/iam-janitor/";

/// Every IAM user of the account.
pub const USER_ARNS: &str = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*";

/// Every policy under [`JANITOR_POLICY_PATH`] in the account.
pub const JANITOR_POLICY_ARNS: &str = "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/iam-janitor/*";

/// The actions on the function's own log group.
pub const LOG_ACTIONS: [&str; 2] = ["logs:CreateLogStream", "logs:PutLogEvents"];

/// The actions on the function's own state table (least privilege's memory): check its
/// key, read it once a run, write one item per user checked.
pub const STATE_TABLE_ACTIONS: [&str; 3] = ["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"];

/// Where the role may use an action: the template's side of the engine's `Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActionScope {
    /// Read-only actions, on `*` (most IAM reads support no resource scoping).
    Read,
    /// Writes on the account's IAM users ([`USER_ARNS`]).
    User,
    /// Writes on the engine's own policies ([`JANITOR_POLICY_ARNS`]).
    JanitorPolicy,
    /// Attaching and detaching policies on users ([`USER_ARNS`]), only policies under
    /// [`JANITOR_POLICY_ARNS`] (condition `ArnLike iam:PolicyARN`).
    AttachJanitorPolicy,
    /// Removing tags from the account's users ([`USER_ARNS`]), only the engine's records
    /// of deactivated credentials (condition `ForAllValues:StringLike aws:TagKeys`
    /// [`RECORD_TAG_KEYS`], which is case-sensitive like the records).
    TrailRecords,
}

/// The tag keys of the engine's records of deactivated credentials.
pub const RECORD_TAG_KEYS: [&str; 4] = [
    "iam-janitor:certificate-disabled:*",
    "iam-janitor:key-disabled:*",
    "iam-janitor:service-credential-disabled:*",
    "iam-janitor:ssh-key-disabled:*",
];

impl ActionScope {
    /// Every scope, in statement order.
    pub const ALL: [ActionScope; 5] = [
        ActionScope::Read,
        ActionScope::User,
        ActionScope::JanitorPolicy,
        ActionScope::AttachJanitorPolicy,
        ActionScope::TrailRecords,
    ];

    /// The statement's `Sid`.
    pub fn sid(self) -> &'static str {
        match self {
            ActionScope::Read => "Read",
            ActionScope::User => "ChangeUsers",
            ActionScope::JanitorPolicy => "ManageJanitorPolicies",
            ActionScope::AttachJanitorPolicy => "AttachJanitorPolicies",
            ActionScope::TrailRecords => "RemoveOwnRecords",
        }
    }

    /// The statement's `Resource`.
    pub fn resource(self) -> Expr {
        match self {
            ActionScope::Read => Expr::from("*"),
            ActionScope::User | ActionScope::AttachJanitorPolicy | ActionScope::TrailRecords => Expr::sub(USER_ARNS),
            ActionScope::JanitorPolicy => Expr::sub(JANITOR_POLICY_ARNS),
        }
    }

    /// The statement's `Condition`, if any.
    pub fn condition(self) -> Option<Condition<Expr>> {
        match self {
            ActionScope::Read | ActionScope::User | ActionScope::JanitorPolicy => None,
            ActionScope::AttachJanitorPolicy => Some(BTreeMap::from([(
                "ArnLike".to_string(),
                BTreeMap::from([("iam:PolicyARN".to_string(), Values::one(Expr::sub(JANITOR_POLICY_ARNS)))]),
            )])),
            ActionScope::TrailRecords => Some(BTreeMap::from([(
                "ForAllValues:StringLike".to_string(),
                BTreeMap::from([(
                    "aws:TagKeys".to_string(),
                    Values(RECORD_TAG_KEYS.into_iter().map(Expr::from).collect()),
                )]),
            )])),
        }
    }

    /// The heading of the scope's section in the summary.
    pub fn summary_heading(self) -> &'static str {
        match self {
            ActionScope::Read => "Read, on any resource of its account",
            ActionScope::User => "Change IAM users: any user of its account (`user/*`)",
            ActionScope::JanitorPolicy => {
                "Manage its own deny policies: only policies under `/iam-janitor/` of its account"
            }
            ActionScope::AttachJanitorPolicy => {
                "Attach and detach policies on users (`user/*`): only its own policies under `/iam-janitor/`"
            }
            ActionScope::TrailRecords => {
                "Remove tags from users (`user/*`): only its records of deactivated credentials \
                 (`iam-janitor:key-disabled:*`, `iam-janitor:certificate-disabled:*`, \
                 `iam-janitor:service-credential-disabled:*`, `iam-janitor:ssh-key-disabled:*`)"
            }
        }
    }
}

/// One action of the engine, as the templates see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolePermission<'a> {
    /// `iam:Action`.
    pub action: &'a str,
    pub scope: ActionScope,
    /// Why the engine needs it, in plain words.
    pub why: &'a str,
}

/// The actions of one scope, sorted and without duplicates.
fn actions_of<'a>(permissions: &[RolePermission<'a>], scope: ActionScope) -> Vec<&'a str> {
    let mut actions: Vec<&str> = permissions
        .iter()
        .filter(|p| p.scope == scope)
        .map(|p| p.action)
        .collect();
    actions.sort_unstable();
    actions.dedup();
    actions
}

/// The Lambda role's policy: one statement per scope that has actions, then the writes
/// to its own log group (`log_group`'s `Arn`, which covers the group's streams).
pub fn role_policy(
    permissions: &[RolePermission<'_>],
    log_group: LogicalId,
    state_table: LogicalId,
) -> PolicyDocument<Expr> {
    let mut statements: Vec<Statement<Expr>> = ActionScope::ALL
        .into_iter()
        .filter_map(|scope| {
            let actions = actions_of(permissions, scope);
            (!actions.is_empty()).then(|| Statement {
                sid: Some(scope.sid().to_string()),
                effect: Effect::Allow,
                action: Some(Values(actions.into_iter().map(Expr::from).collect())),
                not_action: None,
                resource: Values::one(scope.resource()),
                condition: scope.condition(),
            })
        })
        .collect();
    statements.push(Statement {
        sid: Some("WriteOwnLogs".to_string()),
        effect: Effect::Allow,
        action: Some(Values(LOG_ACTIONS.into_iter().map(Expr::from).collect())),
        not_action: None,
        resource: Values::one(Expr::get_att(log_group, "Arn")),
        condition: None,
    });
    statements.push(Statement {
        sid: Some("UseOwnStateTable".to_string()),
        effect: Effect::Allow,
        action: Some(Values(STATE_TABLE_ACTIONS.into_iter().map(Expr::from).collect())),
        not_action: None,
        resource: Values::one(Expr::get_att(state_table, "Arn")),
        condition: None,
    });
    PolicyDocument::new(statements)
}

/// `cfn/templates/PERMISSIONS.md`: what the Lambda may read and change, in a few lines,
/// so that a change of permissions shows in a pull request as a change of this file.
pub fn permissions_summary(permissions: &[RolePermission<'_>]) -> String {
    let mut out = String::from(
        "<!-- Generated by `cargo xtask synth` from lambda/src/iam/permissions.rs — do not edit. -->\n\
         \n\
         # What the iam-janitor Lambda may do\n\
         \n\
         In every account, the Lambda's role (`member.yaml`, resources `Role` and `RolePolicy`) \
         allows these actions and no others.\n",
    );
    for scope in ActionScope::ALL {
        let actions = actions_of(permissions, scope);
        if actions.is_empty() {
            continue;
        }
        out.push_str(&format!("\n## {}\n\n", scope.summary_heading()));
        for action in actions {
            let whys: Vec<&str> = permissions
                .iter()
                .filter(|p| p.scope == scope && p.action == action)
                .map(|p| p.why)
                .collect();
            out.push_str(&format!("- `{action}`: {}\n", whys.join("; ")));
        }
    }
    out.push_str("\n## Write its own logs: its log group only\n\n");
    out.push_str(&format!(
        "- {}: write the run's log\n",
        LOG_ACTIONS.map(|a| format!("`{a}`")).join(", ")
    ));
    out.push_str(
        "
## Remember least privilege's progress: its state table only

",
    );
    out.push_str(&format!(
        "- {}: check the table's key, read it once a run, write one item per user checked
",
        STATE_TABLE_ACTIONS.map(|a| format!("`{a}`")).join(", ")
    ));
    out.push_str(
        "\n## Store its run reports: the organization's report bucket, under its own account's prefix only\n\n\
         - `s3:PutObject` on `reports/account=<its account>/*` (`ReportWriterPolicy`, only when `ReportBucket` is \
         set): store each run's JSON report for the organization view; nothing in the bucket can be read\n\
         - `kms:GenerateDataKey` on `ReportKmsKeyArn`, through S3 in its Region only (`ReportEncryptPolicy`, only \
         when the bucket is encrypted with that key): S3 encrypts each report with the caller's permissions\n",
    );
    out.push_str(
        "\n## Build the organization digest: the management account's stack only, when `OrgDigestSchedule` is set\n\n\
         - `s3:ListBucket` on the report bucket (prefix `reports/*`) and `s3:GetObject` on `reports/*` \
         (`OrgDigestReaderPolicy`): read every account's latest report; nothing is written\n\
         - `organizations:ListAccounts`: name the accounts and find those that never reported\n\
         - `kms:Decrypt` on `ReportKmsKeyArn`, through S3 in its Region only (`OrgDigestDecryptPolicy`, only when \
         the bucket is encrypted with that key): read the encrypted reports\n",
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LOG_GROUP: LogicalId = LogicalId::from_static("LogGroup");
    const STATE_TABLE: LogicalId = LogicalId::from_static("StateTable");

    fn p(action: &'static str, scope: ActionScope) -> RolePermission<'static> {
        RolePermission {
            action,
            scope,
            why: "because",
        }
    }

    #[test]
    fn one_statement_per_scope_with_its_resource_and_condition() {
        let permissions = [
            p("iam:GetUser", ActionScope::Read),
            p("iam:UpdateAccessKey", ActionScope::User),
            p("iam:CreatePolicy", ActionScope::JanitorPolicy),
            p("iam:AttachUserPolicy", ActionScope::AttachJanitorPolicy),
            p("iam:GetCredentialReport", ActionScope::Read),
        ];
        let json = serde_json::to_value(role_policy(&permissions, LOG_GROUP, STATE_TABLE)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Read", "Effect": "Allow", "Action": ["iam:GetCredentialReport", "iam:GetUser"], "Resource": "*"},
                    {"Sid": "ChangeUsers", "Effect": "Allow", "Action": "iam:UpdateAccessKey",
                     "Resource": {"Fn::Sub": USER_ARNS}},
                    {"Sid": "ManageJanitorPolicies", "Effect": "Allow", "Action": "iam:CreatePolicy",
                     "Resource": {"Fn::Sub": JANITOR_POLICY_ARNS}},
                    {"Sid": "AttachJanitorPolicies", "Effect": "Allow", "Action": "iam:AttachUserPolicy",
                     "Resource": {"Fn::Sub": USER_ARNS},
                     "Condition": {"ArnLike": {"iam:PolicyARN": {"Fn::Sub": JANITOR_POLICY_ARNS}}}},
                    {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                     "Resource": {"Fn::GetAtt": ["LogGroup", "Arn"]}},
                    {"Sid": "UseOwnStateTable", "Effect": "Allow",
                     "Action": ["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"],
                     "Resource": {"Fn::GetAtt": ["StateTable", "Arn"]}},
                ]
            })
        );
    }

    #[test]
    fn scopes_without_actions_have_no_statement() {
        let policy = role_policy(&[p("iam:GetUser", ActionScope::Read)], LOG_GROUP, STATE_TABLE);
        let sids: Vec<_> = policy.statement.iter().map(|s| s.sid.as_deref().unwrap()).collect();
        assert_eq!(sids, ["Read", "WriteOwnLogs", "UseOwnStateTable"]);
    }

    #[test]
    fn summary_lists_each_action_under_its_scope() {
        let summary = permissions_summary(&[
            RolePermission {
                action: "iam:UpdateAccessKey",
                scope: ActionScope::User,
                why: "set a dormant access key Inactive",
            },
            RolePermission {
                action: "iam:GetUser",
                scope: ActionScope::Read,
                why: "confirm a password's last use",
            },
        ]);
        assert!(summary.starts_with("<!-- Generated by `cargo xtask synth`"));
        let read = summary.find("## Read").unwrap();
        let users = summary.find("## Change IAM users").unwrap();
        assert!(read < users);
        assert!(summary.contains("- `iam:UpdateAccessKey`: set a dormant access key Inactive\n"));
        assert!(!summary.contains("## Manage its own deny policies"));
        assert!(summary.contains("- `logs:CreateLogStream`, `logs:PutLogEvents`: write the run's log\n"));
        assert!(summary.contains(
            "- `dynamodb:DescribeTable`, `dynamodb:PutItem`, `dynamodb:Scan`: check the table's key, read it once a run, write one item per user checked\n"
        ));
        assert!(
            summary.contains("- `organizations:ListAccounts`: name the accounts and find those that never reported\n")
        );
        // The KMS grants, with the policy each is in.
        assert!(summary.contains(
            "- `kms:GenerateDataKey` on `ReportKmsKeyArn`, through S3 in its Region only (`ReportEncryptPolicy`"
        ));
        assert!(summary.ends_with("the bucket is encrypted with that key): read the encrypted reports\n"));
    }
}
