//! Plain data, built by the adapter and read by the decisions: the credential report
//! ([`credential_report`]), the account's users as the planner sees them
//! ([`inventory`]) and what a run found and did ([`report`]), and the organization's view over
//! every account's stored reports ([`org`]); service prefixes and Access Advisor's
//! answers ([`services`]); least privilege's memory of a user across runs ([`state`]).

pub mod credential_report;
pub mod inventory;
pub mod org;
pub mod report;
pub mod services;
pub mod state;
