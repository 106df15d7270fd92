#![allow(clippy::unwrap_used, clippy::expect_used)]

//! [`read_page`] on any GetServiceLastAccessedDetails answer, built with the SDK's builders.

use aws_sdk_iam::types::{ErrorDetails, ServiceLastAccessed};
use aws_smithy_types::DateTime;
use proptest::prelude::*;

use super::*;

/// Seconds of 9999-12-31T23:59:59Z, the last instant `time` represents by default.
const YEAR_9999_END: i64 = 253_402_300_799;

fn service(namespace: &str, name: &str, last: Option<DateTime>) -> ServiceLastAccessed {
    ServiceLastAccessed::builder()
        .service_namespace(namespace)
        .service_name(name)
        .set_last_authenticated(last)
        .build()
        .unwrap()
}

fn page(
    status: JobStatusType,
    services: Vec<ServiceLastAccessed>,
    truncated: bool,
    marker: Option<&str>,
    error: Option<(&str, &str)>,
) -> GetServiceLastAccessedDetailsOutput {
    GetServiceLastAccessedDetailsOutput::builder()
        .job_status(status)
        .job_creation_date(DateTime::from_secs(0))
        .job_completion_date(DateTime::from_secs(0))
        .set_services_last_accessed(Some(services))
        .is_truncated(truncated)
        .set_marker(marker.map(str::to_string))
        .set_error(error.map(|(code, message)| ErrorDetails::builder().code(code).message(message).build().unwrap()))
        .build()
        .unwrap()
}

#[test]
fn a_complete_page_is_converted_and_dates_kept() {
    let out = page(
        JobStatusType::Completed,
        vec![
            service("s3", "Amazon S3", Some(DateTime::from_secs(1_700_000_000))),
            service("ec2", "Amazon EC2", None),
            service("kms", "AWS KMS", Some(DateTime::from_secs(0))),
            service("rds", "Amazon RDS", Some(DateTime::from_secs(YEAR_9999_END))),
        ],
        false,
        None,
        None,
    );
    let Ok(Page::Services { services, next: None }) = read_page(&out, None) else {
        panic!("expected a last page");
    };
    let dates: Vec<_> = services
        .iter()
        .map(|s| s.last_authenticated.map(|t| t.year()))
        .collect();
    assert_eq!(dates, [Some(2023), None, Some(1970), Some(9999)]);
    assert_eq!(services[0].namespace, "s3");
    assert_eq!(services[0].name, "Amazon S3");
}

#[test]
fn pagination_and_its_errors() {
    let next = read_page(&page(JobStatusType::Completed, vec![], true, Some("m1"), None), None).unwrap();
    assert_eq!(
        next,
        Page::Services {
            services: vec![],
            next: Some("m1".into())
        }
    );
    for marker in [None, Some("")] {
        let e = read_page(&page(JobStatusType::Completed, vec![], true, marker, None), None).unwrap_err();
        assert!(e.message.contains("without a Marker"), "{e}");
    }
    let e = read_page(
        &page(JobStatusType::Completed, vec![], true, Some("m1"), None),
        Some("m1"),
    )
    .unwrap_err();
    assert!(e.message.contains("repeats the Marker"), "{e}");
    // Still running on a later page: an error, not a poll from the start.
    assert_eq!(
        read_page(&page(JobStatusType::InProgress, vec![], false, None, None), None),
        Ok(Page::InProgress)
    );
    assert!(read_page(&page(JobStatusType::InProgress, vec![], false, None, None), Some("m1")).is_err());
}

#[test]
fn failed_and_unknown_statuses_are_errors_before_any_date_is_read() {
    let bad_date = vec![service("s3", "S3", Some(DateTime::from_secs(i64::MAX)))];
    let e = read_page(
        &page(
            JobStatusType::Failed,
            bad_date.clone(),
            false,
            None,
            Some(("AccessDenied", "no")),
        ),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("AccessDenied"));
    assert_eq!(e.message, "job FAILED: no");
    let e = read_page(&page(JobStatusType::Failed, vec![], false, None, None), None).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (None, "job FAILED: job failed without an error")
    );
    let e = read_page(&page(JobStatusType::from("weird"), bad_date, false, None, None), None).unwrap_err();
    assert!(e.message.contains("unexpected job status"), "{e}");
}

#[test]
fn a_date_out_of_range_is_an_error_not_never_used() {
    for secs in [i64::MAX, YEAR_9999_END + 1, i64::MIN] {
        let out = page(
            JobStatusType::Completed,
            vec![
                service("s3", "S3", None),
                service("ec2", "EC2", Some(DateTime::from_secs(secs))),
            ],
            false,
            None,
            None,
        );
        let e = read_page(&out, None).unwrap_err();
        assert!(e.message.starts_with("service 1 (\"ec2\")"), "{e}");
    }
}

