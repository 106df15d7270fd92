#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The per-user step functions on every path, without I/O: confirmation (each read asked
//! for in turn), the audit trail, and each write's answer, lost or not.

use super::*;
use crate::dormant::compact::Room;
use crate::model::report::{Action, Kind, ReasonCode};
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-21 12:00:00 UTC);
const KEY: &str = "AKIAEXAMPLEKEY000001";

fn days_ago(d: i64) -> OffsetDateTime {
    NOW - Duration::days(d)
}

fn enforce() -> Settings {
    Settings {
        mode: Mode::Enforce,
        ..Settings::default()
    }
}

fn error(code: Option<&str>) -> AwsError {
    AwsError {
        operation: "Op",
        code: code.map(str::to_string),
        message: "it went wrong".to_string(),
    }
}

fn finding(kind: Kind, action: Action, slot: Option<u8>) -> Finding {
    Finding {
        user: "bob".to_string(),
        arn: "arn:aws:iam::111122223333:user/bob".to_string(),
        kind,
        access_key_id: None,
        access_key_slot: slot,
        credential_id: None,
        credential_slot: None,
        last_used: Some(days_ago(200)),
        idle_days: Some(200),
        action,
        status: Status::Planned,
        reason: "idle 200 days".to_string(),
        reason_code: ReasonCode::Dormant,
        services: None,
    }
}

/// A console password last used 200 days ago (dormant at 90).
fn console() -> Planned {
    Planned {
        finding: finding(Kind::ConsolePassword, Action::DeleteLoginProfile, None),
        credential: Credential::Console,
        facts: CredentialFacts {
            last_used: Some(days_ago(200)),
            baseline: days_ago(400),
        },
        user_created: days_ago(1000),
    }
}

/// Key 1, created 400 days ago, last used 200 days ago.
fn key() -> Planned {
    Planned {
        finding: finding(Kind::AccessKey, Action::DeactivateAccessKey, Some(1)),
        credential: Credential::AccessKey {
            slot: 1,
            created: days_ago(400),
        },
        facts: CredentialFacts {
            last_used: Some(days_ago(200)),
            baseline: days_ago(400),
        },
        user_created: days_ago(1000),
    }
}

/// The report's user (created 1000 days ago), whose password was last used then.
fn live_user(password_last_used: Option<OffsetDateTime>) -> LiveUser {
    LiveUser {
        created: days_ago(1000),
        password_last_used,
    }
}

fn live_key(active: bool) -> LiveKey {
    LiveKey {
        id: KEY.to_string(),
        active,
        created: days_ago(400),
    }
}

/// Runs confirmation against fixed answers, returning the verdict and the reads asked for.
fn confirm_with(item: &Planned, answers: &Live) -> (Confirmed, Vec<Read>) {
    let mut live = Live::default();
    let mut reads = Vec::new();
    loop {
        match confirm(item, &live, &enforce(), NOW) {
            Ok(verdict) => return (verdict, reads),
            Err(read) => {
                assert!(!reads.contains(&read), "{read:?} asked for twice");
                match &read {
                    Read::LoginProfile => live.login_profile = answers.login_profile.clone(),
                    Read::User => live.user = answers.user.clone(),
                    Read::Tags => live.tags = answers.tags.clone(),
                    Read::Certificates => live.certificates = answers.certificates.clone(),
                    Read::ServiceCredentials => live.service_credentials = answers.service_credentials.clone(),
                    Read::SshKeys => live.ssh_keys = answers.ssh_keys.clone(),
                    Read::AccessKeys => live.keys = answers.keys.clone(),
                    Read::KeyLastUsed(id) => {
                        live.key_last_used
                            .insert(id.clone(), answers.key_last_used.get(id).cloned().unwrap());
                    }
                }
                reads.push(read);
            }
        }
    }
}

