//! End-to-end test of `cargo xtask report`: the real CLI, run as a subprocess with the
//! standard AWS environment and `--endpoint-url`, against the emulator, in an
//! organization whose accounts stored their run reports in the report bucket: two recent
//! (one with changes, one with a failure), one stale, one missing, the management
//! account's own, and one object of a schema version this reader does not know.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aws_sdk_s3::primitives::ByteStream;
use iam_janitor::model::report::{
    Action, Finding, Kind, Mode, REPORT_SCHEMA_VERSION, ReasonCode, Report, Status, Summary,
};
use iam_janitor_harness::{CommandRun, Emulator, Organization};
use quick_xml::events::Event;
use time::{Duration, OffsetDateTime};

const REGION: &str = "us-east-1";
const BUCKET: &str = "iam-janitor-reports-123456789012-us-east-1";

fn finding(kind: Kind, action: Action, status: Status, reason_code: ReasonCode) -> Finding {
    Finding {
        user: "alice".to_string(),
        arn: "arn:aws:iam::000000000000:user/alice".to_string(),
        kind,
        access_key_id: None,
        access_key_slot: Some(1),
        credential_id: None,
        credential_slot: None,
        last_used: None,
        idle_days: Some(200),
        action,
        status,
        reason: "idle".to_string(),
        reason_code,
        services: None,
    }
}

fn report(account: &str, at: OffsetDateTime, mode: Mode, findings: Vec<Finding>) -> Vec<u8> {
    let mut report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        account_id: Some(account.to_string()),
        generated_at: at,
        enforce: mode == Mode::Enforce,
        mode,
        credential_report_generated_at: Some(at),
        dormant_days: 90,
        warn_days: 14,
        findings,
        rejected_rows: Vec::new(),
        suspicious_tags: Vec::new(),
        not_checked: Vec::new(),
        not_stored: None,
        summary: Summary {
            users_evaluated: 25,
            ..Summary::default()
        },
    };
    report.recount();
    serde_json::to_vec(&report).unwrap()
}

/// The key the Lambda stores a run under.
fn key(account: &str, started: OffsetDateTime) -> String {
    iam_janitor::model::org::report_key(account, started)
}

async fn xtask(endpoint: &str, args: &[&str]) -> CommandRun {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("report")
        .args(args)
        .args(["--endpoint-url", endpoint])
        .stdin(Stdio::null());
    // Empty AWS config and credentials files: nothing from ~/.aws.
    let nowhere = std::env::temp_dir().join("iam-janitor-report-tests-empty-aws-config");
    std::fs::write(&nowhere, "").unwrap();
    iam_janitor_harness::emulator_client_env(command.as_std_mut(), endpoint, REGION, &nowhere).env("RUST_LOG", "warn");
    let started = std::time::Instant::now();
    let output = command.output().await.unwrap();
    CommandRun::new(&format!("xtask report {}", args.join(" ")), &output, started.elapsed())
}

