//! Users: the bulk listing (GetAccountAuthorizationDetails), live reads of one user's
//! credentials and tags, and the dormant-credential writes.

use aws_sdk_iam::types::{EntityType, StatusType, Tag as SdkTag};
use time::OffsetDateTime;

use super::{
    AwsError, Deleted, ErrorKind, Iam, LiveCertificate, LiveKey, LiveUser, decode_policy_document, retry_conflicts,
    to_time,
};
use crate::model::inventory::{JanitorPolicy, PolicyVersion, ServiceCredential, SshPublicKey, Tag, UserDetails};
use crate::trail::POLICY_PATH;

/// Whose service-specific credentials to list.
#[derive(Debug, Clone, Copy)]
pub enum CredentialsOf<'a> {
    /// Every user's, for this service (`codecommit.amazonaws.com`).
    Service(&'a str),
    /// This user's, for every service.
    User(&'a str),
}

impl Iam {
    /// Every user's path, tags and attached managed policies, and the engine's own deny
    /// policies (under [`POLICY_PATH`]) with their versions, from the paginated
    /// GetAccountAuthorizationDetails: a handful of calls for thousands of users.
    pub async fn account_details(&self) -> Result<(Vec<UserDetails>, Vec<JanitorPolicy>), AwsError> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(1000)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        let mut policies = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("GetAccountAuthorizationDetails", e))?;
            for u in page.user_detail_list() {
                let (Some(name), Some(id), Some(arn), Some(created)) =
                    (u.user_name(), u.user_id(), u.arn(), u.create_date().and_then(to_time))
                else {
                    tracing::warn!(user = ?u.user_name(), "user detail without name, ID, ARN or creation date; ignored");
                    continue;
                };
                users.push(UserDetails {
                    name: name.to_string(),
                    id: id.to_string(),
                    arn: arn.to_string(),
                    path: u.path().unwrap_or("/").to_string(),
                    create_date: created,
                    tags: u
                        .tags()
                        .iter()
                        .map(|t| Tag {
                            key: t.key().to_string(),
                            value: t.value().to_string(),
                        })
                        .collect(),
                    attached_policy_arns: u
                        .attached_managed_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn().map(str::to_string))
                        .collect(),
                });
            }
            for p in page.policies() {
                if p.path() != Some(POLICY_PATH) {
                    continue;
                }
                let Some(arn) = p.arn() else { continue };
                // The name is the ARN's last segment (some emulators omit PolicyName).
                let Some(name) = p.policy_name().or_else(|| arn.rsplit('/').next()) else {
                    continue;
                };
                policies.push(JanitorPolicy {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    attachments: p.attachment_count().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                    versions: p
                        .policy_version_list()
                        .iter()
                        .filter_map(|v| {
                            Some(PolicyVersion {
                                id: v.version_id()?.to_string(),
                                is_default: v.is_default_version(),
                                created: v.create_date().and_then(to_time)?,
                                document: v.document().map(decode_policy_document),
                            })
                        })
                        .collect(),
                });
            }
        }
        Ok((users, policies))
    }

    /// The user's tags as IAM has them now (to tell whether a TagUser whose answer was
    /// lost took effect).
    pub async fn user_tags(&self, user: &str) -> Result<Vec<Tag>, AwsError> {
        let mut pages = self.client.list_user_tags().user_name(user).into_paginator().send();
        let mut tags = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListUserTags", e))?;
            tags.extend(page.tags().iter().map(|t| Tag {
                key: t.key().to_string(),
                value: t.value().to_string(),
            }));
        }
        Ok(tags)
    }

    /// The user as IAM has it now (GetUser): its creation time and the password's last use.
    pub async fn user(&self, user: &str) -> Result<LiveUser, AwsError> {
        let out = self
            .client
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetUser", e))?;
        let u = out.user();
        let created = u
            .and_then(|u| to_time(u.create_date()))
            .ok_or_else(|| AwsError::local("GetUser", format!("no CreateDate in the answer for user {user}")))?;
        Ok(LiveUser {
            created,
            password_last_used: u.and_then(|u| u.password_last_used()).and_then(to_time),
        })
    }

    /// When the user's console password was set (GetLoginProfile's CreateDate), or `None`
    /// if the user has none now (a missing user has none).
    pub async fn login_profile(&self, user: &str) -> Result<Option<OffsetDateTime>, AwsError> {
        match self.client.get_login_profile().user_name(user).send().await {
            Ok(out) => out
                .login_profile()
                .and_then(|p| to_time(p.create_date()))
                .map(Some)
                .ok_or_else(|| {
                    AwsError::local(
                        "GetLoginProfile",
                        format!("no CreateDate in the answer for user {user}"),
                    )
                }),
            Err(e) => {
                let e = AwsError::from_sdk("GetLoginProfile", e);
                if e.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The user's access keys as IAM has them now.
    pub async fn access_keys(&self, user: &str) -> Result<Vec<LiveKey>, AwsError> {
        let mut pages = self.client.list_access_keys().user_name(user).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListAccessKeys", e))?;
            for k in page.access_key_metadata() {
                let (Some(id), Some(created)) = (k.access_key_id(), k.create_date().and_then(to_time)) else {
                    continue;
                };
                keys.push(LiveKey {
                    id: id.to_string(),
                    active: k.status() == Some(&StatusType::Active),
                    created,
                });
            }
        }
        Ok(keys)
    }

    /// The user's signing certificates as IAM has them now.
    pub async fn signing_certificates(&self, user: &str) -> Result<Vec<LiveCertificate>, AwsError> {
        let mut pages = self
            .client
            .list_signing_certificates()
            .user_name(user)
            .into_paginator()
            .send();
        let mut certificates = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListSigningCertificates", e))?;
            for c in page.certificates() {
                let Some(uploaded) = c.upload_date().and_then(to_time) else {
                    continue;
                };
                certificates.push(LiveCertificate {
                    id: c.certificate_id().to_string(),
                    active: c.status() == &StatusType::Active,
                    uploaded,
                });
            }
        }
        Ok(certificates)
    }

    /// Service-specific credentials: every user's for one service (`AllUsers`), or one
    /// user's for every service; paged.
    pub async fn service_credentials(&self, of: CredentialsOf<'_>) -> Result<Vec<ServiceCredential>, AwsError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let request = self
                .client
                .list_service_specific_credentials()
                .set_marker(marker.take());
            let request = match of {
                CredentialsOf::Service(service) => request.all_users(true).service_name(service).max_items(1000),
                CredentialsOf::User(user) => request.user_name(user),
            };
            let page = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListServiceSpecificCredentials", e))?;
            for c in page.service_specific_credentials() {
                let Some(created) = to_time(c.create_date()) else {
                    continue;
                };
                out.push(ServiceCredential {
                    id: c.service_specific_credential_id().to_string(),
                    user: c.user_name().to_string(),
                    service: c.service_name().to_string(),
                    created,
                    active: c.status() == &StatusType::Active,
                });
            }
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// The user's SSH public keys (ListSSHPublicKeys: one user per call, no bulk form).
    pub async fn ssh_public_keys(&self, user: &str) -> Result<Vec<SshPublicKey>, AwsError> {
        let mut pages = self
            .client
            .list_ssh_public_keys()
            .user_name(user)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListSSHPublicKeys", e))?;
            for k in page.ssh_public_keys() {
                let Some(uploaded) = to_time(k.upload_date()) else {
                    continue;
                };
                keys.push(SshPublicKey {
                    id: k.ssh_public_key_id().to_string(),
                    user: k.user_name().to_string(),
                    uploaded,
                    active: k.status() == &StatusType::Active,
                });
            }
        }
        Ok(keys)
    }

    /// Sets the SSH public key Inactive (reversible).
    pub async fn deactivate_ssh_key(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.set_ssh_key_status(user, id, StatusType::Inactive).await
    }

    /// UpdateSSHPublicKey: the one call behind deactivating (the engine) and reactivating
    /// (restore) an SSH public key.
    pub(super) async fn set_ssh_key_status(&self, user: &str, id: &str, status: StatusType) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .update_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id)
                .status(status.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateSSHPublicKey", e))
        })
        .await
        .map(|_| ())
    }

    /// Sets the service-specific credential Inactive (reversible).
    pub async fn deactivate_service_credential(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.set_service_credential_status(user, id, StatusType::Inactive).await
    }

    /// UpdateServiceSpecificCredential: the one call behind deactivating (the engine) and
    /// reactivating (restore) a service-specific credential.
    pub(super) async fn set_service_credential_status(
        &self,
        user: &str,
        id: &str,
        status: StatusType,
    ) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .update_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id)
                .status(status.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateServiceSpecificCredential", e))
        })
        .await
        .map(|_| ())
    }

    /// Sets the signing certificate Inactive (reversible).
    pub async fn deactivate_signing_certificate(&self, user: &str, id: &str) -> Result<(), AwsError> {
        self.set_signing_certificate_status(user, id, StatusType::Inactive)
            .await
    }

    /// UpdateSigningCertificate: the one call behind deactivating (the engine) and
    /// reactivating (restore) a signing certificate.
    pub(super) async fn set_signing_certificate_status(
        &self,
        user: &str,
        id: &str,
        status: StatusType,
    ) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .update_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .status(status.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateSigningCertificate", e))
        })
        .await
        .map(|_| ())
    }

    /// The key's LastUsedDate as IAM has it now.
    pub async fn access_key_last_used(&self, key_id: &str) -> Result<Option<OffsetDateTime>, AwsError> {
        let out = self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccessKeyLastUsed", e))?;
        Ok(out
            .access_key_last_used()
            .and_then(|u| u.last_used_date())
            .and_then(to_time))
    }

    /// Deletes the user's console password. Irreversible: only a new password restores access.
    pub async fn delete_login_profile(&self, user: &str) -> Result<Deleted, AwsError> {
        let result = retry_conflicts(|| async {
            self.client
                .delete_login_profile()
                .user_name(user)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeleteLoginProfile", e))
        })
        .await;
        match result {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Sets the key Inactive (reversible).
    pub async fn deactivate_access_key(&self, user: &str, key_id: &str) -> Result<(), AwsError> {
        self.set_access_key_status(user, key_id, StatusType::Inactive).await
    }

    /// UpdateAccessKey: the one call behind deactivating (the engine) and reactivating
    /// (restore) a key.
    pub(super) async fn set_access_key_status(
        &self,
        user: &str,
        key_id: &str,
        status: StatusType,
    ) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .update_access_key()
                .user_name(user)
                .access_key_id(key_id)
                .status(status.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UpdateAccessKey", e))
        })
        .await
        .map(|_| ())
    }

    /// Adds or replaces tags on the user.
    pub async fn tag_user(&self, user: &str, tags: &[Tag]) -> Result<(), AwsError> {
        let mut sdk_tags = Vec::with_capacity(tags.len());
        for t in tags {
            sdk_tags.push(
                SdkTag::builder()
                    .key(&t.key)
                    .value(&t.value)
                    .build()
                    .map_err(|e| AwsError::local("TagUser", e.to_string()))?,
            );
        }
        retry_conflicts(|| async {
            self.client
                .tag_user()
                .user_name(user)
                .set_tags(Some(sdk_tags.clone()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("TagUser", e))
        })
        .await
        .map(|_| ())
    }

    /// Removes tags from the user: the engine removes only its records of keys the user
    /// no longer has (its role may untag nothing else), restore its own records.
    pub async fn untag_user(&self, user: &str, keys: &[String]) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .untag_user()
                .user_name(user)
                .set_tag_keys(Some(keys.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("UntagUser", e))
        })
        .await
        .map(|_| ())
    }
}
