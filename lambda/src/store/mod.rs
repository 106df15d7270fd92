//! The state table's adapter, the only code that calls DynamoDB: least privilege's
//! memory across runs (one item per user, keyed by `user_id`), read once per run with a
//! paginated Scan and written with one PutItem per user checked.
//!
//! The table is checked before it is trusted (DescribeTable: it exists, and its key is a
//! string `user_id`); an item not in the engine's form is skipped and counted, never
//! guessed at.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ScalarAttributeType};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::state::{STATE_SCHEMA, UserMemory};

/// The table's partition key.
pub const KEY: &str = "user_id";

/// A failed read or write of the state table, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state table {table}: {operation}: {message}")]
pub struct StoreError {
    pub table: String,
    pub operation: &'static str,
    pub message: String,
}

/// The state table.
#[derive(Debug, Clone)]
pub struct StateTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

/// What a Scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// By user ID.
    pub users: HashMap<String, UserMemory>,
    /// Items not in the engine's form (another schema version, a hand-made item): not
    /// read, and overwritten when their user is next checked.
    pub unreadable: usize,
}

impl StateTable {
    pub fn new(config: &aws_config::SdkConfig, name: &str) -> StateTable {
        StateTable {
            client: aws_sdk_dynamodb::Client::new(config),
            name: name.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, operation: &'static str, message: String) -> StoreError {
        StoreError {
            table: self.name.clone(),
            operation,
            message,
        }
    }

    fn sdk_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        &self,
        operation: &'static str,
        e: &aws_sdk_dynamodb::error::SdkError<E>,
    ) -> StoreError {
        let message = match e.as_service_error() {
            Some(s) if s.code() == Some("ResourceNotFoundException") => "the table does not exist".to_string(),
            Some(s) => format!(
                "{}: {}",
                s.code().unwrap_or("error"),
                s.message().unwrap_or("no message")
            ),
            None => aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        };
        self.error(operation, message)
    }

    /// Checks that the table exists and is keyed by a string `user_id` alone.
    pub async fn check(&self) -> Result<(), StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map_err(|e| self.sdk_error("DescribeTable", &e))?;
        let table = out
            .table()
            .ok_or_else(|| self.error("DescribeTable", "no table description in the answer".to_string()))?;
        let keys: Vec<(&str, &KeyType)> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        let key_is_string = table
            .attribute_definitions()
            .iter()
            .any(|a| a.attribute_name() == KEY && *a.attribute_type() == ScalarAttributeType::S);
        if keys != [(KEY, &KeyType::Hash)] || !key_is_string {
            let found: Vec<String> = keys.iter().map(|(name, kind)| format!("{name} ({kind})")).collect();
            return Err(self.error(
                "DescribeTable",
                format!(
                    "wrong schema: the key must be the string {KEY:?} alone (partition key, no sort key), found {}",
                    if found.is_empty() {
                        "none".to_string()
                    } else {
                        found.join(", ")
                    }
                ),
            ));
        }
        Ok(())
    }

    /// Every user's memory (a paginated Scan).
    pub async fn load(&self) -> Result<Loaded, StoreError> {
        let mut pages = self.client.scan().table_name(&self.name).into_paginator().send();
        let mut loaded = Loaded::default();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_error("Scan", &e))?;
            for item in page.items() {
                match from_item(item) {
                    Some(memory) => {
                        loaded.users.insert(memory.user_id.clone(), memory);
                    }
                    None => loaded.unreadable += 1,
                }
            }
        }
        Ok(loaded)
    }

    /// Writes one user's memory (replacing the item).
    pub async fn save(&self, memory: &UserMemory) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(to_item(memory)))
            .send()
            .await
            .map_err(|e| self.sdk_error("PutItem", &e))?;
        Ok(())
    }
}

fn time_value(t: OffsetDateTime) -> AttributeValue {
    AttributeValue::S(t.format(&Rfc3339).unwrap_or_default())
}

/// The item of a user's memory.
pub fn to_item(m: &UserMemory) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (KEY.to_string(), AttributeValue::S(m.user_id.clone())),
        ("schema".to_string(), AttributeValue::N(STATE_SCHEMA.to_string())),
        ("user_name".to_string(), AttributeValue::S(m.user_name.clone())),
        ("first_checked".to_string(), time_value(m.first_checked)),
        ("checked_at".to_string(), time_value(m.checked_at)),
        (
            "services".to_string(),
            AttributeValue::M(
                m.services
                    .iter()
                    .map(|(ns, first_seen)| (ns.clone(), time_value(*first_seen)))
                    .collect(),
            ),
        ),
        (
            "policies".to_string(),
            AttributeValue::L(m.policies.iter().cloned().map(AttributeValue::S).collect()),
        ),
    ])
}

/// A user's memory from its item, if the item is in the engine's form.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<UserMemory> {
    let text = |key: &str| item.get(key)?.as_s().ok().cloned();
    let time = |v: &AttributeValue| OffsetDateTime::parse(v.as_s().ok()?, &Rfc3339).ok();
    if item.get("schema")?.as_n().ok()? != &STATE_SCHEMA.to_string() {
        return None;
    }
    let services = item
        .get("services")?
        .as_m()
        .ok()?
        .iter()
        .map(|(ns, v)| Some((ns.clone(), time(v)?)))
        .collect::<Option<_>>()?;
    let policies = item
        .get("policies")?
        .as_l()
        .ok()?
        .iter()
        .map(|v| v.as_s().ok().cloned())
        .collect::<Option<_>>()?;
    Some(UserMemory {
        user_id: text(KEY)?,
        user_name: text("user_name")?,
        first_checked: time(item.get("first_checked")?)?,
        checked_at: time(item.get("checked_at")?)?,
        services,
        policies,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    fn memory() -> UserMemory {
        UserMemory {
            user_id: "AIDAEXAMPLE123456789".into(),
            user_name: "alice".into(),
            first_checked: datetime!(2026-01-01 00:00 UTC),
            checked_at: datetime!(2026-11-20 06:00 UTC),
            services: [
                ("s3".to_string(), datetime!(2026-01-01 00:00 UTC)),
                ("sagemaker".to_string(), datetime!(2026-11-19 06:00 UTC)),
            ]
            .into(),
            policies: vec!["arn:aws:iam::111122223333:policy/iam-janitor/iam-janitor-deny-AIDAEXAMPLE123456789".into()],
        }
    }

    #[test]
    fn an_item_reads_back_as_written() {
        assert_eq!(from_item(&to_item(&memory())), Some(memory()));
        let empty = UserMemory {
            services: Default::default(),
            policies: Vec::new(),
            ..memory()
        };
        assert_eq!(from_item(&to_item(&empty)), Some(empty));
    }

    #[test]
    fn an_item_not_in_the_engines_form_is_not_read() {
        let mut other_schema = to_item(&memory());
        other_schema.insert("schema".into(), AttributeValue::N("2".into()));
        let mut bad_date = to_item(&memory());
        bad_date.insert("checked_at".into(), AttributeValue::S("yesterday".into()));
        let mut bad_service = to_item(&memory());
        bad_service.insert(
            "services".into(),
            AttributeValue::M([("s3".to_string(), AttributeValue::N("1".into()))].into()),
        );
        let mut missing = to_item(&memory());
        missing.remove("first_checked");
        for item in [other_schema, bad_date, bad_service, missing, HashMap::new()] {
            assert_eq!(from_item(&item), None, "{item:?}");
        }
    }
}
