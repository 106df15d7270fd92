//! The commands that call AWS, run as a new user would run them: no profile, Region or
//! credentials anywhere (an empty home, an empty environment, instance metadata at a
//! closed port). Each says what is missing and how to provide it, without the AWS SDK's
//! warnings (about instance metadata, here) unless asked with -v.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// An empty home directory of its own.
fn empty_home(name: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("iam-janitor-no-aws-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    home
}

/// `cargo xtask <args>` with nothing but HOME, PATH and instance metadata at a closed
/// port (it fails at once, and the SDK warns).
fn run(name: &str, args: &[&str]) -> (Output, String) {
    let home = empty_home(name);
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&home).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} succeeded: {stderr}");
    (output, stderr)
}

/// [`run`], where the SDK's warnings must not show.
fn xtask(name: &str, args: &[&str]) -> (Output, String) {
    let (output, stderr) = run(name, args);
    assert!(
        !stderr.contains("WARN"),
        "{args:?}: the SDK's warnings are shown: {stderr}"
    );
    (output, stderr)
}

#[test]
fn the_sdks_warnings_show_with_verbose() {
    let (_, stderr) = run("verbose", &["audit", "-v"]);
    assert!(stderr.contains("WARN") && stderr.contains("IMDS"), "{stderr}");
    assert!(stderr.contains("error: no AWS credentials were found."), "{stderr}");
}

#[test]
fn audit_says_how_to_provide_credentials() {
    let (output, stderr) = xtask("audit", &["audit"]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: no AWS credentials were found."), "{stderr}");
    for way in ["--profile NAME", "aws sso login", "aws configure", "AWS_ACCESS_KEY_ID"] {
        assert!(stderr.contains(way), "{way}: {stderr}");
    }
    assert!(output.stdout.is_empty(), "no report without credentials");
}

#[test]
fn destroy_says_it_needs_a_region_and_credentials() {
    let (_, stderr) = xtask("destroy", &["destroy", "--dry-run"]);
    assert!(stderr.starts_with("error: no AWS Region is configured"), "{stderr}");
    assert!(
        stderr.contains("--region REGION") && stderr.contains("AWS_REGION"),
        "{stderr}"
    );
    assert!(stderr.contains("\nno AWS credentials were found."), "{stderr}");
}

#[test]
fn restore_names_a_profile_that_does_not_exist() {
    let (_, stderr) = xtask(
        "restore",
        &["restore", "--user", "alice", "--keys", "--profile", "nosuch"],
    );
    assert!(
        stderr.starts_with("error: the AWS profile `nosuch` (from --profile or AWS_PROFILE) is not defined"),
        "{stderr}"
    );
}
