//! Template values: literals and CloudFormation intrinsic functions, as one typed enum.
//!
//! An intrinsic is a variant, never a string that happens to look like one: `Ref` names a
//! [`LogicalId`] or a [`Pseudo`] parameter, `Fn::GetAtt` a resource and an attribute.
//! [`crate::template::Template`] checks when it synthesises that every name resolves.
//!
//! Serialised in CloudFormation's long form (`{"Ref": …}`, `{"Fn::GetAtt": [id, attr]}`),
//! which is valid in both JSON and YAML templates.
//!
//! Reference: <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html>

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::id::LogicalId;

/// A pseudo parameter: a value CloudFormation supplies.
///
/// Reference: <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pseudo {
    AccountId,
    NotificationArns,
    /// Removes the property it is the value of (in one branch of `Fn::If`).
    NoValue,
    Partition,
    Region,
    StackId,
    StackName,
    UrlSuffix,
}

impl Pseudo {
    /// Every pseudo parameter.
    pub const ALL: [Pseudo; 8] = [
        Pseudo::AccountId,
        Pseudo::NotificationArns,
        Pseudo::NoValue,
        Pseudo::Partition,
        Pseudo::Region,
        Pseudo::StackId,
        Pseudo::StackName,
        Pseudo::UrlSuffix,
    ];

