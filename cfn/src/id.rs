//! Logical IDs: the names of parameters, conditions, resources and outputs in a template.
//!
//! A logical ID is part of a stack's contract: renaming a resource's ID makes
//! CloudFormation delete the old resource and create a new one. IDs are therefore
//! constants in the stacks, checked when the crate compiles, and pinned by tests.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};

/// The longest logical ID CloudFormation accepts.
pub const MAX_LEN: usize = 255;

/// A logical ID: 1 to 255 ASCII letters and digits (`^[A-Za-z0-9]+$`).
///
/// Build constants with [`LogicalId::from_static`] in a `const` item, so that an invalid
/// ID is a compile error; build computed IDs with [`LogicalId::new`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogicalId(Cow<'static, str>);

/// A string that is not a valid logical ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid logical ID {0:?}: use 1 to 255 ASCII letters and digits")]
pub struct InvalidLogicalId(pub String);

const fn is_valid(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LEN {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            return false;
        }
        i += 1;
    }
    true
}

impl LogicalId {
    /// A constant ID. Used in a `const` item, an invalid ID fails compilation.
    ///
    /// # Panics
    ///
    /// On an invalid ID: at compile time in a `const` item, which is the intended use.
    pub const fn from_static(id: &'static str) -> LogicalId {
        assert!(
            is_valid(id),
            "invalid logical ID: use 1 to 255 ASCII letters and digits"
        );
        LogicalId(Cow::Borrowed(id))
    }

    /// A computed ID, checked.
    pub fn new(id: impl Into<String>) -> Result<LogicalId, InvalidLogicalId> {
        let id = id.into();
        if is_valid(&id) {
            Ok(LogicalId(Cow::Owned(id)))
        } else {
            Err(InvalidLogicalId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for LogicalId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accepts_letters_and_digits_only() {
        const FUNCTION: LogicalId = LogicalId::from_static("Function1");
        assert_eq!(FUNCTION.as_str(), "Function1");
        assert_eq!(LogicalId::new("Role").unwrap(), LogicalId::from_static("Role"));
        for bad in ["", "my-role", "my_role", "Role.Arn", "Rôle", "a b"] {
            assert_eq!(LogicalId::new(bad), Err(InvalidLogicalId(bad.to_string())), "{bad:?}");
        }
        assert!(LogicalId::new("a".repeat(MAX_LEN)).is_ok());
        assert!(LogicalId::new("a".repeat(MAX_LEN + 1)).is_err());
        assert_eq!(
            LogicalId::new("my-role").unwrap_err().to_string(),
            r#"invalid logical ID "my-role": use 1 to 255 ASCII letters and digits"#
        );
    }
}
