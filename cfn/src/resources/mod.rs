//! Resources: the [`Resource`] wrapper (type, attributes, metadata) and one hand-written
//! property struct per resource type the stacks use.
//!
//! Property structs follow the CloudFormation reference: fields are renamed to the
//! CloudFormation names, optional properties are `Option` (left out when `None`),
//! required ones are not. Field order is output order.
//!
//! Reference: <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-template-resource-type-ref.html>

pub mod cloudwatch;
pub mod dynamodb;
pub mod events;
pub mod glue;
pub mod iam;
pub mod lambda;
pub mod logs;
pub mod organizations;
pub mod s3;
pub mod sns;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::id::LogicalId;

/// A resource type's CloudFormation name and the attributes `Fn::GetAtt` may read.
pub trait ResourceType: Serialize {
    /// E.g. `AWS::Lambda::Function`.
    const TYPE: &'static str;
    /// The attributes of the type that the stacks may read with `Fn::GetAtt`.
    const ATTRIBUTES: &'static [&'static str];
}

macro_rules! properties {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// The properties of one resource, by type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Properties {
            $($variant($ty),)*
        }

        impl Properties {
            /// The CloudFormation resource type.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Properties::$variant(_) => <$ty as ResourceType>::TYPE,)*
                }
            }

            /// The attributes `Fn::GetAtt` may read.
            pub fn attributes(&self) -> &'static [&'static str] {
                match self {
                    $(Properties::$variant(_) => <$ty as ResourceType>::ATTRIBUTES,)*
                }
            }
        }

        impl Serialize for Properties {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Properties::$variant(properties) => properties.serialize(serializer),)*
                }
            }
        }

        $(
            impl From<$ty> for Properties {
                fn from(properties: $ty) -> Properties {
                    Properties::$variant(properties)
                }
            }
        )*
    };
}

properties! {
    Alarm(cloudwatch::Alarm),
    Bucket(s3::Bucket),
    BucketPolicy(s3::BucketPolicy),
    DynamoTable(dynamodb::Table),
    EventBus(events::EventBus),
    EventBusPolicy(events::EventBusPolicy),
    EventInvokeConfig(lambda::EventInvokeConfig),
    Function(lambda::Function),
    GlueDatabase(glue::Database),
    GlueTable(glue::Table),
    LogGroup(logs::LogGroup),
    ManagedPolicy(iam::ManagedPolicy),
    OrganizationsPolicy(organizations::Policy),
    Permission(lambda::Permission),
    Role(iam::Role),
    Rule(events::Rule),
    Subscription(sns::Subscription),
    Topic(sns::Topic),
    TopicPolicy(sns::TopicPolicy),
}

/// What happens to a resource's physical resource when the stack deletes or replaces it.
///
/// Reference: <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeletionPolicy {
    Delete,
    Retain,
    Snapshot,
}

/// A linter finding that is accepted on purpose, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The check's ID, e.g. `CKV_AWS_117` or `I3011`.
    pub id: &'static str,
    /// Why the finding does not apply or is accepted, in full sentences.
    pub reason: &'static str,
}

/// The resource's linter suppressions, in the `Metadata` layout each tool reads.
///
/// - checkov: `Metadata.checkov.skip: [{id, comment}]`.
/// - cfn-lint: `Metadata.cfn-lint.config.ignore_checks: [id]`; cfn-lint has no place for
///   a reason, so the reasons are kept next to it under `Metadata.cfn-lint-reasons`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressions {
    pub checkov: Vec<Suppression>,
    pub cfn_lint: Vec<Suppression>,
}

impl Suppressions {
    fn is_empty(&self) -> bool {
        self.checkov.is_empty() && self.cfn_lint.is_empty()
    }
}

impl Serialize for Suppressions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct CheckovSkip<'a> {
            id: &'a str,
            comment: &'a str,
        }
        #[derive(Serialize)]
        struct Checkov<'a> {
            skip: Vec<CheckovSkip<'a>>,
        }
        #[derive(Serialize)]
        struct CfnLintConfig<'a> {
            ignore_checks: Vec<&'a str>,
        }
        #[derive(Serialize)]
        struct CfnLint<'a> {
            config: CfnLintConfig<'a>,
        }
        let mut map = serializer.serialize_map(None)?;
        if !self.checkov.is_empty() {
            let skip = self
                .checkov
                .iter()
                .map(|s| CheckovSkip {
                    id: s.id,
                    comment: s.reason,
                })
                .collect();
            map.serialize_entry("checkov", &Checkov { skip })?;
        }
        if !self.cfn_lint.is_empty() {
            let ignore_checks = self.cfn_lint.iter().map(|s| s.id).collect();
            map.serialize_entry(
                "cfn-lint",
                &CfnLint {
                    config: CfnLintConfig { ignore_checks },
                },
            )?;
            let reasons: std::collections::BTreeMap<&str, &str> =
                self.cfn_lint.iter().map(|s| (s.id, s.reason)).collect();
            map.serialize_entry("cfn-lint-reasons", &reasons)?;
        }
        map.end()
    }
}

