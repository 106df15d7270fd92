//! The S3 code bucket: whether it (and a zip) exists, its Region, the upload, and
//! emptying and deleting it.

use anyhow::{Context as _, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, Delete, ObjectIdentifier};
use sha2::{Digest, Sha256};

use super::super::progress::Step;
use super::{Aws, OrFail, describe};

impl Aws {
    pub(crate) async fn bucket_exists(&self, bucket: &str) -> anyhow::Result<bool> {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            // In another Region: it exists (GetBucketLocation then says where).
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 301) => Ok(true),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("HeadBucket {bucket}"))),
        }
    }

    /// The bucket's Region.
    pub(crate) async fn bucket_region(&self, bucket: &str) -> anyhow::Result<String> {
        let location = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .or_fail(|| format!("GetBucketLocation {bucket}"))?;
        // No constraint is us-east-1; "EU" is the legacy name of eu-west-1.
        Ok(match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(region) => region.to_string(),
        })
    }

    pub(crate) async fn object_exists(&self, bucket: &str, key: &str) -> anyhow::Result<bool> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(anyhow::Error::msg(describe(&e)).context(format!("HeadObject s3://{bucket}/{key}"))),
        }
    }

    /// Uploads the zip with its sha256, which S3 checks on arrival.
    pub(crate) async fn put_zip(&self, bucket: &str, key: &str, zip: &[u8]) -> anyhow::Result<()> {
        let checksum = aws_smithy_types::base64::encode(Sha256::digest(zip).as_slice());
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum)
            .body(ByteStream::from(zip.to_vec()))
            .send()
            .await
            .or_fail(|| format!("PutObject s3://{bucket}/{key}"))?;
        Ok(())
    }

    /// Deletes every version and delete marker in the bucket; returns how many.
    pub(crate) async fn empty_bucket(&self, bucket: &str, step: &Step) -> anyhow::Result<usize> {
        let mut deleted = 0;
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .or_fail(|| format!("ListObjectVersions {bucket}"))?;
            let mut objects = Vec::new();
            for (key, version) in page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
            {
                let Some(key) = key else { continue };
                objects.push(
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_string))
                        .build()
                        .with_context(|| format!("object {key} of {bucket}"))?,
                );
            }
            for chunk in objects.chunks(1000) {
                let output = self
                    .s3
                    .delete_objects()
                    .bucket(bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(chunk.to_vec()))
                            .quiet(true)
                            .build()
                            .with_context(|| format!("DeleteObjects {bucket}"))?,
                    )
                    .send()
                    .await
                    .or_fail(|| format!("DeleteObjects {bucket}"))?;
                if let Some(error) = output.errors().first() {
                    bail!(
                        "DeleteObjects {bucket}: {} {}: {}",
                        error.key().unwrap_or("?"),
                        error.code().unwrap_or("?"),
                        error.message().unwrap_or("")
                    );
                }
                deleted += chunk.len();
                step.update(&format!("{bucket}: {deleted} object version(s) deleted"));
            }
            if page.is_truncated() != Some(true) {
                return Ok(deleted);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    pub(crate) async fn delete_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.s3
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .or_fail(|| format!("DeleteBucket {bucket}"))?;
        Ok(())
    }
}
