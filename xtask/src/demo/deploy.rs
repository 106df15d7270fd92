//! The demo's deploy: the real `cargo xtask deploy` run against the emulator, its key
//! lines shown, and the engine settings the deployed stacks hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use iam_janitor::settings::table;
use iam_janitor_cfn::stacks::member;
use iam_janitor_harness::Emulator;

use super::REGION;
use super::render::{Out, relative, short_hashes, wrap};
use crate::package::{Arch, Artifact};

/// What deploy names the StackSet and the management account's stack.
const STACK: &str = "iam-janitor";

/// An empty file for `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`: nothing from
/// `~/.aws` reaches the emulator.
pub(super) fn empty_aws_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("empty-aws-config");
    std::fs::write(&path, "").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `cargo xtask deploy` (this binary) with the standard AWS environment pointing at the
/// emulator; its key lines are shown, all of it goes to `<dir>/deploy.log`.
pub(super) async fn deploy(
    out: &Out,
    root: &Path,
    dir: &Path,
    emu: &Emulator,
    artifact: &Artifact,
    org_units: &[String],
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find this program (cargo xtask) to run deploy with")?;
    let mut args = vec![
        "deploy".to_string(),
        "--zip".to_string(),
        relative(root, &artifact.path),
        "--arch".to_string(),
        Arch::X86_64.name().to_string(),
        // The demo enforces by a manual invoke in an organization deployed to report.
        "--invoke-override".to_string(),
        "on".to_string(),
        // Who hears of a failed or missed run in any account.
        "--alarm-email".to_string(),
        "security@example.com".to_string(),
    ];
    for ou in org_units {
        args.push("--org-unit".to_string());
        args.push(ou.clone());
    }
    args.push("--yes".to_string());
    out.section("Deploy to the organization", "");
    // The command as one would type it, the OUs on a line of their own.
    let (head, targets) = args.split_at(args.len().min(9));
    println!("   cargo xtask {} \\\n     {}", head.join(" "), targets.join(" "));

    let nowhere = empty_aws_config(dir)?;
    let mut command = tokio::process::Command::new(&exe);
    command.args(&args).current_dir(root).stdin(Stdio::null());
    iam_janitor_harness::emulator_client_env(command.as_std_mut(), &emu.endpoint(), REGION, &nowhere)
        .env("RUST_LOG", "warn");
    let output = command
        .output()
        .await
        .with_context(|| format!("could not run {} deploy", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = dir.join("deploy.log");
    std::fs::write(&log, format!("$ cargo xtask {}\n{stdout}\n{stderr}", args.join(" ")))
        .with_context(|| format!("writing {}", log.display()))?;
    if !output.status.success() {
        bail!("cargo xtask deploy failed ({}):\n{stdout}\n{stderr}", output.status);
    }
    for (step, outcome) in deploy_steps(&stderr) {
        println!(
            "{}",
            wrap(
                &format!("{step}: {}", short_hashes(&outcome)),
                &format!("   {} ", out.ok()),
                "     "
            )
        );
    }
    let resources: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("+ "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    if !resources.is_empty() {
        println!(
            "{}",
            wrap(
                &format!("the stack in every account: {}", resources.join(", ")),
                "   ",
                "     "
            )
        );
    }
    // Who hears of failures, and the modes, as the plan says them.
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("  alerts: ") || l.starts_with("  mode: "))
    {
        println!("{}", wrap(line.trim_start(), "   ", "     "));
    }
    if let Some(done) = stdout.lines().find(|l| l.starts_with("Deployed ")) {
        println!("{}", wrap(done, "   ", "   "));
    }
    println!("   full output: {}", relative(root, &log));
    Ok(())
}

/// Deploy's progress (plain lines on stderr without a terminal: `==> step`, then
/// indented updates, the last one its outcome), as (step, outcome), without the
/// reading step.
fn deploy_steps(stderr: &str) -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in stderr.lines() {
        if let Some(step) = line.strip_prefix("==> ") {
            steps.push((step.to_string(), String::new()));
        } else if let Some(update) = line.strip_prefix("    ")
            && let Some((_, outcome)) = steps.last_mut()
        {
            *outcome = update.trim().to_string();
        }
    }
    steps.retain(|(step, _)| !step.starts_with("reading "));
    steps
}

/// The engine settings the deployed stacks hold, as the function's environment:
/// the management stack's parameters, and the StackSet's for the members (no stack
/// instance overrides them). Slack is left out: the demo points it at a local webhook.
pub(super) struct DeployedSettings {
    pub(super) management: Vec<(String, String)>,
    pub(super) members: Vec<(String, String)>,
}

pub(super) async fn deployed_settings(emu: &Emulator) -> anyhow::Result<DeployedSettings> {
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk_config().await);
    let stacks = cfn
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .with_context(|| format!("DescribeStacks {STACK}"))?;
    let stack = stacks
        .stacks()
        .first()
        .with_context(|| format!("the stack {STACK} is not deployed"))?;
    let management = as_environment(
        stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?, p.parameter_value().unwrap_or_default()))),
    );
    let set = cfn
        .describe_stack_set()
        .stack_set_name(STACK)
        .send()
        .await
        .with_context(|| format!("DescribeStackSet {STACK}"))?;
    let set = set
        .stack_set()
        .with_context(|| format!("the StackSet {STACK} is not deployed"))?;
    let members = as_environment(
        set.parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?, p.parameter_value().unwrap_or_default()))),
    );
    Ok(DeployedSettings { management, members })
}