#[test]
fn a_console_password_still_dormant_is_confirmed_after_two_reads() {
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Ok(live_user(Some(days_ago(150))))),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&console(), &answers);
    assert_eq!(reads, [Read::LoginProfile, Read::User]);
    assert_eq!(
        verdict,
        Confirmed::Dormant {
            id: None,
            idle_days: 150,
            last_used: Some(days_ago(150)),
        }
    );
}

#[test]
fn a_password_already_deleted_is_skipped_without_reading_its_last_use() {
    let answers = Live {
        login_profile: Some(Ok(None)),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&console(), &answers);
    assert_eq!(reads, [Read::LoginProfile]);
    assert_eq!(
        verdict,
        Confirmed::Skip(ReasonCode::AlreadyDone, "login profile already deleted".to_string())
    );
}

#[test]
fn a_credential_used_since_the_report_is_no_longer_dormant() {
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Ok(live_user(Some(days_ago(3))))),
        ..Live::default()
    };
    let (verdict, _) = confirm_with(&console(), &answers);
    let Confirmed::Skip(ReasonCode::UsedSinceReport, why) = verdict else {
        panic!("{verdict:?}")
    };
    assert!(why.starts_with("console password used since the credential report: live data says idle 3 days"));

    let answers = Live {
        keys: Some(Ok(vec![live_key(true)])),
        key_last_used: BTreeMap::from([(KEY.to_string(), Ok(Some(days_ago(1))))]),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&key(), &answers);
    assert_eq!(reads, [Read::AccessKeys, Read::KeyLastUsed(KEY.to_string())]);
    let Confirmed::Skip(ReasonCode::UsedSinceReport, why) = verdict else {
        panic!("{verdict:?}")
    };
    assert!(
        why.contains(&format!("access key {KEY} used since the credential report")),
        "{why}"
    );
}

#[test]
fn a_report_older_than_the_live_data_never_makes_a_credential_look_idler() {
    // The live last use is older than the report's (or unknown): the report's stands.
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Ok(live_user(None))),
        ..Live::default()
    };
    let (verdict, _) = confirm_with(&console(), &answers);
    assert!(
        matches!(verdict, Confirmed::Dormant { idle_days: 200, .. }),
        "{verdict:?}"
    );
}

#[test]
fn a_user_deleted_since_the_report_is_skipped_and_failed_reads_fail() {
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Err(error(Some("NoSuchEntity")))),
        ..Live::default()
    };
    assert_eq!(
        confirm_with(&console(), &answers).0,
        Confirmed::Skip(ReasonCode::Gone, "user no longer exists".to_string())
    );
    let answers = Live {
        login_profile: Some(Err(error(Some("AccessDenied")))),
        ..Live::default()
    };
    assert_eq!(
        confirm_with(&console(), &answers).0,
        Confirmed::Failed("Op failed: AccessDenied: it went wrong".to_string())
    );
    let answers = Live {
        keys: Some(Err(error(None))),
        ..Live::default()
    };
    assert_eq!(
        confirm_with(&key(), &answers).0,
        Confirmed::Failed("Op failed: it went wrong".to_string())
    );
}

#[test]
fn keys_already_done_or_gone_are_skipped() {
    let inactive = Live {
        keys: Some(Ok(vec![live_key(false)])),
        ..Live::default()
    };
    assert_eq!(
        confirm_with(&key(), &inactive).0,
        Confirmed::Skip(ReasonCode::AlreadyDone, format!("access key {KEY} is already inactive"))
    );
    // Another key (rotated since the report): matched by creation time, so not this one.
    let rotated = Live {
        keys: Some(Ok(vec![LiveKey {
            created: days_ago(2),
            ..live_key(true)
        }])),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&key(), &rotated);
    assert_eq!(reads, [Read::AccessKeys]);
    let Confirmed::Skip(ReasonCode::Gone, why) = verdict else {
        panic!("{verdict:?}")
    };
    assert!(why.contains("no longer exists; not changed"), "{why}");
}

