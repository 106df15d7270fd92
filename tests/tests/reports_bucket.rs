//! The central reports bucket in the management account, written by every member
//! account's Lambda role, on an emulator that authorizes role sessions' S3 requests the
//! way S3 does (SCPs, identity-based policies and the bucket policy, policy variables
//! included; see `tests/emulator/iam_authz.py`):
//!
//! The policies are the templates' own: the artifact stack's `ReportBucketPolicy` and the
//! member stack's `ReportWriterPolicy`, resolved as CloudFormation would.
//!
//! - a member account's role under `/iam-janitor/` writes under its own prefix only,
//!   even when its identity policy allows `s3:PutObject` everywhere;
//! - it cannot read or list the reports (its own or another account's);
//! - a role of the organization not under `/iam-janitor/`, a role outside the
//!   organization, a session allowed nothing, and a request not over TLS are refused;
//! - the bucket owner's own principals are governed by their identity policies alone
//!   (same account: either policy may allow).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_iam::config::Credentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use iam_janitor::archive::ReportArchive;
use iam_janitor::model::report::{Mode, REPORT_SCHEMA_VERSION, Report, Summary};
use iam_janitor_cfn::stacks::{artifacts, member};
use iam_janitor_harness::{Emulator, Organization};
use serde_json::{Value, json};
use time::OffsetDateTime;

const BUCKET: &str = "iam-janitor-reports-123456789012-us-east-1";
const ROLE: &str = "iam-janitor-lambda";
const ROLE_PATH: &str = "/iam-janitor/";
/// An account that belongs to no organization.
const OUTSIDER: &str = "999999999999";

/// A template expression as CloudFormation resolves it: `Ref`, `Fn::GetAtt` and
/// `Fn::Sub` from `values` (by name, `Resource.Attribute` for attributes), `${!x}` as the
/// literal `${x}`.
fn resolve(value: &Value, values: &[(&str, String)]) -> Value {
    let get = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no value for {name}"))
    };
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => json!(get(map["Ref"].as_str().unwrap())),
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::GetAtt") => {
            let parts = map["Fn::GetAtt"].as_array().unwrap();
            json!(get(&format!(
                "{}.{}",
                parts[0].as_str().unwrap(),
                parts[1].as_str().unwrap()
            )))
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
            let mut text = map["Fn::Sub"].as_str().unwrap().to_string();
            let mut out = String::new();
            while let Some(start) = text.find("${") {
                out.push_str(&text[..start]);
                let end = start + text[start..].find('}').unwrap();
                let name = &text[start + 2..end];
                match name.strip_prefix('!') {
                    Some(literal) => out.push_str(&format!("${{{literal}}}")),
                    None => out.push_str(&get(name)),
                }
                text = text[end + 1..].to_string();
            }
            out.push_str(&text);
            json!(out)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, values))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, values)).collect()),
        other => other.clone(),
    }
}

/// The bucket policy of the artifact stack, as CloudFormation resolves it.
fn bucket_policy(org_id: &str) -> Value {
    let template = serde_json::to_value(artifacts::report_bucket_policy()).unwrap();
    resolve(
        &template,
        &[
            ("AWS::Partition", "aws".to_string()),
            ("OrganizationId", org_id.to_string()),
            ("ReportBucket.Arn", format!("arn:aws:s3:::{BUCKET}")),
        ],
    )
}

/// The member role's `ReportWriterPolicy` in `account`, as CloudFormation resolves it.
fn writes_own_prefix(account: &str) -> Value {
    let template = serde_json::to_value(member::report_writer_policy()).unwrap();
    resolve(
        &template,
        &[
            ("AWS::Partition", "aws".to_string()),
            ("AWS::AccountId", account.to_string()),
            ("ReportBucket", BUCKET.to_string()),
        ],
    )
}

fn allow(actions: &[&str], resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]})
}

fn report_key(account: &str) -> String {
    format!("reports/account={account}/date=2026-01-02/103000.json")
}

async fn client(emu: &Emulator, credentials: Option<Credentials>) -> Client {
    let config = match credentials {
        Some(credentials) => emu.sdk_config_as(credentials).await,
        None => emu.sdk_config().await,
    };
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A session of `role` under `path` in `account`, carrying exactly `policies`.
async fn role_in(emu: &Emulator, account: &str, role: &str, path: &str, policies: &[Value]) -> Client {
    client(
        emu,
        Some(emu.session_in(account, role, path, policies, &[]).await.unwrap()),
    )
    .await
}

/// The object `key`'s bytes, read with `s3` (which must be allowed to).
async fn read(s3: &Client, key: &str) -> Vec<u8> {
    let object = s3.get_object().bucket(BUCKET).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// `Ok(())`, or the error's code and message.
fn outcome<T, E: ProvideErrorMetadata, R>(result: Result<T, SdkError<E, R>>) -> Result<(), (String, String)> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err((
            e.code().unwrap_or("<no code>").to_string(),
            e.message().unwrap_or("<no message>").to_string(),
        )),
    }
}

