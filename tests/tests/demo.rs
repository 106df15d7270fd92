//! `cargo xtask demo`, run as a newcomer runs it: the xtask binary as a subprocess, with
//! nothing from the host's AWS configuration. It packages, deploys to a demo organization
//! on the emulator and runs the packaged Lambda in every account; these tests check what
//! it shows and that it leaves nothing running (or, with `--keep`, exactly the emulator,
//! usable as it says).
//!
//! The two tests take turns (each packages and deploys; two cores are enough for one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use iam_janitor_harness::{CommandRun, workspace_root};
use serde_json::Value;

const ACCOUNTS: [&str; 4] = ["management", "prod", "analytics", "sandbox"];
const MEMBERS: [&str; 3] = ["prod", "analytics", "sandbox"];

/// One demo at a time.
static TURN: Mutex<()> = Mutex::new(());

/// The xtask binary, built once per test run.
fn xtask_binary() -> PathBuf {
    iam_janitor_harness::xtask_binary().unwrap()
}

/// `xtask <args>` with no terminal and nothing from the host's AWS or iam-janitor
/// configuration, plus `env`.
fn xtask(args: &[&str], env: &[(String, String)]) -> Run {
    let mut command = Command::new(xtask_binary());
    command.args(args).current_dir(workspace_root()).stdin(Stdio::null());
    iam_janitor_harness::scrub_env(&mut command);
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let started = Instant::now();
    let output = command.output().expect("running xtask");
    CommandRun::new(&format!("xtask {}", args.join(" ")), &output, started.elapsed())
}

type Run = CommandRun;

/// What the demo prints.
trait DemoOutput {
    fn after(&self, prefix: &str, end: char) -> &str;
    fn summary(&self) -> BTreeMap<String, Vec<String>>;
    fn emulator(&self) -> (String, u32);
}

impl DemoOutput for CommandRun {
    /// The text after `prefix` on the first line that has it, up to `end`.
    fn after(&self, prefix: &str, end: char) -> &str {
        let start = self
            .stdout
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{}", self.stdout))
            + prefix.len();
        let rest = &self.stdout[start..];
        &rest[..rest.find(end).unwrap_or(rest.len())]
    }

    /// The summary table: account name → its cells (id, OU, users, findings, applied,
    /// skipped…).
    fn summary(&self) -> BTreeMap<String, Vec<String>> {
        let table = self
            .stdout
            .split_once("Summary\n")
            .unwrap_or_else(|| panic!("no summary in:\n{}", self.stdout))
            .1;
        let mut rows = BTreeMap::new();
        for line in table.lines().skip(1) {
            let cells: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            match cells.split_first() {
                Some((name, rest)) if ACCOUNTS.contains(&name.as_str()) => {
                    rows.insert(name.clone(), rest.to_vec());
                }
                _ => break,
            }
        }
        rows
    }

    /// The emulator's endpoint and PID (`moto on http://127.0.0.1:PORT (pid N)`).
    fn emulator(&self) -> (String, u32) {
        let endpoint = format!("http://127.0.0.1:{}", self.after("moto on http://127.0.0.1:", ' '));
        let pid = self.after(&format!("moto on {endpoint} (pid "), ')').parse().unwrap();
        (endpoint, pid)
    }
}