/// The page's account table: the first cell of each body row, after checking that the
/// whole page is well-formed XML.
fn table_accounts(html: &str) -> (Vec<String>, usize) {
    let mut reader = quick_xml::Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let (mut in_body, mut in_first_cell, mut cell) = (false, false, 0);
    let (mut accounts, mut svgs) = (Vec::new(), 0);
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not well-formed: {e}")) {
            Event::Start(e) => match e.name().as_ref() {
                b"tbody" => in_body = true,
                b"tr" if in_body => cell = 0,
                b"td" if in_body => {
                    cell += 1;
                    in_first_cell = cell == 1;
                }
                b"svg" => svgs += 1,
                _ => {}
            },
            Event::End(e) => match e.name().as_ref() {
                b"tbody" => in_body = false,
                b"td" => in_first_cell = false,
                _ => {}
            },
            Event::Text(t) if in_first_cell => accounts.push(t.decode().unwrap().into_owned()),
            Event::Eof => break,
            _ => {}
        }
    }
    (accounts, svgs)
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("iam-janitor-report-{name}-{}", std::process::id()))
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organizations_view_flags_stale_and_missing_accounts_in_every_format() {
    let emu = Emulator::start().await.unwrap();
    let org = Organization::builder()
        .account("prod", "workloads")
        .account("payments", "workloads")
        .account("sandbox", "sandbox")
        .account("dev", "sandbox")
        .create(&emu)
        .await
        .unwrap();
    let (prod, payments, sandbox, dev) = (
        org.account_id("prod").unwrap(),
        org.account_id("payments").unwrap(),
        org.account_id("sandbox").unwrap(),
        org.account_id("dev").unwrap(),
    );
    let management = org.management_account.as_str();
    let config = emu.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let now = OffsetDateTime::now_utc();
    let hours = |h: i64| now - Duration::hours(h);
    let applied = || {
        finding(
            Kind::AccessKey,
            Action::DeactivateAccessKey,
            Status::Applied,
            ReasonCode::Dormant,
        )
    };
    // prod: yesterday's run changed three keys, today's two (its latest).
    put(
        &s3,
        &key(prod, hours(26)),
        report(prod, hours(26), Mode::Enforce, vec![applied(), applied(), applied()]),
    )
    .await;
    put(
        &s3,
        &key(prod, hours(2)),
        report(prod, hours(2), Mode::Enforce, vec![applied(), applied()]),
    )
    .await;
    // payments: one change failed.
    let failed = finding(
        Kind::ConsolePassword,
        Action::DeleteLoginProfile,
        Status::Failed,
        ReasonCode::WriteFailed,
    );
    put(
        &s3,
        &key(payments, hours(3)),
        report(payments, hours(3), Mode::Enforce, vec![failed]),
    )
    .await;
    // sandbox: last report three days ago.
    put(
        &s3,
        &key(sandbox, hours(72)),
        report(sandbox, hours(72), Mode::Enforce, vec![applied()]),
    )
    .await;
    // dev: only a report before the window (as good as none).
    put(
        &s3,
        &key(dev, hours(24 * 40)),
        report(dev, hours(24 * 40), Mode::Enforce, Vec::new()),
    )
    .await;
    // the management account reports only.
    let planned = finding(
        Kind::AccessKey,
        Action::DeactivateAccessKey,
        Status::Planned,
        ReasonCode::Dormant,
    );
    put(
        &s3,
        &key(management, hours(4)),
        report(management, hours(4), Mode::Report, vec![planned]),
    )
    .await;
    // a report of a later schema version: listed, not counted.
    let future_key = key(payments, hours(1));
    put(
        &s3,
        &future_key,
        br#"{"schema_version": 2, "account_id": null}"#.to_vec(),
    )
    .await;

    let endpoint = emu.endpoint();

    // JSON: the counts and the flags.
    let run = xtask(&endpoint, &["--format", "json"]).await;
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        json["bucket"], BUCKET,
        "the default bucket: the caller's account and Region"
    );
    let totals = &json["totals"];
    assert_eq!(totals["organization_accounts"], 5);
    assert_eq!(totals["accounts_reporting"], 4);
    assert_eq!(
        (totals["stale"].as_u64(), totals["missing"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(totals["changed"], 3, "prod's latest 2 and sandbox's 1");
    assert_eq!(totals["changed_in_window"], 6);
    assert_eq!(totals["failed"], 1);
    assert_eq!(totals["dormant_found"], 5, "2 + 1 + 1 + 1 planned");
    assert_eq!(totals["runs"], 5, "the run before the window is not read");
    let row = |id: &str| {
        json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account_id"] == id)
            .unwrap_or_else(|| panic!("no row for {id}"))
            .clone()
    };
    assert_eq!(row(prod)["latest"]["changed"], 2);
    assert_eq!(row(prod)["runs_in_window"], 2);
    assert_eq!(row(prod)["name"], "prod");
    assert_eq!(row(payments)["flags"], serde_json::json!(["failed"]));
    assert_eq!(row(sandbox)["flags"], serde_json::json!(["stale"]));
    assert_eq!(row(dev)["flags"], serde_json::json!(["missing"]));
    assert_eq!(row(management)["latest"]["mode"], "report");
    let order: Vec<&str> = json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(&order[..3], [payments, sandbox, dev], "attention first");
    assert_eq!(json["rejected"][0]["key"], future_key.as_str());
    assert!(
        json["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("schema_version 2")
    );

    // The table.
    let run = xtask(&endpoint, &["--days", "7"]).await;
    run.assert_ok();
    let text = &run.stdout;
    assert!(
        text.contains(&format!(
            "stale (no run for more than 48 hours): 1\n  sandbox ({sandbox}): last run"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("missing (no report in the window): 1\n  dev ({dev})")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "failed (a change failed in the latest run): 1\n  payments ({payments})"
        )),
        "{text}"
    );
    assert!(text.contains(&future_key), "{text}");

    // HTML, to a file: it parses, with every account in the table and the chart.
    let dir = scratch("html");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.html");
    let run = xtask(&endpoint, &["--format", "html", "--output", path(&file)]).await;
    run.assert_ok();
    assert!(run.stdout.is_empty(), "the page goes to the file");
    let html = std::fs::read_to_string(&file).unwrap();
    let (mut accounts, svgs) = table_accounts(&html);
    accounts.sort();
    let mut expected = vec![prod, payments, sandbox, dev, management];
    expected.sort();
    assert_eq!(accounts, expected);
    assert_eq!(svgs, 1);
    assert!(html.contains(BUCKET));
    std::fs::remove_dir_all(&dir).unwrap();

    // A bucket that does not exist is named, with what to do.
    let run = xtask(&endpoint, &["--bucket", "iam-janitor-reports-nosuch"]).await;
    run.assert_failed("the report bucket iam-janitor-reports-nosuch does not exist");
    assert!(run.stderr.contains("--bucket NAME"), "{}", run.stderr);

    // A window out of range names the flag and the value.
    let run = xtask(&endpoint, &["--days", "401"]).await;
    run.assert_failed("401");
    assert!(run.stderr.contains("--days"), "{}", run.stderr);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
