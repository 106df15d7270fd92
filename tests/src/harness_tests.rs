//! Tests of the harness itself: the emulator seen through the Rust AWS SDK,
//! and the webhook receiver.

use std::time::{Duration, Instant};

use hyper::Method;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::http::HttpClient;
use crate::{AdvisorService, Emulator, Fault, KeyPatch, SeedKey, SeedPassword, SeedUser, UserPatch, WebhookReceiver};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn row<'a>(
    rows: &'a [std::collections::BTreeMap<String, String>],
    user: &str,
) -> Result<&'a std::collections::BTreeMap<String, String>, String> {
    rows.iter()
        .find(|r| r.get("user").map(String::as_str) == Some(user))
        .ok_or_else(|| format!("no report row for {user}"))
}

fn col<'a>(row: &'a std::collections::BTreeMap<String, String>, column: &str) -> Result<&'a str, String> {
    row.get(column)
        .map(String::as_str)
        .ok_or_else(|| format!("no column {column}"))
}

#[tokio::test]
async fn credential_report_reflects_seeded_and_patched_dates() -> TestResult {
    let emu = Emulator::start().await?;
    let seeded = emu
        .seed(&[
            SeedUser::new("alice")
                .created(datetime!(2024-01-02 03:04:05 UTC))
                .tag("team", "platform")
                .with_password(
                    SeedPassword::new()
                        .changed(datetime!(2024-01-03 00:00:00 UTC))
                        .used(datetime!(2024-02-01 00:00:00 UTC)),
                )
                .with_key(
                    SeedKey::new()
                        .created(datetime!(2024-01-04 00:00:00 UTC))
                        .used(datetime!(2024-03-01 12:00:00 UTC))
                        .used_by("s3", "eu-west-1"),
                )
                .with_key(SeedKey::new().created(datetime!(2024-01-05 00:00:00 UTC)).inactive())
                .with_policy("arn:aws:iam::aws:policy/ReadOnlyAccess"),
            SeedUser::new("bob").path("/eng/").with_key(SeedKey::new()),
        ])
        .await?;
    assert_eq!(seeded.len(), 2);
    assert_eq!(seeded[0].arn, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(seeded[1].arn, "arn:aws:iam::123456789012:user/eng/bob");
    assert_eq!(seeded[0].access_key_ids.len(), 2);

    // Back-date bob and his key through the control API.
    emu.set_user(
        "bob",
        UserPatch {
            create_date: Some(datetime!(2023-06-01 00:00:00 UTC)),
            ..UserPatch::default()
        },
    )
    .await?;
    let bob_key = &seeded[1].access_key_ids[0];
    emu.set_access_key(
        bob_key,
        KeyPatch {
            create_date: Some(datetime!(2023-06-02 00:00:00 UTC)),
            last_used: Some(Some(datetime!(2023-07-01 08:09:10 +02:00))),
            last_used_service: Some("ec2".into()),
            last_used_region: Some("us-west-2".into()),
        },
    )
    .await?;
    // Clear alice's password use again: "no_information".
    emu.set_user(
        "alice",
        UserPatch {
            password_last_used: Some(None),
            ..UserPatch::default()
        },
    )
    .await?;

    let rows = emu.credential_report().await?;
    assert_eq!(rows.len(), 3, "root + 2 users: {rows:?}");
    assert_eq!(col(&rows[0], "user")?, "<root_account>");
    assert_eq!(col(&rows[0], "arn")?, "arn:aws:iam::123456789012:root");
    assert_eq!(col(&rows[0], "password_enabled")?, "not_supported");

    let alice = row(&rows, "alice")?;
    assert_eq!(col(alice, "user_creation_time")?, "2024-01-02T03:04:05+00:00");
    assert_eq!(col(alice, "password_enabled")?, "true");
    assert_eq!(col(alice, "password_last_used")?, "no_information");
    assert_eq!(col(alice, "password_last_changed")?, "2024-01-03T00:00:00+00:00");
    assert_eq!(col(alice, "password_next_rotation")?, "N/A");
    assert_eq!(col(alice, "access_key_1_active")?, "true");
    assert_eq!(col(alice, "access_key_1_last_rotated")?, "2024-01-04T00:00:00+00:00");
    assert_eq!(col(alice, "access_key_1_last_used_date")?, "2024-03-01T12:00:00+00:00");
    assert_eq!(col(alice, "access_key_1_last_used_region")?, "eu-west-1");
    assert_eq!(col(alice, "access_key_1_last_used_service")?, "s3");
    assert_eq!(col(alice, "access_key_2_active")?, "false");
    assert_eq!(col(alice, "access_key_2_last_used_date")?, "N/A");

    let bob = row(&rows, "bob")?;
    assert_eq!(col(bob, "user_creation_time")?, "2023-06-01T00:00:00+00:00");
    assert_eq!(col(bob, "password_enabled")?, "false");
    assert_eq!(col(bob, "password_last_used")?, "N/A");
    assert_eq!(col(bob, "password_last_changed")?, "N/A");
    assert_eq!(col(bob, "access_key_1_last_rotated")?, "2023-06-02T00:00:00+00:00");
    assert_eq!(col(bob, "access_key_1_last_used_date")?, "2023-07-01T06:09:10+00:00");
    assert_eq!(col(bob, "access_key_1_last_used_service")?, "ec2");
    assert_eq!(col(bob, "access_key_1_last_used_region")?, "us-west-2");
    assert_eq!(col(bob, "access_key_2_active")?, "false");

    // The same data through the regular IAM API.
    let iam = emu.iam().await;
    let used = iam.get_access_key_last_used().access_key_id(bob_key).send().await?;
    let last = used.access_key_last_used().ok_or("no AccessKeyLastUsed")?;
    assert_eq!(last.service_name(), "ec2");
    assert_eq!(
        last.last_used_date().map(|d| d.secs()),
        Some(datetime!(2023-07-01 06:09:10 UTC).unix_timestamp())
    );
    let details = iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::User)
        .send()
        .await?;
    let alice_details = details
        .user_detail_list()
        .iter()
        .find(|u| u.user_name() == Some("alice"))
        .ok_or("alice missing from GetAccountAuthorizationDetails")?;
    assert_eq!(alice_details.tags().len(), 1);
    assert_eq!(alice_details.attached_managed_policies().len(), 1);
    Ok(())
}

