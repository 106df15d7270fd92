//! The StackSet's plan: its instances and settings as deployed, the OUs to add and
//! remove, instances to deploy again or leave alone, and what cannot be updated.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{Changes, StackAction};
use super::params::DesiredStack;

/// A stack instance, as ListStackInstances shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) account: String,
    pub(crate) region: String,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub(crate) status: String,
    /// SUCCEEDED, FAILED, SKIPPED_SUSPENDED_ACCOUNT, …
    pub(crate) detailed_status: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) org_unit: Option<String>,
}

/// The StackSet's automatic deployment, as DescribeStackSet shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AutoDeploymentState {
    pub(crate) enabled: bool,
    pub(crate) retain_stacks_on_account_removal: bool,
}

/// What `deploy` sets: new accounts of the target OUs get the stack; accounts that leave
/// lose it.
pub(crate) const AUTO_DEPLOYMENT: AutoDeploymentState = AutoDeploymentState {
    enabled: true,
    retain_stacks_on_account_removal: false,
};

/// A deployed StackSet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeployedStackSet {
    pub(crate) template_body: String,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) permission_model: Option<String>,
    /// `None` when the service does not say.
    pub(crate) auto_deployment: Option<AutoDeploymentState>,
    /// `None` when the service does not say.
    pub(crate) managed_execution: Option<bool>,
    /// The OUs (or root) its instances were created for.
    pub(crate) org_units: BTreeSet<String>,
    pub(crate) instances: Vec<Instance>,
}

/// The code bucket of the deployment that owns `deployed`, if it is not the one `desired`
/// (the parameters this deploy would give) names: another account deploys the StackSet
/// (a delegated administrator and the management account, say), and deploying from here
/// would re-point every account's code and replace its settings.
pub(crate) fn other_owner(deployed: &DeployedStackSet, desired: &BTreeMap<String, String>) -> Option<String> {
    let key = iam_janitor_cfn::stacks::member::CODE_BUCKET;
    let theirs = deployed.parameters.get(key.as_str())?;
    (Some(theirs) != desired.get(key.as_str())).then(|| theirs.clone())
}

impl DeployedStackSet {
    /// The OUs targeted: as DescribeStackSet says, and as the instances say.
    pub(crate) fn targeted_org_units(&self) -> BTreeSet<String> {
        let mut units = self.org_units.clone();
        units.extend(self.instances.iter().filter_map(|i| i.org_unit.clone()));
        units
    }
}

/// Distinct Regions of some instances.
pub(crate) fn regions_of(instances: &[Instance]) -> BTreeSet<String> {
    instances.iter().map(|i| i.region.clone()).collect()
}

/// A StackSet as it should be.
#[derive(Debug, Clone)]
pub(crate) struct DesiredStackSet {
    pub(crate) stack: DesiredStack,
    pub(crate) org_units: BTreeSet<String>,
    pub(crate) region: String,
}

/// What happens to the StackSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StackSetPlan {
    pub(crate) action: StackAction,
    /// StackSet settings that differ: automatic deployment, managed execution.
    pub(super) settings: Vec<String>,
    /// Instances that are OUTDATED (their last operation failed): an update deploys to
    /// them again.
    pub(super) outdated: Vec<Instance>,
    /// Instances that an update cannot fix (INOPERABLE), or that it skips (suspended
    /// accounts): shown, not acted on.
    pub(super) stuck: Vec<Instance>,
    pub(crate) add_org_units: Vec<String>,
    pub(crate) remove_org_units: Vec<String>,
    /// OUs no longer given that stay covered by a given parent (or the root): their
    /// instances are kept.
    pub(super) covered_org_units: Vec<String>,
    /// Instances in the deployment Region now.
    pub(super) instances: usize,
}

impl StackSetPlan {
    /// Whether the StackSet is updated (UpdateStackSet, an operation on every instance).
    pub(crate) fn updates(&self) -> bool {
        matches!(self.action, StackAction::Update(_)) || !self.settings.is_empty() || !self.outdated.is_empty()
    }

    pub(crate) fn is_change(&self) -> bool {
        self.action.is_change() || self.updates() || !self.add_org_units.is_empty() || !self.remove_org_units.is_empty()
    }
}

/// Whether an update would deploy to this instance again: its last operation failed.
/// A suspended account's instance is skipped by every operation, and an INOPERABLE one
/// needs DeleteStackInstances with RetainStacks first.
fn is_outdated(instance: &Instance) -> bool {
    instance.status == "OUTDATED" && instance.detailed_status.as_deref() != Some("SKIPPED_SUSPENDED_ACCOUNT")
}

