//! The artifact stack (management account): the bucket the member stacks' code is read
//! from.
//!
//! Lambda reads `Code.S3Bucket` with the credentials of whoever creates the function:
//! in member accounts that is the StackSet execution role `stacksets-exec-*`, in the
//! management account its own deployer. So the bucket policy lets only those roles of
//! the organization read objects (the management account needs no grant: its principals
//! are allowed by their own IAM policies). Lambda needs the bucket in the function's
//! Region: deploy this stack in the Region of the member stacks.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::id::LogicalId;
use crate::policy::{Condition, Effect, Principal, ResourcePolicyDocument, ResourceStatement, Values};
use crate::resources::Resource;
use crate::resources::s3::{
    Bucket, BucketEncryption, BucketPolicy, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, ServerSideEncryptionByDefault, ServerSideEncryptionRule, SseAlgorithm,
    VersioningConfiguration, VersioningStatus,
};
use crate::template::{Parameter, Template};

// Parameters.
pub const ORGANIZATION_ID: LogicalId = LogicalId::from_static("OrganizationId");

// Resources. **Part of the contract:** renaming one replaces the resource.
pub const CODE_BUCKET: LogicalId = LogicalId::from_static("CodeBucket");
pub const CODE_BUCKET_POLICY: LogicalId = LogicalId::from_static("CodeBucketPolicy");

// Outputs.
pub const CODE_BUCKET_NAME: LogicalId = LogicalId::from_static("CodeBucketName");

/// The bucket's name: one per account and Region.
pub const BUCKET_NAME: &str = "iam-janitor-code-${AWS::AccountId}-${AWS::Region}";

/// The roles allowed to read code: the execution roles of service-managed StackSets.
pub const READER_ROLE_ARNS: &str = "arn:${AWS::Partition}:iam::*:role/stacksets-exec-*";

fn condition(operator: &str, key: &str, value: Expr) -> Condition<Expr> {
    BTreeMap::from([(
        operator.to_string(),
        BTreeMap::from([(key.to_string(), Values::one(value))]),
    )])
}

/// The bucket policy: TLS only; objects readable by StackSet execution roles of the
/// organization; nothing else.
pub fn bucket_policy() -> ResourcePolicyDocument<Expr> {
    let objects = || Expr::sub("${CodeBucket.Arn}/*");
    let mut org_reader = condition("StringEquals", "aws:PrincipalOrgID", Expr::Ref(ORGANIZATION_ID));
    org_reader.extend(condition("ArnLike", "aws:PrincipalArn", Expr::sub(READER_ROLE_ARNS)));
    ResourcePolicyDocument::new(vec![
        ResourceStatement {
            sid: Some("DenyInsecureTransport".to_string()),
            effect: Effect::Deny,
            principal: Principal::Any,
            action: Values::one(Expr::from("s3:*")),
            resource: Some(Values(vec![Expr::get_att(CODE_BUCKET, "Arn"), objects()])),
            condition: Some(condition("Bool", "aws:SecureTransport", Expr::from("false"))),
        },
        ResourceStatement {
            sid: Some("OrganizationStackSetsReadCode".to_string()),
            effect: Effect::Allow,
            principal: Principal::Any,
            action: Values(vec![Expr::from("s3:GetObject"), Expr::from("s3:GetObjectVersion")]),
            resource: Some(Values::one(objects())),
            condition: Some(org_reader),
        },
    ])
}

/// The artifact stack.
pub fn artifact_stack() -> Template {
    let mut template = Template::new(
        "iam-janitor: the bucket of the Lambda's code, readable by the organization's StackSet \
         execution roles (management account, in the member stacks' Region).",
    );
    template.parameter(
        ORGANIZATION_ID,
        Parameter::string("The organization whose StackSet execution roles may read the code (o-…)")
            .pattern("^o-[a-z0-9]{10,32}$", "an organization ID such as o-abcd123456"),
    );
    template.resource(
        CODE_BUCKET,
        Resource::new(Bucket {
            bucket_name: Some(Expr::sub(BUCKET_NAME)),
            bucket_encryption: Some(BucketEncryption {
                server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                    server_side_encryption_by_default: ServerSideEncryptionByDefault {
                        sse_algorithm: SseAlgorithm::Aes256,
                    },
                }],
            }),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::BucketOwnerEnforced,
                }],
            }),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::ALL),
            versioning_configuration: Some(VersioningConfiguration {
                status: VersioningStatus::Enabled,
            }),
        })
        // Stacks in every account refer to its objects: never delete it with the stack.
        .retained()
        .checkov_skip(
            "CKV_AWS_18",
            "No server access logging: the bucket holds build artefacts only, written by the \
             release process and read by CloudFormation; reads and writes are in CloudTrail \
             (data events if enabled), and logging needs a second bucket.",
        ),
    );
    template.resource(
        CODE_BUCKET_POLICY,
        Resource::new(BucketPolicy {
            bucket: Expr::Ref(CODE_BUCKET),
            policy_document: bucket_policy(),
        }),
    );
    template.output(
        CODE_BUCKET_NAME,
        "The code bucket (CodeBucket of the member stacks)",
        Expr::Ref(CODE_BUCKET),
    );
    template
}