async fn put(s3: &Client, key: &str) -> Result<(), (String, String)> {
    outcome(
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"{\"schema_version\":1}"))
            .content_type("application/json")
            .send()
            .await,
    )
}

/// Asserts an AccessDenied whose message gives `why`.
#[track_caller]
fn assert_denied(result: Result<(), (String, String)>, why: &str) {
    let (code, message) = result.expect_err("expected AccessDenied");
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(message.contains(why), "{message:?} does not say {why:?}");
}

const BUCKET_DENIES: &str = "with an explicit deny in a resource-based policy";
const BUCKET_ALLOWS_NOT: &str = "because no resource-based policy allows";
const IDENTITY_ALLOWS_NOT: &str = "because no identity-based policy allows";

struct World {
    emu: Emulator,
    a: String,
    b: String,
}

async fn world() -> World {
    let emu = Emulator::start().await.unwrap();
    let org = Organization::builder()
        .account("member-a", "workloads")
        .account("member-b", "workloads")
        .create(&emu)
        .await
        .unwrap();
    let root = client(&emu, None).await;
    root.create_bucket().bucket(BUCKET).send().await.unwrap();
    root.put_bucket_policy()
        .bucket(BUCKET)
        .policy(bucket_policy(&org.id).to_string())
        .send()
        .await
        .unwrap();
    let a = org.account_id("member-a").unwrap().to_string();
    let b = org.account_id("member-b").unwrap().to_string();
    World { emu, a, b }
}

#[tokio::test]
async fn each_account_writes_only_its_own_prefix() {
    let World { emu, a, b } = world().await;
    let lambda_a = role_in(&emu, &a, ROLE, ROLE_PATH, &[writes_own_prefix(&a)]).await;
    let lambda_b = role_in(&emu, &b, ROLE, ROLE_PATH, &[writes_own_prefix(&b)]).await;

    put(&lambda_a, &report_key(&a)).await.unwrap();
    put(&lambda_b, &report_key(&b)).await.unwrap();
    // The bucket owner sees both (its root is not authorized by the emulator).
    let listed = client(&emu, None)
        .await
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");

    // Not under another account's prefix: its own role does not allow it.
    assert_denied(put(&lambda_a, &report_key(&b)).await, IDENTITY_ALLOWS_NOT);
    // Nor with an identity policy that allows writing anywhere: across accounts the
    // bucket must allow it too, and it allows each account only its own prefix.
    let greedy = role_in(&emu, &a, ROLE, ROLE_PATH, &[allow(&["s3:PutObject"], "*")]).await;
    assert_denied(put(&greedy, &report_key(&b)).await, BUCKET_ALLOWS_NOT);
    assert_denied(put(&greedy, "reports/account=/x.json").await, BUCKET_ALLOWS_NOT);
    assert_denied(put(&greedy, "elsewhere.json").await, BUCKET_ALLOWS_NOT);
    put(&greedy, &report_key(&a)).await.unwrap();

    // B's report is still B's.
    assert_eq!(
        read(&client(&emu, None).await, &report_key(&b)).await,
        b"{\"schema_version\":1}"
    );

    // Every write was seen, the refused ones included (an AccessDenied is not retried).
    let counts = emu.calls().await.unwrap();
    assert_eq!(counts.s3.get("PutObject"), Some(&7), "{:?}", counts.s3);

    // The engine's own writer, as the Lambda in B stores a run: under B's prefix, and a
    // report claiming to be A's is refused (its key is under A's prefix).
    let credentials = emu
        .session_in(&b, ROLE, ROLE_PATH, &[writes_own_prefix(&b)], &[])
        .await
        .unwrap();
    let archive = ReportArchive::new(&emu.sdk_config_as(credentials).await, BUCKET);
    let mut report = minimal_report(&b);
    let key = archive.store(&report, OffsetDateTime::now_utc()).await.unwrap();
    assert!(key.starts_with(&format!("reports/account={b}/date=")), "{key}");
    report.account_id = Some(a.clone());
    let refused = archive.store(&report, OffsetDateTime::now_utc()).await.unwrap_err();
    assert!(refused.message.contains("access denied"), "{refused}");
}

