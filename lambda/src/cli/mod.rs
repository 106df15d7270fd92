//! `cargo xtask audit`: the engine run locally against any account, with the standard
//! AWS configuration (profile, region, credential chain, `AWS_ENDPOINT_URL`).
//!
//! The flags are an interface that scripts depend on. `--format json` prints exactly one
//! JSON document on stdout; logs go to stderr.

pub mod aws;

use std::io::Write;

use aws_config::SdkConfig;
use time::OffsetDateTime;

pub use self::aws::{AwsArgs, AwsConfigError, RegionNeed};
use crate::archive::ReportArchive;
use crate::budget::Budget;
use crate::iam::Iam;
use crate::run::{self, RunError};
use crate::settings::{Settings, SettingsArgs, SettingsError};
use crate::store::StateTable;

/// Exit status: the run could not evaluate the account (nothing changed).
pub const EXIT_ERROR: i32 = 1;
/// Exit status: a setting was invalid (nothing was read or changed).
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the circuit breaker tripped (nothing changed).
pub const EXIT_BREAKER: i32 = 3;
/// Exit status: the run finished but some changes failed (see the report).
pub const EXIT_PARTIAL: i32 = 4;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `cargo xtask audit` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Errors of the audit command.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Aws(#[from] AwsConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("could not write the report: {0}")]
    Output(#[from] std::io::Error),
}

impl AuditError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AuditError::Settings(_) => EXIT_USAGE,
            AuditError::Aws(_) | AuditError::Run(_) | AuditError::Output(_) => EXIT_ERROR,
        }
    }
}

/// The AWS configuration for `audit`, checked before any call ([`AwsArgs::load`]; IAM
/// is global, so without a Region us-east-1 signs). The settings are checked first, so
/// that an invalid flag is reported as such ([`EXIT_USAGE`]) whatever the AWS setup.
pub async fn sdk_config(args: &AuditArgs) -> Result<SdkConfig, AuditError> {
    Settings::from_args(&args.settings)?;
    Ok(args.aws.load(RegionNeed::SigningOnly).await?)
}

/// Runs the audit and writes the report. Returns the exit status (0, or
/// [`EXIT_BREAKER`] / [`EXIT_PARTIAL`]).
pub async fn run(
    args: &AuditArgs,
    config: &SdkConfig,
    now: OffsetDateTime,
    out: &mut dyn Write,
) -> Result<i32, AuditError> {
    let settings = Settings::from_args(&args.settings)?;
    let iam = Iam::new(config, settings.iam_rate);
    let now = settings.as_of.unwrap_or(now.replace_nanosecond(0).unwrap_or(now));
    let state = settings
        .state_table
        .as_deref()
        .map(|name| StateTable::new(config, name));
    let budget = settings.time_budget.map_or(Budget::NONE, Budget::of);
    let mut report = run::run(&iam, state.as_ref(), &settings, now, budget).await?;
    let archive = settings
        .report_bucket
        .as_deref()
        .map(|bucket| ReportArchive::new(config, bucket));
    crate::archive::keep(archive.as_ref(), &mut report).await;
    crate::notify::notify(&report, &settings).await;
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        Format::Table => write!(out, "{}", report.to_table())?,
    }
    Ok(if report.summary.circuit_breaker.as_ref().is_some_and(|b| b.tripped) {
        EXIT_BREAKER
    } else if report.is_failure() {
        EXIT_PARTIAL
    } else {
        0
    })
}
