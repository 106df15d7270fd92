//! Typed CloudFormation for iam-janitor, and the IAM policy-document model shared by the
//! templates (the Lambda's role) and the engine (the per-user deny policies).
//!
//! - [`policy`]: IAM policy documents, identity-based and resource-based.
//! - [`id`], [`expr`]: logical IDs and template values (literals and intrinsic functions).
//! - [`template`]: a template, its validation and its YAML and JSON forms (YAML written by
//!   `yaml`, quoted for YAML 1.1 readers such as CloudFormation).
//! - [`resources`]: one typed struct per CloudFormation resource type in use.
//! - [`stacks`]: the member and artifact stacks.
//!
//! **Architecture invariant:** `cfn/templates/` is generated from this crate by
//! `cargo xtask synth`, never edited; a test fails when it is stale.

pub mod expr;
pub mod id;
pub mod policy;
pub mod resources;
pub mod stacks;
pub mod template;
mod yaml;
