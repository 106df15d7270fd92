//! The pure half of `deploy` and `destroy`: what should be deployed, how it differs from
//! what is deployed, and how that reads. Nothing here calls AWS; `aws.rs` reads the
//! deployed state into the plain structs below.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use iam_janitor::settings::Settings;
use iam_janitor_cfn::stacks::member;
use serde_json::Value;

/// The artifact stack (the code bucket), in the management (or delegated admin) account.
pub const ARTIFACT_STACK: &str = "iam-janitor-artifacts";
/// The StackSet of the member stacks.
pub const STACK_SET: &str = "iam-janitor";
/// The member stack in the management account (StackSets never deploy there).
pub const MANAGEMENT_STACK: &str = "iam-janitor";
/// The artifact stack's output naming the bucket.
pub const BUCKET_OUTPUT: &str = "CodeBucketName";
/// The service principal of StackSets' trusted access to Organizations.
pub const STACKSETS_PRINCIPAL: &str = "member.org.stacksets.cloudformation.amazonaws.com";
/// The tag that records which Slack webhook is deployed (a fingerprint, see
/// [`webhook_fingerprint`]): CloudFormation masks NoEcho parameters as `****`, so the
/// value itself can never be compared.
pub const WEBHOOK_TAG: &str = "iam-janitor:slack-webhook";
/// CloudFormation's limit on `TemplateBody`.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;
/// What CloudFormation shows instead of a NoEcho parameter's value.
pub const MASKED: &str = "****";
/// The schedule when `--schedule` is not given (the template's default).
pub const DEFAULT_SCHEDULE: &str = "cron(0 6 * * ? *)";

/// The S3 key of a code zip: content-addressed, so a new build is a new key and an
/// unchanged build is never uploaded twice. (The same rule as `package::artifact_key`.)
pub fn code_key(sha256_hex: &str) -> String {
    crate::package::artifact_key(sha256_hex)
}

pub use crate::package::sha256_hex;

/// The value of [`WEBHOOK_TAG`]: `none`, or the first 16 hex digits of a sha256 of the
/// URL. A change of webhook changes the tag, and so the plan; the tag tells nothing
/// usable about the URL (its secret part is a long random token).
pub fn webhook_fingerprint(url: &str) -> String {
    if url.is_empty() {
        "none".to_string()
    } else {
        let digest = sha256_hex(format!("iam-janitor slack webhook\n{url}").as_bytes());
        format!("sha256:{}", &digest[..16])
    }
}

/// Whether this account may deploy the StackSet: the organization has all features, and
/// the account is its management account (`as_management`, CallAs SELF) or, as a
/// delegated administrator, any other account. The error says how to fix it.
pub fn check_caller(
    account: &str,
    organization: &str,
    management: &str,
    all_features: bool,
    as_management: bool,
) -> Result<(), String> {
    if !all_features {
        return Err(format!(
            "organization {organization} has only consolidated billing features: StackSets deploy to its accounts \
             only with all features enabled (`aws organizations enable-all-features`, from the management account)"
        ));
    }
    if as_management && account != management {
        return Err(format!(
            "account {account} is not the management account of organization {organization} ({management}). A \
             service-managed StackSet is deployed from the management account, or from a delegated administrator \
             for StackSets: run with management-account credentials (--profile), or register this account from the \
             management account (`aws organizations register-delegated-administrator --service-principal \
             {STACKSETS_PRINCIPAL} --account-id {account}`) and pass --call-as DELEGATED_ADMIN"
        ));
    }
    if !as_management && account == management {
        return Err(format!(
            "account {account} is the management account of organization {organization}: deploy with --call-as SELF"
        ));
    }
    Ok(())
}

/// Whether `id` is a root (`r-…`) or OU (`ou-…-…`) ID, as StackSets' DeploymentTargets
/// take them: `^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$`.
pub fn is_org_unit_id(id: &str) -> bool {
    fn lower_alnum(s: &str, min: usize, max: usize) -> bool {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }
    if let Some(rest) = id.strip_prefix("r-") {
        lower_alnum(rest, 4, 32)
    } else if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-')
            .is_some_and(|(root, ou)| lower_alnum(root, 4, 32) && lower_alnum(ou, 8, 32))
    } else {
        false
    }
}

