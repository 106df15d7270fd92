//! How a deployed stack differs from the desired one: template paths, parameters (secrets
//! never shown), tags; and what that means for the stack (create, update, nothing).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::params::{DesiredStack, parameter_defs};
use super::{MASKED, WEBHOOK_TAG};

/// A deployed stack, as DescribeStacks and GetTemplate show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeployedStack {
    pub(crate) status: String,
    pub(crate) template_body: Option<String>,
    pub(crate) parameters: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) outputs: BTreeMap<String, String>,
}

impl DeployedStack {
    /// A stack whose first change set was never executed has no template: it is created
    /// by a CREATE change set, as if it did not exist.
    pub(crate) fn is_created(&self) -> bool {
        self.status != "REVIEW_IN_PROGRESS"
    }
}

/// Why a stack in this status cannot be deployed over, with the fix.
fn stack_status_problem(kind: &str, name: &str, status: &str) -> Option<String> {
    match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "DELETE_FAILED" => Some(format!(
            "the {kind} {name} is {status} (its creation or deletion failed) and can only be deleted: run \
             `aws cloudformation delete-stack --stack-name {name}` (see its events for the cause), then deploy again"
        )),
        "UPDATE_ROLLBACK_FAILED" => Some(format!(
            "the {kind} {name} is UPDATE_ROLLBACK_FAILED: run `aws cloudformation continue-update-rollback \
             --stack-name {name}` (see its events for the cause), then deploy again"
        )),
        s if s.ends_with("_IN_PROGRESS") && s != "REVIEW_IN_PROGRESS" => Some(format!(
            "the {kind} {name} is {status}: another deployment is running; wait for it to finish and deploy again"
        )),
        _ => None,
    }
}

/// One change in a template, by JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TemplateChange {
    Added(String),
    Removed(String),
    Changed { path: String, from: String, to: String },
}

/// A short rendering of a JSON value for the plan.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<TemplateChange>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                match (old.get(key), new.get(key)) {
                    (Some(_), None) => out.push(TemplateChange::Removed(join(key))),
                    (None, Some(_)) => out.push(TemplateChange::Added(join(key))),
                    (Some(o), Some(n)) => diff_values(&join(key), o, n, out),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (o, n)) in o.iter().zip(n).enumerate() {
                diff_values(&format!("{path}[{i}]"), o, n, out);
            }
        }
        _ if old == new => {}
        _ => out.push(TemplateChange::Changed {
            path: path.to_string(),
            from: short(old),
            to: short(new),
        }),
    }
}

/// What changes from the deployed template body to `desired`, path by path. A deployed
/// body that is not JSON (not deployed by this tool) counts as one change.
fn diff_templates(deployed_body: &str, desired: &Value) -> Vec<TemplateChange> {
    match serde_json::from_str::<Value>(deployed_body) {
        Ok(deployed) => {
            let mut out = Vec::new();
            diff_values("", &deployed, desired, &mut out);
            out
        }
        Err(_) => vec![TemplateChange::Changed {
            path: "(template)".to_string(),
            from: "a template that is not JSON".to_string(),
            to: "the generated template".to_string(),
        }],
    }
}

/// One parameter that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParameterChange {
    pub(super) name: String,
    /// `None`: not set before (or not in the deployed template).
    pub(super) from: Option<String>,
    /// `None`: no longer in the template.
    pub(super) to: Option<String>,
    /// A NoEcho parameter: its values are never shown.
    pub(super) secret: bool,
}