/// One resource: its properties (which give its type) and its attributes.
///
/// Reference: <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html>
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub properties: Properties,
    /// `Condition`: the resource exists only if this condition holds.
    pub condition: Option<LogicalId>,
    /// `DependsOn`: resources created before this one (beyond those it refers to).
    pub depends_on: Vec<LogicalId>,
    /// `DeletionPolicy`.
    pub deletion_policy: Option<DeletionPolicy>,
    /// `UpdateReplacePolicy`.
    pub update_replace_policy: Option<DeletionPolicy>,
    /// Linter suppressions, written to `Metadata`.
    pub suppressions: Suppressions,
}

impl Resource {
    pub fn new(properties: impl Into<Properties>) -> Resource {
        Resource {
            properties: properties.into(),
            condition: None,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            suppressions: Suppressions::default(),
        }
    }

    /// A resource that exists only if `condition` holds.
    pub fn conditional(condition: LogicalId, properties: impl Into<Properties>) -> Resource {
        Resource {
            condition: Some(condition),
            ..Resource::new(properties)
        }
    }

    /// Created after `other` (`DependsOn`), which it names without a reference (e.g. an
    /// event bus by its fixed name).
    pub fn after(mut self, other: LogicalId) -> Resource {
        self.depends_on.push(other);
        self
    }

    /// Keeps the physical resource when the stack deletes or replaces it.
    pub fn retained(mut self) -> Resource {
        self.deletion_policy = Some(DeletionPolicy::Retain);
        self.update_replace_policy = Some(DeletionPolicy::Retain);
        self
    }

    /// Accepts a checkov finding, with the reason.
    pub fn checkov_skip(mut self, id: &'static str, reason: &'static str) -> Resource {
        self.suppressions.checkov.push(Suppression { id, reason });
        self
    }

    /// Accepts a cfn-lint finding, with the reason.
    pub fn cfn_lint_ignore(mut self, id: &'static str, reason: &'static str) -> Resource {
        self.suppressions.cfn_lint.push(Suppression { id, reason });
        self
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Type", self.properties.type_name())?;
        if let Some(condition) = &self.condition {
            map.serialize_entry("Condition", condition)?;
        }
        if !self.depends_on.is_empty() {
            map.serialize_entry("DependsOn", &self.depends_on)?;
        }
        if let Some(policy) = &self.deletion_policy {
            map.serialize_entry("DeletionPolicy", policy)?;
        }
        if let Some(policy) = &self.update_replace_policy {
            map.serialize_entry("UpdateReplacePolicy", policy)?;
        }
        if !self.suppressions.is_empty() {
            map.serialize_entry("Metadata", &self.suppressions)?;
        }
        map.serialize_entry("Properties", &self.properties)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::expr::Expr;
    use crate::resources::logs::LogGroup;

    #[test]
    fn attributes_and_suppressions_serialise_in_each_tools_layout() {
        let resource = Resource::new(LogGroup {
            log_group_name: None,
            retention_in_days: Some(Expr::from(30u32)),
        })
        .retained()
        .checkov_skip("CKV_AWS_158", "No KMS key.")
        .cfn_lint_ignore("I3011", "Not stateful.");
        assert_eq!(
            serde_json::to_string(&resource).unwrap(),
            concat!(
                r#"{"Type":"AWS::Logs::LogGroup","DeletionPolicy":"Retain","UpdateReplacePolicy":"Retain","#,
                r#""Metadata":{"checkov":{"skip":[{"id":"CKV_AWS_158","comment":"No KMS key."}]},"#,
                r#""cfn-lint":{"config":{"ignore_checks":["I3011"]}},"cfn-lint-reasons":{"I3011":"Not stateful."}},"#,
                r#""Properties":{"RetentionInDays":30}}"#
            )
        );
    }
}
