//! The pure half of `deploy` and `destroy`: what should be deployed, how it differs from
//! what is deployed, and how that reads. Nothing here calls AWS; `aws` reads the
//! deployed state into the plain structs below.
//!
//! Here: the names, who deploys ([`Context`], [`check_caller`]) and the whole [`Plan`].
//! [`params`] holds the desired state (parameters, templates), [`diff`] how a stack
//! differs from it, [`stackset`] the StackSet's plan, [`destroy`] what `destroy` removes,
//! [`render`] how the plans read, [`report_key`] the checks on the report bucket's KMS key.

mod destroy;
mod diff;
mod params;
mod render;
mod report_key;
mod stackset;

#[cfg(test)]
mod fixtures;

pub(super) use self::destroy::{DestroyPlan, StackSetTeardown};
pub(super) use self::diff::{DeployedStack, StackAction, plan_stack};
pub(super) use self::params::{
    Deployment, DesiredStack, code_key, complete_parameters, is_email_address, is_org_unit_id, is_schedule_expression,
    is_sns_topic_arn, member_parameters, member_tags, report_accounts, sha256_hex,
};
pub(super) use self::report_key::{
    KeyDescription, KeyPolicyCheck, check_key, check_key_arn, check_key_policy, key_arn,
};
use self::stackset::StackSetPlan;
pub(super) use self::stackset::{
    AUTO_DEPLOYMENT, AutoDeploymentState, DeployedStackSet, DesiredStackSet, Instance, other_owner, plan_stack_set,
    regions_of,
};

/// The artifact stack (the code bucket), in the management (or delegated admin) account.
pub(super) const ARTIFACT_STACK: &str = "iam-janitor-artifacts";
/// The StackSet of the member stacks.
pub(super) const STACK_SET: &str = "iam-janitor";
/// The member stack in the management account (StackSets never deploy there).
pub(super) const MANAGEMENT_STACK: &str = "iam-janitor";
/// The artifact stack's output naming the bucket.
pub(super) const BUCKET_OUTPUT: &str = "CodeBucketName";
/// The service principal of StackSets' trusted access to Organizations.
pub(super) const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";
/// The tag that records which Slack webhook is deployed (a fingerprint, see
/// `params::webhook_fingerprint`): CloudFormation masks NoEcho parameters as `****`, so
/// the value itself can never be compared.
const WEBHOOK_TAG: &str = iam_janitor::trail::SLACK_WEBHOOK;
/// CloudFormation's limit on `TemplateBody`.
const TEMPLATE_BODY_LIMIT: usize = 51_200;
/// What CloudFormation shows instead of a NoEcho parameter's value.
const MASKED: &str = "****";
/// The schedule when `--schedule` is not given (the template's default).
pub(super) const DEFAULT_SCHEDULE: &str = "cron(0 6 * * ? *)";
/// The management account's organization digest when `--org-digest-schedule` is not
/// given: three hours after the default schedule's runs, so that they have stored their
/// reports.
pub(super) const DEFAULT_ORG_DIGEST_SCHEDULE: &str = "cron(0 9 * * ? *)";

/// Whether this account may deploy the StackSet: the organization has all features, and
/// the account is its management account (`as_management`, CallAs SELF) or, as a
/// delegated administrator, any other account. The error says how to fix it.
pub(super) fn check_caller(
    account: &str,
    organization: &str,
    management: &str,
    all_features: bool,
    as_management: bool,
) -> Result<(), String> {
    if !all_features {
        return Err(format!(
            "organization {organization} has only consolidated billing features: StackSets deploy to its accounts \
             only with all features enabled (`aws organizations enable-all-features`, from the management account)"
        ));
    }
    if as_management && account != management {
        return Err(format!(
            "account {account} is not the management account of organization {organization} ({management}). A \
             service-managed StackSet is deployed from the management account, or from a delegated administrator \
             for StackSets: run with management-account credentials (--profile), or register this account from the \
             management account (`aws organizations register-delegated-administrator --service-principal \
             {STACKSETS_PRINCIPAL} --account-id {account}`) and pass --call-as DELEGATED_ADMIN"
        ));
    }
    if !as_management && account == management {
        return Err(format!(
            "account {account} is the management account of organization {organization}: deploy with --call-as SELF"
        ));
    }
    Ok(())
}

/// The code upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UploadPlan {
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) size: u64,
    pub(super) exists: bool,
}

/// Who deploys, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Context {
    pub(super) account: String,
    pub(super) organization: String,
    pub(super) management_account: String,
    pub(super) region: String,
    pub(super) call_as: &'static str,
}

/// Everything `deploy` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) context: Context,
    pub(super) artifact: StackAction,
    pub(super) upload: UploadPlan,
    /// `None` with `--management-only`: the StackSet is not ours to read or change.
    pub(super) stack_set: Option<StackSetPlan>,
    /// `None` when deploying as a delegated administrator (the management account's stack
    /// is then not ours to deploy).
    pub(super) management: Option<StackAction>,
    /// The member accounts' mode.
    pub(super) mode: String,
    /// The management account's mode (`--management-mode`): report unless asked, since
    /// break-glass users live there and no SCP applies.
    pub(super) management_mode: String,
    /// Who is told of failed or missed runs (`--alarm-email`, `--alarm-topic-arn`).
    pub(super) alert_recipients: Vec<String>,
}

impl Plan {
    pub(super) fn is_change(&self) -> bool {
        self.artifact.is_change()
            || !self.upload.exists
            || self.stack_set.as_ref().is_some_and(StackSetPlan::is_change)
            || self.management.as_ref().is_some_and(StackAction::is_change)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn only_the_management_account_or_a_delegated_admin_deploys() {
        let org = "o-abcdefghij";
        assert_eq!(check_caller("111111111111", org, "111111111111", true, true), Ok(()));
        assert_eq!(check_caller("222222222222", org, "111111111111", true, false), Ok(()));
        let member = check_caller("222222222222", org, "111111111111", true, true).unwrap_err();
        assert!(
            member.contains("account 222222222222 is not the management account of organization o-abcdefghij")
                && member.contains(
                    "register-delegated-administrator --service-principal \
                     member.org.stacksets.cloudformation.amazonaws.com --account-id 222222222222"
                )
                && member.contains("--call-as DELEGATED_ADMIN"),
            "{member}"
        );
        let management = check_caller("111111111111", org, "111111111111", true, false).unwrap_err();
        assert!(management.contains("deploy with --call-as SELF"), "{management}");
        let billing = check_caller("111111111111", org, "111111111111", false, true).unwrap_err();
        assert!(billing.contains("enable-all-features"), "{billing}");
    }
}
