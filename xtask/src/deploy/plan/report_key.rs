//! The report bucket's optional KMS key (`deploy --report-kms-key-arn`): the checks on
//! its ARN, on the key as KMS describes it, and on its key policy. Pure: `aws` reads
//! the key into [`KeyDescription`] and its policy as text.
//!
//! S3 encrypts each report with the key using the writer's own permissions, so a key
//! that is missing, disabled, of the wrong kind or AWS managed (whose policy no one
//! can extend to other accounts) would leave every account's reports unstored: deploy
//! refuses those. The key policy is the user's to write (the README gives the
//! statement); deploy only warns when the statement it expects is not there, since an
//! equivalent one may be.

use iam_janitor_cfn::stacks::artifacts::{REPORT_KEY_STATEMENT_SID, report_key_policy_statement};
use serde_json::Value;

/// A key ARN's parts, as the stacks' `ReportKmsKeyArn` pattern accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyArn {
    pub(crate) partition: String,
    pub(crate) region: String,
    pub(crate) account: String,
}

/// The parts of `arn` if it is a KMS key's ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`, ID a
/// key ID or a multi-Region `mrk-…` one), as the `ReportKmsKeyArn` pattern checks it;
/// None for anything else (an alias, a bare key ID).
pub(crate) fn key_arn(arn: &str) -> Option<KeyArn> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", partition, "kms", region, account, resource] = parts.as_slice() else {
        return None;
    };
    let lower_hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let id = resource.strip_prefix("key/")?;
    let key_id = match id.strip_prefix("mrk-") {
        Some(multi_region) => multi_region.len() == 32 && lower_hex(multi_region),
        None => {
            let groups: Vec<&str> = id.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| lower_hex(g))
        }
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let partition_ok = partition
        .strip_prefix("aws")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    (partition_ok && region_ok && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && key_id).then(
        || KeyArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
        },
    )
}

/// A key as KMS DescribeKey shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyDescription {
    pub(crate) state: String,
    pub(crate) usage: String,
    pub(crate) spec: String,
    pub(crate) manager: String,
}

/// The parts of the key ARN `arn`, if it names a key of `region` (the report bucket's:
/// S3 encrypts only with a key of the bucket's Region); why not otherwise. Needs no call,
/// so deploy checks it before asking KMS (which would not find a key of another Region).
pub(crate) fn check_key_arn(arn: &str, region: &str) -> Result<KeyArn, String> {
    let flag = format!("--report-kms-key-arn {arn}");
    match key_arn(arn) {
        None => Err(format!(
            "{flag} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
        )),
        Some(parts) if parts.region != region => Err(format!(
            "{flag} is in {}, but the report bucket is in {region}: S3 encrypts only with a key of the bucket's \
             Region",
            parts.region
        )),
        Some(parts) => Ok(parts),
    }
}

/// Why the key `arn`, deployed in `region`, cannot encrypt the reports; Ok if it can.
pub(crate) fn check_key(arn: &str, region: &str, key: &KeyDescription) -> Result<(), String> {
    let flag = format!("--report-kms-key-arn {arn}");
    check_key_arn(arn, region)?;
    if key.manager != "CUSTOMER" {
        return Err(format!(
            "{flag} is an AWS managed key: its key policy cannot let the organization's accounts use it. Create a \
             customer managed key (README, \"The report bucket's KMS key\")"
        ));
    }
    if key.usage != "ENCRYPT_DECRYPT" || key.spec != "SYMMETRIC_DEFAULT" {
        return Err(format!(
            "{flag} is a {} key for {}: S3 encrypts only with a symmetric encryption key (SYMMETRIC_DEFAULT, \
             ENCRYPT_DECRYPT)",
            key.spec, key.usage
        ));
    }
    if key.state != "Enabled" {
        return Err(format!(
            "{flag} is {}: S3 could not encrypt any report with it. Enable the key, or deploy with another",
            key.state
        ));
    }
    Ok(())
}

