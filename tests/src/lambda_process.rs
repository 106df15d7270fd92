//! A built `bootstrap` run the way Lambda runs it: a process with only Lambda's
//! environment, under its own [`RuntimeApi`], its AWS calls going to the emulator.
//!
//! ```no_run
//! # async fn demo(emu: &iam_janitor_harness::Emulator) -> Result<(), iam_janitor_harness::HarnessError> {
//! use iam_janitor_harness::{LambdaCommand, Outcome};
//! let lambda = LambdaCommand::new("target/lambda/bootstrap", emu.endpoint())
//!     .env("IAM_JANITOR_MODE", "enforce")
//!     .spawn()
//!     .await?;
//! let outcome = lambda
//!     .invoke(serde_json::json!({"mode": "report"}), std::time::Duration::from_secs(60))
//!     .await?;
//! assert!(matches!(outcome, Outcome::Response(_)), "{}", lambda.output());
//! # Ok(())
//! # }
//! ```

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::{HarnessError, Outcome, RuntimeApi};

/// The Region the function runs in (`AWS_REGION`).
const REGION: &str = "us-east-1";

/// How to start a `bootstrap`: the binary, where its AWS calls go, its credentials and
/// its own environment. [`LambdaCommand::spawn`] starts it.
#[derive(Debug, Clone)]
pub struct LambdaCommand {
    binary: PathBuf,
    through: Option<PathBuf>,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    env: Vec<(String, String)>,
    log: Option<PathBuf>,
}

impl LambdaCommand {
    /// `binary`, with its AWS calls going to `endpoint` (`AWS_ENDPOINT_URL`) and the
    /// emulator's static test credentials.
    pub fn new(binary: impl Into<PathBuf>, endpoint: impl Into<String>) -> LambdaCommand {
        LambdaCommand {
            binary: binary.into(),
            through: None,
            endpoint: endpoint.into(),
            access_key_id: "testing".to_string(),
            secret_access_key: "testing".to_string(),
            session_token: None,
            env: Vec::new(),
            log: None,
        }
    }

    /// Runs the binary through `emulator` (e.g. `qemu-aarch64-static`), which gets the
    /// binary's path as its argument.
    pub fn through(mut self, emulator: impl Into<PathBuf>) -> LambdaCommand {
        self.through = Some(emulator.into());
        self
    }

    /// The execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// and `AWS_SESSION_TOKEN` if `session_token` is given).
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> LambdaCommand {
        self.access_key_id = access_key_id.into();
        self.secret_access_key = secret_access_key.into();
        self.session_token = session_token;
        self
    }

    /// One more variable of the function's environment (set after Lambda's own, so it
    /// may override them).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> LambdaCommand {
        self.env.push((key.into(), value.into()));
        self
    }

    /// [`LambdaCommand::env`] for each pair.
    pub fn envs<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> LambdaCommand {
        self.env
            .extend(vars.into_iter().map(|(key, value)| (key.into(), value.into())));
        self
    }

    /// Where the process's stdout and stderr go (created or truncated). By default
    /// `bootstrap-<runtime API address>.log` next to the binary.
    pub fn log(mut self, path: impl Into<PathBuf>) -> LambdaCommand {
        self.log = Some(path.into());
        self
    }

    /// Starts a [`RuntimeApi`], then the binary under it with a cleared environment plus
    /// Lambda's variables (`AWS_LAMBDA_RUNTIME_API`, the function's name, memory size and
    /// version), `AWS_REGION=us-east-1`, the credentials, the emulator's endpoint, no
    /// instance metadata, no proxy for loopback, and the variables given with
    /// [`LambdaCommand::env`]; in the binary's directory, with no standard input.
    pub async fn spawn(self) -> Result<LambdaProcess, HarnessError> {
        let api = RuntimeApi::start().await?;
        let dir = self.binary.parent().unwrap_or(Path::new(".")).to_path_buf();
        let log = self
            .log
            .clone()
            .unwrap_or_else(|| dir.join(format!("bootstrap-{}.log", api.address().replace([':', '.'], "-"))));
        let out = File::create(&log).map_err(|e| HarnessError::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::io(format!("duplicating the handle of {}", log.display()), e))?;
        let mut command = match &self.through {
            Some(emulator) => {
                let mut command = Command::new(emulator);
                command.arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", RuntimeApi::FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key);
        if let Some(token) = &self.session_token {
            command.env("AWS_SESSION_TOKEN", token);
        }
        crate::child_env::emulator_endpoint_env(&mut command, &self.endpoint, REGION)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| HarnessError::io(format!("starting {}", self.binary.display()), e))?;
        Ok(LambdaProcess {
            pid: child.id(),
            child: Mutex::new(child),
            api,
            log,
        })
    }
}

/// A running `bootstrap` and its [`RuntimeApi`]. Dropping it kills the process (by PID,
/// this very child), reaps it, and stops the Runtime API.
pub struct LambdaProcess {
    child: Mutex<Child>,
    pid: u32,
    api: RuntimeApi,
    log: PathBuf,
}

impl std::fmt::Debug for LambdaProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaProcess")
            .field("pid", &self.pid)
            .field("api", &self.api)
            .field("log", &self.log)
            .finish()
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl LambdaProcess {
    fn child(&self) -> MutexGuard<'_, Child> {
        // A panic while holding the lock cannot leave the handle inconsistent.
        self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Runtime API the process polls.
    pub fn api(&self) -> &RuntimeApi {
        &self.api
    }

    /// [`RuntimeApi::invoke`]: queues `event` and waits for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Outcome, HarnessError> {
        self.api.invoke(event, timeout).await
    }

    /// [`RuntimeApi::polls`].
    pub fn polls(&self) -> u64 {
        self.api.polls()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The file holding the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What the process printed so far (empty if the log cannot be read).
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status, if the process has exited.
    pub fn exited(&self) -> Result<Option<ExitStatus>, HarnessError> {
        self.child()
            .try_wait()
            .map_err(|e| HarnessError::io(format!("waiting for bootstrap (pid {})", self.pid), e))
    }
}