/// A report of a run in `account` that found nothing.
fn minimal_report(account: &str) -> Report {
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        account_id: Some(account.to_string()),
        generated_at: OffsetDateTime::now_utc(),
        enforce: false,
        mode: Mode::Report,
        credential_report_generated_at: None,
        dormant_days: 90,
        warn_days: 14,
        findings: Vec::new(),
        rejected_rows: Vec::new(),
        suspicious_tags: Vec::new(),
        not_checked: Vec::new(),
        summary: Summary::default(),
        not_stored: None,
    }
}

#[tokio::test]
async fn members_cannot_read_or_list_reports() {
    let World { emu, a, b } = world().await;
    put(
        &role_in(&emu, &b, ROLE, ROLE_PATH, &[writes_own_prefix(&b)]).await,
        &report_key(&b),
    )
    .await
    .unwrap();
    put(
        &role_in(&emu, &a, ROLE, ROLE_PATH, &[writes_own_prefix(&a)]).await,
        &report_key(&a),
    )
    .await
    .unwrap();

    // The Lambda role's own policy grants no reads.
    let lambda_a = role_in(&emu, &a, ROLE, ROLE_PATH, &[writes_own_prefix(&a)]).await;
    let get = |s3: Client, key: String| async move { outcome(s3.get_object().bucket(BUCKET).key(key).send().await) };
    assert_denied(get(lambda_a.clone(), report_key(&b)).await, IDENTITY_ALLOWS_NOT);
    // Granting them in the member account is not enough: the bucket is another
    // account's and its policy grants no reads.
    let reader = role_in(
        &emu,
        &a,
        ROLE,
        ROLE_PATH,
        &[allow(&["s3:GetObject", "s3:ListBucket"], "*")],
    )
    .await;
    assert_denied(get(reader.clone(), report_key(&b)).await, BUCKET_ALLOWS_NOT);
    assert_denied(get(reader.clone(), report_key(&a)).await, BUCKET_ALLOWS_NOT);
    for prefix in [format!("reports/account={b}/"), "reports/".to_string()] {
        let listed = reader.list_objects_v2().bucket(BUCKET).prefix(prefix).send().await;
        assert_denied(outcome(listed), BUCKET_ALLOWS_NOT);
    }
    let listed = lambda_a.list_objects_v2().bucket(BUCKET).send().await;
    assert_denied(outcome(listed), IDENTITY_ALLOWS_NOT);
}

#[tokio::test]
async fn only_the_tools_roles_of_the_organization_over_tls_write() {
    let World { emu, a, b: _ } = world().await;
    let policy = [writes_own_prefix(&a)];

    // A role of the organization that is not the tool's.
    let developer = role_in(&emu, &a, "developer", "/", &policy).await;
    assert_denied(put(&developer, &report_key(&a)).await, BUCKET_ALLOWS_NOT);
    // The tool's role in an account outside the organization.
    let outsider = role_in(&emu, OUTSIDER, ROLE, ROLE_PATH, &[writes_own_prefix(OUTSIDER)]).await;
    assert_denied(put(&outsider, &report_key(OUTSIDER)).await, BUCKET_ALLOWS_NOT);
    // The tool's role allowed nothing by its own account.
    let nothing = role_in(&emu, &a, ROLE, ROLE_PATH, &[allow(&["s3:GetObject"], "*")]).await;
    assert_denied(put(&nothing, &report_key(&a)).await, IDENTITY_ALLOWS_NOT);

    // Not over TLS: even the right write is refused.
    let lambda_a = role_in(&emu, &a, ROLE, ROLE_PATH, &policy).await;
    emu.set_s3_secure_transport(false).await.unwrap();
    assert_denied(put(&lambda_a, &report_key(&a)).await, BUCKET_DENIES);
    emu.set_s3_secure_transport(true).await.unwrap();
    put(&lambda_a, &report_key(&a)).await.unwrap();
}

