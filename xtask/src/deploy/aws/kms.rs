//! The report bucket's KMS key (`--report-kms-key-arn`): what it is, and its policy.

use anyhow::Context as _;

use super::super::plan::KeyDescription;
use super::{Aws, OrFail};

impl Aws {
    /// The key as KMS DescribeKey shows it.
    pub(crate) async fn describe_key(&self, arn: &str) -> anyhow::Result<KeyDescription> {
        let output = self
            .kms
            .describe_key()
            .key_id(arn)
            .send()
            .await
            .or_fail(|| format!("cannot describe --report-kms-key-arn {arn} (kms:DescribeKey)"))?;
        let key = output
            .key_metadata()
            .with_context(|| format!("kms:DescribeKey {arn} returned no key"))?;
        let name = |value: Option<&str>| value.unwrap_or("unknown").to_string();
        Ok(KeyDescription {
            state: name(key.key_state().map(|s| s.as_str())),
            usage: name(key.key_usage().map(|u| u.as_str())),
            spec: name(key.key_spec().map(|s| s.as_str())),
            manager: name(key.key_manager().map(|m| m.as_str())),
        })
    }

    /// The key's policy (its only one, `default`), as JSON text.
    pub(crate) async fn key_policy(&self, arn: &str) -> anyhow::Result<String> {
        let output = self
            .kms
            .get_key_policy()
            .key_id(arn)
            .policy_name("default")
            .send()
            .await
            .or_fail(|| format!("kms:GetKeyPolicy {arn}"))?;
        output
            .policy()
            .map(str::to_string)
            .with_context(|| format!("kms:GetKeyPolicy {arn} returned no policy"))
    }
}
