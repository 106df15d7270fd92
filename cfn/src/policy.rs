//! The IAM policy-document model: one type for the templates' policies and for the deny
//! policies the engine writes.
//!
//! [`PolicyDocument`] is an identity-based policy (no `Principal`): the engine's deny
//! policies, the Lambda role's policy. [`ResourcePolicyDocument`] is a resource-based
//! policy, whose statements name a [`Principal`]: a bucket policy, a role's trust policy.
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

/// `Principal`: whom a resource-based policy (a bucket policy, a role's trust policy)
/// applies to. Identity policies ([`PolicyDocument`]) have none.
///
/// Serialised as IAM writes it: `"*"`, or a one-key object such as `{"Service": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal<V = String> {
    /// `"*"`: anyone. Only safe with conditions that narrow it (or in a `Deny`).
    Any,
    /// `{"AWS": …}`: accounts, users, roles.
    Aws(Values<V>),
    /// `{"Service": …}`: AWS services such as `lambda.amazonaws.com`.
    Service(Values<V>),
    /// `{"Federated": …}`: identity providers.
    Federated(Values<V>),
}

impl<V: Serialize> Serialize for Principal<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, values) = match self {
            Principal::Any => return serializer.serialize_str("*"),
            Principal::Aws(values) => ("AWS", values),
            Principal::Service(values) => ("Service", values),
            Principal::Federated(values) => ("Federated", values),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(key, values)?;
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Principal<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<V> {
            Star(String),
            Map(BTreeMap<String, Values<V>>),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Star(s) if s == "*" => Ok(Principal::Any),
            Raw::Star(s) => Err(D::Error::custom(format!(
                "principal {s:?} is neither \"*\" nor an object"
            ))),
            Raw::Map(map) => {
                let mut entries = map.into_iter();
                match (entries.next(), entries.next()) {
                    (Some((key, values)), None) => match key.as_str() {
                        "AWS" => Ok(Principal::Aws(values)),
                        "Service" => Ok(Principal::Service(values)),
                        "Federated" => Ok(Principal::Federated(values)),
                        other => Err(D::Error::custom(format!("unsupported principal type {other:?}"))),
                    },
                    _ => Err(D::Error::custom("a principal must name exactly one principal type")),
                }
            }
        }
    }
}

/// One statement of a resource-based policy: like [`Statement`], with a `Principal`.
///
/// `Resource` is optional because a role's trust policy has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct ResourceStatement<V = String> {
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(rename = "Principal")]
    pub principal: Principal<V>,
    #[serde(rename = "Action")]
    pub action: Values<V>,
    #[serde(rename = "Resource", default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Values<V>>,
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition<V>>,
}

/// A resource-based policy document (bucket policy, trust policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct ResourcePolicyDocument<V = String> {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statement: Vec<ResourceStatement<V>>,
}

impl<V> ResourcePolicyDocument<V> {
    /// A document with these statements and the current language version.
    pub fn new(statement: Vec<ResourceStatement<V>>) -> Self {
        ResourcePolicyDocument {
            version: VERSION.to_string(),
            statement,
        }
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
    fn principals_serialise_as_iam_writes_them_and_round_trip() {
        let doc: ResourcePolicyDocument = ResourcePolicyDocument::new(vec![
            ResourceStatement {
                sid: None,
                effect: Effect::Allow,
                principal: Principal::Service(Values::one("lambda.amazonaws.com".to_string())),
                action: Values::one("sts:AssumeRole".to_string()),
                resource: None,
                condition: None,
            },
            ResourceStatement {
                sid: Some("TlsOnly".to_string()),
                effect: Effect::Deny,
                principal: Principal::Any,
                action: Values::one("s3:*".to_string()),
                resource: Some(Values::one("*".to_string())),
                condition: Some(BTreeMap::from([(
                    "Bool".to_string(),
                    BTreeMap::from([("aws:SecureTransport".to_string(), Values::one("false".to_string()))]),
                )])),
            },
        ]);
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"Version":"2012-10-17","Statement":["#,
                r#"{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},"#,
                r#"{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","#,
                r#""Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#
            )
        );
        let back: ResourcePolicyDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);
        assert!(serde_json::from_str::<Principal>(r#""arn:aws:iam::1:root""#).is_err());
        assert!(serde_json::from_str::<Principal>(r#"{"AWS":"1","Service":"s"}"#).is_err());
    }

    #[test]
    fn size_ignores_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
    }
}