/// What the key's policy says of the tool's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyPolicyCheck {
    /// It has the README's statement, as it should be for this organization and bucket.
    Expected,
    /// A warning for the person deploying: the statement is missing or differs.
    Warning(String),
}

/// Checks the key policy `policy` (JSON text) for the statement the organization's
/// tool roles need to store reports in `bucket` (README, "The report bucket's KMS key").
pub(crate) fn check_key_policy(
    policy: &str,
    arn: &KeyArn,
    organization_id: &str,
    region: &str,
    bucket: &str,
) -> KeyPolicyCheck {
    let statement = report_key_policy_statement(&arn.partition, organization_id, region, bucket);
    // As the README shows it (Sid first), not in a JSON value's sorted order.
    let (expected, pretty) = match (
        serde_json::to_value(&statement),
        serde_json::to_string_pretty(&statement),
    ) {
        (Ok(value), Ok(pretty)) => (value, pretty),
        (Err(e), _) | (_, Err(e)) => {
            return KeyPolicyCheck::Warning(format!("cannot render the expected key policy statement: {e}"));
        }
    };
    let found = serde_json::from_str::<Value>(policy).ok().and_then(|document| {
        let statements = match document.get("Statement")? {
            Value::Array(statements) => statements.clone(),
            statement => vec![statement.clone()],
        };
        Some(
            statements
                .into_iter()
                .find(|s| s.get("Sid").and_then(Value::as_str) == Some(REPORT_KEY_STATEMENT_SID)),
        )
    });
    match found {
        None => KeyPolicyCheck::Warning(
            "the key policy is not JSON with a Statement; cannot check that it lets the organization's tool roles \
             encrypt reports"
                .to_string(),
        ),
        Some(Some(statement)) if normalized(&statement) == normalized(&expected) => KeyPolicyCheck::Expected,
        Some(Some(_)) => KeyPolicyCheck::Warning(format!(
            "the key policy's statement {REPORT_KEY_STATEMENT_SID} differs from what this deployment needs; unless \
             another statement allows the same, no account can store its reports. Expected:\n{pretty}"
        )),
        Some(None) => KeyPolicyCheck::Warning(format!(
            "the key policy has no statement {REPORT_KEY_STATEMENT_SID}; unless another statement allows the same, \
             no account can store its reports (each run says \"not stored\"). Add:\n{pretty}"
        )),
    }
}