    /// The name used in `Ref` and in `${…}` of `Fn::Sub`, e.g. `AWS::AccountId`.
    pub const fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::NotificationArns => "AWS::NotificationARNs",
            Pseudo::NoValue => "AWS::NoValue",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }

    /// The pseudo parameter of this name.
    pub fn from_name(name: &str) -> Option<Pseudo> {
        Pseudo::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A value in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal string.
    Str(String),
    /// A literal integer.
    Int(i64),
    /// A literal boolean.
    Bool(bool),
    /// A literal list (e.g. one branch of `Fn::If` for a list-valued property).
    List(Vec<Expr>),
    /// `Ref` to a parameter (its value) or a resource (its physical ID).
    Ref(LogicalId),
    /// `Ref` to a pseudo parameter.
    Pseudo(Pseudo),
    /// `Fn::GetAtt`: an attribute of a resource.
    GetAtt(LogicalId, &'static str),
    /// `Fn::Sub` with `${Name}`, `${Resource.Attribute}` and `${AWS::Pseudo}` placeholders.
    Sub(String),
    /// `Fn::Sub` with its own variables, which take precedence over template names.
    SubWith(String, BTreeMap<String, Expr>),
    /// `Fn::Join`: values joined with a delimiter.
    Join(String, Vec<Expr>),
    /// `Fn::Select`: the item at an index of a list.
    Select(u32, Box<Expr>),
    /// `Fn::Split`: a string split at a delimiter, as a list.
    Split(String, Box<Expr>),
    /// `Fn::If`: the first value if the condition holds, else the second.
    If(LogicalId, Box<Expr>, Box<Expr>),
    /// `Fn::Equals`, in a condition.
    Equals(Box<Expr>, Box<Expr>),
    /// `Fn::Not`, in a condition.
    Not(Box<Expr>),
    /// `Fn::And`, in a condition: all of 2 to 10 conditions.
    And(Vec<Expr>),
    /// `{"Condition": name}`: another condition, inside a condition.
    Condition(LogicalId),
}

impl Expr {
    /// `Fn::Sub`.
    pub fn sub(text: impl Into<String>) -> Expr {
        Expr::Sub(text.into())
    }

    /// `Fn::GetAtt`.
    pub fn get_att(resource: LogicalId, attribute: &'static str) -> Expr {
        Expr::GetAtt(resource, attribute)
    }

    /// `Fn::If`.
    pub fn if_then_else(condition: LogicalId, then: impl Into<Expr>, otherwise: impl Into<Expr>) -> Expr {
        Expr::If(condition, Box::new(then.into()), Box::new(otherwise.into()))
    }

    /// `Fn::Equals`.
    pub fn equals(left: impl Into<Expr>, right: impl Into<Expr>) -> Expr {
        Expr::Equals(Box::new(left.into()), Box::new(right.into()))
    }

    /// `Fn::Not` of `Fn::Equals`.
    pub fn not_equals(left: impl Into<Expr>, right: impl Into<Expr>) -> Expr {
        Expr::Not(Box::new(Expr::equals(left, right)))
    }

    /// `Fn::And` of conditions.
    pub fn and(conditions: impl IntoIterator<Item = Expr>) -> Expr {
        Expr::And(conditions.into_iter().collect())
    }

    /// The stack's own ID (the last part of `AWS::StackId`): unique to one creation of
    /// one stack, so a name made with it never collides with a resource a deleted stack
    /// retained.
    pub fn stack_uuid() -> Expr {
        Expr::Select(
            2,
            Box::new(Expr::Split("/".to_string(), Box::new(Expr::Pseudo(Pseudo::StackId)))),
        )
    }

    /// `{"Ref": "AWS::NoValue"}`: leaves the property out.
    pub const NO_VALUE: Expr = Expr::Pseudo(Pseudo::NoValue);
}

impl From<&str> for Expr {
    fn from(value: &str) -> Expr {
        Expr::Str(value.to_string())
    }
}

impl From<String> for Expr {
    fn from(value: String) -> Expr {
        Expr::Str(value)
    }
}

impl From<i64> for Expr {
    fn from(value: i64) -> Expr {
        Expr::Int(value)
    }
}

impl From<u32> for Expr {
    fn from(value: u32) -> Expr {
        Expr::Int(i64::from(value))
    }
}

impl From<bool> for Expr {
    fn from(value: bool) -> Expr {
        Expr::Bool(value)
    }
}

impl From<Pseudo> for Expr {
    fn from(value: Pseudo) -> Expr {
        Expr::Pseudo(value)
    }
}

impl<T: Into<Expr>> From<Vec<T>> for Expr {
    fn from(values: Vec<T>) -> Expr {
        Expr::List(values.into_iter().map(Into::into).collect())
    }
}

fn intrinsic<S: Serializer, T: Serialize + ?Sized>(serializer: S, name: &str, args: &T) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(name, args)?;
    map.end()
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expr::Str(s) => serializer.serialize_str(s),
            Expr::Int(i) => serializer.serialize_i64(*i),
            Expr::Bool(b) => serializer.serialize_bool(*b),
            Expr::List(items) => items.serialize(serializer),
            Expr::Ref(id) => intrinsic(serializer, "Ref", id),
            Expr::Pseudo(p) => intrinsic(serializer, "Ref", p.name()),
            Expr::GetAtt(id, attribute) => intrinsic(serializer, "Fn::GetAtt", &(id, attribute)),
            Expr::Sub(text) => intrinsic(serializer, "Fn::Sub", text),
            Expr::SubWith(text, variables) => intrinsic(serializer, "Fn::Sub", &(text, variables)),
            Expr::Join(delimiter, items) => intrinsic(serializer, "Fn::Join", &(delimiter, items)),
            Expr::Select(index, list) => intrinsic(serializer, "Fn::Select", &(index, list)),
            Expr::Split(delimiter, text) => intrinsic(serializer, "Fn::Split", &(delimiter, text)),
            Expr::If(condition, then, otherwise) => intrinsic(serializer, "Fn::If", &(condition, then, otherwise)),
            Expr::Equals(left, right) => intrinsic(serializer, "Fn::Equals", &(left, right)),
            Expr::Not(condition) => intrinsic(serializer, "Fn::Not", &[condition]),
            Expr::And(conditions) => intrinsic(serializer, "Fn::And", conditions),
            Expr::Condition(id) => intrinsic(serializer, "Condition", id),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ROLE: LogicalId = LogicalId::from_static("Role");
    const HAS_TOPIC: LogicalId = LogicalId::from_static("HasTopic");

    fn json(expr: &Expr) -> String {
        serde_json::to_string(expr).unwrap()
    }

    #[test]
    fn serialises_in_long_form() {
        assert_eq!(json(&"x".into()), r#""x""#);
        assert_eq!(json(&900u32.into()), "900");
        assert_eq!(json(&true.into()), "true");
        assert_eq!(json(&Expr::Ref(ROLE)), r#"{"Ref":"Role"}"#);
        assert_eq!(json(&Pseudo::AccountId.into()), r#"{"Ref":"AWS::AccountId"}"#);
        assert_eq!(json(&Expr::get_att(ROLE, "Arn")), r#"{"Fn::GetAtt":["Role","Arn"]}"#);
        assert_eq!(json(&Expr::sub("${AWS::Region}")), r#"{"Fn::Sub":"${AWS::Region}"}"#);
        assert_eq!(
            json(&Expr::SubWith(
                "${a}".into(),
                BTreeMap::from([("a".to_string(), Expr::Ref(ROLE))])
            )),
            r#"{"Fn::Sub":["${a}",{"a":{"Ref":"Role"}}]}"#
        );
        assert_eq!(
            json(&Expr::Join(",".into(), vec!["a".into(), Expr::Ref(ROLE)])),
            r#"{"Fn::Join":[",",["a",{"Ref":"Role"}]]}"#
        );
        assert_eq!(
            json(&Expr::stack_uuid()),
            r#"{"Fn::Select":[2,{"Fn::Split":["/",{"Ref":"AWS::StackId"}]}]}"#
        );
        assert_eq!(
            json(&Expr::if_then_else(HAS_TOPIC, vec![Expr::Ref(ROLE)], Expr::NO_VALUE)),
            r#"{"Fn::If":["HasTopic",[{"Ref":"Role"}],{"Ref":"AWS::NoValue"}]}"#
        );
        assert_eq!(
            json(&Expr::not_equals(Expr::Ref(ROLE), "")),
            r#"{"Fn::Not":[{"Fn::Equals":[{"Ref":"Role"},""]}]}"#
        );
        assert_eq!(
            json(&Expr::and([
                Expr::not_equals(Expr::Ref(ROLE), ""),
                Expr::Condition(HAS_TOPIC)
            ])),
            r#"{"Fn::And":[{"Fn::Not":[{"Fn::Equals":[{"Ref":"Role"},""]}]},{"Condition":"HasTopic"}]}"#
        );
    }

    #[test]
    fn pseudo_names_round_trip() {
        for p in Pseudo::ALL {
            assert_eq!(Pseudo::from_name(p.name()), Some(p));
        }
        assert_eq!(Pseudo::from_name("AWS::Account"), None);
    }
}