/// Whether `expression` has the shape the template accepts: `cron(…)` or `rate(…)`.
/// (EventBridge checks the fields; a bad one fails the stack with its reason.)
pub fn is_schedule_expression(expression: &str) -> bool {
    (expression.starts_with("cron(") || expression.starts_with("rate("))
        && expression.ends_with(')')
        && expression.len() > "cron()".len()
}

/// The engine's settings as member-stack parameters, each in the canonical form of its
/// validated value (so that `--dormant-days 060` and `60` deploy the same thing).
///
/// Every engine setting of the template must appear here; a test checks it against
/// `member::engine_settings()`.
pub fn engine_parameters(settings: &Settings) -> BTreeMap<String, String> {
    let lp = &settings.least_privilege;
    let join = |items: Vec<&str>| items.join(",");
    [
        (member::MODE, settings.mode.to_string()),
        (member::DORMANT_DAYS, settings.dormant_days.to_string()),
        (member::WARN_DAYS, settings.warn_days.to_string()),
        (member::EXEMPT_TAG, settings.exempt_tag.to_string()),
        (
            member::EXEMPT_USERS,
            join(settings.exempt_users.iter().map(|g| g.as_str()).collect()),
        ),
        (member::MAX_ACTIONS, settings.max_actions.to_string()),
        (member::CONCURRENCY, settings.concurrency.to_string()),
        (
            member::SLACK_WEBHOOK,
            settings
                .slack_webhook
                .as_ref()
                .map(|w| w.url().to_string())
                .unwrap_or_default(),
        ),
        (member::REPORT_TIMEOUT_SECS, settings.report_timeout_secs.to_string()),
        (
            member::LEAST_PRIVILEGE,
            if lp.enabled { "on" } else { "off" }.to_string(),
        ),
        (member::UNUSED_SERVICE_DAYS, lp.unused_service_days.to_string()),
        (member::ADVISOR_CONCURRENCY, lp.advisor_concurrency.to_string()),
        (member::KEEP_SERVICES_TAG, lp.keep_services_tag.clone()),
        (
            member::NEVER_DENY,
            join(lp.never_deny.iter().map(String::as_str).collect()),
        ),
        (member::POLICY_QUOTA, lp.policy_quota.to_string()),
    ]
    .into_iter()
    .map(|(id, value)| (id.as_str().to_string(), value))
    .collect()
}

/// The deployment parameters `deploy` sets besides the engine's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub code_bucket: String,
    pub code_key: String,
    pub architecture: String,
    pub schedule: String,
}

impl Deployment {
    fn parameters(&self) -> BTreeMap<String, String> {
        [
            (member::CODE_BUCKET, &self.code_bucket),
            (member::CODE_KEY, &self.code_key),
            (member::ARCHITECTURE, &self.architecture),
            (member::SCHEDULE_EXPRESSION, &self.schedule),
        ]
        .into_iter()
        .map(|(id, value)| (id.as_str().to_string(), value.clone()))
        .collect()
    }
}

/// A template parameter as `deploy` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDef {
    pub default: Option<String>,
    pub no_echo: bool,
}

/// The parameters of a template (its JSON form), with defaults as CloudFormation shows
/// them (numbers as decimal strings).
pub fn parameter_defs(template: &Value) -> BTreeMap<String, ParameterDef> {
    let Some(parameters) = template.get("Parameters").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    parameters
        .iter()
        .map(|(name, definition)| {
            let default = definition.get("Default").map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let no_echo = definition
                .get("NoEcho")
                .is_some_and(|v| v == &Value::Bool(true) || v == "true");
            (name.clone(), ParameterDef { default, no_echo })
        })
        .collect()
}

/// Every parameter of `template` with the value to deploy: what `values` says, else the
/// template's default. Declarative on purpose: a setting not given on the command line
/// goes back to its default (the plan shows it), so one command line describes the whole
/// deployment.
pub fn complete_parameters(
    template: &Value,
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let defs = parameter_defs(template);
    if let Some(unknown) = values.keys().find(|k| !defs.contains_key(*k)) {
        return Err(format!("the template has no parameter {unknown}"));
    }
    defs.into_iter()
        .map(|(name, def)| {
            let value = values.get(&name).cloned().or(def.default);
            value
                .map(|v| (name.clone(), v))
                .ok_or_else(|| format!("the template parameter {name} has no default and no value"))
        })
        .collect()
}

