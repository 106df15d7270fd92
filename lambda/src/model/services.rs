//! IAM service prefixes (`s3`, `execute-api`) and what Access Advisor says of a user's
//! use of each service.

use std::collections::BTreeSet;

use time::OffsetDateTime;

/// One service of an Access Advisor report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccess {
    pub namespace: String,
    pub name: String,
    pub last_authenticated: Option<OffsetDateTime>,
}

/// The longest service prefix accepted.
pub const MAX_SERVICE_PREFIX: usize = 64;

/// Whether `s` is an IAM service prefix (`s3`, `execute-api`, `aws-marketplace`, `a4b`):
/// `^[a-z0-9]+(-[a-z0-9]+)*$`, at most [`MAX_SERVICE_PREFIX`] characters.
pub fn is_service_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SERVICE_PREFIX
        && s.split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// Parses a keep-services tag value: namespaces separated by commas or spaces.
pub fn parse_service_list(value: &str) -> BTreeSet<String> {
    value
        .split([',', ' ', ';'])
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}
