//! Enforce runs while the emulator throttles, answers 5xx, and drops connections
//! before or after a request takes effect, on a seeded fraction of IAM calls.
//!
//! After every run: each user is, credential by credential, either as seeded or as a
//! fault-free run leaves it (nothing changed that should not be); everything the report
//! calls applied is done; nothing changed without a finding saying so. Repeated runs
//! converge to the fault-free final state, after which a fault-free run changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::config::Credentials;
use common::{UserState, days_ago};
use iam_janitor::cli as audit;
use iam_janitor_harness::{AdvisorService, Chaos, ChaosKind, Emulator, SeedKey, SeedPassword, SeedUser};
use serde_json::Value;

const USERS: usize = 48;
/// The engine's credentials: chaos applies to them only, the test reads state with others.
const ENGINE_KEY: &str = "AKIAENGINEUNDERTEST0";
const FLAGS: &[&str] = &["--enforce", "--least-privilege", "on", "--max-actions", "200"];

fn name(i: usize) -> String {
    format!("user-{i:02}")
}

fn svc(ns: &str, days: Option<i64>) -> AdvisorService {
    AdvisorService::new(ns, format!("Service {ns}"), days.map(days_ago))
}

/// Eight kinds of users, six of each.
fn users() -> Vec<SeedUser> {
    (0..USERS)
        .map(|i| {
            let u = SeedUser::new(name(i)).created(days_ago(400));
            let dormant_password = || SeedPassword::new().changed(days_ago(400)).used(days_ago(200));
            let dormant_key = || SeedKey::new().created(days_ago(400)).used(days_ago(200));
            match i % 8 {
                0 => u.with_password(dormant_password()),
                1 => u
                    .with_key(dormant_key())
                    .with_key(SeedKey::new().created(days_ago(300)).used(days_ago(1))),
                2 => u.with_password(dormant_password()).with_key(dormant_key()),
                3 => u
                    .with_password(SeedPassword::new().changed(days_ago(400)).used(days_ago(1)))
                    .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(2))),
                4 => u.tag("iam-janitor:exempt", "true").with_key(dormant_key()),
                // Least privilege only (a key in use).
                5 => u.with_key(SeedKey::new().created(days_ago(400)).used(days_ago(3))),
                // Close to the limit: a warning, no change.
                6 => u.with_key(SeedKey::new().created(days_ago(400)).used(days_ago(85))),
                // A dormant password, and least privilege for the key still in use.
                _ => u
                    .with_password(dormant_password())
                    .with_key(SeedKey::new().created(days_ago(400)).used(days_ago(3))),
            }
        })
        .collect()
}

async fn seed(emu: &Emulator) {
    emu.reset().await.unwrap();
    emu.seed(&users()).await.unwrap();
    for i in (0..USERS).filter(|i| i % 8 == 5 || i % 8 == 7) {
        emu.set_access_advisor(
            &name(i),
            &[
                svc("s3", Some(2)),
                svc("ec2", None),
                svc("rds", Some(200)),
                svc("sts", None),
            ],
        )
        .await
        .unwrap();
    }
}

fn names() -> Vec<String> {
    (0..USERS).map(name).collect()
}

async fn state(emu: &Emulator) -> BTreeMap<String, UserState> {
    let names = names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    common::state(emu, &refs)
        .await
        .into_iter()
        // A retried CreatePolicyVersion may leave one more version: the document counts.
        .map(|(u, mut s)| {
            if let Some((_, versions)) = s.deny_policy.as_mut() {
                *versions = 0;
            }
            (u, s)
        })
        .collect()
}

/// One enforce run with the engine's credentials: `Ok(report)` if the account was
/// evaluated, `Err` if not.
async fn enforce(emu: &Emulator) -> Result<(i32, Value), String> {
    let credentials = Credentials::new(ENGINE_KEY, "engine-secret", None, None, "faults-test");
    common::audit_result(&emu.sdk_config_as(credentials).await, FLAGS).await
}

