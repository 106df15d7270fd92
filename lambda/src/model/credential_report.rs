//! Parsing of the IAM credential report (CSV), by header name.
//!
//! The report is the only bulk source of last-use dates for every user's password and
//! access keys. Its cells hold ISO 8601 timestamps or one of three markers, which this
//! module keeps apart instead of collapsing them into "never":
//! `N/A` (no such credential, or never used), `no_information` (password never used, or
//! not since tracking began) and `not_supported` (the root row, or emulators).
//!
//! A row that does not parse is returned as a [`RejectedRow`]: it is reported, never
//! acted on. The `<root_account>` row is recognised and kept out of the user list.

use std::collections::HashMap;

use crate::model::services::is_service_prefix;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The user name IAM gives the root user's row.
pub const ROOT_ACCOUNT: &str = "<root_account>";

/// A cell of the report that may hold a timestamp or one of IAM's markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A timestamp.
    At(OffsetDateTime),
    /// `N/A`: the credential does not exist, was never used, or was last used before tracking began.
    NotApplicable,
    /// `no_information`: the password was never used, or not since tracking began.
    NoInformation,
    /// `not_supported`: the field does not apply (root row) or the source does not fill it.
    NotSupported,
}

impl Observed {
    /// The timestamp, if the cell holds one.
    pub fn at(self) -> Option<OffsetDateTime> {
        match self {
            Observed::At(t) => Some(t),
            _ => None,
        }
    }
}

/// One access-key slot (`access_key_1_*` or `access_key_2_*`) of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySlot {
    /// 1 or 2.
    pub slot: u8,
    /// `access_key_N_active`.
    pub active: bool,
    /// `access_key_N_last_rotated`: the key's creation (or last change) time.
    pub last_rotated: Observed,
    /// `access_key_N_last_used_date`.
    pub last_used: Observed,
    /// `access_key_N_last_used_service`: the service prefix of the key's last use (`None`
    /// when the column is absent or says `N/A`).
    pub last_used_service: Option<String>,
}

/// One X.509 signing-certificate slot (`cert_1_*` or `cert_2_*`) of a row. IAM records
/// no use of signing certificates: only whether each is active and when it was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSlot {
    /// 1 or 2.
    pub slot: u8,
    /// `cert_N_active`.
    pub active: bool,
    /// `cert_N_last_rotated`: the certificate's upload time.
    pub last_rotated: Observed,
}

/// One user's row of the credential report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    /// 1-based line number in the CSV (the header is line 1).
    pub line: usize,
    pub user: String,
    pub arn: String,
    pub user_creation_time: OffsetDateTime,
    /// `None` when the report says `not_supported`.
    pub password_enabled: Option<bool>,
    pub password_last_used: Observed,
    pub password_last_changed: Observed,
    pub keys: [KeySlot; 2],
    /// Signing certificates; inactive and empty slots when the report has no `cert_*`
    /// columns.
    pub certificates: [CertSlot; 2],
}

/// A row that could not be parsed. It is reported and never acted on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedRow {
    pub line: usize,
    /// The `user` cell, when it could be read.
    pub user: Option<String>,
    pub reason: String,
}

/// The parsed report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedReport {
    pub rows: Vec<CredentialRow>,
    /// The root user's row, kept apart: it is never a finding.
    pub root: Option<CredentialRow>,
    pub rejected: Vec<RejectedRow>,
}

/// Errors that make the whole report unusable: nothing may be decided from it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("the credential report is empty")]
    Empty,
    #[error("the credential report has no `{0}` column")]
    MissingColumn(&'static str),
    #[error("the credential report is not valid CSV: {0}")]
    Csv(String),
}

const COLUMNS: [&str; 14] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "mfa_active",
    "password_next_rotation",
];

/// Parses the report's CSV text. Columns are found by header name, so added or reordered
/// columns do not break parsing; a missing required column rejects the whole report.
pub fn parse(csv_text: &[u8]) -> Result<ParsedReport, ReportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv_text);
    let headers = reader.headers().map_err(|e| ReportError::Csv(e.to_string()))?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers.get(0) == Some("")) {
        return Err(ReportError::Empty);
    }
    let index: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    // The first twelve are required; mfa_active and password_next_rotation are informational.
    for name in &COLUMNS[..12] {
        if !index.contains_key(name) {
            return Err(ReportError::MissingColumn(name));
        }
    }
    let col = |name: &str| index.get(name).copied();

    let mut report = ParsedReport::default();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.rejected.push(RejectedRow {
                    line,
                    user: None,
                    reason: format!("not valid CSV: {e}"),
                });
                continue;
            }
        };
        let cell = |name: &str| col(name).and_then(|i| record.get(i)).unwrap_or("");
        match parse_row(line, &cell) {
            Ok(row) if row.user == ROOT_ACCOUNT => report.root = Some(row),
            Ok(row) => report.rows.push(row),
            Err(reason) => {
                let user = cell("user");
                report.rejected.push(RejectedRow {
                    line,
                    user: (!user.is_empty()).then(|| user.to_string()),
                    reason,
                });
            }
        }
    }
    if report.rows.is_empty() && report.root.is_none() && report.rejected.is_empty() {
        return Err(ReportError::Empty);
    }
    Ok(report)
}

