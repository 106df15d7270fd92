//! JSON shapes of the emulator's control API (`/_janitor/...`).
//!
//! Timestamps travel as RFC 3339 strings. Patch structs use
//! `Option<Option<OffsetDateTime>>`: `None` leaves a field unchanged,
//! `Some(None)` clears it, `Some(Some(t))` sets it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;

/// Serialize `Some(Some(t))` as an RFC 3339 string and `Some(None)` as
/// `null`; `None` is skipped by `skip_serializing_if`.
fn opt_opt_rfc3339<S: Serializer>(value: &Option<Option<OffsetDateTime>>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(Some(t)) => time::serde::rfc3339::serialize(t, serializer),
        _ => serializer.serialize_none(),
    }
}

/// One user for [`crate::Emulator::seed`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedUser {
    pub name: String,
    /// IAM path, default `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<OffsetDateTime>,
    /// `Some` gives the user a console password (login profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SeedPassword>,
    /// At most two, like IAM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SeedKey>,
    /// Signing certificates, at most two like IAM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<SeedCertificate>,
    /// Service-specific credentials (CodeCommit Git, Keyspaces, Bedrock API keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_credentials: Vec<SeedServiceCredential>,
    /// SSH public keys (CodeCommit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<SeedSshKey>,
    /// AWS managed policies (`arn:aws:iam::aws:policy/...`) are created on
    /// demand; customer managed ones must exist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_policy_arns: Vec<String>,
}

impl SeedUser {
    pub fn new(name: impl Into<String>) -> Self {
        SeedUser {
            name: name.into(),
            ..SeedUser::default()
        }
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn created(mut self, at: OffsetDateTime) -> Self {
        self.create_date = Some(at);
        self
    }

    pub fn with_password(mut self, password: SeedPassword) -> Self {
        self.password = Some(password);
        self
    }

    pub fn with_key(mut self, key: SeedKey) -> Self {
        self.keys.push(key);
        self
    }

    pub fn with_certificate(mut self, certificate: SeedCertificate) -> Self {
        self.certificates.push(certificate);
        self
    }

    pub fn with_service_credential(mut self, credential: SeedServiceCredential) -> Self {
        self.service_credentials.push(credential);
        self
    }

    pub fn with_ssh_key(mut self, key: SeedSshKey) -> Self {
        self.ssh_keys.push(key);
        self
    }

    pub fn with_policy(mut self, arn: impl Into<String>) -> Self {
        self.managed_policy_arns.push(arn.into());
        self
    }
}

/// A console password (login profile) for a seeded user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedPassword {
    /// When the password was set (credential report `password_last_changed`,
    /// `GetLoginProfile` `CreateDate`). Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<OffsetDateTime>,
    /// `None`: never used (`no_information` in the report).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
}

impl SeedPassword {
    pub fn new() -> Self {
        SeedPassword::default()
    }

    pub fn changed(mut self, at: OffsetDateTime) -> Self {
        self.last_changed = Some(at);
        self
    }

    pub fn used(mut self, at: OffsetDateTime) -> Self {
        self.last_used = Some(at);
        self
    }
}

/// Access key status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    #[default]
    Active,
    Inactive,
}

/// An access key for a seeded user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedKey {
    /// Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<OffsetDateTime>,
    /// `None`: never used.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
    /// Default `iam`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
    /// Default `us-east-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
    pub status: KeyStatus,
}

impl SeedKey {
    pub fn new() -> Self {
        SeedKey::default()
    }

    pub fn created(mut self, at: OffsetDateTime) -> Self {
        self.create_date = Some(at);
        self
    }

    pub fn used(mut self, at: OffsetDateTime) -> Self {
        self.last_used = Some(at);
        self
    }

    pub fn used_by(mut self, service: impl Into<String>, region: impl Into<String>) -> Self {
        self.last_used_service = Some(service.into());
        self.last_used_region = Some(region.into());
        self
    }

    pub fn inactive(mut self) -> Self {
        self.status = KeyStatus::Inactive;
        self
    }
}

/// An X.509 signing certificate for a seeded user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedCertificate {
    /// Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub upload_date: Option<OffsetDateTime>,
    pub status: KeyStatus,
}

impl SeedCertificate {
    pub fn uploaded(at: OffsetDateTime) -> Self {
        SeedCertificate {
            upload_date: Some(at),
            status: KeyStatus::Active,
        }
    }

    pub fn inactive(mut self) -> Self {
        self.status = KeyStatus::Inactive;
        self
    }
}

/// A service-specific credential for a seeded user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedServiceCredential {
    /// `codecommit.amazonaws.com`, `cassandra.amazonaws.com` or `bedrock.amazonaws.com`.
    pub service: String,
    /// Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<OffsetDateTime>,
    pub status: KeyStatus,
}

impl SeedServiceCredential {
    pub fn new(service: impl Into<String>, created: OffsetDateTime) -> Self {
        SeedServiceCredential {
            service: service.into(),
            create_date: Some(created),
            status: KeyStatus::Active,
        }
    }
}

