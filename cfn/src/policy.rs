//! The IAM policy-document model: one type for the templates' policies and for the deny
//! policies the engine writes.
//!
//! Serialisation is deterministic: fields in a fixed order (`Version`, `Statement`;
//! `Sid`, `Effect`, `Action`/`NotAction`, `Resource`, `Condition`), condition maps
//! sorted, and a value list of one element written as a plain value. Compact JSON of a
//! document is therefore a stable string, so "unchanged" is a string comparison.
//!
//! The value type `V` is `String` for documents sent to IAM, and an expression type
//! (with intrinsic functions) in templates.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only policy language version in use.
pub const VERSION: &str = "2012-10-17";

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// One value or a list of values (`"s3:*"` or `["s3:*", "ec2:*"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values<V>(pub Vec<V>);

impl<V> Values<V> {
    pub fn one(value: V) -> Self {
        Values(vec![value])
    }
}

impl<V> From<Vec<V>> for Values<V> {
    fn from(values: Vec<V>) -> Self {
        Values(values)
    }
}

impl<V: Serialize> Serialize for Values<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Values<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany<V> {
            Many(Vec<V>),
            One(V),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::Many(v) => Values(v),
            OneOrMany::One(v) => Values(vec![v]),
        })
    }
}

/// `Condition`: operator → key → values, sorted.
pub type Condition<V> = BTreeMap<String, BTreeMap<String, Values<V>>>;

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct Statement<V = String> {
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Action", default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Values<V>>,
    #[serde(rename = "NotAction", default, skip_serializing_if = "Option::is_none")]
    pub not_action: Option<Values<V>>,
    #[serde(rename = "Resource")]
    pub resource: Values<V>,
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition<V>>,
}

/// A policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct PolicyDocument<V = String> {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement<V>>,
}

impl<V> PolicyDocument<V> {
    /// A document with these statements and the current language version.
    pub fn new(statement: Vec<Statement<V>>) -> Self {
        PolicyDocument {
            version: VERSION.to_string(),
            statement,
        }
    }
}

impl<V: Serialize> PolicyDocument<V> {
    /// Compact JSON: the form sent to IAM and compared for changes.
    pub fn to_compact_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// The size IAM counts against its policy-size quotas: characters, whitespace excluded.
pub fn policy_size(json: &str) -> usize {
    json.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn compact_json_is_deterministic_and_round_trips() {
        let doc: PolicyDocument = PolicyDocument::new(vec![Statement {
            sid: Some("DenyUnused".to_string()),
            effect: Effect::Deny,
            action: Some(vec!["ec2:*".to_string(), "s3:*".to_string()].into()),
            not_action: None,
            resource: Values::one("*".to_string()),
            condition: None,
        }]);
        let json = doc.to_compact_json().unwrap();
        assert_eq!(
            json,
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyUnused","Effect":"Deny","Action":["ec2:*","s3:*"],"Resource":"*"}]}"#
        );
        let back: PolicyDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
        // IAM's own documents may use a single string where we use a list.
        let single: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":["*"]}]}"#,
        )
        .unwrap();
        assert_eq!(single.statement[0].action, Some(Values::one("s3:*".to_string())));
    }

    #[test]
    fn size_ignores_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
    }
}
