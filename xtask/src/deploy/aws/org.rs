//! Who deploys and where: the caller's account (STS), its organization, trusted access
//! for StackSets, and the roots and OUs it has (Organizations).

use anyhow::{Context as _, bail};

use super::super::plan::STACKSETS_PRINCIPAL;
use super::{Aws, OrFail, describe};

/// The organization, as DescribeOrganization shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Organization {
    pub(crate) id: String,
    pub(crate) management_account: String,
    pub(crate) all_features: bool,
}

impl Aws {
    pub(crate) async fn caller_account(&self) -> anyhow::Result<String> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .or_fail(|| "cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity)".into())?;
        identity
            .account()
            .map(str::to_string)
            .context("sts:GetCallerIdentity returned no account")
    }

    pub(crate) async fn organization(&self, account: &str) -> anyhow::Result<Organization> {
        let output = match self.orgs.describe_organization().send().await {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_aws_organizations_not_in_use_exception()) =>
            {
                bail!(
                    "account {account} is not in an AWS Organization: iam-janitor is deployed to every account of an \
                 organization. Use credentials of an organization's management account, or create one \
                 (`aws organizations create-organization --feature-set ALL`)"
                )
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_access_denied_exception()) => bail!(
                "account {account} may not read its organization ({}): deploy with credentials of the \
                 organization's management account (or of a delegated administrator for StackSets, with --call-as \
                 DELEGATED_ADMIN)",
                describe(&e)
            ),
            Err(e) => return Err(anyhow::Error::msg(describe(&e)).context("organizations:DescribeOrganization")),
        };
        let organization = output
            .organization()
            .context("organizations:DescribeOrganization returned no organization")?;
        Ok(Organization {
            id: organization.id().unwrap_or_default().to_string(),
            management_account: organization.master_account_id().unwrap_or_default().to_string(),
            all_features: organization.feature_set().is_none_or(|f| f.as_str() == "ALL"),
        })
    }

    /// The IDs of the organization's active accounts, sorted (Organizations ListAccounts).
    pub(crate) async fn active_accounts(&self) -> anyhow::Result<Vec<String>> {
        let mut accounts = Vec::new();
        let mut pages = self.orgs.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| anyhow::Error::msg(describe(&e)).context("organizations:ListAccounts"))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|a| a.state().is_none_or(|s| s.as_str() == "ACTIVE"))
                    .filter(|a| a.status().is_none_or(|s| s.as_str() == "ACTIVE"))
                    .filter_map(|a| a.id().map(str::to_string)),
            );
        }
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }

    /// Whether trusted access for StackSets is activated (management account only).
    pub(crate) async fn stacksets_trusted_access(&self) -> anyhow::Result<bool> {
        let mut token = None;
        loop {
            let page = self
                .orgs
                .list_aws_service_access_for_organization()
                .set_next_token(token)
                .send()
                .await
                .or_fail(|| "organizations:ListAWSServiceAccessForOrganization".into())?;
            if page
                .enabled_service_principals()
                .iter()
                .any(|p| p.service_principal() == Some(STACKSETS_PRINCIPAL))
            {
                return Ok(true);
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(false),
            }
        }
    }

    /// Checks that a root or OU ID exists in the organization.
    pub(crate) async fn check_org_unit(&self, id: &str, organization: &str) -> anyhow::Result<()> {
        if id.starts_with("r-") {
            let roots = self
                .orgs
                .list_roots()
                .send()
                .await
                .or_fail(|| "organizations:ListRoots".into())?;
            if !roots.roots().iter().any(|r| r.id() == Some(id)) {
                let ids: Vec<&str> = roots.roots().iter().filter_map(|r| r.id()).collect();
                bail!(
                    "{id} is not the root of organization {organization} (its root is {})",
                    ids.join(", ")
                );
            }
            return Ok(());
        }
        match self
            .orgs
            .describe_organizational_unit()
            .organizational_unit_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_organizational_unit_not_found_exception()) =>
            {
                bail!("{id} is not an OU of organization {organization} (`aws organizations list-children` lists them)")
            }
            Err(e) => {
                Err(anyhow::Error::msg(describe(&e)).context(format!("organizations:DescribeOrganizationalUnit {id}")))
            }
        }
    }

    /// The parents of an OU, nearest first, up to the root.
    pub(crate) async fn ancestors(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let mut ancestors = Vec::new();
        let mut child = id.to_string();
        // OUs nest at most five deep under the root.
        for _ in 0..8 {
            if child.starts_with("r-") {
                break;
            }
            let parents = self
                .orgs
                .list_parents()
                .child_id(&child)
                .send()
                .await
                .or_fail(|| format!("organizations:ListParents {child}"))?;
            let Some(parent) = parents.parents().first().and_then(|p| p.id()) else {
                break;
            };
            ancestors.push(parent.to_string());
            child = parent.to_string();
        }
        Ok(ancestors)
    }
}