#[test]
fn a_verdict_marks_the_finding_and_says_whether_to_change() {
    let dormant = Confirmed::Dormant {
        id: Some(KEY.to_string()),
        idle_days: 201,
        last_used: Some(days_ago(201)),
    };
    let mut item = key();
    assert!(take_verdict(&mut item, dormant.clone(), true));
    assert_eq!(item.finding.access_key_id.as_deref(), Some(KEY));
    assert_eq!(item.finding.idle_days, Some(201));
    assert_eq!(item.finding.status, Status::Planned);

    // Report mode: confirmed, not changed.
    let mut item = key();
    assert!(!take_verdict(&mut item, dormant, false));
    assert_eq!(item.finding.reason, "idle 200 days (confirmed on live data)");
    assert_eq!(item.finding.status, Status::Planned);

    let mut item = console();
    assert!(!take_verdict(
        &mut item,
        Confirmed::Skip(ReasonCode::Gone, "gone".into()),
        true
    ));
    assert_eq!(
        (item.finding.status, item.finding.reason.as_str()),
        (Status::Skipped, "gone")
    );
    assert_eq!(item.finding.reason_code, ReasonCode::Gone);

    let mut item = console();
    assert!(!take_verdict(&mut item, Confirmed::Failed("boom".into()), true));
    assert_eq!(item.finding.status, Status::Failed);
    assert_eq!(item.finding.reason, "live confirmation failed, not changed: boom");
    assert_eq!(item.finding.reason_code, ReasonCode::ConfirmationFailed);

    // A key confirmed without an ID cannot be changed.
    let mut item = key();
    let no_id = Confirmed::Dormant {
        id: None,
        idle_days: 201,
        last_used: None,
    };
    assert!(!take_verdict(&mut item, no_id, true));
    assert_eq!(item.finding.status, Status::Failed);
    assert!(item.finding.reason.starts_with("no key ID resolved, not changed"));
    assert_eq!(item.finding.reason_code, ReasonCode::NoKeyId);
}

#[test]
fn records_come_first_one_per_credential_and_a_lost_answer_is_re_read() {
    let mut k = key();
    k.finding.access_key_id = Some(KEY.to_string());
    let c = console();
    let records = trail_records(&[&c.finding, &k.finding], NOW);
    assert_eq!(
        records,
        [
            Tag {
                key: "iam-janitor:console-disabled".into(),
                value: "2026-11-21T12:00:00Z".into()
            },
            Tag {
                key: format!("iam-janitor:key-disabled:{KEY}"),
                value: "2026-11-21T12:00:00Z".into()
            },
        ]
    );
    // TagUser's answer was lost: the re-read decides.
    let mut live = records.clone();
    live.push(Tag {
        key: "team".into(),
        value: "x".into(),
    });
    assert!(records_written(&records, &Ok(live)));
    assert!(!records_written(&records, &Ok(records[..1].to_vec())));
    assert!(!records_written(&records, &Err(error(None))));
}

#[test]
fn when_the_trail_tag_fails_nothing_is_changed() {
    let mut item = console();
    trail_failed(&mut item.finding, &error(Some("ServiceFailure")));
    assert_eq!(item.finding.status, Status::Failed);
    assert_eq!(
        item.finding.reason,
        "the audit-trail tag could not be written, not changed: Op failed: ServiceFailure: it went wrong (idle 200 days)"
    );
    assert_eq!(item.finding.reason_code, ReasonCode::TrailFailed);
}