/// Parameter changes from `deployed` to `desired` (both complete maps of name → value;
/// a parameter missing from `deployed` is taken at the template's default). NoEcho
/// parameters are masked by CloudFormation; a masked one counts as changed unless
/// `secrets_unchanged` (the webhook fingerprints match).
fn diff_parameters(
    template: &Value,
    desired: &BTreeMap<String, String>,
    deployed: &BTreeMap<String, String>,
    secrets_unchanged: bool,
) -> Vec<ParameterChange> {
    let defs = parameter_defs(template);
    let mut changes = Vec::new();
    for (name, want) in desired {
        let def = defs.get(name);
        let secret = def.is_some_and(|d| d.no_echo);
        let have = deployed
            .get(name)
            .cloned()
            .or_else(|| def.and_then(|d| d.default.clone()));
        let changed = match have.as_deref() {
            Some(MASKED) if secret => !secrets_unchanged,
            Some(have) => have != want,
            None => true,
        };
        if changed {
            changes.push(ParameterChange {
                name: name.clone(),
                // A secret's value is never shown, masked or not.
                from: have,
                to: Some(want.clone()),
                secret,
            });
        }
    }
    for (name, have) in deployed {
        if !desired.contains_key(name) {
            changes.push(ParameterChange {
                name: name.clone(),
                from: Some(have.clone()),
                to: None,
                secret: have == MASKED,
            });
        }
    }
    changes
}

/// One tag that changes: (key, from, to).
type TagChange = (String, Option<String>, Option<String>);

fn diff_tags(desired: &BTreeMap<String, String>, deployed: &BTreeMap<String, String>) -> Vec<TagChange> {
    let keys: BTreeSet<&String> = desired.keys().chain(deployed.keys()).collect();
    keys.into_iter()
        .filter(|k| desired.get(*k) != deployed.get(*k))
        .map(|k| ((*k).clone(), deployed.get(k).cloned(), desired.get(k).cloned()))
        .collect()
}

/// What changes in a stack's template, parameters and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    pub(super) template: Vec<TemplateChange>,
    pub(super) parameters: Vec<ParameterChange>,
    pub(super) tags: Vec<TagChange>,
}