#[tokio::test]
async fn the_bucket_owners_principals_need_only_their_identity_policy() {
    let World { emu, a, b: _ } = world().await;
    let owner = emu.account_id().to_string();
    // Same account: the identity policy's Allow suffices; the bucket's own Allow (org,
    // /iam-janitor/ role) is not needed.
    let admin = role_in(&emu, &owner, "reports-admin", "/", &[allow(&["s3:*"], "*")]).await;
    put(&admin, "summaries/2026-01-02.json").await.unwrap();
    put(&admin, &report_key(&a)).await.unwrap();
    let got = admin.get_object().bucket(BUCKET).key(report_key(&a)).send().await;
    outcome(got).unwrap();
    // ... and nothing without it.
    let none = role_in(&emu, &owner, "reports-admin", "/", &[allow(&["s3:GetObject"], "*")]).await;
    assert_denied(put(&none, "summaries/x.json").await, IDENTITY_ALLOWS_NOT);
    // The TLS-only deny binds the owner too.
    emu.set_s3_secure_transport(false).await.unwrap();
    let got = admin.get_object().bucket(BUCKET).key(report_key(&a)).send().await;
    assert_denied(outcome(got), BUCKET_DENIES);
}

// =======================================================================================
// SSE-KMS: the bucket's default encryption with a customer managed key of the bucket's
// (management) account, with an S3 Bucket Key or without. S3 asks KMS with the caller's
// identity (kms:GenerateDataKey to write, kms:Decrypt to read), so KMS must allow the
// session as well as S3: an explicit deny anywhere wins; the key policy is required; a key
// policy statement naming an account only lets that account's IAM policies grant; across
// accounts the caller's identity policy must allow as well. The encryption context S3
// sends (`kms:EncryptionContext:aws:s3:arn`) is the bucket's ARN with a Bucket Key, the
// object's without.
// =======================================================================================

use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

const VIA_S3: &str = "s3.us-east-1.amazonaws.com";
const KEY_POLICY_ALLOWS_NOT: &str = "because no resource-based policy allows the kms:GenerateDataKey action";
const KEY_POLICY_DENIES: &str = "with an explicit deny in a resource-based policy";
const IDENTITY_ALLOWS_NOT_KMS: &str = "because no identity-based policy allows the kms:GenerateDataKey action";

/// An identity-based policy granting `actions` on the KMS key `key` when S3 in `via`
/// asks for them.
fn uses_key_via(actions: &[&str], key: &str, via: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": via}}}]})
}

fn uses_key(actions: &[&str], key: &str) -> Value {
    uses_key_via(actions, key, VIA_S3)
}

/// The key policy statement letting `account`'s IAM policies grant the key (the default
/// key policy's).
fn delegates_to(account: &str) -> Value {
    json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"})
}

/// The key policy statement for the report writers: the organization's `/iam-janitor/`
/// roles, through S3, when the encryption context `aws:s3:arn` is like `context`.
fn org_writers(org_id: &str, context: &str) -> Value {
    json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:GenerateDataKey", "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": org_id, "kms:ViaService": VIA_S3},
            "ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::*:role{ROLE_PATH}*")},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": context}}})
}

fn bucket_arn() -> String {
    format!("arn:aws:s3:::{BUCKET}")
}

/// [`world`] with a KMS key in the bucket's account (the default key policy until
/// [`KmsWorld::key_policy`]).
struct KmsWorld {
    emu: Emulator,
    a: String,
    b: String,
    org_id: String,
    kms: aws_sdk_kms::Client,
    /// The key's ARN.
    key: String,
    key_id: String,
}

async fn kms_world() -> KmsWorld {
    let World { emu, a, b } = world().await;
    let config = emu.sdk_config().await;
    let described = aws_sdk_organizations::Client::new(&config)
        .describe_organization()
        .send()
        .await
        .unwrap();
    let org_id = described.organization().and_then(|o| o.id()).unwrap().to_string();
    let kms = aws_sdk_kms::Client::new(&config);
    let created = kms.create_key().send().await.unwrap();
    let metadata = created.key_metadata().unwrap();
    let (key, key_id) = (metadata.arn().unwrap().to_string(), metadata.key_id().to_string());
    KmsWorld {
        emu,
        a,
        b,
        org_id,
        kms,
        key,
        key_id,
    }
}

impl KmsWorld {
    fn owner(&self) -> String {
        self.emu.account_id().to_string()
    }

    async fn key_policy(&self, statements: &[Value]) {
        let policy = json!({"Version": "2012-10-17", "Statement": statements});
        self.kms
            .put_key_policy()
            .key_id(&self.key)
            .policy_name("default")
            .policy(policy.to_string())
            .send()
            .await
            .unwrap();
    }

    /// The bucket's default encryption: `algorithm` with `key`, an S3 Bucket Key or not.
    async fn encrypt_bucket(&self, algorithm: ServerSideEncryption, key: Option<&str>, bucket_key: bool) {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .set_kms_master_key_id(key.map(str::to_string))
            .build()
            .unwrap();
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .bucket_key_enabled(bucket_key)
            .build();
        let configuration = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .unwrap();
        client(&self.emu, None)
            .await
            .put_bucket_encryption()
            .bucket(BUCKET)
            .server_side_encryption_configuration(configuration)
            .send()
            .await
            .unwrap();
    }

