//! The AWS configuration of the local commands (`audit`, `restore`, `deploy`, `destroy`):
//! the standard flags and the one loader. Before the first AWS call it reads the config
//! files and resolves the Region and the credentials once, and if something is missing
//! says what (the profile, a Region, credentials) and how to provide it, rather than the
//! SDK's error from the last provider it tried (usually instance metadata, IMDS).
//!
//! What to say is [`explain`], a pure function of what loading [`Found`]; the rest is I/O.

use std::borrow::Cow;
use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::imds;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_iam::config::ProvideCredentials;
use aws_types::os_shim_internal::{Env, Fs};

use crate::iam::retry_config;

/// The Region that signs IAM calls when none is configured (IAM is global).
pub const SIGNING_REGION: &str = "us-east-1";

/// How long one request to instance metadata (IMDS) may take. Off EC2 nothing answers,
/// and the check must fail in seconds.
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// The standard AWS configuration flags, shared by the local commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS profile (else AWS_PROFILE and the default credential chain)
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region for signing (IAM is global; else AWS_REGION, the profile's region, us-east-1)
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (an emulator), else AWS_ENDPOINT_URL
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Show the AWS SDK's own warnings (retries, credential providers, instance metadata)
    /// and this tool's info logs; -vv for debug. RUST_LOG, if set, decides instead
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Whether a command needs a Region of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionNeed {
    /// The Region only signs (IAM is global): without one, [`SIGNING_REGION`].
    SigningOnly,
    /// The command works in one Region, which must be configured; the text says why.
    Required(&'static str),
}

/// The AWS configuration could not be used: what is missing and how to provide it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsConfigError {
    message: String,
}

/// The profile the credentials and Region come from (the one asked for, else `default`),
/// as found in the AWS config files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileState {
    /// Defined; `sso` if it signs in with IAM Identity Center (`sso_session` or
    /// `sso_start_url`).
    Defined { sso: bool },
    /// Not in the config files (or there are none).
    Undefined,
    /// The config files could not be read or parsed.
    Unreadable(String),
}

/// What loading the AWS configuration found: the input of [`explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The profile asked for (`--profile` or `AWS_PROFILE`).
    pub profile: Option<String>,
    /// The selected profile (the one asked for, else `default`) in the config files.
    pub profile_state: ProfileState,
    /// `AWS_ACCESS_KEY_ID` is set.
    pub environment_keys: bool,
    /// The Region from `--region`/`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile or IMDS.
    pub region: Option<String>,
    pub region_need: RegionNeed,
    /// Why the credentials could not be resolved (the SDK's error), if they could not.
    pub credentials_error: Option<String>,
}

/// The SDK's error at the end of a message: one line, at most this many characters.
const DETAIL_CHARS: usize = 300;