impl Changes {
    pub(super) fn between(
        desired: &DesiredStack,
        template_body: &str,
        parameters: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Changes {
        let secrets_unchanged = desired
            .tags
            .get(WEBHOOK_TAG)
            .is_some_and(|t| tags.get(WEBHOOK_TAG) == Some(t));
        Changes {
            template: diff_templates(template_body, &desired.template),
            parameters: diff_parameters(&desired.template, &desired.parameters, parameters, secrets_unchanged),
            tags: diff_tags(&desired.tags, tags),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.template.is_empty() && self.parameters.is_empty() && self.tags.is_empty()
    }
}

/// What happens to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StackAction {
    Create,
    Update(Changes),
    Unchanged,
}

impl StackAction {
    pub(super) fn is_change(&self) -> bool {
        !matches!(self, StackAction::Unchanged)
    }
}

/// Plans one stack: created if absent, updated if its template, parameters or tags
/// differ. Errors when its status forbids a change.
pub(crate) fn plan_stack(desired: &DesiredStack, deployed: Option<&DeployedStack>) -> Result<StackAction, String> {
    let Some(deployed) = deployed.filter(|d| d.is_created()) else {
        return Ok(StackAction::Create);
    };
    if let Some(problem) = stack_status_problem("stack", &desired.name, &deployed.status) {
        return Err(problem);
    }
    let changes = Changes::between(
        desired,
        deployed.template_body.as_deref().unwrap_or(""),
        &deployed.parameters,
        &deployed.tags,
    );
    Ok(if changes.is_empty() {
        StackAction::Unchanged
    } else {
        StackAction::Update(changes)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;
    use crate::deploy::plan::fixtures::{deployed_like, desired_member};
    use crate::deploy::plan::{MANAGEMENT_STACK, TEMPLATE_BODY_LIMIT};

    #[test]
    fn template_diff_names_each_changed_path() {
        let old = json!({"Resources": {"A": {"Type": "T", "Properties": {"X": 1, "L": [1, 2]}}, "B": {}}});
        let new = json!({"Resources": {"A": {"Type": "T", "Properties": {"X": 2, "L": [1, 3], "Y": true}}, "C": {}}});
        let changes = diff_templates(&old.to_string(), &new);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "~ Resources.A.Properties.L[1]: 2 → 3",
                "~ Resources.A.Properties.X: 1 → 2",
                "+ Resources.A.Properties.Y",
                "- Resources.B",
                "+ Resources.C",
            ]
        );
        assert!(diff_templates(&new.to_string(), &new).is_empty());
        assert_eq!(diff_templates("Resources: {}", &new).len(), 1, "YAML is not ours");
        let long = json!({"a": "x".repeat(100)});
        let changed = diff_templates(&json!({"a": 1}).to_string(), &long);
        assert!(changed[0].to_string().ends_with('…'));
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parameter_diff_compares_values_defaults_and_secrets() {
        let template = json!({"Parameters": {
            "Days": {"Type": "Number", "Default": 90},
            "Mode": {"Type": "String", "Default": "report"},
            "Hook": {"Type": "String", "Default": "", "NoEcho": true},
        }});
        let desired = map(&[("Days", "60"), ("Mode", "report"), ("Hook", "https://h/1")]);
        // Deployed as a StackSet shows it: only some values; the secret masked.
        let deployed = map(&[("Days", "90"), ("Hook", "****"), ("Old", "x")]);
        let changes = diff_parameters(&template, &desired, &deployed, true);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, [r#"Days: "90" → "60""#, r#"Old: "x" → (removed)"#]);
        let changes = diff_parameters(&template, &desired, &deployed, false);
        assert_eq!(changes[1].to_string(), "Hook: (secret) changes");
        assert!(changes.iter().all(|c| !c.to_string().contains("https://h/1")));
        let same = map(&[("Days", "60"), ("Mode", "report"), ("Hook", "****")]);
        assert!(diff_parameters(&template, &desired, &same, true).is_empty());
        // A secret shown in clear (not masked) is still never printed.
        let clear = map(&[("Days", "60"), ("Mode", "report"), ("Hook", "")]);
        let changes = diff_parameters(&template, &desired, &clear, false);
        assert_eq!(changes[0].to_string(), "Hook: (secret) unset → set");
    }

    #[test]
    fn a_stack_is_created_updated_or_left_alone() {
        let desired = desired_member();
        assert!(desired.body.len() <= TEMPLATE_BODY_LIMIT);
        assert_eq!(plan_stack(&desired, None).unwrap(), StackAction::Create);
        let review = DeployedStack {
            status: "REVIEW_IN_PROGRESS".into(),
            ..DeployedStack::default()
        };
        assert_eq!(plan_stack(&desired, Some(&review)).unwrap(), StackAction::Create);
        let deployed = deployed_like(&desired);
        assert_eq!(plan_stack(&desired, Some(&deployed)).unwrap(), StackAction::Unchanged);

        let mut changed = deployed.clone();
        changed.parameters.insert("DormantDays".into(), "60".into());
        let StackAction::Update(changes) = plan_stack(&desired, Some(&changed)).unwrap() else {
            panic!("an update")
        };
        assert_eq!(changes.parameters.len(), 1);
        assert!(changes.template.is_empty() && changes.tags.is_empty());

        let mut other_hook = deployed.clone();
        other_hook
            .tags
            .insert(WEBHOOK_TAG.into(), "sha256:0000000000000000".into());
        let StackAction::Update(changes) = plan_stack(&desired, Some(&other_hook)).unwrap() else {
            panic!("an update")
        };
        assert_eq!(changes.parameters[0].name, "SlackWebhook");
        assert_eq!(changes.tags.len(), 1);

        for status in [
            "ROLLBACK_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_FAILED",
            "DELETE_FAILED",
        ] {
            let stuck = DeployedStack {
                status: status.into(),
                ..deployed.clone()
            };
            let error = plan_stack(&desired, Some(&stuck)).unwrap_err();
            assert!(error.contains(status) && error.contains(MANAGEMENT_STACK), "{error}");
        }
        let rolled_back = DeployedStack {
            status: "UPDATE_ROLLBACK_COMPLETE".into(),
            ..deployed
        };
        assert_eq!(
            plan_stack(&desired, Some(&rolled_back)).unwrap(),
            StackAction::Unchanged
        );
    }
}
