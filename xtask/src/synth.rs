//! `cargo xtask synth`: generates `cfn/templates/` from the typed templates in `cfn/src`,
//! the engine's permission list (`lambda/src/iam/permissions.rs`) and its settings table
//! (`lambda/src/settings/table.rs`).
//!
//! The generated files are committed, so that a reviewer sees every change to what is
//! deployed and to what the Lambda may do. [`generate`] is pure; [`write_if_changed`] is
//! the only function that writes. `--check` (and the test `templates_are_fresh`)
//! fail when a committed file is out of date.
//!
//! Linters: `--lint <venv>/bin` also runs cfn-lint and checkov (pinned in
//! `cfn/lint/requirements.txt`) on the templates; see [`lint_commands`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use iam_janitor::iam::permissions::{PERMISSIONS, Scope};
use iam_janitor::settings::table::{self, Number, Setting, Text, Value};
use iam_janitor_cfn::stacks::artifacts::artifact_stack;
use iam_janitor_cfn::stacks::member::{EngineSetting, member_stack};
use iam_janitor_cfn::stacks::permissions::{ActionScope, RolePermission, permissions_summary};
use iam_janitor_cfn::template::{Parameter, Template};

/// Where the generated files live, relative to the project root.
pub const TEMPLATES_DIR: &str = "cfn/templates";

/// The generated templates, relative to the project root.
pub const TEMPLATES: [&str; 3] = [
    "cfn/templates/member.yaml",
    "cfn/templates/artifacts.yaml",
    "cfn/templates/guardrails.yaml",
];

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Write nothing; fail if a generated file is out of date (what CI runs)
    #[arg(long)]
    pub check: bool,
    /// Then run cfn-lint and checkov from this virtualenv bin directory (see cfn/lint/requirements.txt)
    #[arg(long, value_name = "VENV_BIN")]
    pub lint: Option<PathBuf>,
}

/// The template's side of an engine scope.
///
/// Exhaustive on purpose: a scope added to the engine does not compile until it is given
/// its statement here (and in `iam_janitor_cfn::stacks::permissions::ActionScope`).
fn action_scope(scope: Scope) -> ActionScope {
    match scope {
        Scope::Read => ActionScope::Read,
        Scope::User => ActionScope::User,
        Scope::JanitorPolicy => ActionScope::JanitorPolicy,
        Scope::AttachJanitorPolicy => ActionScope::AttachJanitorPolicy,
        Scope::TrailRecords => ActionScope::TrailRecords,
    }
}

/// The engine's permissions, as the templates take them.
pub fn role_permissions() -> Vec<RolePermission<'static>> {
    PERMISSIONS
        .iter()
        .map(|p| RolePermission {
            action: p.action,
            scope: action_scope(p.scope),
            why: p.why,
        })
        .collect()
}

/// The template's side of an engine setting: its parameter, with the row's description,
/// default, bounds or choices and constraints. `None` for a setting that is not deployed.
fn engine_setting(setting: Setting) -> Option<EngineSetting> {
    let deployed = setting.deployed?;
    let definition = match setting.value {
        Value::Number(Number { min, max, default }) => {
            Parameter::number(deployed.description, min.into(), max.into()).default(default)
        }
        Value::Text(Text {
            default,
            choices,
            secret,
        }) => {
            let mut parameter = Parameter::string(deployed.description);
            if !choices.is_empty() {
                parameter = parameter.allowed_values(choices.iter().copied());
            }
            parameter = parameter.default(default);
            if let Some((min, max)) = deployed.constraints.length {
                parameter = parameter.length(min, max);
            }
            if let Some((pattern, description)) = deployed.constraints.pattern {
                parameter = parameter.pattern(pattern, description);
            }
            if secret {
                parameter = parameter.no_echo();
            }
            parameter
        }
        // A switch is command-line only (a table test checks that none is deployed).
        Value::Switch => return None,
    };
    Some(EngineSetting {
        parameter: deployed.parameter,
        env: setting.env?,
        definition,
    })
}

/// The engine's deployed settings, as the member stack takes them, in the table's order.
pub fn engine_settings() -> Vec<EngineSetting> {
    table::settings().into_iter().filter_map(engine_setting).collect()
}

/// The member stack: the engine's permissions and settings.
pub fn member_template() -> Template {
    member_stack(&role_permissions(), &engine_settings())
}