#[test]
fn each_confirmed_credential_has_its_write_and_its_re_read() {
    assert_eq!(write_of(&console()), Some(Write::DeleteLoginProfile));
    assert_eq!(write_of(&key()), None);
    let mut k = key();
    k.finding.access_key_id = Some(KEY.to_string());
    let write = write_of(&k).unwrap();
    assert_eq!(write, Write::DeactivateKey(KEY.to_string()));
    assert_eq!(reread_of(&write), Read::AccessKeys);
    assert_eq!(reread_of(&Write::DeleteLoginProfile), Read::LoginProfile);

    let keys = |active| Live {
        keys: Some(Ok(vec![live_key(active)])),
        ..Live::default()
    };
    assert_eq!(in_effect(&write, &keys(false)), Some(Ok(true)));
    assert_eq!(in_effect(&write, &keys(true)), Some(Ok(false)));
    let profile = |has| Live {
        login_profile: Some(Ok(has)),
        ..Live::default()
    };
    assert_eq!(in_effect(&Write::DeleteLoginProfile, &profile(None)), Some(Ok(true)));
    assert_eq!(
        in_effect(&Write::DeleteLoginProfile, &profile(Some(days_ago(5)))),
        Some(Ok(false))
    );
    assert_eq!(in_effect(&Write::DeleteLoginProfile, &Live::default()), None);
}

#[test]
fn a_write_that_succeeds_is_applied() {
    let mut f = console().finding;
    assert_eq!(settle(&mut f, &Ok(Some(Deleted::Deleted)), None, NOW), Settled::Applied);
    assert_eq!((f.status, f.reason.as_str()), (Status::Applied, "idle 200 days"));
    assert_eq!(f.reason_code, ReasonCode::Dormant);
}

#[test]
fn a_delete_retried_after_its_first_attempt_took_effect_is_applied_and_says_so() {
    let mut f = console().finding;
    assert_eq!(
        settle(&mut f, &Ok(Some(Deleted::AlreadyGone)), None, NOW),
        Settled::Applied
    );
    assert_eq!(f.status, Status::Applied);
    assert!(f.reason.contains("an earlier attempt took effect"), "{}", f.reason);
}

#[test]
fn an_answer_lost_then_re_read_as_applied_is_applied() {
    let mut f = console().finding;
    let settled = settle(&mut f, &Err(error(None)), Some(Ok(true)), NOW);
    assert_eq!(settled, Settled::Applied);
    assert_eq!(f.status, Status::Applied);
    assert_eq!(
        f.reason,
        "idle 200 days (confirmed on re-read after: Op failed: it went wrong)"
    );
}

#[test]
fn an_answer_lost_then_re_read_as_not_done_fails_and_marks_its_record_not_done() {
    let mut f = key().finding;
    f.access_key_id = Some(KEY.to_string());
    let settled = settle(&mut f, &Err(error(Some("ServiceFailure"))), Some(Ok(false)), NOW);
    assert_eq!(
        settled,
        Settled::NotDone(Tag {
            key: format!("iam-janitor:key-disabled:{KEY}"),
            value: "not-done 2026-11-21T12:00:00Z".to_string(),
        })
    );
    assert_eq!(f.status, Status::Failed);
    assert_eq!(f.reason, "Op failed: ServiceFailure: it went wrong (idle 200 days)");
    assert_eq!(f.reason_code, ReasonCode::WriteFailed);

    // And if the not-done record cannot be written either, the finding says so.
    not_done_failed(&mut f, &error(Some("Throttling")));
    assert!(
        f.reason
            .ends_with("; its audit-trail tag still records the change: Op failed: Throttling: it went wrong")
    );
}

#[test]
fn an_answer_lost_and_a_failed_re_read_is_unknown_and_keeps_its_record() {
    let mut f = console().finding;
    let settled = settle(&mut f, &Err(error(None)), Some(Err(error(Some("Throttling")))), NOW);
    assert_eq!(settled, Settled::Unknown);
    assert_eq!(f.status, Status::Failed);
    assert_eq!(
        f.reason,
        "Op failed: it went wrong; whether it took effect is unknown (Op failed: Throttling: it went wrong) (idle 200 days)"
    );
    assert_eq!(f.reason_code, ReasonCode::OutcomeUnknown);
}

