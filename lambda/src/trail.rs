//! The audit trail's vocabulary: every tag key iam-janitor reads or writes, and the
//! record a change leaves on its user.
//!
//! **Architecture invariant:** this module imports nothing else from the crate, so any
//! layer (the pure planner, the adapter, restore, the templates' defaults, xtask) can
//! name a tag without depending on the code that writes it.
//!
//! The records (`iam-janitor:console-disabled`, `iam-janitor:key-disabled:<key id>`) are
//! written on the user just before the change they record. Their value is the change's
//! time (RFC 3339), or `not-done <time>` when the change then failed ([`Record`]).
//! Restore reads them to give back exactly what the engine took.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Prefix of every tag key the tool writes.
pub const PREFIX: &str = "iam-janitor:";
/// Record of a deleted console password.
pub const CONSOLE_DISABLED: &str = "iam-janitor:console-disabled";
/// Prefix of the record of a deactivated key: `iam-janitor:key-disabled:<key id>`.
pub const KEY_DISABLED_PREFIX: &str = "iam-janitor:key-disabled:";
/// Prefix of the record of a deactivated signing certificate:
/// `iam-janitor:certificate-disabled:<certificate id>`.
pub const CERTIFICATE_DISABLED_PREFIX: &str = "iam-janitor:certificate-disabled:";
/// Prefix of the record of a deactivated service-specific credential (CodeCommit Git,
/// Keyspaces, Bedrock API key): `iam-janitor:service-credential-disabled:<credential id>`.
pub const SERVICE_CREDENTIAL_DISABLED_PREFIX: &str = "iam-janitor:service-credential-disabled:";
/// Prefix of the record of a deactivated SSH public key (CodeCommit):
/// `iam-janitor:ssh-key-disabled:<key id>`.
pub const SSH_KEY_DISABLED_PREFIX: &str = "iam-janitor:ssh-key-disabled:";
/// The prefixes of records that name a credential by its ID, which keeps its own case.
pub const RECORD_PREFIXES_WITH_ID: [&str; 4] = [
    KEY_DISABLED_PREFIX,
    CERTIFICATE_DISABLED_PREFIX,
    SERVICE_CREDENTIAL_DISABLED_PREFIX,
    SSH_KEY_DISABLED_PREFIX,
];
/// Set by restore when it gave something back; the value is the time. Restored
/// credentials get a new idle window from then on.
pub const RESTORED: &str = "iam-janitor:restored";
/// On each deny policy: the name of the user it was created for (for people: a rename
/// does not update it).
pub const POLICY_OWNER: &str = "iam-janitor:user";
/// On each deny policy: the ID of the user it belongs to, which a rename keeps.
pub const POLICY_OWNER_ID: &str = "iam-janitor:user-id";
/// The default exemption tag's key (`--exempt-tag`); its default value is [`EXEMPT_VALUE`].
pub const EXEMPT: &str = "iam-janitor:exempt";
/// The default exemption tag's value.
pub const EXEMPT_VALUE: &str = "true";
/// The default keep-services tag (`--keep-services-tag`): services never denied to that user.
pub const KEEP_SERVICES: &str = "iam-janitor:keep-services";
/// On the deployed stacks and StackSet: a fingerprint of the Slack webhook they carry.
pub const SLACK_WEBHOOK: &str = "iam-janitor:slack-webhook";
/// The path of the engine's deny policies: IAM policies and SCPs can target it.
pub const POLICY_PATH: &str = "/iam-janitor/";
/// IAM's quota of tags per user. A record that does not fit means no change.
pub const USER_TAG_QUOTA: usize = 50;
/// Start of the value of a record whose change was not made.
pub const NOT_DONE: &str = "not-done";

/// The credential an audit-trail record is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// The console password.
    Console,
    /// The access key with this ID.
    Key(String),
    /// The signing certificate with this ID.
    Certificate(String),
    /// The service-specific credential with this ID.
    ServiceCredential(String),
    /// The SSH public key with this ID.
    SshKey(String),
}

impl Subject {
    /// The record's tag key.
    pub fn tag_key(&self) -> String {
        match self {
            Subject::Console => CONSOLE_DISABLED.to_string(),
            Subject::Key(id) => format!("{KEY_DISABLED_PREFIX}{id}"),
            Subject::Certificate(id) => format!("{CERTIFICATE_DISABLED_PREFIX}{id}"),
            Subject::ServiceCredential(id) => format!("{SERVICE_CREDENTIAL_DISABLED_PREFIX}{id}"),
            Subject::SshKey(id) => format!("{SSH_KEY_DISABLED_PREFIX}{id}"),
        }
    }

    /// The subject of a record's tag key, read exactly as it is written.
    pub fn from_tag_key(key: &str) -> Option<Subject> {
        if key == CONSOLE_DISABLED {
            return Some(Subject::Console);
        }
        let with_id = |prefix: &str| key.strip_prefix(prefix).filter(|id| !id.is_empty()).map(str::to_string);
        with_id(KEY_DISABLED_PREFIX)
            .map(Subject::Key)
            .or_else(|| with_id(CERTIFICATE_DISABLED_PREFIX).map(Subject::Certificate))
            .or_else(|| with_id(SERVICE_CREDENTIAL_DISABLED_PREFIX).map(Subject::ServiceCredential))
            .or_else(|| with_id(SSH_KEY_DISABLED_PREFIX).map(Subject::SshKey))
    }
}

/// The value of an audit-trail record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The change was made (or is about to be: records are written first) at this time.
    Done(OffsetDateTime),
    /// The change recorded at this time then failed: nothing was taken.
    NotDone(OffsetDateTime),
}

