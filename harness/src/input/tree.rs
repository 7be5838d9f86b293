//! A YAML/JSON document as a tree whose every value knows its line and column, and a cursor
//! that walks it while tracking the field path (`items[3].status.allocatable.cpu`) for errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::{InputError, SourceLocation};

/// One value of the document.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Value {
    /// How the value is described in a type error.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A value with its position in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// Byte range of the token in the source, when the parser knows it.
    pub(crate) bytes: Option<(usize, usize)>,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        let loc = spanned.referenced;
        let span = loc.span();
        let bytes = match (span.byte_offset(), span.byte_len()) {
            (Some(o), Some(l)) => usize::try_from(o)
                .ok()
                .zip(usize::try_from(l).ok())
                .and_then(|(o, l)| Some((o, o.checked_add(l)?))),
            _ => None,
        };
        Ok(Node {
            value: spanned.value,
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            bytes,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML or JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
                i128::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Node>()? {
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the walker knows about the input as a whole.
pub(crate) struct Source<'t> {
    pub(crate) origin: &'t str,
    pub(crate) text: &'t str,
}

impl Source<'_> {
    pub(crate) fn at(&self, node: &Node) -> SourceLocation {
        SourceLocation::new(self.origin, node.line, node.column)
    }

    /// The source text of a scalar token (unquoted numbers keep their spelling, e.g. `0.10`).
    fn raw<'n>(&'n self, node: &'n Node) -> Option<&'n str> {
        let (start, end) = node.bytes?;
        self.text.get(start..end)
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// A position in the tree: a node and its path.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    pub(crate) node: &'a Node,
    pub(crate) path: String,
}

/// Result type of the walker.
pub(crate) type Walk<T> = Result<T, InputError>;

impl<'a> Cursor<'a> {
    pub(crate) fn root(node: &'a Node, path: impl Into<String>) -> Self {
        Cursor {
            node,
            path: path.into(),
        }
    }

    pub(crate) fn wrong_type(&self, src: &Source<'_>, expected: &str) -> InputError {
        InputError::WrongType {
            at: src.at(self.node),
            path: self.path.clone(),
            expected: expected.to_string(),
            found: self.node.value.describe().to_string(),
        }
    }

    pub(crate) fn invalid(&self, src: &Source<'_>, message: impl Into<String>) -> InputError {
        InputError::InvalidValue {
            at: src.at(self.node),
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn entries(&self, src: &Source<'_>) -> Walk<&'a [(String, Node)]> {
        match &self.node.value {
            Value::Map(entries) => Ok(entries),
            _ => Err(self.wrong_type(src, "a mapping")),
        }
    }

    /// The field `key`; `None` when absent or null. Errors when `self` is not a mapping.
    pub(crate) fn opt(&self, src: &Source<'_>, key: &str) -> Walk<Option<Cursor<'a>>> {
        let entries = self.entries(src)?;
        Ok(entries
            .iter()
            .find(|(k, _)| k == key)
            .filter(|(_, v)| !matches!(v.value, Value::Null))
            .map(|(_, v)| Cursor {
                node: v,
                path: join_key(&self.path, key),
            }))
    }

    /// The field `key`, which must be present and not null.
    pub(crate) fn req(&self, src: &Source<'_>, key: &str) -> Walk<Cursor<'a>> {
        self.opt(src, key)?.ok_or_else(|| InputError::Missing {
            at: src.at(self.node),
            path: join_key(&self.path, key),
        })
    }

    /// A string value.
    pub(crate) fn str(&self, src: &Source<'_>) -> Walk<&'a str> {
        match &self.node.value {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong_type(src, "a string")),
        }
    }

    /// A boolean value.
    pub(crate) fn bool(&self, src: &Source<'_>) -> Walk<bool> {
        match &self.node.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.wrong_type(src, "a boolean (true or false)")),
        }
    }

    /// An integer value.
    pub(crate) fn int(&self, src: &Source<'_>) -> Walk<i128> {
        match &self.node.value {
            Value::Int(i) => Ok(*i),
            _ => Err(self.wrong_type(src, "an integer")),
        }
    }

    /// A port number, `min..=65535`.
    pub(crate) fn port(&self, src: &Source<'_>, min: u16) -> Walk<u16> {
        let n = self.int(src)?;
        u16::try_from(n)
            .ok()
            .filter(|p| *p >= min)
            .ok_or_else(|| self.invalid(src, format!("port {n} is out of range {min}..=65535")))
    }

    /// A scalar's text: a string as is, a number as spelled in the source.
    pub(crate) fn scalar_text(&self, src: &Source<'_>) -> Walk<String> {
        match &self.node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(src
                .raw(self.node)
                .map_or_else(|| i.to_string(), str::to_string)),
            Value::Float(f) => Ok(src
                .raw(self.node)
                .map_or_else(|| f.to_string(), str::to_string)),
            _ => Err(self.wrong_type(src, "a string or a number")),
        }
    }

    /// The items of a list; null counts as empty.
    pub(crate) fn seq(&self, src: &Source<'_>) -> Walk<Vec<Cursor<'a>>> {
        match &self.node.value {
            Value::Null => Ok(Vec::new()),
            Value::Seq(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, node)| Cursor {
                    node,
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            _ => Err(self.wrong_type(src, "a list")),
        }
    }

    /// A mapping of strings to strings (labels, annotations, selectors).
    pub(crate) fn string_map(&self, src: &Source<'_>) -> Walk<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, v) in self.entries(src)? {
            let value = Cursor {
                node: v,
                path: join_key(&self.path, k),
            };
            out.insert(k.clone(), value.str(src)?.to_string());
        }
        Ok(out)
    }

    /// `opt(key)` then `str`.
    pub(crate) fn opt_str(&self, src: &Source<'_>, key: &str) -> Walk<Option<String>> {
        self.opt(src, key)?
            .map(|c| c.str(src).map(str::to_string))
            .transpose()
    }

    /// `opt(key)` then `bool`.
    pub(crate) fn opt_bool(&self, src: &Source<'_>, key: &str) -> Walk<Option<bool>> {
        self.opt(src, key)?.map(|c| c.bool(src)).transpose()
    }

    /// `opt(key)` then `string_map`; absent or null is empty.
    pub(crate) fn opt_string_map(
        &self,
        src: &Source<'_>,
        key: &str,
    ) -> Walk<BTreeMap<String, String>> {
        Ok(self
            .opt(src, key)?
            .map(|c| c.string_map(src))
            .transpose()?
            .unwrap_or_default())
    }

    /// `opt(key)` then `seq`; absent or null is empty.
    pub(crate) fn opt_seq(&self, src: &Source<'_>, key: &str) -> Walk<Vec<Cursor<'a>>> {
        Ok(self
            .opt(src, key)?
            .map(|c| c.seq(src))
            .transpose()?
            .unwrap_or_default())
    }

    /// A list of strings; absent or null is empty.
    pub(crate) fn opt_strings(&self, src: &Source<'_>, key: &str) -> Walk<Vec<String>> {
        self.opt_seq(src, key)?
            .iter()
            .map(|c| c.str(src).map(str::to_string))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::join_key;

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(join_key("", "items"), "items");
        assert_eq!(join_key("items[3]", "status"), "items[3].status");
        assert_eq!(
            join_key("metadata.labels", "kubernetes.io/service-name"),
            r#"metadata.labels["kubernetes.io/service-name"]"#
        );
        assert_eq!(join_key("x", ""), r#"x[""]"#);
    }
}
