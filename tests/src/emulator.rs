//! Starting and driving `tests/emulator/janitor_emulator.py`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_iam::config::{Credentials, Region};
use hyper::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::control::{AdvisorRequest, SeedRequest, SeedResponse};
use crate::http::HttpClient;
use crate::{
    AdvisorService, CallCounts, Chaos, ChaosKind, Fault, HarnessError, KeyPatch, SeedUser, SeededUser, UserPatch,
    workspace_root,
};

/// The account the emulator's IAM API acts on with the harness credentials.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// How long the emulator may take to print its LISTENING line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one control call may take (seeding thousands of users included).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);

/// A running emulator: an independent `janitor_emulator.py` process on
/// 127.0.0.1 with its own state. Dropping it kills the process, unless
/// [`Emulator::keep_running`] was called.
pub struct Emulator {
    child: Child,
    port: u16,
    endpoint: String,
    log_path: PathBuf,
    http: HttpClient,
    /// Set by [`Emulator::keep_running`]: dropping leaves the process alone.
    kept: bool,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Kill by PID (this very child) and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep only logs that say something (errors, tracebacks).
        if fs::metadata(&self.log_path).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&self.log_path);
        }
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("pid", &self.child.id())
            .field("endpoint", &self.endpoint)
            .field("log_path", &self.log_path)
            .finish()
    }
}

fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

fn emulator_dir() -> PathBuf {
    workspace_root().join("tests").join("emulator")
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Last `max` bytes of a file, for error messages.
fn tail_of(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}

/// Everything but RFC 3986 unreserved characters (ASCII letters, digits, `-._~`); bytes
/// outside ASCII are always encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode one path segment (keeps RFC 3986 unreserved characters).
fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, NOT_UNRESERVED).to_string()
}

impl Emulator {
    /// Install the venv if needed, start a fresh emulator on a free port and
    /// wait until it answers its health check.
    pub async fn start() -> Result<Emulator, HarnessError> {
        let venv = tokio::task::spawn_blocking(|| {
            crate::venv::ensure_venv("emulator-venv", &emulator_dir().join("requirements.txt"))
        })
        .await
        .map_err(|e| HarnessError::Venv(format!("installer task failed: {e}")))??;

        let logs = target_dir().join("emulator-logs");
        fs::create_dir_all(&logs).map_err(|e| HarnessError::io(format!("creating {}", logs.display()), e))?;
        // Named after the child's PID once it is known.
        let provisional = logs.join(format!("starting-{}-{}.log", std::process::id(), unique_suffix()));
        let log_file = File::create(&provisional)
            .map_err(|e| HarnessError::io(format!("creating {}", provisional.display()), e))?;

        let script = emulator_dir().join("janitor_emulator.py");
        let mut command = Command::new(venv_python(&venv));
        command
            .arg(&script)
            .args(["--port", "0"])
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        // The emulator must not pick up AWS settings or proxies from the host.
        crate::scrub_env(&mut command);
        let mut child = command.spawn().map_err(|e| HarnessError::Start {
            message: format!("spawning {}: {e}", script.display()),
            log: provisional.clone(),
        })?;
        let log_path = logs.join(format!("{}.log", child.id()));
        let log_path = match fs::rename(&provisional, &log_path) {
            Ok(()) => log_path,
            Err(_) => provisional,
        };

        let port = match read_listening_line(&mut child).await {
            Ok(port) => port,
            Err(message) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let tail = tail_of(&log_path, 4000);
                return Err(HarnessError::Start {
                    message: format!("{message}; exit status {status:?}; stderr tail:\n{}", tail.trim_end()),
                    log: log_path,
                });
            }
        };

