//! Glue: the Data Catalog database and table Athena queries the organization's run
//! reports through (partition projection, no crawler).

use std::collections::BTreeMap;

use serde::Serialize;

use super::ResourceType;
use crate::expr::Expr;

/// [AWS::Glue::Database](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-glue-database.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Database {
    /// Required: yes. The account ID.
    #[serde(rename = "CatalogId")]
    pub catalog_id: Expr,
    /// Required: yes.
    #[serde(rename = "DatabaseInput")]
    pub database_input: DatabaseInput,
}

impl ResourceType for Database {
    const TYPE: &'static str = "AWS::Glue::Database";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

/// [DatabaseInput](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-glue-database-databaseinput.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseInput {
    /// Required: no. Lowercase (Glue stores names in lowercase).
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
}

/// [AWS::Glue::Table](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-glue-table.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Required: yes. The account ID.
    #[serde(rename = "CatalogId")]
    pub catalog_id: Expr,
    /// Required: yes.
    #[serde(rename = "DatabaseName")]
    pub database_name: Expr,
    /// Required: yes.
    #[serde(rename = "TableInput")]
    pub table_input: TableInput,
}

impl ResourceType for Table {
    const TYPE: &'static str = "AWS::Glue::Table";
    const ATTRIBUTES: &'static [&'static str] = &[];
}

/// [TableInput](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-glue-table-tableinput.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableInput {
    /// Required: no. Lowercase.
    #[serde(rename = "Name", skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<Expr>,
    /// Required: no. `EXTERNAL_TABLE` for data in S3.
    #[serde(rename = "TableType", skip_serializing_if = "Option::is_none")]
    pub table_type: Option<Expr>,
    /// Required: no. Table properties (partition projection's among them).
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Expr>,
    /// Required: no.
    #[serde(rename = "PartitionKeys", skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<Column>,
    /// Required: no.
    #[serde(rename = "StorageDescriptor", skip_serializing_if = "Option::is_none")]
    pub storage_descriptor: Option<StorageDescriptor>,
}

/// [Column](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-glue-table-column.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Required: yes.
    #[serde(rename = "Name")]
    pub name: Expr,
    /// Required: no. A Hive type (`string`, `bigint`, `struct<…>`, `array<…>`).
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Comment", skip_serializing_if = "Option::is_none")]
    pub comment: Option<Expr>,
}

/// [StorageDescriptor](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-glue-table-storagedescriptor.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageDescriptor {
    /// Required: no.
    #[serde(rename = "Columns", skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    /// Required: no. `s3://bucket/prefix/`.
    #[serde(rename = "Location", skip_serializing_if = "Option::is_none")]
    pub location: Option<Expr>,
    /// Required: no.
    #[serde(rename = "InputFormat", skip_serializing_if = "Option::is_none")]
    pub input_format: Option<Expr>,
    /// Required: no.
    #[serde(rename = "OutputFormat", skip_serializing_if = "Option::is_none")]
    pub output_format: Option<Expr>,
    /// Required: no.
    #[serde(rename = "SerdeInfo", skip_serializing_if = "Option::is_none")]
    pub serde_info: Option<SerdeInfo>,
}

/// [SerdeInfo](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-glue-table-serdeinfo.html)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SerdeInfo {
    /// Required: no.
    #[serde(rename = "SerializationLibrary", skip_serializing_if = "Option::is_none")]
    pub serialization_library: Option<Expr>,
    /// Required: no.
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Expr>,
}
