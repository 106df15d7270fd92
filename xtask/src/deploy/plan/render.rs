//! How the plans read: `Display` for the plan types, as `deploy` and `destroy` print them
//! (and the changes they list).

use std::fmt;

use super::destroy::DestroyPlan;
use super::diff::{Changes, ParameterChange, StackAction, TemplateChange};
use super::stackset::Instance;
use super::{ARTIFACT_STACK, MANAGEMENT_STACK, Plan, STACK_SET};

impl fmt::Display for TemplateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateChange::Added(path) => write!(f, "+ {path}"),
            TemplateChange::Removed(path) => write!(f, "- {path}"),
            TemplateChange::Changed { path, from, to } => write!(f, "~ {path}: {from} → {to}"),
        }
    }
}

impl fmt::Display for ParameterChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            let state = |v: &Option<String>| match v.as_deref() {
                None | Some("") => "unset",
                Some(_) => "set",
            };
            return match (state(&self.from), state(&self.to)) {
                ("set", "set") => write!(f, "{}: (secret) changes", self.name),
                (from, to) => write!(f, "{}: (secret) {from} → {to}", self.name),
            };
        }
        let show = |v: &Option<String>, none: &str| match v {
            None => none.to_string(),
            Some(v) => format!("{v:?}"),
        };
        write!(
            f,
            "{}: {} → {}",
            self.name,
            show(&self.from, "(none)"),
            show(&self.to, "(removed)")
        )
    }
}

/// The plan's lines for these changes, indented under their stack's line.
impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_TEMPLATE_LINES: usize = 25;
        let indent = "    ";
        for change in &self.parameters {
            writeln!(f, "{indent}parameter {change}")?;
        }
        if !self.template.is_empty() {
            let n = self.template.len();
            writeln!(f, "{indent}template: {n} change{}", if n == 1 { "" } else { "s" })?;
            for change in self.template.iter().take(MAX_TEMPLATE_LINES) {
                writeln!(f, "{indent}  {change}")?;
            }
            if n > MAX_TEMPLATE_LINES {
                writeln!(f, "{indent}  … and {} more", n - MAX_TEMPLATE_LINES)?;
            }
        }
        for (key, from, to) in &self.tags {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
            writeln!(f, "{indent}tag {key}: {} → {}", show(from), show(to))?;
        }
        Ok(())
    }
}

/// A stack's line of the plan, and its changes under it.
fn write_stack(f: &mut fmt::Formatter<'_>, title: &str, action: &StackAction) -> fmt::Result {
    match action {
        StackAction::Create => writeln!(f, "  {title}: create"),
        StackAction::Unchanged => writeln!(f, "  {title}: no changes"),
        StackAction::Update(changes) => {
            writeln!(f, "  {title}: update")?;
            write!(f, "{changes}")
        }
    }
}

/// Some stack instances under a heading, one a line; nothing without instances.
fn write_instances(f: &mut fmt::Formatter<'_>, heading: String, instances: &[Instance]) -> fmt::Result {
    if instances.is_empty() {
        return Ok(());
    }
    writeln!(f, "    {heading}:")?;
    for i in instances {
        writeln!(
            f,
            "      {} {} {}{}{}",
            i.account,
            i.region,
            i.status,
            i.detailed_status
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            i.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        )?;
    }
    Ok(())
}

