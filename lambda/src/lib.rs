//! iam-janitor's engine: finds IAM credentials unused for more than N days and disables
//! them, warning before the limit, and takes away the services each user has not used
//! (IAM Access Advisor), with exemptions, a circuit breaker, live confirmation before
//! every write, an audit trail on the user, and a Slack digest.
//!
//! Layers (see ARCHITECTURE.md), each importing only the ones above it:
//!
//! - [`trail`]: the audit trail's tag keys and records, [`backoff`], the one poller, and
//!   [`budget`], a run's time budget (they import nothing of the crate);
//! - [`model`]: plain data: the credential report, the inventory, the run's report;
//! - [`settings`]: what a run is told to do, validated;
//! - [`iam`]: the IAM adapter, the only code that calls IAM; [`store`]: the state
//!   table's adapter, the only code that calls DynamoDB; [`archive`]: the organization's
//!   report bucket's, the only code that calls S3; [`organizations`]: the
//!   organization's accounts, the only code that calls Organizations;
//! - [`dormant`] and [`least_privilege`]: the two features, each a pure decision plus
//!   the I/O that applies it;
//! - [`restore`]: undo, from the audit trail;
//! - [`run`]: one run: inventory, both features, the circuit breaker, the report;
//! - [`notify`]: the Slack digests (a run's, the organization's);
//! - [`cli`] and [`handler`]: the two front ends (`cargo xtask audit` and the Lambda).

pub mod archive;
pub mod backoff;
pub mod budget;
pub mod cli;
pub mod dormant;
pub mod handler;
pub mod iam;
pub mod least_privilege;
pub mod model;
pub mod notify;
pub mod organizations;
pub mod restore;
pub mod run;
pub mod sdk_error;
pub mod settings;
pub mod store;
pub mod trail;
