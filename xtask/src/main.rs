//! Project tasks, run as `cargo xtask <task>` (the cargo-xtask pattern).
//!
//! - `demo`: the whole product on a local emulator, in one command (see `demo`).
//! - `audit`: the engine run locally against any account (see `iam_janitor::cli`).
//! - `test`: everything CI runs: formatting, clippy, and the whole test suite.
//! - `bench`: IAM calls and wall time of `audit` on the emulator at 1,000 and 5,000 users.
//! - `package`: the Lambda zip (see `package`).
//! - `deploy` / `destroy`: iam-janitor in every account of an organization (see `deploy`).
//! - `restore`: undo what the engine did to one user (see SECURITY.md).
//! - `report`: the organization's view over every account's stored run reports (see `report`).

mod bench;
mod demo;
mod deploy;
mod package;
mod report;
mod restore;
mod supply_chain;
mod synth;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "iam-janitor project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// See iam-janitor do its whole job on a local AWS emulator: package, deploy to a demo organization, run
    Demo(demo::DemoArgs),
    /// Run the engine against an account (report only unless --enforce)
    Audit(Box<iam_janitor::cli::AuditArgs>),
    /// Run what CI runs: fmt --check, clippy -D warnings, all tests
    Test(test::TestArgs),
    /// Measure IAM calls and wall time of audit runs on the emulator
    Bench(bench::BenchArgs),
    /// Generate cfn/templates (CloudFormation and the permissions summary) from cfn/src
    Synth(synth::SynthArgs),
    /// Build the Lambda zip: static musl bootstrap, reproducible, target/lambda/<arch>/bootstrap.zip
    Package(package::PackageArgs),
    /// Roll iam-janitor out to every account of the organization (StackSets) and the management account
    Deploy(Box<deploy::DeployArgs>),
    /// Remove what deploy created (the code bucket too with --all)
    Destroy(Box<deploy::DestroyArgs>),
    /// Undo what iam-janitor did to one user: keys, console password, denied services
    Restore(restore::RestoreArgs),
    /// The organization's view: every account's stored run reports (stale, missing, failed, changed, trend) as a table, JSON or one HTML page
    Report(Box<report::ReportArgs>),
    /// Supply-chain check with cargo-deny: licenses, bans, sources (and advisories offline)
    Deny(supply_chain::DenyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.task {
        Task::Audit(args) => init_logs(args.aws.verbose),
        Task::Deploy(args) => init_logs(args.aws.verbose),
        Task::Destroy(args) => init_logs(args.aws.verbose),
        Task::Restore(args) => init_logs(args.aws.verbose),
        Task::Report(args) => init_logs(args.aws.verbose),
        _ => {}
    }
    let result = match cli.task {
        Task::Demo(args) => demo::run(args).map(|()| 0),
        Task::Audit(args) => audit(*args),
        Task::Test(args) => test::run(args).map(|()| 0),
        Task::Bench(args) => bench::run(args).map(|()| 0),
        Task::Synth(args) => synth::run(args).map(|()| 0),
        Task::Package(args) => package::run(args).map(|()| 0),
        Task::Deploy(args) => deploy::deploy(*args).map(|()| 0),
        Task::Destroy(args) => deploy::destroy(*args).map(|()| 0),
        Task::Deny(args) => supply_chain::run(args).map(|()| 0),
        Task::Restore(args) => restore::run(args).map(|()| 0),
        Task::Report(args) => report::run(*args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs of the commands that call AWS (audit, deploy, destroy, restore, report) go to stderr,
/// filtered by [`log_filter`].
fn init_logs(verbose: u8) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(rust_log.as_deref(), verbose))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(None, verbose)));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

/// This tool's own crates, whose warnings are always shown.
const OWN_CRATES: [&str; 4] = ["iam_janitor", "iam_janitor_cfn", "iam_janitor_harness", "xtask"];

/// The log filter: `RUST_LOG` if it is set; else this tool's warnings and, from every
/// other crate (the AWS SDK, hyper, rustls), errors only, so that the SDK's retries and
/// instance-metadata probes stay quiet; `-v` adds other crates' warnings and this tool's
/// info, `-vv` is debug.
fn log_filter(rust_log: Option<&str>, verbose: u8) -> String {
    let own = |level: &str| OWN_CRATES.map(|name| format!("{name}={level}")).join(",");
    match (rust_log.map(str::trim).filter(|filter| !filter.is_empty()), verbose) {
        (Some(filter), _) => filter.to_string(),
        (None, 0) => format!("error,{}", own("warn")),
        (None, 1) => format!("warn,{}", own("info")),
        (None, _) => "debug".to_string(),
    }
}

fn audit(args: iam_janitor::cli::AuditArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let run = async {
            let config = iam_janitor::cli::sdk_config(&args).await?;
            let mut stdout = std::io::stdout().lock();
            iam_janitor::cli::run(&args, &config, time::OffsetDateTime::now_utc(), &mut stdout).await
        };
        match run.await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(e.exit_code())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::CommandFactory;

    use super::*;

    /// Every numeric flag (one whose default is a number) lets `-5` reach its own range
    /// check, so that the error names the flag and the range rather than saying
    /// "unexpected argument '-5' found".
    #[test]
    fn negative_numbers_reach_each_numeric_flags_own_check() {
        let cli = Cli::command();
        let mut checked = 0;
        for task in cli.get_subcommands() {
            for arg in task.get_arguments() {
                let numeric = arg.get_default_values().iter().any(|d| {
                    d.to_str()
                        .is_some_and(|d| d.split(',').all(|n| n.parse::<i64>().is_ok()))
                });
                let Some(long) = arg.get_long().filter(|_| numeric) else {
                    continue;
                };
                checked += 1;
                assert!(arg.is_allow_negative_numbers_set(), "{} --{long}", task.get_name());
                let flag = format!("--{long}");
                let err = Cli::try_parse_from(["cargo xtask", task.get_name(), flag.as_str(), "-5"]).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{flag}: {err}");
                assert!(err.to_string().contains(&flag), "{err}");
            }
        }
        // audit's settings (checked by the settings table), bench's four, deploy's three.
        assert!(checked >= 7, "{checked}");
    }

    #[test]
    fn the_aws_sdks_warnings_wait_for_verbose_or_rust_log() {
        let quiet = log_filter(None, 0);
        assert_eq!(
            quiet,
            "error,iam_janitor=warn,iam_janitor_cfn=warn,iam_janitor_harness=warn,xtask=warn"
        );
        let filter = tracing_subscriber::EnvFilter::try_new(&quiet).unwrap();
        assert_eq!(filter.max_level_hint(), Some(tracing::level_filters::LevelFilter::WARN));
        assert!(log_filter(None, 1).starts_with("warn,iam_janitor=info,"));
        assert_eq!(log_filter(None, 2), "debug");
        assert_eq!(log_filter(Some("aws_config=debug"), 0), "aws_config=debug");
        assert_eq!(log_filter(Some("info"), 2), "info", "RUST_LOG decides");
        assert_eq!(log_filter(Some("  "), 0), quiet, "an empty RUST_LOG is unset");
    }

    #[test]
    fn every_command_that_calls_aws_takes_verbose() {
        for task in ["audit", "restore", "deploy", "destroy", "report"] {
            let cli = Cli::try_parse_from(["cargo xtask", task, "-vv", "--help"]).unwrap_err();
            assert!(cli.to_string().contains("-v, --verbose"), "{task}: {cli}");
        }
    }
}
