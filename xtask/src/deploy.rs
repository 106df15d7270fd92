//! `cargo xtask deploy` and `cargo xtask destroy`: iam-janitor in every account of an AWS
//! Organization, from a checkout, with one command.
//!
//! `deploy` reads what is deployed, prints the plan, asks (or needs `--yes` without a
//! terminal), then runs four idempotent steps:
//!
//! 1. the artifact stack (the code bucket) in this account, created or updated;
//! 2. the zip, uploaded once under a content-addressed key (`iam-janitor/<sha256>.zip`);
//! 3. a service-managed StackSet with automatic deployment to the given OUs, so accounts
//!    that join later get the stack too, in **one** Region: IAM is global, and two
//!    schedules in one account would act on the same users;
//! 4. the same member stack in the management account, which StackSets never deploy to,
//!    through a change set whose resource changes are printed before it is executed.
//!
//! Everything is declarative: the command line describes the whole deployment (a setting
//! not given goes back to its default), and the plan compares templates, parameters and
//! settings with what is deployed. With nothing to change it says so and changes nothing.
//!
//! `destroy` ([`destroy`](mod@destroy)) removes the stack instances, the StackSet and the
//! management stack, and with `--all` the artifact stack and its bucket (emptied of every
//! version).
//!
//! [`plan`] is pure (what should be, how it differs, how that reads); [`aws`] is the
//! only part that calls AWS; [`progress`] shows steps and asks for confirmation.

mod aws;
mod destroy;
mod plan;
mod progress;

pub use self::destroy::{DestroyArgs, destroy};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::CallAs as SdkCallAs;
use iam_janitor::cli::{AwsArgs, RegionNeed};
use iam_janitor::settings::{Settings, SettingsArgs};
use iam_janitor_cfn::stacks::artifacts::{self, artifact_stack};
use serde_json::Value;

use self::aws::{Aws, ChangeSetOutcome, InstanceChange, operation_preferences};
use self::plan::{
    ARTIFACT_STACK, BUCKET_OUTPUT, Context, DEFAULT_ORG_DIGEST_SCHEDULE, DEFAULT_SCHEDULE, Deployment, DesiredStack,
    DesiredStackSet, KeyPolicyCheck, MANAGEMENT_STACK, Plan, STACK_SET, StackAction, UploadPlan, check_key,
    check_key_arn, check_key_policy, code_key, complete_parameters, is_email_address, is_org_unit_id,
    is_schedule_expression, is_sns_topic_arn, key_arn, member_parameters, member_tags, other_owner, plan_stack,
    plan_stack_set, report_accounts, sha256_hex,
};
use self::progress::{Progress, approve};

/// Who makes the StackSet calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CallAs {
    /// The organization's management account
    #[value(name = "SELF", alias = "self")]
    Management,
    /// A delegated administrator for StackSets
    #[value(name = "DELEGATED_ADMIN", alias = "delegated-admin")]
    DelegatedAdmin,
}

impl CallAs {
    fn sdk(self) -> SdkCallAs {
        match self {
            CallAs::Management => SdkCallAs::SelfValue,
            CallAs::DelegatedAdmin => SdkCallAs::DelegatedAdmin,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CallAs::Management => "SELF",
            CallAs::DelegatedAdmin => "DELEGATED_ADMIN",
        }
    }
}

pub use crate::package::Arch;

/// How StackSet operations run and how long to wait for them.
#[derive(Debug, Clone, clap::Args)]
pub struct OperationArgs {
    /// SELF from the management account, DELEGATED_ADMIN from a delegated administrator for StackSets
    #[arg(long, value_enum, default_value = "SELF")]
    pub call_as: CallAs,
    /// Percentage of the accounts deployed to at once
    #[arg(long, value_name = "PERCENT", default_value_t = 25, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub max_concurrent_percent: u8,
    /// Percentage of the accounts that may fail before a rollout stops (accounts under way finish)
    #[arg(long, value_name = "PERCENT", default_value_t = 0, allow_negative_numbers = true, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub failure_tolerance_percent: u8,
    /// How long to wait for each stack and each StackSet operation
    #[arg(long, value_name = "MINUTES", default_value_t = 60, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub timeout_minutes: u64,
}

impl OperationArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_minutes * 60)
    }
}