#[test]
fn a_password_set_again_since_the_report_is_a_new_password() {
    // Deleted and set again 10 days ago (after the report): idle 10 days, not 200.
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(10)))),
        user: Some(Ok(live_user(Some(days_ago(200))))),
        ..Live::default()
    };
    let (verdict, _) = confirm_with(&console(), &answers);
    let Confirmed::Skip(ReasonCode::SetSinceReport, why) = verdict else {
        panic!("{verdict:?}")
    };
    assert!(why.starts_with("console password set again 2026-11-11"), "{why}");
    assert!(why.contains("idle 10 days"), "{why}");

    // Set again, but long ago and unused since: still dormant, measured from then.
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(120)))),
        user: Some(Ok(live_user(None))),
        ..Live::default()
    };
    let mut item = console();
    item.facts.last_used = None;
    let (verdict, _) = confirm_with(&item, &answers);
    assert!(
        matches!(verdict, Confirmed::Dormant { idle_days: 120, .. }),
        "{verdict:?}"
    );

    // A profile older than the report's baseline changes nothing.
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(900)))),
        user: Some(Ok(live_user(None))),
        ..Live::default()
    };
    let (verdict, _) = confirm_with(&console(), &answers);
    assert!(
        matches!(verdict, Confirmed::Dormant { idle_days: 200, .. }),
        "{verdict:?}"
    );
}

#[test]
fn a_user_recreated_since_the_report_is_not_judged_by_the_old_row() {
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Ok(LiveUser {
            created: days_ago(1000) + Duration::seconds(1),
            password_last_used: None,
        })),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&console(), &answers);
    assert_eq!(reads, [Read::LoginProfile, Read::User]);
    let Confirmed::Skip(ReasonCode::UserRecreated, why) = verdict else {
        panic!("{verdict:?}")
    };
    assert!(why.contains("deleted and recreated"), "{why}");
    // Sub-second differences are the report's precision, not another user.
    let answers = Live {
        login_profile: Some(Ok(Some(days_ago(400)))),
        user: Some(Ok(LiveUser {
            created: days_ago(1000) + Duration::milliseconds(300),
            password_last_used: None,
        })),
        ..Live::default()
    };
    assert!(matches!(
        confirm_with(&console(), &answers).0,
        Confirmed::Dormant { .. }
    ));
}

/// Only keys read.
fn held(keys: &[LiveKey]) -> Held<'_> {
    Held {
        keys: Some(keys),
        certificates: None,
        service_credentials: None,
        ssh_keys: None,
    }
}

fn tag(key: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: "2026-01-01T00:00:00Z".to_string(),
    }
}

#[test]
fn compaction_removes_only_records_of_keys_the_user_no_longer_has() {
    let records = [tag(&format!("iam-janitor:key-disabled:{KEY}"))];
    let live_tags = vec![
        tag("team"),
        tag("iam-janitor:key-disabled:AKIAGONE1"),
        tag("iam-janitor:key-disabled:AKIAGONE2"),
        tag(&format!("iam-janitor:key-disabled:{KEY}")),
        tag("iam-janitor:console-disabled"),
        tag("IAM-JANITOR:KEY-DISABLED:AKIAGONE3"),
        tag("iam-janitor:restored"),
    ];
    assert_eq!(
        compact(&records, &live_tags, &held(&[live_key(true)])),
        Compaction::Write {
            untag: vec![
                "iam-janitor:key-disabled:AKIAGONE1".to_string(),
                "iam-janitor:key-disabled:AKIAGONE2".to_string()
            ]
        }
    );
}

