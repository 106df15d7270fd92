//! The AWS side of `deploy` and `destroy`: one method per call (or per wait), errors
//! turned into one line that names what was being done. The requests that matter most
//! (the StackSet's) are built by separate functions so that tests can read them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::operation::create_stack_instances::builders::CreateStackInstancesFluentBuilder;
use aws_sdk_cloudformation::operation::create_stack_set::builders::CreateStackSetFluentBuilder;
use aws_sdk_cloudformation::operation::delete_stack_instances::builders::DeleteStackInstancesFluentBuilder;
use aws_sdk_cloudformation::operation::update_stack_set::builders::UpdateStackSetFluentBuilder;
use aws_sdk_cloudformation::types::{
    AutoDeployment, CallAs, Capability, ChangeSetStatus, ChangeSetType, ConcurrencyMode, DeploymentTargets,
    ManagedExecution, Parameter, PermissionModels, StackSetOperationPreferences, StackSetOperationResultStatus,
    StackSetOperationStatus, Tag,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, Delete, ObjectIdentifier};
use sha2::{Digest, Sha256};

use super::plan::{
    AUTO_DEPLOYMENT, AutoDeploymentState, DeployedStack, DeployedStackSet, DesiredStack, DesiredStackSet, Instance,
    STACK_SET, STACKSETS_PRINCIPAL,
};
use super::progress::Step;

/// At most this many OUs per Create/DeleteStackInstances call.
pub const MAX_ORG_UNITS_PER_CALL: usize = 50;
/// First pause between two polls; it grows by half up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_secs(2);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(20);

/// An SDK error as one line: the service's code and message, or what went wrong on the way.
fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match error.as_service_error().map(|e| (e.code(), e.message())) {
        Some((Some(code), Some(message))) => format!("{code}: {message}"),
        Some((Some(code), None)) => code.to_string(),
        _ => DisplayErrorContext(error).to_string(),
    }
}

/// The service's error code, if it answered.
fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// `.or_fail(|| "what was being done")`: the SDK error, described, in that context.
trait OrFail<T> {
    fn or_fail(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E, R> OrFail<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    fn or_fail(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::msg(describe(&e)).context(what()))
    }
}

/// Paces a wait: polls at growing intervals until a deadline.
pub struct Backoff {
    deadline: Instant,
    timeout: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(timeout: Duration) -> Backoff {
        Backoff {
            deadline: Instant::now() + timeout,
            timeout,
            next: FIRST_POLL_INTERVAL,
        }
    }

    /// Sleeps before the next poll; an error once the deadline has passed.
    pub async fn pause(&mut self, what: &str) -> anyhow::Result<()> {
        let now = Instant::now();
        if now >= self.deadline {
            bail!(
                "gave up waiting for {what} after {} minutes (--timeout-minutes); it may still finish: check the \
                 CloudFormation console, then run the command again",
                self.timeout.as_secs() / 60
            );
        }
        tokio::time::sleep(self.next.min(self.deadline - now)).await;
        self.next = (self.next * 3 / 2).min(MAX_POLL_INTERVAL);
        Ok(())
    }
}

/// The organization, as DescribeOrganization shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub management_account: String,
    pub all_features: bool,
}

/// How a change set turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSetOutcome {
    /// Ready to execute, with these resource changes (possibly none: parameters only).
    Ready(Vec<String>),
    /// CloudFormation found nothing to change.
    NoChanges,
}

/// The failed accounts of a StackSet operation, one line each.
fn failed_accounts_error(operation: &str, status: &str, reason: Option<&str>, failed: &[String]) -> anyhow::Error {
    let mut message = format!("StackSet {STACK_SET} operation {operation} ended {status}");
    if let Some(reason) = reason {
        message.push_str(&format!(": {reason}"));
    }
    if !failed.is_empty() {
        message.push_str(&format!("; {} account(s) failed:", failed.len()));
        for line in failed {
            message.push_str(&format!("\n  {line}"));
        }
    }
    anyhow::Error::msg(message)
}

/// The StackSet's operation preferences: `max_concurrent_percent` of the accounts at once,
/// stop when more than `failure_tolerance_percent` fail.
///
/// `SOFT_FAILURE_TOLERANCE`: under the default `STRICT_FAILURE_TOLERANCE` the concurrency
/// is capped at the failure tolerance plus one, so a 0 % tolerance would deploy to one
/// account at a time whatever the concurrency says. Soft mode keeps the concurrency and
/// still stops at the tolerance (accounts already under way finish).
pub fn operation_preferences(
    max_concurrent_percent: u8,
    failure_tolerance_percent: u8,
) -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .max_concurrent_percentage(i32::from(max_concurrent_percent))
        .failure_tolerance_percentage(i32::from(failure_tolerance_percent))
        .concurrency_mode(ConcurrencyMode::SoftFailureTolerance)
        .build()
}

