//! Least privilege's memory of one user across runs: the state table's item, keyed by
//! the user's ID, which a rename keeps.

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// The version of the item's form; an item of another version is not read.
pub const STATE_SCHEMA: u32 = 1;

/// What the engine remembers of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMemory {
    /// IAM's `UserId` (`AIDA…`): the key.
    pub user_id: String,
    /// The user's name at the last check (for people; renames change it).
    pub user_name: String,
    /// When the engine first read the user's Access Advisor data. Services listed then
    /// are judged by today's rule (the user's age); services first listed later were
    /// granted since, and get their own grace.
    pub first_checked: OffsetDateTime,
    /// When Access Advisor was last read for the user.
    pub checked_at: OffsetDateTime,
    /// The services Access Advisor listed at the last check, each with when it was
    /// first listed.
    pub services: BTreeMap<String, OffsetDateTime>,
    /// The deny policies (ARNs) the engine manages for the user, as of the last check.
    pub policies: Vec<String>,
}