fn is_12_digits(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Whether `pid` is still one of the processes the demo started (a reused PID runs
/// something else).
fn still_running(pid: u32, what: &[&str]) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    what.iter().any(|w| cmdline.contains(w))
}

#[test]
fn demo_shows_the_whole_product_and_leaves_nothing_running() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let run = xtask(&["demo"], &[]);
    run.assert_ok();
    let out = &run.stdout;

    // Every account, with its ID, in the summary, and a Slack digest for each run.
    let summary = run.summary();
    assert_eq!(
        summary.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut names = ACCOUNTS.to_vec();
            names.sort_unstable();
            names
        },
        "{out}"
    );
    assert_eq!(summary["management"][0], "123456789012");
    let mut ids: Vec<&str> = summary.values().map(|cells| cells[0].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four different accounts: {summary:?}");
    for (name, cells) in &summary {
        let id = &cells[0];
        assert!(is_12_digits(id), "{name}: {cells:?}");
        assert!(
            out.contains(&format!("{name} {id} (")),
            "{name} {id} not introduced:\n{out}"
        );
        // The digests are shown as text (header and sections), not JSON.
        assert!(out.contains(&format!("┌ iam-janitor · {id} · report only")), "{out}");
        assert!(out.contains(&format!("┌ iam-janitor · {id} · enforce")), "{out}");
    }
    assert!(!out.contains("\"blocks\""), "raw Slack JSON in:\n{out}");
    assert!(out.contains("│ Would change ("), "{out}");

    // The deploy reached the three members and the management account, in report mode.
    assert!(
        out.contains("Deployed iam-janitor (report mode) to organization o-"),
        "{out}"
    );
    assert!(out.contains("3 member account(s) through"), "{out}");
    // Who hears of a failed or missed run, and the management account's own mode.
    assert!(out.contains("sent to security@example.com (once confirmed)"), "{out}");
    assert!(out.contains("mode: report in the management account"), "{out}");

    // The scheduled runs changed nothing; the enforce runs changed something in every
    // member account; a rerun changed nothing more.
    for member in MEMBERS {
        let applied: u32 = summary[member][4].parse().unwrap();
        assert!(applied > 0, "nothing applied in {member}: {summary:?}");
    }
    assert!(out.contains("Report mode, nothing was changed"), "{out}");
    assert!(out.contains("nothing left to change in any account"), "{out}");
    // The exempt break-glass user was skipped, and said why.
    assert!(
        out.contains("• break-glass console password: exempt: tag iam-janitor:exempt=true"),
        "{out}"
    );
    assert!(summary["management"][5..].join(" ").contains("exempt"), "{summary:?}");
    // The new user is in grace; the over-privileged one gets a deny policy.
    assert!(out.contains("• intern services"), "{out}");
    assert!(out.contains("grace"), "{out}");
    assert!(out.contains("• dana services [dynamodb, ec2, lambda, rds]"), "{out}");

    // It ends with the organization's view, read back from the reports every run stored
    // in the management account's bucket: every account reporting, each run counted, the
    // changes the enforce runs made, and the same as one HTML page.
    let view = out
        .split_once("The organization's view\n")
        .unwrap_or_else(|| panic!("no organization view in:\n{out}"))
        .1;
    assert!(view.contains("4 of 4 active accounts reporting"), "{view}");
    for (name, cells) in &summary {
        let id = &cells[0];
        let row = view
            .lines()
            .find(|l| l.trim_start().starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{view}"));
        // Three runs each (scheduled, enforce, enforce again); the last column.
        assert_eq!(row.split_whitespace().last(), Some("3"), "{row}");
    }
    let applied: u32 = summary.values().map(|cells| cells[4].parse::<u32>().unwrap()).sum();
    assert!(
        view.contains(&format!("({applied} in the window)")),
        "{applied} changes:\n{view}"
    );
    let html = run.after("no external scripts or fonts): ", '\n').to_string();
    let page = std::fs::read_to_string(workspace_root().join(&html)).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"), "{html}");
    for cells in summary.values() {
        assert!(
            page.contains(&format!("<code>{}</code>", cells[0])),
            "{} not in {html}",
            cells[0]
        );
    }
    // The management account's organization digest, as its schedule invokes it: every
    // account's latest run, shown as it reads in Slack.
    assert!(out.contains("┌ iam-janitor · organization · "), "{out}");
    assert!(out.contains("│ 4 accounts reporting (each one's latest run)"), "{out}");

    // Nothing left running: the emulator's port is closed, and none of the PIDs it
    // reports runs the emulator or a bootstrap any more.
    let (endpoint, emulator_pid) = run.emulator();
    assert!(!port_open(port_of(&endpoint)), "{endpoint} still answers");
    assert!(!still_running(emulator_pid, &["janitor_emulator.py"]));
    let pids = run.after("Lambda runtimes (pids ", ')');
    let pids: Vec<u32> = pids.split(", ").map(|p| p.parse().unwrap()).collect();
    assert_eq!(
        pids.len(),
        5,
        "every account's runs and the organization digest: {pids:?}"
    );
    for pid in pids {
        assert!(!still_running(pid, &["bootstrap"]), "bootstrap {pid} still runs");
    }
    let seconds: f64 = run.after("Done in ", ' ').parse().unwrap();
    eprintln!("the demo took {seconds} s");
}

/// Kills the kept emulator when the test ends, whatever happened.
struct Kill(u32);

impl Drop for Kill {
    fn drop(&mut self) {
        if still_running(self.0, &["janitor_emulator.py"]) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
}

/// The variables a `source`-able env file sets.
fn env_file(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .flat_map(|assignments| assignments.split_whitespace())
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn demo_keep_leaves_the_emulator_usable_as_it_says() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let run = xtask(&["demo", "--keep"], &[]);
    run.assert_ok();
    let (endpoint, pid) = run.emulator();
    let _kill = Kill(pid);
    let out = &run.stdout;
    assert!(out.contains(&format!("Stop it with: kill {pid}")), "{out}");
    assert!(out.contains(&format!("export AWS_ENDPOINT_URL={endpoint}")), "{out}");

    // The emulator outlived the demo.
    assert!(port_open(port_of(&endpoint)), "{endpoint} is not up after --keep");
    assert!(still_running(pid, &["janitor_emulator.py"]));

    // `cargo xtask audit` in a member account, with the env file the demo points to:
    // it sees that account, as the enforce run left it (the key about to go dormant is
    // still a warning; nothing else is left to do).
    let summary = run.summary();
    let prod = &summary["prod"][0];
    let file = out
        .lines()
        .filter_map(|line| line.trim().strip_prefix("source "))
        .find(|line| line.ends_with(&format!("# prod {prod}")))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("no env file for prod ({prod}):\n{out}"));
    let file = workspace_root().join(file);
    let env = env_file(&file);
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(endpoint.as_str()));
    assert!(get("AWS_SESSION_TOKEN").is_some(), "{env:?}");
    let mut with_config = env.clone();
    let nowhere = std::env::temp_dir().join("iam-janitor-demo-test-empty-aws-config");
    std::fs::write(&nowhere, "").unwrap();
    for key in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
        with_config.push((key.to_string(), nowhere.display().to_string()));
    }
    let audit = xtask(&["audit", "--format", "json"], &with_config);
    audit.assert_ok();
    let report: Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(report["account_id"], prod.as_str(), "{report:#}");
    assert_eq!(report["summary"]["planned"], 0, "{report:#}");
    assert_eq!(report["summary"]["warnings"], 1, "{report:#}");

    // Stopped as it says.
    let killed = Command::new("kill").arg(pid.to_string()).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while port_open(port_of(&endpoint)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !port_open(port_of(&endpoint)),
        "{endpoint} still answers after kill {pid}"
    );
}
