//! The calls only restore makes, run by a human with their own credentials: giving a key
//! or a console password back, the account's password policy and the user's attached
//! deny policies.
//!
//! **The Lambda's role never gets these** (CreateLoginProfile above all): they are not in
//! [`super::permissions::PERMISSIONS`], and its test checks the engine's files only.
//! Restore otherwise uses the engine's own calls, so that there is one policy-version
//! rotation, with its conflict retries and lost-answer handling.

use aws_sdk_iam::types::StatusType;

use super::{AwsError, ErrorKind, Iam};
use crate::trail::POLICY_PATH;

/// What the account's password policy asks of a new password (GetAccountPasswordPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PasswordPolicy {
    /// The minimum length; `None` when the account has no password policy.
    pub minimum_length: Option<u32>,
}

/// The restore-only calls, borrowed from an [`Iam`] with [`Iam::admin`].
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    iam: &'a Iam,
}

impl Iam {
    /// The calls only restore makes.
    pub fn admin(&self) -> Admin<'_> {
        Admin { iam: self }
    }
}

impl Admin<'_> {
    /// Sets the key Active again.
    pub async fn reactivate_access_key(&self, user: &str, key_id: &str) -> Result<(), AwsError> {
        self.iam.set_access_key_status(user, key_id, StatusType::Active).await
    }

    /// Sets the signing certificate Active again.
    pub async fn reactivate_signing_certificate(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.iam
            .set_signing_certificate_status(user, id, StatusType::Active)
            .await
    }

    /// Sets the service-specific credential Active again.
    pub async fn reactivate_service_credential(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.iam
            .set_service_credential_status(user, id, StatusType::Active)
            .await
    }

    /// Sets the SSH public key Active again.
    pub async fn reactivate_ssh_key(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.iam.set_ssh_key_status(user, id, StatusType::Active).await
    }

    /// Gives the user a console password that must be changed at the next sign-in.
    pub async fn create_login_profile(&self, user: &str, password: &str) -> Result<(), AwsError> {
        self.iam
            .client
            .create_login_profile()
            .user_name(user)
            .password(password)
            .password_reset_required(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateLoginProfile", e))
            .map(|_| ())
    }

    /// The account's password policy (an account without one asks for nothing).
    pub async fn password_policy(&self) -> Result<PasswordPolicy, AwsError> {
        match self.iam.client.get_account_password_policy().send().await {
            Ok(out) => Ok(PasswordPolicy {
                minimum_length: out
                    .password_policy()
                    .and_then(|p| p.minimum_password_length())
                    .and_then(|n| u32::try_from(n).ok()),
            }),
            Err(e) => {
                let e = AwsError::from_sdk("GetAccountPasswordPolicy", e);
                if e.kind() == ErrorKind::NotFound {
                    Ok(PasswordPolicy::default())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The ARNs of the engine's policies (under the tool's path) attached to the user.
    pub async fn attached_janitor_policies(&self, user: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .iam
            .client
            .list_attached_user_policies()
            .user_name(user)
            .path_prefix(POLICY_PATH)
            .into_paginator()
            .send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListAttachedUserPolicies", e))?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .map(str::to_string),
            );
        }
        Ok(arns)
    }
}