/// A record value that is neither form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit-trail value {0:?} is neither a time (RFC 3339) nor `not-done <time>`")]
pub struct BadRecord(pub String);

impl Record {
    /// Reads a record's value.
    pub fn parse(value: &str) -> Result<Record, BadRecord> {
        let value = value.trim();
        let (not_done, time) = match value.strip_prefix(NOT_DONE) {
            Some(rest) => (true, rest.trim_start()),
            None => (false, value),
        };
        let at = OffsetDateTime::parse(time, &Rfc3339).map_err(|_| BadRecord(value.to_string()))?;
        Ok(if not_done {
            Record::NotDone(at)
        } else {
            Record::Done(at)
        })
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, at) = match self {
            Record::Done(at) => ("", at),
            Record::NotDone(at) => ("not-done ", at),
        };
        // RFC 3339 formats every `OffsetDateTime` whose offset is whole minutes, as the
        // engine's clock readings are; the fallback keeps a record rather than none.
        match at.format(&Rfc3339) {
            Ok(stamp) => write!(f, "{prefix}{stamp}"),
            Err(_) => write!(f, "{prefix}{}", at.unix_timestamp()),
        }
    }
}

/// A time as the trail writes it (the value of [`RESTORED`], for one).
pub fn stamp(at: OffsetDateTime) -> String {
    Record::Done(at).to_string()
}

/// Whether a tag key spells one of the tool's keys (`iam-janitor:…`) in another case,
/// such as `IAM-Janitor:Restored`.
///
/// IAM keeps tag keys unique ignoring case, but the guardrails SCP matches
/// `iam-janitor:*` case-sensitively, so anyone allowed to tag users can write such a
/// key. The engine reads its own keys exactly as it writes them (all lowercase; a key
/// record keeps its key ID's case), ignores other spellings and reports them. The
/// exemption and keep-services tags are matched ignoring case (IAM's semantics, and the
/// SCP protects them with a case-insensitive operator): callers leave those out.
pub fn is_case_variant(key: &str) -> bool {
    let Some(head) = key.get(..PREFIX.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(PREFIX) {
        return false;
    }
    let lower = key.to_ascii_lowercase();
    // The ID after a record's prefix keeps its own case.
    let canonical = match RECORD_PREFIXES_WITH_ID.iter().find(|p| lower.starts_with(*p)) {
        Some(prefix) => format!("{prefix}{}", &key[prefix.len()..]),
        None => lower,
    };
    key != canonical
}

/// The restore time in a `iam-janitor:restored` value, if it is one.
pub fn parse_time(value: &str) -> Option<OffsetDateTime> {
    match Record::parse(value) {
        Ok(Record::Done(at)) => Some(at),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn records_round_trip() {
        let at = datetime!(2026-11-20 09:30:00 UTC);
        for record in [Record::Done(at), Record::NotDone(at)] {
            assert_eq!(Record::parse(&record.to_string()), Ok(record));
        }
        assert_eq!(Record::Done(at).to_string(), "2026-11-20T09:30:00Z");
        assert_eq!(Record::NotDone(at).to_string(), "not-done 2026-11-20T09:30:00Z");
    }

    #[test]
    fn values_that_are_not_records_are_errors() {
        for bad in [
            "",
            "yes",
            "not-done",
            "not-done yesterday",
            "2026-13-01T00:00:00Z",
            "done 2026-11-20T09:30:00Z",
        ] {
            assert!(Record::parse(bad).is_err(), "{bad:?}");
        }
        let at = datetime!(2026-11-20 09:30:00 UTC);
        assert_eq!(
            Record::parse(" not-done  2026-11-20T09:30:00Z "),
            Ok(Record::NotDone(at))
        );
    }

    #[test]
    fn subjects_map_to_their_tag_keys_and_back() {
        for subject in [
            Subject::Console,
            Subject::Key("AKIAEXAMPLE".to_string()),
            Subject::Certificate("CERTEXAMPLE".to_string()),
            Subject::ServiceCredential("ACCAEXAMPLE".to_string()),
            Subject::SshKey("APKAEXAMPLE".to_string()),
        ] {
            assert_eq!(Subject::from_tag_key(&subject.tag_key()), Some(subject));
        }
        assert_eq!(Subject::Key("AKIA1".into()).tag_key(), "iam-janitor:key-disabled:AKIA1");
        assert_eq!(Subject::from_tag_key(KEY_DISABLED_PREFIX), None);
        assert_eq!(Subject::from_tag_key(RESTORED), None);
        assert_eq!(Subject::from_tag_key("IAM-JANITOR:console-disabled"), None);
    }

    #[test]
    fn only_other_spellings_of_the_tools_keys_are_case_variants() {
        for own in [
            CONSOLE_DISABLED,
            RESTORED,
            "iam-janitor:key-disabled:AKIAEXAMPLE",
            "iam-janitor:certificate-disabled:CERTEXAMPLE",
            "iam-janitor:anything-else",
            "Team",
            "iam-janitor",
            "iam-janitorx:RESTORED",
            "",
            "ü",
        ] {
            assert!(!is_case_variant(own), "{own:?}");
        }
        for variant in [
            "IAM-JANITOR:RESTORED",
            "iam-janitor:Restored",
            "Iam-Janitor:console-disabled",
            "iam-janitor:KEY-DISABLED:AKIAEXAMPLE",
            "IAM-janitor:key-disabled:AKIAEXAMPLE",
            "iam-janitor:Certificate-disabled:CERTEXAMPLE",
            "IAM-Janitor:Exempt",
        ] {
            assert!(is_case_variant(variant), "{variant:?}");
        }
    }
}
