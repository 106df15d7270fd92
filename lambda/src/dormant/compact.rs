//! Trail compaction: the audit trail never fills IAM's 50 tags per user. Before records
//! are written, the records of credentials the user no longer has are removed; if the new
//! records still do not fit, nothing is changed ("no change without its record").
//!
//! Pure: the driver in [`super::apply`] reads what [`super::apply::prepare_trail`] asks
//! for and makes the UntagUser call.

use crate::iam::{AwsError, LiveCertificate, LiveKey};
use crate::model::inventory::{ServiceCredential, SshPublicKey, Tag};
use crate::model::report::{Finding, ReasonCode, Status};
use crate::trail::{self, Subject};

/// What to do to the user's tags before writing the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compaction {
    /// Remove these records of keys the user no longer has (none: nothing to remove),
    /// then write.
    Write { untag: Vec<String> },
    /// Even without them, the records would take the user past IAM's tag quota: no
    /// change without its record, so nothing is changed.
    OverQuota(Room),
}

/// The tag count a user would reach with the records, past the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Tags the user would have with the records.
    pub needed: usize,
    /// Of the tags the user would keep, those that are not the tool's.
    pub others: usize,
}

/// Whether the records fit on a user with these tags once `removed` are gone. A record
/// whose key the user already has (ignoring case, as IAM compares keys) replaces it and
/// takes no new tag.
pub fn room(records: &[Tag], live_tags: &[Tag], removed: &[String]) -> Result<(), Room> {
    let kept: Vec<&Tag> = live_tags.iter().filter(|t| !removed.contains(&t.key)).collect();
    let added = records
        .iter()
        .filter(|r| !kept.iter().any(|t| t.key.eq_ignore_ascii_case(&r.key)))
        .count();
    let needed = kept.len() + added;
    if needed > trail::USER_TAG_QUOTA {
        Err(Room {
            needed,
            others: kept.iter().filter(|t| !t.key.starts_with(trail::PREFIX)).count(),
        })
    } else {
        Ok(())
    }
}

/// A credential as a live listing shows it: its ID and whether it is active.
pub trait Listed {
    fn id(&self) -> &str;
    fn active(&self) -> bool;
}

macro_rules! listed {
    ($($t:ty),*) => {
        $(impl Listed for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn active(&self) -> bool {
                self.active
            }
        })*
    };
}
listed!(LiveKey, LiveCertificate, ServiceCredential, SshPublicKey);

/// Whether a listing that was read no longer holds the credential with this ID (`false`
/// when it was not read: nothing is removed on a guess).
fn gone<T: Listed>(listed: Option<&[T]>, id: &str) -> bool {
    listed.is_some_and(|l| !l.iter().any(|c| c.id() == id))
}

/// The credentials a user holds now, as far as they were read: each kind only for a user
/// with records of it.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub keys: Option<&'a [LiveKey]>,
    pub certificates: Option<&'a [LiveCertificate]>,
    pub service_credentials: Option<&'a [ServiceCredential]>,
    pub ssh_keys: Option<&'a [SshPublicKey]>,
}

/// Trail compaction: the records of credentials that were read and are gone are removed;
/// the records to write must then fit IAM's quota of tags per user ([`room`]).
pub fn compact(records: &[Tag], live_tags: &[Tag], held: &Held<'_>) -> Compaction {
    let untag: Vec<String> = live_tags
        .iter()
        .filter(|t| match Subject::from_tag_key(&t.key) {
            Some(Subject::Key(id)) => gone(held.keys, &id),
            Some(Subject::Certificate(id)) => gone(held.certificates, &id),
            Some(Subject::ServiceCredential(id)) => gone(held.service_credentials, &id),
            Some(Subject::SshKey(id)) => gone(held.ssh_keys, &id),
            Some(Subject::Console) | None => false,
        })
        .map(|t| t.key.clone())
        .collect();
    match room(records, live_tags, &untag) {
        Ok(()) => Compaction::Write { untag },
        Err(over) => Compaction::OverQuota(over),
    }
}

/// The user is at the tag quota: the change is not made, and the finding says what an
/// administrator can do. `unremoved` is why the records of deleted keys, which would
/// have made room, could not be removed.
pub fn over_quota(finding: &mut Finding, over: Room, unremoved: Option<&AwsError>) {
    finding.status = Status::Failed;
    finding.reason_code = ReasonCode::TagQuota;
    let unremoved = unremoved
        .map(|e| format!(" The records of keys the user no longer has could not be removed to make room: {e}."))
        .unwrap_or_default();
    finding.reason = format!(
        "not changed: its audit-trail record does not fit on the user, who would need {} tags where IAM allows \
         {quota} ({} of them not iam-janitor's). iam-janitor makes no change without its record.{unremoved} An \
         administrator can remove tags the user no longer needs, and the next run makes the change; or disable the \
         credential by hand ({})",
        over.needed,
        over.others,
        finding.reason,
        quota = trail::USER_TAG_QUOTA,
    );
}