/// Every generated file: its path relative to the project root, and its contents.
pub fn generate() -> anyhow::Result<Vec<(PathBuf, String)>> {
    let permissions = role_permissions();
    let dir = Path::new(TEMPLATES_DIR);
    Ok(vec![
        (
            dir.join("member.yaml"),
            member_stack(&permissions, &engine_settings())
                .to_yaml()
                .context("member stack")?,
        ),
        (
            dir.join("artifacts.yaml"),
            artifact_stack().to_yaml().context("artifact stack")?,
        ),
        (
            dir.join("guardrails.yaml"),
            iam_janitor_cfn::stacks::guardrails::guardrails_stack()
                .to_yaml()
                .context("guardrails stack")?,
        ),
        (dir.join("PERMISSIONS.md"), permissions_summary(&permissions)),
    ])
}

/// The project root (the parent of this crate's directory).
pub fn project_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// Whether the file at `path` holds `contents` (line endings aside).
fn is_fresh(path: &Path, contents: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|current| current.replace("\r\n", "\n") == contents)
}

/// The generated files that are missing or differ from what is generated now.
pub fn stale_files(root: &Path, files: &[(PathBuf, String)]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(path, contents)| !is_fresh(&root.join(path), contents))
        .map(|(path, _)| path.clone())
        .collect()
}

/// Writes `contents` to `root/path` unless it already holds them. Returns whether it wrote.
fn write_if_changed(root: &Path, path: &Path, contents: &str) -> anyhow::Result<bool> {
    let full = root.join(path);
    if is_fresh(&full, contents) {
        return Ok(false);
    }
    if let Some(dir) = full.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&full, contents).with_context(|| format!("cannot write {}", full.display()))?;
    Ok(true)
}

/// The error for stale files: which ones, and the command that fixes them.
fn stale_error(stale: &[PathBuf]) -> anyhow::Error {
    let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
    anyhow::format_err!(
        "{} {} out of date with cfn/src and lambda/src/iam/permissions.rs: run `cargo xtask synth` and commit the result",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    )
}

/// The linter runs, from a virtualenv's `bin` directory with `cfn/lint/requirements.txt`
/// installed, to run from the project root. Each fails (exits non-zero) on any finding:
///
/// - `cfn-lint --include-checks I -- <templates>`: errors, warnings and informational
///   findings.
/// - `checkov --framework cloudformation --quiet --compact --skip-download -f <templates>`:
///   every failed check (suppressions are reported as skipped); `--skip-download` keeps it
///   offline.
/// - `python cfn/lint/check_sql.py README.md`: the README's ```sql blocks (the Athena
///   queries over the organization's reports) parse as Athena SQL.
pub fn lint_commands(venv_bin: &Path) -> Vec<Command> {
    let mut cfn_lint = Command::new(venv_bin.join("cfn-lint"));
    cfn_lint.args(["--include-checks", "I", "--"]).args(TEMPLATES);
    let mut checkov = Command::new(venv_bin.join("checkov"));
    checkov
        .args([
            "--framework",
            "cloudformation",
            "--quiet",
            "--compact",
            "--skip-download",
            "-f",
        ])
        .args(TEMPLATES);
    let mut sql = Command::new(venv_bin.join("python"));
    sql.args([SQL_CHECK, "README.md"]);
    vec![cfn_lint, checkov, sql]
}

/// Parses the README's example queries over the report table as Athena SQL (sqlglot).
pub const SQL_CHECK: &str = "cfn/lint/check_sql.py";

