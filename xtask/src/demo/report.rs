//! The organization's view at the end of the demo: the real `cargo xtask report` (this
//! binary, as a subprocess with the standard AWS environment pointing at the emulator)
//! over the reports every account's runs stored, as the table and as the HTML page.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use iam_janitor_harness::Emulator;

use super::REGION;
use super::deploy::empty_aws_config;
use super::render::{Out, relative};

/// The HTML page's file in the demo's directory.
pub(super) const HTML_FILE: &str = "org-report.html";

/// Runs `cargo xtask report <args>`; its stdout.
async fn report(root: &Path, dir: &Path, emu: &Emulator, args: &[&str]) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this program (cargo xtask) to run report with")?;
    let nowhere = empty_aws_config(dir)?;
    let mut command = tokio::process::Command::new(&exe);
    command.arg("report").args(args).current_dir(root).stdin(Stdio::null());
    iam_janitor_harness::emulator_client_env(command.as_std_mut(), &emu.endpoint(), REGION, &nowhere)
        .env("RUST_LOG", "warn");
    let output = command
        .output()
        .await
        .with_context(|| format!("could not run {} report", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "cargo xtask report {} failed ({}):\n{stdout}\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// Shows the organization's view as a table, and writes it as one HTML page; returns the
/// page's path.
pub(super) async fn show_org_report(out: &Out, root: &Path, dir: &Path, emu: &Emulator) -> anyhow::Result<PathBuf> {
    out.section(
        "The organization's view",
        "cargo xtask report: every account's stored run reports (reports/account=<id>/date=<day>/ in the \
         management account's report bucket) read back as one view",
    );
    let table = report(root, dir, emu, &["--days", "7"]).await?;
    for line in table.lines() {
        println!("   {line}");
    }
    let html = dir.join(HTML_FILE);
    let path = html.to_string_lossy().into_owned();
    report(root, dir, emu, &["--days", "7", "--format", "html", "--output", &path]).await?;
    println!(
        "\n   {} the same as one HTML page to share (no external scripts or fonts): {}",
        out.ok(),
        relative(root, &html)
    );
    Ok(html)
}
