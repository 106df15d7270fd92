//! Shared by the end-to-end tests: run `audit` through its real flag parsing and JSON
//! output against an emulator.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use clap::Parser;
use iam_janitor::audit::{self, AuditArgs};
use iam_janitor_tests::Emulator;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Parser)]
pub struct Cli {
    #[command(flatten)]
    pub args: AuditArgs,
}

/// The IAM operations that change something.
pub const WRITES: [&str; 9] = [
    "DeleteLoginProfile",
    "UpdateAccessKey",
    "TagUser",
    "CreatePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "TagPolicy",
];

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `d` days and one hour ago: well inside the day, so whole-day arithmetic in the engine
/// (which reads the clock a moment later, truncated to the second) gives exactly `d`.
pub fn days_ago(d: i64) -> OffsetDateTime {
    now() - Duration::days(d) - Duration::hours(1)
}

/// Runs `audit --format json <flags>`; returns (exit code, report).
pub async fn audit_json(emu: &Emulator, flags: &[&str]) -> (i32, Value) {
    audit_json_with(&emu.sdk_config().await, flags).await
}

/// [`audit_json`] with the given SDK configuration (other credentials, other retries).
pub async fn audit_json_with(config: &aws_config::SdkConfig, flags: &[&str]) -> (i32, Value) {
    let mut argv = vec!["audit", "--format", "json"];
    argv.extend_from_slice(flags);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let code = audit::run(&cli.args, config, now(), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"));
    (code, report)
}

pub fn findings_of<'a>(report: &'a Value, user: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["user"] == user)
        .collect()
}

pub fn writes(calls: &BTreeMap<String, u64>) -> u64 {
    WRITES.iter().map(|w| calls.get(*w).copied().unwrap_or(0)).sum()
}
