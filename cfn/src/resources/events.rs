//! EventBridge: the schedule, and the alerts' way to the management account (a rule
//! forwarding alarm state changes to an event bus there).

use std::collections::BTreeMap;

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;
use crate::policy::ResourceStatement;

/// [AWS::Events::Rule](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Required: no (generated when absent). Replacement when changed.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: no. The bus the rule listens on (default: the account's default bus).
    #[serde(rename = "EventBusName", skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<Expr>,
    /// Required: no (a rule has a schedule or an event pattern).
    #[serde(rename = "EventPattern", skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<EventPattern>,
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
    /// Required: no (for an event bus in another account: yes). The role EventBridge
    /// uses to deliver.
    #[serde(rename = "RoleArn", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<Expr>,
    /// Required: no. A constant JSON text delivered instead of the event.
    #[serde(rename = "Input", skip_serializing_if = "Option::is_none")]
    pub input: Option<Expr>,
    /// Required: no. What is delivered instead of the whole event.
    #[serde(rename = "InputTransformer", skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
}

/// [EventPattern](https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
/// the fields the stacks match on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPattern {
    #[serde(rename = "source")]
    pub source: Vec<Expr>,
    #[serde(rename = "detail-type")]
    pub detail_type: Vec<Expr>,
    /// The event's resources (e.g. alarm ARNs); empty: any.
    #[serde(rename = "resources", skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Expr>,
    /// Fields of the event's detail and the values they may have; empty: any.
    #[serde(rename = "detail", skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, Vec<Expr>>,
}

/// [InputTransformer](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-events-rule-inputtransformer.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputTransformer {
    /// Variable → JSON path in the event.
    #[serde(rename = "InputPathsMap")]
    pub input_paths_map: BTreeMap<String, String>,
    /// The text delivered, with `<variable>` placeholders.
    #[serde(rename = "InputTemplate")]
    pub input_template: String,
}

/// [AWS::Events::EventBus](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-eventbus.html)
/// (`Ref` gives its name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventBus {
    /// Required: yes. Replacement when changed.
    #[serde(rename = "Name")]
    pub name: Expr,
}

impl ResourceType for EventBus {
    const TYPE: &'static str = "AWS::Events::EventBus";
    const ATTRIBUTES: &'static [&'static str] = &["Arn", "Name"];
}

/// [AWS::Events::EventBusPolicy](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-eventbuspolicy.html):
/// one statement of a bus's resource policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventBusPolicy {
    /// Required: no (default: the default bus).
    #[serde(rename = "EventBusName", skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<Expr>,
    /// Required: yes.
    #[serde(rename = "StatementId")]
    pub statement_id: Expr,
    /// Required: no (a statement, or Action and Principal).
    #[serde(rename = "Statement")]
    pub statement: ResourceStatement<Expr>,
}

impl ResourceType for EventBusPolicy {
    const TYPE: &'static str = "AWS::Events::EventBusPolicy";
    const ATTRIBUTES: &'static [&'static str] = &[];
}