/// `cargo xtask deploy` flags.
#[derive(Debug, Clone, clap::Args)]
// The engine's `--as-of` is for audit; deploy rejects it.
// Its `--report-bucket` too: deploy gives every stack the artifact stack's bucket.
#[command(
    mut_arg("as_of", |arg| arg.hide(true)),
    mut_arg("report_bucket", |arg| arg.hide(true)),
    mut_arg("region", |arg| arg.help(REGION_HELP))
)]
pub struct DeployArgs {
    /// Root (r-…) or OU (ou-…) to deploy to, repeatable: every account in it, and every account that joins it later
    #[arg(long = "org-unit", value_name = "ID", required_unless_present = "management_only")]
    pub org_units: Vec<String>,
    /// Deploy only the management account's own stack (and its code bucket), never reading or
    /// changing the StackSet: for organizations whose StackSet a delegated administrator deploys
    #[arg(long, conflicts_with = "org_units")]
    pub management_only: bool,
    /// Change the StackSet even if another deployment owns it (deployed from another
    /// account's code bucket, e.g. a delegated administrator's): every account's code and
    /// settings then come from this one
    #[arg(long)]
    pub take_over: bool,
    /// The Lambda zip to deploy (bootstrap at its root: a static executable for --arch, mode 0755); without it, `cargo xtask package` builds one for --arch
    #[arg(long, value_name = "PATH")]
    pub zip: Option<PathBuf>,
    /// The instruction set the zip's bootstrap is built for
    #[arg(long, value_enum, default_value = "arm64")]
    pub arch: Arch,
    /// When runs start, in UTC: cron(…) or rate(…) [default: cron(0 6 * * ? *)]
    #[arg(long, value_name = "EXPR")]
    pub schedule: Option<String>,
    /// When the management account posts the organization digest (every account's latest
    /// report in one Slack message, see --slack-scope), in UTC: cron(…) or rate(…), or `off`
    /// [default: cron(0 9 * * ? *), three hours after the default schedule's runs]
    #[arg(long, value_name = "EXPR|off")]
    pub org_digest_schedule: Option<String>,
    /// Email address told of every failed or missed run in the organization (SNS asks it to
    /// confirm first). Declarative like the rest: not given, no address is subscribed
    #[arg(long, value_name = "ADDR")]
    pub alarm_email: Option<String>,
    /// An SNS topic of this account told of them too (its policy must let
    /// events.amazonaws.com publish)
    #[arg(long, value_name = "ARN")]
    pub alarm_topic_arn: Option<String>,
    /// Hours without a run after which an account's missed-run alarm fires: more than the
    /// schedule's interval
    #[arg(long, value_name = "N", default_value_t = 26, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(2..=168))]
    pub missed_run_hours: u32,
    /// Days each run report is kept in the organization's report bucket
    #[arg(long, value_name = "DAYS", default_value_t = 400, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub report_retention_days: u32,
    /// A KMS key (its ARN, in --region) the report bucket encrypts every account's reports
    /// with (SSE-KMS, with a Bucket Key). Its key policy must let the organization's tool
    /// roles use it (README, "The report bucket's KMS key"); deploy checks the key and warns
    /// if the policy lacks that. Declarative: not given, SSE-S3
    #[arg(long, value_name = "ARN")]
    pub report_kms_key_arn: Option<String>,
    /// The mode of the management account's own stack: break-glass users live there and
    /// no SCP applies, so it reports unless told otherwise (`--mode` sets the members')
    #[arg(long, value_enum, default_value = "report")]
    pub management_mode: ManagementMode,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the plan without asking (required when there is no terminal)
    #[arg(long)]
    pub yes: bool,
    /// The engine's settings, as for audit. Declarative: a setting not given is deployed at
    /// its default, and `--mode` defaults to report (a first rollout changes nothing).
    #[command(
        flatten,
        next_help_heading = "Engine settings (a setting not given is deployed at its default)"
    )]
    pub settings: SettingsArgs,
    #[command(flatten, next_help_heading = "StackSet operations")]
    pub operation: OperationArgs,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// The partition of a Region's ARNs.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `--management-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ManagementMode {
    Report,
    Enforce,
}

impl ManagementMode {
    fn mode(self) -> iam_janitor::settings::Mode {
        match self {
            ManagementMode::Report => iam_janitor::settings::Mode::Report,
            ManagementMode::Enforce => iam_janitor::settings::Mode::Enforce,
        }
    }
}

/// `--region` of deploy and destroy.
const REGION_HELP: &str =
    "The one Region of the code bucket, the StackSet and its stack instances (else AWS_REGION or the profile's region)";

/// Why deploy and destroy need a Region.
const REGION_NEED: RegionNeed =
    RegionNeed::Required("the code bucket, the StackSet and its stack instances all live in that one Region");

/// `cargo xtask deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    // Everything that needs no AWS call first (and outside the runtime: building the zip
    // blocks).
    let inputs = inputs(&args)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(run_deploy(args, inputs))
}

fn region_of(config: &SdkConfig) -> anyhow::Result<String> {
    config.region().map(|r| r.to_string()).context(
        "no AWS Region: pass --region or set AWS_REGION (the code bucket, the StackSet and its stack instances all \
         live in that one Region)",
    )
}

/// The code bucket's name before the artifact stack exists (its template's name).
fn bucket_name(account: &str, region: &str) -> String {
    artifacts::BUCKET_NAME
        .replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
}

/// What deploy takes from the command line, checked before any AWS call.
struct Inputs {
    settings: Settings,
    org_units: BTreeSet<String>,
    schedule: String,
    /// Empty: none (`--org-digest-schedule off`).
    org_digest_schedule: String,
    zip: Vec<u8>,
    sha256: String,
}

/// Checks the zip to deploy as `package` checks the zip it makes: `bootstrap` at its root,
/// a static ELF executable for `arch`, executable by everyone.
fn check_zip(bytes: &[u8], path: &Path, arch: Arch) -> anyhow::Result<()> {
    let (bootstrap, mode) =
        crate::package::read_bootstrap(bytes).with_context(|| format!("cannot deploy {}", path.display()))?;
    crate::package::check_bootstrap(&bootstrap, mode, arch).with_context(|| {
        format!(
            "bootstrap in {} is not a Lambda bootstrap for --arch {arch}",
            path.display()
        )
    })
}