fn parameters(desired: &DesiredStack) -> Vec<Parameter> {
    desired
        .parameters
        .iter()
        .map(|(key, value)| Parameter::builder().parameter_key(key).parameter_value(value).build())
        .collect()
}

fn tags(desired: &DesiredStack) -> Vec<Tag> {
    desired
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn auto_deployment() -> AutoDeployment {
    AutoDeployment::builder()
        .enabled(AUTO_DEPLOYMENT.enabled)
        .retain_stacks_on_account_removal(AUTO_DEPLOYMENT.retain_stacks_on_account_removal)
        .build()
}

fn managed_execution() -> ManagedExecution {
    ManagedExecution::builder().active(true).build()
}

fn org_unit_targets(org_units: &[String]) -> DeploymentTargets {
    DeploymentTargets::builder()
        .set_organizational_unit_ids(Some(org_units.to_vec()))
        .build()
}

/// CreateStackSet: service-managed, automatic deployment on (stacks removed from accounts
/// that leave), managed execution (operations queue instead of failing), named IAM.
pub fn create_stack_set_request(
    cfn: &aws_sdk_cloudformation::Client,
    desired: &DesiredStackSet,
    call_as: CallAs,
) -> CreateStackSetFluentBuilder {
    cfn.create_stack_set()
        .stack_set_name(&desired.stack.name)
        .description("iam-janitor: disables dormant IAM credentials in every account of the organization")
        .template_body(&desired.stack.body)
        .set_parameters(Some(parameters(&desired.stack)))
        .set_tags(Some(tags(&desired.stack)))
        .capabilities(Capability::CapabilityNamedIam)
        .permission_model(PermissionModels::ServiceManaged)
        .auto_deployment(auto_deployment())
        .managed_execution(managed_execution())
        .call_as(call_as)
}

/// UpdateStackSet without targets: every stack instance is updated, and the StackSet's
/// settings are set again.
pub fn update_stack_set_request(
    cfn: &aws_sdk_cloudformation::Client,
    desired: &DesiredStackSet,
    preferences: StackSetOperationPreferences,
    call_as: CallAs,
) -> UpdateStackSetFluentBuilder {
    cfn.update_stack_set()
        .stack_set_name(&desired.stack.name)
        .template_body(&desired.stack.body)
        .set_parameters(Some(parameters(&desired.stack)))
        .set_tags(Some(tags(&desired.stack)))
        .capabilities(Capability::CapabilityNamedIam)
        .permission_model(PermissionModels::ServiceManaged)
        .auto_deployment(auto_deployment())
        .managed_execution(managed_execution())
        .operation_preferences(preferences)
        .call_as(call_as)
}

/// CreateStackInstances for OUs, in one Region only: IAM is global, so one schedule per
/// account.
pub fn create_instances_request(
    cfn: &aws_sdk_cloudformation::Client,
    org_units: &[String],
    region: &str,
    preferences: StackSetOperationPreferences,
    call_as: CallAs,
) -> CreateStackInstancesFluentBuilder {
    cfn.create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(org_unit_targets(org_units))
        .regions(region)
        .operation_preferences(preferences)
        .call_as(call_as)
}

/// DeleteStackInstances for OUs: the stacks are deleted with them.
pub fn delete_instances_request(
    cfn: &aws_sdk_cloudformation::Client,
    org_units: &[String],
    regions: &[String],
    preferences: StackSetOperationPreferences,
    call_as: CallAs,
) -> DeleteStackInstancesFluentBuilder {
    cfn.delete_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(org_unit_targets(org_units))
        .set_regions(Some(regions.to_vec()))
        .retain_stacks(false)
        .operation_preferences(preferences)
        .call_as(call_as)
}

/// The clients, and whether StackSet calls are made as the management account or as a
/// delegated administrator.
pub struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    orgs: aws_sdk_organizations::Client,
    sts: aws_sdk_sts::Client,
    call_as: CallAs,
}

