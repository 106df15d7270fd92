//! Test harness for iam-janitor: an IAM emulator (moto on loopback behind a
//! small control API, see `tests/emulator/janitor_emulator.py`) and a webhook
//! receiver, used by the end-to-end tests and by `cargo xtask bench`/`demo`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), iam_janitor_harness::HarnessError> {
//! use iam_janitor_harness::{Emulator, SeedKey, SeedUser};
//! let emu = Emulator::start().await?;
//! let seeded = emu
//!     .seed(&[SeedUser::new("alice").with_key(SeedKey::new())])
//!     .await?;
//! let iam = emu.iam().await;
//! let keys = iam.list_access_keys().user_name("alice").send().await;
//! # let _ = (seeded, keys);
//! # Ok(())
//! # }
//! ```
//!
//! Everything is passed explicitly: the harness reads no global environment
//! for its own configuration and binds only to 127.0.0.1.

mod child_env;
mod command_run;
mod control;
mod emulator;
mod http;
mod lambda_process;
mod organization;
mod runtime_api;
mod venv;
mod webhook;

#[cfg(test)]
mod harness_tests;

use std::path::PathBuf;

pub use child_env::{emulator_client_env, scrub_env};
pub use command_run::CommandRun;
pub use control::{
    AdvisorService, CallCounts, Chaos, ChaosKind, Fault, KeyPatch, KeyStatus, SeedCertificate, SeedKey, SeedPassword,
    SeedServiceCredential, SeedSshKey, SeedUser, SeededUser, UserPatch,
};
pub use emulator::{DEFAULT_ACCOUNT_ID, Emulator, parse_credential_report};
pub use http::serve_loopback;
pub use lambda_process::{LambdaCommand, LambdaProcess};
pub use organization::{MemberAccount, Organization, OrganizationBuilder, STACKSETS_PRINCIPAL, enable_trusted_access};
pub use runtime_api::{Outcome, RuntimeApi};
pub use venv::ensure_venv;
pub use webhook::{WebhookReceiver, WebhookRequest};

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The `xtask` binary (`cargo xtask`), built once per test process, for tests that run
/// it as a user would.
pub fn xtask_binary() -> Result<PathBuf, HarnessError> {
    static BINARY: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            let output = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "xtask",
                    "--message-format=json-render-diagnostics",
                ])
                .current_dir(workspace_root())
                .output()
                .map_err(|e| format!("running cargo build -p xtask: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "cargo build -p xtask failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "xtask")
                .find_map(|m| m["executable"].as_str().map(PathBuf::from))
                .ok_or_else(|| "cargo build reported no xtask executable".to_string())
        })
        .clone()
        .map_err(|message| HarnessError::io("building xtask", std::io::Error::other(message)))
}

/// Everything that can go wrong in the harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Creating the Python venv or installing requirements.txt failed.
    #[error("setting up the emulator venv failed: {0}")]
    Venv(String),
    /// The emulator process did not come up.
    #[error("emulator failed to start: {message} (log: {})", .log.display())]
    Start { message: String, log: PathBuf },
    /// An HTTP exchange failed below the HTTP status level.
    #[error("HTTP {method} {url} failed: {message}")]
    Http {
        method: String,
        url: String,
        message: String,
    },
    /// The emulator's control API answered with an error status.
    #[error("control call {method} {path} answered {status}: {body}")]
    Control {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// A JSON body could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An AWS SDK call made by a harness helper failed.
    #[error("AWS SDK call failed: {0}")]
    Sdk(String),
    /// Anything else (e.g. an unparsable credential report).
    #[error("{0}")]
    Other(String),
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }
}
