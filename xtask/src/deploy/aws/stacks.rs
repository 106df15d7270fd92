//! Plain stacks (the artifact stack, the management account's stack): reading, creating,
//! updating, deleting and waiting, and the change sets the management stack goes through.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType};

use super::super::plan::{DeployedStack, DesiredStack};
use super::super::progress::Step;
use super::{Aws, Backoff, OrFail, code, describe, parameters, tags};

/// How a change set turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChangeSetOutcome {
    /// Ready to execute, with these resource changes (possibly none: parameters only).
    Ready(Vec<String>),
    /// CloudFormation found nothing to change.
    NoChanges,
}

impl Aws {
    /// The stack, or `None` if there is none of that name.
    pub(crate) async fn stack(&self, name: &str) -> anyhow::Result<Option<DeployedStack>> {
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

    pub(crate) async fn create_stack(&self, desired: &DesiredStack) -> anyhow::Result<()> {
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
    pub(crate) async fn update_stack(&self, desired: &DesiredStack) -> anyhow::Result<bool> {
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
    async fn stack_id(&self, name: &str) -> anyhow::Result<Option<String>> {
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
    pub(crate) async fn wait_stack(&self, name: &str, timeout: Duration, step: &Step) -> anyhow::Result<String> {
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

    pub(crate) async fn delete_stack(&self, name: &str, timeout: Duration, step: &Step) -> anyhow::Result<()> {
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
    pub(crate) async fn create_change_set(
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
    pub(crate) async fn wait_change_set(
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

    pub(crate) async fn execute_change_set(&self, stack: &str, id: &str) -> anyhow::Result<()> {
        self.cfn
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .or_fail(|| format!("ExecuteChangeSet for stack {stack}"))?;
        Ok(())
    }

    pub(crate) async fn delete_change_set(&self, stack: &str, id: &str) -> anyhow::Result<()> {
        self.cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .or_fail(|| format!("DeleteChangeSet for stack {stack}"))?;
        Ok(())
    }
}