/// The plan as the user reads it.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.context;
        writeln!(
            f,
            "Plan for organization {} from account {} ({}), Region {}:",
            c.organization,
            c.account,
            if c.account == c.management_account {
                "management account"
            } else {
                "delegated administrator"
            },
            c.region
        )?;
        write_stack(f, &format!("artifact stack {ARTIFACT_STACK}"), &self.artifact)?;
        let u = &self.upload;
        if u.exists {
            writeln!(f, "  code s3://{}/{}: already uploaded", u.bucket, u.key)?;
        } else {
            writeln!(f, "  code s3://{}/{}: upload ({} bytes)", u.bucket, u.key, u.size)?;
        }
        match &self.stack_set {
            None => writeln!(
                f,
                "  StackSet {STACK_SET}: not read or changed (--management-only: the management account's stack alone)"
            )?,
            Some(s) => {
                let title = format!("StackSet {STACK_SET} (SERVICE_MANAGED, automatic deployment)");
                if s.is_change() && !s.action.is_change() {
                    writeln!(f, "  {title}: update")?;
                } else {
                    write_stack(f, &title, &s.action)?;
                }
                for setting in &s.settings {
                    writeln!(f, "    {setting}")?;
                }
                write_instances(
                    f,
                    format!(
                        "{} stack instance(s) whose last operation failed, deployed again",
                        s.outdated.len()
                    ),
                    &s.outdated,
                )?;
                write_instances(
                    f,
                    format!(
                        "{} stack instance(s) left as they are (suspended accounts are skipped; INOPERABLE ones need \
                         `aws cloudformation delete-stack-instances --retain-stacks`)",
                        s.stuck.len()
                    ),
                    &s.stuck,
                )?;
                if !s.add_org_units.is_empty() {
                    writeln!(
                        f,
                        "    stack instances for {} in {} (every account in them, and accounts that join later)",
                        s.add_org_units.join(", "),
                        c.region
                    )?;
                }
                if !s.remove_org_units.is_empty() {
                    writeln!(
                        f,
                        "    remove the stack instances of {} (no longer targeted)",
                        s.remove_org_units.join(", ")
                    )?;
                }
                if !s.covered_org_units.is_empty() {
                    writeln!(
                        f,
                        "    keep the stack instances of {}: a given parent OU or the root still covers them",
                        s.covered_org_units.join(", ")
                    )?;
                }
                if !s.action.is_change() || matches!(s.action, StackAction::Update(_)) {
                    writeln!(f, "    {} stack instance(s) in {}", s.instances, c.region)?;
                }
            }
        }
        match &self.management {
            Some(action) => write_stack(
                f,
                &format!("management stack {MANAGEMENT_STACK} (account {})", c.management_account),
                action,
            )?,
            None => {
                writeln!(
                    f,
                    "  management account {}: not deployed from a delegated administrator (StackSets never deploy \
                     there); cover it from the management account with `deploy --management-only`, which leaves \
                     this StackSet alone",
                    c.management_account
                )?;
            }
        }
        if self.alert_recipients.is_empty() {
            writeln!(
                f,
                "  alerts: a failed or missed run in any account notifies NO ONE: pass --alarm-email ADDR or \
                 --alarm-topic-arn ARN"
            )?;
        } else {
            writeln!(
                f,
                "  alerts: a failed or missed run in any account is forwarded to the bus iam-janitor-alerts in \
                 account {} and sent to {}",
                c.account,
                self.alert_recipients.join(" and ")
            )?;
        }
        writeln!(f, "  mode: {} in member accounts", self.mode)?;
        match &self.management {
            Some(_) => writeln!(
                f,
                "  mode: {} in the management account{}",
                self.management_mode,
                if self.management_mode == "report" {
                    " (--management-mode enforce to change it: break-glass users live there and no SCP applies)"
                } else {
                    ""
                }
            ),
            None => Ok(()),
        }
    }
}

