//! Lambda: the function, the permission that lets EventBridge invoke it, and its
//! asynchronous-invocation settings.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::Lambda::Function](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Function {
    /// Required: no. Without it CloudFormation generates a name.
    #[serde(rename = "FunctionName", skip_serializing_if = "Option::is_none")]
    pub function_name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: only for a .zip package. E.g. `provided.al2023`.
    #[serde(rename = "Runtime", skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Expr>,
    /// Required: no. Exactly one of `x86_64` (the default) or `arm64`.
    #[serde(rename = "Architectures", skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<Expr>>,
    /// Required: only for a .zip package. `bootstrap` for OS-only runtimes.
    #[serde(rename = "Handler", skip_serializing_if = "Option::is_none")]
    pub handler: Option<Expr>,
    /// Required: yes.
    #[serde(rename = "Code")]
    pub code: Code,
    /// Required: yes. The execution role's ARN.
    #[serde(rename = "Role")]
    pub role: Expr,
    /// Required: no. Seconds, 1 to 900 (default 3).
    #[serde(rename = "Timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Expr>,
    /// Required: no. MB, 128 to 10,240 (default 128).
    #[serde(rename = "MemorySize", skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Environment", skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Required: no.
    #[serde(rename = "LoggingConfig", skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
}

impl ResourceType for Function {
    const TYPE: &'static str = "AWS::Lambda::Function";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

/// [Code](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-code.html)
/// of a .zip package in S3 (the bucket must be in the function's Region).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Code {
    /// Required: yes (for S3 code).
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Expr,
    /// Required: yes (for S3 code).
    #[serde(rename = "S3Key")]
    pub s3_key: Expr,
}

/// [Environment](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-environment.html):
/// at most 4 KB in total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// Required: no. Name to value, sorted by name.
    #[serde(rename = "Variables")]
    pub variables: BTreeMap<String, Expr>,
}

/// [LoggingConfig](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-loggingconfig.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggingConfig {
    /// Required: no. The log group's name (default `/aws/lambda/<function name>`).
    #[serde(rename = "LogGroup", skip_serializing_if = "Option::is_none")]
    pub log_group: Option<Expr>,
}

/// [AWS::Lambda::Permission](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-permission.html):
/// a statement of the function's resource-based policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permission {
    /// Required: yes. E.g. `lambda:InvokeFunction`.
    #[serde(rename = "Action")]
    pub action: Expr,
    /// Required: yes. The function's name or ARN.
    #[serde(rename = "FunctionName")]
    pub function_name: Expr,
    /// Required: yes. E.g. `events.amazonaws.com`.
    #[serde(rename = "Principal")]
    pub principal: Expr,
    /// Required: no. The account the source belongs to.
    #[serde(rename = "SourceAccount", skip_serializing_if = "Option::is_none")]
    pub source_account: Option<Expr>,
    /// Required: no. The one resource allowed to invoke (e.g. the rule's ARN).
    #[serde(rename = "SourceArn", skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<Expr>,
}

impl ResourceType for Permission {
    const TYPE: &'static str = "AWS::Lambda::Permission";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

/// [AWS::Lambda::EventInvokeConfig](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventinvokeconfig.html):
/// retries and event age for asynchronous invocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventInvokeConfig {
    /// Required: yes.
    #[serde(rename = "FunctionName")]
    pub function_name: Expr,
    /// Required: yes. A version, an alias or `$LATEST`.
    #[serde(rename = "Qualifier")]
    pub qualifier: Expr,
    /// Required: no. 0 to 2 (default 2).
    #[serde(rename = "MaximumRetryAttempts", skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<Expr>,
}

impl ResourceType for EventInvokeConfig {
    const TYPE: &'static str = "AWS::Lambda::EventInvokeConfig";
    const ATTRIBUTES: &'static [&'static str] = &[];
}
