//! Typed CloudFormation for iam-janitor, and the IAM policy-document model shared by the
//! templates (the Lambda's role) and the engine (the per-user deny policies).

pub mod policy;