        let emulator = Emulator {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            log_path,
            http: HttpClient::new(),
            kept: false,
        };
        emulator.wait_healthy().await?;
        Ok(emulator)
    }

    async fn wait_healthy(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("{}/_janitor/health", self.endpoint);
            match self.http.send(Method::GET, &url, None, Duration::from_secs(5)).await {
                Ok(r) if r.status == 200 => return Ok(()),
                result => {
                    if Instant::now() > deadline {
                        let why = match result {
                            Ok(r) => format!("health check answered {}", r.status),
                            Err(e) => e.to_string(),
                        };
                        return Err(HarnessError::Start {
                            message: why,
                            log: self.log_path.clone(),
                        });
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint URL for AWS clients.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account the IAM API acts on (`123456789012`).
    pub fn account_id(&self) -> &str {
        DEFAULT_ACCOUNT_ID
    }

    /// The emulator's stderr log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the emulator outlive this handle, and this process (`cargo xtask demo
    /// --keep`): dropping the returned value no longer kills it, and whoever was told
    /// its PID stops it (`kill <pid>`). Its stderr keeps going to [`Emulator::log_path`].
    /// Returns the PID.
    pub fn keep_running(mut self) -> u32 {
        self.kept = true;
        self.child.id()
    }

    /// SDK configuration for this emulator: us-east-1, static test
    /// credentials, standard retries (5 attempts, 10 ms initial backoff),
    /// 30 s operation timeout, no stalled-stream protection. Nothing is read
    /// from the environment, `~/.aws` or IMDS.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk_config_as(Credentials::new("testing", "testing", None, None, "iam-janitor-tests"))
            .await
    }

    /// [`Emulator::sdk_config`] with other credentials, e.g. those of a
    /// [`Emulator::session`].
    pub async fn sdk_config_as(&self, credentials: Credentials) -> aws_config::SdkConfig {
        #[allow(deprecated)] // the alias is the type ConfigLoader::profile_files takes
        let no_profile_files = aws_config::profile::profile_file::ProfileFiles::builder()
            .with_contents(aws_config::profile::profile_file::ProfileFileKind::Config, "")
            .build();
        aws_config::defaults(BehaviorVersion::latest())
            .empty_test_environment()
            .profile_files(no_profile_files)
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(credentials)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .use_fips(false)
            .use_dual_stack(false)
            .load()
            .await
    }

    /// An IAM client configured by [`Emulator::sdk_config`].
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }

    /// A DynamoDB client on the emulator (moto serves DynamoDB).
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// Creates a table keyed by the string `key` (on demand), as the member stack creates
    /// the engine's state table with the key `user_id`.
    pub async fn create_table(&self, name: &str, key: &str) -> Result<(), HarnessError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| HarnessError::Sdk(e.to_string());
        self.dynamodb()
            .await
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .send()
            .await
            .map_err(|e| HarnessError::Sdk(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    // ---------------------------------------------------------------
    // Control API
    // ---------------------------------------------------------------

    async fn control<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, HarnessError> {
        let url = format!("{}/_janitor/{path}", self.endpoint);
        let body = body.map(serde_json::to_vec).transpose()?;
        let response = self.http.send(method.clone(), &url, body, CONTROL_TIMEOUT).await?;
        if !(200..300).contains(&response.status) {
            return Err(HarnessError::Control {
                method: method.to_string(),
                path: path.to_string(),
                status: response.status,
                body: String::from_utf8_lossy(&response.body).into_owned(),
            });
        }
        Ok(serde_json::from_slice(&response.body)?)
    }

    async fn control_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<(), HarnessError> {
        self.control::<serde_json::Value>(method, path, body).await.map(|_| ())
    }

    /// Credentials of a role session whose IAM requests the emulator authorizes
    /// against exactly `policies` (identity-based policy documents), the way
    /// IAM does: resources and condition keys included. Requests signed with
    /// any other credentials act as the account root.
    pub async fn session(&self, role: &str, policies: &[serde_json::Value]) -> Result<Credentials, HarnessError> {
        self.session_under_scps(role, "/iam-janitor/", policies, &[]).await
    }

    /// [`Emulator::session`] in an account under service control policies: a request is
    /// denied if an SCP statement denies it (the Allow side is FullAWSAccess). The
    /// session's `aws:PrincipalArn` is the role's ARN, `arn:aws:iam::<account>:role<path><role>`.
    pub async fn session_under_scps(
        &self,
        role: &str,
        path: &str,
        policies: &[serde_json::Value],
        scps: &[serde_json::Value],
    ) -> Result<Credentials, HarnessError> {
        let body = serde_json::json!({ "role": role, "path": path, "policies": policies, "scps": scps });
        self.new_session(&body).await
    }

    /// [`Emulator::session_under_scps`] in another account (12 digits), e.g. a member
    /// account of an [`crate::Organization`]: the role is
    /// `arn:aws:iam::<account>:role<path><role>`, and the session's S3 requests carry
    /// `aws:PrincipalAccount` (that account) and `aws:PrincipalOrgID` (its organization's).
    pub async fn session_in(
        &self,
        account: &str,
        role: &str,
        path: &str,
        policies: &[serde_json::Value],
        scps: &[serde_json::Value],
    ) -> Result<Credentials, HarnessError> {
        let body = serde_json::json!({ "role": role, "path": path, "policies": policies, "scps": scps });
        self.new_session_at(&format!("sessions?account={}", encode_segment(account)), &body)
            .await
    }

    /// Whether sessions' S3 requests count as sent over TLS (`aws:SecureTransport`).
    /// `true` by default, as real SDK clients use HTTPS although the tests speak HTTP to
    /// loopback; `false` lets a test check a bucket policy's TLS-only deny. Reset by
    /// [`Emulator::reset`].
    pub async fn set_s3_secure_transport(&self, secure: bool) -> Result<(), HarnessError> {
        self.control_ok(
            Method::POST,
            "s3",
            Some(&serde_json::json!({ "secure_transport": secure })),
        )
        .await
    }

    /// Credentials standing for IAM user `user`'s own, authorized like
    /// [`Emulator::session_under_scps`]: `aws:PrincipalArn` is the user's ARN, and each
    /// request carries the user's tags of that moment as `aws:PrincipalTag/<key>`.
    pub async fn user_session_under_scps(
        &self,
        user: &str,
        policies: &[serde_json::Value],
        scps: &[serde_json::Value],
    ) -> Result<Credentials, HarnessError> {
        let body = serde_json::json!({ "user": user, "policies": policies, "scps": scps });
        self.new_session(&body).await
    }

    async fn new_session(&self, body: &serde_json::Value) -> Result<Credentials, HarnessError> {
        self.new_session_at("sessions", body).await
    }

    async fn new_session_at(&self, path: &str, body: &serde_json::Value) -> Result<Credentials, HarnessError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            access_key_id: String,
            secret_access_key: String,
            session_token: String,
        }
        let a: Answer = self.control(Method::POST, path, Some(body)).await?;
        Ok(Credentials::new(
            a.access_key_id,
            a.secret_access_key,
            Some(a.session_token),
            None,
            "iam-janitor-tests-session",
        ))
    }

    /// IAM's decision on a request the emulator does not authorize itself (`iam:PassRole`
    /// when a function is created, EventBridge, CloudWatch Logs and alarms, DynamoDB table
    /// administration): `action` on `resource` with the request's condition keys, from
    /// the session's policies and SCPs. `Ok(None)`: allowed; `Ok(Some(message))`: denied.
    pub async fn authorize(
        &self,
        session: &Credentials,
        action: &str,
        resource: &str,
        context: serde_json::Value,
    ) -> Result<Option<String>, HarnessError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            allowed: bool,
            message: String,
        }
        let body = serde_json::json!({
            "access_key_id": session.access_key_id(),
            "action": action,
            "resource": resource,
            "context": context,
        });
        let a: Answer = self.control(Method::POST, "authorize", Some(&body)).await?;
        Ok((!a.allowed).then_some(a.message))
    }

    /// Forget everything: all moto state, faults, latency, counters and
    /// Access Advisor data.
    pub async fn reset(&self) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "reset", None::<&()>).await
    }

    /// Create users (with passwords, keys, tags and policies) directly in the
    /// emulator. Returns what was created, in input order.
    pub async fn seed(&self, users: &[SeedUser]) -> Result<Vec<SeededUser>, HarnessError> {
        let response: SeedResponse = self.control(Method::POST, "seed", Some(&SeedRequest { users })).await?;
        Ok(response.users)
    }

    /// [`Emulator::seed`] in another account (12 digits), e.g. a member account of an
    /// organization created through the Organizations API. IAM calls made with
    /// credentials of that account (`sts:AssumeRole` into one of its roles) see them.
    pub async fn seed_in(&self, account: &str, users: &[SeedUser]) -> Result<Vec<SeededUser>, HarnessError> {
        let path = format!("seed?account={}", encode_segment(account));
        let response: SeedResponse = self.control(Method::POST, &path, Some(&SeedRequest { users })).await?;
        Ok(response.users)
    }

    /// Change a user's dates.
    pub async fn set_user(&self, name: &str, patch: UserPatch) -> Result<(), HarnessError> {
        let path = format!("users/{}", encode_segment(name));
        self.control_ok(Method::POST, &path, Some(&patch)).await
    }

    /// Change an access key's dates and last use.
    pub async fn set_access_key(&self, key_id: &str, patch: KeyPatch) -> Result<(), HarnessError> {
        let path = format!("access-keys/{}", encode_segment(key_id));
        self.control_ok(Method::POST, &path, Some(&patch)).await
    }

    /// Generate the credential report now and serve exactly this snapshot
    /// (with this `GeneratedTime`) from then on, as IAM serves a cached
    /// report for up to 4 hours while the account keeps changing. Returns the
    /// report's generation time. By default the report is live instead.
    pub async fn freeze_credential_report(&self) -> Result<OffsetDateTime, HarnessError> {
        #[derive(serde::Deserialize)]
        struct Frozen {
            #[serde(with = "time::serde::rfc3339")]
            generated_time: OffsetDateTime,
        }
        let frozen: Frozen = self
            .control(Method::POST, "credential-report/freeze", Some(&serde_json::json!({})))
            .await?;
        Ok(frozen.generated_time)
    }

    /// Back to a live credential report (rendered on every download).
    pub async fn unfreeze_credential_report(&self) -> Result<(), HarnessError> {
        self.control_ok(Method::DELETE, "credential-report/freeze", None::<&()>)
            .await
    }

    /// Add a fault rule (rules stack; the first matching one fires).
    pub async fn inject_fault(&self, fault: Fault) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "faults", Some(&fault)).await
    }

    /// Start failing a seeded fraction of IAM calls (replaces earlier chaos).
    pub async fn set_chaos(&self, chaos: &Chaos) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "chaos", Some(chaos)).await
    }

    /// Stop the chaos; returns how many faults of each kind were injected.
    pub async fn stop_chaos(&self) -> Result<BTreeMap<ChaosKind, u64>, HarnessError> {
        #[derive(serde::Deserialize)]
        struct Injected {
            injected: BTreeMap<ChaosKind, u64>,
        }
        let answer: Injected = self.control(Method::DELETE, "chaos", None::<&()>).await?;
        Ok(answer.injected)
    }

    pub async fn clear_faults(&self) -> Result<(), HarnessError> {
        self.control_ok(Method::DELETE, "faults", None::<&()>).await
    }

    /// Delay every IAM call by `ms` milliseconds (0 disables).
    pub async fn set_latency_ms(&self, ms: u64) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "latency", Some(&serde_json::json!({ "ms": ms })))
            .await
    }

    /// IAM calls since the last reset, by action.
    pub async fn calls(&self) -> Result<CallCounts, HarnessError> {
        self.control(Method::GET, "calls", None::<&()>).await
    }

    pub async fn reset_calls(&self) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "calls/reset", None::<&()>).await
    }

    /// Set the Access Advisor data returned for a user's jobs.
    pub async fn set_access_advisor(&self, user: &str, services: &[AdvisorService]) -> Result<(), HarnessError> {
        let path = format!("access-advisor/{}", encode_segment(user));
        self.control_ok(Method::POST, &path, Some(&AdvisorRequest { services }))
            .await
    }

    /// [`Emulator::set_access_advisor`] for a user of another account (12 digits).
    pub async fn set_access_advisor_in(
        &self,
        account: &str,
        user: &str,
        services: &[AdvisorService],
    ) -> Result<(), HarnessError> {
        let path = format!(
            "access-advisor/{}?account={}",
            encode_segment(user),
            encode_segment(account)
        );
        self.control_ok(Method::POST, &path, Some(&AdvisorRequest { services }))
            .await
    }

    /// Make Access Advisor jobs generated for this user end in FAILED.
    /// Sets the account's customer managed policy quota (IAM's PoliciesQuota, 1,500 by
    /// default), which the emulator enforces on CreatePolicy.
    pub async fn set_policies_quota(&self, max: u32) -> Result<(), HarnessError> {
        self.control_ok(Method::POST, "policies-quota", Some(&serde_json::json!({ "max": max })))
            .await
    }

    /// Makes Access Advisor pages hold at most `max` services (0: as many as MaxItems),
    /// as real IAM may while IsTruncated is true.
    pub async fn set_access_advisor_page_cap(&self, max: u32) -> Result<(), HarnessError> {
        self.control_ok(
            Method::POST,
            "access-advisor-page-cap",
            Some(&serde_json::json!({ "max": max })),
        )
        .await
    }

    /// Makes Access Advisor jobs stay IN_PROGRESS for `seconds` after they are generated,
    /// as real jobs do (the emulator's default answers on the second poll).
    pub async fn set_access_advisor_job_duration(&self, seconds: f64) -> Result<(), HarnessError> {
        self.control_ok(
            Method::POST,
            "access-advisor-job-duration",
            Some(&serde_json::json!({ "seconds": seconds })),
        )
        .await
    }

    /// Throttles the account's IAM requests above `per_second` (a token bucket holding
    /// `burst`), as real IAM does well below the emulator's speed: the requests above it
    /// are answered `Throttling`, and counted in [`CallCounts::throttled`].
    pub async fn set_request_rate(&self, per_second: u32, burst: u32) -> Result<(), HarnessError> {
        self.control_ok(
            Method::POST,
            "request-rate",
            Some(&serde_json::json!({ "per_second": per_second, "burst": burst })),
        )
        .await
    }

    pub async fn fail_access_advisor(&self, user: &str) -> Result<(), HarnessError> {
        let path = format!("access-advisor-fail/{}", encode_segment(user));
        self.control_ok(Method::POST, &path, Some(&serde_json::json!({}))).await
    }

    // ---------------------------------------------------------------
    // Conveniences over the IAM API
    // ---------------------------------------------------------------

    /// Generate (polling until COMPLETE) and download the credential report
    /// through the SDK; returns the raw CSV.
    pub async fn credential_report_csv(&self) -> Result<String, HarnessError> {
        let iam = self.iam().await;
        let sdk = |e: aws_sdk_iam::error::SdkError<_, _>| {
            HarnessError::Sdk(aws_sdk_iam::error::DisplayErrorContext(e).to_string())
        };
        let mut complete = false;
        for _ in 0..100 {
            let state = iam.generate_credential_report().send().await.map_err(sdk)?;
            if state.state() == Some(&aws_sdk_iam::types::ReportStateType::Complete) {
                complete = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !complete {
            return Err(HarnessError::Timeout("credential report never reached COMPLETE".into()));
        }
        let report = iam
            .get_credential_report()
            .send()
            .await
            .map_err(|e| HarnessError::Sdk(aws_sdk_iam::error::DisplayErrorContext(e).to_string()))?;
        let content = report
            .content()
            .ok_or_else(|| HarnessError::Other("credential report without content".into()))?;
        String::from_utf8(content.as_ref().to_vec())
            .map_err(|e| HarnessError::Other(format!("credential report is not UTF-8: {e}")))
    }

    /// The credential report as rows keyed by column name (the root account
    /// row first, as in real IAM).
    pub async fn credential_report(&self) -> Result<Vec<BTreeMap<String, String>>, HarnessError> {
        parse_credential_report(&self.credential_report_csv().await?)
    }
}

/// Parse a credential report CSV into rows keyed by column name.
pub fn parse_credential_report(csv_text: &str) -> Result<Vec<BTreeMap<String, String>>, HarnessError> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| HarnessError::Other(format!("credential report header: {e}")))?
        .clone();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| HarnessError::Other(format!("credential report row: {e}")))?;
            Ok(headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

/// Wait for the emulator's `LISTENING 127.0.0.1:<port>` line (stdout is read
/// on a helper thread so a silent child cannot block the runtime).
async fn read_listening_line(child: &mut Child) -> Result<u16, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "child has no stdout pipe".to_string())?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
    });
    let line = match tokio::time::timeout(START_TIMEOUT, rx).await {
        Err(_) => return Err(format!("no LISTENING line within {START_TIMEOUT:?}")),
        Ok(Err(_)) => return Err("stdout reader thread vanished".into()),
        Ok(Ok(Err(e))) => return Err(format!("reading stdout: {e}")),
        Ok(Ok(Ok(line))) => line,
    };
    let line = line.trim();
    if line.is_empty() {
        return Err("emulator exited before printing LISTENING".into());
    }
    line.strip_prefix("LISTENING 127.0.0.1:")
        .and_then(|port| port.parse::<u16>().ok())
        .ok_or_else(|| format!("unexpected first stdout line {line:?}"))
}

/// A few random-ish characters to keep concurrent provisional log names apart.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
