//! `cargo xtask test`: the README's test command and exactly what `.ci/run` runs.
//!
//! It needs only Rust and Python 3 on the machine: cargo-deny is built into target/tools
//! (`cargo xtask deny`: licenses, bans, sources; advisories need a local clone of the
//! RustSec database, see supply_chain.rs), the linters' venv (cfn-lint, checkov,
//! pinned in cfn/lint/requirements.txt) is installed here, and the emulator's venv by the
//! test harness on first use. The tests build and run the x86_64 Lambda zip; afterwards
//! the default arm64 zip is built as well (and run under qemu-user when it is installed),
//! with ziglang and cargo-zigbuild from xtask/build-requirements.txt.

use std::process::Command;

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Skip fmt, clippy, the template linters and the arm64 package; run the tests only
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
    let root = iam_janitor_harness::workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    if !args.tests_only {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--check"]);
        step("cargo fmt --all --check", fmt)?;
        let mut clippy = cargo();
        clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
        step("cargo clippy --workspace --all-targets -- -D warnings", clippy)?;
        crate::supply_chain::run(crate::supply_chain::DenyArgs { advisory_db: None })?;
        eprintln!("==> template linters (cfn-lint, checkov) on cfn/templates");
        let venv = iam_janitor_harness::ensure_venv("lint-venv", &root.join("cfn/lint/requirements.txt"))
            .context("installing the template linters")?;
        crate::synth::run(crate::synth::SynthArgs {
            check: true,
            lint: Some(venv.join("bin")),
        })?;
    }
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    step("cargo test --workspace", test)?;
    if !args.tests_only {
        package_arm64()?;
    }
    Ok(())
}

/// The tests ran the x86_64 zip (tests/tests/packaged.rs); this proves that the default
/// artifact, arm64, builds too: a static aarch64 ELF, zipped. With qemu-user on the
/// machine it also runs it, through the same end-to-end test under emulation.
fn package_arm64() -> anyhow::Result<()> {
    let qemu = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("qemu-aarch64-static").is_file()))
        .unwrap_or(false);
    if qemu {
        let mut test = cargo();
        test.args([
            "test",
            "-p",
            "iam-janitor-harness",
            "--test",
            "packaged",
            "--",
            "--ignored",
            "packaged_arm64_bootstrap_runs_under_qemu",
        ]);
        return step("the arm64 zip, built and run under qemu-aarch64-static", test);
    }
    eprintln!(
        "==> cargo xtask package --arch arm64 (qemu-aarch64-static is not installed, so the arm64 binary is built \
         and checked but not run; `apt-get install qemu-user-static` runs it too)"
    );
    let artifact = crate::package::build_and_zip(crate::package::Arch::Arm64)?;
    eprintln!(
        "==> {}: {} bytes, sha256 {}",
        artifact.path.display(),
        artifact.size,
        artifact.sha256
    );
    Ok(())
}