    /// How the object `key` is encrypted: (algorithm, KMS key, Bucket Key), as the
    /// bucket owner's root sees it.
    async fn encryption_of(&self, key: &str) -> (Option<ServerSideEncryption>, Option<String>, Option<bool>) {
        let head = client(&self.emu, None)
            .await
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        (
            head.server_side_encryption().cloned(),
            head.ssekms_key_id().map(str::to_string),
            head.bucket_key_enabled(),
        )
    }
}

#[tokio::test]
async fn kms_member_writers_need_the_key_policy_and_their_own_policy() {
    let w = kms_world().await;
    let owner = w.owner();
    let writers = org_writers(&w.org_id, &bucket_arn());
    w.key_policy(&[delegates_to(&owner), writers.clone()]).await;
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), true).await;
    let writer_policy = |account: &str| [writes_own_prefix(account), uses_key(&["kms:GenerateDataKey"], &w.key)];

    // The key policy allows the organization's writers, and the role's own policy grants
    // the key: the report is written, encrypted with the key and the bucket's Bucket Key.
    let writer_a = role_in(&w.emu, &w.a, ROLE, ROLE_PATH, &writer_policy(&w.a)).await;
    put(&writer_a, &report_key(&w.a)).await.unwrap();
    assert_eq!(
        w.encryption_of(&report_key(&w.a)).await,
        (Some(ServerSideEncryption::AwsKms), Some(w.key.clone()), Some(true))
    );

    // Across accounts the key policy is not enough: without kms:GenerateDataKey in its own
    // policy (or with one for another Region's S3), the writer is refused.
    let s3_only = role_in(&w.emu, &w.a, ROLE, ROLE_PATH, &[writes_own_prefix(&w.a)]).await;
    assert_denied(
        put(&s3_only, &report_key(&w.a)).await,
        &format!("kms:GenerateDataKey on resource: {} {IDENTITY_ALLOWS_NOT_KMS}", w.key),
    );
    let elsewhere = uses_key_via(&["kms:GenerateDataKey"], &w.key, "s3.eu-west-1.amazonaws.com");
    let misgranted = role_in(&w.emu, &w.a, ROLE, ROLE_PATH, &[writes_own_prefix(&w.a), elsewhere]).await;
    assert_denied(put(&misgranted, &report_key(&w.a)).await, IDENTITY_ALLOWS_NOT_KMS);

    // An explicit deny in the key policy wins over both allows.
    let deny_b = json!({"Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{}:root", w.b)},
        "Action": "kms:*", "Resource": "*"});
    w.key_policy(&[delegates_to(&owner), writers.clone(), deny_b]).await;
    let writer_b = role_in(&w.emu, &w.b, ROLE, ROLE_PATH, &writer_policy(&w.b)).await;
    assert_denied(put(&writer_b, &report_key(&w.b)).await, KEY_POLICY_DENIES);
    put(&writer_a, &report_key(&w.a)).await.unwrap();

    // A key policy naming only the key's own account grants nothing to other accounts,
    // whatever their own policies say.
    w.key_policy(&[delegates_to(&owner)]).await;
    assert_denied(put(&writer_a, &report_key(&w.a)).await, KEY_POLICY_ALLOWS_NOT);

    // Without a Bucket Key the encryption context is the object's ARN: a statement naming
    // the bucket's no longer applies, one naming the writer's own prefix does.
    w.key_policy(&[delegates_to(&owner), writers]).await;
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), false)
        .await;
    assert_denied(put(&writer_a, &report_key(&w.a)).await, KEY_POLICY_ALLOWS_NOT);
    let own_prefix = format!("{}/reports/account=${{aws:PrincipalAccount}}/*", bucket_arn());
    w.key_policy(&[delegates_to(&owner), org_writers(&w.org_id, &own_prefix)])
        .await;
    put(&writer_a, &report_key(&w.a)).await.unwrap();
    assert_eq!(w.encryption_of(&report_key(&w.a)).await.2, Some(false));
}

