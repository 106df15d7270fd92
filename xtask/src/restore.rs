//! `cargo xtask restore`: undo what the engine did to one user, from its audit trail
//! (see `iam_janitor::restore` and SECURITY.md). Runs with the caller's own credentials
//! and the standard AWS configuration.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use iam_janitor::model::services::parse_service_list;
use iam_janitor::restore::{RestoreRequest, restore};
use iam_janitor::settings::table::KEEP_SERVICES_TAG;

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The user to restore
    #[arg(long)]
    pub user: String,
    /// Re-activate the access keys iam-janitor deactivated
    #[arg(long)]
    pub keys: bool,
    /// Re-activate the signing certificates iam-janitor deactivated
    #[arg(long)]
    pub certificates: bool,
    /// Re-activate the service-specific credentials (CodeCommit Git, Keyspaces, Bedrock API keys) iam-janitor deactivated
    #[arg(long)]
    pub service_credentials: bool,
    /// Re-activate the SSH public keys (CodeCommit) iam-janitor deactivated
    #[arg(long)]
    pub ssh_keys: bool,
    /// Give console access back with a temporary password that must be changed at the next sign-in
    #[arg(long)]
    pub console: bool,
    /// Stop denying these services (comma-separated namespaces, e.g. s3,ec2)
    #[arg(long, value_name = "LIST")]
    pub services: Option<String>,
    /// The engine's keep-services tag key
    #[arg(long, env = KEEP_SERVICES_TAG.env, default_value = KEEP_SERVICES_TAG.value.default)]
    pub keep_services_tag: String,
    #[command(flatten)]
    pub aws: iam_janitor::cli::AwsArgs,
}

pub fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let services: BTreeSet<String> = args.services.as_deref().map(parse_service_list).unwrap_or_default();
    if let Some(bad) = services
        .iter()
        .find(|s| !iam_janitor::model::services::is_service_prefix(s))
    {
        bail!("--services: {bad:?} is not a service prefix (such as s3, ec2, execute-api)");
    }
    if !args.keys
        && !args.certificates
        && !args.service_credentials
        && !args.ssh_keys
        && !args.console
        && services.is_empty()
    {
        bail!(
            "nothing to restore: pass --keys, --certificates, --service-credentials, --ssh-keys, --console and/or --services LIST"
        );
    }
    let request = RestoreRequest {
        user: args.user.clone(),
        keys: args.keys,
        certificates: args.certificates,
        service_credentials: args.service_credentials,
        ssh_keys: args.ssh_keys,
        console: args.console,
        services,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let config = args.aws.load(iam_janitor::cli::RegionNeed::SigningOnly).await?;
        let iam = iam_janitor::iam::Iam::new(&config, iam_janitor::settings::Settings::default().iam_rate);
        restore(&iam, &request, time::OffsetDateTime::now_utc(), &args.keep_services_tag)
            .await
            .with_context(|| format!("restoring {}", args.user))
    })?;

    println!("restored {}", outcome.user);
    for id in &outcome.keys_reactivated {
        println!("  access key {id}: active again");
    }
    for (id, why) in &outcome.keys_skipped {
        println!("  access key {id}: left alone ({why})");
    }
    for id in &outcome.certificates_reactivated {
        println!("  signing certificate {id}: active again");
    }
    for (id, why) in &outcome.certificates_skipped {
        println!("  signing certificate {id}: left alone ({why})");
    }
    for id in &outcome.service_credentials_reactivated {
        println!("  service-specific credential {id}: active again");
    }
    for (id, why) in &outcome.service_credentials_skipped {
        println!("  service-specific credential {id}: left alone ({why})");
    }
    for id in &outcome.ssh_keys_reactivated {
        println!("  SSH public key {id}: active again");
    }
    for (id, why) in &outcome.ssh_keys_skipped {
        println!("  SSH public key {id}: left alone ({why})");
    }
    if let Some(password) = &outcome.temporary_password {
        println!("  console: new temporary password (shown once, must be changed at the next sign-in):");
        println!("    {password}");
    }
    if let Some(note) = &outcome.console_note {
        println!("  console: {note}");
    }
    if !outcome.services_kept.is_empty() {
        println!("  services kept: {}", outcome.services_kept.join(", "));
    }
    if let Some(note) = &outcome.deny_policy_note {
        println!("  deny policy: {note}");
    }
    if args.keys && outcome.keys_reactivated.is_empty() && outcome.keys_skipped.is_empty() {
        println!("  no access key was deactivated by iam-janitor");
    }
    if args.certificates && outcome.certificates_reactivated.is_empty() && outcome.certificates_skipped.is_empty() {
        println!("  no signing certificate was deactivated by iam-janitor");
    }
    Ok(())
}