fn status() -> impl Strategy<Value = JobStatusType> {
    prop_oneof![
        3 => Just(JobStatusType::Completed),
        2 => Just(JobStatusType::InProgress),
        2 => Just(JobStatusType::Failed),
        1 => Just(JobStatusType::from("weird")),
        1 => ".{0,12}".prop_map(|s| JobStatusType::from(s.as_str())),
    ]
}

/// Dates: mostly ones `time` represents (the epoch, year 9999…), some beyond.
fn date() -> impl Strategy<Value = Option<DateTime>> {
    proptest::option::of(prop_oneof![
        2 => Just(DateTime::from_secs(0)),
        2 => Just(DateTime::from_secs(YEAR_9999_END)),
        12 => (-62_000_000_000i64..YEAR_9999_END, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_secs_and_nanos(s, n)),
        1 => Just(DateTime::from_secs(YEAR_9999_END + 1)),
        1 => Just(DateTime::from_secs(i64::MAX)),
        1 => Just(DateTime::from_secs(i64::MIN)),
        1 => (any::<i64>(), 0u32..1_000_000_000).prop_map(|(s, n)| DateTime::from_secs_and_nanos(s, n)),
    ])
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s3".to_string()),
        Just("*".to_string()),
        Just(String::new()),
        ".{0,20}",
        any::<String>(),
    ]
}

proptest! {
    /// Any answer: no panic; services only from a COMPLETED page; FAILED carries IAM's
    /// code and message; a truncated page needs a new Marker; IN_PROGRESS on a later page
    /// is an error (no endless polling); out-of-range dates are errors, others kept.
    #[test]
    fn any_answer_is_read_or_refused(
        status in status(),
        services in proptest::collection::vec((text(), text(), date()), 0..6),
        truncated in any::<bool>(),
        marker in proptest::option::of(prop_oneof![Just(String::new()), Just("m1".to_string()), ".{1,10}"]),
        error in proptest::option::of((".{0,16}", ".{0,40}")),
        sent in proptest::option::of(prop_oneof![Just("m1".to_string()), ".{1,10}"]),
    ) {
        let out = page(
            status.clone(),
            services.iter().map(|(ns, name, d)| service(ns, name, *d)).collect(),
            truncated,
            marker.as_deref(),
            error.as_ref().map(|(c, m)| (c.as_str(), m.as_str())),
        );
        let result = read_page(&out, sent.as_deref());
        if let Err(e) = &result {
            prop_assert_eq!(e.operation, "GetServiceLastAccessedDetails");
        }
        match status {
            JobStatusType::Completed => {
                let representable = services
                    .iter()
                    .all(|(_, _, d)| d.is_none_or(|d| to_time(&d).is_some()));
                let marker_ok = !truncated
                    || marker.as_deref().is_some_and(|m| !m.is_empty() && Some(m) != sent.as_deref());
                match result {
                    Ok(Page::Services { services: read, next }) => {
                        prop_assert!(representable && marker_ok);
                        prop_assert_eq!(read.len(), services.len());
                        for (r, (ns, name, d)) in read.iter().zip(&services) {
                            prop_assert_eq!(&r.namespace, ns);
                            prop_assert_eq!(&r.name, name);
                            prop_assert_eq!(r.last_authenticated.is_some(), d.is_some());
                            if let (Some(r), Some(d)) = (r.last_authenticated, d) {
                                prop_assert_eq!(r.unix_timestamp(), d.secs());
                            }
                        }
                        if truncated {
                            prop_assert_eq!(next, marker);
                        } else {
                            prop_assert_eq!(next, None);
                        }
                    }
                    Ok(Page::InProgress) => prop_assert!(false, "COMPLETED read as in progress"),
                    Err(e) => {
                        prop_assert!(!(representable && marker_ok), "{}", e);
                        prop_assert_eq!(e.code, None);
                    }
                }
            }
            JobStatusType::InProgress if sent.is_none() => prop_assert_eq!(result, Ok(Page::InProgress)),
            JobStatusType::Failed => {
                let e = result.expect_err("FAILED is an error");
                match &error {
                    Some((code, message)) => {
                        prop_assert_eq!(e.code.as_ref(), Some(code));
                        prop_assert_eq!(e.message, format!("job FAILED: {message}"));
                    }
                    None => prop_assert_eq!(e.code, None),
                }
            }
            // IN_PROGRESS on a later page, and any unknown status.
            _ => {
                let e = result.expect_err("not COMPLETED is an error");
                prop_assert!(e.message.starts_with("unexpected job status"), "{}", e);
            }
        }
    }
}