#[tokio::test]
async fn kms_the_key_accounts_roles_need_delegation_or_to_be_named() {
    let w = kms_world().await;
    let owner = w.owner();
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), true).await;
    let s3_policy = allow(&["s3:PutObject"], "*");
    let granted = role_in(
        &w.emu,
        &owner,
        "reports-admin",
        "/",
        &[s3_policy.clone(), uses_key(&["kms:GenerateDataKey"], &w.key)],
    )
    .await;
    let not_granted = role_in(&w.emu, &owner, "reports-admin", "/", &[s3_policy]).await;

    // A key policy naming the account root delegates to IAM: the role's own grant
    // suffices, and is needed.
    w.key_policy(&[delegates_to(&owner)]).await;
    put(&granted, "summaries/1.json").await.unwrap();
    assert_denied(put(&not_granted, "summaries/2.json").await, IDENTITY_ALLOWS_NOT_KMS);

    // Without that statement the identity grant allows nothing, even in the key's account
    // (unlike a bucket policy, where the owner's IAM policies suffice).
    w.key_policy(&[org_writers(&w.org_id, &bucket_arn())]).await;
    assert_denied(put(&granted, "summaries/3.json").await, KEY_POLICY_ALLOWS_NOT);

    // A statement naming the role allows it by itself, without an identity grant.
    let names_role = json!({"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{owner}:role/reports-admin")},
        "Action": "kms:GenerateDataKey", "Resource": "*"});
    w.key_policy(&[names_role]).await;
    put(&not_granted, "summaries/4.json").await.unwrap();
}

#[tokio::test]
async fn kms_reading_a_report_needs_decrypt() {
    let w = kms_world().await;
    let owner = w.owner();
    w.key_policy(&[delegates_to(&owner), org_writers(&w.org_id, &bucket_arn())])
        .await;
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), true).await;
    let writer_a = role_in(
        &w.emu,
        &w.a,
        ROLE,
        ROLE_PATH,
        &[writes_own_prefix(&w.a), uses_key(&["kms:GenerateDataKey"], &w.key)],
    )
    .await;
    put(&writer_a, &report_key(&w.a)).await.unwrap();
    // The object's key decides, not the bucket's default of the moment.
    w.encrypt_bucket(ServerSideEncryption::Aes256, None, false).await;

    let report = report_key(&w.a);
    let get = |s3: Client, key: String| async move { outcome(s3.get_object().bucket(BUCKET).key(key).send().await) };
    let reader = role_in(&w.emu, &owner, "reports-reader", "/", &[allow(&["s3:GetObject"], "*")]).await;
    assert_denied(
        get(reader.clone(), report.clone()).await,
        &format!(
            "kms:Decrypt on resource: {} because no identity-based policy allows the kms:Decrypt action",
            w.key
        ),
    );
    // HeadObject decrypts nothing.
    let head = reader.head_object().bucket(BUCKET).key(&report).send().await;
    outcome(head).unwrap();
    // kms:GenerateDataKey is not kms:Decrypt.
    let writes_only = uses_key(&["kms:GenerateDataKey"], &w.key);
    let writer_only = role_in(
        &w.emu,
        &owner,
        "reports-reader",
        "/",
        &[allow(&["s3:GetObject"], "*"), writes_only],
    )
    .await;
    assert_denied(get(writer_only, report.clone()).await, "kms:Decrypt");

    let decrypts = role_in(
        &w.emu,
        &owner,
        "reports-reader",
        "/",
        &[allow(&["s3:GetObject"], "*"), uses_key(&["kms:Decrypt"], &w.key)],
    )
    .await;
    assert_eq!(read(&decrypts, &report).await, b"{\"schema_version\":1}");
}

#[tokio::test]
async fn kms_a_missing_or_disabled_key_fails_the_write_and_sse_s3_needs_no_kms() {
    let w = kms_world().await;
    let owner = w.owner();
    w.key_policy(&[delegates_to(&owner), org_writers(&w.org_id, &bucket_arn())])
        .await;
    let writer_a = role_in(
        &w.emu,
        &w.a,
        ROLE,
        ROLE_PATH,
        &[writes_own_prefix(&w.a), uses_key(&["kms:GenerateDataKey"], &w.key)],
    )
    .await;
    let code_of = |result: Result<(), (String, String)>| result.expect_err("expected a KMS error").0;

    // SSE-S3: S3's own keys, no KMS permission needed.
    w.encrypt_bucket(ServerSideEncryption::Aes256, None, false).await;
    let s3_only = role_in(&w.emu, &w.a, ROLE, ROLE_PATH, &[writes_own_prefix(&w.a)]).await;
    put(&s3_only, &report_key(&w.a)).await.unwrap();
    assert_eq!(
        w.encryption_of(&report_key(&w.a)).await.0,
        Some(ServerSideEncryption::Aes256)
    );

    // A key that does not exist, or not in the bucket's Region, or named by its ID alone:
    // S3 looks for that in the writer's account (across accounts only the ARN names it).
    let missing = format!("arn:aws:kms:us-east-1:{owner}:key/00000000-0000-0000-0000-000000000000");
    for key in [missing, w.key.replace(":us-east-1:", ":eu-west-1:"), w.key_id.clone()] {
        w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&key), true).await;
        assert_eq!(
            code_of(put(&writer_a, &report_key(&w.a)).await),
            "KMS.NotFoundException"
        );
    }

    // A disabled key.
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), true).await;
    w.kms.disable_key().key_id(&w.key_id).send().await.unwrap();
    assert_eq!(
        code_of(put(&writer_a, &report_key(&w.a)).await),
        "KMS.DisabledException"
    );
    w.kms.enable_key().key_id(&w.key_id).send().await.unwrap();
    put(&writer_a, &report_key(&w.a)).await.unwrap();
}