#[test]
fn a_user_at_the_tag_quota_is_not_changed_and_is_told_why() {
    let records = [tag("iam-janitor:console-disabled")];
    let mut live_tags: Vec<Tag> = (0..49).map(|i| tag(&format!("team-{i}"))).collect();
    // 49 + the record = 50: fits.
    assert_eq!(
        compact(&records, &live_tags, &held(&[])),
        Compaction::Write { untag: vec![] }
    );
    // 50 + the record: over, unless a stale record makes room.
    live_tags.push(tag("iam-janitor:key-disabled:AKIAGONE1"));
    assert_eq!(
        compact(&records, &live_tags, &held(&[])),
        Compaction::Write {
            untag: vec!["iam-janitor:key-disabled:AKIAGONE1".to_string()]
        }
    );
    live_tags.pop();
    live_tags.push(tag("cost-center"));
    assert_eq!(
        compact(&records, &live_tags, &held(&[])),
        Compaction::OverQuota(Room { needed: 51, others: 50 })
    );
    // A record replacing a tag of the same key (ignoring case) takes no room.
    live_tags.pop();
    live_tags.push(tag("IAM-JANITOR:CONSOLE-DISABLED"));
    assert_eq!(
        compact(&records, &live_tags, &held(&[])),
        Compaction::Write { untag: vec![] }
    );

    let mut item = console();
    over_quota(&mut item.finding, Room { needed: 51, others: 50 }, None);
    assert_eq!(item.finding.status, Status::Failed);
    assert_eq!(item.finding.reason_code, ReasonCode::TagQuota);
    assert!(
        item.finding
            .reason
            .starts_with("not changed: its audit-trail record does not fit")
    );
    assert!(
        item.finding
            .reason
            .contains("51 tags where IAM allows 50 (50 of them not iam-janitor's)")
    );
    assert!(item.finding.reason.contains("remove tags the user no longer needs"));
    // When removing the records of deleted keys would have made room, but failed.
    let stale = [tag("iam-janitor:key-disabled:AKIAGONE1")];
    let full = [&live_tags[..49], &stale].concat();
    let over = room(&records, &full, &[]).unwrap_err();
    assert_eq!(over, Room { needed: 51, others: 49 });
    assert_eq!(
        room(&records, &full, &["iam-janitor:key-disabled:AKIAGONE1".to_string()]),
        Ok(())
    );
    let mut item = console();
    over_quota(&mut item.finding, over, Some(&error(Some("AccessDenied"))));
    assert!(
        item.finding
            .reason
            .contains("could not be removed to make room: Op failed: AccessDenied: it went wrong."),
        "{}",
        item.finding.reason
    );
    // Tags added by someone else in between: TagUser fails on the quota, said as such.
    let mut item = console();
    trail_failed(&mut item.finding, &error(Some("LimitExceeded")));
    assert_eq!(item.finding.reason_code, ReasonCode::TagQuota);
}

#[test]
fn the_trail_needs_the_users_tags_and_keys_and_a_failed_read_changes_nothing() {
    let records = [tag("iam-janitor:console-disabled")];
    let mut live = Live::default();
    assert_eq!(prepare_trail(&records, &live), Err(Read::Tags));
    // No records of keys: no need to list them.
    live.tags = Some(Ok(vec![tag("team")]));
    assert_eq!(
        prepare_trail(&records, &live),
        Ok(Ok(Compaction::Write { untag: vec![] }))
    );
    // Records of keys: the keys are listed, and those of deleted keys go.
    live.tags = Some(Ok(vec![tag("iam-janitor:key-disabled:AKIAGONE1")]));
    assert_eq!(prepare_trail(&records, &live), Err(Read::AccessKeys));
    live.keys = Some(Ok(vec![]));
    assert_eq!(
        prepare_trail(&records, &live),
        Ok(Ok(Compaction::Write {
            untag: vec!["iam-janitor:key-disabled:AKIAGONE1".to_string()]
        }))
    );
    live.tags = Some(Err(error(Some("AccessDenied"))));
    let Ok(Err(e)) = prepare_trail(&records, &live) else {
        panic!()
    };
    assert!(e.to_string().contains("before writing the audit trail"), "{e}");
}

const CERT: &str = "CERTEXAMPLE00000000000000000001";

