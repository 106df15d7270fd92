//! The account's users as the planner sees them: credential-report rows joined with the
//! bulk user details (tags, path, attached policies) from GetAccountAuthorizationDetails.
//!
//! Plain data: built by the adapter, read by the planner.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::model::credential_report::{CredentialRow, ParsedReport, RejectedRow};
use crate::model::services::ServiceAccess;

/// A user tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// What GetAccountAuthorizationDetails says of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDetails {
    pub name: String,
    /// IAM's stable ID (`AIDA…`): it survives a rename, the name does not.
    pub id: String,
    pub arn: String,
    pub path: String,
    pub create_date: OffsetDateTime,
    pub tags: Vec<Tag>,
    pub attached_policy_arns: Vec<String>,
}

/// A version of one of the engine's deny policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub id: String,
    pub is_default: bool,
    pub created: OffsetDateTime,
    /// The decoded JSON document, when listed.
    pub document: Option<String>,
}

/// One of the engine's deny policies (under `/iam-janitor/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanitorPolicy {
    pub name: String,
    pub arn: String,
    /// How many users, groups and roles it is attached to.
    pub attachments: u32,
    pub versions: Vec<PolicyVersion>,
}

impl JanitorPolicy {
    /// The default version's document.
    pub fn default_document(&self) -> Option<&str> {
        self.versions.iter().find(|v| v.is_default)?.document.as_deref()
    }
}

/// A service-specific credential (CodeCommit Git, Keyspaces, Bedrock API key), as
/// ListServiceSpecificCredentials lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredential {
    pub id: String,
    pub user: String,
    /// The issuing service, e.g. `codecommit.amazonaws.com`.
    pub service: String,
    pub created: OffsetDateTime,
    pub active: bool,
}

/// An SSH public key (for CodeCommit), as ListSSHPublicKeys lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    pub id: String,
    pub user: String,
    pub uploaded: OffsetDateTime,
    pub active: bool,
}

/// Everything detection needs, read with bulk calls only.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub account_id: Option<String>,
    /// When IAM generated the credential report (it can be up to 4 hours old).
    pub report_generated_at: Option<OffsetDateTime>,
    pub rows: Vec<CredentialRow>,
    pub rejected: Vec<RejectedRow>,
    /// Keyed by exact user name.
    pub details: HashMap<String, UserDetails>,
    /// The engine's deny policies, keyed by policy name.
    pub policies: HashMap<String, JanitorPolicy>,
    /// Every user's service-specific credentials (one paged listing per service).
    pub service_credentials: Vec<ServiceCredential>,
    /// The SSH public keys of this run's share of the users (no bulk call lists them:
    /// see `rules::ssh_key_sweep`).
    pub ssh_keys: Vec<SshPublicKey>,
    /// How many users' SSH public keys were listed.
    pub ssh_key_users: usize,
    /// Access Advisor's services for the users whose service-specific credentials or SSH
    /// keys are old enough to matter (an error text when it could not be read).
    pub advisor: HashMap<String, Result<Vec<ServiceAccess>, String>>,
    /// What could not be checked this run, and why.
    pub not_checked: Vec<String>,
}

impl Inventory {
    /// Joins a parsed report with the user details.
    pub fn new(
        report: ParsedReport,
        report_generated_at: Option<OffsetDateTime>,
        details: Vec<UserDetails>,
        policies: Vec<JanitorPolicy>,
    ) -> Inventory {
        let account_id = report
            .root
            .iter()
            .chain(report.rows.iter())
            .map(|r| r.arn.as_str())
            .chain(details.iter().map(|d| d.arn.as_str()))
            .find_map(account_of_arn);
        Inventory {
            account_id,
            report_generated_at,
            rows: report.rows,
            rejected: report.rejected,
            details: details.into_iter().map(|d| (d.name.clone(), d)).collect(),
            policies: policies.into_iter().map(|p| (p.name.clone(), p)).collect(),
            service_credentials: Vec::new(),
            ssh_keys: Vec::new(),
            ssh_key_users: 0,
            advisor: HashMap::new(),
            not_checked: Vec::new(),
        }
    }
}

impl Inventory {
    /// Users the account has (GetAccountAuthorizationDetails) that were created before the
    /// credential report was generated but are not in it, rejected rows included. A
    /// non-empty answer means the report is truncated or wrong: nothing may be decided
    /// from it. Users created after the report (it can be 4 hours old) are expected to be
    /// missing and are not counted.
    pub fn missing_from_report(&self) -> Vec<String> {
        let Some(generated) = self.report_generated_at else {
            return Vec::new();
        };
        let listed: std::collections::HashSet<&str> = self
            .rows
            .iter()
            .map(|r| r.user.as_str())
            .chain(self.rejected.iter().filter_map(|r| r.user.as_deref()))
            .collect();
        let mut missing: Vec<String> = self
            .details
            .values()
            .filter(|d| d.create_date < generated && !listed.contains(d.name.as_str()))
            .map(|d| d.name.clone())
            .collect();
        missing.sort();
        missing
    }
}

/// The account ID of an IAM ARN (`arn:aws:iam::111122223333:user/x`).
pub fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(name: &str, created: OffsetDateTime) -> UserDetails {
        UserDetails {
            name: name.to_string(),
            id: format!("AIDA{}", name.to_ascii_uppercase()),
            arn: format!("arn:aws:iam::111122223333:user/{name}"),
            path: "/".to_string(),
            create_date: created,
            tags: vec![],
            attached_policy_arns: vec![],
        }
    }

    #[test]
    fn users_missing_from_the_report() {
        use time::macros::datetime;
        let report =
            crate::model::credential_report::parse(include_bytes!("../../tests/fixtures/credential-report-aws.csv"))
                .unwrap_or_default();
        let generated = datetime!(2026-11-21 06:00 UTC);
        let inv = Inventory::new(
            report,
            Some(generated),
            vec![
                details("alice", datetime!(2020-01-10 09:00 UTC)),
                details("ghost", datetime!(2025-01-01 00:00 UTC)),
                details("created-after-report", datetime!(2026-11-21 07:00 UTC)),
            ],
            vec![],
        );
        assert_eq!(inv.missing_from_report(), ["ghost"]);
    }

    #[test]
    fn account_from_arn() {
        assert_eq!(
            account_of_arn("arn:aws:iam::111122223333:user/a/b").as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of_arn("arn:aws:iam::111122223333:root").as_deref(),
            Some("111122223333")
        );
        assert_eq!(account_of_arn("arn:aws:iam:::user/x"), None);
        assert_eq!(account_of_arn("garbage"), None);
    }
}
