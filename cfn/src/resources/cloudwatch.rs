//! CloudWatch: the alarm on the function's errors.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::CloudWatch::Alarm](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html)
/// on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Required: no (generated when absent). Replacement when changed.
    #[serde(rename = "AlarmName", skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "AlarmDescription", skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<Expr>,
    /// Required: no (for a single metric: yes). E.g. `AWS/Lambda`.
    #[serde(rename = "Namespace")]
    pub namespace: Expr,
    /// Required: no (for a single metric: yes). E.g. `Errors`.
    #[serde(rename = "MetricName")]
    pub metric_name: Expr,
    /// Required: no.
    #[serde(rename = "Dimensions", skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
    /// Required: no (for a single metric: a statistic or an extended one).
    #[serde(rename = "Statistic")]
    pub statistic: Statistic,
    /// Required: no (for a single metric: yes). Seconds; `Period` × `EvaluationPeriods` ≤ 7 days
    /// (≤ 1 day for periods under an hour).
    #[serde(rename = "Period")]
    pub period: Expr,
    /// Required: yes.
    #[serde(rename = "EvaluationPeriods")]
    pub evaluation_periods: Expr,
    /// Required: no. M of the N evaluation periods that must breach (default N).
    #[serde(rename = "DatapointsToAlarm", skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Threshold")]
    pub threshold: Expr,
    /// Required: yes.
    #[serde(rename = "ComparisonOperator")]
    pub comparison_operator: ComparisonOperator,
    /// Required: no. Default `missing`.
    #[serde(rename = "TreatMissingData", skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
    /// Required: no. ARNs notified on ALARM (a list, or `Fn::If` of one).
    #[serde(rename = "AlarmActions", skip_serializing_if = "Option::is_none")]
    pub alarm_actions: Option<Expr>,
    /// Required: no. ARNs notified on OK.
    #[serde(rename = "OKActions", skip_serializing_if = "Option::is_none")]
    pub ok_actions: Option<Expr>,
}

impl ResourceType for Alarm {
    const TYPE: &'static str = "AWS::CloudWatch::Alarm";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

/// [Dimension](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-cloudwatch-alarm-dimension.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    /// Required: yes.
    #[serde(rename = "Name")]
    pub name: Expr,
    /// Required: yes.
    #[serde(rename = "Value")]
    pub value: Expr,
}

/// [Statistic](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html#cfn-cloudwatch-alarm-statistic)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Statistic {
    Average,
    Maximum,
    Minimum,
    SampleCount,
    Sum,
}

/// [ComparisonOperator](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html#cfn-cloudwatch-alarm-comparisonoperator)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

/// [TreatMissingData](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    Breaching,
    NotBreaching,
    Ignore,
    Missing,
}
