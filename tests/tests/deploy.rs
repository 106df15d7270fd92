//! End-to-end tests of `cargo xtask deploy` and `cargo xtask destroy`: the real CLI, run as
//! a subprocess with the standard AWS environment variables, against the emulator, in an
//! organization with two OUs and four member accounts.
//!
//! The emulator fills the gaps moto 5.2.5 leaves in StackSets (DescribeStackSet's
//! `AutoDeployment`, `ManagedExecution` and `OrganizationalUnitIds`; DeleteStackInstances
//! by OU: see `tests/emulator/janitor_emulator.py`). A small proxy between the CLI and the
//! emulator ([`StackSetsProxy`]) records every call, so that a test can show that nothing
//! was written and read the exact StackSet requests, and it plays CloudFormation's
//! failures: a StackSet operation failing for one account, a change set with nothing to
//! change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use iam_janitor_harness::{CommandRun, Emulator, Organization, STACKSETS_PRINCIPAL, serve_loopback, workspace_root};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

const REGION: &str = "us-east-1";
const STACK_SET: &str = "iam-janitor";
const MANAGEMENT_STACK: &str = "iam-janitor";
const ARTIFACT_STACK: &str = "iam-janitor-artifacts";
const MANAGEMENT_ACCOUNT: &str = "123456789012";
const BUCKET: &str = "iam-janitor-code-123456789012-us-east-1";

// ---------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------

/// One AWS call as the proxy saw it.
#[derive(Debug, Clone)]
struct Call {
    /// The API action (`CreateStackSet`, `CreateAccount`), or `S3 <METHOD> <path>`.
    name: String,
    /// The decoded form of an AWS query request (CloudFormation, STS), else empty.
    form: Vec<(String, String)>,
}