fn short(detail: &str) -> String {
    let line = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// What is missing and how to provide it, or `None` when the configuration can be used.
/// A profile asked for but not defined explains everything else, so it is said alone
/// (if nothing is missing, as with keys in the environment, it does not matter);
/// otherwise a missing Region and missing credentials are both said, after the config
/// files if they could not be read.
pub fn explain(found: &Found) -> Option<String> {
    let asked = found.profile.as_deref();
    let selected = asked.unwrap_or("default");
    let region_missing = matches!(found.region_need, RegionNeed::Required(_)) && found.region.is_none();
    let something_missing = region_missing || found.credentials_error.is_some();
    if let (Some(name), ProfileState::Undefined, true) = (asked, &found.profile_state, something_missing) {
        return Some(format!(
            "the AWS profile `{name}` (from --profile or AWS_PROFILE) is not defined in ~/.aws/config or \
             ~/.aws/credentials. `aws configure list-profiles` lists the profiles there; create this one with \
             `aws configure sso --profile {name}` (IAM Identity Center) or `aws configure --profile {name}` (access \
             keys), or pass another with --profile NAME"
        ));
    }
    let mut problems = Vec::new();
    if let (RegionNeed::Required(why), None) = (found.region_need, &found.region) {
        problems.push(format!(
            "no AWS Region is configured ({why}). Pass --region REGION (e.g. --region eu-west-1), set AWS_REGION, \
             or add `region = eu-west-1` to the profile `{selected}` in ~/.aws/config"
        ));
    }
    if let Some(error) = &found.credentials_error {
        let detail = short(error);
        let profile_defined = matches!(found.profile_state, ProfileState::Defined { .. });
        problems.push(if found.environment_keys {
            format!(
                "the AWS credentials in the environment (AWS_ACCESS_KEY_ID) could not be used: check \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or unset them to use a profile. \
                 The AWS SDK said: {detail}"
            )
        } else if found.profile_state == (ProfileState::Defined { sso: true }) {
            format!(
                "the AWS profile `{selected}` signs in with IAM Identity Center (SSO) and has no valid session: run \
                 `aws sso login --profile {selected}`, then try again. The AWS SDK said: {detail}"
            )
        } else if profile_defined {
            format!(
                "the AWS profile `{selected}` gave no usable credentials: check it in ~/.aws/config and \
                 ~/.aws/credentials (`aws configure list --profile {selected}`), or pass another with --profile NAME. \
                 The AWS SDK said: {detail}"
            )
        } else {
            format!(
                "no AWS credentials were found. Provide them with one of:\n  \
                 --profile NAME (or AWS_PROFILE=NAME): a profile in ~/.aws/config or ~/.aws/credentials\n  \
                 aws sso login --profile NAME: sign in for a profile that uses IAM Identity Center (SSO)\n  \
                 aws configure: create the default profile with access keys\n  \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment\n\
                 The AWS SDK said: {detail}"
            )
        });
    }
    if problems.is_empty() {
        return None;
    }
    // Whatever else is missing may be in the files that could not be read.
    if let ProfileState::Unreadable(why) = &found.profile_state {
        problems.insert(
            0,
            format!(
                "cannot read the AWS config files (~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE and \
                 AWS_SHARED_CREDENTIALS_FILE): {}",
                short(why)
            ),
        );
    }
    Some(problems.join("\n"))
}

impl AwsArgs {
    /// Loads the standard AWS configuration, honouring the flags, with the engine's retry
    /// configuration, and checks it before any call: the profile asked for exists, a
    /// Region is configured when `need` says so (else [`SIGNING_REGION`]), and the
    /// credentials resolve. Instance metadata (IMDS) gets one short attempt, so that off
    /// EC2 this fails in seconds.
    pub async fn load(&self, need: RegionNeed) -> Result<SdkConfig, AwsConfigError> {
        let mut found = Found {
            profile: self.profile.clone(),
            profile_state: profile_state(self.profile.as_deref()).await,
            environment_keys: std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()),
            region: None,
            region_need: need,
            credentials_error: None,
        };
        let imds = imds::Client::builder()
            .max_attempts(1)
            .connect_timeout(IMDS_TIMEOUT)
            .read_timeout(IMDS_TIMEOUT)
            .operation_timeout(IMDS_TIMEOUT * 3)
            .build();
        let region = match &self.region {
            Some(region) => Some(Region::new(region.clone())),
            None => {
                let mut profile_region = ProfileFileRegionProvider::builder();
                if let Some(profile) = &self.profile {
                    profile_region = profile_region.profile_name(profile);
                }
                RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                    .or_else(profile_region.build())
                    .or_else(ImdsRegionProvider::builder().imds_client(imds.clone()).build())
                    .region()
                    .await
            }
        };
        found.region = region.as_ref().map(ToString::to_string);

        let mut chain = DefaultCredentialsChain::builder()
            .region(region.clone())
            .imds_client(imds);
        if let Some(profile) = &self.profile {
            chain = chain.profile_name(profile);
        }
        let credentials = chain.build().await;
        if let Err(error) = credentials.provide_credentials().await {
            found.credentials_error = Some(error_chain(&error));
        }
        if let Some(message) = explain(&found) {
            return Err(AwsConfigError { message });
        }

        let region = region.unwrap_or_else(|| Region::from_static(SIGNING_REGION));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .region(region)
            .credentials_provider(credentials);
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        Ok(loader.load().await)
    }
}

