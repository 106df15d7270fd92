//! `cargo xtask destroy`: removes the stack instances, the StackSet and the management
//! stack (`--all`: the artifact stack and the code bucket too), after a plan that says
//! what is removed and what is kept (the report bucket, the log groups, what the engine
//! changed in IAM). The plan is `plan::destroy`'s; the calls are `aws`'s.

use std::time::Duration;

use anyhow::{Context as _, bail};
use iam_janitor::cli::AwsArgs;
use iam_janitor_cfn::stacks::artifacts;

use super::aws::{Aws, InstanceChange, operation_preferences};
use super::plan::{
    ARTIFACT_STACK, BUCKET_OUTPUT, DestroyPlan, MANAGEMENT_STACK, STACK_SET, StackSetTeardown, is_org_unit_id,
    regions_of,
};
use super::progress::{Progress, Step, approve};
use super::{CallAs, OperationArgs, REGION_HELP, REGION_NEED, bucket_name, context, region_of};

/// `cargo xtask destroy` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("region", |arg| arg.help(REGION_HELP)))]
pub struct DestroyArgs {
    /// Also delete the artifact stack and its code bucket, emptied of every object version
    #[arg(long)]
    pub all: bool,
    /// OUs whose stack instances to delete, if the StackSet does not say which it targets (it normally does)
    #[arg(long = "org-unit", value_name = "ID")]
    pub org_units: Vec<String>,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Remove without asking (required when there is no terminal)
    #[arg(long)]
    pub yes: bool,
    #[command(flatten, next_help_heading = "StackSet operations")]
    pub operation: OperationArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// `cargo xtask destroy`.
pub fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run_destroy(args))
}

async fn run_destroy(args: DestroyArgs) -> anyhow::Result<()> {
    for id in &args.org_units {
        if !is_org_unit_id(id) {
            bail!("--org-unit {id:?} is not a root ID (r-…) or an OU ID (ou-…-…)");
        }
    }
    let config = args.aws.load(REGION_NEED).await?;
    let region = region_of(&config)?;
    let call_as = args.operation.call_as;
    let aws = Aws::new(&config, call_as.sdk());
    let progress = Progress::detect();
    let timeout = args.operation.timeout();

    let step = progress.step("reading the organization and what is deployed");
    let context = context(&aws, call_as, &region, false).await?;
    let stack_set = aws.stack_set().await?;
    let management_stack = call_as == CallAs::Management && aws.stack(MANAGEMENT_STACK).await?.is_some();
    let artifact = aws.stack(ARTIFACT_STACK).await?;
    let bucket = artifact
        .as_ref()
        .and_then(|s| s.outputs.get(BUCKET_OUTPUT).cloned())
        .unwrap_or_else(|| bucket_name(&context.account, &region));
    let bucket_exists = aws.bucket_exists(&bucket).await?;
    step.done("done");

    let mut plan = DestroyPlan {
        stack_set: stack_set.as_ref().map(|set| {
            let mut org_units = set.targeted_org_units();
            org_units.extend(args.org_units.iter().cloned());
            StackSetTeardown {
                org_units,
                regions: regions_of(&set.instances),
                instances: set.instances.len(),
            }
        }),
        management_stack,
        artifact_stack: args.all && artifact.is_some(),
        bucket: (args.all && bucket_exists).then(|| bucket.clone()),
        kept: Vec::new(),
    };
    if !args.all && (artifact.is_some() || bucket_exists) {
        plan.kept.push(format!(
            "stack {ARTIFACT_STACK} and bucket {bucket} with the code (--all removes them)"
        ));
    }
    if call_as == CallAs::DelegatedAdmin {
        plan.kept.push(format!(
            "stack {MANAGEMENT_STACK} in the management account {} (destroy it from there with --call-as SELF)",
            context.management_account
        ));
    }
    let report_bucket = artifacts::report_bucket_name(&context.account, &region);
    if aws.bucket_exists(&report_bucket).await? {
        plan.kept.push(format!(
            "bucket {report_bucket} with every account's run reports (retained, --all too: the organization's \
             record, expired by its lifecycle; empty and delete it yourself to deploy again from scratch)"
        ));
    }
    plan.kept.push(
        "each account's log group (retained: the record of what was changed; a new deploy gets a new one), and \
         what the engine changed in IAM"
            .to_string(),
    );
    print!("{plan}");
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    if !plan.is_change() {
        println!("Nothing to remove.");
        return Ok(());
    }
    approve(args.yes, "remove these")?;

    if let Some(teardown) = &plan.stack_set {
        let step = progress.step(format!("StackSet {STACK_SET}"));
        if teardown.instances > 0 {
            if teardown.org_units.is_empty() {
                bail!(
                    "the StackSet {STACK_SET} has {} stack instance(s) but does not say which OUs it targets: pass \
                     them with --org-unit",
                    teardown.instances
                );
            }
            let org_units: Vec<String> = teardown.org_units.iter().cloned().collect();
            let regions: Vec<String> = teardown.regions.iter().cloned().collect();
            let preferences = operation_preferences(
                args.operation.max_concurrent_percent,
                args.operation.failure_tolerance_percent,
            );
            aws.change_stack_instances(
                InstanceChange::Delete { regions: &regions },
                &org_units,
                preferences,
                timeout,
                &step,
            )
            .await?;
            let left = aws.stack_instances().await?;
            if !left.is_empty() {
                let accounts: Vec<String> = left.iter().map(|i| format!("{} {}", i.account, i.region)).collect();
                bail!(
                    "{} stack instance(s) of {STACK_SET} are left ({}): their accounts are no longer in {}; pass their \
                     OUs with --org-unit and run destroy again",
                    left.len(),
                    accounts.join(", "),
                    org_units.join(", ")
                );
            }
        }
        aws.delete_stack_set().await?;
        step.done("stack instances and StackSet deleted");
    }
    if plan.management_stack {
        remove_stack(&aws, MANAGEMENT_STACK, timeout, &progress).await?;
    }
    if plan.artifact_stack {
        // First the stack (its bucket is retained by its DeletionPolicy), then the bucket.
        remove_stack(&aws, ARTIFACT_STACK, timeout, &progress).await?;
    }
    if let Some(bucket) = &plan.bucket {
        let step = progress.step(format!("bucket {bucket}"));
        let deleted = aws.empty_bucket(bucket, &step).await?;
        aws.delete_bucket(bucket).await?;
        step.done(&format!("{deleted} object version(s) and the bucket deleted"));
    }
    println!("Removed iam-janitor from organization {}.", context.organization);
    Ok(())
}

async fn remove_stack(aws: &Aws, name: &str, timeout: Duration, progress: &Progress) -> anyhow::Result<()> {
    let step: Step = progress.step(format!("stack {name}"));
    aws.delete_stack(name, timeout, &step).await?;
    step.done("deleted");
    Ok(())
}
