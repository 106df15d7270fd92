//! An AWS Organization in the emulator, made through the Organizations API: the
//! management account (the emulator's default account, which stays under the root), OUs
//! under the root, and member accounts created and moved into them.
//!
//! ```no_run
//! # async fn demo(emu: &iam_janitor_harness::Emulator) -> Result<(), iam_janitor_harness::HarnessError> {
//! use iam_janitor_harness::{Organization, STACKSETS_PRINCIPAL};
//! let org = Organization::builder()
//!     .account("prod", "workloads")
//!     .account("sandbox", "sandbox")
//!     .trusted_access(STACKSETS_PRINCIPAL)
//!     .create(emu)
//!     .await?;
//! let prod = org.account_id("prod");
//! # let _ = prod;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use aws_sdk_organizations::error::{DisplayErrorContext, SdkError};
use aws_sdk_organizations::types::OrganizationFeatureSet;

use crate::{Emulator, HarnessError};

/// The service principal of CloudFormation StackSets, for [`OrganizationBuilder::trusted_access`].
pub const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";

/// An organization that exists in the emulator.
#[derive(Debug, Clone)]
pub struct Organization {
    /// `o-…`
    pub id: String,
    /// The root (`r-…`).
    pub root: String,
    /// The management account (the emulator's default account), under the root.
    pub management_account: String,
    /// The OUs: name → ID (`ou-…`).
    pub org_units: BTreeMap<String, String>,
    /// The member accounts, in the order they were declared.
    pub accounts: Vec<MemberAccount>,
}

/// A member account of an [`Organization`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccount {
    pub name: String,
    /// 12 digits.
    pub id: String,
    /// The name of its OU.
    pub org_unit: String,
}

/// What [`OrganizationBuilder::create`] makes.
#[derive(Debug, Clone, Default)]
pub struct OrganizationBuilder {
    /// (account name, OU name)
    accounts: Vec<(String, String)>,
    trusted_access: Vec<String>,
}

impl Organization {
    pub fn builder() -> OrganizationBuilder {
        OrganizationBuilder::default()
    }

    /// The ID of the member account `name`.
    pub fn account_id(&self, name: &str) -> Option<&str> {
        self.accounts.iter().find(|a| a.name == name).map(|a| a.id.as_str())
    }
}

/// Maps a failed call to [`HarnessError::Sdk`], naming it.
fn sdk<E, R>(call: impl std::fmt::Display) -> impl FnOnce(SdkError<E, R>) -> HarnessError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| HarnessError::Sdk(format!("{call}: {}", DisplayErrorContext(e)))
}

fn missing(what: String) -> HarnessError {
    HarnessError::Other(what)
}

impl OrganizationBuilder {
    /// A member account `name` (email `<name>@example.com`) in the OU `org_unit`, which
    /// is created under the root if no account before was in it.
    pub fn account(mut self, name: impl Into<String>, org_unit: impl Into<String>) -> OrganizationBuilder {
        self.accounts.push((name.into(), org_unit.into()));
        self
    }

    /// Enables trusted access for the AWS service `principal` (e.g.
    /// [`STACKSETS_PRINCIPAL`]) once the accounts exist.
    pub fn trusted_access(mut self, principal: impl Into<String>) -> OrganizationBuilder {
        self.trusted_access.push(principal.into());
        self
    }

    /// Creates the organization (all features) with the emulator's default account as its
    /// management account, then the OUs in the order of their first account, then each
    /// account, moved into its OU, then trusted access.
    pub async fn create(self, emu: &Emulator) -> Result<Organization, HarnessError> {
        let orgs = aws_sdk_organizations::Client::new(&emu.sdk_config().await);
        let created = orgs
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .map_err(sdk("CreateOrganization"))?;
        let id = created
            .organization()
            .and_then(|o| o.id())
            .ok_or_else(|| missing("CreateOrganization returned no organization ID".to_string()))?
            .to_string();
        let roots = orgs.list_roots().send().await.map_err(sdk("ListRoots"))?;
        let root = roots
            .roots()
            .first()
            .and_then(|r| r.id())
            .ok_or_else(|| missing("the organization has no root".to_string()))?
            .to_string();

        let mut org_units = BTreeMap::new();
        for (_, name) in &self.accounts {
            if org_units.contains_key(name) {
                continue;
            }
            let created = orgs
                .create_organizational_unit()
                .parent_id(&root)
                .name(name)
                .send()
                .await
                .map_err(sdk(format!("CreateOrganizationalUnit {name}")))?;
            let ou = created
                .organizational_unit()
                .and_then(|o| o.id())
                .ok_or_else(|| missing(format!("CreateOrganizationalUnit {name} returned no ID")))?
                .to_string();
            org_units.insert(name.clone(), ou);
        }

        let mut accounts = Vec::new();
        for (name, org_unit) in self.accounts {
            let status = orgs
                .create_account()
                .account_name(&name)
                .email(format!("{name}@example.com"))
                .send()
                .await
                .map_err(sdk(format!("CreateAccount {name}")))?;
            let account = status
                .create_account_status()
                .and_then(|s| s.account_id())
                .ok_or_else(|| missing(format!("CreateAccount {name} returned no account ID")))?
                .to_string();
            let ou = org_units
                .get(&org_unit)
                .ok_or_else(|| missing(format!("no OU {org_unit}")))?;
            orgs.move_account()
                .account_id(&account)
                .source_parent_id(&root)
                .destination_parent_id(ou)
                .send()
                .await
                .map_err(sdk(format!("MoveAccount {account} to {org_unit}")))?;
            accounts.push(MemberAccount {
                name,
                id: account,
                org_unit,
            });
        }

        for principal in &self.trusted_access {
            enable_trusted_access(emu, principal).await?;
        }
        Ok(Organization {
            id,
            root,
            management_account: emu.account_id().to_string(),
            org_units,
            accounts,
        })
    }
}

/// Enables trusted access for the AWS service `principal` (e.g. [`STACKSETS_PRINCIPAL`])
/// in the emulator's organization.
pub async fn enable_trusted_access(emu: &Emulator, principal: &str) -> Result<(), HarnessError> {
    aws_sdk_organizations::Client::new(&emu.sdk_config().await)
        .enable_aws_service_access()
        .service_principal(principal)
        .send()
        .await
        .map_err(sdk(format!("EnableAWSServiceAccess {principal}")))?;
    Ok(())
}
