//! `cargo xtask bench`: IAM calls and wall time of `audit` on the emulator.
//!
//! For each account size it seeds users of mixed activity, then measures four runs:
//! report mode, enforce mode (the first real run), an enforce rerun the same day (the
//! idempotence check) and an enforce run the next day. It prints wall time and the IAM
//! calls by action of each. The figures are for comparing runs on one machine, not
//! absolute: the emulator answers in about a millisecond where IAM takes tens (use
//! `--latency-ms` to add a fixed delay per IAM call).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use iam_janitor::cli::{self as audit, AuditArgs};
use iam_janitor::trail;
use iam_janitor_harness::{AdvisorService, Emulator, SeedKey, SeedPassword, SeedUser};
use time::{Duration, OffsetDateTime};

/// A count from `min` to `max`: clap's error names the flag and the range, negative
/// values included.
fn count(min: u64, max: u64) -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser as _;
    clap::value_parser!(u64)
        .range(min..=max)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Account sizes to measure
    #[arg(long, value_delimiter = ',', default_value = "1000,5000", allow_negative_numbers = true,
          value_parser = count(1, 100_000))]
    pub users: Vec<usize>,
    /// Fixed delay added to every IAM call by the emulator, in milliseconds
    #[arg(long, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub latency_ms: u64,
    /// Users processed at once (the engine's --concurrency)
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = count(1, 64))]
    pub concurrency: usize,
    /// Least privilege (Access Advisor jobs for every user): `on` or `off`
    #[arg(long, default_value = "off", value_parser = ["on", "off"])]
    pub least_privilege: String,
    /// Access Advisor jobs at once (the engine's --advisor-concurrency)
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = count(1, 32))]
    pub advisor_concurrency: usize,
    /// Which runs to measure, in this order. `until-done`: enforce runs until the time
    /// budget leaves nothing for the next run (at most 20)
    #[arg(long, value_delimiter = ',', default_value = "report,enforce,rerun,next-day",
          value_parser = ["report", "enforce", "rerun", "next-day", "until-done"])]
    pub runs: Vec<String>,
    /// Seconds each Access Advisor job takes on the emulator (real jobs take seconds)
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = job_secs)]
    pub advisor_job_secs: f64,
    /// The account's IAM request rate on the emulator, per second (0: unlimited)
    #[arg(long, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub request_rate: u64,
    /// The engine's --time-budget, in seconds (0: none)
    #[arg(long, default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub time_budget: u64,
    /// The engine's --iam-rate: IAM requests per second at most
    #[arg(long, default_value_t = 10, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub iam_rate: u64,
    /// Give the engine a state table (least privilege's memory)
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub state_table: String,
}

/// Seconds from 0 to 600: the emulator's bounds for a job's duration.
fn job_secs(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(secs) if (0.0..=600.0).contains(&secs) => Ok(secs),
        _ => Err(format!("{value} is not a number of seconds from 0 to 600")),
    }
}

/// The bench's state table.
const STATE_TABLE: &str = "iam-janitor-bench-state";

#[derive(Debug, Parser)]
struct AuditCli {
    #[command(flatten)]
    args: AuditArgs,
}

/// Deterministic mixed activity: most users active, some dormant in each way.
fn seed_users(n: usize, now: OffsetDateTime) -> Vec<SeedUser> {
    let ago = |d: i64| Some(now - Duration::days(d));
    (0..n)
        .map(|i| {
            let mut user = SeedUser {
                name: format!("bench-user-{i:05}"),
                create_date: ago(800),
                ..SeedUser::default()
            };
            let key = |created: i64, used: Option<i64>| SeedKey {
                create_date: ago(created),
                last_used: used.and_then(ago),
                ..SeedKey::default()
            };
            match i % 20 {
                // 2 in 20: dormant console password.
                0 | 1 => {
                    user.password = Some(SeedPassword {
                        last_changed: ago(700),
                        last_used: ago(200),
                    })
                }
                // 1 in 20: dormant key, never used.
                2 => user.keys = vec![key(300, None)],
                // 1 in 20: two keys, the old one dormant.
                3 => user.keys = vec![key(600, Some(120)), key(10, Some(1))],
                // 1 in 20: warning (idle 80 days).
                4 => user.keys = vec![key(500, Some(80))],
                // 1 in 20: exempt, dormant.
                5 => {
                    user.keys = vec![key(900, None)];
                    user.tags
                        .insert(trail::EXEMPT.to_string(), trail::EXEMPT_VALUE.to_string());
                }
                // The rest: active console and key.
                _ => {
                    user.password = Some(SeedPassword {
                        last_changed: ago(300),
                        last_used: ago((i % 30) as i64),
                    });
                    user.keys = vec![key(400, Some((i % 7) as i64))];
                }
            }
            user
        })
        .collect()
}

struct Measured {
    label: String,
    seconds: f64,
    calls: BTreeMap<String, u64>,
    total: u64,
    dynamodb: u64,
    throttled: u64,
    applied: u64,
    planned: u64,
    failed: u64,
    checked: u64,
    left: u64,
    /// Dormant candidates the budget left for the next run.
    dormant_left: u64,
}