/// Every credential of `now` is as `before` or as `reference` has it.
fn only_intended_changes(before: &UserState, now: &UserState, reference: &UserState, what: &str) {
    assert!(
        now.login_profile == before.login_profile || now.login_profile == reference.login_profile,
        "{what}: console"
    );
    assert_eq!(now.key_statuses.len(), before.key_statuses.len(), "{what}");
    for (k, status) in now.key_statuses.iter().enumerate() {
        assert!(
            *status == before.key_statuses[k] || *status == reference.key_statuses[k],
            "{what}: key {k} is {status}"
        );
    }
    assert!(
        now.attached == before.attached || now.attached == reference.attached,
        "{what}: attached {:?}",
        now.attached
    );
    assert!(
        now.deny_policy == before.deny_policy || now.deny_policy == reference.deny_policy,
        "{what}: deny policy {:?}",
        now.deny_policy
    );
    let recorded: BTreeSet<String> = now
        .audit_tags
        .iter()
        .map(|t| t.trim_end_matches("=not-done").to_string())
        .collect();
    assert!(
        recorded.is_subset(&reference.audit_tags),
        "{what}: tags {:?}",
        now.audit_tags
    );
    // Every change made is recorded as done (restore reads these records).
    if before.login_profile && !now.login_profile {
        assert!(
            now.audit_tags.contains("iam-janitor:console-disabled"),
            "{what}: {now:?}"
        );
    }
    let deactivated = before
        .key_statuses
        .iter()
        .zip(&now.key_statuses)
        .any(|(b, n)| b == "Active" && n == "Inactive");
    if deactivated {
        assert!(
            now.audit_tags.contains("iam-janitor:key-disabled:<id>"),
            "{what}: {now:?}"
        );
    }
}

