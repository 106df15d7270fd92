//! Project tasks, run as `cargo xtask <task>` (the cargo-xtask pattern).
//!
//! - `audit`: the engine run locally against any account (see `iam_janitor::audit`).
//! - `test`: everything CI runs: formatting, clippy, and the whole test suite.
//! - `bench`: IAM calls and wall time of `audit` on the emulator at 1,000 and 5,000 users.

mod bench;
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
    /// Run the engine against an account (report only unless --enforce)
    Audit(Box<iam_janitor::audit::AuditArgs>),
    /// Run what CI runs: fmt --check, clippy -D warnings, all tests
    Test(test::TestArgs),
    /// Measure IAM calls and wall time of audit runs on the emulator
    Bench(bench::BenchArgs),
    /// Generate cfn/templates (CloudFormation and the permissions summary) from cfn/src
    Synth(synth::SynthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Audit(args) => audit(*args),
        Task::Test(args) => test::run(args).map(|()| 0),
        Task::Bench(args) => bench::run(args).map(|()| 0),
        Task::Synth(args) => synth::run(args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
}

fn audit(args: iam_janitor::audit::AuditArgs) -> anyhow::Result<i32> {
    init_logs();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let config = iam_janitor::audit::sdk_config(&args).await;
        let mut stdout = std::io::stdout().lock();
        match iam_janitor::audit::run(&args, &config, time::OffsetDateTime::now_utc(), &mut stdout).await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(e.exit_code())
            }
        }
    })
}
