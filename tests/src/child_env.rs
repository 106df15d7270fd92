//! The environment of the processes the tests and `cargo xtask demo` start: nothing from
//! the host's AWS, iam-janitor or proxy settings reaches them, and a client of the
//! emulator gets the standard AWS environment pointing at it.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Removes from `command`'s environment every variable of this process that would
/// configure an AWS client, iam-janitor or a proxy: `AWS_*`, `IAM_JANITOR_*` and
/// `*_PROXY` (names compared in upper case, so `https_proxy` goes too). Variables set on
/// `command` afterwards are kept. A `tokio::process::Command` passes
/// `command.as_std_mut()`.
pub fn scrub_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if is_host_setting(&key) {
            command.env_remove(&key);
        }
    }
    command
}

fn is_host_setting(key: &OsStr) -> bool {
    let name = key.to_string_lossy().to_ascii_uppercase();
    name.starts_with("AWS_") || name.starts_with("IAM_JANITOR_") || name.ends_with("_PROXY")
}

/// [`scrub_env`], then the standard AWS environment of a client of the emulator at
/// `endpoint` (`AWS_ENDPOINT_URL`), as a user would set it: the static test credentials
/// (`testing`/`testing`, the emulator's default account), `AWS_REGION=region`, no
/// instance metadata (`AWS_EC2_METADATA_DISABLED=true`), no proxy for loopback
/// (`NO_PROXY=127.0.0.1,localhost`), and `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE` set to `empty_config`, an empty file, so that nothing is
/// read from `~/.aws`.
pub fn emulator_client_env<'c>(
    command: &'c mut Command,
    endpoint: &str,
    region: &str,
    empty_config: &Path,
) -> &'c mut Command {
    scrub_env(command)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", empty_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty_config);
    emulator_endpoint_env(command, endpoint, region)
}

/// The variables that point an AWS client at the emulator, also given to a Lambda's
/// process (which starts from an empty environment).
pub(crate) fn emulator_endpoint_env<'c>(command: &'c mut Command, endpoint: &str, region: &str) -> &'c mut Command {
    command
        .env("AWS_REGION", region)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
}
