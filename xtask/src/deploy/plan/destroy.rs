//! What `destroy` removes, and what it keeps.

use std::collections::BTreeSet;

/// What `destroy` removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DestroyPlan {
    /// The StackSet exists: its instances and then itself are deleted.
    pub(crate) stack_set: Option<StackSetTeardown>,
    pub(crate) management_stack: bool,
    /// With `--all`: the artifact stack exists.
    pub(crate) artifact_stack: bool,
    /// With `--all`: the bucket to empty (every version) and delete.
    pub(crate) bucket: Option<String>,
    /// What is kept, and why.
    pub(crate) kept: Vec<String>,
}

/// The StackSet's instances to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StackSetTeardown {
    pub(crate) org_units: BTreeSet<String>,
    pub(crate) regions: BTreeSet<String>,
    pub(crate) instances: usize,
}

impl DestroyPlan {
    pub(crate) fn is_change(&self) -> bool {
        self.stack_set.is_some() || self.management_stack || self.artifact_stack || self.bucket.is_some()
    }
}