/// Every member-stack parameter: the engine's settings, the deployment's, and the
/// template's defaults for the rest.
pub fn member_parameters(
    template: &Value,
    settings: &Settings,
    deployment: &Deployment,
) -> Result<BTreeMap<String, String>, String> {
    let mut values = engine_parameters(settings);
    values.extend(deployment.parameters());
    complete_parameters(template, &values)
}

/// A stack (or StackSet) as it should be.
#[derive(Debug, Clone)]
pub struct DesiredStack {
    pub name: String,
    pub template: Value,
    /// The JSON sent as `TemplateBody`.
    pub body: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl DesiredStack {
    pub fn new(
        name: &str,
        template: Value,
        parameters: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<DesiredStack, String> {
        let body = serde_json::to_string(&template).map_err(|e| format!("template of {name}: {e}"))?;
        if body.len() > TEMPLATE_BODY_LIMIT {
            return Err(format!(
                "the template of {name} is {} bytes, over CloudFormation's TemplateBody limit of {TEMPLATE_BODY_LIMIT}",
                body.len()
            ));
        }
        Ok(DesiredStack {
            name: name.to_string(),
            template,
            body,
            parameters,
            tags,
        })
    }
}

/// The tags of the member stacks: the webhook's fingerprint.
pub fn member_tags(parameters: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let webhook = parameters
        .get(member::SLACK_WEBHOOK.as_str())
        .map(String::as_str)
        .unwrap_or("");
    BTreeMap::from([(WEBHOOK_TAG.to_string(), webhook_fingerprint(webhook))])
}

/// A deployed stack, as DescribeStacks and GetTemplate show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployedStack {
    pub status: String,
    pub template_body: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
}

impl DeployedStack {
    /// A stack whose first change set was never executed has no template: it is created
    /// by a CREATE change set, as if it did not exist.
    pub fn is_created(&self) -> bool {
        self.status != "REVIEW_IN_PROGRESS"
    }
}

/// Why a stack in this status cannot be deployed over, with the fix.
pub fn stack_status_problem(kind: &str, name: &str, status: &str) -> Option<String> {
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
pub enum TemplateChange {
    Added(String),
    Removed(String),
    Changed { path: String, from: String, to: String },
}

impl fmt::Display for TemplateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateChange::Added(path) => write!(f, "+ {path}"),
            TemplateChange::Removed(path) => write!(f, "- {path}"),
            TemplateChange::Changed { path, from, to } => write!(f, "~ {path}: {from} → {to}"),
        }
    }
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
pub fn diff_templates(deployed_body: &str, desired: &Value) -> Vec<TemplateChange> {
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
pub struct ParameterChange {
    pub name: String,
    /// `None`: not set before (or not in the deployed template).
    pub from: Option<String>,
    /// `None`: no longer in the template.
    pub to: Option<String>,
    /// A NoEcho parameter: its values are never shown.
    pub secret: bool,
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

/// Parameter changes from `deployed` to `desired` (both complete maps of name → value;
/// a parameter missing from `deployed` is taken at the template's default). NoEcho
/// parameters are masked by CloudFormation; a masked one counts as changed unless
/// `secrets_unchanged` (the webhook fingerprints match).
pub fn diff_parameters(
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
pub type TagChange = (String, Option<String>, Option<String>);

fn diff_tags(desired: &BTreeMap<String, String>, deployed: &BTreeMap<String, String>) -> Vec<TagChange> {
    let keys: BTreeSet<&String> = desired.keys().chain(deployed.keys()).collect();
    keys.into_iter()
        .filter(|k| desired.get(*k) != deployed.get(*k))
        .map(|k| ((*k).clone(), deployed.get(k).cloned(), desired.get(k).cloned()))
        .collect()
}

/// What changes in a stack's template, parameters and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub template: Vec<TemplateChange>,
    pub parameters: Vec<ParameterChange>,
    pub tags: Vec<TagChange>,
}

impl Changes {
    pub fn between(
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

    pub fn is_empty(&self) -> bool {
        self.template.is_empty() && self.parameters.is_empty() && self.tags.is_empty()
    }

    /// The plan's lines for these changes, indented.
    fn render(&self, out: &mut String, indent: &str) {
        const MAX_TEMPLATE_LINES: usize = 25;
        for change in &self.parameters {
            let _ = writeln!(out, "{indent}parameter {change}");
        }
        if !self.template.is_empty() {
            let n = self.template.len();
            let _ = writeln!(out, "{indent}template: {n} change{}", if n == 1 { "" } else { "s" });
            for change in self.template.iter().take(MAX_TEMPLATE_LINES) {
                let _ = writeln!(out, "{indent}  {change}");
            }
            if n > MAX_TEMPLATE_LINES {
                let _ = writeln!(out, "{indent}  … and {} more", n - MAX_TEMPLATE_LINES);
            }
        }
        for (key, from, to) in &self.tags {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
            let _ = writeln!(out, "{indent}tag {key}: {} → {}", show(from), show(to));
        }
    }
}

/// What happens to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackAction {
    Create,
    Update(Changes),
    Unchanged,
}

impl StackAction {
    pub fn is_change(&self) -> bool {
        !matches!(self, StackAction::Unchanged)
    }
}

/// Plans one stack: created if absent, updated if its template, parameters or tags
/// differ. Errors when its status forbids a change.
pub fn plan_stack(desired: &DesiredStack, deployed: Option<&DeployedStack>) -> Result<StackAction, String> {
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

/// A stack instance, as ListStackInstances shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub account: String,
    pub region: String,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub status: String,
    /// SUCCEEDED, FAILED, SKIPPED_SUSPENDED_ACCOUNT, …
    pub detailed_status: Option<String>,
    pub reason: Option<String>,
    pub org_unit: Option<String>,
}

/// The StackSet's automatic deployment, as DescribeStackSet shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoDeploymentState {
    pub enabled: bool,
    pub retain_stacks_on_account_removal: bool,
}

/// What `deploy` sets: new accounts of the target OUs get the stack; accounts that leave
/// lose it.
pub const AUTO_DEPLOYMENT: AutoDeploymentState = AutoDeploymentState {
    enabled: true,
    retain_stacks_on_account_removal: false,
};

/// A deployed StackSet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployedStackSet {
    pub template_body: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub permission_model: Option<String>,
    /// `None` when the service does not say.
    pub auto_deployment: Option<AutoDeploymentState>,
    /// `None` when the service does not say.
    pub managed_execution: Option<bool>,
    /// The OUs (or root) its instances were created for.
    pub org_units: BTreeSet<String>,
    pub instances: Vec<Instance>,
}