#[tokio::test]
async fn throttling_fault_is_retried_by_the_sdk_and_counted() -> TestResult {
    let emu = Emulator::start().await?;
    let seeded = emu.seed(&[SeedUser::new("carol").with_key(SeedKey::new())]).await?;
    let key = &seeded[0].access_key_ids[0];
    emu.inject_fault(Fault::throttling("UpdateAccessKey", 2).for_user("carol"))
        .await?;
    let iam = emu.iam().await;
    iam.update_access_key()
        .user_name("carol")
        .access_key_id(key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await?;
    let calls = emu.calls().await?;
    assert_eq!(calls.get("UpdateAccessKey"), 3, "{calls:?}");
    assert_eq!(calls.total, 3);

    let keys = iam.list_access_keys().user_name("carol").send().await?;
    assert_eq!(
        keys.access_key_metadata()[0].status(),
        Some(&aws_sdk_iam::types::StatusType::Inactive)
    );

    // A non-retryable error surfaces with its code.
    emu.reset_calls().await?;
    emu.inject_fault(Fault::error("ListUsers", 1, "ServiceFailure", 500, "boom"))
        .await?;
    emu.inject_fault(Fault::error("GetUser", 1, "AccessDenied", 403, "nope"))
        .await?;
    iam.list_users().send().await?; // 500 is retried
    let err = iam
        .get_user()
        .user_name("carol")
        .send()
        .await
        .err()
        .ok_or("GetUser should fail")?;
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
    assert_eq!(emu.calls().await?.total, 3);
    emu.clear_faults().await?;

    // Latency applies to every IAM call.
    emu.set_latency_ms(300).await?;
    let started = Instant::now();
    iam.get_user().user_name("carol").send().await?;
    assert!(started.elapsed() >= Duration::from_millis(300));
    emu.set_latency_ms(0).await?;

    // Reset forgets users and counters.
    emu.reset().await?;
    assert_eq!(emu.calls().await?.total, 0);
    assert!(iam.get_user().user_name("carol").send().await.is_err());
    Ok(())
}

#[tokio::test]
async fn list_users_pages_and_access_advisor_jobs() -> TestResult {
    let emu = Emulator::start().await?;
    let users: Vec<SeedUser> = (0..250).map(|i| SeedUser::new(format!("user{i:03}"))).collect();
    let seeded = emu.seed(&users).await?;
    let iam = emu.iam().await;
    let mut pages = iam.list_users().into_paginator().send();
    let mut names = Vec::new();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        page_count += 1;
        names.extend(page?.users().iter().map(|u| u.user_name().to_string()));
    }
    assert_eq!(names.len(), 250);
    assert_eq!(page_count, 3);
    assert_eq!(emu.calls().await?.get("ListUsers"), 3);

    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    emu.set_access_advisor(
        "user000",
        &[
            AdvisorService::new("s3", "Amazon S3", Some(now)),
            AdvisorService::new("ec2", "Amazon EC2", None),
            AdvisorService::new(
                "iam",
                "AWS Identity and Access Management",
                Some(datetime!(2024-06-01 00:00:00 UTC)),
            ),
        ],
    )
    .await?;
    let job = iam
        .generate_service_last_accessed_details()
        .arn(&seeded[0].arn)
        .send()
        .await?;
    let job_id = job.job_id().ok_or("no JobId")?.to_string();
    assert_eq!(job_id.len(), 36);
    let first = iam
        .get_service_last_accessed_details()
        .job_id(&job_id)
        .max_items(2)
        .send()
        .await?;
    assert_eq!(first.job_status(), &aws_sdk_iam::types::JobStatusType::InProgress);
    let page1 = iam
        .get_service_last_accessed_details()
        .job_id(&job_id)
        .max_items(2)
        .send()
        .await?;
    assert_eq!(page1.job_status(), &aws_sdk_iam::types::JobStatusType::Completed);
    assert_eq!(page1.services_last_accessed().len(), 2);
    assert!(page1.is_truncated());
    let s3 = &page1.services_last_accessed()[0];
    assert_eq!(s3.service_namespace(), "s3");
    assert_eq!(s3.last_authenticated().map(|d| d.secs()), Some(now.unix_timestamp()));
    assert_eq!(s3.last_authenticated_entity(), Some(seeded[0].arn.as_str()));
    assert_eq!(s3.total_authenticated_entities(), Some(1));
    assert!(page1.services_last_accessed()[1].last_authenticated().is_none());
    let page2 = iam
        .get_service_last_accessed_details()
        .job_id(&job_id)
        .max_items(2)
        .marker(page1.marker().ok_or("no Marker")?)
        .send()
        .await?;
    assert_eq!(page2.services_last_accessed().len(), 1);
    assert!(!page2.is_truncated());

    emu.fail_access_advisor("user001").await?;
    let failing = iam
        .generate_service_last_accessed_details()
        .arn(&seeded[1].arn)
        .send()
        .await?;
    let failing_id = failing.job_id().ok_or("no JobId")?;
    let mut status = None;
    for _ in 0..3 {
        let r = iam
            .get_service_last_accessed_details()
            .job_id(failing_id)
            .send()
            .await?;
        if r.job_status() != &aws_sdk_iam::types::JobStatusType::InProgress {
            assert!(r.error().is_some());
            status = Some(r.job_status().clone());
            break;
        }
    }
    assert_eq!(status, Some(aws_sdk_iam::types::JobStatusType::Failed));

    let unknown = iam
        .get_service_last_accessed_details()
        .job_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .err()
        .ok_or("unknown job should fail")?;
    assert!(
        unknown
            .as_service_error()
            .is_some_and(|e| e.is_no_such_entity_exception())
    );
    Ok(())
}

