//! SNS: the topic that alerts reach people through.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;
use crate::policy::ResourcePolicyDocument;

/// [AWS::SNS::Topic](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topic.html)
/// (`Ref` gives its ARN).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// Required: no (generated when absent). Replacement when changed.
    #[serde(rename = "TopicName", skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<Expr>,
}

impl ResourceType for Topic {
    const TYPE: &'static str = "AWS::SNS::Topic";
    const ATTRIBUTES: &'static [&'static str] = &["TopicArn", "TopicName"];
}

/// [AWS::SNS::TopicPolicy](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topicpolicy.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicPolicy {
    /// Required: yes.
    #[serde(rename = "PolicyDocument")]
    pub policy_document: ResourcePolicyDocument<Expr>,
    /// Required: yes. Topic ARNs.
    #[serde(rename = "Topics")]
    pub topics: Vec<Expr>,
}

impl ResourceType for TopicPolicy {
    const TYPE: &'static str = "AWS::SNS::TopicPolicy";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

/// [AWS::SNS::Subscription](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    /// Required: yes. E.g. `email`.
    #[serde(rename = "Protocol")]
    pub protocol: Expr,
    /// Required: no (for `email`: the address).
    #[serde(rename = "Endpoint", skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Expr>,
    /// Required: yes.
    #[serde(rename = "TopicArn")]
    pub topic_arn: Expr,
}

impl ResourceType for Subscription {
    const TYPE: &'static str = "AWS::SNS::Subscription";
    const ATTRIBUTES: &'static [&'static str] = &[];
}