/// `value` with every one-element array as its element, as IAM reads both alike.
fn normalized(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 => normalized(&items[0]),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use iam_janitor_cfn::stacks::artifacts::KMS_KEY_ARN_PATTERN;
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const BUCKET: &str = "iam-janitor-reports-111122223333-eu-west-1";
    const ORG: &str = "o-abcd123456";

    fn customer_key() -> KeyDescription {
        KeyDescription {
            state: "Enabled".into(),
            usage: "ENCRYPT_DECRYPT".into(),
            spec: "SYMMETRIC_DEFAULT".into(),
            manager: "CUSTOMER".into(),
        }
    }

    #[test]
    fn key_arns_are_checked_as_the_stacks_pattern_checks_them() {
        let pattern = regex_lite::Regex::new(KMS_KEY_ARN_PATTERN).unwrap();
        let good = [
            ARN,
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/00000000-0000-0000-0000-000000000000",
        ];
        let bad = [
            "",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:111122223333:alias/reports",
            "arn:aws:kms:eu-west-1:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a",
            "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd",
            "arn:aws:kms:eu-west-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms::111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:::bucket",
            "arn:gcp:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ];
        for arn in good {
            assert!(key_arn(arn).is_some(), "{arn}");
            assert!(pattern.is_match(arn), "{arn}");
        }
        for arn in bad {
            assert!(key_arn(arn).is_none(), "{arn}");
            // The empty value is the parameter's "no key", which the pattern allows.
            assert_eq!(pattern.is_match(arn), arn.is_empty(), "{arn}");
        }
        assert_eq!(
            key_arn(ARN),
            Some(KeyArn {
                partition: "aws".into(),
                region: "eu-west-1".into(),
                account: "111122223333".into()
            })
        );
    }

    #[test]
    fn only_an_enabled_symmetric_customer_managed_key_of_the_buckets_region_is_taken() {
        assert_eq!(check_key(ARN, "eu-west-1", &customer_key()), Ok(()));
        let refused = |arn: &str, region: &str, key: KeyDescription, why: &str| {
            let error = check_key(arn, region, &key).unwrap_err();
            assert!(error.contains(arn) && error.contains(why), "{error}");
        };
        refused(ARN, "us-east-1", customer_key(), "is in eu-west-1");
        refused(
            ARN,
            "eu-west-1",
            KeyDescription {
                manager: "AWS".into(),
                ..customer_key()
            },
            "AWS managed",
        );
        refused(
            ARN,
            "eu-west-1",
            KeyDescription {
                spec: "RSA_2048".into(),
                ..customer_key()
            },
            "symmetric",
        );
        refused(
            ARN,
            "eu-west-1",
            KeyDescription {
                usage: "GENERATE_VERIFY_MAC".into(),
                spec: "HMAC_256".into(),
                ..customer_key()
            },
            "symmetric",
        );
        for state in ["Disabled", "PendingDeletion", "PendingImport"] {
            refused(
                ARN,
                "eu-west-1",
                KeyDescription {
                    state: state.into(),
                    ..customer_key()
                },
                state,
            );
        }
        refused(
            "arn:aws:kms:eu-west-1:111122223333:alias/x",
            "eu-west-1",
            customer_key(),
            "not a KMS key ARN",
        );
    }

    #[test]
    fn a_key_policy_without_the_statement_is_warned_of_with_the_statement_to_add() {
        let arn = key_arn(ARN).unwrap();
        let statement = serde_json::to_value(report_key_policy_statement("aws", ORG, "eu-west-1", BUCKET)).unwrap();
        let root = json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                          "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"});
        let policy = |statements: Value| json!({"Version": "2012-10-17", "Statement": statements}).to_string();

        let check = |text: &str| check_key_policy(text, &arn, ORG, "eu-west-1", BUCKET);
        assert_eq!(check(&policy(json!([root, statement]))), KeyPolicyCheck::Expected);
        // One-element lists read as their element.
        let mut listed = statement.clone();
        listed["Action"] = json!(["kms:GenerateDataKey"]);
        listed["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = json!([ORG]);
        assert_eq!(check(&policy(json!([root, listed]))), KeyPolicyCheck::Expected);

        let KeyPolicyCheck::Warning(missing) = check(&policy(json!([root]))) else {
            panic!("no warning");
        };
        assert!(
            missing.contains("has no statement IamJanitorRolesEncryptReports"),
            "{missing}"
        );
        // The statement to add, ready to paste.
        let pasted = missing.split_once("Add:\n").unwrap().1;
        assert_eq!(serde_json::from_str::<Value>(pasted).unwrap(), statement);
        assert!(
            pasted.starts_with("{\n  \"Sid\": \"IamJanitorRolesEncryptReports\","),
            "{pasted}"
        );

        let mut other_org = statement.clone();
        other_org["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = json!("o-zzzz999999");
        let KeyPolicyCheck::Warning(differs) = check(&policy(json!([root, other_org]))) else {
            panic!("no warning");
        };
        assert!(differs.contains("differs") && differs.contains(ORG), "{differs}");

        assert!(matches!(check("not json"), KeyPolicyCheck::Warning(w) if w.contains("not JSON")));
    }

    #[test]
    fn the_readme_gives_the_statement_deploy_checks_for() {
        let readme = include_str!("../../../../README.md");
        let statement = report_key_policy_statement(
            "aws",
            "o-abcd123456",
            "eu-west-1",
            "iam-janitor-reports-111122223333-eu-west-1",
        );
        let block = format!("```json\n{}\n```", serde_json::to_string_pretty(&statement).unwrap());
        assert!(
            readme.contains(&block),
            "README.md, \"The report bucket's KMS key\", should show:\n{block}"
        );
    }
}