/// What `destroy` removes and keeps, as the user reads it.
impl fmt::Display for DestroyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plan:\n")?;
        match &self.stack_set {
            Some(t) => {
                if t.instances > 0 {
                    writeln!(
                        f,
                        "  delete {} stack instance(s) of StackSet {STACK_SET} ({} in {})",
                        t.instances,
                        t.org_units.iter().cloned().collect::<Vec<_>>().join(", "),
                        t.regions.iter().cloned().collect::<Vec<_>>().join(", ")
                    )?;
                }
                writeln!(f, "  delete StackSet {STACK_SET}")?;
            }
            None => {
                writeln!(f, "  StackSet {STACK_SET}: none")?;
            }
        }
        if self.management_stack {
            writeln!(f, "  delete stack {MANAGEMENT_STACK}")?;
        } else {
            writeln!(f, "  stack {MANAGEMENT_STACK}: none")?;
        }
        if let Some(bucket) = &self.bucket {
            writeln!(f, "  empty (every version) and delete bucket {bucket}")?;
        }
        if self.artifact_stack {
            writeln!(f, "  delete stack {ARTIFACT_STACK}")?;
        }
        for kept in &self.kept {
            writeln!(f, "  keep {kept}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use super::*;
    use crate::deploy::plan::fixtures::{context, deployed_set, desired_set};
    use crate::deploy::plan::{StackSetTeardown, UploadPlan, plan_stack_set};

    #[test]
    fn the_plan_reads_as_what_will_happen() {
        let desired = desired_set(&["ou-abcd-11111111"]);
        let plan = Plan {
            context: context(),
            artifact: StackAction::Create,
            upload: UploadPlan {
                bucket: "b".into(),
                key: "iam-janitor/x.zip".into(),
                size: 10,
                exists: false,
            },
            stack_set: Some(plan_stack_set(&desired, None, &BTreeSet::new()).unwrap()),
            management: Some(StackAction::Create),
            mode: "enforce".into(),
            management_mode: "report".into(),
            alert_recipients: vec!["ops@example.com (once confirmed)".into()],
        };
        assert!(plan.is_change());
        let text = plan.to_string();
        for line in [
            "Plan for organization o-abcdefghij from account 123456789012 (management account), Region us-east-1:",
            "  artifact stack iam-janitor-artifacts: create",
            "  code s3://b/iam-janitor/x.zip: upload (10 bytes)",
            "  StackSet iam-janitor (SERVICE_MANAGED, automatic deployment): create",
            "    stack instances for ou-abcd-11111111 in us-east-1 (every account in them, and accounts that join later)",
            "  management stack iam-janitor (account 123456789012): create",
            "  alerts: a failed or missed run in any account is forwarded to the bus iam-janitor-alerts in account 123456789012 and sent to ops@example.com (once confirmed)",
            "  mode: enforce in member accounts",
            "  mode: report in the management account (--management-mode enforce to change it: break-glass users live there and no SCP applies)",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }

        let deployed = deployed_set(&desired);
        let mut changed = deployed.clone();
        changed.parameters.insert("DormantDays".into(), "60".into());
        let unchanged = Plan {
            artifact: StackAction::Unchanged,
            upload: UploadPlan {
                exists: true,
                ..plan.upload.clone()
            },
            stack_set: Some(plan_stack_set(&desired, Some(&deployed), &BTreeSet::new()).unwrap()),
            management: None,
            ..plan.clone()
        };
        assert!(!unchanged.is_change());
        let text = unchanged.to_string();
        assert!(text.contains("StackSet iam-janitor (SERVICE_MANAGED, automatic deployment): no changes"));
        assert!(text.contains("2 stack instance(s) in us-east-1"));
        assert!(text.contains("not deployed from a delegated administrator"));
        let update = Plan {
            stack_set: Some(plan_stack_set(&desired, Some(&changed), &BTreeSet::new()).unwrap()),
            ..unchanged
        };
        assert!(update.is_change());
        assert!(
            update
                .to_string()
                .contains("    parameter DormantDays: \"60\" → \"90\"")
        );
    }

    #[test]
    fn the_destroy_plan_says_what_goes_and_what_stays() {
        let plan = DestroyPlan {
            stack_set: Some(StackSetTeardown {
                org_units: BTreeSet::from(["ou-abcd-11111111".to_string()]),
                regions: BTreeSet::from(["us-east-1".to_string()]),
                instances: 3,
            }),
            management_stack: true,
            artifact_stack: false,
            bucket: None,
            kept: vec!["bucket b (--all removes it)".into()],
        };
        assert!(plan.is_change());
        assert_eq!(
            plan.to_string(),
            "Plan:\n  delete 3 stack instance(s) of StackSet iam-janitor (ou-abcd-11111111 in us-east-1)\n  \
             delete StackSet iam-janitor\n  delete stack iam-janitor\n  keep bucket b (--all removes it)\n"
        );
        assert!(!DestroyPlan::default().is_change());
    }
}