#[tokio::test]
async fn enforce_runs_under_faults_converge_to_the_fault_free_result() {
    let emu = Emulator::start().await.unwrap();

    // The reference: a fault-free run.
    seed(&emu).await;
    let initial = state(&emu).await;
    let (code, report) = enforce(&emu).await.unwrap();
    assert_eq!(code, 0, "{report:#}");
    let reference = state(&emu).await;
    let changed: BTreeSet<&String> = initial.keys().filter(|u| initial[*u] != reference[*u]).collect();
    assert_eq!(
        changed.len(),
        6 * 5,
        "the fault-free run changed users of kinds 0, 1, 2, 5, 7"
    );

    for seed_value in [1u64, 2, 3] {
        seed(&emu).await;
        emu.set_chaos(&Chaos {
            seed: seed_value,
            fraction: 0.45,
            kinds: ChaosKind::ALL.to_vec(),
            actions: vec![],
            access_key: Some(ENGINE_KEY.to_string()),
        })
        .await
        .unwrap();
        let mut runs = 0;
        let mut partial_runs = 0;
        loop {
            runs += 1;
            let before = state(&emu).await;
            if runs > 10 {
                let left: Vec<_> = names()
                    .into_iter()
                    .filter(|u| before[u] != reference[u])
                    .map(|u| format!("{u}: {:?} (fault-free: {:?})", before[&u], reference[&u]))
                    .collect();
                panic!("seed {seed_value}: no convergence after 10 runs: {left:#?}");
            }
            let outcome = enforce(&emu).await;
            let now = state(&emu).await;
            for u in names() {
                only_intended_changes(
                    &initial[&u],
                    &now[&u],
                    &reference[&u],
                    &format!("seed {seed_value}, run {runs}, {u}"),
                );
            }
            let (code, report) = match outcome {
                Err(e) => {
                    // Not evaluated (e.g. the credential report could not be read): no write.
                    assert_eq!(now, before, "seed {seed_value}, run {runs}: {e}");
                    continue;
                }
                Ok(r) => r,
            };
            let findings = report["findings"].as_array().unwrap();
            for u in names() {
                let of_user: Vec<&Value> = findings.iter().filter(|f| f["user"] == u.as_str()).collect();
                if now[&u] != before[&u] {
                    assert!(
                        of_user
                            .iter()
                            .any(|f| f["status"] == "applied" || f["status"] == "failed"),
                        "seed {seed_value}, run {runs}: {u} changed without a finding saying so: {of_user:#?}"
                    );
                }
                for f in &of_user {
                    if f["status"] != "applied" {
                        continue;
                    }
                    let done = match f["action"].as_str().unwrap() {
                        "delete_login_profile" => !now[&u].login_profile,
                        "deactivate_access_key" => now[&u].key_statuses == reference[&u].key_statuses,
                        "attach_deny_policy" => {
                            now[&u].attached == reference[&u].attached
                                && now[&u].deny_policy == reference[&u].deny_policy
                        }
                        other => panic!("unexpected action {other}"),
                    };
                    assert!(
                        done,
                        "seed {seed_value}, run {runs}: reported applied but not done: {f:#}"
                    );
                    let tag = match f["action"].as_str().unwrap() {
                        "delete_login_profile" => Some("iam-janitor:console-disabled"),
                        "deactivate_access_key" => Some("iam-janitor:key-disabled:<id>"),
                        _ => None,
                    };
                    if let Some(tag) = tag {
                        assert!(
                            now[&u].audit_tags.contains(tag),
                            "seed {seed_value}, run {runs}: applied without its audit tag: {f:#}"
                        );
                    }
                }
            }
            if code != 0 {
                assert_eq!(code, audit::EXIT_PARTIAL, "{report:#}");
                partial_runs += 1;
            }
            // Converged: the fault-free result. (Runs may still report failures, e.g.
            // Access Advisor reads of users with nothing to change.)
            if now == reference {
                break;
            }
            for f in findings.iter().filter(|f| f["status"] == "failed") {
                eprintln!(
                    "seed {seed_value}, run {runs}: {} {}: {}",
                    f["user"], f["action"], f["reason"]
                );
            }
        }
        let injected = emu.stop_chaos().await.unwrap();
        eprintln!("seed {seed_value}: {runs} runs ({partial_runs} partial), faults injected: {injected:?}");
        assert!(
            ChaosKind::ALL.iter().all(|k| injected.get(k).copied().unwrap_or(0) > 0),
            "every kind of fault was injected: {injected:?}"
        );
        assert_eq!(
            state(&emu).await,
            reference,
            "seed {seed_value}: converged to the fault-free result"
        );

        // And then a run without faults has nothing left to do.
        emu.reset_calls().await.unwrap();
        let (code, report) = enforce(&emu).await.unwrap();
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(common::writes(&emu.calls().await.unwrap().calls), 0, "{report:#}");
    }
}

/// Every answer to a write is lost after the write took effect (and every retry's
/// answer too): the engine looks before it reports, so the run reports every change as
/// made, exactly as a fault-free run, and the state is the fault-free state.
#[tokio::test]
async fn writes_whose_answers_are_lost_are_confirmed_on_re_read() {
    let emu = Emulator::start().await.unwrap();
    seed(&emu).await;
    let (code, reference_report) = enforce(&emu).await.unwrap();
    assert_eq!(code, 0, "{reference_report:#}");
    let reference = state(&emu).await;

    seed(&emu).await;
    emu.set_chaos(&Chaos {
        seed: 7,
        fraction: 1.0,
        kinds: vec![ChaosKind::DropAfter],
        actions: [
            "TagUser",
            "DeleteLoginProfile",
            "UpdateAccessKey",
            "CreatePolicy",
            "AttachUserPolicy",
        ]
        .map(String::from)
        .to_vec(),
        access_key: Some(ENGINE_KEY.to_string()),
    })
    .await
    .unwrap();
    let (code, report) = enforce(&emu).await.unwrap();
    let injected = emu.stop_chaos().await.unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert!(injected[&ChaosKind::DropAfter] > 0);
    assert_eq!(state(&emu).await, reference);
    assert_eq!(
        report["summary"]["applied"], reference_report["summary"]["applied"],
        "{report:#}"
    );
    let confirmed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"].as_str().unwrap().contains("confirmed on re-read"))
        .count();
    assert!(confirmed > 0, "{report:#}");
}
