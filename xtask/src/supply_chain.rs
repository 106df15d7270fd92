//! `cargo xtask deny`: the supply-chain check (deny.toml) with a pinned cargo-deny.
//!
//! cargo-deny is built from crates.io into `target/tools` on first use (about two
//! minutes). Licenses, bans and sources need nothing else and run in CI. Advisories need
//! the RustSec advisory database, a Git repository on GitHub that CI cannot reach: pass
//! a local clone with `--advisory-db DIR` and the check runs offline against it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The cargo-deny release the configuration is written for.
pub const CARGO_DENY_VERSION: &str = "0.20.2";

/// Where cargo-deny 0.20 looks for the default database (`https://github.com/RustSec/advisory-db`)
/// under its `db-path`: the directory name is derived from that URL.
const DEFAULT_DB_DIR: &str = "advisory-db-3157b0e258782691";

#[derive(Debug, clap::Args)]
pub struct DenyArgs {
    /// A clone of https://github.com/RustSec/advisory-db: also check advisories, offline
    #[arg(long, value_name = "DIR")]
    pub advisory_db: Option<PathBuf>,
}

/// Builds cargo-deny into `target/tools` unless the pinned version is already there.
pub fn ensure_cargo_deny(root: &Path) -> anyhow::Result<PathBuf> {
    let tools = root.join("target/tools");
    let bin = tools.join("bin/cargo-deny");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if installed.as_deref() == Some(&format!("cargo-deny {CARGO_DENY_VERSION}")) {
        return Ok(bin);
    }
    eprintln!("==> installing cargo-deny {CARGO_DENY_VERSION} into target/tools (once, about two minutes)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
        .args(["install", "--locked", "--quiet", "--root"])
        .arg(&tools)
        .arg(format!("cargo-deny@{CARGO_DENY_VERSION}"))
        .status()
        .context("could not start cargo install")?;
    if !status.success() {
        bail!("cargo install cargo-deny@{CARGO_DENY_VERSION} failed ({status})");
    }
    Ok(bin)
}

pub fn run(args: DenyArgs) -> anyhow::Result<()> {
    let root = iam_janitor_harness::workspace_root();
    let bin = ensure_cargo_deny(&root)?;
    let mut checks = vec!["licenses", "bans", "sources"];
    let mut command = Command::new(&bin);
    command.current_dir(&root);
    if let Some(db) = &args.advisory_db {
        if !db.join("crates").is_dir() {
            bail!(
                "--advisory-db {}: not a clone of the RustSec advisory database (no crates/ directory)",
                db.display()
            );
        }
        // deny.toml with db-path pointing at a directory that holds the clone under the
        // name cargo-deny expects; --offline keeps it from fetching.
        let dir = root.join("target/deny");
        let dbs = dir.join("advisory-dbs");
        std::fs::create_dir_all(&dbs).with_context(|| format!("cannot create {}", dbs.display()))?;
        let link = dbs.join(DEFAULT_DB_DIR);
        let _ = std::fs::remove_file(&link);
        let db = std::fs::canonicalize(db).with_context(|| format!("--advisory-db {}", db.display()))?;
        std::os::unix::fs::symlink(&db, &link).with_context(|| format!("cannot link {}", link.display()))?;
        let config = std::fs::read_to_string(root.join("deny.toml")).context("reading deny.toml")?;
        let config = config.replacen(
            "[advisories]",
            &format!("[advisories]\ndb-path = {:?}", dbs.display().to_string()),
            1,
        );
        let path = dir.join("deny.toml");
        std::fs::write(&path, config).with_context(|| format!("cannot write {}", path.display()))?;
        command.arg("--offline").arg("--config").arg(&path);
        checks.push("advisories");
    }
    command.args(["check", "--hide-inclusion-graph"]).args(&checks);
    eprintln!("==> cargo deny check {}", checks.join(" "));
    let status = command.status().context("could not start cargo-deny")?;
    if !status.success() {
        bail!("cargo deny check {} failed ({status})", checks.join(" "));
    }
    Ok(())
}