impl DeployedStackSet {
    /// The OUs targeted: as DescribeStackSet says, and as the instances say.
    pub fn targeted_org_units(&self) -> BTreeSet<String> {
        let mut units = self.org_units.clone();
        units.extend(self.instances.iter().filter_map(|i| i.org_unit.clone()));
        units
    }
}

/// A StackSet as it should be.
#[derive(Debug, Clone)]
pub struct DesiredStackSet {
    pub stack: DesiredStack,
    pub org_units: BTreeSet<String>,
    pub region: String,
}

/// What happens to the StackSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSetPlan {
    pub action: StackAction,
    /// StackSet settings that differ: automatic deployment, managed execution.
    pub settings: Vec<String>,
    /// Instances that are OUTDATED (their last operation failed): an update deploys to
    /// them again.
    pub outdated: Vec<Instance>,
    /// Instances that an update cannot fix (INOPERABLE), or that it skips (suspended
    /// accounts): shown, not acted on.
    pub stuck: Vec<Instance>,
    pub add_org_units: Vec<String>,
    pub remove_org_units: Vec<String>,
    /// OUs no longer given that stay covered by a given parent (or the root): their
    /// instances are kept.
    pub covered_org_units: Vec<String>,
    /// Instances in the deployment Region now.
    pub instances: usize,
}

impl StackSetPlan {
    /// Whether the StackSet is updated (UpdateStackSet, an operation on every instance).
    pub fn updates(&self) -> bool {
        matches!(self.action, StackAction::Update(_)) || !self.settings.is_empty() || !self.outdated.is_empty()
    }

    pub fn is_change(&self) -> bool {
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
pub fn plan_stack_set(
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

/// The code upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPlan {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub exists: bool,
}

/// Who deploys, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub account: String,
    pub organization: String,
    pub management_account: String,
    pub region: String,
    pub call_as: &'static str,
}

/// Everything `deploy` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub context: Context,
    pub artifact: StackAction,
    pub upload: UploadPlan,
    pub stack_set: StackSetPlan,
    /// `None` when deploying as a delegated administrator (the management account's stack
    /// is then not ours to deploy).
    pub management: Option<StackAction>,
    pub mode: String,
}

