//! EventBridge: the schedule.

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::Events::Rule](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Required: no (generated when absent). Replacement when changed.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: no (a rule has a schedule or an event pattern). `cron(…)` in UTC or `rate(…)`.
    #[serde(rename = "ScheduleExpression", skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<Expr>,
    /// Required: no. Default `ENABLED`.
    #[serde(rename = "State", skip_serializing_if = "Option::is_none")]
    pub state: Option<RuleState>,
    /// Required: no. At most 5.
    #[serde(rename = "Targets", skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
}

impl ResourceType for Rule {
    const TYPE: &'static str = "AWS::Events::Rule";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

/// [State](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html#cfn-events-rule-state)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RuleState {
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
}

/// [Target](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-events-rule-target.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// Required: yes. Unique within the rule.
    #[serde(rename = "Id")]
    pub id: Expr,
    /// Required: yes.
    #[serde(rename = "Arn")]
    pub arn: Expr,
}