fn as_environment<'a>(parameters: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let parameters: BTreeMap<&str, &str> = parameters.collect();
    // A secret (the Slack webhook) reads back masked: the demo gives its own.
    table::settings()
        .into_iter()
        .filter(|s| !s.is_secret())
        .filter_map(|s| {
            let parameter = s.deployed?.parameter;
            Some((s.env?.to_string(), parameters.get(parameter.as_str())?.to_string()))
        })
        // The organization's report bucket: a deployment parameter, in the engine's variable
        // as the stack passes it.
        .chain(
            parameters
                .get(member::REPORT_BUCKET.as_str())
                .map(|bucket| (member::REPORT_BUCKET_ENV.to_string(), bucket.to_string())),
        )
        .collect()
}

pub(super) fn describe_settings(settings: &[(String, String)]) -> String {
    let get = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("?")
    };
    format!(
        "mode {}, dormant after {} days, warnings {} days before, least privilege {}, max {} changes",
        get("IAM_JANITOR_MODE"),
        get("IAM_JANITOR_DORMANT_DAYS"),
        get("IAM_JANITOR_WARN_DAYS"),
        get("IAM_JANITOR_LEAST_PRIVILEGE"),
        get("IAM_JANITOR_MAX_ACTIONS")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn deploy_progress_is_condensed_to_outcomes() {
        let stderr = "==> reading the organization and what is deployed\n    done\n==> StackSet iam-janitor\n    \
                      created\n    operation 1: SUCCEEDED\n    deployed (3 stack instance(s) in us-east-1)\n";
        assert_eq!(
            deploy_steps(stderr),
            [(
                "StackSet iam-janitor".to_string(),
                "deployed (3 stack instance(s) in us-east-1)".to_string()
            )]
        );
        let sha = "80c1523a6de18181de4a833558cf73ce357695ffe89a44af1856224a4fec54d6";
        assert_eq!(
            short_hashes(&format!("s3://b/iam-janitor/{sha}.zip (5 bytes)")),
            "s3://b/iam-janitor/80c1523a6de1….zip (5 bytes)"
        );
    }

    #[test]
    fn deployed_parameters_become_the_functions_environment() {
        let environment = as_environment(
            [
                ("Mode", "report"),
                ("DormantDays", "90"),
                ("SlackWebhook", "****"),
                ("CodeKey", "x.zip"),
                ("ReportBucket", "iam-janitor-reports-1-us-east-1"),
            ]
            .into_iter(),
        );
        assert_eq!(
            environment,
            [
                ("IAM_JANITOR_MODE".to_string(), "report".to_string()),
                ("IAM_JANITOR_DORMANT_DAYS".to_string(), "90".to_string()),
                (
                    "IAM_JANITOR_REPORT_BUCKET".to_string(),
                    "iam-janitor-reports-1-us-east-1".to_string()
                )
            ]
        );
    }
}
