//! The operations the engine's IAM client actually sends, recorded by an SDK interceptor
//! (the `operation-log` feature, on in the tests only): the tests check them against the
//! Lambda role's permissions, whatever file of the adapter sends them.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use aws_sdk_iam::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

static SENT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Every IAM operation (`iam:GetUser`…) an [`super::Iam`] client of this process sent.
pub fn operations_sent() -> BTreeSet<String> {
    SENT.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The interceptor: adds the operation's name before the request is serialized (the
/// operation's metadata is in the config bag from then on).
#[derive(Debug, Clone, Copy)]
pub(super) struct OperationLog;

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "iam-janitor operation log"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            SENT.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(format!("iam:{}", metadata.name()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// A call is recorded before it is sent, even when nothing answers it.
    #[tokio::test]
    async fn every_operation_is_recorded_before_it_is_sent() {
        let credentials = aws_sdk_iam::config::Credentials::new("AKIDTEST", "secret", None, None, "test");
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            // Port 9 (discard) on loopback: the connection is refused.
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(credentials))
            .build();
        let iam = super::super::Iam::new(&config, 1000);
        assert!(iam.user_tags("nobody").await.is_err());
        assert!(super::operations_sent().contains("iam:ListUserTags"));
    }
}
