//! `cargo xtask demo`: the whole product on a local AWS emulator, in one command.
//!
//! 1. packages the Lambda (the real `package`, x86_64 so that the bootstrap runs natively
//!    here) while the emulator starts (moto on 127.0.0.1; its venv is installed on first
//!    use);
//! 2. creates a demo organization: the management account and three member accounts in
//!    two OUs, each holding IAM users with a story (active, dormant, never used, two keys,
//!    exempt break-glass, new user in grace, over-privileged with Access Advisor data);
//! 3. runs the real `deploy` (this binary, as a subprocess with the standard AWS
//!    environment) to both OUs and the management account, and shows its key lines;
//! 4. runs the packaged `bootstrap` in every account the way Lambda does: a process under
//!    a local Lambda Runtime API, with that account's credentials (`sts:AssumeRole` into
//!    its `OrganizationAccountAccessRole`, the management account's own), the settings
//!    the deployed stacks hold and a local Slack webhook. It is invoked with the
//!    scheduled event (report mode, as deployed), then with `{"mode":"enforce"}` (the
//!    demo deploys with `--invoke-override on`, which allows that); the
//!    Slack digests are printed as they would read in Slack;
//! 5. prints a per-account summary;
//! 6. shows the organization's view: the real `cargo xtask report` over the reports every
//!    run stored in the management account's report bucket, as a table and as one HTML
//!    page (`<target>/demo/org-report.html`);
//! 7. invokes the management account's function with `{"iam-janitor":"org-digest"}` (what
//!    its `OrgDigestSchedule` rule sends) and prints the organization digest it posts;
//!    then stops everything it started (by PID) unless `--keep` leaves the emulator
//!    running for the AWS CLI and `cargo xtask audit`.
//!
//! Files go to `<target>/demo/`: the deploy output, each Lambda's log, and with `--keep`
//! one environment file per account.
//!
//! The flow is here; [`org`] builds the demo organization, [`deploy`](mod@deploy) runs
//! `deploy` against it, [`lambda`] runs the packaged bootstrap in every account,
//! [`report`] shows the organization's view, [`render`] prints the digests, the summary and the rest of the output, [`keep`] is
//! `--keep`.

mod deploy;
mod keep;
mod lambda;
mod org;
mod render;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use iam_janitor_harness::{Emulator, WebhookReceiver, workspace_root};
use time::OffsetDateTime;

use self::deploy::{deploy, deployed_settings, describe_settings};
use self::keep::{print_keep, write_env_files};
use self::lambda::{account_credentials, extract_bootstrap, lambda_log, run_accounts, run_org_digest};
use self::org::{create_organization, plans};
use self::render::{
    Out, count, megabytes, print_accounts, print_digests, print_org_digest, print_summary, relative, short_hash, wrap,
};
use self::report::show_org_report;
use crate::package::{self, Arch};

const REGION: &str = "us-east-1";
/// The role Organizations creates in every account it creates.
const MEMBER_ROLE: &str = "OrganizationAccountAccessRole";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Leave the emulator running at the end (as the runs left it) and print how to use it
    #[arg(long)]
    pub keep: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(demo(args, started))
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