/// Plans the StackSet. `covered` holds the targeted OUs that are no longer given but
/// whose accounts a given target still covers (a parent OU, the root): deleting their
/// instances would take the stack from accounts that should keep it.
///
/// Errors when the StackSet cannot be brought to the desired state by an update:
/// self-managed permissions, or instances in another Region.
pub(crate) fn plan_stack_set(
    desired: &DesiredStackSet,
    deployed: Option<&DeployedStackSet>,
    covered: &BTreeSet<String>,
) -> Result<StackSetPlan, String> {
    let name = &desired.stack.name;
    let Some(deployed) = deployed else {
        return Ok(StackSetPlan {
            action: StackAction::Create,
            settings: Vec::new(),
            outdated: Vec::new(),
            stuck: Vec::new(),
            add_org_units: desired.org_units.iter().cloned().collect(),
            remove_org_units: Vec::new(),
            covered_org_units: Vec::new(),
            instances: 0,
        });
    };
    if let Some(model) = deployed.permission_model.as_deref().filter(|m| *m != "SERVICE_MANAGED") {
        return Err(format!(
            "the StackSet {name} exists with {model} permissions; iam-janitor needs SERVICE_MANAGED (automatic \
             deployment to the organization), which cannot be changed in place: remove it (`cargo xtask destroy`) \
             and deploy again"
        ));
    }
    let elsewhere: BTreeSet<&str> = deployed
        .instances
        .iter()
        .map(|i| i.region.as_str())
        .filter(|r| *r != desired.region)
        .collect();
    if !elsewhere.is_empty() {
        let regions: Vec<&str> = elsewhere.into_iter().collect();
        return Err(format!(
            "the StackSet {name} has stack instances in {}, not only in {}: iam-janitor must run in exactly one \
             Region per account (IAM is global, two schedules would act on the same users). Deploy with --region {} \
             or remove those instances first",
            regions.join(", "),
            desired.region,
            regions[0]
        ));
    }
    let changes = Changes::between(
        &desired.stack,
        &deployed.template_body,
        &deployed.parameters,
        &deployed.tags,
    );
    let mut settings = Vec::new();
    if let Some(auto) = deployed.auto_deployment.filter(|a| *a != AUTO_DEPLOYMENT) {
        settings.push(format!(
            "automatic deployment: enabled {} → {}, retain stacks on account removal {} → {}",
            auto.enabled,
            AUTO_DEPLOYMENT.enabled,
            auto.retain_stacks_on_account_removal,
            AUTO_DEPLOYMENT.retain_stacks_on_account_removal
        ));
    }
    if deployed.managed_execution == Some(false) {
        settings.push("managed execution: inactive → active".to_string());
    }
    let targeted = deployed.targeted_org_units();
    Ok(StackSetPlan {
        action: if changes.is_empty() {
            StackAction::Unchanged
        } else {
            StackAction::Update(changes)
        },
        settings,
        outdated: deployed.instances.iter().filter(|i| is_outdated(i)).cloned().collect(),
        stuck: deployed
            .instances
            .iter()
            .filter(|i| i.status != "CURRENT" && !is_outdated(i))
            .cloned()
            .collect(),
        add_org_units: desired.org_units.difference(&targeted).cloned().collect(),
        remove_org_units: targeted
            .difference(&desired.org_units)
            .filter(|ou| !covered.contains(*ou))
            .cloned()
            .collect(),
        covered_org_units: targeted
            .difference(&desired.org_units)
            .filter(|ou| covered.contains(*ou))
            .cloned()
            .collect(),
        instances: deployed.instances.len(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::deploy::plan::Plan;
    use crate::deploy::plan::fixtures::{deployed_set, desired_set, instance, plan_for};

    #[test]
    fn a_stack_set_deployed_from_another_bucket_has_another_owner() {
        let desired = desired_set(&["ou-abcd-11111111"]);
        let deployed = deployed_set(&desired);
        assert_eq!(other_owner(&deployed, &desired.stack.parameters), None);
        let mut theirs = deployed.clone();
        theirs
            .parameters
            .insert("CodeBucket".into(), "iam-janitor-code-210987654321-eu-west-1".into());
        assert_eq!(
            other_owner(&theirs, &desired.stack.parameters).as_deref(),
            Some("iam-janitor-code-210987654321-eu-west-1")
        );
        // Other settings are this deployment's to change.
        let mut changed = deployed.clone();
        changed.parameters.insert("DormantDays".into(), "30".into());
        assert_eq!(other_owner(&changed, &desired.stack.parameters), None);
    }

    #[test]
    fn a_stack_set_is_planned_from_what_it_targets() {
        let desired = desired_set(&["ou-abcd-11111111", "ou-abcd-22222222"]);
        let created = plan_stack_set(&desired, None, &BTreeSet::new()).unwrap();
        assert_eq!(created.action, StackAction::Create);
        assert_eq!(created.add_org_units, ["ou-abcd-11111111", "ou-abcd-22222222"]);

        let deployed = deployed_set(&desired);
        let same = plan_stack_set(&desired, Some(&deployed), &BTreeSet::new()).unwrap();
        assert!(!same.is_change(), "{same:?}");
        assert_eq!(same.instances, 2);

        // OUs come and go; the rest is unchanged.
        let moved = desired_set(&["ou-abcd-22222222", "r-abcd"]);
        let plan = plan_stack_set(&moved, Some(&deployed), &BTreeSet::new()).unwrap();
        assert!(!plan.updates());
        assert_eq!(plan.add_org_units, ["r-abcd"]);
        assert_eq!(plan.remove_org_units, ["ou-abcd-11111111"]);
        // …unless a given target (here the root) still covers the OU's accounts.
        let covered = BTreeSet::from(["ou-abcd-11111111".to_string()]);
        let plan = plan_stack_set(&moved, Some(&deployed), &covered).unwrap();
        assert!(plan.remove_org_units.is_empty());
        assert_eq!(plan.covered_org_units, ["ou-abcd-11111111"]);
        let kept = Plan {
            stack_set: Some(plan),
            ..plan_for(&desired)
        };
        assert!(kept.to_string().contains(
            "    keep the stack instances of ou-abcd-11111111: a given parent OU or the root still covers them"
        ));

        // Settings the service reports differently are put back; unknown ones are left.
        let drifted = DeployedStackSet {
            managed_execution: Some(false),
            auto_deployment: Some(AutoDeploymentState {
                enabled: true,
                retain_stacks_on_account_removal: true,
            }),
            ..deployed.clone()
        };
        let plan = plan_stack_set(&desired, Some(&drifted), &BTreeSet::new()).unwrap();
        assert!(plan.updates() && plan.settings.len() == 2, "{plan:?}");
        let unknown = DeployedStackSet {
            managed_execution: None,
            auto_deployment: None,
            ..deployed.clone()
        };
        assert!(
            !plan_stack_set(&desired, Some(&unknown), &BTreeSet::new())
                .unwrap()
                .is_change()
        );

        // A failed instance is deployed again.
        let mut failed = deployed.clone();
        failed.instances[1].status = "OUTDATED".into();
        let plan = plan_stack_set(&desired, Some(&failed), &BTreeSet::new()).unwrap();
        assert!(plan.updates() && plan.outdated.len() == 1);

        // Suspended accounts and INOPERABLE instances are shown, and left alone: an update
        // would not change them, and a deploy would never be a no-op.
        let mut stuck = deployed.clone();
        stuck.instances[0].status = "OUTDATED".into();
        stuck.instances[0].detailed_status = Some("SKIPPED_SUSPENDED_ACCOUNT".into());
        stuck.instances[1].status = "INOPERABLE".into();
        let plan = plan_stack_set(&desired, Some(&stuck), &BTreeSet::new()).unwrap();
        assert!(!plan.is_change(), "{plan:?}");
        assert_eq!(plan.stuck.len(), 2);
        let text = Plan {
            stack_set: Some(plan),
            ..plan_for(&desired)
        }
        .to_string();
        assert!(
            text.contains("      111111111111 us-east-1 OUTDATED (SKIPPED_SUSPENDED_ACCOUNT)"),
            "{text}"
        );
        assert!(text.contains("--retain-stacks"), "{text}");

        // The OUs known only from the instances count too.
        let from_instances = DeployedStackSet {
            org_units: BTreeSet::new(),
            instances: vec![Instance {
                org_unit: Some("ou-abcd-11111111".into()),
                ..instance("111111111111", "us-east-1", "CURRENT")
            }],
            ..deployed.clone()
        };
        let plan = plan_stack_set(&desired, Some(&from_instances), &BTreeSet::new()).unwrap();
        assert_eq!(plan.add_org_units, ["ou-abcd-22222222"]);
    }

    #[test]
    fn a_stack_set_that_cannot_be_updated_is_an_error_with_the_fix() {
        let desired = desired_set(&["r-abcd"]);
        let mut deployed = deployed_set(&desired);
        deployed
            .instances
            .push(instance("333333333333", "eu-west-1", "CURRENT"));
        let error = plan_stack_set(&desired, Some(&deployed), &BTreeSet::new()).unwrap_err();
        assert!(
            error.contains("eu-west-1") && error.contains("exactly one Region") && error.contains("--region eu-west-1"),
            "{error}"
        );
        let self_managed = DeployedStackSet {
            permission_model: Some("SELF_MANAGED".into()),
            ..deployed_set(&desired)
        };
        let error = plan_stack_set(&desired, Some(&self_managed), &BTreeSet::new()).unwrap_err();
        assert!(
            error.contains("SELF_MANAGED") && error.contains("cargo xtask destroy"),
            "{error}"
        );
    }
}
