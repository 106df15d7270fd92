//! Least privilege from IAM Access Advisor: a per-user managed policy that explicitly
//! denies the services the user may use but has not used for N days.
//!
//! [`decide`] is the pure decision (which services, which document); [`apply`] runs the
//! Access Advisor jobs and writes the policies.

pub mod apply;
pub mod decide;

pub use decide::*;
