//! Dormant credentials: console passwords and access keys not used for more than N days.
//!
//! [`rules`] is the pure planner (what is dormant, what to warn about); [`apply`] confirms
//! each candidate on live data and, in enforce mode, records and makes the change.

pub mod apply;
pub mod rules;