fn render_stack(out: &mut String, title: &str, action: &StackAction) {
    match action {
        StackAction::Create => {
            let _ = writeln!(out, "  {title}: create");
        }
        StackAction::Unchanged => {
            let _ = writeln!(out, "  {title}: no changes");
        }
        StackAction::Update(changes) => {
            let _ = writeln!(out, "  {title}: update");
            changes.render(out, "    ");
        }
    }
}

impl Plan {
    pub fn is_change(&self) -> bool {
        self.artifact.is_change()
            || !self.upload.exists
            || self.stack_set.is_change()
            || self.management.as_ref().is_some_and(StackAction::is_change)
    }

    /// The plan as the user reads it.
    pub fn render(&self) -> String {
        let c = &self.context;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan for organization {} from account {} ({}), Region {}:",
            c.organization,
            c.account,
            if c.account == c.management_account {
                "management account"
            } else {
                "delegated administrator"
            },
            c.region
        );
        render_stack(&mut out, &format!("artifact stack {ARTIFACT_STACK}"), &self.artifact);
        let u = &self.upload;
        if u.exists {
            let _ = writeln!(out, "  code s3://{}/{}: already uploaded", u.bucket, u.key);
        } else {
            let _ = writeln!(out, "  code s3://{}/{}: upload ({} bytes)", u.bucket, u.key, u.size);
        }
        let s = &self.stack_set;
        let title = format!("StackSet {STACK_SET} (SERVICE_MANAGED, automatic deployment)");
        if s.is_change() && !s.action.is_change() {
            let _ = writeln!(out, "  {title}: update");
        } else {
            render_stack(&mut out, &title, &s.action);
        }
        for setting in &s.settings {
            let _ = writeln!(out, "    {setting}");
        }
        let list = |out: &mut String, heading: String, instances: &[Instance]| {
            if instances.is_empty() {
                return;
            }
            let _ = writeln!(out, "    {heading}:");
            for i in instances {
                let _ = writeln!(
                    out,
                    "      {} {} {}{}{}",
                    i.account,
                    i.region,
                    i.status,
                    i.detailed_status
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default(),
                    i.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                );
            }
        };
        list(
            &mut out,
            format!(
                "{} stack instance(s) whose last operation failed, deployed again",
                s.outdated.len()
            ),
            &s.outdated,
        );
        list(
            &mut out,
            format!(
                "{} stack instance(s) left as they are (suspended accounts are skipped; INOPERABLE ones need \
                 `aws cloudformation delete-stack-instances --retain-stacks`)",
                s.stuck.len()
            ),
            &s.stuck,
        );
        if !s.add_org_units.is_empty() {
            let _ = writeln!(
                out,
                "    stack instances for {} in {} (every account in them, and accounts that join later)",
                s.add_org_units.join(", "),
                c.region
            );
        }
        if !s.remove_org_units.is_empty() {
            let _ = writeln!(
                out,
                "    remove the stack instances of {} (no longer targeted)",
                s.remove_org_units.join(", ")
            );
        }
        if !s.covered_org_units.is_empty() {
            let _ = writeln!(
                out,
                "    keep the stack instances of {}: a given parent OU or the root still covers them",
                s.covered_org_units.join(", ")
            );
        }
        if !s.action.is_change() || matches!(s.action, StackAction::Update(_)) {
            let _ = writeln!(out, "    {} stack instance(s) in {}", s.instances, c.region);
        }
        match &self.management {
            Some(action) => render_stack(
                &mut out,
                &format!("management stack {MANAGEMENT_STACK} (account {})", c.management_account),
                action,
            ),
            None => {
                let _ = writeln!(
                    out,
                    "  management account {}: not deployed from a delegated administrator (StackSets never deploy \
                     there); run deploy with management-account credentials and --call-as SELF to cover it",
                    c.management_account
                );
            }
        }
        let _ = writeln!(out, "  mode: {}", self.mode);
        out
    }
}

/// What `destroy` removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestroyPlan {
    /// The StackSet exists: its instances and then itself are deleted.
    pub stack_set: Option<StackSetTeardown>,
    pub management_stack: bool,
    /// With `--all`: the artifact stack exists.
    pub artifact_stack: bool,
    /// With `--all`: the bucket to empty (every version) and delete.
    pub bucket: Option<String>,
    /// What is kept, and why.
    pub kept: Vec<String>,
}