/// Signing certificate 1, uploaded 400 days ago (no use is ever recorded).
fn certificate() -> Planned {
    Planned {
        finding: finding(Kind::SigningCertificate, Action::DeactivateSigningCertificate, None),
        credential: Credential::SigningCertificate {
            slot: 1,
            uploaded: days_ago(400),
        },
        facts: CredentialFacts {
            last_used: None,
            baseline: days_ago(400),
        },
        user_created: days_ago(1000),
    }
}

fn live_certificate(active: bool) -> LiveCertificate {
    LiveCertificate {
        id: CERT.to_string(),
        active,
        uploaded: days_ago(400),
    }
}

#[test]
fn a_signing_certificate_is_confirmed_by_its_upload_time_and_changed_with_its_record() {
    let answers = Live {
        certificates: Some(Ok(vec![live_certificate(true)])),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&certificate(), &answers);
    assert_eq!(reads, [Read::Certificates]);
    assert_eq!(
        verdict,
        Confirmed::Dormant {
            id: Some(CERT.to_string()),
            idle_days: 400,
            last_used: None,
        }
    );
    let mut item = certificate();
    assert!(take_verdict(&mut item, verdict, true));
    assert_eq!(item.finding.credential_id.as_deref(), Some(CERT));
    assert_eq!(item.finding.access_key_id, None);
    assert_eq!(
        trail_records(&[&item.finding], NOW),
        [Tag {
            key: format!("iam-janitor:certificate-disabled:{CERT}"),
            value: "2026-11-21T12:00:00Z".into()
        }]
    );
    let write = write_of(&item).unwrap();
    assert_eq!(write, Write::DeactivateCertificate(CERT.to_string()));
    assert_eq!(reread_of(&write), Read::Certificates);
    let certs = |active| Live {
        certificates: Some(Ok(vec![live_certificate(active)])),
        ..Live::default()
    };
    assert_eq!(in_effect(&write, &certs(false)), Some(Ok(true)));
    assert_eq!(in_effect(&write, &certs(true)), Some(Ok(false)));

    // Already inactive, or gone.
    let answers = Live {
        certificates: Some(Ok(vec![live_certificate(false)])),
        ..Live::default()
    };
    assert!(matches!(
        confirm_with(&certificate(), &answers).0,
        Confirmed::Skip(ReasonCode::AlreadyDone, _)
    ));
    let answers = Live {
        certificates: Some(Ok(vec![])),
        ..Live::default()
    };
    assert!(matches!(
        confirm_with(&certificate(), &answers).0,
        Confirmed::Skip(ReasonCode::Gone, _)
    ));
}

#[test]
fn compaction_reads_certificates_only_for_a_user_with_records_of_them() {
    let records = [tag("iam-janitor:console-disabled")];
    let mut live = Live {
        tags: Some(Ok(vec![tag("team")])),
        ..Live::default()
    };
    assert_eq!(
        prepare_trail(&records, &live),
        Ok(Ok(Compaction::Write { untag: vec![] }))
    );
    live.tags = Some(Ok(vec![
        tag(&format!("iam-janitor:certificate-disabled:{CERT}")),
        tag("iam-janitor:certificate-disabled:CERTGONE"),
    ]));
    assert_eq!(prepare_trail(&records, &live), Err(Read::Certificates));
    live.certificates = Some(Ok(vec![live_certificate(false)]));
    assert_eq!(
        prepare_trail(&records, &live),
        Ok(Ok(Compaction::Write {
            untag: vec!["iam-janitor:certificate-disabled:CERTGONE".to_string()]
        }))
    );
}

const SSC: &str = "ACCAEXAMPLE0000000001";

/// A CodeCommit Git credential created 400 days ago, its service last used 200 days ago.
fn service_credential() -> Planned {
    let mut f = finding(
        Kind::ServiceSpecificCredential,
        Action::DeactivateServiceSpecificCredential,
        None,
    );
    f.credential_id = Some(SSC.to_string());
    Planned {
        finding: f,
        credential: Credential::ServiceCredential {
            service: 0,
            created: days_ago(400),
        },
        facts: CredentialFacts {
            last_used: Some(days_ago(200)),
            baseline: days_ago(400),
        },
        user_created: days_ago(1000),
    }
}

