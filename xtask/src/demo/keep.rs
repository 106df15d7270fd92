//! `--keep`: the emulator left running, an environment file per account with its
//! credentials, and how to use them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::lambda::Credentials;
use super::org::Account;
use super::render::{Out, relative};
use super::{MEMBER_ROLE, REGION};

fn env_file(dir: &Path, account: &Account) -> PathBuf {
    dir.join(format!("{}.env", account.name))
}

pub(super) fn write_env_files(
    dir: &Path,
    endpoint: &str,
    pid: u32,
    accounts: &[Account],
    credentials: &[Credentials],
) -> anyhow::Result<()> {
    for (account, credentials) in accounts.iter().zip(credentials) {
        let mut text = format!(
            "# iam-janitor demo: the {} account ({}) on the local emulator (pid {pid}).\n# Use with `source`.\n\
             unset AWS_PROFILE AWS_SESSION_TOKEN\nexport AWS_ENDPOINT_URL={endpoint}\nexport AWS_REGION={REGION} \
             AWS_DEFAULT_REGION={REGION}\n\
             export AWS_EC2_METADATA_DISABLED=true\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
            account.name, account.id, credentials.access_key_id, credentials.secret_access_key
        );
        if let Some(token) = &credentials.session_token {
            let _ = writeln!(text, "export AWS_SESSION_TOKEN={token}");
        }
        let path = env_file(dir, account);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub(super) fn print_keep(
    out: &Out,
    root: &Path,
    dir: &Path,
    endpoint: &str,
    pid: u32,
    log: &Path,
    accounts: &[Account],
) {
    out.section(
        "The emulator keeps running",
        &format!("{endpoint} (pid {pid}), with the organization as the runs left it"),
    );
    if let Some(management) = accounts.iter().find(|a| a.management) {
        println!("   The management account ({}):", management.id);
        println!("     export AWS_ENDPOINT_URL={endpoint} AWS_EC2_METADATA_DISABLED=true");
        println!("     export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}");
        println!("     export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing");
        println!("     aws organizations list-accounts --query 'Accounts[].[Name,Id]' --output text");
        println!("     aws iam list-users --query 'Users[].UserName' --output text");
        println!("     cargo xtask audit                       # what is left to do (report only)");
    }
    println!("   A member account: these files hold its credentials (sts:AssumeRole into {MEMBER_ROLE}):");
    let members: Vec<&Account> = accounts.iter().filter(|a| !a.management).collect();
    let width = members
        .iter()
        .map(|a| relative(root, &env_file(dir, a)).len())
        .max()
        .unwrap_or(0);
    for account in &members {
        let file = relative(root, &env_file(dir, account));
        println!("     source {file:<width$}  # {} {}", account.name, account.id);
    }
    println!("     cargo xtask audit --format json");
    if let Some(management) = accounts.iter().find(|a| a.management) {
        println!(
            "   ({} sets the management account's again.)",
            relative(root, &env_file(dir, management))
        );
    }
    println!(
        "   (The AWS CLI reads AWS_ENDPOINT_URL from v2.13 and v1.29 on.) Emulator log: {}",
        relative(root, log)
    );
    println!("   {}", out.bold(&format!("Stop it with: kill {pid}")));
}