async fn demo(args: DemoArgs, started: Instant) -> anyhow::Result<()> {
    let out = Out::detect();
    let root = workspace_root();
    let dir = target_dir(&root).join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    println!(
        "{}",
        out.bold("iam-janitor demo: the whole product on a local AWS emulator, no AWS account needed")
    );

    // 1. Package, while the emulator starts (it prints nothing).
    out.section(
        "Package the Lambda",
        "cargo xtask package --arch x86_64 (deploy's default is arm64; x86_64 runs natively here)",
    );
    // Where the harness keeps it (always under <root>/target).
    let fresh_venv = !root
        .join("target")
        .join("emulator-venv")
        .join("bin")
        .join("python")
        .exists();
    if fresh_venv {
        println!("   (meanwhile: installing the AWS emulator, moto, into target/emulator-venv)");
    }
    let packaging = tokio::task::spawn_blocking(|| package::build_and_zip(Arch::X86_64));
    let (emulator, artifact) = tokio::join!(Emulator::start(), packaging);
    let artifact = artifact.context("the packaging task failed")??;
    let emu = emulator.context("starting the AWS emulator")?;
    println!(
        "   {} {} · {} · sha256 {}",
        out.ok(),
        relative(&root, &artifact.path),
        megabytes(artifact.size),
        short_hash(&artifact.sha256)
    );

    // 2. The organization, 3. deploy.
    out.section(
        "A local AWS organization",
        &format!("moto on {} (pid {})", emu.endpoint(), emu.pid()),
    );
    let org = create_organization(&emu, plans(OffsetDateTime::now_utc())).await?;
    let accounts = &org.accounts;
    println!(
        "   organization {}: all features, trusted access for CloudFormation StackSets",
        org.id
    );
    print_accounts(accounts);

    deploy(&out, &root, &dir, &emu, &artifact, &org.org_units).await?;

    // 4. and 5. The runs.
    let settings = deployed_settings(&emu).await?;
    let bootstrap = extract_bootstrap(&artifact.path, &dir)?;
    let webhook = Arc::new(
        WebhookReceiver::start()
            .await
            .context("starting the local Slack webhook")?,
    );
    let credentials = account_credentials(&emu, accounts).await?;
    out.section(
        "Every account's scheduled run",
        "report mode, as deployed: nothing is changed",
    );
    println!(
        "{}",
        wrap(
            &format!(
                "Each account runs the packaged bootstrap as Lambda would: a process under a local Lambda Runtime \
                 API, with that account's credentials ({MEMBER_ROLE} in the members), the settings the deployed \
                 stacks hold ({}) and Slack pointed at a local webhook.",
                describe_settings(&settings.members),
            ),
            "   ",
            "   "
        )
    );
    let runs = run_accounts(&bootstrap, &emu, accounts, &credentials, &settings, &webhook, &dir).await?;
    for (account, run) in accounts.iter().zip(&runs) {
        print_digests(&out, account, &run.report_digests);
    }

    out.section(
        "A manual invoke in every account",
        r#"{"mode":"enforce"}: the handler's one-run override (allowed: deployed with --invoke-override on)"#,
    );
    for (account, run) in accounts.iter().zip(&runs) {
        print_digests(&out, account, &run.enforce_digests);
    }
    let changed_again: Vec<String> = accounts
        .iter()
        .zip(&runs)
        .filter(|(_, run)| count(&run.rerun, "applied") > 0)
        .map(|(account, run)| format!("{} in {}", count(&run.rerun, "applied"), account.name))
        .collect();
    println!();
    if changed_again.is_empty() {
        println!(
            "   {} Invoked once more with {{\"mode\":\"enforce\"}}: nothing left to change in any account.",
            out.ok()
        );
    } else {
        println!(
            "   ! Invoked once more with {{\"mode\":\"enforce\"}}: it changed {} again.",
            changed_again.join(", ")
        );
    }

    out.section("Summary", "");
    print_summary(accounts, &runs);

    // 6. The organization's view, from the reports every run stored.
    show_org_report(&out, &root, &dir, &emu).await?;

    // 7. The organization digest, as the management account's schedule invokes it.
    out.section(
        "The organization digest",
        r#"{"iam-janitor":"org-digest"}: the management account's function, as its OrgDigestSchedule rule invokes it daily (three hours after the runs)"#,
    );
    let (management, management_credentials) = accounts
        .iter()
        .zip(&credentials)
        .find(|(account, _)| account.management)
        .context("the demo organization has no management account")?;
    let digest = run_org_digest(
        &bootstrap,
        &emu,
        management,
        management_credentials,
        &settings,
        &webhook,
        &dir,
    )
    .await?;
    print_org_digest(&out, &digest.digests, &digest.summary);

    let pids: Vec<String> = runs
        .iter()
        .map(|r| r.pid)
        .chain([digest.pid])
        .map(|pid| pid.to_string())
        .collect();
    drop(webhook);
    // The Lambdas log at warn level: their logs are kept only when they say something.
    for account in accounts {
        let log = lambda_log(&dir, account);
        if std::fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&log);
        }
    }
    let elapsed = started.elapsed();
    if args.keep {
        let endpoint = emu.endpoint();
        let log = emu.log_path().to_path_buf();
        let pid = emu.keep_running();
        write_env_files(&dir, &endpoint, pid, accounts, &credentials)?;
        print_keep(&out, &root, &dir, &endpoint, pid, &log, accounts);
        println!(
            "\nDone in {:.1} s. Stopped the {} Lambda runtimes it started (pids {}); the emulator keeps running.",
            elapsed.as_secs_f64(),
            pids.len(),
            pids.join(", ")
        );
    } else {
        let pid = emu.pid();
        drop(emu);
        println!(
            "\nDone in {:.1} s. Nothing left running: stopped the emulator (pid {pid}) and the {} Lambda runtimes \
             (pids {}). `--keep` leaves the emulator up to explore.",
            elapsed.as_secs_f64(),
            pids.len(),
            pids.join(", ")
        );
    }
    Ok(())
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `<root>/target`, as `package` uses it.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}
