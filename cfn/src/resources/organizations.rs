//! Organizations: the optional service control policy that protects the tool.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;
use crate::policy::PolicyDocument;

/// [AWS::Organizations::Policy](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-organizations-policy.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Required: yes.
    #[serde(rename = "Name")]
    pub name: Expr,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: yes.
    #[serde(rename = "Type")]
    pub kind: PolicyType,
    /// Required: yes. The policy (IAM policy language; at most 5,120 characters for an SCP).
    #[serde(rename = "Content")]
    pub content: PolicyDocument<Expr>,
    /// Required: no. Roots, OUs or accounts the policy is attached to.
    #[serde(rename = "TargetIds", skip_serializing_if = "Option::is_none")]
    pub target_ids: Option<Expr>,
}

impl ResourceType for Policy {
    const TYPE: &'static str = "AWS::Organizations::Policy";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "Id"];
}

/// [Type](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-organizations-policy.html#cfn-organizations-policy-type)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyType {
    #[serde(rename = "SERVICE_CONTROL_POLICY")]
    ServiceControlPolicy,
}