fn lint(root: &Path, venv_bin: &Path) -> anyhow::Result<()> {
    for mut command in lint_commands(venv_bin) {
        let name = command.get_program().to_string_lossy().into_owned();
        eprintln!("==> {name}");
        let status = command
            .current_dir(root)
            .status()
            .with_context(|| format!("cannot run {name} (is cfn/lint/requirements.txt installed there?)"))?;
        if !status.success() {
            bail!("{name} found problems in the templates or the README's SQL ({status})");
        }
    }
    Ok(())
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let root = project_root();
    let files = generate()?;
    if args.check {
        let stale = stale_files(&root, &files);
        if !stale.is_empty() {
            return Err(stale_error(&stale));
        }
        eprintln!("{TEMPLATES_DIR}: up to date");
    } else {
        for (path, contents) in &files {
            if write_if_changed(&root, path, contents)? {
                eprintln!("updated {}", path.display());
            }
        }
    }
    if let Some(venv_bin) = &args.lint {
        lint(&root, venv_bin)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeSet;

    use clap::{Args, FromArgMatches};
    use iam_janitor::settings::{Settings, SettingsArgs};
    use iam_janitor_cfn::stacks::permissions::STATE_TABLE_ACTIONS;
    use iam_janitor_cfn::template::Literal;
    use serde_json::{Value, json};

    use super::*;

    /// The rust-analyzer codegen pattern: `cargo test` fails on stale generated files. It
    /// compares only; `cargo xtask synth` writes.
    #[test]
    fn templates_are_fresh() {
        let stale = stale_files(&project_root(), &generate().unwrap());
        assert!(stale.is_empty(), "{}", stale_error(&stale));
    }

    #[test]
    fn stale_files_are_named_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("iam-janitor-synth-test-{}", std::process::id()));
        let files = vec![(PathBuf::from("a.yaml"), "a\n".to_string())];
        assert_eq!(stale_files(&dir, &files), [PathBuf::from("a.yaml")]);
        assert!(write_if_changed(&dir, Path::new("a.yaml"), "a\n").unwrap());
        assert!(!write_if_changed(&dir, Path::new("a.yaml"), "a\n").unwrap());
        assert!(stale_files(&dir, &files).is_empty());
        std::fs::write(dir.join("a.yaml"), "a\r\n").unwrap();
        assert!(stale_files(&dir, &files).is_empty(), "line endings do not matter");
        std::fs::write(dir.join("a.yaml"), "b\n").unwrap();
        assert_eq!(
            stale_error(&stale_files(&dir, &files)).to_string(),
            "a.yaml is out of date with cfn/src and lambda/src/iam/permissions.rs: run `cargo xtask synth` and commit the result"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn member() -> Value {
        member_template().to_value().unwrap()
    }

    #[test]
    fn member_parameter_ids_are_pinned() {
        // Renaming a parameter breaks every deployment that sets it: change these only on
        // purpose. (cfn's `logical_ids_are_pinned` pins the resources.)
        let member = member();
        let ids: Vec<&str> = member["Parameters"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            ids,
            [
                "AdvisorConcurrency",
                "AlertBusArn",
                "Architecture",
                "CodeBucket",
                "CodeKey",
                "Concurrency",
                "DormantDays",
                "ExemptTag",
                "ExemptUsers",
                "FunctionName",
                "IamRate",
                "InvokeOverride",
                "KeepServicesTag",
                "LeastPrivilege",
                "LogRetentionInDays",
                "MaxActions",
                "MemorySize",
                "MissedRunHours",
                "Mode",
                "NeverDeny",
                "OrgDigestSchedule",
                "PolicyQuota",
                "ReportBucket",
                "ReportKmsKeyArn",
                "ReportTimeoutSecs",
                "ScheduleExpression",
                "SigningCertificates",
                "SlackScope",
                "SlackWebhook",
                "SshKeySweep",
                "Timeout",
                "UnusedServiceDays",
                "WarnDays"
            ]
        );
        assert_eq!(member["Parameters"]["SlackWebhook"]["NoEcho"], true);
        assert_eq!(member["Parameters"]["SlackWebhook"]["Default"], "");
        // A StackSet's TemplateBody is at most 51,200 bytes.
        assert!(member_template().to_compact_json().unwrap().len() < 51_200);
    }

    /// Every deployed row of the settings table is a parameter with the row's default,
    /// bounds or choices, passed in the row's variable; no other engine parameter.
    #[test]
    fn engine_parameters_are_the_settings_table() {
        let member = member();
        let parameters = &member["Parameters"];
        let variables = &member["Resources"]["Function"]["Properties"]["Environment"]["Variables"];
        let rows: Vec<_> = table::settings().into_iter().filter(|s| s.deployed.is_some()).collect();
        for row in &rows {
            let id = row.deployed.as_ref().unwrap().parameter.as_str();
            let parameter = &parameters[id];
            assert_eq!(variables[row.env.unwrap()], json!({"Ref": id}), "{id}");
            match row.value {
                table::Value::Number(Number { min, max, default }) => {
                    assert_eq!(parameter["Type"], "Number", "{id}");
                    assert_eq!(
                        (&parameter["MinValue"], &parameter["MaxValue"], &parameter["Default"]),
                        (&json!(min), &json!(max), &json!(default)),
                        "{id}"
                    );
                }
                table::Value::Text(text) => {
                    assert_eq!(parameter["Type"], "String", "{id}");
                    assert_eq!(parameter["Default"], text.default, "{id}");
                    if !text.choices.is_empty() {
                        assert_eq!(parameter["AllowedValues"], json!(text.choices), "{id}");
                    }
                    assert_eq!(parameter.get("NoEcho").is_some(), text.secret, "{id}");
                }
                table::Value::Switch => panic!("{id}: a switch is deployed"),
            }
        }
        // Plus the stack's own state table, which is no parameter, and the organization's
        // report bucket, a deployment parameter.
        assert_eq!(variables["IAM_JANITOR_STATE_TABLE"], json!({"Ref": "StateTable"}));
        assert_eq!(variables["IAM_JANITOR_REPORT_BUCKET"], json!({"Ref": "ReportBucket"}));
        assert_eq!(variables.as_object().unwrap().len(), rows.len() + 2);
        assert_eq!(engine_settings().len(), rows.len());
    }

    #[test]
    fn role_grants_every_engine_action_on_its_scope() {
        let member = member();
        let statements = member["Resources"]["RolePolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
        let granted: BTreeSet<String> = statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::Array(actions) => actions.clone(),
                one => vec![one.clone()],
            })
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let mut expected: BTreeSet<String> = PERMISSIONS.iter().map(|p| p.action.to_string()).collect();
        expected.extend(["logs:CreateLogStream".to_string(), "logs:PutLogEvents".to_string()]);
        expected.extend(STATE_TABLE_ACTIONS.iter().map(|a| a.to_string()));
        assert_eq!(
            granted, expected,
            "exactly the engine's actions, its own logs and its own state table"
        );
        for permission in PERMISSIONS {
            let statement = statements
                .iter()
                .find(|s| {
                    s["Action"] == json!(permission.action)
                        || s["Action"]
                            .as_array()
                            .is_some_and(|a| a.contains(&json!(permission.action)))
                })
                .unwrap();
            let resource = &statement["Resource"];
            match permission.scope {
                Scope::Read => assert_eq!(resource, "*"),
                Scope::User | Scope::AttachJanitorPolicy | Scope::TrailRecords => assert_eq!(
                    resource,
                    &json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}),
                    "{}",
                    permission.action
                ),
                Scope::JanitorPolicy => assert_eq!(
                    resource,
                    &json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/iam-janitor/*"}),
                    "{}",
                    permission.action
                ),
            }
            if permission.scope == Scope::AttachJanitorPolicy {
                assert_eq!(
                    statement["Condition"]["ArnLike"]["iam:PolicyARN"],
                    json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/iam-janitor/*"})
                );
            }
            if permission.scope == Scope::TrailRecords {
                // Only its own records of keys, spelt as it writes them.
                let prefixes: Vec<String> = iam_janitor::trail::RECORD_PREFIXES_WITH_ID
                    .iter()
                    .map(|p| format!("{p}*"))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                assert_eq!(
                    statement["Condition"],
                    json!({"ForAllValues:StringLike": {"aws:TagKeys": prefixes}}),
                    "{}",
                    permission.action
                );
            }
        }
    }

    /// The engine's settings as clap sees them: (environment variable, long flag).
    fn engine_flags() -> Vec<(String, String)> {
        let command = SettingsArgs::augment_args(clap::Command::new("settings"));
        command
            .get_arguments()
            .filter_map(|arg| {
                let env = arg.get_env()?.to_str()?.to_string();
                Some((env, arg.get_long()?.to_string()))
            })
            .collect()
    }

    /// Settings that make no sense in the Lambda.
    const NOT_IN_THE_TEMPLATE: [&str; 2] = [
        // Evaluating as of another time is for local reports (`cargo xtask audit`).
        "IAM_JANITOR_AS_OF",
        // The Lambda's budget is its invocation's deadline.
        "IAM_JANITOR_TIME_BUDGET_SECS",
    ];

    #[test]
    fn member_stack_passes_every_engine_setting() {
        let engine: BTreeSet<String> = engine_flags()
            .into_iter()
            .map(|(env, _)| env)
            .filter(|env| !NOT_IN_THE_TEMPLATE.contains(&env.as_str()))
            .collect();
        let member = member();
        let template: BTreeSet<String> = member["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(template, engine);
    }

    #[test]
    fn template_defaults_are_the_engine_defaults() {
        let flags = engine_flags();
        let mut argv = vec!["settings".to_string()];
        for setting in engine_settings() {
            let (_, long) = flags.iter().find(|(env, _)| env == setting.env).unwrap();
            let value = match setting.definition.default.expect("every engine setting has a default") {
                Literal::Str(s) => s,
                Literal::Int(i) => i.to_string(),
            };
            argv.push(format!("--{long}={value}"));
        }
        let command = SettingsArgs::augment_args(clap::Command::new("settings"));
        let args = SettingsArgs::from_arg_matches(&command.try_get_matches_from(&argv).unwrap()).unwrap();
        let from_template = Settings::from_args(&args).unwrap();
        assert_eq!(
            format!("{from_template:?}"),
            format!("{:?}", Settings::default()),
            "{argv:?}"
        );
    }

    #[test]
    fn lint_commands_cover_both_templates() {
        let commands = lint_commands(Path::new("/venv/bin"));
        let programs: Vec<_> = commands
            .iter()
            .map(|c| c.get_program().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            programs,
            ["/venv/bin/cfn-lint", "/venv/bin/checkov", "/venv/bin/python"]
        );
        for command in &commands[..2] {
            let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            assert!(TEMPLATES.iter().all(|t| args.contains(&t.to_string())));
        }
    }
}
