//! The Lambda runs: the packaged bootstrap, run in every account under a local Lambda
//! Runtime API with that account's credentials, invoked as scheduled and then to enforce;
//! then once more in the management account for the organization digest.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use iam_janitor_harness::{Emulator, LambdaCommand, LambdaProcess, Outcome, WebhookReceiver};
use serde_json::{Value, json};

use super::deploy::DeployedSettings;
use super::org::Account;
use super::{MEMBER_ROLE, REGION};
use crate::package;

/// The scheduled event EventBridge sends (its account and rule are set per account).
const SCHEDULED_EVENT: &str = include_str!("../../../lambda/tests/fixtures/eventbridge-scheduled.json");
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The packaged bootstrap, extracted to `<dir>/bootstrap` (written next to it and
/// renamed, so a concurrent demo never runs half a file).
pub(super) fn extract_bootstrap(zip_path: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
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
pub(super) struct Credentials {
    pub(super) access_key_id: String,
    pub(super) secret_access_key: String,
    pub(super) session_token: Option<String>,
}

/// The management account's own credentials; a member's from `sts:AssumeRole` into its
/// `OrganizationAccountAccessRole` (the emulator maps them to that account).
pub(super) async fn account_credentials(emu: &Emulator, accounts: &[Account]) -> anyhow::Result<Vec<Credentials>> {
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
pub(super) struct AccountRuns {
    pub(super) pid: u32,
    pub(super) report: Value,
    pub(super) enforce: Value,
    /// A second enforce run right after the first.
    pub(super) rerun: Value,
    pub(super) report_digests: Vec<String>,
    pub(super) enforce_digests: Vec<String>,
}

/// A `bootstrap` process under its own Runtime API (the harness's runner, as in the
/// packaged tests); killed and reaped when dropped.
struct Lambda {
    process: LambdaProcess,
}

impl Lambda {
    async fn invoke(&mut self, event: Value, what: &str) -> anyhow::Result<Value> {
        let outcome = self.process.invoke(event, INVOKE_TIMEOUT).await;
        let failed = |why: String| {
            anyhow::anyhow!(
                "the {what} failed: {why}\nLambda log ({}):\n{}",
                self.process.log_path().display(),
                self.process.output()
            )
        };
        match outcome {
            Ok(Outcome::Response(report)) => Ok(report),
            Ok(Outcome::Error(body)) => Err(failed(format!("the handler returned an error: {body}"))),
            Ok(Outcome::InitError(body)) => Err(failed(format!("the cold start failed: {body}"))),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

pub(super) fn lambda_log(dir: &Path, account: &Account) -> PathBuf {
    dir.join(format!("lambda-{}.log", account.name))
}

/// Runs every account's Lambda at once; the results in the accounts' order.
pub(super) async fn run_accounts(
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
        let hook_path = format!("/{}", self.account.id);
        // Only what Lambda gives a function: its runtime variables, the execution role's
        // credentials, the stack's environment (and the emulator's endpoint).
        let c = &self.credentials;
        let process = LambdaCommand::new(&self.bootstrap, &self.endpoint)
            .credentials(&c.access_key_id, &c.secret_access_key, c.session_token.clone())
            .env("AWS_DEFAULT_REGION", REGION)
            .env("RUST_LOG", "warn")
            .envs(self.environment.iter().cloned())
            .env(
                "IAM_JANITOR_SLACK_WEBHOOK",
                format!("{}{hook_path}", self.webhook.base_url()),
            )
            .log(&self.log)
            .spawn()
            .await
            .with_context(|| format!("starting {}", self.bootstrap.display()))?;
        let pid = process.pid();
        let mut lambda = Lambda { process };

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

/// What the organization digest's invocation gave.
pub(super) struct OrgDigestRun {
    pub(super) pid: u32,
    /// The handler's summary (`{"org_digest": {...}}`).
    pub(super) summary: Value,
    /// The Slack message(s) posted.
    pub(super) digests: Vec<String>,
}

/// The management account's function invoked as its `OrgDigestSchedule` rule does
/// (`{"iam-janitor":"org-digest"}`): a fresh bootstrap process with the management
/// stack's settings, posting to the local webhook under `/org-digest`.
pub(super) async fn run_org_digest(
    bootstrap: &Path,
    emu: &Emulator,
    management: &Account,
    credentials: &Credentials,
    settings: &DeployedSettings,
    webhook: &WebhookReceiver,
    dir: &Path,
) -> anyhow::Result<OrgDigestRun> {
    let hook_path = "/org-digest";
    let c = credentials;
    let process = LambdaCommand::new(bootstrap, emu.endpoint())
        .credentials(&c.access_key_id, &c.secret_access_key, c.session_token.clone())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("RUST_LOG", "warn")
        .envs(settings.management.iter().cloned())
        .env(
            "IAM_JANITOR_SLACK_WEBHOOK",
            format!("{}{hook_path}", webhook.base_url()),
        )
        .log(dir.join(format!("lambda-{}-org-digest.log", management.name)))
        .spawn()
        .await
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let pid = process.pid();
    let mut lambda = Lambda { process };
    let summary = lambda
        .invoke(json!({"iam-janitor": "org-digest"}), "organization digest")
        .await?;
    drop(lambda);
    let digests = webhook
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == hook_path)
        .map(|r| r.body)
        .collect();
    Ok(OrgDigestRun { pid, summary, digests })
}
