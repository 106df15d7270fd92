//! DynamoDB: the engine's state table.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::DynamoDB::Table](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-dynamodb-table.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Required: no. Without it CloudFormation generates a name.
    #[serde(rename = "TableName", skip_serializing_if = "Option::is_none")]
    pub table_name: Option<Expr>,
    /// Required: no. `PAY_PER_REQUEST` (on demand) or `PROVISIONED`.
    #[serde(rename = "BillingMode")]
    pub billing_mode: Expr,
    /// Required: yes (for the key attributes).
    #[serde(rename = "AttributeDefinitions")]
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// Required: yes.
    #[serde(rename = "KeySchema")]
    pub key_schema: Vec<KeySchemaElement>,
    /// Required: no.
    #[serde(rename = "PointInTimeRecoverySpecification", skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<PointInTimeRecovery>,
    /// Required: no. Without it, tables are encrypted with an AWS owned key.
    #[serde(rename = "SSESpecification", skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseSpecification>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeDefinition {
    #[serde(rename = "AttributeName")]
    pub attribute_name: Expr,
    /// `S`, `N` or `B`.
    #[serde(rename = "AttributeType")]
    pub attribute_type: Expr,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeySchemaElement {
    #[serde(rename = "AttributeName")]
    pub attribute_name: Expr,
    /// `HASH` (partition key) or `RANGE` (sort key).
    #[serde(rename = "KeyType")]
    pub key_type: Expr,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointInTimeRecovery {
    #[serde(rename = "PointInTimeRecoveryEnabled")]
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SseSpecification {
    /// `true`: an AWS managed KMS key (`aws/dynamodb`); `false`: an AWS owned key.
    #[serde(rename = "SSEEnabled")]
    pub enabled: bool,
}

impl ResourceType for Table {
    const TYPE: &'static str = "AWS::DynamoDB::Table";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}
