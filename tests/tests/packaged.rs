//! The packaged Lambda, proved: `cargo xtask package --arch x86_64` builds the release
//! zip, and the `bootstrap` inside it runs the way Lambda runs it: a process with only
//! Lambda's environment, talking the Runtime API protocol (a fake on 127.0.0.1), with
//! its IAM calls going to the emulator.
//!
//! x86_64 so that it runs natively here and in CI (same machine kind). The zip is built
//! once per test binary; a cold build is a few minutes of release compilation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use iam_janitor_harness::{
    Emulator, LambdaCommand, LambdaProcess, Outcome, SeedKey, SeedPassword, SeedUser, SeededUser, workspace_root,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

use common::{days_ago, findings_of, writes};

const SCHEDULED: &str = include_str!("../../lambda/tests/fixtures/eventbridge-scheduled.json");
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// `cargo xtask package --arch <arch>` (`x86_64` or `arm64`), once per test binary and
/// architecture; the extracted `bootstrap`. If packaging fails, the first test shows why
/// and the others fail without building again.
fn packaged_bootstrap(arch: &'static str) -> &'static Path {
    static X86_64: OnceLock<Result<PathBuf, ()>> = OnceLock::new();
    static ARM64: OnceLock<Result<PathBuf, ()>> = OnceLock::new();
    let cell = match arch {
        "x86_64" => &X86_64,
        "arm64" => &ARM64,
        other => panic!("no Lambda architecture {other}"),
    };
    cell.get_or_init(|| std::panic::catch_unwind(|| package_and_extract(arch)).map_err(|_| ()))
        .as_deref()
        .unwrap_or_else(|()| panic!("cargo xtask package --arch {arch} failed (see the first failing test)"))
}

fn package_and_extract(arch: &str) -> PathBuf {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(["run", "-q", "-p", "xtask", "--", "package", "--arch", arch])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("running cargo xtask package");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo xtask package --arch {arch} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!(
        "cargo xtask package --arch {arch} took {:.1?}:\n{stdout}",
        started.elapsed()
    );

    // It says where the zip is, and its sha256 and S3 key are the zip's.
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
            .to_string()
    };
    let zip_path = PathBuf::from(field("zip:"));
    assert!(
        zip_path.ends_with(format!("lambda/{arch}/bootstrap.zip")),
        "{}",
        zip_path.display()
    );
    let zipped = fs::read(&zip_path).unwrap();
    let sha256: String = Sha256::digest(&zipped).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(field("sha256:"), sha256);
    assert_eq!(field("s3 key:"), format!("iam-janitor/{sha256}.zip"));
    assert_eq!(field("size:"), format!("{} bytes", zipped.len()));

    // Exactly one entry, `bootstrap`, executable.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name().unwrap(), "bootstrap");
    assert_eq!(entry.unix_mode(), Some(0o100_755));
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).unwrap();

    let dir = scratch_dir(arch);
    let path = dir.join("bootstrap");
    fs::write(&path, &binary).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `<CARGO_TARGET_TMPDIR>/packaged-<pid>-<arch>`, empty. Directories left by earlier