impl Aws {
    pub fn new(config: &SdkConfig, call_as: CallAs) -> Aws {
        // A custom endpoint (an emulator, a proxy) rarely resolves bucket subdomains.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Aws {
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            orgs: aws_sdk_organizations::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            call_as,
        }
    }

    // ---------------------------------------------------------------
    // Who and where
    // ---------------------------------------------------------------

    pub async fn caller_account(&self) -> anyhow::Result<String> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .or_fail(|| "cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity)".into())?;
        identity
            .account()
            .map(str::to_string)
            .context("sts:GetCallerIdentity returned no account")
    }

    pub async fn organization(&self, account: &str) -> anyhow::Result<Organization> {
        let output = match self.orgs.describe_organization().send().await {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_aws_organizations_not_in_use_exception()) =>
            {
                bail!(
                    "account {account} is not in an AWS Organization: iam-janitor is deployed to every account of an \
                 organization. Use credentials of an organization's management account, or create one \
                 (`aws organizations create-organization --feature-set ALL`)"
                )
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_access_denied_exception()) => bail!(
                "account {account} may not read its organization ({}): deploy with credentials of the \
                 organization's management account (or of a delegated administrator for StackSets, with --call-as \
                 DELEGATED_ADMIN)",
                describe(&e)
            ),
            Err(e) => return Err(anyhow::Error::msg(describe(&e)).context("organizations:DescribeOrganization")),
        };
        let organization = output
            .organization()
            .context("organizations:DescribeOrganization returned no organization")?;
        Ok(Organization {
            id: organization.id().unwrap_or_default().to_string(),
            management_account: organization.master_account_id().unwrap_or_default().to_string(),
            all_features: organization.feature_set().is_none_or(|f| f.as_str() == "ALL"),
        })
    }

    /// Whether trusted access for StackSets is activated (management account only).
    pub async fn stacksets_trusted_access(&self) -> anyhow::Result<bool> {
        let mut token = None;
        loop {
            let page = self
                .orgs
                .list_aws_service_access_for_organization()
                .set_next_token(token)
                .send()
                .await
                .or_fail(|| "organizations:ListAWSServiceAccessForOrganization".into())?;
            if page
                .enabled_service_principals()
                .iter()
                .any(|p| p.service_principal() == Some(STACKSETS_PRINCIPAL))
            {
                return Ok(true);
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(false),
            }
        }
    }

    /// Checks that a root or OU ID exists in the organization.
    pub async fn check_org_unit(&self, id: &str, organization: &str) -> anyhow::Result<()> {
        if id.starts_with("r-") {
            let roots = self
                .orgs
                .list_roots()
                .send()
                .await
                .or_fail(|| "organizations:ListRoots".into())?;
            if !roots.roots().iter().any(|r| r.id() == Some(id)) {
                let ids: Vec<&str> = roots.roots().iter().filter_map(|r| r.id()).collect();
                bail!(
                    "{id} is not the root of organization {organization} (its root is {})",
                    ids.join(", ")
                );
            }
            return Ok(());
        }
        match self
            .orgs
            .describe_organizational_unit()
            .organizational_unit_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_organizational_unit_not_found_exception()) =>
            {
                bail!("{id} is not an OU of organization {organization} (`aws organizations list-children` lists them)")
            }
            Err(e) => {
                Err(anyhow::Error::msg(describe(&e)).context(format!("organizations:DescribeOrganizationalUnit {id}")))
            }
        }
    }

    /// The parents of an OU, nearest first, up to the root.
    pub async fn ancestors(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let mut ancestors = Vec::new();
        let mut child = id.to_string();
        // OUs nest at most five deep under the root.
        for _ in 0..8 {
            if child.starts_with("r-") {
                break;
            }
            let parents = self
                .orgs
                .list_parents()
                .child_id(&child)
                .send()
                .await
                .or_fail(|| format!("organizations:ListParents {child}"))?;
            let Some(parent) = parents.parents().first().and_then(|p| p.id()) else {
                break;
            };
            ancestors.push(parent.to_string());
            child = parent.to_string();
        }
        Ok(ancestors)
    }

    // ---------------------------------------------------------------
    // Stacks
    // ---------------------------------------------------------------

    /// The stack, or `None` if there is none of that name.
    pub async fn stack(&self, name: &str) -> anyhow::Result<Option<DeployedStack>> {
        let output = match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(output) => output,
            Err(e) if code(&e) == Some("ValidationError") && describe(&e).contains("does not exist") => {
                return Ok(None);
            }
            Err(e) => return Err(anyhow::Error::msg(describe(&e)).context(format!("DescribeStacks {name}"))),
        };
        let Some(stack) = output.stacks().first() else {
            return Ok(None);
        };
        let status = stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        let pairs = |items: Vec<(Option<&str>, Option<&str>)>| -> BTreeMap<String, String> {
            items
                .into_iter()
                .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
                .collect()
        };
        let mut deployed = DeployedStack {
            parameters: pairs(
                stack
                    .parameters()
                    .iter()
                    .map(|p| (p.parameter_key(), p.parameter_value()))
                    .collect(),
            ),
            tags: pairs(stack.tags().iter().map(|t| (t.key(), t.value())).collect()),
            outputs: pairs(
                stack
                    .outputs()
                    .iter()
                    .map(|o| (o.output_key(), o.output_value()))
                    .collect(),
            ),
            status,
            template_body: None,
        };
        if deployed.is_created() {
            let template = self
                .cfn
                .get_template()
                .stack_name(name)
                .send()
                .await
                .or_fail(|| format!("GetTemplate {name}"))?;
            deployed.template_body = template.template_body().map(str::to_string);
        }
        Ok(Some(deployed))
    }

    pub async fn create_stack(&self, desired: &DesiredStack) -> anyhow::Result<()> {
        self.cfn
            .create_stack()
            .stack_name(&desired.name)
            .template_body(&desired.body)
            .set_parameters(Some(parameters(desired)))
            .set_tags(Some(tags(desired)))
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .or_fail(|| format!("CreateStack {}", desired.name))?;
        Ok(())
    }

    /// UpdateStack; `false` if CloudFormation says there is nothing to update.
    pub async fn update_stack(&self, desired: &DesiredStack) -> anyhow::Result<bool> {
        match self
            .cfn
            .update_stack()
            .stack_name(&desired.name)
            .template_body(&desired.body)
            .set_parameters(Some(parameters(desired)))
            .set_tags(Some(tags(desired)))
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if describe(&e).contains("No updates are to be performed") => Ok(false),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("UpdateStack {}", desired.name))),
        }
    }

    /// The stack's ID (kept by deleted stacks, unlike its name).
    pub async fn stack_id(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(output) => Ok(output.stacks().first().and_then(|s| s.stack_id()).map(str::to_string)),
            Err(e) if code(&e) == Some("ValidationError") && describe(&e).contains("does not exist") => Ok(None),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("DescribeStacks {name}"))),
        }
    }

    /// Why a stack failed: its most recent failed events with their reasons.
    async fn failure_reasons(&self, name: &str) -> String {
        let Ok(events) = self.cfn.describe_stack_events().stack_name(name).send().await else {
            return "see the stack's events".to_string();
        };
        let reasons: Vec<String> = events
            .stack_events()
            .iter()
            .filter(|e| e.resource_status().is_some_and(|s| s.as_str().ends_with("FAILED")))
            .filter_map(|e| {
                let reason = e.resource_status_reason()?;
                Some(format!(
                    "{} ({}) {}: {reason}",
                    e.logical_resource_id().unwrap_or("?"),
                    e.resource_type().unwrap_or("?"),
                    e.resource_status().map(|s| s.as_str()).unwrap_or("?")
                ))
            })
            .take(5)
            .collect();
        if reasons.is_empty() {
            "see the stack's events".to_string()
        } else {
            reasons.join("; ")
        }
    }

    /// Waits until the stack is no longer in progress; an error unless it ended complete.
    pub async fn wait_stack(&self, name: &str, timeout: Duration, step: &Step) -> anyhow::Result<String> {
        let mut backoff = Backoff::new(timeout);
        loop {
            let status = self
                .cfn
                .describe_stacks()
                .stack_name(name)
                .send()
                .await
                .or_fail(|| format!("DescribeStacks {name}"))?
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            if status.ends_with("_IN_PROGRESS") {
                step.update(&format!("{name}: {status}"));
                backoff.pause(&format!("stack {name}")).await?;
                continue;
            }
            if matches!(
                status.as_str(),
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
            ) {
                return Ok(status);
            }
            bail!("stack {name} ended {status}: {}", self.failure_reasons(name).await);
        }
    }

    pub async fn delete_stack(&self, name: &str, timeout: Duration, step: &Step) -> anyhow::Result<()> {
        let Some(id) = self.stack_id(name).await? else {
            return Ok(());
        };
        self.cfn
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .or_fail(|| format!("DeleteStack {name}"))?;
        let mut backoff = Backoff::new(timeout);
        loop {
            // By ID: a deleted stack is found by its ID only, with status DELETE_COMPLETE.
            let status = match self.cfn.describe_stacks().stack_name(&id).send().await {
                Ok(output) => output
                    .stacks()
                    .first()
                    .and_then(|s| s.stack_status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "DELETE_COMPLETE".to_string()),
                Err(e) if describe(&e).contains("does not exist") => "DELETE_COMPLETE".to_string(),
                Err(e) => return Err(anyhow::Error::msg(describe(&e)).context(format!("DescribeStacks {name}"))),
            };
            match status.as_str() {
                "DELETE_COMPLETE" => return Ok(()),
                "DELETE_IN_PROGRESS" => {
                    step.update(&format!("{name}: {status}"));
                    backoff.pause(&format!("the deletion of stack {name}")).await?;
                }
                _ => bail!("stack {name} ended {status}: {}", self.failure_reasons(&id).await),
            }
        }
    }

    // ---------------------------------------------------------------
    // Change sets
    // ---------------------------------------------------------------

    /// Creates a change set (CREATE for a new stack) and returns its ID.
    pub async fn create_change_set(
        &self,
        desired: &DesiredStack,
        change_set_name: &str,
        create: bool,
    ) -> anyhow::Result<String> {
        let output = self
            .cfn
            .create_change_set()
            .stack_name(&desired.name)
            .change_set_name(change_set_name)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .template_body(&desired.body)
            .set_parameters(Some(parameters(desired)))
            .set_tags(Some(tags(desired)))
            .capabilities(Capability::CapabilityNamedIam)
            .description("cargo xtask deploy")
            .send()
            .await
            .or_fail(|| format!("CreateChangeSet {change_set_name} for stack {}", desired.name))?;
        output
            .id()
            .map(str::to_string)
            .context("CreateChangeSet returned no ID")
    }

    /// Waits for the change set; its resource changes, or [`ChangeSetOutcome::NoChanges`].
    pub async fn wait_change_set(
        &self,
        stack: &str,
        id: &str,
        timeout: Duration,
        step: &Step,
    ) -> anyhow::Result<ChangeSetOutcome> {
        let mut backoff = Backoff::new(timeout);
        loop {
            let mut token: Option<String> = None;
            let mut changes = Vec::new();
            let (status, reason) = loop {
                let page = self
                    .cfn
                    .describe_change_set()
                    .stack_name(stack)
                    .change_set_name(id)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .or_fail(|| format!("DescribeChangeSet for stack {stack}"))?;
                changes.extend(page.changes().iter().filter_map(|c| c.resource_change()).map(|r| {
                    let action = r.action().map(|a| a.as_str()).unwrap_or("?");
                    let sign = match action {
                        "Add" => "+",
                        "Remove" => "-",
                        "Modify" => "~",
                        _ => "*",
                    };
                    let replacement = match r.replacement().map(|x| x.as_str()) {
                        Some("True") => ", replaced",
                        Some("Conditional") => ", may be replaced",
                        _ => "",
                    };
                    format!(
                        "{sign} {} ({}): {action}{replacement}",
                        r.logical_resource_id().unwrap_or("?"),
                        r.resource_type().unwrap_or("?")
                    )
                }));
                match page.next_token() {
                    Some(next) => token = Some(next.to_string()),
                    None => break (page.status().cloned(), page.status_reason().map(str::to_string)),
                }
            };
            match status {
                Some(ChangeSetStatus::CreateComplete) => return Ok(ChangeSetOutcome::Ready(changes)),
                Some(ChangeSetStatus::Failed) => {
                    let reason = reason.unwrap_or_default();
                    if reason.contains("didn't contain changes") || reason.contains("No updates are to be performed") {
                        return Ok(ChangeSetOutcome::NoChanges);
                    }
                    bail!("the change set for stack {stack} failed: {reason}");
                }
                Some(ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress) => {
                    step.update(&format!("change set for {stack}: creating"));
                    backoff.pause(&format!("the change set of stack {stack}")).await?;
                }
                other => bail!(
                    "the change set for stack {stack} is {}",
                    other.as_ref().map(|s| s.as_str()).unwrap_or("gone")
                ),
            }
        }
    }

    pub async fn execute_change_set(&self, stack: &str, id: &str) -> anyhow::Result<()> {
        self.cfn
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .or_fail(|| format!("ExecuteChangeSet for stack {stack}"))?;
        Ok(())
    }

    pub async fn delete_change_set(&self, stack: &str, id: &str) -> anyhow::Result<()> {
        self.cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .or_fail(|| format!("DeleteChangeSet for stack {stack}"))?;
        Ok(())
    }

    // ---------------------------------------------------------------
    // The StackSet
    // ---------------------------------------------------------------

    pub async fn stack_instances(&self) -> anyhow::Result<Vec<Instance>> {
        let summaries = self
            .cfn
            .list_stack_instances()
            .stack_set_name(STACK_SET)
            .call_as(self.call_as.clone())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .or_fail(|| format!("ListStackInstances {STACK_SET}"))?;
        Ok(summaries
            .iter()
            .map(|s| Instance {
                account: s.account().unwrap_or_default().to_string(),
                region: s.region().unwrap_or_default().to_string(),
                status: s.status().map(|x| x.as_str().to_string()).unwrap_or_default(),
                detailed_status: s
                    .stack_instance_status()
                    .and_then(|x| x.detailed_status())
                    .map(|x| x.as_str().to_string()),
                reason: s.status_reason().map(str::to_string),
                org_unit: s.organizational_unit_id().map(str::to_string),
            })
            .collect())
    }

    /// The StackSet and its instances, or `None` if there is none.
    pub async fn stack_set(&self) -> anyhow::Result<Option<DeployedStackSet>> {
        let output = match self
            .cfn
            .describe_stack_set()
            .stack_set_name(STACK_SET)
            .call_as(self.call_as.clone())
            .send()
            .await
        {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_stack_set_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(anyhow::Error::msg(describe(&e)).context(format!("DescribeStackSet {STACK_SET}"))),
        };
        let Some(set) = output.stack_set() else {
            return Ok(None);
        };
        let deployed = DeployedStackSet {
            template_body: set.template_body().unwrap_or_default().to_string(),
            parameters: set
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_string(),
                        p.parameter_value().unwrap_or_default().to_string(),
                    ))
                })
                .collect(),
            tags: set
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect(),
            permission_model: set.permission_model().map(|m| m.as_str().to_string()),
            auto_deployment: set.auto_deployment().map(|a| AutoDeploymentState {
                enabled: a.enabled().unwrap_or(false),
                retain_stacks_on_account_removal: a.retain_stacks_on_account_removal().unwrap_or(false),
            }),
            managed_execution: set.managed_execution().and_then(|m| m.active()),
            org_units: set.organizational_unit_ids().iter().cloned().collect(),
            instances: self.stack_instances().await?,
        };
        Ok(Some(deployed))
    }

    pub async fn create_stack_set(&self, desired: &DesiredStackSet) -> anyhow::Result<()> {
        create_stack_set_request(&self.cfn, desired, self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("CreateStackSet {}", desired.stack.name))?;
        Ok(())
    }

    /// UpdateStackSet; returns the operation's ID.
    pub async fn update_stack_set(
        &self,
        desired: &DesiredStackSet,
        preferences: StackSetOperationPreferences,
    ) -> anyhow::Result<String> {
        let output = update_stack_set_request(&self.cfn, desired, preferences, self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("UpdateStackSet {}", desired.stack.name))?;
        output
            .operation_id()
            .map(str::to_string)
            .context("UpdateStackSet returned no operation")
    }

    pub async fn create_stack_instances(
        &self,
        org_units: &[String],
        region: &str,
        preferences: StackSetOperationPreferences,
    ) -> anyhow::Result<String> {
        let output = create_instances_request(&self.cfn, org_units, region, preferences, self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("CreateStackInstances {STACK_SET} for {}", org_units.join(", ")))?;
        output
            .operation_id()
            .map(str::to_string)
            .context("CreateStackInstances returned no operation")
    }

    pub async fn delete_stack_instances(
        &self,
        org_units: &[String],
        regions: &[String],
        preferences: StackSetOperationPreferences,
    ) -> anyhow::Result<String> {
        let output = delete_instances_request(&self.cfn, org_units, regions, preferences, self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("DeleteStackInstances {STACK_SET} for {}", org_units.join(", ")))?;
        output
            .operation_id()
            .map(str::to_string)
            .context("DeleteStackInstances returned no operation")
    }

    pub async fn delete_stack_set(&self) -> anyhow::Result<()> {
        self.cfn
            .delete_stack_set()
            .stack_set_name(STACK_SET)
            .call_as(self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("DeleteStackSet {STACK_SET}"))?;
        Ok(())
    }

    /// Waits for a StackSet operation, showing per-account progress; an error naming
    /// every failed account with CloudFormation's reason unless all succeeded.
    pub async fn wait_operation(&self, operation: &str, timeout: Duration, step: &Step) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(timeout);
        loop {
            let described = self
                .cfn
                .describe_stack_set_operation()
                .stack_set_name(STACK_SET)
                .operation_id(operation)
                .call_as(self.call_as.clone())
                .send()
                .await
                .or_fail(|| format!("DescribeStackSetOperation {STACK_SET} {operation}"))?;
            let op = described.stack_set_operation();
            let status = op.and_then(|o| o.status()).cloned();
            let results = self
                .cfn
                .list_stack_set_operation_results()
                .stack_set_name(STACK_SET)
                .operation_id(operation)
                .call_as(self.call_as.clone())
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .or_fail(|| format!("ListStackSetOperationResults {STACK_SET} {operation}"))?;
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for result in &results {
                *counts
                    .entry(result.status().map(|s| s.as_str()).unwrap_or("UNKNOWN"))
                    .or_default() += 1;
            }
            let counted: Vec<String> = counts
                .iter()
                .map(|(s, n)| format!("{n} {}", s.to_lowercase()))
                .collect();
            let status_text = status.as_ref().map(|s| s.as_str()).unwrap_or("UNKNOWN");
            step.update(&format!(
                "operation {operation}: {status_text}{}",
                if counted.is_empty() {
                    String::new()
                } else {
                    format!(" ({} of {} accounts)", counted.join(", "), results.len())
                }
            ));
            match status {
                Some(
                    StackSetOperationStatus::Running
                    | StackSetOperationStatus::Queued
                    | StackSetOperationStatus::Stopping,
                ) => {
                    backoff
                        .pause(&format!("StackSet {STACK_SET} operation {operation}"))
                        .await?;
                }
                _ => {
                    let failed: Vec<String> = results
                        .iter()
                        .filter(|r| r.status() == Some(&StackSetOperationResultStatus::Failed))
                        .map(|r| {
                            format!(
                                "{} {}: {}",
                                r.account().unwrap_or("?"),
                                r.region().unwrap_or("?"),
                                r.status_reason().unwrap_or("no reason given")
                            )
                        })
                        .collect();
                    if status == Some(StackSetOperationStatus::Succeeded) && failed.is_empty() {
                        return Ok(());
                    }
                    return Err(failed_accounts_error(
                        operation,
                        status_text,
                        op.and_then(|o| o.status_reason()),
                        &failed,
                    ));
                }
            }
        }
    }

    // ---------------------------------------------------------------
    // The code bucket
    // ---------------------------------------------------------------

    pub async fn bucket_exists(&self, bucket: &str) -> anyhow::Result<bool> {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            // In another Region: it exists (GetBucketLocation then says where).
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 301) => Ok(true),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("HeadBucket {bucket}"))),
        }
    }

    /// The bucket's Region.
    pub async fn bucket_region(&self, bucket: &str) -> anyhow::Result<String> {
        let location = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .or_fail(|| format!("GetBucketLocation {bucket}"))?;
        // No constraint is us-east-1; "EU" is the legacy name of eu-west-1.
        Ok(match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(region) => region.to_string(),
        })
    }

    pub async fn object_exists(&self, bucket: &str, key: &str) -> anyhow::Result<bool> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("HeadObject s3://{bucket}/{key}"))),
        }
    }

    /// Uploads the zip with its sha256, which S3 checks on arrival.
    pub async fn put_zip(&self, bucket: &str, key: &str, zip: &[u8]) -> anyhow::Result<()> {
        let checksum = aws_smithy_types::base64::encode(Sha256::digest(zip).as_slice());
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum)
            .body(ByteStream::from(zip.to_vec()))
            .send()
            .await
            .or_fail(|| format!("PutObject s3://{bucket}/{key}"))?;
        Ok(())
    }

    /// Deletes every version and delete marker in the bucket; returns how many.
    pub async fn empty_bucket(&self, bucket: &str, step: &Step) -> anyhow::Result<usize> {
        let mut deleted = 0;
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .or_fail(|| format!("ListObjectVersions {bucket}"))?;
            let mut objects = Vec::new();
            for (key, version) in page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
            {
                let Some(key) = key else { continue };
                objects.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_string))
                        .build()
                        .with_context(|| format!("object {key} of {bucket}"))?,
                );
            }
            for chunk in objects.chunks(1000) {
                let output = self
                    .s3
                    .delete_objects()
                    .bucket(bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(chunk.to_vec()))
                            .quiet(true)
                            .build()
                            .with_context(|| format!("DeleteObjects {bucket}"))?,
                    )
                    .send()
                    .await
                    .or_fail(|| format!("DeleteObjects {bucket}"))?;
                if let Some(error) = output.errors().first() {
                    bail!(
                        "DeleteObjects {bucket}: {} {}: {}",
                        error.key().unwrap_or("?"),
                        error.code().unwrap_or("?"),
                        error.message().unwrap_or("")
                    );
                }
                deleted += chunk.len();
                step.update(&format!("{bucket}: {deleted} object version(s) deleted"));
            }
            if page.is_truncated() != Some(true) {
                return Ok(deleted);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    pub async fn delete_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.s3
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .or_fail(|| format!("DeleteBucket {bucket}"))?;
        Ok(())
    }
}

