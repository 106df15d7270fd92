//! A small YAML writer for templates: block style, keys in the order they were
//! serialised, and conservative quoting.
//!
//! Why not a YAML library: the serde YAML crates (serde_yaml's forks yaml_serde and
//! serde_norway) follow the YAML 1.2 core schema and write `on`, `off`, `yes` or
//! `2010-09-09` unquoted. CloudFormation reads YAML 1.1 (so do cfn-lint and checkov,
//! through PyYAML), where `on` is the boolean true and `2010-09-09` a date. Here a string
//! is written plain only if it cannot be anything else in either version; otherwise it is
//! double-quoted with JSON escapes, which are valid YAML.
//!
//! Order is kept by going through JSON text: `serde_json` writes struct fields in order,
//! and [`Node`] reads JSON objects back in document order.

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value that keeps the order of object keys.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }

            fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
                Ok(Node::Bool(value))
            }

            fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
                Ok(Node::Number(value.into()))
            }

            fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
                Ok(Node::Number(value.into()))
            }

            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Node, E> {
                serde_json::Number::from_f64(value)
                    .map(Node::Number)
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }

            fn visit_str<E>(self, value: &str) -> Result<Node, E> {
                Ok(Node::String(value.to_string()))
            }

            fn visit_string<E>(self, value: String) -> Result<Node, E> {
                Ok(Node::String(value))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Serialises `value` (which must serialise as a map) as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    let node: Node = serde_json::from_str(&json)?;
    let mut out = String::new();
    match &node {
        Node::Map(entries) => write_map(entries, 0, false, &mut out),
        other => {
            write_scalar_or_empty(other, &mut out);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Whether a string can be written as a plain scalar and read back as the same string
/// by YAML 1.1 and 1.2 parsers. Deliberately stricter than YAML requires.
fn is_plain_safe(s: &str) -> bool {
    const SPECIAL_WORDS: [&str; 10] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];
    let Some(first) = s.chars().next() else {
        return false;
    };
    // A letter, `/`, `$` or `_` first: never a number, date, time, indicator or alias.
    (first.is_ascii_alphabetic() || "/$_".contains(first))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./:${}*()?,=@+".contains(c))
        && !SPECIAL_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

fn write_str(s: &str, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        // JSON's escapes are a subset of YAML's double-quoted escapes; writing a `String`
        // as JSON cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// Writes a scalar, or `{}` / `[]` for an empty collection. Returns false for a
/// non-empty collection (nothing written).
fn write_scalar_or_empty(node: &Node, out: &mut String) -> bool {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => out.push_str(&n.to_string()),
        Node::String(s) => write_str(s, out),
        Node::Seq(items) if items.is_empty() => out.push_str("[]"),
        Node::Map(entries) if entries.is_empty() => out.push_str("{}"),
        Node::Seq(_) | Node::Map(_) => return false,
    }
    true
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping at `level` spaces; if `inline_first`, the first key follows a `- ` already
/// written.
fn write_map(entries: &[(String, Node)], level: usize, inline_first: bool, out: &mut String) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if !(inline_first && i == 0) {
            indent(level, out);
        }
        write_str(key, out);
        out.push(':');
        let mut scalar = String::from(" ");
        if write_scalar_or_empty(value, &mut scalar) {
            out.push_str(&scalar);
            out.push('\n');
            continue;
        }
        out.push('\n');
        match value {
            Node::Map(entries) => write_map(entries, level + 2, false, out),
            Node::Seq(items) => write_seq(items, level + 2, false, out),
            _ => {}
        }
    }
}

/// A sequence at `level` spaces; if `inline_first`, the first item follows a `- `
/// already written.
fn write_seq(items: &[Node], level: usize, inline_first: bool, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if !(inline_first && i == 0) {
            indent(level, out);
        }
        out.push_str("- ");
        if write_scalar_or_empty(item, out) {
            out.push('\n');
            continue;
        }
        match item {
            Node::Map(entries) => write_map(entries, level + 2, true, out),
            Node::Seq(items) => write_seq(items, level + 2, true, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_whatever_yaml_1_1_or_1_2_could_read_differently() {
        let quoted = [
            "",
            "on",
            "Off",
            "YES",
            "no",
            "y",
            "N",
            "true",
            "False",
            "null",
            "~",
            "2010-09-09",
            "12",
            "1:30",
            "0777",
            "1e3",
            ".5",
            ".inf",
            "-",
            "- a",
            "*",
            "&a",
            "!Ref",
            "a: b",
            "a #b",
            "x:",
            " x",
            "x ",
            "|",
            ">",
            "%x",
            "@x",
            "`x",
            "'x",
            "\"x",
            "a\nb",
            "a\\b",
            "é",
            "=",
            "<<",
            "[a]",
            "{a}",
            "#",
            "?",
            ",a",
        ];
        for s in quoted {
            let yaml = to_string(&json!({ "k": s })).unwrap();
            assert_eq!(yaml, format!("k: {}\n", serde_json::to_string(s).unwrap()), "{s:?}");
        }
        let plain = [
            "Fn::GetAtt",
            "aws:SecureTransport",
            "cron(0 6 * * ? *)",
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*",
            "/aws/lambda/${FunctionName}",
            "iam-janitor:exempt=true",
            "IAM_JANITOR_MODE",
            "$LATEST",
            "s3:*",
            "provided.al2023",
        ];
        for s in plain {
            assert_eq!(to_string(&json!({ "k": s })).unwrap(), format!("k: {s}\n"));
        }
    }

    #[test]
    fn block_layout_keeps_key_order() {
        #[derive(Serialize)]
        struct Doc {
            zeta: u32,
            alpha: Vec<serde_json::Value>,
            empty: Vec<u32>,
            nested: serde_json::Value,
        }
        let doc = Doc {
            zeta: 1,
            alpha: vec![
                json!("a"),
                json!({"b": 1, "c": [true, null]}),
                json!([["d"], "e"]),
                json!({}),
            ],
            empty: vec![],
            nested: json!({"m": {"x": -1.5}}),
        };
        let yaml = to_string(&doc).unwrap();
        assert_eq!(
            yaml,
            "zeta: 1\n\
             alpha:\n  \
               - a\n  \
               - b: 1\n    \
                 c:\n      \
                   - true\n      \
                   - null\n  \
               - - - d\n    \
                 - e\n  \
               - {}\n\
             empty: []\n\
             nested:\n  \
               m:\n    \
                 x: -1.5\n"
        );
        let back: serde_json::Value = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(back, serde_json::to_value(&doc).unwrap());
    }
}
