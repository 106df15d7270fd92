//! The stacks: functions from inputs to [`crate::template::Template`]s.
//!
//! - [`member::member_stack`]: the Lambda and what it needs, in every account.
//! - [`artifacts::artifact_stack`]: the code bucket, in the management account.
//! - [`guardrails::guardrails_stack`]: the optional SCP that protects the tool.
//! - [`permissions`]: the Lambda role's policy and its plain-words summary.

pub mod artifacts;
pub mod guardrails;
pub mod member;
pub mod permissions;

#[cfg(test)]
mod tests;