fn inputs(args: &DeployArgs) -> anyhow::Result<Inputs> {
    if let Some(as_of) = &args.settings.as_of {
        bail!(
            "--as-of (IAM_JANITOR_AS_OF) {as_of:?} is for audit only: the deployed Lambda evaluates each run at its \
             own time"
        );
    }
    if let Some(bucket) = &args.settings.report_bucket {
        bail!(
            "--report-bucket (IAM_JANITOR_REPORT_BUCKET) {bucket:?} is for audit only: deploy stores every account's \
             reports in the artifact stack's bucket (iam-janitor-reports-<this account>-<region>)"
        );
    }
    let settings = Settings::from_args(&args.settings)?;
    settings.check_environment().map_err(anyhow::Error::msg)?;
    for id in &args.org_units {
        if !is_org_unit_id(id) {
            bail!(
                "--org-unit {id:?} is not a root ID (r-, then 4 to 32 lowercase letters or digits) or an OU ID \
                 (ou-…-…): `aws organizations list-roots` and `list-organizational-units-for-parent` show them"
            );
        }
    }
    if args.management_only && args.operation.call_as != CallAs::Management {
        bail!(
            "--management-only deploys the management account's own stack: run it from the management account \
             with --call-as SELF (a delegated administrator cannot deploy there)"
        );
    }
    if let Some(address) = &args.alarm_email
        && !is_email_address(address)
    {
        bail!("--alarm-email {address:?} is not an email address (name@domain)");
    }
    if let Some(arn) = &args.alarm_topic_arn
        && !is_sns_topic_arn(arn)
    {
        bail!("--alarm-topic-arn {arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
    }
    if let Some(arn) = &args.report_kms_key_arn
        && key_arn(arn).is_none()
    {
        bail!(
            "--report-kms-key-arn {arn:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): an alias or a \
             key ID will not do, S3 needs the key's ARN (`aws kms describe-key --key-id alias/NAME` shows it)"
        );
    }
    let schedule = args.schedule.clone().unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
    if !is_schedule_expression(&schedule) {
        bail!("--schedule {schedule:?} is not cron(…) or rate(…), e.g. \"cron(0 6 * * ? *)\" (06:00 UTC daily)");
    }
    let org_digest_schedule = match args.org_digest_schedule.as_deref().map(str::trim) {
        None => DEFAULT_ORG_DIGEST_SCHEDULE.to_string(),
        Some(off) if off.eq_ignore_ascii_case("off") => String::new(),
        Some(expression) if is_schedule_expression(expression) => expression.to_string(),
        Some(other) => bail!(
            "--org-digest-schedule {other:?} is not cron(…) or rate(…), e.g. \"cron(0 9 * * ? *)\" (09:00 UTC \
             daily), or off"
        ),
    };
    // Without --zip, build it (`cargo xtask package` for the chosen architecture).
    let built;
    let path = match &args.zip {
        Some(path) => path,
        None => {
            built = crate::package::build_and_zip(args.arch)?;
            &built.path
        }
    };
    let zip = std::fs::read(path).with_context(|| format!("cannot read the zip {}", path.display()))?;
    check_zip(&zip, path, args.arch)?;
    let sha256 = sha256_hex(&zip);
    Ok(Inputs {
        settings,
        org_units: args.org_units.iter().cloned().collect(),
        schedule,
        org_digest_schedule,
        zip,
        sha256,
    })
}

/// Who deploys, and whether they may: the management account (SELF) or a delegated
/// administrator, in an organization with all features, trusted access for StackSets on.
async fn context(aws: &Aws, call_as: CallAs, region: &str, check_trusted_access: bool) -> anyhow::Result<Context> {
    let account = aws.caller_account().await?;
    let organization = aws.organization(&account).await?;
    plan::check_caller(
        &account,
        &organization.id,
        &organization.management_account,
        organization.all_features,
        call_as == CallAs::Management,
    )
    .map_err(anyhow::Error::msg)?;
    let org = &organization.id;
    if check_trusted_access && call_as == CallAs::Management && !aws.stacksets_trusted_access().await? {
        bail!(
            "trusted access for CloudFormation StackSets is not activated in organization {org}, so StackSets cannot \
             deploy to its accounts. Activate it once, from the management account: `aws cloudformation \
             activate-organizations-access` (or CloudFormation console → StackSets → Activate trusted access)"
        );
    }
    Ok(Context {
        account,
        organization: organization.id,
        management_account: organization.management_account,
        region: region.to_string(),
        call_as: call_as.name(),
    })
}

/// The organization's active accounts for the Athena table's partitions; none (each query
/// then names its accounts) if the caller may not list them, which is said.
async fn organization_accounts(aws: &Aws) -> Vec<String> {
    match aws.active_accounts().await {
        Ok(accounts) => accounts,
        Err(e) => {
            eprintln!(
                "note: cannot list the organization's accounts ({e:#}); the Athena table will take accounts from \
                 each query (WHERE account IN (…))"
            );
            Vec::new()
        }
    }
}

/// The report bucket's key: refused unless S3 can encrypt with it in the bucket's Region
/// (it exists, is enabled, symmetric and customer managed); a warning if its policy
/// lacks the statement the organization's tool roles need.
async fn check_report_key(aws: &Aws, arn: &str, context: &Context, bucket: &str) -> anyhow::Result<()> {
    let parts = check_key_arn(arn, &context.region).map_err(anyhow::Error::msg)?;
    let description = aws.describe_key(arn).await?;
    check_key(arn, &context.region, &description).map_err(anyhow::Error::msg)?;
    match aws.key_policy(arn).await {
        Ok(policy) => {
            if let KeyPolicyCheck::Warning(warning) =
                check_key_policy(&policy, &parts, &context.organization, &context.region, bucket)
            {
                eprintln!("warning: --report-kms-key-arn {arn}: {warning}");
            }
        }
        Err(e) => eprintln!(
            "note: cannot read the key policy of --report-kms-key-arn {arn} ({e:#}); it must let the organization's \
             tool roles encrypt reports (README, \"The report bucket's KMS key\")"
        ),
    }
    Ok(())
}

/// Lambda reads its code only from a bucket in its own Region.
async fn check_bucket_region(aws: &Aws, bucket: &str, region: &str) -> anyhow::Result<()> {
    let bucket_region = aws.bucket_region(bucket).await?;
    if bucket_region != region {
        bail!(
            "the code bucket {bucket} is in {bucket_region}, but the stacks would be deployed in {region}: Lambda \
             reads code only from a bucket in its own Region. Deploy with --region {bucket_region}"
        );
    }
    Ok(())
}

/// Everything as it should be after deploy.
struct Desired {
    artifact: DesiredStack,
    stack_set: DesiredStackSet,
    management: DesiredStack,
}

fn template_value(template: &iam_janitor_cfn::template::Template, name: &str) -> anyhow::Result<Value> {
    template
        .to_value()
        .with_context(|| format!("cannot generate the template of {name}"))
}

/// Reads what is deployed and plans: nothing is changed.
async fn plan_deploy(
    aws: &Aws,
    context: &Context,
    inputs: &Inputs,
    args: &DeployArgs,
) -> anyhow::Result<(Plan, Desired)> {
    let region = &context.region;
    let deployed_artifact = aws.stack(ARTIFACT_STACK).await?;
    let bucket = deployed_artifact
        .as_ref()
        .and_then(|s| s.outputs.get(BUCKET_OUTPUT).cloned())
        .unwrap_or_else(|| bucket_name(&context.account, region));
    let bucket_exists = aws.bucket_exists(&bucket).await?;
    if bucket_exists {
        check_bucket_region(aws, &bucket, region).await?;
        if deployed_artifact.is_none() {
            bail!(
                "the bucket {bucket} exists but the stack {ARTIFACT_STACK} does not (it was deleted and the bucket \
                 retained), so the stack cannot create it again: delete the bucket with every object version (e.g. \
                 `cargo xtask destroy --all`, which removes the rest of iam-janitor too), then deploy again"
            );
        }
    }
    let report_bucket = artifacts::report_bucket_name(&context.account, region);
    if deployed_artifact.is_none() && aws.bucket_exists(&report_bucket).await? {
        bail!(
            "the report bucket {report_bucket} exists but the stack {ARTIFACT_STACK} does not (it was deleted and the \
             bucket retained with the organization's run reports), so the stack cannot create it again: keep the \
             reports elsewhere if you need them, empty the bucket (every object version) and delete it, then deploy \
             again"
        );
    }
    if let Some(arn) = &args.report_kms_key_arn {
        check_report_key(aws, arn, context, &report_bucket).await?;
    }
    let key = code_key(&inputs.sha256);
    let uploaded = bucket_exists && aws.object_exists(&bucket, &key).await?;

    let artifact_template = template_value(&artifact_stack(), ARTIFACT_STACK)?;
    let artifact_parameters = complete_parameters(
        &artifact_template,
        &BTreeMap::from([
            (
                artifacts::ORGANIZATION_ID.as_str().to_string(),
                context.organization.clone(),
            ),
            (
                artifacts::ALARM_EMAIL.as_str().to_string(),
                args.alarm_email.clone().unwrap_or_default(),
            ),
            (
                artifacts::ALARM_TOPIC_ARN.as_str().to_string(),
                args.alarm_topic_arn.clone().unwrap_or_default(),
            ),
            (
                artifacts::REPORT_RETENTION_DAYS.as_str().to_string(),
                args.report_retention_days.to_string(),
            ),
            (
                artifacts::REPORT_ACCOUNTS.as_str().to_string(),
                report_accounts(&organization_accounts(aws).await),
            ),
            (
                artifacts::REPORT_KMS_KEY_ARN.as_str().to_string(),
                args.report_kms_key_arn.clone().unwrap_or_default(),
            ),
        ]),
    )
    .map_err(anyhow::Error::msg)?;
    let artifact = DesiredStack::new(ARTIFACT_STACK, artifact_template, artifact_parameters, BTreeMap::new())
        .map_err(anyhow::Error::msg)?;

    let member_template = template_value(&crate::synth::member_template(), MANAGEMENT_STACK)?;
    let deployment = Deployment {
        code_bucket: bucket.clone(),
        code_key: key.clone(),
        architecture: args.arch.name().to_string(),
        schedule: inputs.schedule.clone(),
        // The artifact stack's bus, in this account: its ARN is known before it exists.
        alert_bus: artifacts::alert_bus_arn(partition_of(region), region, &context.account),
        missed_run_hours: args.missed_run_hours.to_string(),
        // The artifact stack's report bucket, in this account: named before it exists.
        report_bucket: report_bucket.clone(),
        report_kms_key_arn: args.report_kms_key_arn.clone().unwrap_or_default(),
        // The members' stacks post no organization digest: the management account's does.
        org_digest_schedule: String::new(),
    };
    let parameters = member_parameters(&member_template, &inputs.settings, &deployment).map_err(anyhow::Error::msg)?;
    let tags = member_tags(&parameters);
    let management_settings = Settings {
        mode: args.management_mode.mode(),
        ..inputs.settings.clone()
    };
    let management_deployment = Deployment {
        org_digest_schedule: inputs.org_digest_schedule.clone(),
        ..deployment.clone()
    };
    let management_parameters = member_parameters(&member_template, &management_settings, &management_deployment)
        .map_err(anyhow::Error::msg)?;
    let stack_set = DesiredStackSet {
        stack: DesiredStack::new(STACK_SET, member_template.clone(), parameters, tags.clone())
            .map_err(anyhow::Error::msg)?,
        org_units: inputs.org_units.clone(),
        region: region.clone(),
    };

    let management = DesiredStack::new(MANAGEMENT_STACK, member_template, management_parameters, tags)
        .map_err(anyhow::Error::msg)?;

    let stack_set_plan = if args.management_only {
        None
    } else {
        let deployed_set = aws.stack_set().await?;
        if let Some(deployed) = &deployed_set
            && let Some(other) = other_owner(deployed, &stack_set.stack.parameters)
            && !args.take_over
        {
            bail!(
                "the StackSet {STACK_SET} belongs to another deployment: its code comes from the bucket {other}, \
                 not {} (this account's). Deploying from here would point every account at this account's code \
                 and replace its settings and OUs. Deploy from the account that owns it (e.g. the delegated \
                 administrator, with --call-as DELEGATED_ADMIN); from the management account, cover the management \
                 account alone with --management-only; or pass --take-over to make this deployment the owner",
                stack_set
                    .stack
                    .parameters
                    .get(iam_janitor_cfn::stacks::member::CODE_BUCKET.as_str())
                    .map_or("", String::as_str)
            );
        }
        // OUs no longer given whose accounts a given parent OU (or the root) still covers.
        let mut covered = BTreeSet::new();
        if let Some(deployed) = &deployed_set {
            for ou in deployed.targeted_org_units().difference(&stack_set.org_units) {
                let ancestors = aws.ancestors(ou).await?;
                if ancestors.iter().any(|a| stack_set.org_units.contains(a)) {
                    covered.insert(ou.clone());
                }
            }
        }
        Some(plan_stack_set(&stack_set, deployed_set.as_ref(), &covered).map_err(anyhow::Error::msg)?)
    };
    let management_action = if args.operation.call_as == CallAs::Management {
        let deployed = aws.stack(MANAGEMENT_STACK).await?;
        Some(plan_stack(&management, deployed.as_ref()).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let plan = Plan {
        context: context.clone(),
        artifact: plan_stack(&artifact, deployed_artifact.as_ref()).map_err(anyhow::Error::msg)?,
        upload: UploadPlan {
            bucket,
            key,
            size: inputs.zip.len() as u64,
            exists: uploaded,
        },
        stack_set: stack_set_plan,
        management: management_action,
        mode: inputs.settings.mode.to_string(),
        management_mode: management_settings.mode.to_string(),
        alert_recipients: args
            .alarm_email
            .iter()
            .map(|a| format!("{a} (once confirmed)"))
            .chain(args.alarm_topic_arn.iter().cloned())
            .collect(),
    };
    Ok((
        plan,
        Desired {
            artifact,
            stack_set,
            management,
        },
    ))
}

async fn run_deploy(args: DeployArgs, inputs: Inputs) -> anyhow::Result<()> {
    let config = args.aws.load(REGION_NEED).await?;
    let region = region_of(&config)?;
    let aws = Aws::new(&config, args.operation.call_as.sdk());
    let progress = Progress::detect();

    let step = progress.step("reading the organization and what is deployed");
    let context = context(&aws, args.operation.call_as, &region, true).await?;
    for id in &inputs.org_units {
        aws.check_org_unit(id, &context.organization).await?;
    }
    let (plan, desired) = plan_deploy(&aws, &context, &inputs, &args).await?;
    step.done("done");

    print!("{plan}");
    if args.dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(());
    }
    if !plan.is_change() {
        println!("No changes: iam-janitor is up to date.");
        return Ok(());
    }
    approve(args.yes, "deploy these changes")?;
    apply(&aws, &plan, &desired, &inputs, &args.operation, &progress).await
}

async fn apply(
    aws: &Aws,
    plan: &Plan,
    desired: &Desired,
    inputs: &Inputs,
    operation: &OperationArgs,
    progress: &Progress,
) -> anyhow::Result<()> {
    let timeout = operation.timeout();
    let region = &plan.context.region;

    // 1. The artifact stack.
    let step = progress.step(format!("artifact stack {ARTIFACT_STACK}"));
    match &plan.artifact {
        StackAction::Create => {
            aws.create_stack(&desired.artifact).await?;
            aws.wait_stack(ARTIFACT_STACK, timeout, &step).await?;
            step.done("created");
        }
        StackAction::Update(_) => {
            if aws.update_stack(&desired.artifact).await? {
                aws.wait_stack(ARTIFACT_STACK, timeout, &step).await?;
                step.done("updated");
            } else {
                step.done("no updates to perform");
            }
        }
        StackAction::Unchanged => step.done("no changes"),
    }
    let bucket = aws
        .stack(ARTIFACT_STACK)
        .await?
        .and_then(|s| s.outputs.get(BUCKET_OUTPUT).cloned())
        .with_context(|| format!("the stack {ARTIFACT_STACK} has no output {BUCKET_OUTPUT}"))?;
    if bucket != plan.upload.bucket {
        bail!(
            "the stack {ARTIFACT_STACK} names the bucket {bucket}, not {} as planned: deploy again",
            plan.upload.bucket
        );
    }
    check_bucket_region(aws, &bucket, region).await?;

    // 2. The code.
    let key = &plan.upload.key;
    let step = progress.step("code");
    if aws.object_exists(&bucket, key).await? {
        step.done(&format!("s3://{bucket}/{key} already uploaded"));
    } else {
        aws.put_zip(&bucket, key, &inputs.zip).await?;
        step.done(&format!("uploaded s3://{bucket}/{key} ({} bytes)", inputs.zip.len()));
    }

    // 3. The StackSet and its stack instances (not with --management-only).
    let mut instances_here = None;
    if let Some(set) = &plan.stack_set {
        let preferences =
            || operation_preferences(operation.max_concurrent_percent, operation.failure_tolerance_percent);
        let step = progress.step(format!("StackSet {STACK_SET}"));
        if set.action == StackAction::Create {
            aws.create_stack_set(&desired.stack_set).await?;
            step.update("created");
        } else if set.updates() {
            let operation_id = aws.update_stack_set(&desired.stack_set, preferences()).await?;
            aws.wait_operation(&operation_id, timeout, &step).await?;
        }
        aws.change_stack_instances(
            InstanceChange::Create { region },
            &set.add_org_units,
            preferences(),
            timeout,
            &step,
        )
        .await?;
        aws.change_stack_instances(
            InstanceChange::Delete {
                regions: std::slice::from_ref(region),
            },
            &set.remove_org_units,
            preferences(),
            timeout,
            &step,
        )
        .await?;
        let instances = aws.stack_instances().await?;
        let count = instances.iter().filter(|i| &i.region == region).count();
        step.done(&format!(
            "{} ({count} stack instance(s) in {region})",
            if set.is_change() { "deployed" } else { "no changes" }
        ));
        instances_here = Some(count);
    }

    // 4. The management account's stack, through a change set.
    if let Some(action) = &plan.management {
        deploy_management_stack(aws, action, &desired.management, timeout, progress).await?;
    }
    match instances_here {
        Some(instances_here) => println!(
            "Deployed iam-janitor ({} mode) to organization {}: {instances_here} member account(s) through StackSet \
             {STACK_SET} in {region}{}.",
            plan.mode,
            plan.context.organization,
            if plan.management.is_some() {
                format!(
                    ", and the management account {} ({} mode)",
                    plan.context.management_account, plan.management_mode
                )
            } else {
                String::new()
            }
        ),
        None => println!(
            "Deployed iam-janitor ({} mode) to the management account {} of organization {} (its stack alone).",
            plan.management_mode, plan.context.management_account, plan.context.organization
        ),
    }
    Ok(())
}

async fn deploy_management_stack(
    aws: &Aws,
    action: &StackAction,
    desired: &DesiredStack,
    timeout: Duration,
    progress: &Progress,
) -> anyhow::Result<()> {
    let step = progress.step(format!("management stack {MANAGEMENT_STACK}"));
    if *action == StackAction::Unchanged {
        step.done("no changes");
        return Ok(());
    }
    let create = *action == StackAction::Create;
    // Unique per run (a change set name must start with a letter).
    let name = format!(
        "iam-janitor-{}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
    );
    let id = aws.create_change_set(desired, &name, create).await?;
    match aws.wait_change_set(MANAGEMENT_STACK, &id, timeout, &step).await? {
        ChangeSetOutcome::NoChanges => {
            aws.delete_change_set(MANAGEMENT_STACK, &id).await?;
            step.done("no changes (the empty change set was deleted)");
        }
        ChangeSetOutcome::Ready(changes) => {
            step.print(&render_change_set(&name, &changes));
            aws.execute_change_set(MANAGEMENT_STACK, &id).await?;
            aws.wait_stack(MANAGEMENT_STACK, timeout, &step).await?;
            step.done(if create { "created" } else { "updated" });
        }
    }
    Ok(())
}

fn render_change_set(name: &str, changes: &[String]) -> String {
    let mut text = format!("Change set {name} for stack {MANAGEMENT_STACK}:\n");
    if changes.is_empty() {
        text.push_str("  no resource changes (parameters or tags only)\n");
    }
    for change in changes {
        text.push_str(&format!("  {change}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser;

    use super::*;
    use crate::package::testing::{dynamic_elf, static_elf};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        task: Task,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Task {
        Deploy(Box<DeployArgs>),
        Destroy(Box<DestroyArgs>),
    }

    fn deploy_args(flags: &[&str]) -> Result<DeployArgs, clap::Error> {
        let mut argv = vec!["xtask", "deploy"];
        argv.extend_from_slice(flags);
        match Cli::try_parse_from(argv)?.task {
            Task::Deploy(args) => Ok(*args),
            Task::Destroy(_) => unreachable!(),
        }
    }

    /// A zip of these entries (name, bytes, Unix mode; `None`: made on Windows).
    fn zip_of(entries: &[(&str, &[u8], Option<u32>)]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes, mode) in entries {
            let options = zip::write::SimpleFileOptions::default();
            let options = match mode {
                Some(mode) => options.unix_permissions(*mode),
                None => options.system(zip::System::Dos).external_attributes(0x20),
            };
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// A zip file with one entry `name`: a static arm64 executable, mode 0755.
    fn zip_file(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("iam-janitor-deploy-test-{}-{name}.zip", std::process::id()));
        let binary = static_elf(Arch::Arm64, b"");
        std::fs::write(&path, zip_of(&[(name, &binary, Some(0o755))])).unwrap();
        path
    }

    #[test]
    fn flags_and_their_defaults() {
        let args = deploy_args(&["--org-unit", "r-abcd", "--zip", "x.zip"]).unwrap();
        assert_eq!(args.operation.call_as, CallAs::Management);
        assert_eq!(args.operation.max_concurrent_percent, 25);
        assert_eq!(args.operation.failure_tolerance_percent, 0);
        assert_eq!(args.arch, Arch::Arm64);
        assert!(!args.yes && !args.dry_run);
        let args = deploy_args(&[
            "--org-unit",
            "r-abcd",
            "--call-as",
            "DELEGATED_ADMIN",
            "--max-concurrent-percent",
            "100",
            "--failure-tolerance-percent",
            "10",
            "--arch",
            "x86_64",
        ])
        .unwrap();
        assert_eq!(args.operation.call_as.sdk(), SdkCallAs::DelegatedAdmin);
        assert_eq!(args.arch.name(), "x86_64");
        assert!(deploy_args(&["--zip", "x.zip"]).is_err(), "--org-unit is required");
        assert!(deploy_args(&["--org-unit", "r-abcd", "--max-concurrent-percent", "0"]).is_err());
        assert!(deploy_args(&["--org-unit", "r-abcd", "--failure-tolerance-percent", "101"]).is_err());
        assert!(deploy_args(&["--org-unit", "r-abcd", "--call-as", "OTHER"]).is_err());
    }

    #[test]
    fn bad_inputs_are_rejected_before_any_aws_call() {
        let zip = zip_file("bootstrap");
        let zip = zip.to_str().unwrap();
        let error = |flags: &[&str]| inputs(&deploy_args(flags).unwrap()).err().map(|e| format!("{e:#}"));
        assert_eq!(error(&["--org-unit", "r-abcd", "--zip", zip]), None);
        let bad_ou = error(&["--org-unit", "ou-123", "--zip", zip]).unwrap();
        assert!(bad_ou.contains("\"ou-123\" is not a root ID"), "{bad_ou}");
        let bad_setting = error(&[
            "--org-unit",
            "r-abcd",
            "--zip",
            zip,
            "--dormant-days",
            "10",
            "--warn-days",
            "20",
        ]);
        assert!(bad_setting.unwrap().contains("--warn-days"));
        let users: Vec<String> = (0..200).map(|i| format!("break-glass-admin-{i:03}")).collect();
        let too_long = error(&["--org-unit", "r-abcd", "--zip", zip, "--exempt-user", &users.join(",")]).unwrap();
        assert!(
            too_long.contains("over Lambda's limit of 4096 bytes") && too_long.contains("--exempt-user"),
            "{too_long}"
        );
        let as_of = error(&["--org-unit", "r-abcd", "--zip", zip, "--as-of", "2026-01-01T00:00:00Z"]);
        assert!(as_of.unwrap().contains("for audit only"));
        let schedule = error(&["--org-unit", "r-abcd", "--zip", zip, "--schedule", "daily"]);
        assert!(schedule.unwrap().contains("cron(…) or rate(…)"));
        let digest = error(&["--org-unit", "r-abcd", "--zip", zip, "--org-digest-schedule", "at nine"]).unwrap();
        assert!(
            digest.contains("--org-digest-schedule \"at nine\" is not cron(…) or rate(…)") && digest.contains("or off"),
            "{digest}"
        );
        let digest_of = |flags: &[&str]| {
            let mut all = vec!["--org-unit", "r-abcd", "--zip", zip];
            all.extend_from_slice(flags);
            inputs(&deploy_args(&all).unwrap()).unwrap().org_digest_schedule
        };
        assert_eq!(digest_of(&[]), "cron(0 9 * * ? *)");
        assert_eq!(digest_of(&["--org-digest-schedule", "OFF"]), "");
        assert_eq!(
            digest_of(&["--org-digest-schedule", "rate(12 hours)"]),
            "rate(12 hours)"
        );
        // Without --zip, deploy builds the zip with `package` (a release build; exercised by
        // tests/tests/packaged.rs, not here).
        let missing = error(&["--org-unit", "r-abcd", "--zip", "/nonexistent/x.zip"]).unwrap();
        assert!(missing.contains("cannot read the zip /nonexistent/x.zip"), "{missing}");
        let other = zip_file("main");
        let no_bootstrap = error(&["--org-unit", "r-abcd", "--zip", other.to_str().unwrap()]).unwrap();
        assert!(
            no_bootstrap.contains("has no `bootstrap` at its root"),
            "{no_bootstrap}"
        );
        // The arm64 zip is not deployed as x86_64.
        let wrong_arch = error(&["--org-unit", "r-abcd", "--zip", zip, "--arch", "x86_64"]).unwrap();
        assert_eq!(
            wrong_arch,
            format!(
                "bootstrap in {zip} is not a Lambda bootstrap for --arch x86_64: it is built for arm64 (ELF machine \
                 183), not x86_64 (ELF machine 62)"
            )
        );
        std::fs::remove_file(zip).unwrap();
        std::fs::remove_file(other).unwrap();
    }

    #[test]
    fn the_zip_is_checked_as_package_checks_the_zip_it_makes() {
        let path = Path::new("dist/fn.zip");
        let check = |entries: &[(&str, &[u8], Option<u32>)], arch| {
            check_zip(&zip_of(entries), path, arch).map_err(|e| format!("{e:#}"))
        };
        let arm = static_elf(Arch::Arm64, b"");
        let x86 = static_elf(Arch::X86_64, b"");
        check(&[("bootstrap", &arm, Some(0o755))], Arch::Arm64).unwrap();
        check(
            &[("bootstrap", &x86, Some(0o755)), ("README", b"hi", Some(0o644))],
            Arch::X86_64,
        )
        .unwrap();
        // `package`'s own zip passes.
        check_zip(&crate::package::zip_bootstrap(&arm).unwrap(), path, Arch::Arm64).unwrap();

        let wrong_arch = check(&[("bootstrap", &x86, Some(0o755))], Arch::Arm64).unwrap_err();
        assert_eq!(
            wrong_arch,
            "bootstrap in dist/fn.zip is not a Lambda bootstrap for --arch arm64: it is built for x86_64 (ELF machine \
             62), not arm64 (ELF machine 183)"
        );
        let dynamic = check(&[("bootstrap", &dynamic_elf(Arch::Arm64), Some(0o755))], Arch::Arm64).unwrap_err();
        assert!(
            dynamic.starts_with("bootstrap in dist/fn.zip is not a Lambda bootstrap for --arch arm64: ")
                && dynamic.contains("dynamically linked: it has a program interpreter (PT_INTERP)"),
            "{dynamic}"
        );
        let script = check(&[("bootstrap", b"#!/bin/sh\necho hi\n", Some(0o755))], Arch::Arm64).unwrap_err();
        assert!(script.ends_with("--arch arm64: not an ELF file"), "{script}");
        let not_executable = check(&[("bootstrap", &arm, Some(0o644))], Arch::Arm64).unwrap_err();
        assert!(
            not_executable.contains("dist/fn.zip") && not_executable.contains("its mode is 0644"),
            "{not_executable}"
        );
        let windows = check(&[("bootstrap", &arm, None)], Arch::Arm64).unwrap_err();
        assert!(
            windows.contains("dist/fn.zip") && windows.contains("no Unix file mode") && windows.contains("Windows"),
            "{windows}"
        );
        let missing = check(&[("build/bootstrap", &arm, Some(0o755))], Arch::Arm64).unwrap_err();
        assert!(
            missing.starts_with("cannot deploy dist/fn.zip: it has no `bootstrap` at its root"),
            "{missing}"
        );
        let not_zip = check_zip(&arm, path, Arch::Arm64)
            .map_err(|e| format!("{e:#}"))
            .unwrap_err();
        assert!(
            not_zip.starts_with("cannot deploy dist/fn.zip: it is not a zip file"),
            "{not_zip}"
        );
    }

    #[test]
    fn the_bucket_name_is_the_templates() {
        assert_eq!(
            bucket_name("123456789012", "eu-west-1"),
            "iam-janitor-code-123456789012-eu-west-1"
        );
    }

    #[test]
    fn change_sets_are_shown_resource_by_resource() {
        let text = render_change_set("cs", &["+ Function (AWS::Lambda::Function): Add".to_string()]);
        assert_eq!(
            text,
            "Change set cs for stack iam-janitor:\n  + Function (AWS::Lambda::Function): Add\n"
        );
        assert!(render_change_set("cs", &[]).contains("no resource changes"));
    }
}
