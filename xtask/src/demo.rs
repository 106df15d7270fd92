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
//!    scheduled event (report mode, as deployed), then with `{"mode":"enforce"}`; the
//!    Slack digests are printed as they would read in Slack;
//! 5. prints a per-account summary, and stops everything it started (by PID) unless
//!    `--keep` leaves the emulator running for the AWS CLI and `cargo xtask audit`.
//!
//! Files go to `<target>/demo/`: the deploy output, each Lambda's log, and with `--keep`
//! one environment file per account.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use iam_janitor_cfn::stacks::member::{SLACK_WEBHOOK, engine_settings};
use iam_janitor_tests::{
    AdvisorService, Emulator, Outcome, RuntimeApi, SeedKey, SeedPassword, SeedUser, WebhookReceiver, workspace_root,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::package::{self, Arch, Artifact};

const REGION: &str = "us-east-1";
/// The scheduled event EventBridge sends (its account and rule are set per account).
const SCHEDULED_EVENT: &str = include_str!("../../lambda/tests/fixtures/eventbridge-scheduled.json");
const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";
/// The role Organizations creates in every account it creates.
const MEMBER_ROLE: &str = "OrganizationAccountAccessRole";
/// What deploy names the StackSet and the management account's stack.
const STACK: &str = "iam-janitor";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
const WIDTH: usize = 100;
const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const POWER_USER: &str = "arn:aws:iam::aws:policy/PowerUserAccess";
const EXEMPT_TAG: (&str, &str) = ("iam-janitor:exempt", "true");

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
// The demo organization
// ---------------------------------------------------------------------------

/// One account of the demo organization, before it exists.
struct AccountPlan {
    name: &'static str,
    /// `None`: the management account, under the root.
    ou: Option<&'static str>,
    /// Each user, and what is special about it.
    users: Vec<(SeedUser, &'static str)>,
    advisor: Vec<(&'static str, Vec<AdvisorService>)>,
}

/// The demo organization.
struct Organization {
    id: String,
    /// The OUs, which hold every member account.
    org_units: Vec<String>,
    accounts: Vec<Account>,
}

/// An account of the demo organization.
#[derive(Debug, Clone)]
struct Account {
    name: &'static str,
    id: String,
    ou: &'static str,
    /// (user name, story)
    users: Vec<(String, &'static str)>,
    management: bool,
}

fn plans(now: OffsetDateTime) -> Vec<AccountPlan> {
    // An hour into the day, so that whole-day idle times come out as written.
    let ago = |days: i64| now - time::Duration::days(days) - time::Duration::hours(1);
    let user = |name: &str, created: i64| SeedUser::new(name).created(ago(created));
    let key = |created: i64, used: Option<i64>| {
        let key = SeedKey::new().created(ago(created));
        match used {
            Some(days) => key.used(ago(days)),
            None => key,
        }
    };
    let password = |changed: i64, used: Option<i64>| {
        let password = SeedPassword::new().changed(ago(changed));
        match used {
            Some(days) => password.used(ago(days)),
            None => password,
        }
    };
    let service = |namespace: &str, name: &str, used: Option<i64>| AdvisorService::new(namespace, name, used.map(ago));
    vec![
        AccountPlan {
            name: "management",
            ou: None,
            users: vec![
                (
                    user("break-glass", 900)
                        .tag(EXEMPT_TAG.0, EXEMPT_TAG.1)
                        .with_policy(ADMIN)
                        .with_password(password(400, Some(300))),
                    "admin for emergencies, tagged iam-janitor:exempt=true; console unused for 300 days",
                ),
                (
                    user("alice", 700)
                        .with_policy(ADMIN)
                        .with_password(password(60, Some(1)))
                        .with_key(key(200, Some(0))),
                    "admin, signed in yesterday, key used today, uses the services she has",
                ),
                (
                    user("ci-legacy", 800).with_key(key(400, None)),
                    "access key created 400 days ago, never used",
                ),
            ],
            advisor: vec![(
                "alice",
                vec![
                    service("iam", "AWS Identity and Access Management", Some(1)),
                    service("s3", "Amazon S3", Some(2)),
                    service("ec2", "Amazon EC2", Some(5)),
                ],
            )],
        },
        AccountPlan {
            name: "prod",
            ou: Some("workloads"),
            users: vec![
                (
                    user("deploy-bot", 600)
                        .with_key(key(500, Some(200)))
                        .with_key(key(10, Some(0))),
                    "two keys: the old one unused for 200 days, the new one (10 days) used today",
                ),
                (
                    user("bob", 700).with_password(password(365, Some(150))),
                    "console password last used 150 days ago",
                ),
                (
                    user("carol", 500)
                        .with_password(password(30, Some(2)))
                        .with_key(key(100, Some(1))),
                    "active: console 2 days ago, key yesterday",
                ),
                (
                    user("erin", 400).with_key(key(300, Some(82))),
                    "key last used 82 days ago: dormant in 9 days",
                ),
            ],
            advisor: Vec::new(),
        },
        AccountPlan {
            name: "analytics",
            ou: Some("workloads"),
            users: vec![
                (
                    user("dana", 400)
                        .with_policy(ADMIN)
                        .with_password(password(90, Some(1))),
                    "AdministratorAccess, active, but uses only S3, Athena, Glue and IAM",
                ),
                (
                    user("etl-runner", 500).with_key(key(450, Some(120))),
                    "key last used 120 days ago",
                ),
                (
                    user("report-reader", 300).with_key(key(200, None)),
                    "key created 200 days ago, never used",
                ),
            ],
            advisor: vec![(
                "dana",
                vec![
                    service("s3", "Amazon S3", Some(2)),
                    service("athena", "Amazon Athena", Some(3)),
                    service("glue", "AWS Glue", Some(20)),
                    service("iam", "AWS Identity and Access Management", Some(30)),
                    service("rds", "Amazon RDS", Some(200)),
                    service("ec2", "Amazon EC2", None),
                    service("dynamodb", "Amazon DynamoDB", None),
                    service("lambda", "AWS Lambda", None),
                ],
            )],
        },
        AccountPlan {
            name: "sandbox",
            ou: Some("sandbox"),
            users: vec![
                (
                    user("intern", 5)
                        .with_policy(POWER_USER)
                        .with_password(password(5, None)),
                    "joined 5 days ago, PowerUserAccess, nothing used yet (grace)",
                ),
                (
                    user("frank", 400).with_password(password(200, None)),
                    "console password set 200 days ago, never used",
                ),
                (
                    user("gina", 300).with_key(key(250, Some(3))),
                    "active: key used 3 days ago",
                ),
            ],
            advisor: vec![(
                "intern",
                vec![
                    service("s3", "Amazon S3", None),
                    service("ec2", "Amazon EC2", None),
                    service("sagemaker", "Amazon SageMaker", None),
                ],
            )],
        },
    ]
}

/// The organization, its OUs, the member accounts moved into them, trusted access for
/// StackSets; then every account's users.
async fn create_organization(emu: &Emulator, plans: Vec<AccountPlan>) -> anyhow::Result<Organization> {
    let config = emu.sdk_config().await;
    let orgs = aws_sdk_organizations::Client::new(&config);
    let created = orgs
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .context("CreateOrganization")?;
    let org_id = created
        .organization()
        .and_then(|o| o.id())
        .context("CreateOrganization returned no organization ID")?
        .to_string();
    let roots = orgs.list_roots().send().await.context("ListRoots")?;
    let root = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .context("the organization has no root")?
        .to_string();

    let mut ous: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut accounts = Vec::new();
    for plan in plans {
        let (id, ou) = match plan.ou {
            None => (emu.account_id().to_string(), "root"),
            Some(ou_name) => {
                let ou = match ous.get(ou_name) {
                    Some(ou) => ou.clone(),
                    None => {
                        let created = orgs
                            .create_organizational_unit()
                            .parent_id(&root)
                            .name(ou_name)
                            .send()
                            .await
                            .with_context(|| format!("CreateOrganizationalUnit {ou_name}"))?;
                        let id = created
                            .organizational_unit()
                            .and_then(|o| o.id())
                            .with_context(|| format!("CreateOrganizationalUnit {ou_name} returned no ID"))?
                            .to_string();
                        ous.insert(ou_name, id.clone());
                        id
                    }
                };
                let status = orgs
                    .create_account()
                    .account_name(plan.name)
                    .email(format!("{}@example.com", plan.name))
                    .send()
                    .await
                    .with_context(|| format!("CreateAccount {}", plan.name))?;
                let id = status
                    .create_account_status()
                    .and_then(|s| s.account_id())
                    .with_context(|| format!("CreateAccount {} returned no account ID", plan.name))?
                    .to_string();
                orgs.move_account()
                    .account_id(&id)
                    .source_parent_id(&root)
                    .destination_parent_id(&ou)
                    .send()
                    .await
                    .with_context(|| format!("MoveAccount {id} to {ou_name}"))?;
                (id, ou_name)
            }
        };
        let users: Vec<SeedUser> = plan.users.iter().map(|(user, _)| user.clone()).collect();
        emu.seed_in(&id, &users)
            .await
            .with_context(|| format!("seeding the users of {} ({id})", plan.name))?;
        for (user, services) in &plan.advisor {
            emu.set_access_advisor_in(&id, user, services)
                .await
                .with_context(|| format!("setting Access Advisor data of {user} in {id}"))?;
        }
        accounts.push(Account {
            name: plan.name,
            id,
            ou,
            users: plan
                .users
                .iter()
                .map(|(user, story)| (user.name.clone(), *story))
                .collect(),
            management: plan.ou.is_none(),
        });
    }
    orgs.enable_aws_service_access()
        .service_principal(STACKSETS_PRINCIPAL)
        .send()
        .await
        .context("EnableAWSServiceAccess for CloudFormation StackSets")?;
    Ok(Organization {
        id: org_id,
        org_units: ous.into_values().collect(),
        accounts,
    })
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
        r#"{"mode":"enforce"}: the handler's one-run override"#,
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

    let pids: Vec<String> = runs.iter().map(|r| r.pid.to_string()).collect();
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

fn print_accounts(accounts: &[Account]) {
    let width = accounts
        .iter()
        .flat_map(|a| &a.users)
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    for account in accounts {
        let ou = if account.management {
            "management account, under the root".to_string()
        } else {
            format!("OU {}", account.ou)
        };
        println!("   {} {} ({ou})", account.name, account.id);
        for (name, story) in &account.users {
            let first = format!("     {name:<width$}  ");
            let rest = " ".repeat(first.chars().count());
            println!("{}", wrap(story, &first, &rest));
        }
    }
}

// ---------------------------------------------------------------------------
// Deploy
// ---------------------------------------------------------------------------

/// An empty file for `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`: nothing from
/// `~/.aws` reaches the emulator.
fn empty_aws_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("empty-aws-config");
    std::fs::write(&path, "").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `cargo xtask deploy` (this binary) with the standard AWS environment pointing at the
/// emulator; its key lines are shown, all of it goes to `<dir>/deploy.log`.
async fn deploy(
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
    ];
    for ou in org_units {
        args.push("--org-unit".to_string());
        args.push(ou.clone());
    }
    args.push("--yes".to_string());
    out.section("Deploy to the organization", "");
    // The command as one would type it, the OUs on a line of their own.
    let (head, targets) = args.split_at(args.len().min(5));
    println!("   cargo xtask {} \\\n     {}", head.join(" "), targets.join(" "));

    let nowhere = empty_aws_config(dir)?;
    let mut command = tokio::process::Command::new(&exe);
    command.args(&args).current_dir(root).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy().to_ascii_uppercase();
        if name.starts_with("AWS_") || name.starts_with("IAM_JANITOR_") || name.ends_with("_PROXY") {
            command.env_remove(&key);
        }
    }
    command
        .env("AWS_ENDPOINT_URL", emu.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("NO_PROXY", "127.0.0.1,localhost")
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
struct DeployedSettings {
    management: Vec<(String, String)>,
    members: Vec<(String, String)>,
}

async fn deployed_settings(emu: &Emulator) -> anyhow::Result<DeployedSettings> {
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
    engine_settings()
        .into_iter()
        .filter(|s| s.parameter != SLACK_WEBHOOK)
        .filter_map(|s| Some((s.env.to_string(), parameters.get(s.parameter.as_str())?.to_string())))
        .collect()
}

fn describe_settings(settings: &[(String, String)]) -> String {
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

// ---------------------------------------------------------------------------
// The Lambda runs
// ---------------------------------------------------------------------------

/// The packaged bootstrap, extracted to `<dir>/bootstrap` (written next to it and
/// renamed, so a concurrent demo never runs half a file).
fn extract_bootstrap(zip_path: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let file = std::fs::File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", zip_path.display()))?;
    let mut entry = archive
        .by_name(package::ENTRY_NAME)
        .with_context(|| format!("{} has no bootstrap", zip_path.display()))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .with_context(|| format!("unzipping {}", zip_path.display()))?;
    let path = dir.join("bootstrap");
    let temporary = dir.join(format!(".bootstrap.{}.tmp", std::process::id()));
    std::fs::write(&temporary, &bytes).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

/// Credentials of one account.
#[derive(Debug, Clone)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// The management account's own credentials; a member's from `sts:AssumeRole` into its
/// `OrganizationAccountAccessRole` (the emulator maps them to that account).
async fn account_credentials(emu: &Emulator, accounts: &[Account]) -> anyhow::Result<Vec<Credentials>> {
    let sts = aws_sdk_sts::Client::new(&emu.sdk_config().await);
    let mut all = Vec::new();
    for account in accounts {
        if account.management {
            all.push(Credentials {
                access_key_id: "testing".to_string(),
                secret_access_key: "testing".to_string(),
                session_token: None,
            });
            continue;
        }
        let role = format!("arn:aws:iam::{}:role/{MEMBER_ROLE}", account.id);
        let assumed = sts
            .assume_role()
            .role_arn(&role)
            .role_session_name("iam-janitor-demo")
            .send()
            .await
            .with_context(|| format!("AssumeRole {role}"))?;
        let credentials = assumed
            .credentials()
            .with_context(|| format!("AssumeRole {role} returned no credentials"))?;
        all.push(Credentials {
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: Some(credentials.session_token().to_string()),
        });
    }
    Ok(all)
}

/// What one account's runs gave.
struct AccountRuns {
    pid: u32,
    report: Value,
    enforce: Value,
    /// A second enforce run right after the first.
    rerun: Value,
    report_digests: Vec<String>,
    enforce_digests: Vec<String>,
}

/// A `bootstrap` process under a Runtime API; killed (by PID, this very child) and
/// reaped when dropped.
struct Lambda {
    child: std::process::Child,
    api: RuntimeApi,
    log: PathBuf,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lambda {
    async fn invoke(&mut self, event: Value, what: &str) -> anyhow::Result<Value> {
        let outcome = self.api.invoke(event, INVOKE_TIMEOUT).await;
        let failed = |why: String| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            anyhow::anyhow!("the {what} failed: {why}\nLambda log ({}):\n{log}", self.log.display())
        };
        match outcome {
            Ok(Outcome::Response(report)) => Ok(report),
            Ok(Outcome::Error(body)) => Err(failed(format!("the handler returned an error: {body}"))),
            Ok(Outcome::InitError(body)) => Err(failed(format!("the cold start failed: {body}"))),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

fn lambda_log(dir: &Path, account: &Account) -> PathBuf {
    dir.join(format!("lambda-{}.log", account.name))
}

/// Runs every account's Lambda at once; the results in the accounts' order.
async fn run_accounts(
    bootstrap: &Path,
    emu: &Emulator,
    accounts: &[Account],
    credentials: &[Credentials],
    settings: &DeployedSettings,
    webhook: &Arc<WebhookReceiver>,
    dir: &Path,
) -> anyhow::Result<Vec<AccountRuns>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (account, credentials)) in accounts.iter().zip(credentials).enumerate() {
        let environment = if account.management {
            settings.management.clone()
        } else {
            settings.members.clone()
        };
        let job = AccountJob {
            bootstrap: bootstrap.to_path_buf(),
            endpoint: emu.endpoint(),
            account: account.clone(),
            credentials: credentials.clone(),
            environment,
            webhook: Arc::clone(webhook),
            log: lambda_log(dir, account),
        };
        tasks.spawn(async move { (index, job.run().await) });
    }
    let mut results: Vec<Option<AccountRuns>> = accounts.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.context("an account's run panicked")?;
        let name = accounts.get(index).map(|a| a.name).unwrap_or("?");
        let runs = result.with_context(|| format!("running iam-janitor in {name}"))?;
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(runs);
        }
    }
    results
        .into_iter()
        .zip(accounts)
        .map(|(runs, account)| runs.with_context(|| format!("no result for {}", account.name)))
        .collect()
}

struct AccountJob {
    bootstrap: PathBuf,
    endpoint: String,
    account: Account,
    credentials: Credentials,
    environment: Vec<(String, String)>,
    webhook: Arc<WebhookReceiver>,
    log: PathBuf,
}

impl AccountJob {
    async fn run(self) -> anyhow::Result<AccountRuns> {
        let api = RuntimeApi::start().await.context("starting a Lambda Runtime API")?;
        let hook_path = format!("/{}", self.account.id);
        let out = std::fs::File::create(&self.log).with_context(|| format!("creating {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let mut command = std::process::Command::new(&self.bootstrap);
        // Only what Lambda gives a function: its runtime variables, the execution role's
        // credentials, the stack's environment (and the emulator's endpoint).
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", RuntimeApi::FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", &self.credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.credentials.secret_access_key)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "warn")
            .envs(self.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "IAM_JANITOR_SLACK_WEBHOOK",
                format!("{}{hook_path}", self.webhook.base_url()),
            )
            .current_dir(self.bootstrap.parent().unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(token) = &self.credentials.session_token {
            command.env("AWS_SESSION_TOKEN", token);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.bootstrap.display()))?;
        let pid = child.id();
        let mut lambda = Lambda {
            child,
            api,
            log: self.log.clone(),
        };

        let mut event: Value = serde_json::from_str(SCHEDULED_EVENT).context("the scheduled event fixture")?;
        event["account"] = json!(self.account.id);
        event["resources"] = json!([format!(
            "arn:aws:events:{REGION}:{}:rule/iam-janitor-schedule",
            self.account.id
        )]);
        let report = lambda.invoke(event, "scheduled run").await?;
        let digests = |webhook: &WebhookReceiver| -> Vec<String> {
            webhook
                .requests()
                .into_iter()
                .filter(|r| r.method == "POST" && r.path == hook_path)
                .map(|r| r.body)
                .collect()
        };
        let report_digests = digests(&self.webhook);
        let enforce = lambda.invoke(json!({"mode": "enforce"}), "enforce run").await?;
        let enforce_digests = digests(&self.webhook).split_off(report_digests.len());
        let rerun = lambda.invoke(json!({"mode": "enforce"}), "second enforce run").await?;
        drop(lambda);
        Ok(AccountRuns {
            pid,
            report,
            enforce,
            rerun,
            report_digests,
            enforce_digests,
        })
    }
}

// ---------------------------------------------------------------------------
// Slack digests and the summary
// ---------------------------------------------------------------------------

fn print_digests(out: &Out, account: &Account, digests: &[String]) {
    println!();
    if digests.is_empty() {
        println!(
            "   {} {} ({}): nothing to report, no Slack message",
            out.bold("·"),
            account.name,
            account.id
        );
        return;
    }
    for body in digests {
        print!("{}", render_digest(out, body));
    }
}

/// A Slack webhook payload as it reads in Slack: the header, then each section's text.
fn render_digest(out: &Out, body: &str) -> String {
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return wrap(body, "   │ ", "   │ ") + "\n";
    };
    let mut text = String::new();
    let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
    for block in &blocks {
        let content = block["text"]["text"].as_str().unwrap_or_default();
        match block["type"].as_str() {
            Some("header") => {
                let _ = writeln!(text, "   ┌ {}", out.bold(content));
            }
            Some("section") => {
                for line in from_mrkdwn(content).lines() {
                    let continuation = if line.starts_with("• ") {
                        "   │   "
                    } else {
                        "   │ "
                    };
                    let _ = writeln!(text, "{}", wrap(line, "   │ ", continuation));
                }
            }
            _ => {}
        }
    }
    if blocks.is_empty()
        && let Some(plain) = message["text"].as_str()
    {
        let _ = writeln!(text, "{}", wrap(&from_mrkdwn(plain), "   │ ", "   │ "));
    }
    text
}

/// Slack mrkdwn as plain text: `*bold*` and `` `code` `` markers dropped, entities
/// decoded. A `*` is a marker only at the edge of a word (a glob like `ci-*` stays).
fn from_mrkdwn(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut plain = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let after = chars.get(i + 1).copied();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let opens = !word(before) && word(after) && before != Some('*');
        let closes = word(before) && !word(after);
        if c == '`' || (c == '*' && (opens || closes)) {
            continue;
        }
        plain.push(c);
    }
    plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn count(report: &Value, field: &str) -> u64 {
    report["summary"][field].as_u64().unwrap_or(0)
}

/// Skipped findings of a report, counted by the first words of their reason.
fn skipped_reasons(report: &Value) -> String {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for finding in report["findings"].as_array().into_iter().flatten() {
        if finding["status"] != "skipped" {
            continue;
        }
        let reason = finding["reason"].as_str().unwrap_or("no reason given");
        *reasons.entry(reason_label(reason)).or_default() += 1;
    }
    reasons
        .into_iter()
        .map(|(reason, n)| if n == 1 { reason } else { format!("{n}× {reason}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The gist of a reason: up to its first `:`, `;`, `,` or `(`, at most six words.
fn reason_label(reason: &str) -> String {
    let end = reason.find([':', ';', ',', '(']).unwrap_or(reason.len());
    let words: Vec<&str> = reason[..end].split_whitespace().take(6).collect();
    if words.is_empty() {
        "no reason given".to_string()
    } else {
        words.join(" ")
    }
}

fn print_summary(accounts: &[Account], runs: &[AccountRuns]) {
    let mut rows = vec![vec![
        "account".to_string(),
        "id".to_string(),
        "OU".to_string(),
        "users".to_string(),
        "findings".to_string(),
        "applied".to_string(),
        "skipped".to_string(),
    ]];
    for (account, run) in accounts.iter().zip(runs) {
        let findings = run.report["findings"].as_array().map_or(0, Vec::len);
        let skipped = count(&run.enforce, "skipped");
        let reasons = skipped_reasons(&run.enforce);
        rows.push(vec![
            account.name.to_string(),
            account.id.clone(),
            account.ou.to_string(),
            count(&run.report, "users_evaluated").to_string(),
            findings.to_string(),
            count(&run.enforce, "applied").to_string(),
            if skipped == 0 {
                "0".to_string()
            } else {
                format!("{skipped} ({reasons})")
            },
        ]);
    }
    print!("{}", table(&rows, "   "));
    println!(
        "{}",
        wrap(
            "findings: what the scheduled run reported (changes it would make, warnings, skips); applied and \
             skipped: what the enforce run did.",
            "   ",
            "   "
        )
    );
}

// ---------------------------------------------------------------------------
// --keep
// ---------------------------------------------------------------------------

fn env_file(dir: &Path, account: &Account) -> PathBuf {
    dir.join(format!("{}.env", account.name))
}

fn write_env_files(
    dir: &Path,
    endpoint: &str,
    pid: u32,
    accounts: &[Account],
    credentials: &[Credentials],
) -> anyhow::Result<()> {
    for (account, credentials) in accounts.iter().zip(credentials) {
        let mut text = format!(
            "# iam-janitor demo: the {} account ({}) on the local emulator (pid {pid}).\n# Use with `source`.\n\
             unset AWS_PROFILE AWS_SESSION_TOKEN\nexport AWS_ENDPOINT_URL={endpoint}\nexport AWS_REGION={REGION} \
             AWS_DEFAULT_REGION={REGION}\n\
             export AWS_EC2_METADATA_DISABLED=true\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
            account.name, account.id, credentials.access_key_id, credentials.secret_access_key
        );
        if let Some(token) = &credentials.session_token {
            let _ = writeln!(text, "export AWS_SESSION_TOKEN={token}");
        }
        let path = env_file(dir, account);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_keep(out: &Out, root: &Path, dir: &Path, endpoint: &str, pid: u32, log: &Path, accounts: &[Account]) {
    out.section(
        "The emulator keeps running",
        &format!("{endpoint} (pid {pid}), with the organization as the runs left it"),
    );
    if let Some(management) = accounts.iter().find(|a| a.management) {
        println!("   The management account ({}):", management.id);
        println!("     export AWS_ENDPOINT_URL={endpoint} AWS_EC2_METADATA_DISABLED=true");
        println!("     export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}");
        println!("     export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing");
        println!("     aws organizations list-accounts --query 'Accounts[].[Name,Id]' --output text");
        println!("     aws iam list-users --query 'Users[].UserName' --output text");
        println!("     cargo xtask audit                       # what is left to do (report only)");
    }
    println!("   A member account: these files hold its credentials (sts:AssumeRole into {MEMBER_ROLE}):");
    let members: Vec<&Account> = accounts.iter().filter(|a| !a.management).collect();
    let width = members
        .iter()
        .map(|a| relative(root, &env_file(dir, a)).len())
        .max()
        .unwrap_or(0);
    for account in &members {
        let file = relative(root, &env_file(dir, account));
        println!("     source {file:<width$}  # {} {}", account.name, account.id);
    }
    println!("     cargo xtask audit --format json");
    if let Some(management) = accounts.iter().find(|a| a.management) {
        println!(
            "   ({} sets the management account's again.)",
            relative(root, &env_file(dir, management))
        );
    }
    println!(
        "   (The AWS CLI reads AWS_ENDPOINT_URL from v2.13 and v1.29 on.) Emulator log: {}",
        relative(root, log)
    );
    println!("   {}", out.bold(&format!("Stop it with: kill {pid}")));
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Bold and marks on a terminal (unless NO_COLOR is set), plain text otherwise.
struct Out {
    styled: bool,
    /// The next section's number.
    next: std::cell::Cell<usize>,
}

impl Out {
    fn detect() -> Out {
        Out {
            styled: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            next: std::cell::Cell::new(1),
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.styled {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn ok(&self) -> &'static str {
        "✓"
    }

    /// A section heading, numbered in order, and what it is about.
    fn section(&self, title: &str, detail: &str) {
        let n = self.next.get();
        self.next.set(n + 1);
        println!();
        println!("{}", self.bold(&format!("{n}. {title}")));
        if !detail.is_empty() {
            println!("{}", wrap(detail, "   ", "   "));
        }
    }
}

/// Word-wraps `text` at [`WIDTH`] columns: the first line after `first`, the others
/// after `rest`. A word longer than a line gets a line of its own.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let width = line.chars().count() + usize::from(!empty) + word.chars().count();
        if !empty && width > WIDTH {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines.join("\n")
}

/// Rows as left-aligned columns, the first row the header.
fn table(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(c).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

/// `path` relative to the workspace root when it is inside it.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

fn short_hash(hash: &str) -> String {
    hash.chars().take(12).collect::<String>() + "…"
}

/// Every 64-hex-digit word (a sha256) cut to its first 12 digits.
fn short_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 64 {
            out.push_str(&short_hash(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `<root>/target`, as `package` uses it.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn mrkdwn_reads_as_plain_text() {
        assert_eq!(
            from_mrkdwn("*3* credentials disabled, an enforce run *would* act"),
            "3 credentials disabled, an enforce run would act"
        );
        assert_eq!(
            from_mrkdwn("*Changed* (2)\n• `bob` console password: idle &gt; 90 days"),
            "Changed (2)\n• bob console password: idle > 90 days"
        );
        assert_eq!(
            from_mrkdwn("exempt by --exempt-user ci-*"),
            "exempt by --exempt-user ci-*"
        );
    }

    #[test]
    fn digests_render_header_and_sections() {
        let body = json!({"blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "iam-janitor · 123456789012 · enforce"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*1* credentials disabled"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Changed* (1)\n• `bob` console password: idle"}},
        ]})
        .to_string();
        let out = Out {
            styled: false,
            next: std::cell::Cell::new(1),
        };
        assert_eq!(
            render_digest(&out, &body),
            "   ┌ iam-janitor · 123456789012 · enforce\n   │ 1 credentials disabled\n   │ Changed (1)\n   │ • bob \
             console password: idle\n"
        );
    }

    #[test]
    fn long_lines_wrap_under_their_prefix() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text, "   │ ", "   │   ");
        assert!(wrapped.lines().count() > 1);
        assert!(wrapped.lines().all(|l| l.chars().count() <= WIDTH), "{wrapped}");
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("   │   word")));
    }

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
    fn skipped_reasons_are_summarised() {
        let report = json!({"findings": [
            {"status": "skipped", "reason": "exempt: tag iam-janitor:exempt=true; idle 300 days"},
            {"status": "skipped", "reason": "exempt: tag iam-janitor:exempt=true; idle 400 days"},
            {"status": "applied", "reason": "idle"},
            {"status": "skipped", "reason": "user younger than 90 days (grace)"},
        ]});
        assert_eq!(skipped_reasons(&report), "2× exempt, user younger than 90 days");
    }

    #[test]
    fn deployed_parameters_become_the_functions_environment() {
        let environment = as_environment(
            [
                ("Mode", "report"),
                ("DormantDays", "90"),
                ("SlackWebhook", "****"),
                ("CodeKey", "x.zip"),
            ]
            .into_iter(),
        );
        assert_eq!(
            environment,
            [
                ("IAM_JANITOR_MODE".to_string(), "report".to_string()),
                ("IAM_JANITOR_DORMANT_DAYS".to_string(), "90".to_string())
            ]
        );
    }

    #[test]
    fn every_story_is_told() {
        let plans = plans(OffsetDateTime::now_utc());
        assert!(plans.iter().filter(|p| p.ou.is_none()).count() == 1);
        assert!(plans.iter().filter(|p| p.ou.is_some()).count() >= 3);
        let ous: std::collections::BTreeSet<_> = plans.iter().filter_map(|p| p.ou).collect();
        assert_eq!(ous.len(), 2);
        let users: Vec<&SeedUser> = plans.iter().flat_map(|p| &p.users).map(|(user, _)| user).collect();
        assert!(
            users
                .iter()
                .any(|u| u.tags.get(EXEMPT_TAG.0).map(String::as_str) == Some("true"))
        );
        assert!(users.iter().any(|u| u.keys.len() == 2));
        assert!(users.iter().any(|u| u.managed_policy_arns.iter().any(|p| p == ADMIN)));
        assert!(plans.iter().all(|p| !p.users.is_empty()));
    }
}