/// moto 5.2.5 drops a template's `BucketKeyEnabled`; the emulator keeps it, so a bucket
/// deployed by CloudFormation uses its Bucket Key (and S3's encryption context is the
/// bucket's ARN) as in AWS.
#[tokio::test]
async fn kms_a_cloudformation_bucket_keeps_its_bucket_key() {
    let emu = Emulator::start().await.unwrap();
    let config = emu.sdk_config().await;
    let key = aws_sdk_kms::Client::new(&config).create_key().send().await.unwrap();
    let key = key.key_metadata().and_then(|m| m.arn()).unwrap().to_string();
    let bucket = "iam-janitor-kms-stack-bucket";
    let template = json!({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": bucket,
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
            "BucketKeyEnabled": true}]}}}}});
    aws_sdk_cloudformation::Client::new(&config)
        .create_stack()
        .stack_name("kms-bucket")
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let s3 = client(&emu, None).await;
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rules = encryption.server_side_encryption_configuration().unwrap().rules();
    assert_eq!(rules[0].bucket_key_enabled(), Some(true), "{rules:?}");
    let body = ByteStream::from_static(b"{}");
    s3.put_object()
        .bucket(bucket)
        .key("x.json")
        .body(body)
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket(bucket).key("x.json").send().await.unwrap();
    assert_eq!(head.bucket_key_enabled(), Some(true));
    assert_eq!(head.ssekms_key_id(), Some(key.as_str()));
}

// =======================================================================================
// The product with a KMS key: the bucket encrypted as the artifact stack encrypts it with
// `ReportKmsKeyArn`, the key policy with the statement the README gives (and deploy
// checks for), the member role's `ReportWriterPolicy` and `ReportEncryptPolicy`, the
// management role's `OrgDigestReaderPolicy` and `OrgDigestDecryptPolicy`, all resolved
// as CloudFormation would, and the engine's own writer and reader.
// =======================================================================================

/// The engine's report archive as a session of `role` under `path` in `account`,
/// carrying exactly `policies`.
async fn archive_as(emu: &Emulator, account: &str, role: &str, path: &str, policies: &[Value]) -> ReportArchive {
    let credentials = emu.session_in(account, role, path, policies, &[]).await.unwrap();
    ReportArchive::new(&emu.sdk_config_as(credentials).await, BUCKET)
}

/// Stores a run of `account` that found nothing, now.
async fn store_run(archive: &ReportArchive, account: &str) -> Result<String, iam_janitor::archive::ArchiveError> {
    archive.store(&minimal_report(account), OffsetDateTime::now_utc()).await
}

/// `value` with every `Fn::If` on `condition` taken as true (`AWS::NoValue` drops its key).
fn if_true(value: &Value, condition: &str) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::If") => {
            let branches = map["Fn::If"].as_array().unwrap();
            assert_eq!(branches[0], condition);
            if_true(&branches[1], condition)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| **v != json!({"Ref": "AWS::NoValue"}))
                .map(|(k, v)| (k.clone(), if_true(v, condition)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| if_true(v, condition)).collect()),
        other => other.clone(),
    }
}

/// A member policy of the template (`document`) for `account`, with the key `key`.
fn member_policy(
    document: iam_janitor_cfn::policy::PolicyDocument<iam_janitor_cfn::expr::Expr>,
    account: &str,
    key: &str,
) -> Value {
    resolve(
        &serde_json::to_value(document).unwrap(),
        &[
            ("AWS::Partition", "aws".to_string()),
            ("AWS::AccountId", account.to_string()),
            ("AWS::Region", "us-east-1".to_string()),
            ("ReportBucket", BUCKET.to_string()),
            ("ReportKmsKeyArn", key.to_string()),
        ],
    )
}

