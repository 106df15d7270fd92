//! The StackSet: its requests (built apart, so that tests can read them), reading it and
//! its stack instances, creating, updating and deleting it, creating and deleting stack
//! instances, and waiting for its operations.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_cloudformation::operation::create_stack_instances::builders::CreateStackInstancesFluentBuilder;
use aws_sdk_cloudformation::operation::create_stack_set::builders::CreateStackSetFluentBuilder;
use aws_sdk_cloudformation::operation::delete_stack_instances::builders::DeleteStackInstancesFluentBuilder;
use aws_sdk_cloudformation::operation::update_stack_set::builders::UpdateStackSetFluentBuilder;
use aws_sdk_cloudformation::types::{
    AutoDeployment, CallAs, Capability, ConcurrencyMode, DeploymentTargets, ManagedExecution, PermissionModels,
    StackSetOperationPreferences, StackSetOperationResultStatus, StackSetOperationStatus,
};

use super::super::plan::{
    AUTO_DEPLOYMENT, AutoDeploymentState, DeployedStackSet, DesiredStackSet, Instance, STACK_SET,
};
use super::super::progress::Step;
use super::{Aws, Backoff, OrFail, describe, parameters, tags};

/// At most this many OUs per Create/DeleteStackInstances call.
const MAX_ORG_UNITS_PER_CALL: usize = 50;

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
pub(crate) fn operation_preferences(
    max_concurrent_percent: u8,
    failure_tolerance_percent: u8,
) -> StackSetOperationPreferences {
    StackSetOperationPreferences::builder()
        .max_concurrent_percentage(i32::from(max_concurrent_percent))
        .failure_tolerance_percentage(i32::from(failure_tolerance_percent))
        .concurrency_mode(ConcurrencyMode::SoftFailureTolerance)
        .build()
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
fn create_stack_set_request(
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
fn update_stack_set_request(
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
fn create_instances_request(
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
fn delete_instances_request(
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
/// What [`Aws::change_stack_instances`] does to the stack instances of some OUs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InstanceChange<'a> {
    /// Create them, in the one Region of the deployment.
    Create { region: &'a str },
    /// Delete them, and their stacks, in these Regions.
    Delete { regions: &'a [String] },
}

impl Aws {
    pub(crate) async fn stack_instances(&self) -> anyhow::Result<Vec<Instance>> {
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
    pub(crate) async fn stack_set(&self) -> anyhow::Result<Option<DeployedStackSet>> {
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

    pub(crate) async fn create_stack_set(&self, desired: &DesiredStackSet) -> anyhow::Result<()> {
        create_stack_set_request(&self.cfn, desired, self.call_as.clone())
            .send()
            .await
            .or_fail(|| format!("CreateStackSet {}", desired.stack.name))?;
        Ok(())
    }

    /// UpdateStackSet; returns the operation's ID.
    pub(crate) async fn update_stack_set(
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

    /// Creates or deletes the stack instances of `org_units`: one operation for every
    /// [`MAX_ORG_UNITS_PER_CALL`] OUs, each waited for before the next starts.
    pub(crate) async fn change_stack_instances(
        &self,
        change: InstanceChange<'_>,
        org_units: &[String],
        preferences: StackSetOperationPreferences,
        timeout: Duration,
        step: &Step,
    ) -> anyhow::Result<()> {
        for chunk in org_units.chunks(MAX_ORG_UNITS_PER_CALL) {
            let call_as = self.call_as.clone();
            let operation_id = match change {
                InstanceChange::Create { region } => {
                    let output = create_instances_request(&self.cfn, chunk, region, preferences.clone(), call_as)
                        .send()
                        .await
                        .or_fail(|| format!("CreateStackInstances {STACK_SET} for {}", chunk.join(", ")))?;
                    output
                        .operation_id()
                        .map(str::to_string)
                        .context("CreateStackInstances returned no operation")?
                }
                InstanceChange::Delete { regions } => {
                    let output = delete_instances_request(&self.cfn, chunk, regions, preferences.clone(), call_as)
                        .send()
                        .await
                        .or_fail(|| format!("DeleteStackInstances {STACK_SET} for {}", chunk.join(", ")))?;
                    output
                        .operation_id()
                        .map(str::to_string)
                        .context("DeleteStackInstances returned no operation")?
                }
            };
            self.wait_operation(&operation_id, timeout, step).await?;
        }
        Ok(())
    }

    pub(crate) async fn delete_stack_set(&self) -> anyhow::Result<()> {
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
    pub(crate) async fn wait_operation(&self, operation: &str, timeout: Duration, step: &Step) -> anyhow::Result<()> {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use aws_sdk_cloudformation::config::{BehaviorVersion, Region};

    use super::*;
    use crate::deploy::plan::DesiredStack;

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