#[tokio::test]
async fn webhook_answers_429_then_200_and_can_hang() -> TestResult {
    let hook = WebhookReceiver::start().await?;
    hook.respond_429_first(1, 7);
    let http = HttpClient::new();
    let first = http
        .send(
            Method::POST,
            &hook.url(),
            Some(br#"{"n":1}"#.to_vec()),
            Duration::from_secs(5),
        )
        .await?;
    assert_eq!(first.status, 429);
    assert_eq!(
        first.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let second = http
        .send(
            Method::POST,
            &hook.url(),
            Some(br#"{"n":2}"#.to_vec()),
            Duration::from_secs(5),
        )
        .await?;
    assert_eq!(second.status, 200);
    assert_eq!(hook.bodies(), vec![r#"{"n":1}"#, r#"{"n":2}"#]);
    let requests = hook.wait_for_requests(2, Duration::from_secs(1)).await?;
    assert_eq!(requests[1].path, "/hook");
    assert_eq!(requests[1].header("content-type"), Some("application/json"));

    hook.hang();
    let hung = http
        .send(
            Method::POST,
            &hook.url(),
            Some(b"{}".to_vec()),
            Duration::from_millis(300),
        )
        .await;
    assert!(hung.is_err(), "a hanging receiver must time the client out");
    assert_eq!(hook.bodies().len(), 3);
    Ok(())
}

#[tokio::test]
async fn control_api_rejects_bad_input_naming_it() -> TestResult {
    let emu = Emulator::start().await?;
    let err = emu
        .set_user("nobody", UserPatch::default())
        .await
        .err()
        .ok_or("patching a missing user should fail")?;
    let text = err.to_string();
    assert!(text.contains("400") && text.contains("nobody"), "{text}");
    let err = emu
        .seed(&[SeedUser::new("x").with_policy("arn:aws:iam::123456789012:policy/missing")])
        .await
        .err()
        .ok_or("unknown policy should fail")?;
    assert!(err.to_string().contains("policy/missing"), "{err}");
    // Nothing was created by the rejected seed.
    assert!(emu.seed(&[SeedUser::new("x")]).await.is_ok());
    Ok(())
}

#[tokio::test]
async fn a_frozen_credential_report_is_a_snapshot() -> TestResult {
    let emu = Emulator::start().await?;
    let seeded = emu
        .seed(&[SeedUser::new("dave").with_key(
            SeedKey::new()
                .created(datetime!(2024-01-01 00:00:00 UTC))
                .used(datetime!(2024-02-01 00:00:00 UTC)),
        )])
        .await?;
    let key = &seeded[0].access_key_ids[0];
    let generated = emu.freeze_credential_report().await?;
    let used_now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    emu.set_access_key(
        key,
        KeyPatch {
            last_used: Some(Some(used_now)),
            ..KeyPatch::default()
        },
    )
    .await?;

    let rows = emu.credential_report().await?;
    assert_eq!(
        col(row(&rows, "dave")?, "access_key_1_last_used_date")?,
        "2024-02-01T00:00:00+00:00"
    );
    let iam = emu.iam().await;
    let report = iam.get_credential_report().send().await?;
    let generated_secs = report.generated_time().map(|t| t.secs());
    assert_eq!(generated_secs, Some(generated.unix_timestamp()));
    let live = iam.get_access_key_last_used().access_key_id(key).send().await?;
    assert_eq!(
        live.access_key_last_used()
            .and_then(|l| l.last_used_date())
            .map(|d| d.secs()),
        Some(used_now.unix_timestamp())
    );

    emu.unfreeze_credential_report().await?;
    let rows = emu.credential_report().await?;
    let expected = used_now.format(&time::format_description::well_known::Rfc3339)?;
    assert_eq!(
        col(row(&rows, "dave")?, "access_key_1_last_used_date")?,
        expected.replace('Z', "+00:00")
    );
    Ok(())
}

#[tokio::test]
async fn seeding_another_account_keeps_the_accounts_apart() -> TestResult {
    let emu = Emulator::start().await?;
    let member = "210987654321";
    let seeded = emu
        .seed_in(member, &[SeedUser::new("carol").with_key(SeedKey::new())])
        .await?;
    assert_eq!(seeded[0].arn, format!("arn:aws:iam::{member}:user/carol"));
    emu.set_access_advisor_in(member, "carol", &[AdvisorService::new("s3", "Amazon S3", None)])
        .await?;
    // The same name in the default account is another user; the harness credentials
    // see only that one.
    let here = emu.seed(&[SeedUser::new("carol")]).await?;
    assert_eq!(here[0].arn, "arn:aws:iam::123456789012:user/carol");
    let listed = emu.iam().await.list_users().send().await?;
    let arns: Vec<&str> = listed.users().iter().map(|u| u.arn()).collect();
    assert_eq!(arns, ["arn:aws:iam::123456789012:user/carol"]);
    // An account that is not 12 digits is refused.
    let err = emu
        .set_access_advisor_in("1234", "carol", &[])
        .await
        .err()
        .ok_or("a malformed account was accepted")?;
    assert!(err.to_string().contains("12 digits"), "{err}");
    Ok(())
}

fn error_code<T, E: aws_sdk_iam::error::ProvideErrorMetadata, R>(
    result: Result<T, aws_sdk_iam::error::SdkError<E, R>>,
) -> Option<String> {
    result
        .err()
        .and_then(|e| e.as_service_error().and_then(|s| s.code()).map(str::to_string))
}

/// The emulator's IAM authorizer on policies other than the engine's: explicit deny
/// wins over allow, NotAction, Resource patterns, condition keys (a missing key fails a
/// positive operator and passes a negated one), set operators, and what it cannot model
/// is refused when the session is created, not answered with a guess.
#[tokio::test]
async fn role_sessions_are_authorized_like_iam() -> TestResult {
    let emu = Emulator::start().await?;
    emu.seed(&[SeedUser::new("alice"), SeedUser::new("protected-bob")])
        .await?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:TagUser", "Resource": "arn:aws:iam::*:user/protected-*"},
            {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*", "iam:TagUser"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:ListUserTags", "Resource": "*",
             "Condition": {"StringNotEqualsIfExists": {"aws:RequestTag/team": "x"}}},
        ]
    });
    let credentials = emu.session("tester", &[policy]).await?;
    let iam = aws_sdk_iam::Client::new(&emu.sdk_config_as(credentials).await);
    let tag = aws_sdk_iam::types::Tag::builder().key("k").value("v").build()?;

    // Allowed: Get*, and TagUser on a user the explicit deny does not cover.
    iam.get_user().user_name("alice").send().await?;
    iam.tag_user().user_name("alice").tags(tag.clone()).send().await?;
    // The explicit deny wins over iam:* on *.
    assert_eq!(
        error_code(iam.tag_user().user_name("protected-bob").tags(tag).send().await),
        Some("AccessDenied".to_string())
    );
    // NotAction: everything but Get*, List*, TagUser is denied.
    assert_eq!(
        error_code(iam.delete_user().user_name("alice").send().await),
        Some("AccessDenied".to_string())
    );
    // Set operators: ForAnyValue over the tag keys of the request.
    let no_team_tags = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:TagUser", "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}}}]});
    let tagger = aws_sdk_iam::Client::new(&emu.sdk_config_as(emu.session("tagger", &[no_team_tags]).await?).await);
    let team = aws_sdk_iam::types::Tag::builder().key("team").value("x").build()?;
    let other = aws_sdk_iam::types::Tag::builder().key("cost").value("x").build()?;
    assert_eq!(
        error_code(
            tagger
                .tag_user()
                .user_name("alice")
                .tags(other.clone())
                .tags(team)
                .send()
                .await
        ),
        Some("AccessDenied".to_string())
    );
    tagger.tag_user().user_name("alice").tags(other).send().await?;
    // A negated operator with IfExists holds when the key is missing: denied.
    assert_eq!(
        error_code(iam.list_user_tags().user_name("alice").send().await),
        Some("AccessDenied".to_string())
    );

    // An operator that is not modelled is refused at creation, naming it.
    let unsupported = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*",
         "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]});
    let e = emu.session("tester", &[unsupported]).await.err().ok_or("accepted")?;
    assert!(e.to_string().contains("DateGreaterThan"), "{e}");
    Ok(())
}
