//! Plans and deployed states shared by the plan's unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use iam_janitor::settings::Settings;
use serde_json::Value;

use super::*;

pub(super) fn member_template() -> Value {
    crate::synth::member_template().to_value().unwrap()
}

pub(super) fn deployment() -> Deployment {
    Deployment {
        code_bucket: "iam-janitor-code-123456789012-us-east-1".into(),
        code_key: code_key(&"ab".repeat(32)),
        architecture: "arm64".into(),
        schedule: DEFAULT_SCHEDULE.into(),
        alert_bus: "arn:aws:events:us-east-1:123456789012:event-bus/iam-janitor-alerts".into(),
        missed_run_hours: "26".into(),
        report_bucket: "iam-janitor-reports-123456789012-us-east-1".into(),
        report_kms_key_arn: String::new(),
        org_digest_schedule: String::new(),
    }
}

pub(super) fn desired_member() -> DesiredStack {
    let template = member_template();
    let parameters = member_parameters(&template, &Settings::default(), &deployment()).unwrap();
    let tags = member_tags(&parameters);
    DesiredStack::new(MANAGEMENT_STACK, template, parameters, tags).unwrap()
}

pub(super) fn deployed_like(desired: &DesiredStack) -> DeployedStack {
    let mut parameters = desired.parameters.clone();
    parameters.insert("SlackWebhook".into(), MASKED.into());
    DeployedStack {
        status: "CREATE_COMPLETE".into(),
        template_body: Some(desired.body.clone()),
        parameters,
        tags: desired.tags.clone(),
        outputs: BTreeMap::new(),
    }
}

pub(super) fn instance(account: &str, region: &str, status: &str) -> Instance {
    Instance {
        account: account.into(),
        region: region.into(),
        status: status.into(),
        detailed_status: None,
        reason: None,
        org_unit: None,
    }
}

pub(super) fn desired_set(org_units: &[&str]) -> DesiredStackSet {
    let mut stack = desired_member();
    stack.name = STACK_SET.into();
    DesiredStackSet {
        stack,
        org_units: org_units.iter().map(|s| s.to_string()).collect(),
        region: "us-east-1".into(),
    }
}

pub(super) fn deployed_set(desired: &DesiredStackSet) -> DeployedStackSet {
    let stack = deployed_like(&desired.stack);
    DeployedStackSet {
        template_body: desired.stack.body.clone(),
        parameters: stack.parameters,
        tags: stack.tags,
        permission_model: Some("SERVICE_MANAGED".into()),
        auto_deployment: Some(AUTO_DEPLOYMENT),
        managed_execution: Some(true),
        org_units: desired.org_units.clone(),
        instances: vec![
            instance("111111111111", "us-east-1", "CURRENT"),
            instance("222222222222", "us-east-1", "CURRENT"),
        ],
    }
}

/// A plan where only the StackSet may change.
pub(super) fn plan_for(desired: &DesiredStackSet) -> Plan {
    Plan {
        context: context(),
        artifact: StackAction::Unchanged,
        upload: UploadPlan {
            bucket: "b".into(),
            key: "k".into(),
            size: 1,
            exists: true,
        },
        stack_set: Some(plan_stack_set(desired, Some(&deployed_set(desired)), &BTreeSet::new()).unwrap()),
        management: Some(StackAction::Unchanged),
        mode: "report".into(),
        management_mode: "report".into(),
        alert_recipients: Vec::new(),
    }
}

pub(super) fn context() -> Context {
    Context {
        account: "123456789012".into(),
        organization: "o-abcdefghij".into(),
        management_account: "123456789012".into(),
        region: "us-east-1".into(),
        call_as: "SELF",
    }
}