#[tokio::test]
async fn with_the_templates_and_the_readmes_key_statement_each_account_stores_and_the_digest_reads() {
    let w = kms_world().await;
    let owner = w.owner();
    // The key policy: its default statement (the management account's IAM policies) and
    // the README's.
    let statement = serde_json::to_value(artifacts::report_key_policy_statement(
        "aws",
        &w.org_id,
        "us-east-1",
        BUCKET,
    ))
    .unwrap();
    w.key_policy(&[delegates_to(&owner), statement]).await;
    // The bucket's encryption as the artifact stack sets it with a key.
    let template = artifacts::artifact_stack().to_value().unwrap();
    let rule = resolve(
        &if_true(
            &template["Resources"]["ReportBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                [0],
            "HasReportKmsKey",
        ),
        &[("ReportKmsKeyArn", w.key.clone())],
    );
    assert_eq!(
        rule,
        json!({"BucketKeyEnabled": true,
               "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": w.key}})
    );
    w.encrypt_bucket(ServerSideEncryption::AwsKms, Some(&w.key), true).await;

    // Member A's Lambda, with its two report policies: stores its run, encrypted with the key.
    let writer = |account: &str| {
        vec![
            writes_own_prefix(account),
            member_policy(member::report_encrypt_policy(), account, &w.key),
        ]
    };
    let lambda_a = archive_as(&w.emu, &w.a, ROLE, ROLE_PATH, &writer(&w.a)).await;
    let stored = store_run(&lambda_a, &w.a).await.unwrap();
    assert_eq!(
        w.encryption_of(&stored).await,
        (Some(ServerSideEncryption::AwsKms), Some(w.key.clone()), Some(true))
    );
    // The management account's own Lambda too (the key's account: the README's statement
    // names its role as it names every account's).
    let lambda_owner = archive_as(&w.emu, &owner, ROLE, ROLE_PATH, &writer(&owner)).await;
    store_run(&lambda_owner, &owner).await.unwrap();

    // Without ReportEncryptPolicy (a stack deployed before the key): not stored, and the
    // error says what is missing.
    let without = archive_as(&w.emu, &w.b, ROLE, ROLE_PATH, &[writes_own_prefix(&w.b)]).await;
    let refused = store_run(&without, &w.b).await.unwrap_err();
    assert!(
        refused.message.contains("kms:GenerateDataKey") && refused.message.contains("ReportEncryptPolicy"),
        "{refused}"
    );
    // A role of the organization not under /iam-janitor/, with every grant of its own:
    // the key's statement does not name it (the bucket policy does not either).
    let grants = [allow(&["s3:PutObject", "kms:GenerateDataKey"], "*")];
    let other = archive_as(&w.emu, &w.b, "ci-deployer", "/", &grants).await;
    assert!(store_run(&other, &w.b).await.is_err());

    // The organization digest's role in the management account reads both reports with
    // OrgDigestDecryptPolicy; without it, each is rejected saying why.
    let reader = |decrypt: bool| {
        let mut policies = vec![member_policy(member::org_digest_reader_policy(), &owner, &w.key)];
        if decrypt {
            policies.push(member_policy(member::org_digest_decrypt_policy(), &owner, &w.key));
        }
        policies
    };
    let listing_keys = {
        let digest = archive_as(&w.emu, &owner, ROLE, ROLE_PATH, &reader(true)).await;
        let listing = digest
            .list_reports(time::macros::date!(2020 - 01 - 01), &iam_janitor::archive::Quiet)
            .await
            .unwrap();
        let (runs, rejected) = digest.read_reports(&listing.keys, &iam_janitor::archive::Quiet).await;
        assert_eq!(runs.len(), 2, "{rejected:?}");
        assert!(rejected.is_empty(), "{rejected:?}");
        listing.keys
    };
    assert_eq!(listing_keys.len(), 2, "{listing_keys:?}");
    assert!(listing_keys.contains(&stored), "{listing_keys:?}");
    let digest = archive_as(&w.emu, &owner, ROLE, ROLE_PATH, &reader(false)).await;
    let (runs, rejected) = digest.read_reports(&listing_keys, &iam_janitor::archive::Quiet).await;
    assert!(runs.is_empty(), "{runs:?}");
    assert_eq!(rejected.len(), 2);
    for r in &rejected {
        assert!(
            r.reason.contains("kms:Decrypt") && r.reason.contains("the reader needs kms:Decrypt on it"),
            "{r:?}"
        );
    }
}