/// The selected profile in the AWS config files (those of AWS_CONFIG_FILE and
/// AWS_SHARED_CREDENTIALS_FILE, else `~/.aws/config` and `~/.aws/credentials`).
async fn profile_state(asked: Option<&str>) -> ProfileState {
    let selected = asked.map(|name| Cow::Owned(name.to_string()));
    match aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), selected).await {
        Err(error) => ProfileState::Unreadable(error_chain(&error)),
        Ok(profiles) => match profiles.get_profile(asked.unwrap_or_else(|| profiles.selected_profile())) {
            None => ProfileState::Undefined,
            Some(profile) => ProfileState::Defined {
                sso: profile.get("sso_session").is_some() || profile.get("sso_start_url").is_some(),
            },
        },
    }
}

/// An error and its sources, each once, joined by ": ".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const DEPLOY: RegionNeed = RegionNeed::Required("the stacks live in that one Region");
    const NOT_LOADED: &str = "the credential provider was not enabled: no credentials found in chain";

    /// Nothing configured: no profile, no keys, no Region, and the SDK's error.
    fn nothing(need: RegionNeed) -> Found {
        Found {
            profile: None,
            profile_state: ProfileState::Undefined,
            environment_keys: false,
            region: None,
            region_need: need,
            credentials_error: Some(NOT_LOADED.to_string()),
        }
    }

    #[test]
    fn a_usable_configuration_needs_no_message() {
        let ok = Found {
            region: Some("eu-west-1".to_string()),
            credentials_error: None,
            ..nothing(DEPLOY)
        };
        assert_eq!(explain(&ok), None);
        // IAM alone signs in us-east-1 without a Region.
        let iam = Found {
            credentials_error: None,
            ..nothing(RegionNeed::SigningOnly)
        };
        assert_eq!(explain(&iam), None);
    }

    #[test]
    fn no_credentials_lists_every_way_to_provide_them_and_ends_with_the_sdks_words() {
        let message = explain(&nothing(RegionNeed::SigningOnly)).unwrap();
        assert!(message.starts_with("no AWS credentials were found."), "{message}");
        for way in [
            "--profile NAME",
            "AWS_PROFILE",
            "aws sso login --profile NAME",
            "aws configure",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(message.contains(way), "{way}: {message}");
        }
        assert!(
            message.ends_with(&format!("The AWS SDK said: {NOT_LOADED}")),
            "{message}"
        );
        assert!(!message.contains("Region"), "audit needs no Region: {message}");
    }

    #[test]
    fn a_command_that_needs_a_region_says_so_and_how_to_set_it() {
        let message = explain(&nothing(DEPLOY)).unwrap();
        let (region, credentials) = message.split_once('\n').unwrap();
        assert!(
            region.starts_with("no AWS Region is configured (the stacks live in that one Region)"),
            "{region}"
        );
        for way in ["--region REGION", "AWS_REGION", "region = eu-west-1", "~/.aws/config"] {
            assert!(region.contains(way), "{way}: {region}");
        }
        assert!(credentials.starts_with("no AWS credentials were found"), "{message}");
        // With credentials, the Region alone.
        let region_only = Found {
            credentials_error: None,
            ..nothing(DEPLOY)
        };
        assert_eq!(explain(&region_only).unwrap(), region);
    }

    #[test]
    fn a_profile_that_does_not_exist_is_named_and_said_alone() {
        let found = Found {
            profile: Some("nosuch".to_string()),
            ..nothing(DEPLOY)
        };
        let message = explain(&found).unwrap();
        assert!(
            message.starts_with("the AWS profile `nosuch` (from --profile or AWS_PROFILE) is not defined"),
            "{message}"
        );
        assert!(message.contains("aws configure list-profiles"), "{message}");
        assert!(message.contains("aws configure sso --profile nosuch"), "{message}");
        assert!(!message.contains("Region") && !message.contains('\n'), "{message}");
        // Keys in the environment come before any profile: with them and a Region, a
        // stale AWS_PROFILE does not matter.
        let keys = Found {
            environment_keys: true,
            region: Some("eu-west-1".to_string()),
            credentials_error: None,
            ..found
        };
        assert_eq!(explain(&keys), None);
    }

    #[test]
    fn a_defined_profile_without_credentials_points_at_that_profile() {
        let sso = Found {
            profile: Some("org-admin".to_string()),
            profile_state: ProfileState::Defined { sso: true },
            region: Some("eu-west-1".to_string()),
            credentials_error: Some("the SSO token has expired".to_string()),
            ..nothing(DEPLOY)
        };
        assert_eq!(
            explain(&sso).unwrap(),
            "the AWS profile `org-admin` signs in with IAM Identity Center (SSO) and has no valid session: run `aws \
             sso login --profile org-admin`, then try again. The AWS SDK said: the SSO token has expired"
        );
        // The default profile, with keys that do not work.
        let keys = Found {
            profile: None,
            profile_state: ProfileState::Defined { sso: false },
            ..sso.clone()
        };
        let message = explain(&keys).unwrap();
        assert!(
            message.starts_with("the AWS profile `default` gave no usable credentials"),
            "{message}"
        );
        // Keys in the environment come first in the chain: they are the ones that failed.
        let environment = Found {
            environment_keys: true,
            ..keys
        };
        let message = explain(&environment).unwrap();
        assert!(message.contains("in the environment (AWS_ACCESS_KEY_ID)"), "{message}");
    }

    #[test]
    fn unreadable_config_files_are_said_first_when_something_is_missing() {
        let found = Found {
            profile_state: ProfileState::Unreadable("line 3: invalid profile name".to_string()),
            ..nothing(DEPLOY)
        };
        let message = explain(&found).unwrap();
        let lines: Vec<&str> = message.lines().collect();
        assert!(
            lines[0].starts_with("cannot read the AWS config files")
                && lines[0].ends_with("line 3: invalid profile name"),
            "{message}"
        );
        assert!(lines[1].starts_with("no AWS Region") && lines[2].starts_with("no AWS credentials"));
        // Keys and a Region from the environment need no config file.
        let fine = Found {
            environment_keys: true,
            region: Some("eu-west-1".to_string()),
            credentials_error: None,
            ..found
        };
        assert_eq!(explain(&fine), None);
    }

    #[test]
    fn the_sdks_error_is_kept_to_one_short_line() {
        let long = format!(
            "no credentials found in chain. Attempted:\n  Environment: {}",
            "x".repeat(1000)
        );
        let found = Found {
            credentials_error: Some(long),
            ..nothing(RegionNeed::SigningOnly)
        };
        let message = explain(&found).unwrap();
        let said = message.rsplit("The AWS SDK said: ").next().unwrap();
        assert!(
            said.starts_with("no credentials found in chain. Attempted: Environment: xxx"),
            "{said}"
        );
        assert_eq!(said.chars().count(), DETAIL_CHARS + 1, "{said}");
        assert!(said.ends_with('…') && !said.contains('\n'));
        assert_eq!(short("é ".repeat(400).as_str()).chars().count(), DETAIL_CHARS + 1);
    }

    #[test]
    fn an_errors_sources_are_joined_once() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let error = Layer(
            "dispatch failure",
            Some(Box::new(Layer("timeout", Some(Box::new(Layer("timeout", None)))))),
        );
        assert_eq!(error_chain(&error), "dispatch failure: timeout");
    }
}