async fn measure(emu: &Emulator, label: String, flags: &[String], now: OffsetDateTime) -> anyhow::Result<Measured> {
    let mut argv = vec!["audit".to_string(), "--format".to_string(), "json".to_string()];
    argv.extend_from_slice(flags);
    let cli = AuditCli::try_parse_from(&argv)?;
    let config = emu.sdk_config().await;
    emu.reset_calls().await?;
    let started = Instant::now();
    let mut out = Vec::new();
    audit::run(&cli.args, &config, now, &mut out)
        .await
        .with_context(|| format!("{label} run failed"))?;
    let seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&out)?;
    let counts = emu.calls().await?;
    let summary = &report["summary"];
    let dormant_left = report["findings"]
        .as_array()
        .map_or(0, |f| f.iter().filter(|f| f["reason_code"] == "time_budget").count()) as u64;
    Ok(Measured {
        label,
        seconds,
        total: counts.total,
        dynamodb: counts.dynamodb.values().sum(),
        throttled: counts.throttled.values().sum(),
        calls: counts.calls,
        applied: summary["applied"].as_u64().unwrap_or(0),
        planned: summary["planned"].as_u64().unwrap_or(0),
        failed: summary["failed"].as_u64().unwrap_or(0),
        checked: summary["users_checked_for_unused_services"].as_u64().unwrap_or(0),
        left: summary["users_left_for_next_run"].as_u64().unwrap_or(0),
        dormant_left,
    })
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        println!(
            "# cargo xtask bench --users {} --latency-ms {} --concurrency {} --least-privilege {} --advisor-concurrency {} --runs {} --advisor-job-secs {} --request-rate {} --time-budget {} --iam-rate {} --state-table {}",
            args.users.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","),
            args.latency_ms,
            args.concurrency,
            args.least_privilege,
            args.advisor_concurrency,
            args.runs.join(","),
            args.advisor_job_secs,
            args.request_rate,
            args.time_budget,
            args.iam_rate,
            args.state_table
        );
        for &n in &args.users {
            let emu = Emulator::start().await?;
            let now = OffsetDateTime::now_utc();
            let started = Instant::now();
            emu.seed(&seed_users(n, now)).await?;
            println!("\n## {n} users (seeded in {:.1} s)", started.elapsed().as_secs_f64());
            if args.least_privilege == "on" {
                // Every user may use four services: one in use, one never used, one
                // unused for 200 days, and sts (never denied).
                let services = [
                    AdvisorService::new("s3", "Amazon S3", Some(now - Duration::days(2))),
                    AdvisorService::new("ec2", "Amazon EC2", None),
                    AdvisorService::new("dynamodb", "Amazon DynamoDB", Some(now - Duration::days(200))),
                    AdvisorService::new("sts", "AWS Security Token Service", None),
                ];
                for i in 0..n {
                    emu.set_access_advisor(&format!("bench-user-{i:05}"), &services).await?;
                }
                // One deny policy per user: an account this size must have raised its
                // customer managed policy quota (1,500 by default, up to 5,000).
                emu.set_policies_quota(5000).await?;
            }
            emu.set_latency_ms(args.latency_ms).await?;
            emu.set_access_advisor_job_duration(args.advisor_job_secs).await?;
            if args.request_rate > 0 {
                let rate = u32::try_from(args.request_rate)?;
                emu.set_request_rate(rate, rate).await?;
            }
            let mut base: Vec<String> = [
                "--concurrency",
                &args.concurrency.to_string(),
                "--least-privilege",
                &args.least_privilege,
                "--advisor-concurrency",
                &args.advisor_concurrency.to_string(),
                "--time-budget",
                &args.time_budget.to_string(),
                "--iam-rate",
                &args.iam_rate.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if args.state_table == "on" {
                emu.create_table(STATE_TABLE, "user_id").await?;
                base.extend(["--state-table".to_string(), STATE_TABLE.to_string()]);
            }
            let enforce: Vec<String> = base
                .iter()
                .cloned()
                .chain(["--enforce".to_string(), "--max-actions".to_string(), (2 * n).to_string()])
                .collect();
            println!(
                "{:<26} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7} {:>8} {:>10} {:>9} {:>9}  calls by action",
                "run", "wall s", "planned", "applied", "failed", "LP done", "LP left", "DC left", "IAM calls", "throttled", "DynamoDB"
            );
            let print = |m: &Measured| {
                let by_action: Vec<String> = m.calls.iter().map(|(a, c)| format!("{a}={c}")).collect();
                println!(
                    "{:<26} {:>8.2} {:>8} {:>8} {:>7} {:>8} {:>7} {:>8} {:>10} {:>9} {:>9}  {}",
                    m.label,
                    m.seconds,
                    m.planned,
                    m.applied,
                    m.failed,
                    m.checked,
                    m.left,
                    m.dormant_left,
                    m.total,
                    m.throttled,
                    m.dynamodb,
                    by_action.join(" ")
                );
            };
            let mut runs = Vec::new();
            for run in &args.runs {
                match run.as_str() {
                    "report" => runs.push(measure(&emu, "report".into(), &base, now).await?),
                    "enforce" => runs.push(measure(&emu, "enforce, first run".into(), &enforce, now).await?),
                    "rerun" => runs.push(measure(&emu, "enforce, same-day rerun".into(), &enforce, now).await?),
                    "until-done" => {
                        // Until every eligible user has been checked once and no
                        // dormant candidate is left.
                        let mut checked = 0;
                        for i in 1..=20 {
                            let m = measure(&emu, format!("enforce, run {i}"), &enforce, now).await?;
                            checked += m.checked;
                            let done = m.dormant_left == 0 && (m.left == 0 || checked >= m.checked + m.left);
                            print(&m);
                            runs.push(m);
                            if done {
                                break;
                            }
                        }
                        continue;
                    }
                    _ => runs.push(measure(&emu, "enforce, next day".into(), &enforce, now + Duration::days(1)).await?),
                }
                if let Some(m) = runs.last() {
                    print(m);
                }
            }
        }
        Ok(())
    })
}