/// Distinct Regions of some instances.
pub fn regions_of(instances: &[Instance]) -> BTreeSet<String> {
    instances.iter().map(|i| i.region.clone()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use aws_sdk_cloudformation::config::{BehaviorVersion, Region};

    use super::*;

    /// A client that is only used to build requests (nothing is sent).
    fn cfn() -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        )
    }

    fn desired() -> DesiredStackSet {
        let template = serde_json::json!({"Parameters": {"A": {"Type": "String"}}, "Resources": {}});
        let stack = DesiredStack::new(
            STACK_SET,
            template,
            BTreeMap::from([("A".to_string(), "1".to_string())]),
            BTreeMap::from([("t".to_string(), "v".to_string())]),
        )
        .unwrap();
        DesiredStackSet {
            stack,
            org_units: BTreeSet::from(["ou-abcd-11111111".to_string()]),
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn the_stack_set_is_service_managed_with_automatic_deployment() {
        let cfn = cfn();
        let request = create_stack_set_request(&cfn, &desired(), CallAs::DelegatedAdmin);
        let input = request.as_input();
        assert_eq!(input.get_stack_set_name().as_deref(), Some("iam-janitor"));
        assert_eq!(input.get_permission_model(), &Some(PermissionModels::ServiceManaged));
        let auto = input.get_auto_deployment().clone().unwrap();
        assert_eq!(auto.enabled(), Some(true));
        assert_eq!(auto.retain_stacks_on_account_removal(), Some(false));
        assert_eq!(input.get_managed_execution().clone().unwrap().active(), Some(true));
        assert_eq!(input.get_capabilities(), &Some(vec![Capability::CapabilityNamedIam]));
        assert_eq!(input.get_call_as(), &Some(CallAs::DelegatedAdmin));
        let parameters = input.get_parameters().clone().unwrap();
        assert_eq!(parameters.len(), 1);
        assert_eq!(parameters[0].parameter_key(), Some("A"));
        assert_eq!(parameters[0].parameter_value(), Some("1"));
        assert_eq!(input.get_tags().clone().unwrap()[0].key(), Some("t"));

        let update = update_stack_set_request(&cfn, &desired(), operation_preferences(25, 0), CallAs::SelfValue);
        let input = update.as_input();
        assert_eq!(input.get_auto_deployment(), request.as_input().get_auto_deployment());
        assert_eq!(
            input.get_managed_execution(),
            request.as_input().get_managed_execution()
        );
        assert_eq!(input.get_permission_model(), &Some(PermissionModels::ServiceManaged));
        assert_eq!(input.get_call_as(), &Some(CallAs::SelfValue));
        assert!(
            input.get_deployment_targets().is_none() && input.get_regions().is_none(),
            "no targets: every instance is updated"
        );
    }

    #[test]
    fn instances_go_to_the_org_units_in_one_region() {
        let cfn = cfn();
        let org_units = vec!["r-abcd".to_string(), "ou-abcd-11111111".to_string()];
        let request = create_instances_request(
            &cfn,
            &org_units,
            "eu-west-1",
            operation_preferences(25, 0),
            CallAs::SelfValue,
        );
        let input = request.as_input();
        assert_eq!(input.get_regions(), &Some(vec!["eu-west-1".to_string()]));
        assert!(input.get_accounts().is_none(), "service-managed: OUs, never accounts");
        let targets = input.get_deployment_targets().clone().unwrap();
        assert_eq!(targets.organizational_unit_ids(), org_units.as_slice());
        assert!(targets.accounts().is_empty());

        let delete = delete_instances_request(
            &cfn,
            &org_units,
            &["eu-west-1".to_string()],
            operation_preferences(25, 0),
            CallAs::SelfValue,
        );
        let input = delete.as_input();
        assert_eq!(input.get_retain_stacks(), &Some(false));
        assert_eq!(
            input
                .get_deployment_targets()
                .clone()
                .unwrap()
                .organizational_unit_ids(),
            org_units.as_slice()
        );
    }

    #[test]
    fn operation_preferences_keep_concurrency_with_zero_tolerance() {
        let preferences = operation_preferences(25, 0);
        assert_eq!(preferences.max_concurrent_percentage(), Some(25));
        assert_eq!(preferences.failure_tolerance_percentage(), Some(0));
        assert_eq!(
            preferences.concurrency_mode(),
            Some(&ConcurrencyMode::SoftFailureTolerance)
        );
        assert!(preferences.max_concurrent_count().is_none() && preferences.failure_tolerance_count().is_none());
    }

    #[test]
    fn failed_accounts_are_listed_with_their_reasons() {
        let error = failed_accounts_error(
            "op-1",
            "FAILED",
            Some("The operation failed in us-east-1"),
            &["111111111111 us-east-1: Resource handler returned message: boom".to_string()],
        );
        assert_eq!(
            error.to_string(),
            "StackSet iam-janitor operation op-1 ended FAILED: The operation failed in us-east-1; 1 account(s) \
             failed:\n  111111111111 us-east-1: Resource handler returned message: boom"
        );
    }
}
