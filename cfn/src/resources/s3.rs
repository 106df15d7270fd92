//! S3: the code and report buckets and their policies.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;
use crate::policy::ResourcePolicyDocument;

/// [AWS::S3::Bucket](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Required: no. Without it CloudFormation generates a name.
    #[serde(rename = "BucketName", skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "BucketEncryption", skip_serializing_if = "Option::is_none")]
    pub bucket_encryption: Option<BucketEncryption>,
    /// Required: no.
    #[serde(rename = "LifecycleConfiguration", skip_serializing_if = "Option::is_none")]
    pub lifecycle_configuration: Option<LifecycleConfiguration>,
    /// Required: no.
    #[serde(rename = "OwnershipControls", skip_serializing_if = "Option::is_none")]
    pub ownership_controls: Option<OwnershipControls>,
    /// Required: no.
    #[serde(rename = "PublicAccessBlockConfiguration", skip_serializing_if = "Option::is_none")]
    pub public_access_block_configuration: Option<PublicAccessBlockConfiguration>,
    /// Required: no.
    #[serde(rename = "VersioningConfiguration", skip_serializing_if = "Option::is_none")]
    pub versioning_configuration: Option<VersioningConfiguration>,
}

impl ResourceType for Bucket {
    const TYPE: &'static str = "AWS::S3::Bucket";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "DomainName", "RegionalDomainName"];
}

/// [BucketEncryption](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-bucketencryption.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketEncryption {
    /// Required: yes.
    #[serde(rename = "ServerSideEncryptionConfiguration")]
    pub server_side_encryption_configuration: Vec<ServerSideEncryptionRule>,
}

/// [ServerSideEncryptionRule](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-serversideencryptionrule.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerSideEncryptionRule {
    /// Required: no. With SSE-KMS, S3 asks KMS for a bucket-level key now and then
    /// instead of a data key per object (the encryption context is then the bucket's ARN).
    #[serde(rename = "BucketKeyEnabled", skip_serializing_if = "Option::is_none")]
    pub bucket_key_enabled: Option<Expr>,
    /// Required: no.
    #[serde(rename = "ServerSideEncryptionByDefault")]
    pub server_side_encryption_by_default: ServerSideEncryptionByDefault,
}

/// [ServerSideEncryptionByDefault](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-serversideencryptionbydefault.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerSideEncryptionByDefault {
    /// Required: yes. An [`SseAlgorithm`], or an expression choosing one.
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: Expr,
    /// Required: no; only with `aws:kms`. The key's ARN (a key in another account must
    /// be named by its ARN).
    #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
}

/// [SSEAlgorithm](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-serversideencryptionbydefault.html#cfn-s3-bucket-serversideencryptionbydefault-ssealgorithm)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseAlgorithm {
    /// SSE-S3: keys managed by S3.
    Aes256,
    /// SSE-KMS.
    AwsKms,
}

impl SseAlgorithm {
    /// Its name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            SseAlgorithm::Aes256 => "AES256",
            SseAlgorithm::AwsKms => "aws:kms",
        }
    }
}

impl From<SseAlgorithm> for Expr {
    fn from(algorithm: SseAlgorithm) -> Expr {
        Expr::from(algorithm.name())
    }
}

/// [LifecycleConfiguration](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-lifecycleconfiguration.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleConfiguration {
    /// Required: yes.
    #[serde(rename = "Rules")]
    pub rules: Vec<LifecycleRule>,
}

/// [Rule](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-rule.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleRule {
    /// Required: no.
    #[serde(rename = "Id", skip_serializing_if = "Option::is_none")]
    pub id: Option<Expr>,
    /// Required: yes. `Enabled` or `Disabled`.
    #[serde(rename = "Status")]
    pub status: Expr,
    /// Required: no. The rule applies to keys with this prefix (all keys without it).
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Expr>,
    /// Required: no. Current versions expire this many days after they were written.
    #[serde(rename = "ExpirationInDays", skip_serializing_if = "Option::is_none")]
    pub expiration_in_days: Option<Expr>,
    /// Required: no. Noncurrent versions are deleted this many days after they became so.
    #[serde(rename = "NoncurrentVersionExpiration", skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    /// Required: no.
    #[serde(rename = "AbortIncompleteMultipartUpload", skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
    /// Required: no. Removes delete markers left with no noncurrent version.
    #[serde(rename = "ExpiredObjectDeleteMarker", skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

/// [NoncurrentVersionExpiration](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-noncurrentversionexpiration.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoncurrentVersionExpiration {
    /// Required: yes.
    #[serde(rename = "NoncurrentDays")]
    pub noncurrent_days: Expr,
}

/// [AbortIncompleteMultipartUpload](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-abortincompletemultipartupload.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbortIncompleteMultipartUpload {
    /// Required: yes.
    #[serde(rename = "DaysAfterInitiation")]
    pub days_after_initiation: Expr,
}

/// [OwnershipControls](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-ownershipcontrols.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnershipControls {
    /// Required: yes.
    #[serde(rename = "Rules")]
    pub rules: Vec<OwnershipControlsRule>,
}

/// [OwnershipControlsRule](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-ownershipcontrolsrule.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnershipControlsRule {
    /// Required: no.
    #[serde(rename = "ObjectOwnership")]
    pub object_ownership: ObjectOwnership,
}

/// [ObjectOwnership](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-ownershipcontrolsrule.html#cfn-s3-bucket-ownershipcontrolsrule-objectownership)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object.
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

/// [PublicAccessBlockConfiguration](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-publicaccessblockconfiguration.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicAccessBlockConfiguration {
    /// Required: no.
    #[serde(rename = "BlockPublicAcls")]
    pub block_public_acls: bool,
    /// Required: no.
    #[serde(rename = "BlockPublicPolicy")]
    pub block_public_policy: bool,
    /// Required: no.
    #[serde(rename = "IgnorePublicAcls")]
    pub ignore_public_acls: bool,
    /// Required: no.
    #[serde(rename = "RestrictPublicBuckets")]
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlockConfiguration {
    /// All four settings on.
    pub const ALL: PublicAccessBlockConfiguration = PublicAccessBlockConfiguration {
        block_public_acls: true,
        block_public_policy: true,
        ignore_public_acls: true,
        restrict_public_buckets: true,
    };
}

/// [VersioningConfiguration](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-versioningconfiguration.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersioningConfiguration {
    /// Required: yes.
    #[serde(rename = "Status")]
    pub status: VersioningStatus,
}

/// [Status](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-versioningconfiguration.html#cfn-s3-bucket-versioningconfiguration-status)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

/// [AWS::S3::BucketPolicy](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucketpolicy.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketPolicy {
    /// Required: yes. The bucket's name.
    #[serde(rename = "Bucket")]
    pub bucket: Expr,
    /// Required: yes.
    #[serde(rename = "PolicyDocument")]
    pub policy_document: ResourcePolicyDocument<Expr>,
}

impl ResourceType for BucketPolicy {
    const TYPE: &'static str = "AWS::S3::BucketPolicy";
    const ATTRIBUTES: &'static [&'static str] = &[];
}
