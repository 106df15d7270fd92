//! IAM: the Lambda's role and its customer managed policy.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;
use crate::policy::{PolicyDocument, ResourcePolicyDocument};

/// [AWS::IAM::Role](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Role {
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: no. Default `/`.
    #[serde(rename = "Path", skip_serializing_if = "Option::is_none")]
    pub path: Option<Expr>,
    /// Required: yes. The trust policy.
    #[serde(rename = "AssumeRolePolicyDocument")]
    pub assume_role_policy_document: ResourcePolicyDocument<Expr>,
    /// Required: no. Managed policies attached to the role.
    #[serde(rename = "ManagedPolicyArns", skip_serializing_if = "Vec::is_empty")]
    pub managed_policy_arns: Vec<Expr>,
}

impl ResourceType for Role {
    const TYPE: &'static str = "AWS::IAM::Role";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "RoleId"];
}

/// [AWS::IAM::ManagedPolicy](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-managedpolicy.html):
/// a customer managed policy (`Ref` gives its ARN).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagedPolicy {
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: no. Default `/`.
    #[serde(rename = "Path", skip_serializing_if = "Option::is_none")]
    pub path: Option<Expr>,
    /// Required: yes. At most 6,144 characters, whitespace excluded.
    #[serde(rename = "PolicyDocument")]
    pub policy_document: PolicyDocument<Expr>,
}

impl ResourceType for ManagedPolicy {
    const TYPE: &'static str = "AWS::IAM::ManagedPolicy";
    const ATTRIBUTES: &'static [&'static str] = &["PolicyArn", "PolicyId"];
}