fn parse_row<'a>(line: usize, cell: &dyn Fn(&str) -> &'a str) -> Result<CredentialRow, String> {
    let user = cell("user");
    if user.is_empty() {
        return Err("empty `user` cell".to_string());
    }
    let arn = cell("arn");
    if !arn.starts_with("arn:") {
        return Err(format!("`arn` is not an ARN: {arn:?}"));
    }
    let user_creation_time = match observed("user_creation_time", cell("user_creation_time"))? {
        Observed::At(t) => t,
        other => return Err(format!("`user_creation_time` has no timestamp: {other:?}")),
    };
    let password_enabled = match cell("password_enabled") {
        "not_supported" => None,
        v => Some(boolean("password_enabled", v)?),
    };
    let slot = |n: u8| -> Result<KeySlot, String> {
        let active_col = if n == 1 {
            "access_key_1_active"
        } else {
            "access_key_2_active"
        };
        let rotated_col = if n == 1 {
            "access_key_1_last_rotated"
        } else {
            "access_key_2_last_rotated"
        };
        let used_col = if n == 1 {
            "access_key_1_last_used_date"
        } else {
            "access_key_2_last_used_date"
        };
        let service_col = if n == 1 {
            "access_key_1_last_used_service"
        } else {
            "access_key_2_last_used_service"
        };
        // Optional: only a cross-check for least privilege, never a reason to reject a row.
        let last_used_service = Some(cell(service_col).to_ascii_lowercase()).filter(|s| is_service_prefix(s));
        Ok(KeySlot {
            slot: n,
            active: boolean(active_col, cell(active_col))?,
            last_rotated: observed(rotated_col, cell(rotated_col))?,
            last_used: observed(used_col, cell(used_col))?,
            last_used_service,
        })
    };
    let keys = [slot(1)?, slot(2)?];
    let cert = |n: u8| -> Result<CertSlot, String> {
        let (active_col, rotated_col) = if n == 1 {
            ("cert_1_active", "cert_1_last_rotated")
        } else {
            ("cert_2_active", "cert_2_last_rotated")
        };
        // Optional columns: a report without them says nothing about certificates.
        let active = match cell(active_col) {
            "" => false,
            v => boolean(active_col, v)?,
        };
        let last_rotated = match cell(rotated_col) {
            "" => Observed::NotApplicable,
            v => observed(rotated_col, v)?,
        };
        if active && last_rotated.at().is_none() {
            return Err(format!(
                "signing certificate {n} is active but `{rotated_col}` has no timestamp"
            ));
        }
        Ok(CertSlot {
            slot: n,
            active,
            last_rotated,
        })
    };
    let certificates = [cert(1)?, cert(2)?];
    for key in &keys {
        if key.active && key.last_rotated.at().is_none() {
            return Err(format!(
                "access key {} is active but `access_key_{}_last_rotated` has no timestamp",
                key.slot, key.slot
            ));
        }
    }
    Ok(CredentialRow {
        line,
        user: user.to_string(),
        arn: arn.to_string(),
        user_creation_time,
        password_enabled,
        password_last_used: observed("password_last_used", cell("password_last_used"))?,
        password_last_changed: observed("password_last_changed", cell("password_last_changed"))?,
        keys,
        certificates,
    })
}

/// Parses a boolean cell; the report writes `true`/`false` (the docs say TRUE/FALSE).
fn boolean(column: &str, value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("`{column}` is not true or false: {value:?}"))
    }
}

/// Parses a timestamp cell or one of the markers.
fn observed(column: &str, value: &str) -> Result<Observed, String> {
    match value {
        "N/A" => Ok(Observed::NotApplicable),
        "no_information" => Ok(Observed::NoInformation),
        "not_supported" => Ok(Observed::NotSupported),
        v => OffsetDateTime::parse(v, &Rfc3339)
            .map(|t| Observed::At(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| format!("`{column}` is neither a timestamp nor a known marker: {v:?}")),
    }
}

#[cfg(test)]
#[path = "credential_report_tests.rs"]
mod tests;
