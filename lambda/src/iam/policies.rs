//! The engine's deny policies: the account's policy quota, create, versions, attach and
//! detach, and the live state read after a failed change.

use aws_sdk_iam::types::{SummaryKeyType, Tag as SdkTag};

use super::{AwsError, Deleted, ErrorKind, Iam, decode_policy_document, retry_conflicts, to_time};
use crate::model::inventory::{PolicyVersion, Tag};
use crate::trail::POLICY_PATH;

impl Iam {
    /// The account's customer managed policies and their quota (GetAccountSummary).
    pub async fn policies_and_quota(&self) -> Result<(u64, u64), AwsError> {
        let out = self
            .client
            .get_account_summary()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAccountSummary", e))?;
        let map = out.summary_map();
        let get = |key: SummaryKeyType| map.and_then(|m| m.get(&key)).map(|v| u64::try_from(*v).unwrap_or(0));
        match (get(SummaryKeyType::Policies), get(SummaryKeyType::PoliciesQuota)) {
            (Some(used), Some(quota)) => Ok((used, quota)),
            _ => Err(AwsError::local(
                "GetAccountSummary",
                "no Policies or PoliciesQuota in the summary".to_string(),
            )),
        }
    }

    /// Creates a deny policy under [`POLICY_PATH`], tagged with its user. Returns its ARN.
    pub async fn create_policy(&self, name: &str, document: &str, owner_tags: &[Tag]) -> Result<String, AwsError> {
        let tags = owner_tags
            .iter()
            .map(|t| SdkTag::builder().key(&t.key).value(&t.value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::local("CreatePolicy", e.to_string()))?;
        let out = retry_conflicts(|| async {
            self.client
                .create_policy()
                .policy_name(name)
                .path(POLICY_PATH)
                .policy_document(document)
                .description("iam-janitor: denies services this user has not used; see the iam-janitor:user tags")
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicy", e))
        })
        .await?;
        out.policy()
            .and_then(|p| p.arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::local("CreatePolicy", "no policy ARN in the answer".to_string()))
    }

    /// Adds a new default version to a policy.
    pub async fn create_policy_version(&self, arn: &str, document: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(document)
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("CreatePolicyVersion", e))
        })
        .await
        .map(|_| ())
    }

    /// Lists a policy's versions (to free a slot at the 5-version limit).
    pub async fn list_policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        let mut pages = self
            .client
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListPolicyVersions", e))?;
            for v in page.versions() {
                if let (Some(id), Some(created)) = (v.version_id(), v.create_date().and_then(to_time)) {
                    versions.push(PolicyVersion {
                        id: id.to_string(),
                        is_default: v.is_default_version(),
                        created,
                        document: None,
                    });
                }
            }
        }
        Ok(versions)
    }

    /// Deletes a non-default policy version.
    pub async fn delete_policy_version(&self, arn: &str, version_id: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(version_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeletePolicyVersion", e))
        })
        .await
        .map(|_| ())
    }

    /// Attaches a managed policy to a user.
    pub async fn attach_user_policy(&self, user: &str, arn: &str) -> Result<(), AwsError> {
        retry_conflicts(|| async {
            self.client
                .attach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("AttachUserPolicy", e))
        })
        .await
        .map(|_| ())
    }

    /// Detaches a managed policy from a user.
    pub async fn detach_user_policy(&self, user: &str, arn: &str) -> Result<Deleted, AwsError> {
        let result = retry_conflicts(|| async {
            self.client
                .detach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DetachUserPolicy", e))
        })
        .await;
        match result {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// A deny policy as IAM has it now: its default version's document (`None` if the
    /// policy does not exist) and whether it is attached to the user. Read after a
    /// change failed, to tell whether it took effect.
    pub async fn deny_policy_state(&self, user: &str, arn: &str) -> Result<(Option<String>, bool), AwsError> {
        let policy = match self.client.get_policy().policy_arn(arn).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("GetPolicy", e);
                return if e.kind() == ErrorKind::NotFound {
                    Ok((None, false))
                } else {
                    Err(e)
                };
            }
        };
        let Some(version) = policy.policy().and_then(|p| p.default_version_id()) else {
            return Err(AwsError::local("GetPolicy", format!("{arn} has no default version")));
        };
        let out = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetPolicyVersion", e))?;
        let document = out
            .policy_version()
            .and_then(|v| v.document())
            .map(decode_policy_document);
        let mut pages = self
            .client
            .list_attached_user_policies()
            .user_name(user)
            .path_prefix(POLICY_PATH)
            .into_paginator()
            .send();
        let mut attached = false;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListAttachedUserPolicies", e))?;
            attached |= page.attached_policies().iter().any(|p| p.policy_arn() == Some(arn));
        }
        Ok((document, attached))
    }
}
