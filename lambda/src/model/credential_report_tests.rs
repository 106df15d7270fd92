#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use time::macros::datetime;

const AWS: &str = include_str!("../../tests/fixtures/credential-report-aws.csv");
const MOTO: &str = include_str!("../../tests/fixtures/credential-report-moto.csv");

#[test]
fn real_aws_format() {
    let r = parse(AWS.as_bytes()).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let root = r.root.expect("the root row is recognised");
    assert_eq!(root.arn, "arn:aws:iam::111122223333:root");
    assert_eq!(root.password_enabled, None);
    let names: Vec<_> = r.rows.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave.ci+deploy@corp"]);

    let alice = &r.rows[0];
    assert_eq!(alice.line, 3);
    assert_eq!(alice.password_enabled, Some(true));
    assert_eq!(
        alice.password_last_used,
        Observed::At(datetime!(2026-11-20 17:45:03 UTC))
    );
    assert_eq!(
        alice.keys[0].last_rotated,
        Observed::At(datetime!(2024-05-05 05:05:05 UTC))
    );
    assert!(alice.keys[0].active && !alice.keys[1].active);
    assert_eq!(alice.keys[1].last_rotated, Observed::NotApplicable);

    let carol = &r.rows[2];
    assert_eq!(carol.password_enabled, Some(false));
    assert_eq!(carol.password_last_used, Observed::NotApplicable);
    assert_eq!(carol.keys[1].last_used, Observed::NotApplicable);
    assert!(carol.keys[1].active);

    let dave = &r.rows[3];
    assert_eq!(dave.password_last_used, Observed::NoInformation);
}

#[test]
fn moto_format() {
    let r = parse(MOTO.as_bytes()).unwrap();
    assert!(r.root.is_none());
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.rows[0].password_last_used, Observed::NotSupported);
    assert_eq!(r.rows[1].password_last_used, Observed::NoInformation);
}

#[test]
fn columns_are_found_by_name_not_position() {
    // Reverse the column order of the AWS fixture.
    let mut lines = AWS.lines().map(|l| {
        let mut cells: Vec<&str> = l.split(',').collect();
        cells.reverse();
        cells.join(",")
    });
    let reversed: Vec<String> = lines.by_ref().collect();
    let a = parse(AWS.as_bytes()).unwrap();
    let b = parse(reversed.join("\n").as_bytes()).unwrap();
    assert_eq!(a.rows, b.rows);
}

#[test]
fn a_bad_row_is_rejected_and_the_rest_parses() {
    let text = AWS.replace("2021-02-02T02:02:02+00:00,true", "yesterday,true");
    let r = parse(text.as_bytes()).unwrap();
    assert_eq!(r.rows.len(), 3);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].user.as_deref(), Some("bob"));
    assert_eq!(r.rejected[0].line, 4);
    assert!(
        r.rejected[0].reason.contains("user_creation_time"),
        "{}",
        r.rejected[0].reason
    );
}

#[test]
fn unknown_marker_is_rejected_not_treated_as_never() {
    let text = AWS.replace("2026-11-20T17:45:03+00:00", "unknown");
    let r = parse(text.as_bytes()).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].user.as_deref(), Some("alice"));
}

#[test]
fn active_key_without_creation_date_is_rejected() {
    let text = AWS.replace("true,2024-05-05T05:05:05+00:00", "true,N/A");
    let r = parse(text.as_bytes()).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert!(r.rejected[0].reason.contains("access key 1"));
}

#[test]
fn truncated_or_empty_reports_are_errors() {
    assert_eq!(parse(b""), Err(ReportError::Empty));
    assert_eq!(
        parse(b"user,arn,user_creation_time\nx,arn:aws:iam::1:user/x,2020-01-01T00:00:00+00:00\n"),
        Err(ReportError::MissingColumn("password_enabled"))
    );
    let header_only = AWS.lines().next().unwrap();
    assert_eq!(parse(header_only.as_bytes()), Err(ReportError::Empty));
}

#[test]
fn a_short_row_is_rejected() {
    let text = format!(
        "{}\nzed,arn:aws:iam::111122223333:user/zed,2020-01-01T00:00:00+00:00\n",
        AWS.trim_end()
    );
    let r = parse(text.as_bytes()).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].user.as_deref(), Some("zed"));
}

proptest! {
    /// Whatever bytes arrive, parsing never panics, and every row it accepts has a name and an ARN.
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut text = AWS.lines().next().unwrap().as_bytes().to_vec();
        text.push(b'\n');
        text.extend(body);
        if let Ok(r) = parse(&text) {
            for row in r.rows {
                prop_assert!(!row.user.is_empty());
                prop_assert!(row.arn.starts_with("arn:"));
            }
        }
    }

    /// Rows made of valid cells in random combinations parse, or are rejected, but never both.
    #[test]
    fn rows_are_accounted_for(cells in proptest::collection::vec(
        prop_oneof![Just("N/A"), Just("no_information"), Just("not_supported"), Just("true"), Just("false"),
                    Just("2025-01-01T00:00:00+00:00"), Just(""), Just("garbage")], 20..24), n in 1usize..5)
    {
        let header = AWS.lines().next().unwrap();
        let mut text = String::from(header);
        for i in 0..n {
            text.push_str(&format!("\nu{i},arn:aws:iam::111122223333:user/u{i},{}", cells.join(",")));
        }
        let r = parse(text.as_bytes()).unwrap();
        prop_assert_eq!(r.rows.len() + r.rejected.len(), n);
    }
}

#[test]
fn signing_certificates_are_read_when_their_columns_are_there() {
    let carol_certs = "N/A,N/A,N/A,false,N/A,false,N/A\ndave";
    assert!(AWS.contains(carol_certs));
    let text = AWS.replace(
        carol_certs,
        "N/A,N/A,N/A,true,2023-03-03T03:03:03+00:00,false,N/A\ndave",
    );
    let r = parse(text.as_bytes()).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let carol = &r.rows[2];
    assert_eq!(
        carol.certificates[0],
        CertSlot {
            slot: 1,
            active: true,
            last_rotated: Observed::At(datetime!(2023-03-03 03:03:03 UTC)),
        }
    );
    assert!(!carol.certificates[1].active);
    assert!(r.rows[0].certificates.iter().all(|c| !c.active));

    // An active certificate without its upload time is not understood: the row is
    // rejected, never acted on.
    let text = AWS.replace(carol_certs, "N/A,N/A,N/A,true,N/A,false,N/A\ndave");
    let r = parse(text.as_bytes()).unwrap();
    assert_eq!(r.rejected.len(), 1);
    assert!(r.rejected[0].reason.contains("cert_1_last_rotated"), "{:?}", r.rejected);

    // A report without the columns says nothing about certificates.
    let without: String = AWS
        .lines()
        .map(|l| l.rsplitn(5, ',').last().unwrap().to_string() + "\n")
        .collect();
    assert!(!without.contains("cert_"));
    let r = parse(without.as_bytes()).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert!(r.rows.iter().all(|row| row.certificates.iter().all(|c| !c.active)));
}
