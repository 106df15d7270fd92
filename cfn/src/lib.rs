//! Typed CloudFormation templates for iam-janitor. Empty for now: the templates arrive with their own issue.