fn live_service_credential(active: bool) -> ServiceCredential {
    ServiceCredential {
        id: SSC.to_string(),
        user: "bob".to_string(),
        service: "codecommit.amazonaws.com".to_string(),
        created: days_ago(400),
        active,
    }
}

#[test]
fn a_service_credential_is_confirmed_by_its_id_and_changed_with_its_record() {
    let answers = Live {
        service_credentials: Some(Ok(vec![live_service_credential(true)])),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&service_credential(), &answers);
    assert_eq!(reads, [Read::ServiceCredentials]);
    assert_eq!(
        verdict,
        Confirmed::Dormant {
            id: Some(SSC.to_string()),
            idle_days: 200,
            last_used: Some(days_ago(200)),
        }
    );
    let mut item = service_credential();
    assert!(take_verdict(&mut item, verdict, true));
    assert_eq!(
        trail_records(&[&item.finding], NOW)[0].key,
        format!("iam-janitor:service-credential-disabled:{SSC}")
    );
    let write = write_of(&item).unwrap();
    assert_eq!(write, Write::DeactivateServiceCredential(SSC.to_string()));
    assert_eq!(reread_of(&write), Read::ServiceCredentials);
    let live = |active| Live {
        service_credentials: Some(Ok(vec![live_service_credential(active)])),
        ..Live::default()
    };
    assert_eq!(in_effect(&write, &live(false)), Some(Ok(true)));
    assert!(matches!(
        confirm_with(&service_credential(), &live(false)).0,
        Confirmed::Skip(ReasonCode::AlreadyDone, _)
    ));
    let gone = Live {
        service_credentials: Some(Ok(vec![])),
        ..Live::default()
    };
    assert!(matches!(
        confirm_with(&service_credential(), &gone).0,
        Confirmed::Skip(ReasonCode::Gone, _)
    ));
}

#[test]
fn an_ssh_key_is_confirmed_by_its_id_and_changed_with_its_record() {
    const SSH: &str = "APKAEXAMPLE000000001";
    let mut f = finding(Kind::SshPublicKey, Action::DeactivateSshPublicKey, None);
    f.credential_id = Some(SSH.to_string());
    let item = Planned {
        finding: f,
        credential: Credential::SshKey {
            uploaded: days_ago(400),
        },
        facts: CredentialFacts {
            last_used: None,
            baseline: days_ago(400),
        },
        user_created: days_ago(1000),
    };
    let key = |active| SshPublicKey {
        id: SSH.to_string(),
        user: "bob".to_string(),
        uploaded: days_ago(400),
        active,
    };
    let answers = Live {
        ssh_keys: Some(Ok(vec![key(true)])),
        ..Live::default()
    };
    let (verdict, reads) = confirm_with(&item, &answers);
    assert_eq!(reads, [Read::SshKeys]);
    let mut changed = item.clone();
    assert!(take_verdict(&mut changed, verdict, true));
    assert_eq!(
        trail_records(&[&changed.finding], NOW)[0].key,
        format!("iam-janitor:ssh-key-disabled:{SSH}")
    );
    let write = write_of(&changed).unwrap();
    assert_eq!(write, Write::DeactivateSshKey(SSH.to_string()));
    assert_eq!(reread_of(&write), Read::SshKeys);
    let inactive = Live {
        ssh_keys: Some(Ok(vec![key(false)])),
        ..Live::default()
    };
    assert_eq!(in_effect(&write, &inactive), Some(Ok(true)));
    assert!(matches!(
        confirm_with(&item, &inactive).0,
        Confirmed::Skip(ReasonCode::AlreadyDone, _)
    ));
}
