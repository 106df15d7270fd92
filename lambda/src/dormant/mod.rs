//! Dormant credentials: console passwords, access keys, signing certificates,
//! service-specific credentials and SSH keys not used for more than N days.
//!
//! [`rules`] is the pure planner (what is dormant, what to warn about); [`apply`] confirms
//! each candidate on live data and, in enforce mode, records and makes the change;
//! [`compact`] keeps the audit trail under IAM's tag quota.

pub mod apply;
pub mod compact;
pub mod rules;
