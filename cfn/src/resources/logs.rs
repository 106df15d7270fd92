//! CloudWatch Logs: the function's log group.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::Logs::LogGroup](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogGroup {
    /// Required: no. Without it CloudFormation generates a name.
    #[serde(rename = "LogGroupName", skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<Expr>,
    /// Required: no. One of 1, 3, 5, 7, 14, 30, 60, 90, … 3653; without it, logs are kept forever.
    #[serde(rename = "RetentionInDays", skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<Expr>,
}

impl ResourceType for LogGroup {
    const TYPE: &'static str = "AWS::Logs::LogGroup";
    /// `Arn` ends in `:*` (it covers the group's log streams).
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}