/// The StackSet's instances to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSetTeardown {
    pub org_units: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    pub instances: usize,
}

impl DestroyPlan {
    pub fn is_change(&self) -> bool {
        self.stack_set.is_some() || self.management_stack || self.artifact_stack || self.bucket.is_some()
    }

    pub fn render(&self) -> String {
        let mut out = String::from("Plan:\n");
        match &self.stack_set {
            Some(t) => {
                if t.instances > 0 {
                    let _ = writeln!(
                        out,
                        "  delete {} stack instance(s) of StackSet {STACK_SET} ({} in {})",
                        t.instances,
                        t.org_units.iter().cloned().collect::<Vec<_>>().join(", "),
                        t.regions.iter().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                let _ = writeln!(out, "  delete StackSet {STACK_SET}");
            }
            None => {
                let _ = writeln!(out, "  StackSet {STACK_SET}: none");
            }
        }
        if self.management_stack {
            let _ = writeln!(out, "  delete stack {MANAGEMENT_STACK}");
        } else {
            let _ = writeln!(out, "  stack {MANAGEMENT_STACK}: none");
        }
        if let Some(bucket) = &self.bucket {
            let _ = writeln!(out, "  empty (every version) and delete bucket {bucket}");
        }
        if self.artifact_stack {
            let _ = writeln!(out, "  delete stack {ARTIFACT_STACK}");
        }
        for kept in &self.kept {
            let _ = writeln!(out, "  keep {kept}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::{Args, FromArgMatches};
    use iam_janitor::settings::SettingsArgs;
    use iam_janitor_cfn::stacks::member::{engine_settings, member_stack};
    use serde_json::json;

    use super::*;
    use crate::synth::role_permissions;

    fn settings_from(flags: &[&str]) -> Settings {
        let command = SettingsArgs::augment_args(clap::Command::new("deploy"));
        let mut argv = vec!["deploy"];
        argv.extend_from_slice(flags);
        let args = SettingsArgs::from_arg_matches(&command.try_get_matches_from(argv).unwrap()).unwrap();
        Settings::from_args(&args).unwrap()
    }

    fn member_template() -> Value {
        member_stack(&role_permissions()).to_value().unwrap()
    }

    fn deployment() -> Deployment {
        Deployment {
            code_bucket: "iam-janitor-code-123456789012-us-east-1".into(),
            code_key: code_key(&"ab".repeat(32)),
            architecture: "arm64".into(),
            schedule: DEFAULT_SCHEDULE.into(),
        }
    }

    #[test]
    fn org_unit_ids_follow_the_stacksets_pattern() {
        for good in [
            "r-ab12",
            "r-abcdefghijklmnopqrstuvwxyz012345",
            "ou-ab12-abcdefgh",
            "ou-abcd-0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_org_unit_id(good), "{good}");
        }
        for bad in [
            "",
            "r-",
            "r-abc",
            "R-abcd",
            "r-ABCD",
            "r-abcd-efgh",
            "ou-abcd",
            "ou-abc-abcdefgh",
            "ou-abcd-abcdefg",
            "ou-abcd-abcdefgh-",
            "ou-abcd-abcd_efgh",
            "o-abcdefghij",
            "123456789012",
            " r-abcd",
        ] {
            assert!(!is_org_unit_id(bad), "{bad}");
        }
        assert!(!is_org_unit_id(&format!("r-{}", "a".repeat(33))));
        assert!(!is_org_unit_id(&format!("ou-abcd-{}", "a".repeat(33))));
    }

    #[test]
    fn only_the_management_account_or_a_delegated_admin_deploys() {
        let org = "o-abcdefghij";
        assert_eq!(check_caller("111111111111", org, "111111111111", true, true), Ok(()));
        assert_eq!(check_caller("222222222222", org, "111111111111", true, false), Ok(()));
        let member = check_caller("222222222222", org, "111111111111", true, true).unwrap_err();
        assert!(
            member.contains("account 222222222222 is not the management account of organization o-abcdefghij")
                && member.contains(
                    "register-delegated-administrator --service-principal \
                     member.org.stacksets.cloudformation.amazonaws.com --account-id 222222222222"
                )
                && member.contains("--call-as DELEGATED_ADMIN"),
            "{member}"
        );
        let management = check_caller("111111111111", org, "111111111111", true, false).unwrap_err();
        assert!(management.contains("deploy with --call-as SELF"), "{management}");
        let billing = check_caller("111111111111", org, "111111111111", false, true).unwrap_err();
        assert!(billing.contains("enable-all-features"), "{billing}");
    }

    #[test]
    fn schedule_expressions_are_cron_or_rate() {
        assert!(is_schedule_expression("cron(0 6 * * ? *)"));
        assert!(is_schedule_expression("rate(1 day)"));
        for bad in ["", "cron()", "daily", "cron(0 6 * * ? *", "at(2026-01-01T00:00:00)"] {
            assert!(!is_schedule_expression(bad), "{bad}");
        }
    }

    #[test]
    fn every_engine_setting_of_the_template_is_mapped() {
        let mapped: BTreeSet<String> = engine_parameters(&Settings::default()).into_keys().collect();
        let template: BTreeSet<String> = engine_settings()
            .into_iter()
            .map(|s| s.parameter.as_str().to_string())
            .collect();
        assert_eq!(mapped, template);
    }

    /// A first deploy without flags deploys exactly the template's defaults.
    #[test]
    fn default_settings_are_the_template_defaults() {
        let template = member_template();
        let defs = parameter_defs(&template);
        for (name, value) in engine_parameters(&Settings::default()) {
            assert_eq!(defs[&name].default.as_deref(), Some(value.as_str()), "{name}");
        }
        assert_eq!(defs["ScheduleExpression"].default.as_deref(), Some(DEFAULT_SCHEDULE));
    }

    #[test]
    fn flags_map_to_their_parameters_in_canonical_form() {
        let settings = settings_from(&[
            "--mode",
            "ENFORCE",
            "--dormant-days",
            "060",
            "--warn-days",
            "7",
            "--exempt-tag",
            "break-glass",
            "--exempt-user",
            "admin-*",
            "--exempt-user",
            "ci-?",
            "--max-actions",
            "5",
            "--concurrency",
            "4",
            "--slack-webhook",
            "https://hooks.slack.com/services/T/B/x",
            "--report-timeout-secs",
            "120",
            "--least-privilege",
            "off",
            "--unused-service-days",
            "30",
            "--advisor-concurrency",
            "2",
            "--keep-services-tag",
            "keep",
            "--never-deny",
            "sts, iam ,kms",
            "--policy-quota",
            "20",
        ]);
        let p = engine_parameters(&settings);
        let expected = json!({
            "Mode": "enforce", "DormantDays": "60", "WarnDays": "7", "ExemptTag": "break-glass",
            "ExemptUsers": "admin-*,ci-?", "MaxActions": "5", "Concurrency": "4",
            "SlackWebhook": "https://hooks.slack.com/services/T/B/x", "ReportTimeoutSecs": "120",
            "LeastPrivilege": "off", "UnusedServiceDays": "30", "AdvisorConcurrency": "2",
            "KeepServicesTag": "keep", "NeverDeny": "iam,kms,sts", "PolicyQuota": "20",
        });
        assert_eq!(serde_json::to_value(&p).unwrap(), expected);
        assert_eq!(engine_parameters(&settings_from(&["--enforce"]))["Mode"], "enforce");
    }

    #[test]
    fn member_parameters_are_complete_and_reject_unknown_names() {
        let template = member_template();
        let parameters = member_parameters(&template, &Settings::default(), &deployment()).unwrap();
        assert_eq!(
            parameters.keys().collect::<Vec<_>>(),
            parameter_defs(&template).keys().collect::<Vec<_>>()
        );
        assert_eq!(parameters["CodeKey"], format!("iam-janitor/{}.zip", "ab".repeat(32)));
        assert_eq!(parameters["Architecture"], "arm64");
        assert_eq!(
            parameters["Timeout"], "900",
            "not managed by deploy: the template's default"
        );
        let unknown = BTreeMap::from([("Nope".to_string(), "1".to_string())]);
        assert_eq!(
            complete_parameters(&template, &unknown).unwrap_err(),
            "the template has no parameter Nope"
        );
        let no_default = json!({"Parameters": {"X": {"Type": "String"}}});
        assert!(complete_parameters(&no_default, &BTreeMap::new()).is_err());
    }

    #[test]
    fn webhook_fingerprint_tells_urls_apart_without_showing_them() {
        assert_eq!(webhook_fingerprint(""), "none");
        let a = webhook_fingerprint("https://hooks.slack.com/services/T/B/secret1");
        let b = webhook_fingerprint("https://hooks.slack.com/services/T/B/secret2");
        assert_ne!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == "sha256:".len() + 16);
        assert!(!a.contains("secret"));
        assert_eq!(a, webhook_fingerprint("https://hooks.slack.com/services/T/B/secret1"));
    }

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

    fn desired_member() -> DesiredStack {
        let template = member_template();
        let parameters = member_parameters(&template, &Settings::default(), &deployment()).unwrap();
        let tags = member_tags(&parameters);
        DesiredStack::new(MANAGEMENT_STACK, template, parameters, tags).unwrap()
    }

    fn deployed_like(desired: &DesiredStack) -> DeployedStack {
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

    fn instance(account: &str, region: &str, status: &str) -> Instance {
        Instance {
            account: account.into(),
            region: region.into(),
            status: status.into(),
            detailed_status: None,
            reason: None,
            org_unit: None,
        }
    }

    fn desired_set(org_units: &[&str]) -> DesiredStackSet {
        let mut stack = desired_member();
        stack.name = STACK_SET.into();
        DesiredStackSet {
            stack,
            org_units: org_units.iter().map(|s| s.to_string()).collect(),
            region: "us-east-1".into(),
        }
    }

    fn deployed_set(desired: &DesiredStackSet) -> DeployedStackSet {
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
            stack_set: plan,
            ..plan_for(&desired)
        };
        assert!(kept.render().contains(
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
            stack_set: plan,
            ..plan_for(&desired)
        }
        .render();
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

    /// A plan where only the StackSet may change.
    fn plan_for(desired: &DesiredStackSet) -> Plan {
        Plan {
            context: context(),
            artifact: StackAction::Unchanged,
            upload: UploadPlan {
                bucket: "b".into(),
                key: "k".into(),
                size: 1,
                exists: true,
            },
            stack_set: plan_stack_set(desired, Some(&deployed_set(desired)), &BTreeSet::new()).unwrap(),
            management: Some(StackAction::Unchanged),
            mode: "report".into(),
        }
    }

    fn context() -> Context {
        Context {
            account: "123456789012".into(),
            organization: "o-abcdefghij".into(),
            management_account: "123456789012".into(),
            region: "us-east-1".into(),
            call_as: "SELF",
        }
    }

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
            stack_set: plan_stack_set(&desired, None, &BTreeSet::new()).unwrap(),
            management: Some(StackAction::Create),
            mode: "report".into(),
        };
        assert!(plan.is_change());
        let text = plan.render();
        for line in [
            "Plan for organization o-abcdefghij from account 123456789012 (management account), Region us-east-1:",
            "  artifact stack iam-janitor-artifacts: create",
            "  code s3://b/iam-janitor/x.zip: upload (10 bytes)",
            "  StackSet iam-janitor (SERVICE_MANAGED, automatic deployment): create",
            "    stack instances for ou-abcd-11111111 in us-east-1 (every account in them, and accounts that join later)",
            "  management stack iam-janitor (account 123456789012): create",
            "  mode: report",
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
            stack_set: plan_stack_set(&desired, Some(&deployed), &BTreeSet::new()).unwrap(),
            management: None,
            ..plan.clone()
        };
        assert!(!unchanged.is_change());
        let text = unchanged.render();
        assert!(text.contains("StackSet iam-janitor (SERVICE_MANAGED, automatic deployment): no changes"));
        assert!(text.contains("2 stack instance(s) in us-east-1"));
        assert!(text.contains("not deployed from a delegated administrator"));
        let update = Plan {
            stack_set: plan_stack_set(&desired, Some(&changed), &BTreeSet::new()).unwrap(),
            ..unchanged
        };
        assert!(update.is_change());
        assert!(update.render().contains("    parameter DormantDays: \"60\" → \"90\""));
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
            plan.render(),
            "Plan:\n  delete 3 stack instance(s) of StackSet iam-janitor (ou-abcd-11111111 in us-east-1)\n  \
             delete StackSet iam-janitor\n  delete stack iam-janitor\n  keep bucket b (--all removes it)\n"
        );
        assert!(!DestroyPlan::default().is_change());
    }
}