/// An SSH public key for a seeded user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedSshKey {
    /// Default: now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub upload_date: Option<OffsetDateTime>,
    pub status: KeyStatus,
}

impl SeedSshKey {
    pub fn uploaded(at: OffsetDateTime) -> Self {
        SeedSshKey {
            upload_date: Some(at),
            status: KeyStatus::Active,
        }
    }
}

/// What [`crate::Emulator::seed`] created, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SeededUser {
    pub name: String,
    pub arn: String,
    pub access_key_ids: Vec<String>,
    #[serde(default)]
    pub certificate_ids: Vec<String>,
    #[serde(default)]
    pub service_credential_ids: Vec<String>,
    #[serde(default)]
    pub ssh_key_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SeedResponse {
    pub users: Vec<SeededUser>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SeedRequest<'a> {
    pub users: &'a [SeedUser],
}

/// Changes to a user for [`crate::Emulator::set_user`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPatch {
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<OffsetDateTime>,
    #[serde(serialize_with = "opt_opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<Option<OffsetDateTime>>,
    #[serde(serialize_with = "opt_opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub password_last_changed: Option<Option<OffsetDateTime>>,
}

/// Changes to an access key for [`crate::Emulator::set_access_key`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyPatch {
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub create_date: Option<OffsetDateTime>,
    #[serde(serialize_with = "opt_opt_rfc3339", skip_serializing_if = "Option::is_none")]
    pub last_used: Option<Option<OffsetDateTime>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
}

/// A fault rule: the next `count` IAM calls of `action` (only those whose
/// `UserName` parameter equals `user`, if set) fail with this error.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub action: String,
    pub count: u32,
    pub code: String,
    pub status: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Fault {
    /// `Throttling` / 400 / "Rate exceeded", as IAM answers when throttling.
    pub fn throttling(action: impl Into<String>, count: u32) -> Self {
        Fault {
            action: action.into(),
            count,
            code: "Throttling".into(),
            status: 400,
            message: "Rate exceeded".into(),
            user: None,
        }
    }

    /// Any error code and status.
    pub fn error(
        action: impl Into<String>,
        count: u32,
        code: impl Into<String>,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        Fault {
            action: action.into(),
            count,
            code: code.into(),
            status,
            message: message.into(),
            user: None,
        }
    }

    /// Only match calls whose `UserName` parameter is `user`.
    pub fn for_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }
}

/// Chaos: a seeded fraction of IAM calls fails with one of `kinds`. Which calls is a
/// function of the seed, the request's content and how many times the same request
/// was seen, so concurrent calls arriving in another order meet the same faults.
#[derive(Debug, Clone, Serialize)]
pub struct Chaos {
    pub seed: u64,
    /// 0.0 to 1.0.
    pub fraction: f64,
    pub kinds: Vec<ChaosKind>,
    /// Only these IAM actions (all when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Only requests signed with this access key ID (all when `None`), so that a test
    /// can read the state with other credentials while the code under test meets faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChaosKind {
    /// 400 Throttling.
    #[serde(rename = "throttle")]
    Throttle,
    /// 500 ServiceFailure.
    #[serde(rename = "5xx")]
    ServerError,
    /// The connection closes before the request is looked at.
    #[serde(rename = "drop-before")]
    DropBefore,
    /// The request takes effect, then the connection closes without an answer.
    #[serde(rename = "drop-after")]
    DropAfter,
}

impl ChaosKind {
    pub const ALL: [ChaosKind; 4] = [
        ChaosKind::Throttle,
        ChaosKind::ServerError,
        ChaosKind::DropBefore,
        ChaosKind::DropAfter,
    ];
}

/// IAM calls received since the last reset, by action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallCounts {
    pub calls: BTreeMap<String, u64>,
    pub total: u64,
    /// Requests answered Throttling by the account's request-rate limit, by action.
    #[serde(default)]
    pub throttled: BTreeMap<String, u64>,
    /// DynamoDB requests (the engine's state table), by operation; not in `calls`.
    #[serde(default)]
    pub dynamodb: BTreeMap<String, u64>,
    /// S3 requests, by operation (`PutObject`, `ListObjectsV2`, ...); not in `calls`.
    #[serde(default)]
    pub s3: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Calls of one action (0 if none).
    pub fn get(&self, action: &str) -> u64 {
        self.calls.get(action).copied().unwrap_or(0)
    }
}

/// One service in a user's Access Advisor data.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisorService {
    /// e.g. `s3`.
    pub namespace: String,
    /// e.g. `Amazon S3`.
    pub name: String,
    /// `None`: never accessed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_authenticated: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_authenticated_region: Option<String>,
}

impl AdvisorService {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        last_authenticated: Option<OffsetDateTime>,
    ) -> Self {
        AdvisorService {
            namespace: namespace.into(),
            name: name.into(),
            last_authenticated,
            last_authenticated_region: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct AdvisorRequest<'a> {
    pub services: &'a [AdvisorService],
}
