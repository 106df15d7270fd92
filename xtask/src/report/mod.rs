//! `cargo xtask report`: the organization's view over every account's stored run
//! reports (issue 15). Each account's Lambda stores its JSON report in the organization's
//! report bucket (`reports/account=<id>/date=<YYYY-MM-DD>/<time>.json`); this reads the
//! window's reports, the organization's accounts, and shows per account what was found,
//! changed and failed, which accounts are stale or missing, the totals and a daily trend,
//! as a table, JSON or one self-contained HTML page.
//!
//! The view is `iam_janitor::model::org` (pure, shared with the management account's
//! Lambda); [`aws`] is the only code here that calls AWS; [`render`] is pure.

mod aws;
mod render;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use iam_janitor::cli::{AwsArgs, RegionNeed};
use iam_janitor::model::org::{OrgView, ViewOptions};

use self::aws::Aws;
pub use self::render::Format;
use self::render::Page;

/// `cargo xtask report` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("region", |arg| arg.help(REGION_HELP)))]
pub struct ReportArgs {
    /// The report bucket [default: iam-janitor-reports-<this account>-<region>]
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Days of reports to read, ending today (UTC)
    #[arg(long, value_name = "N", default_value_t = 30, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=400))]
    pub days: u32,
    /// Hours after which an account's latest run is stale (48: two periods of the default daily schedule)
    #[arg(long, value_name = "H", default_value_t = 48, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=9600))]
    pub stale_after_hours: u32,
    /// table (terminal), json (scripts) or html (one self-contained page to share)
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to this file rather than stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten, next_help_heading = "AWS")]
    pub aws: AwsArgs,
}

/// `--region` of report.
const REGION_HELP: &str = "The report bucket's Region (else AWS_REGION or the profile's region)";

/// Why report needs a Region.
const REGION_NEED: RegionNeed =
    RegionNeed::Required("the report bucket lives in one Region, and its default name ends with it");

/// The report bucket's default name: the management account's, in the deployment's Region
/// (the artifact stack's).
pub fn default_bucket(account: &str, region: &str) -> String {
    iam_janitor_cfn::stacks::artifacts::report_bucket_name(account, region)
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let options = ViewOptions {
        days: args.days,
        stale_after: time::Duration::hours(i64::from(args.stale_after_hours)),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let (view, bucket) = runtime.block_on(async {
        let config = args.aws.load(REGION_NEED).await?;
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let aws = Aws::new(&config);
        let bucket = match &args.bucket {
            Some(bucket) => bucket.clone(),
            None => default_bucket(&aws.caller_account().await?, &region),
        };
        let now = time::OffsetDateTime::now_utc();
        let first_day = options.first_day(now);
        let progress = std::io::stderr().is_terminal();

        let organization = match aws.organization_accounts().await {
            Ok(accounts) => Some(accounts),
            Err(why) => {
                eprintln!("note: {why}: no missing accounts are shown");
                None
            }
        };
        let listing = aws.list_reports(&bucket, first_day, progress).await?;
        let (runs, mut rejected) = aws.read_reports(&bucket, &listing.keys, progress).await;
        rejected.extend(listing.rejected);
        let view = OrgView::build(runs, rejected, organization.as_deref(), now, options);
        anyhow::Ok((view, bucket))
    })?;

    let page = Page {
        view: &view,
        bucket: &bucket,
    };
    let text = render::render(&page, args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} ({} accounts, {} runs read)",
                path.display(),
                view.totals.accounts,
                view.totals.runs
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(())
}
