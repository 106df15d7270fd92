//! Every IAM action the engine calls, with the resources it needs it on.
//!
//! **Architecture invariant:** this list is the single source of the Lambda role's
//! permissions. The CloudFormation templates are generated from it, and an emulator test
//! (`tests/tests/authorization.rs`) checks it against the operations the engine's client
//! actually sent (recorded by an SDK interceptor, the `operation-log` feature) over
//! fault-free and faulty runs, so a new API call cannot ship without its permission, and
//! no permission ships without a call. Restore's own calls ([`super::Admin`]) are not here.

/// Where an action may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read-only actions, on `*` (most IAM reads do not support resource scoping).
    Read,
    /// Writes on IAM users: `arn:${Partition}:iam::${AccountId}:user/*`.
    User,
    /// Writes on the engine's own policies: `arn:${Partition}:iam::${AccountId}:policy/iam-janitor/*`.
    JanitorPolicy,
    /// Attaching and detaching policies on users (`user/*`), only when the policy is one
    /// of the engine's (condition `ArnLike iam:PolicyARN …:policy/iam-janitor/*`).
    AttachJanitorPolicy,
    /// Removing tags from users (`user/*`), only the records of deactivated credentials
    /// (condition `ForAllValues:StringLike aws:TagKeys` on their prefixes).
    TrailRecords,
}

/// One permission of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// `iam:Action`.
    pub action: &'static str,
    pub scope: Scope,
    /// Why the engine needs it, in plain words (for the reviewed permissions summary).
    pub why: &'static str,
}

const fn p(action: &'static str, scope: Scope, why: &'static str) -> Permission {
    Permission { action, scope, why }
}

/// The engine's permissions, sorted by scope then action.
pub const PERMISSIONS: &[Permission] = &[
    p(
        "iam:GenerateCredentialReport",
        Scope::Read,
        "generate the account's credential report",
    ),
    p(
        "iam:GenerateServiceLastAccessedDetails",
        Scope::Read,
        "start an Access Advisor job for a user (which services they used, and when)",
    ),
    p(
        "iam:GetAccessKeyLastUsed",
        Scope::Read,
        "confirm a key's last use before deactivating it",
    ),
    p(
        "iam:GetAccountAuthorizationDetails",
        Scope::Read,
        "read every user's tags, path and attached policies in bulk",
    ),
    p(
        "iam:GetAccountSummary",
        Scope::Read,
        "check the account's customer managed policy quota before creating deny policies",
    ),
    p("iam:GetCredentialReport", Scope::Read, "read the credential report"),
    p(
        "iam:GetLoginProfile",
        Scope::Read,
        "confirm a console password still exists before deleting it",
    ),
    p(
        "iam:GetPolicy",
        Scope::Read,
        "after a failed deny-policy change, find its default version (did it take effect?)",
    ),
    p(
        "iam:GetPolicyVersion",
        Scope::Read,
        "after a failed deny-policy change, read the policy in effect",
    ),
    p(
        "iam:GetServiceLastAccessedDetails",
        Scope::Read,
        "read an Access Advisor job's result",
    ),
    p(
        "iam:GetUser",
        Scope::Read,
        "confirm a password's last use before deleting it",
    ),
    p(
        "iam:ListAccessKeys",
        Scope::Read,
        "match a dormant key in the report to its key ID",
    ),
    p(
        "iam:ListAttachedUserPolicies",
        Scope::Read,
        "after a failed attach or detach, see whether the deny policy is attached",
    ),
    p(
        "iam:ListPolicyVersions",
        Scope::Read,
        "find the oldest version of a deny policy at the five-version limit",
    ),
    p(
        "iam:ListSSHPublicKeys",
        Scope::Read,
        "list the SSH public keys of this run's share of the users (no bulk call lists them), and confirm one before deactivating it",
    ),
    p(
        "iam:ListServiceSpecificCredentials",
        Scope::Read,
        "list every user's service-specific credentials (CodeCommit Git, Keyspaces, Bedrock API keys) in one paged call per service, and confirm one before deactivating it",
    ),
    p(
        "iam:ListSigningCertificates",
        Scope::Read,
        "confirm a signing certificate is still there and active before deactivating it",
    ),
    p(
        "iam:ListUserTags",
        Scope::Read,
        "after a failed audit-trail tag or untag, see whether it took effect (the trail is otherwise compacted from the tags GetAccountAuthorizationDetails listed)",
    ),
    p(
        "iam:DeleteLoginProfile",
        Scope::User,
        "delete a dormant console password",
    ),
    p(
        "iam:TagUser",
        Scope::User,
        "record what was changed and when on the user",
    ),
    p("iam:UpdateAccessKey", Scope::User, "set a dormant access key Inactive"),
    p(
        "iam:UpdateSSHPublicKey",
        Scope::User,
        "set a dormant SSH public key (CodeCommit) Inactive",
    ),
    p(
        "iam:UpdateServiceSpecificCredential",
        Scope::User,
        "set a dormant service-specific credential Inactive",
    ),
    p(
        "iam:UpdateSigningCertificate",
        Scope::User,
        "set an old signing certificate Inactive (only with --signing-certificates deactivate)",
    ),
    p(
        "iam:CreatePolicy",
        Scope::JanitorPolicy,
        "create a user's deny policy under /iam-janitor/",
    ),
    p(
        "iam:CreatePolicyVersion",
        Scope::JanitorPolicy,
        "update a user's deny policy in place",
    ),
    p(
        "iam:DeletePolicyVersion",
        Scope::JanitorPolicy,
        "delete the oldest version of a deny policy at the five-version limit",
    ),
    p(
        "iam:TagPolicy",
        Scope::JanitorPolicy,
        "tag a deny policy with the user it belongs to",
    ),
    p(
        "iam:AttachUserPolicy",
        Scope::AttachJanitorPolicy,
        "attach a user's deny policy",
    ),
    p(
        "iam:DetachUserPolicy",
        Scope::AttachJanitorPolicy,
        "detach a user's deny policy when nothing is left to deny",
    ),
    p(
        "iam:UntagUser",
        Scope::TrailRecords,
        "remove its records of credentials the user no longer has (keys, certificates, service-specific credentials), so that the audit trail never fills the 50 tags a user may have",
    ),
];

/// The actions alone.
pub fn actions() -> impl Iterator<Item = &'static str> {
    PERMISSIONS.iter().map(|p| p.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_only_calls_are_not_in_the_role() {
        for action in ["iam:CreateLoginProfile", "iam:GetAccountPasswordPolicy"] {
            assert!(
                actions().all(|a| a != action),
                "{action} is restore's, not the Lambda's"
            );
        }
    }

    #[test]
    fn sorted_and_unique() {
        let keys: Vec<(Scope, &str)> = PERMISSIONS.iter().map(|p| (p.scope, p.action)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
        assert!(PERMISSIONS.iter().all(|p| p.action.starts_with("iam:")));
    }
}
