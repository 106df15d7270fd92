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

/// A service that issues service-specific credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialService {
    /// Its name in IAM's API, e.g. `codecommit.amazonaws.com`.
    pub service: &'static str,
    /// The Access Advisor namespace that shows the credential's use.
    pub namespace: &'static str,
    /// What people call the credential.
    pub credential: &'static str,
}

/// The services that issue service-specific credentials: CodeCommit HTTPS Git
/// credentials (`codecommit`), Amazon Keyspaces (`cassandra`) and Bedrock API keys
/// (`bedrock`).
pub const SERVICE_CREDENTIAL_SERVICES: [CredentialService; 3] = [
    CredentialService {
        service: "codecommit.amazonaws.com",
        namespace: "codecommit",
        credential: "CodeCommit Git credential",
    },
    CredentialService {
        service: "cassandra.amazonaws.com",
        namespace: "cassandra",
        credential: "Keyspaces credential",
    },
    CredentialService {
        service: "bedrock.amazonaws.com",
        namespace: "bedrock",
        credential: "Bedrock API key",
    },
];