/// runs whose process is gone are removed (each holds a copy of the binary).
fn scratch_dir(arch: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((pid, _)) = name.strip_prefix("packaged-").and_then(|rest| rest.split_once('-')) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("packaged-{}-{arch}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The packaged binary (through `emulator`, e.g. qemu-user, if given) under its own
/// Runtime API, with a cleared environment plus Lambda's variables, the emulator's
/// endpoint and `settings`; killed when dropped.
async fn spawn(binary: &Path, emulator: Option<&Path>, emu: &Emulator, settings: &[(&str, &str)]) -> LambdaProcess {
    let mut command = LambdaCommand::new(binary, emu.endpoint()).envs(settings.iter().copied());
    if let Some(emulator) = emulator {
        command = command.through(emulator);
    }
    command.spawn().await.unwrap()
}

const ENFORCE: [(&str, &str); 2] = [("IAM_JANITOR_MODE", "enforce"), ("IAM_JANITOR_LEAST_PRIVILEGE", "off")];

fn user(name: &str) -> SeedUser {
    SeedUser::new(name).created(days_ago(1000))
}

fn key(created: i64, used: Option<i64>) -> SeedKey {
    let key = SeedKey::new().created(days_ago(created));
    match used {
        Some(days) => key.used(days_ago(days)),
        None => key,
    }
}

fn password(changed: i64, used: i64) -> SeedPassword {
    SeedPassword::new().changed(days_ago(changed)).used(days_ago(used))
}

fn key_id(seeded: &[SeededUser], user: &str) -> String {
    seeded.iter().find(|u| u.name == user).unwrap().access_key_ids[0].clone()
}

async fn key_status(emu: &Emulator, user: &str) -> String {
    let keys = emu.iam().await.list_access_keys().user_name(user).send().await.unwrap();
    let statuses: Vec<String> = keys
        .access_key_metadata()
        .iter()
        .map(|k| k.status().map(|s| s.as_str().to_string()).unwrap_or_default())
        .collect();
    assert_eq!(statuses.len(), 1, "{user}: {statuses:?}");
    statuses[0].clone()
}

async fn has_password(emu: &Emulator, user: &str) -> bool {
    match emu.iam().await.get_login_profile().user_name(user).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => false,
        Err(e) => panic!("GetLoginProfile {user}: {e:?}"),
    }
}

async fn invoke(bootstrap: &LambdaProcess) -> Value {
    let event: Value = serde_json::from_str(SCHEDULED).unwrap();
    match bootstrap.invoke(event, INVOKE_TIMEOUT).await {
        Ok(Outcome::Response(report)) => report,
        other => panic!(
            "expected a report, got {other:?}; bootstrap output:\n{}",
            bootstrap.output()
        ),
    }
}

#[tokio::test]
async fn packaged_bootstrap_enforces_on_a_scheduled_event_then_changes_nothing_warm() {
    enforce_then_warm(packaged_bootstrap("x86_64"), None).await;
}

/// The default (arm64) artifact, run under qemu-user. Not part of `cargo xtask test`:
/// run it with `cargo test -p iam-janitor-harness --test packaged -- --ignored`.
#[tokio::test]
#[ignore = "needs qemu-aarch64-static (Debian/Ubuntu: apt-get install qemu-user-static) and an arm64 build"]
async fn packaged_arm64_bootstrap_runs_under_qemu() {
    let qemu = ["qemu-aarch64-static", "qemu-aarch64"]
        .iter()
        .find_map(|name| on_path(name))
        .expect("qemu-aarch64-static is not on PATH (Debian/Ubuntu: apt-get install qemu-user-static)");
    enforce_then_warm(packaged_bootstrap("arm64"), Some(&qemu)).await;
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A scheduled event in enforce mode: the dormant key is deactivated and the dormant
/// password deleted, the active user untouched; a second event in the same process (a
/// warm start) changes nothing.
async fn enforce_then_warm(binary: &Path, emulator: Option<&Path>) {
    let emu = Emulator::start().await.unwrap();
    let seeded = emu
        .seed(&[
            user("dormant-key").with_key(key(400, None)),
            user("dormant-console").with_password(password(400, 120)),
            user("active")
                .with_password(password(400, 2))
                .with_key(key(300, Some(1))),
        ])
        .await
        .unwrap();
    let bootstrap = spawn(binary, emulator, &emu, &ENFORCE).await;

    // Cold start and first (scheduled) invocation.
    let report = invoke(&bootstrap).await;
    let output = bootstrap.output();
    assert_eq!(report["mode"], "enforce", "{report:#}\n{output}");
    assert_eq!(report["enforce"], true);
    assert_eq!(report["account_id"], emu.account_id());
    assert_eq!(report["summary"]["applied"], 2, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    let key_finding = findings_of(&report, "dormant-key");
    assert_eq!(key_finding.len(), 1, "{report:#}");
    assert_eq!(key_finding[0]["kind"], "access_key");
    assert_eq!(key_finding[0]["action"], "deactivate_access_key");
    assert_eq!(key_finding[0]["status"], "applied");
    assert_eq!(key_finding[0]["access_key_id"], key_id(&seeded, "dormant-key"));
    let console = findings_of(&report, "dormant-console");
    assert_eq!(console.len(), 1, "{report:#}");
    assert_eq!(console[0]["kind"], "console_password");
    assert_eq!(console[0]["action"], "delete_login_profile");
    assert_eq!(console[0]["status"], "applied");
    assert!(findings_of(&report, "active").is_empty(), "{report:#}");

    // The account changed accordingly.
    assert_eq!(key_status(&emu, "dormant-key").await, "Inactive");
    assert!(!has_password(&emu, "dormant-console").await);
    assert!(has_password(&emu, "active").await);
    assert_eq!(key_status(&emu, "active").await, "Active");
    let calls = emu.calls().await.unwrap().calls;
    let writes_after_first = writes(&calls);
    assert!(writes_after_first >= 2, "{calls:?}");

    // Warm start: the same process takes the next event and finds nothing to do.
    let report = invoke(&bootstrap).await;
    assert!(
        bootstrap.exited().unwrap().is_none(),
        "the runtime exited after one invocation"
    );
    assert_eq!(report["mode"], "enforce");
    assert_eq!(report["summary"]["applied"], 0, "{report:#}");
    assert!(report["findings"].as_array().unwrap().is_empty(), "{report:#}");
    assert_eq!(writes(&emu.calls().await.unwrap().calls), writes_after_first);
    assert_eq!(key_status(&emu, "dormant-key").await, "Inactive");
    assert!(has_password(&emu, "active").await);
    // It went back to waiting for the next event (the long poll we leave open).
    let deadline = Instant::now() + Duration::from_secs(10);
    while bootstrap.polls() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bootstrap.polls(), 3);
    assert!(
        bootstrap.output().contains("run finished"),
        "no structured log of the run:\n{}",
        bootstrap.output()
    );
}

#[tokio::test]
async fn packaged_bootstrap_rejects_an_invalid_setting_at_cold_start() {
    let binary = packaged_bootstrap("x86_64");
    let emu = Emulator::start().await.unwrap();
    emu.seed(&[user("dormant-key").with_key(key(400, None))]).await.unwrap();
    let mut settings = ENFORCE.to_vec();
    settings.push(("IAM_JANITOR_DORMANT_DAYS", "abc"));
    let bootstrap = spawn(binary, None, &emu, &settings).await;

    // Lambda reports a failed cold start either from the runtime (POST /init/error) or
    // from the process exiting; either way the event is never handled.
    let event: Value = serde_json::from_str(SCHEDULED).unwrap();
    let invocation = bootstrap.invoke(event, Duration::from_secs(60));
    tokio::pin!(invocation);
    let deadline = Instant::now() + Duration::from_secs(60);
    let failure = loop {
        tokio::select! {
            outcome = &mut invocation => match outcome {
                Ok(Outcome::InitError(body)) => break body.to_string(),
                other => panic!("expected an init error, got {other:?}:\n{}", bootstrap.output()),
            },
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                if let Some(status) = bootstrap.exited().unwrap() {
                    assert!(!status.success(), "exited successfully:\n{}", bootstrap.output());
                    break bootstrap.output();
                }
                assert!(Instant::now() < deadline, "neither an init error nor an exit:\n{}", bootstrap.output());
            }
        }
    };
    assert!(failure.contains("IAM_JANITOR_DORMANT_DAYS"), "{failure}");
    assert!(failure.contains("abc"), "{failure}");
    // Nothing was read or changed.
    let calls = emu.calls().await.unwrap();
    assert_eq!(calls.total, 0, "{:?}", calls.calls);
}