impl Call {
    fn field(&self, key: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Values of `Prefix.member.1`, `Prefix.member.2`, …
    fn members(&self, prefix: &str) -> Vec<String> {
        let prefix = format!("{prefix}.member.");
        self.form
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether the call changes something.
    fn is_write(&self) -> bool {
        if let Some(s3) = self.name.strip_prefix("S3 ") {
            return !(s3.starts_with("GET ") || s3.starts_with("HEAD "));
        }
        ["Create", "Update", "Delete", "Execute", "Put", "Move", "Enable", "Stop"]
            .iter()
            .any(|verb| self.name.starts_with(verb))
    }
}

#[derive(Debug, Default)]
struct State {
    /// Root or OU → the member accounts under it.
    accounts_of: BTreeMap<String, Vec<String>>,
    calls: Vec<Call>,
    /// Make the next StackSet operation end FAILED, with this account failing for this reason.
    fail_next_operation: Option<(String, String)>,
    failing_operation: Option<(String, String, String)>,
    /// Answer change sets as CloudFormation does when there is nothing to change.
    empty_change_sets: bool,
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The emulator, with the StackSets behaviour moto leaves out (see the module docs).
struct StackSetsProxy {
    endpoint: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for StackSetsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A key or value of an `application/x-www-form-urlencoded` body: `+` is a space.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const CFN_NS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

impl StackSetsProxy {
    async fn start(upstream: String) -> StackSetsProxy {
        let shared = Arc::new(Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            state: Mutex::new(State::default()),
        });
        let (addr, task) = serve_loopback("StackSets proxy", Arc::clone(&shared), handle)
            .await
            .unwrap();
        StackSetsProxy {
            endpoint: format!("http://{addr}"),
            shared,
            task,
        }
    }

    fn set_org(&self, accounts_of: BTreeMap<String, Vec<String>>) {
        self.shared.state().accounts_of = accounts_of;
    }

    fn calls(&self) -> Vec<Call> {
        self.shared.state().calls.clone()
    }

    fn writes_since(&self, mark: usize) -> Vec<String> {
        self.calls()[mark..]
            .iter()
            .filter(|c| c.is_write())
            .map(|c| c.name.clone())
            .collect()
    }

    fn last(&self, name: &str) -> Option<Call> {
        self.calls().into_iter().rev().find(|c| c.name == name)
    }

    fn empty_change_sets(&self, empty: bool) {
        self.shared.state().empty_change_sets = empty;
    }

    fn fail_next_operation(&self, account: &str, reason: &str) {
        self.shared.state().fail_next_operation = Some((account.to_string(), reason.to_string()));
    }
}

/// The name of a call: a query `Action`, a JSON `X-Amz-Target`, or S3's method and path.
fn call_name(request: &hyper::http::request::Parts, form: &[(String, String)]) -> String {
    if let Some((_, action)) = form.iter().find(|(k, _)| k == "Action") {
        return action.clone();
    }
    if let Some(target) = request.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    format!("S3 {} {}", request.method, request.uri.path())
}

/// Plays CloudFormation's failures in moto's answer, when a test asked for them.
fn after(state: &mut State, name: &str, form: &[(String, String)], body: String) -> String {
    match name {
        "UpdateStackSet" | "CreateStackInstances" | "DeleteStackInstances" => {
            if let Some((account, reason)) = state.fail_next_operation.take()
                && let Some(start) = body.find("<OperationId>")
                && let Some(end) = body.find("</OperationId>")
            {
                let id = body[start + "<OperationId>".len()..end].to_string();
                state.failing_operation = Some((id, account, reason));
            }
            body
        }
        "DescribeChangeSet" if state.empty_change_sets => body
            .replace(
                "<Status>CREATE_COMPLETE</Status>",
                "<Status>FAILED</Status><StatusReason>The submitted information didn't contain changes. Submit \
                 different information to create a change set.</StatusReason>",
            )
            .replace(
                "<ExecutionStatus>AVAILABLE</ExecutionStatus>",
                "<ExecutionStatus>UNAVAILABLE</ExecutionStatus>",
            ),
        "DescribeStackSetOperation" | "ListStackSetOperationResults" => {
            let Some((id, account, reason)) = state.failing_operation.clone() else {
                return body;
            };
            if form.iter().find(|(k, _)| k == "OperationId").map(|(_, v)| v) != Some(&id) {
                return body;
            }
            if name == "DescribeStackSetOperation" {
                return body.replace("<Status>SUCCEEDED</Status>", "<Status>FAILED</Status>");
            }
            let others: Vec<String> = state
                .accounts_of
                .values()
                .flatten()
                .filter(|a| **a != account)
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut summaries = format!(
                "<member><Account>{account}</Account><Region>{REGION}</Region><Status>FAILED</Status>\
                 <StatusReason>{}</StatusReason></member>",
                xml_escape(&reason)
            );
            for other in others {
                summaries.push_str(&format!(
                    "<member><Account>{other}</Account><Region>{REGION}</Region><Status>SUCCEEDED</Status></member>"
                ));
            }
            format!(
                "<ListStackSetOperationResultsResponse xmlns=\"{CFN_NS}\"><ListStackSetOperationResultsResult>\
                 <Summaries>{summaries}</Summaries></ListStackSetOperationResultsResult><ResponseMetadata>\
                 <RequestId>proxy</RequestId></ResponseMetadata></ListStackSetOperationResultsResponse>"
            )
        }
        _ => body,
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { parse_form(&body) } else { Vec::new() };
    let name = call_name(&parts, &form);
    shared.state().calls.push(Call {
        name: name.clone(),
        form: form.clone(),
    });

    let uri = format!(
        "{}{}",
        shared.upstream,
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut upstream = Request::builder().method(parts.method.clone()).uri(uri);
    for (key, value) in &parts.headers {
        if key != "host" && key != "content-length" {
            upstream = upstream.header(key, value);
        }
    }
    let upstream = upstream.body(Full::new(body)).unwrap();
    let response = match shared.client.request(upstream).await {
        Ok(response) => response,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(format!("proxy: {e}"))))
                .unwrap());
        }
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = if is_form {
        let text = String::from_utf8_lossy(&body).into_owned();
        Bytes::from(after(&mut shared.state(), &name, &form, text))
    } else {
        body
    };
    let mut answer = Response::builder().status(parts.status);
    for (key, value) in &parts.headers {
        if key != "content-length" && key != "transfer-encoding" {
            answer = answer.header(key, value);
        }
    }
    Ok(answer.body(Full::new(body)).unwrap())
}

// ---------------------------------------------------------------------------
// The organization
// ---------------------------------------------------------------------------

/// The organization the tests deploy to.
struct Org {
    id: String,
    root: String,
    ous: [String; 2],
    /// Two per OU.
    accounts: Vec<String>,
}

/// An organization with two OUs of two member accounts each (so four members plus the
/// management account, which stays under the root), trusted access for StackSets on if
/// `trusted_access`.
async fn create_org(emu: &Emulator, trusted_access: bool) -> Org {
    const OUS: [&str; 2] = ["workloads", "sandbox"];
    let mut builder = Organization::builder();
    for i in 0..4 {
        builder = builder.account(format!("member-{i}"), OUS[i % 2]);
    }
    if trusted_access {
        builder = builder.trusted_access(STACKSETS_PRINCIPAL);
    }
    let org = builder.create(emu).await.unwrap();
    Org {
        id: org.id,
        root: org.root,
        ous: OUS.map(|name| org.org_units[name].clone()),
        accounts: org.accounts.into_iter().map(|account| account.id).collect(),
    }
}

async fn enable_trusted_access(emu: &Emulator) {
    iam_janitor_harness::enable_trusted_access(emu, STACKSETS_PRINCIPAL)
        .await
        .unwrap();
}

impl Org {
    fn accounts_of(&self) -> BTreeMap<String, Vec<String>> {
        let mut map = BTreeMap::new();
        for (i, ou) in self.ous.iter().enumerate() {
            let members = self.accounts.iter().skip(i).step_by(2).cloned().collect();
            map.insert(ou.clone(), members);
        }
        map.insert(self.root.clone(), self.accounts.clone());
        map
    }

    fn targets(&self) -> Vec<String> {
        self.ous
            .iter()
            .flat_map(|ou| ["--org-unit".to_string(), ou.clone()])
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

/// The xtask binary, built once per test run.
fn xtask_binary() -> PathBuf {
    iam_janitor_harness::xtask_binary().unwrap()
}

type Run = CommandRun;

/// Runs `xtask <args>` with no terminal, the standard AWS environment pointing at
/// `endpoint`, and nothing from the host's AWS or iam-janitor configuration.
async fn xtask(endpoint: &str, args: &[&str]) -> Run {
    let binary = tokio::task::spawn_blocking(xtask_binary).await.unwrap();
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .current_dir(workspace_root())
        .stdin(std::process::Stdio::null());
    // Empty AWS config and credentials files: nothing from ~/.aws.
    let nowhere = std::env::temp_dir().join("iam-janitor-deploy-tests-empty-aws-config");
    std::fs::write(&nowhere, "").unwrap();
    iam_janitor_harness::emulator_client_env(command.as_std_mut(), endpoint, REGION, &nowhere).env("RUST_LOG", "warn");
    let started = Instant::now();
    let output = command.output().await.unwrap();
    CommandRun::new(&format!("xtask {}", args.join(" ")), &output, started.elapsed())
}

/// A zip as `cargo xtask package` makes it, of a stand-in bootstrap that passes deploy's
/// checks: the header of a static arm64 ELF executable (one PT_LOAD segment), then
/// `content`; mode 0755.
fn zip_file(dir: &Path, name: &str, content: &str) -> (PathBuf, String) {
    use std::io::Write;
    let mut elf = vec![0u8; 64];
    elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01"); // 64-bit, little-endian, version 1
    elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&0xB7u16.to_le_bytes()); // EM_AARCH64
    elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    let mut load = [0u8; 56];
    load[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&load);
    elf.extend_from_slice(content.as_bytes());
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .unwrap();
    writer.write_all(&elf).unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    (path, sha256)
}

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iam-janitor-deploy-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test's world: the emulator, the proxy in front of it, the organization.
struct World {
    emu: Emulator,
    proxy: StackSetsProxy,
    org: Org,
    dir: PathBuf,
}

impl World {
    async fn new(test: &str) -> World {
        let emu = Emulator::start().await.unwrap();
        let org = create_org(&emu, true).await;
        let proxy = StackSetsProxy::start(emu.endpoint()).await;
        proxy.set_org(org.accounts_of());
        World {
            emu,
            proxy,
            org,
            dir: scratch_dir(test),
        }
    }

    async fn xtask(&self, args: &[&str]) -> Run {
        xtask(&self.proxy.endpoint, args).await
    }

    /// `deploy` to both OUs with this zip and these flags.
    async fn deploy(&self, zip: &Path, flags: &[&str]) -> Run {
        let mut args = vec!["deploy".to_string(), "--zip".to_string(), zip.display().to_string()];
        args.extend(self.org.targets());
        args.extend(flags.iter().map(|f| f.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.xtask(&args).await
    }

    /// Clients that see what the CLI sees (through the proxy).
    async fn cfn(&self) -> aws_sdk_cloudformation::Client {
        let config = self
            .emu
            .sdk_config()
            .await
            .into_builder()
            .endpoint_url(&self.proxy.endpoint)
            .build();
        aws_sdk_cloudformation::Client::new(&config)
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        let config = self.emu.sdk_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    fn mark(&self) -> usize {
        self.proxy.calls().len()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn stack_parameters(cfn: &aws_sdk_cloudformation::Client, name: &str) -> BTreeMap<String, String> {
    let stacks = cfn.describe_stacks().stack_name(name).send().await.unwrap();
    stacks.stacks()[0]
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn stack_set_parameters(cfn: &aws_sdk_cloudformation::Client) -> BTreeMap<String, String> {
    let set = cfn.describe_stack_set().stack_set_name(STACK_SET).send().await.unwrap();
    set.stack_set()
        .unwrap()
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn operations(cfn: &aws_sdk_cloudformation::Client) -> usize {
    cfn.list_stack_set_operations()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .unwrap()
        .summaries()
        .len()
}

async fn stack_exists(cfn: &aws_sdk_cloudformation::Client, name: &str) -> bool {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(output) => output.stacks().iter().any(|s| {
            s.stack_status()
                .is_some_and(|status| status.as_str() != "DELETE_COMPLETE")
        }),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deploy_reaches_every_account_once_and_an_unchanged_deploy_changes_nothing() {
    let world = World::new("rollout").await;
    let org = &world.org;
    let (zip, sha256) = zip_file(&world.dir, "a.zip", "#!/bin/sh\necho a\n");
    let key = format!("iam-janitor/{sha256}.zip");

    let run = world.deploy(&zip, &["--yes"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains(&format!(
            "Plan for organization {} from account {MANAGEMENT_ACCOUNT} (management account), Region {REGION}:",
            org.id
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("artifact stack iam-janitor-artifacts: create"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("+ Function (AWS::Lambda::Function): Add"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Deployed iam-janitor (report mode)"),
        "{}",
        run.stdout
    );

    // The zip, under its content address.
    let s3 = world.s3().await;
    let object = s3.head_object().bucket(BUCKET).key(&key).send().await.unwrap();
    assert_eq!(
        object.content_length(),
        Some(std::fs::metadata(&zip).unwrap().len() as i64)
    );

    // The StackSet: service-managed, automatic deployment, managed execution, as sent.
    let create = world.proxy.last("CreateStackSet").unwrap();
    assert_eq!(create.field("PermissionModel"), Some("SERVICE_MANAGED"));
    assert_eq!(create.field("AutoDeployment.Enabled"), Some("true"));
    assert_eq!(
        create.field("AutoDeployment.RetainStacksOnAccountRemoval"),
        Some("false")
    );
    assert_eq!(create.field("ManagedExecution.Active"), Some("true"));
    assert_eq!(create.field("CallAs"), Some("SELF"));
    assert_eq!(create.members("Capabilities"), ["CAPABILITY_NAMED_IAM"]);
    let instances = world.proxy.last("CreateStackInstances").unwrap();
    assert_eq!(instances.members("Regions"), [REGION], "one Region: IAM is global");
    let mut targeted = instances.members("DeploymentTargets.OrganizationalUnitIds");
    targeted.sort();
    let mut ous = org.ous.to_vec();
    ous.sort();
    assert_eq!(targeted, ous);
    assert!(instances.members("Accounts").is_empty());
    assert_eq!(
        instances.field("OperationPreferences.MaxConcurrentPercentage"),
        Some("25")
    );
    assert_eq!(
        instances.field("OperationPreferences.FailureTolerancePercentage"),
        Some("0")
    );
    assert_eq!(
        instances.field("OperationPreferences.ConcurrencyMode"),
        Some("SOFT_FAILURE_TOLERANCE")
    );

    let cfn = world.cfn().await;
    let described = cfn.describe_stack_set().stack_set_name(STACK_SET).send().await.unwrap();
    let set = described.stack_set().unwrap();
    assert_eq!(set.permission_model().unwrap().as_str(), "SERVICE_MANAGED");
    assert_eq!(set.auto_deployment().unwrap().enabled(), Some(true));
    assert_eq!(stack_set_parameters(&cfn).await["CodeKey"], key);
    assert_eq!(stack_set_parameters(&cfn).await["Mode"], "report");

    // One instance in every member account, in one Region; none in the management account.
    let listed = cfn
        .list_stack_instances()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .unwrap();
    let mut accounts: Vec<&str> = listed.summaries().iter().map(|i| i.account().unwrap()).collect();
    accounts.sort();
    let mut expected: Vec<&str> = org.accounts.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(accounts, expected);
    assert!(listed.summaries().iter().all(|i| i.region() == Some(REGION)));
    assert!(
        !accounts.contains(&MANAGEMENT_ACCOUNT),
        "StackSets never deploy to the management account"
    );

    // The management account's own stack: function, role, schedule, permission, and the
    // organization digest's.
    let resources = cfn
        .list_stack_resources()
        .stack_name(MANAGEMENT_STACK)
        .send()
        .await
        .unwrap();
    let types: BTreeMap<&str, &str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| Some((r.logical_resource_id()?, r.resource_type()?)))
        .collect();
    for (id, kind) in [
        ("Function", "AWS::Lambda::Function"),
        ("Role", "AWS::IAM::Role"),
        ("Schedule", "AWS::Events::Rule"),
        ("InvokePermission", "AWS::Lambda::Permission"),
        // The organization digest: the management account's stack only.
        ("OrgDigestRule", "AWS::Events::Rule"),
        ("OrgDigestPermission", "AWS::Lambda::Permission"),
        ("OrgDigestReaderPolicy", "AWS::IAM::ManagedPolicy"),
    ] {
        assert_eq!(types.get(id), Some(&kind), "{types:?}");
    }
    let parameters = stack_parameters(&cfn, MANAGEMENT_STACK).await;
    assert_eq!(parameters["CodeBucket"], BUCKET);
    assert_eq!(parameters["CodeKey"], key);
    assert_eq!(parameters["DormantDays"], "90");

    // The same deploy again: nothing to do, nothing written, no new operation.
    let operations_before = operations(&cfn).await;
    let mark = world.mark();
    let run = world.deploy(&zip, &["--yes"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains("No changes: iam-janitor is up to date."),
        "{}",
        run.stdout
    );
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
    assert_eq!(operations(&cfn).await, operations_before);

    // A dry run of a change shows it and changes nothing.
    let mark = world.mark();
    let run = world.deploy(&zip, &["--dormant-days", "60", "--dry-run"]).await;
    run.assert_ok();
    assert_eq!(
        run.stdout.matches("    parameter DormantDays: \"90\" → \"60\"").count(),
        2,
        "the StackSet and the management stack:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("Dry run: nothing was changed."));
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());

    // Without a terminal and without --yes: refused.
    let run = world.deploy(&zip, &["--dormant-days", "60"]).await;
    run.assert_failed("refusing to deploy these changes without confirmation");
    assert!(run.stdout.contains("parameter DormantDays"), "the plan is shown first");
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["DormantDays"], "90");

    // With --yes: the StackSet is updated (one operation) and the management stack through a change set.
    let run = world.deploy(&zip, &["--dormant-days", "60", "--yes"]).await;
    run.assert_ok();
    assert_eq!(
        world.proxy.writes_since(mark),
        ["UpdateStackSet", "CreateChangeSet", "ExecuteChangeSet"]
    );
    assert_eq!(operations(&cfn).await, operations_before + 1);
    assert_eq!(stack_set_parameters(&cfn).await["DormantDays"], "60");
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["DormantDays"], "60");
    let update = world.proxy.last("UpdateStackSet").unwrap();
    assert_eq!(update.field("AutoDeployment.Enabled"), Some("true"));
    assert_eq!(update.field("ManagedExecution.Active"), Some("true"));
    assert!(update.members("Regions").is_empty(), "every instance is updated");

    // A new build is a new key: uploaded once, and both stacks point at it.
    let (zip_b, sha256_b) = zip_file(&world.dir, "b.zip", "#!/bin/sh\necho b\n");
    let key_b = format!("iam-janitor/{sha256_b}.zip");
    let mark = world.mark();
    let run = world.deploy(&zip_b, &["--dormant-days", "60", "--yes"]).await;
    run.assert_ok();
    let writes = world.proxy.writes_since(mark);
    assert_eq!(
        writes,
        [
            format!("S3 PUT /{BUCKET}/{key_b}"),
            "UpdateStackSet".to_string(),
            "CreateChangeSet".to_string(),
            "ExecuteChangeSet".to_string()
        ]
    );
    assert_eq!(stack_set_parameters(&cfn).await["CodeKey"], key_b);
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["CodeKey"], key_b);
    assert!(
        s3.head_object().bucket(BUCKET).key(&key).send().await.is_ok(),
        "old builds stay"
    );

    let mark = world.mark();
    world
        .deploy(&zip_b, &["--dormant-days", "60", "--yes"])
        .await
        .assert_ok();
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());

    // Enforce in the members leaves the management account (break-glass users, no SCP)
    // in report mode unless told, and the plan says so.
    let run = world
        .deploy(&zip_b, &["--dormant-days", "60", "--mode", "enforce", "--yes"])
        .await;
    run.assert_ok();
    assert!(
        run.stdout.contains("  mode: enforce in member accounts"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  mode: report in the management account (--management-mode enforce"),
        "{}",
        run.stdout
    );
    assert_eq!(stack_set_parameters(&cfn).await["Mode"], "enforce");
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["Mode"], "report");
    let run = world
        .deploy(
            &zip_b,
            &[
                "--dormant-days",
                "60",
                "--mode",
                "enforce",
                "--management-mode",
                "enforce",
                "--yes",
            ],
        )
        .await;
    run.assert_ok();
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["Mode"], "enforce");
    assert_eq!(stack_set_parameters(&cfn).await["Mode"], "enforce");
    // Every account forwards its alarms to the bus in this account, from the first deploy;
    // until someone is named, the plan says that no one is told.
    let bus = format!("arn:aws:events:{REGION}:{MANAGEMENT_ACCOUNT}:event-bus/iam-janitor-alerts");
    assert_eq!(stack_set_parameters(&cfn).await["AlertBusArn"], bus);
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["AlertBusArn"], bus);
    // Every account stores its reports in this account's bucket, which the artifact stack
    // makes, with the organization's accounts listed for Athena's partitions.
    let reports = format!("iam-janitor-reports-{MANAGEMENT_ACCOUNT}-{REGION}");
    assert_eq!(stack_set_parameters(&cfn).await["ReportBucket"], reports);
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["ReportBucket"], reports);
    // Only the management account posts the organization digest (by default three hours
    // after the default schedule's runs); the members' stacks have no such schedule.
    assert_eq!(
        stack_parameters(&cfn, MANAGEMENT_STACK).await["OrgDigestSchedule"],
        "cron(0 9 * * ? *)"
    );
    assert_eq!(stack_set_parameters(&cfn).await["OrgDigestSchedule"], "");
    let accounts = stack_parameters(&cfn, "iam-janitor-artifacts").await["ReportAccounts"].clone();
    assert_eq!(accounts.split(',').count(), world.org.accounts.len() + 1, "{accounts}");
    assert!(accounts.contains(MANAGEMENT_ACCOUNT), "{accounts}");
    assert!(
        run.stdout.contains("notifies NO ONE: pass --alarm-email"),
        "{}",
        run.stdout
    );
    let run = world
        .deploy(
            &zip_b,
            &[
                "--dormant-days",
                "60",
                "--mode",
                "enforce",
                "--management-mode",
                "enforce",
                "--alarm-email",
                "security@example.com",
                "--yes",
            ],
        )
        .await;
    run.assert_ok();
    assert!(
        run.stdout.contains("forwarded to the bus iam-janitor-alerts in account 123456789012 and sent to security@example.com (once confirmed)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        stack_parameters(&cfn, ARTIFACT_STACK).await["AlarmEmail"],
        "security@example.com"
    );
}

#[tokio::test]
async fn destroy_removes_what_deploy_created_and_all_removes_the_bucket_too() {
    const REPORT_BUCKET: &str = "iam-janitor-reports-123456789012-us-east-1";
    let world = World::new("destroy").await;
    let (zip, _) = zip_file(&world.dir, "a.zip", "#!/bin/sh\n");
    world.deploy(&zip, &["--yes"]).await.assert_ok();
    let cfn = world.cfn().await;
    let s3 = world.s3().await;

    let mark = world.mark();
    let run = world.xtask(&["destroy", "--dry-run"]).await;
    run.assert_ok();
    for line in [
        "  delete 4 stack instance(s) of StackSet iam-janitor",
        "  delete StackSet iam-janitor",
        "  delete stack iam-janitor",
        "  keep stack iam-janitor-artifacts and bucket iam-janitor-code-123456789012-us-east-1 with the code (--all \
         removes them)",
    ] {
        assert!(run.stdout.contains(line), "{line:?} not in\n{}", run.stdout);
    }
    world
        .xtask(&["destroy"])
        .await
        .assert_failed("refusing to remove these without confirmation");
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());

    let run = world.xtask(&["destroy", "--yes"]).await;
    run.assert_ok();
    let delete = world.proxy.last("DeleteStackInstances").unwrap();
    let mut targeted = delete.members("DeploymentTargets.OrganizationalUnitIds");
    targeted.sort();
    let mut ous = world.org.ous.to_vec();
    ous.sort();
    assert_eq!(targeted, ous, "by OU, as service-managed StackSets require");
    assert_eq!(delete.field("RetainStacks"), Some("false"));
    assert!(
        cfn.describe_stack_set().stack_set_name(STACK_SET).send().await.is_err(),
        "the StackSet is gone"
    );
    assert!(!stack_exists(&cfn, MANAGEMENT_STACK).await);
    assert!(stack_exists(&cfn, ARTIFACT_STACK).await, "kept without --all");
    assert!(s3.head_bucket().bucket(BUCKET).send().await.is_ok());

    // Every version goes, delete markers included.
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for body in ["one", "two"] {
        s3.put_object()
            .bucket(BUCKET)
            .key("iam-janitor/old.zip")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    s3.delete_object()
        .bucket(BUCKET)
        .key("iam-janitor/old.zip")
        .send()
        .await
        .unwrap();
    let run = world.xtask(&["destroy", "--all", "--yes"]).await;
    run.assert_ok();
    assert!(
        run.stdout.contains("empty (every version) and delete bucket"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("4 object version(s) and the bucket deleted"),
        "the zip, two versions and a delete marker:\n{}",
        run.stderr
    );
    assert!(!stack_exists(&cfn, ARTIFACT_STACK).await);
    assert!(
        s3.head_bucket().bucket(BUCKET).send().await.is_err(),
        "the bucket is gone"
    );
    // The organization's run reports are a record: kept, --all too, and said so.
    assert!(
        run.stdout.contains(&format!(
            "keep bucket {REPORT_BUCKET} with every account's run reports (retained, --all too"
        )),
        "{}",
        run.stdout
    );
    assert!(s3.head_bucket().bucket(REPORT_BUCKET).send().await.is_ok());
    // A deploy cannot create it again while it is there: it says so before any change.
    let mark = world.mark();
    world
        .deploy(&zip, &["--yes"])
        .await
        .assert_failed(&format!("the report bucket {REPORT_BUCKET} exists but the stack"));
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
    s3.delete_bucket().bucket(REPORT_BUCKET).send().await.unwrap();

    let mark = world.mark();
    let run = world.xtask(&["destroy", "--all", "--yes"]).await;
    run.assert_ok();
    assert!(run.stdout.contains("Nothing to remove."), "{}", run.stdout);
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
}

/// The member accounts with a stack instance, sorted.
async fn instance_accounts(cfn: &aws_sdk_cloudformation::Client) -> Vec<String> {
    let listed = cfn
        .list_stack_instances()
        .stack_set_name(STACK_SET)
        .send()
        .await
        .unwrap();
    let mut accounts: Vec<String> = listed
        .summaries()
        .iter()
        .map(|i| i.account().unwrap().to_string())
        .collect();
    accounts.sort();
    accounts
}

#[tokio::test]
async fn deploy_follows_the_org_units_it_is_given() {
    let world = World::new("targets").await;
    let (zip, _) = zip_file(&world.dir, "a.zip", "#!/bin/sh\n");
    let zip = zip.display().to_string();
    let [workloads, sandbox] = &world.org.ous;
    let members = world.org.accounts_of();
    let sorted = |mut accounts: Vec<String>| {
        accounts.sort();
        accounts
    };
    let cfn = world.cfn().await;

    world
        .xtask(&["deploy", "--zip", &zip, "--yes", "--org-unit", workloads])
        .await
        .assert_ok();
    assert_eq!(instance_accounts(&cfn).await, sorted(members[workloads].clone()));

    // An OU more: only its instances are created; the StackSet itself is not updated.
    let mark = world.mark();
    let run = world
        .xtask(&[
            "deploy",
            "--zip",
            &zip,
            "--yes",
            "--org-unit",
            workloads,
            "--org-unit",
            sandbox,
        ])
        .await;
    run.assert_ok();
    assert!(
        run.stdout
            .contains(&format!("    stack instances for {sandbox} in {REGION}")),
        "{}",
        run.stdout
    );
    assert_eq!(world.proxy.writes_since(mark), ["CreateStackInstances"]);
    assert_eq!(
        world
            .proxy
            .last("CreateStackInstances")
            .unwrap()
            .members("DeploymentTargets.OrganizationalUnitIds"),
        std::slice::from_ref(sandbox)
    );
    assert_eq!(instance_accounts(&cfn).await, sorted(world.org.accounts.clone()));

    // An OU less: its instances are deleted, by OU.
    let mark = world.mark();
    let run = world
        .xtask(&["deploy", "--zip", &zip, "--yes", "--org-unit", sandbox])
        .await;
    run.assert_ok();
    assert!(
        run.stdout.contains(&format!(
            "    remove the stack instances of {workloads} (no longer targeted)"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(world.proxy.writes_since(mark), ["DeleteStackInstances"]);
    assert_eq!(instance_accounts(&cfn).await, sorted(members[sandbox].clone()));
}

#[tokio::test]
async fn failures_are_reported_and_an_empty_change_set_is_deleted() {
    let world = World::new("failure").await;
    let (zip, _) = zip_file(&world.dir, "a.zip", "#!/bin/sh\n");
    let failing = world.org.accounts[1].clone();
    let reason = "Resource handler returned message: \"Specified ReservedConcurrentExecutions decreases \
                  account's UnreservedConcurrentExecution below its minimum value of [10].\"";
    world.proxy.fail_next_operation(&failing, reason);
    // The first StackSet operation is CreateStackInstances.
    let run = world.deploy(&zip, &["--yes"]).await;
    run.assert_failed("ended FAILED");
    assert!(
        run.stderr.contains(&format!("{failing} {REGION}: {reason}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("1 account(s) failed"), "{}", run.stderr);
    let cfn = world.cfn().await;
    assert!(
        !stack_exists(&cfn, MANAGEMENT_STACK).await,
        "deploy stops at the failed step"
    );

    // Deploying again goes on from where it stopped.
    let run = world.deploy(&zip, &["--yes"]).await;
    run.assert_ok();
    assert!(
        run.stdout
            .contains("management stack iam-janitor (account 123456789012): create")
    );
    assert!(stack_exists(&cfn, MANAGEMENT_STACK).await);

    // A change set in which CloudFormation finds nothing to change is deleted, not executed.
    world.proxy.empty_change_sets(true);
    let before = change_sets(&cfn).await;
    let mark = world.mark();
    let run = world.deploy(&zip, &["--dormant-days", "60", "--yes"]).await;
    run.assert_ok();
    assert!(
        run.stderr.contains("no changes (the empty change set was deleted)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        world.proxy.writes_since(mark),
        ["UpdateStackSet", "CreateChangeSet", "DeleteChangeSet"]
    );
    assert_eq!(change_sets(&cfn).await, before, "the empty change set is gone");
}

/// The management stack's change sets.
async fn change_sets(cfn: &aws_sdk_cloudformation::Client) -> Vec<String> {
    let listed = cfn
        .list_change_sets()
        .stack_name(MANAGEMENT_STACK)
        .send()
        .await
        .unwrap();
    listed
        .summaries()
        .iter()
        .filter_map(|c| c.change_set_name().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn deploy_explains_what_is_missing_before_changing_anything() {
    let emu = Emulator::start().await.unwrap();
    let proxy = StackSetsProxy::start(emu.endpoint()).await;
    let dir = scratch_dir("prerequisites");
    let (zip, _) = zip_file(&dir, "a.zip", "#!/bin/sh\n");
    let zip = zip.display().to_string();
    let deploy = |flags: &'static [&'static str]| {
        let mut args = vec!["deploy", "--zip", zip.as_str(), "--yes"];
        args.extend_from_slice(flags);
        let endpoint = proxy.endpoint.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            xtask(&endpoint, &args).await
        }
    };

    // Invalid settings and targets: refused before any AWS call.
    deploy(&["--org-unit", "r-abcd", "--dormant-days", "30", "--warn-days", "30"])
        .await
        .assert_failed("--warn-days");
    deploy(&["--org-unit", "ou-nope"])
        .await
        .assert_failed("is not a root ID");
    deploy(&["--org-unit", "r-abcd", "--alarm-email", "security-team"])
        .await
        .assert_failed("--alarm-email \"security-team\" is not an email address");
    deploy(&[
        "--org-unit",
        "r-abcd",
        "--alarm-topic-arn",
        "arn:aws:sqs:us-east-1:123456789012:q",
    ])
    .await
    .assert_failed("is not an SNS topic ARN");
    assert!(proxy.calls().is_empty(), "{:?}", proxy.calls());

    // No organization.
    deploy(&["--org-unit", "r-abcd"])
        .await
        .assert_failed("is not in an AWS Organization")
        .assert_failed("create-organization --feature-set ALL");

    // An organization without trusted access for StackSets.
    let org = create_org(&emu, false).await;
    let root = ["--org-unit", org.root.as_str()];
    let run = xtask(
        &proxy.endpoint,
        &[&["deploy", "--zip", zip.as_str(), "--yes"][..], &root[..]].concat(),
    )
    .await;
    run.assert_failed("trusted access for CloudFormation StackSets is not activated")
        .assert_failed("aws cloudformation activate-organizations-access");

    // An OU that is not the organization's; the wrong --call-as.
    enable_trusted_access(&emu).await;
    deploy(&["--org-unit", "ou-abcd-abcdefgh"])
        .await
        .assert_failed("ou-abcd-abcdefgh is not an OU of organization");
    let run = xtask(
        &proxy.endpoint,
        &[
            &["deploy", "--zip", zip.as_str(), "--yes", "--call-as", "DELEGATED_ADMIN"][..],
            &root[..],
        ]
        .concat(),
    )
    .await;
    run.assert_failed("is the management account of organization");

    // A code bucket of the expected name in another Region.
    let config = emu
        .sdk_config()
        .await
        .into_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let run = xtask(
        &proxy.endpoint,
        &[&["deploy", "--zip", zip.as_str(), "--yes"][..], &root[..]].concat(),
    )
    .await;
    run.assert_failed("is in eu-west-1, but the stacks would be deployed in us-east-1");

    // The code bucket without its stack (deleted, the bucket retained).
    s3.delete_bucket().bucket(BUCKET).send().await.unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&emu.sdk_config().await)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let run = xtask(
        &proxy.endpoint,
        &[&["deploy", "--zip", zip.as_str(), "--yes"][..], &root[..]].concat(),
    )
    .await;
    run.assert_failed("exists but the stack iam-janitor-artifacts does not")
        .assert_failed("cargo xtask destroy --all");

    let writes: Vec<String> = proxy
        .calls()
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "nothing was changed by any of these");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A StackSet deployed from another account's bucket (a delegated administrator's, say)
/// is another deployment's: deploy refuses to re-point it unless told to take it over,
/// and `--management-only` covers the management account without touching it.
#[tokio::test]
async fn a_stack_set_another_deployment_owns_is_changed_only_when_taken_over() {
    let world = World::new("ownership").await;
    let (zip, _) = zip_file(&world.dir, "a.zip", "#!/bin/sh\necho a\n");
    world.deploy(&zip, &["--yes"]).await.assert_ok();

    // Another deployment updates the StackSet from its own bucket.
    let cfn = world.cfn().await;
    let set = cfn.describe_stack_set().stack_set_name(STACK_SET).send().await.unwrap();
    let set = set.stack_set().unwrap();
    let other = "iam-janitor-code-210987654321-us-east-1";
    let parameters = set
        .parameters()
        .iter()
        .map(|p| {
            let value = if p.parameter_key() == Some("CodeBucket") {
                other
            } else {
                p.parameter_value().unwrap_or_default()
            };
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(p.parameter_key().unwrap())
                .parameter_value(value)
                .build()
        })
        .collect::<Vec<_>>();
    cfn.update_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(set.template_body().unwrap())
        .set_parameters(Some(parameters))
        .set_capabilities(Some(set.capabilities().to_vec()))
        .permission_model(aws_sdk_cloudformation::types::PermissionModels::ServiceManaged)
        .send()
        .await
        .unwrap();
    assert_eq!(stack_set_parameters(&cfn).await["CodeBucket"], other);

    // Refused, naming the owner's bucket, with nothing changed.
    let mark = world.mark();
    let run = world.deploy(&zip, &["--dormant-days", "60", "--yes"]).await;
    run.assert_failed(
        "belongs to another deployment: its code comes from the bucket iam-janitor-code-210987654321-us-east-1",
    )
    .assert_failed("--management-only")
    .assert_failed("--take-over");
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());

    // The management account alone: its stack, never the StackSet.
    let mark = world.mark();
    let run = world
        .xtask(&[
            "deploy",
            "--zip",
            &zip.display().to_string(),
            "--management-only",
            "--dormant-days",
            "60",
            "--yes",
        ])
        .await;
    run.assert_ok();
    assert!(
        run.stdout
            .contains("StackSet iam-janitor: not read or changed (--management-only"),
        "{}",
        run.stdout
    );
    let calls: Vec<String> = world.proxy.calls()[mark..].iter().map(|c| c.name.clone()).collect();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("StackSet") || c.contains("StackInstance")),
        "{calls:?}"
    );
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["DormantDays"], "60");
    assert_eq!(stack_set_parameters(&cfn).await["CodeBucket"], other);

    // Taken over: the StackSet is this deployment's again.
    let run = world
        .deploy(&zip, &["--dormant-days", "60", "--take-over", "--yes"])
        .await;
    run.assert_ok();
    assert_eq!(stack_set_parameters(&cfn).await["CodeBucket"], BUCKET);
}

#[tokio::test]
async fn the_report_bucket_encrypts_with_a_kms_key_deploy_has_checked() {
    let world = World::new("report-key").await;
    let (zip, _) = zip_file(&world.dir, "a.zip", "#!/bin/sh\necho a\n");
    let cfn = world.cfn().await;
    let kms = aws_sdk_kms::Client::new(&world.emu.sdk_config().await);
    let reports = format!("iam-janitor-reports-{MANAGEMENT_ACCOUNT}-{REGION}");

    // Not a key's ARN (an alias): refused before any AWS call.
    let mark = world.mark();
    world
        .deploy(
            &zip,
            &[
                "--report-kms-key-arn",
                "arn:aws:kms:us-east-1:123456789012:alias/reports",
                "--yes",
            ],
        )
        .await
        .assert_failed("is not a KMS key ARN")
        .assert_failed("alias/reports");
    assert!(world.proxy.calls()[mark..].is_empty(), "{:?}", world.proxy.calls());

    // A key that does not exist, a disabled one: refused, naming it, nothing changed.
    let missing = format!("arn:aws:kms:{REGION}:{MANAGEMENT_ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let mark = world.mark();
    world
        .deploy(&zip, &["--report-kms-key-arn", &missing, "--yes"])
        .await
        .assert_failed(&format!(
            "cannot describe --report-kms-key-arn {missing} (kms:DescribeKey)"
        ));
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
    // A key of another Region: refused from its ARN, before KMS is asked (which would not
    // find it in this Region).
    let elsewhere = format!("arn:aws:kms:eu-west-1:{MANAGEMENT_ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let mark = world.mark();
    world
        .deploy(&zip, &["--report-kms-key-arn", &elsewhere, "--yes"])
        .await
        .assert_failed(&format!(
            "--report-kms-key-arn {elsewhere} is in eu-west-1, but the report bucket is in {REGION}"
        ));
    assert!(
        !world.proxy.calls()[mark..].iter().any(|c| c.name == "DescribeKey"),
        "{:?}",
        world.proxy.calls()
    );
    let key = kms
        .create_key()
        .description("iam-janitor reports")
        .send()
        .await
        .unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    // (moto's DisableKey and EnableKey take a key ID only.)
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let mark = world.mark();
    world
        .deploy(&zip, &["--report-kms-key-arn", &arn, "--yes"])
        .await
        .assert_failed(&format!("--report-kms-key-arn {arn} is Disabled"));
    assert_eq!(world.proxy.writes_since(mark), Vec::<String>::new());
    assert!(!stack_exists(&cfn, ARTIFACT_STACK).await);
    kms.enable_key().key_id(&key_id).send().await.unwrap();

    // An enabled key whose policy lacks the tool roles' statement: deployed, with a
    // warning that gives the statement to add, filled in.
    let run = world.deploy(&zip, &["--report-kms-key-arn", &arn, "--yes"]).await;
    run.assert_ok();
    let statement = serde_json::to_string_pretty(&iam_janitor_cfn::stacks::artifacts::report_key_policy_statement(
        "aws",
        &world.org.id,
        REGION,
        &reports,
    ))
    .unwrap();
    assert!(
        run.stderr.contains(&format!(
            "warning: --report-kms-key-arn {arn}: the key policy has no statement IamJanitorRolesEncryptReports"
        )) && run.stderr.contains(&statement),
        "{}",
        run.stderr
    );
    // Both stacks name the key; the bucket encrypts with it, with a Bucket Key.
    assert_eq!(stack_parameters(&cfn, ARTIFACT_STACK).await["ReportKmsKeyArn"], arn);
    assert_eq!(stack_set_parameters(&cfn).await["ReportKmsKeyArn"], arn);
    assert_eq!(stack_parameters(&cfn, MANAGEMENT_STACK).await["ReportKmsKeyArn"], arn);
    let encryption = world
        .s3()
        .await
        .get_bucket_encryption()
        .bucket(&reports)
        .send()
        .await
        .unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    let default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(default.kms_master_key_id(), Some(arn.as_str()));

    // With the statement in the key policy, no warning.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{MANAGEMENT_ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            serde_json::from_str::<serde_json::Value>(&statement).unwrap()
        ]
    });
    kms.put_key_policy()
        .key_id(&arn)
        .policy_name("default")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let run = world.deploy(&zip, &["--report-kms-key-arn", &arn, "--yes"]).await;
    run.assert_ok();
    assert!(!run.stderr.contains("IamJanitorRolesEncryptReports"), "{}", run.stderr);
    assert!(
        run.stdout.contains("No changes: iam-janitor is up to date."),
        "{}",
        run.stdout
    );

    // Without the flag, back to SSE-S3 (the command line describes the whole deployment).
    world.deploy(&zip, &["--yes"]).await.assert_ok();
    assert_eq!(stack_parameters(&cfn, ARTIFACT_STACK).await["ReportKmsKeyArn"], "");
    assert_eq!(stack_set_parameters(&cfn).await["ReportKmsKeyArn"], "");
}
