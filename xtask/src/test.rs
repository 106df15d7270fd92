//! `cargo xtask test`: the README's test command and exactly what `.ci/run` runs.
//!
//! It needs only Rust and Python 3 on the machine: the linters' venv (cfn-lint, checkov,
//! pinned in cfn/lint/requirements.txt) is installed here, and the emulator's venv by the
//! test harness on first use.

use std::process::Command;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skip fmt, clippy and the template linters; run the tests only
    #[arg(long)]
    pub tests_only: bool,
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn step(name: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("==> {name}");
    let status = command.status().with_context(|| format!("could not start {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let root = iam_janitor_tests::workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    if !args.tests_only {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--check"]);
        step("cargo fmt --all --check", fmt)?;
        let mut clippy = cargo();
        clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
        step("cargo clippy --workspace --all-targets -- -D warnings", clippy)?;
        eprintln!("==> template linters (cfn-lint, checkov) on cfn/templates");
        let venv = iam_janitor_tests::ensure_venv("lint-venv", &root.join("cfn/lint/requirements.txt"))
            .context("installing the template linters")?;
        crate::synth::run(crate::synth::SynthArgs {
            check: true,
            lint: Some(venv.join("bin")),
        })?;
    }
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    step("cargo test --workspace", test)
}
