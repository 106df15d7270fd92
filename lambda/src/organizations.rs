//! The Organizations adapter, the only code that calls AWS Organizations: the
//! organization's accounts (`ListAccounts`, every page), so that the organization's view
//! can name accounts and show those that never reported.
//!
//! Used by the management account's org-digest invocation (its role's
//! `OrgDigestReaderPolicy` allows `organizations:ListAccounts`) and by `cargo xtask
//! report`. Not knowing the accounts is never fatal: the caller shows no missing
//! accounts and says why ([`OrgError`]).

use aws_sdk_organizations::error::SdkError;
use aws_sdk_organizations::operation::list_accounts::ListAccountsError;

use crate::model::org::OrgAccount;
use crate::sdk_error::describe;

/// Why the organization's accounts are unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error("this account is not in an AWS Organization")]
    NotInUse,
    /// The caller may not list them (only the management account or a delegated
    /// administrator may); the service's words.
    #[error("the organization's accounts cannot be listed ({0})")]
    AccessDenied(String),
    #[error("the organization's accounts cannot be listed ({0})")]
    Other(String),
}

/// The organization's accounts, from the caller's account.
#[derive(Debug, Clone)]
pub struct Organizations {
    client: aws_sdk_organizations::Client,
}

impl Organizations {
    pub fn new(config: &aws_config::SdkConfig) -> Organizations {
        Organizations {
            client: aws_sdk_organizations::Client::new(config),
        }
    }

    /// Every account of the organization (every page), or why they are unknown.
    pub async fn accounts(&self) -> Result<Vec<OrgAccount>, OrgError> {
        let why = |e: &SdkError<ListAccountsError, _>| {
            let service = e.as_service_error();
            if service.is_some_and(ListAccountsError::is_aws_organizations_not_in_use_exception) {
                OrgError::NotInUse
            } else if service.is_some_and(ListAccountsError::is_access_denied_exception) {
                OrgError::AccessDenied(describe(e))
            } else {
                OrgError::Other(describe(e))
            }
        };
        let mut accounts = Vec::new();
        let mut pages = self.client.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            accounts.extend(page.map_err(|e| why(&e))?.accounts().iter().filter_map(org_account));
        }
        Ok(accounts)
    }
}

/// An account as the view reads it; `None` without an ID.
fn org_account(account: &aws_sdk_organizations::types::Account) -> Option<OrgAccount> {
    let id = account.id()?;
    // `State` replaces `Status` (retired in 2026); both say ACTIVE.
    let status = account
        .state()
        .map(|s| s.as_str())
        .or_else(|| account.status().map(|s| s.as_str()))
        .unwrap_or("UNKNOWN");
    Some(OrgAccount {
        id: id.to_string(),
        name: account.name().unwrap_or_default().to_string(),
        status: status.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};

    use super::*;

    #[test]
    fn an_account_is_read_by_its_state_else_its_status() {
        let account = Account::builder()
            .id("111122223333")
            .name("prod")
            .state(AccountState::Suspended)
            .status(AccountStatus::Active)
            .build();
        assert_eq!(
            org_account(&account),
            Some(OrgAccount {
                id: "111122223333".to_string(),
                name: "prod".to_string(),
                status: "SUSPENDED".to_string(),
            })
        );
        let old = Account::builder()
            .id("111122223333")
            .status(AccountStatus::Active)
            .build();
        assert_eq!(org_account(&old).unwrap().status, "ACTIVE");
        assert_eq!(org_account(&Account::builder().name("no id").build()), None);
    }
}
