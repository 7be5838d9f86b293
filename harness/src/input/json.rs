//! A fast JSON reader producing the same located tree as the YAML path.
//!
//! Cluster dumps from `kubectl -o json` run to tens of megabytes; reading them through the
//! YAML parser costs several times what a JSON tokenizer does. This reader keeps every value's
//! line and column (1-based) so errors still point at the source, rejects duplicate keys like
//! the YAML path, and limits nesting so hostile input cannot exhaust the stack.

use super::tree::{Node, Value};

/// The deepest nesting accepted (the YAML path allows the same).
const MAX_DEPTH: usize = 64;

/// A syntax error: 1-based line and column, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) message: String,
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    line: u32,
    line_start: usize,
    /// The last column computed on this line, as (byte position, 1-based column): columns
    /// are counted incrementally, since a minified dump is one very long line.
    column_mark: std::cell::Cell<(usize, u32)>,
}

/// Parses one JSON document (trailing whitespace allowed, nothing else).
pub(crate) fn parse(text: &str) -> Result<Node, JsonError> {
    let mut reader = Reader::new(text);
    reader.skip_whitespace();
    let node = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos < reader.bytes.len() {
        return Err(reader.error("unexpected characters after the JSON document"));
    }
    Ok(node)
}

/// Pass one of a streamed read: the top-level value, except that the elements of a top-level
/// object's `items` array are checked but not kept (the array comes back empty, at its
/// position). Lets a multi-megabyte List be converted one item at a time.
pub(crate) fn parse_skeleton(text: &str) -> Result<Node, JsonError> {
    let mut reader = Reader::new(text);
    reader.skip_whitespace();
    let node = if reader.bytes.get(reader.pos) == Some(&b'{') {
        let line = reader.line;
        let column = reader.column();
        let value = reader.object_with(0, true)?;
        Node {
            value,
            line,
            column,
            bytes: None,
        }
    } else {
        reader.value(0)?
    };
    reader.skip_whitespace();
    if reader.pos < reader.bytes.len() {
        return Err(reader.error("unexpected characters after the JSON document"));
    }
    Ok(node)
}

/// Pass two: hands every element of the top-level `items` array to `each`, in order. The text
/// must have passed [`parse_skeleton`].
pub(crate) fn for_each_item<E>(
    text: &str,
    mut each: impl FnMut(usize, Node) -> Result<(), E>,
) -> Result<(), ItemError<E>> {
    let mut reader = Reader::new(text);
    reader.skip_whitespace();
    if reader.bytes.get(reader.pos) != Some(&b'{') {
        return Ok(());
    }
    reader.pos += 1;
    loop {
        reader.skip_whitespace();
        match reader.bytes.get(reader.pos) {
            Some(b'}') | None => return Ok(()),
            Some(b',') => {
                reader.pos += 1;
                continue;
            }
            _ => {}
        }
        let key = reader.string().map_err(ItemError::Json)?;
        reader.skip_whitespace();
        reader.pos += 1; // ':'
        reader.skip_whitespace();
        if key == "items" && reader.bytes.get(reader.pos) == Some(&b'[') {
            reader.pos += 1;
            let mut index = 0;
            loop {
                reader.skip_whitespace();
                match reader.bytes.get(reader.pos) {
                    Some(b']') => {
                        reader.pos += 1;
                        break;
                    }
                    Some(b',') => {
                        reader.pos += 1;
                        continue;
                    }
                    _ => {}
                }
                let node = reader.value(1).map_err(ItemError::Json)?;
                each(index, node).map_err(ItemError::Item)?;
                index += 1;
            }
        } else {
            reader.skip(1).map_err(ItemError::Json)?;
        }
    }
}

/// Why [`for_each_item`] stopped.
#[derive(Debug)]
pub(crate) enum ItemError<E> {
    /// The text is not JSON (cannot happen after [`parse_skeleton`] accepted it).
    Json(JsonError),
    /// The callback failed.
    Item(E),
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Self {
        let mut reader = Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
            column_mark: std::cell::Cell::new((0, 1)),
        };
        if reader.bytes.starts_with("\u{feff}".as_bytes()) {
            reader.pos = 3;
            reader.line_start = 3;
            reader.column_mark.set((3, 1));
        }
        reader
    }

    /// Checks one value without building it.
    fn skip(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match self.bytes.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_whitespace();
                    if self.bytes.get(self.pos) != Some(&b'"') {
                        return Err(
                            self.error(format!("expected a key in quotes, found {}", self.found()))
                        );
                    }
                    self.skip_string()?;
                    self.skip_whitespace();
                    if self.bytes.get(self.pos) != Some(&b':') {
                        return Err(self.error(format!("expected `:`, found {}", self.found())));
                    }
                    self.pos += 1;
                    self.skip_whitespace();
                    self.skip(depth + 1)?;
                    self.skip_whitespace();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(
                                self.error(format!("expected `,` or `}}`, found {}", self.found()))
                            )
                        }
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.bytes.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_whitespace();
                    self.skip(depth + 1)?;
                    self.skip_whitespace();
                    match self.bytes.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(
                                self.error(format!("expected `,` or `]`, found {}", self.found()))
                            )
                        }
                    }
                }
            }
            Some(b'"') => self.skip_string(),
            _ => self.value(depth).map(|_| ()),
        }
    }

    /// Checks a string (escapes included) without building it; newlines cannot occur in it.
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.bytes.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?;
                        }
                        _ => return Err(self.error(format!("invalid escape {}", self.found()))),
                    }
                }
                Some(0x00..=0x1f) => return Err(self.error("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn column(&self) -> u32 {
        let (mark_pos, mark_col) = self.column_mark.get();
        let (from, base) = if mark_pos >= self.line_start && mark_pos <= self.pos {
            (mark_pos, mark_col)
        } else {
            (self.line_start.min(self.pos), 1)
        };
        let chars = self
            .text
            .get(from..self.pos)
            .map_or(self.pos - from, |s| s.chars().count());
        let column = base.saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
        self.column_mark.set((self.pos, column));
        column
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            line: self.line,
            column: self.column(),
            message: message.into(),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                _ => break,
            }
        }
    }

    fn found(&self) -> String {
        match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("`{c}`"),
            None => "the end of the input".to_string(),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let line = self.line;
        let column = self.column();
        let start = self.pos;
        let value = match self.bytes.get(self.pos) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::Str(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(self.error(format!("expected a JSON value, found {}", self.found()))),
        };
        let bytes = match value {
            Value::Map(_) | Value::Seq(_) => None,
            _ => Some((start, self.pos)),
        };
        Ok(Node {
            value,
            line,
            column,
            bytes,
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error(format!("expected a JSON value, found {}", self.found())))
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error("expected digits"));
        }
        let mut float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            float = true;
            self.pos += 1;
            let frac = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == frac {
                return Err(self.error("expected digits after the decimal point"));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == exp {
                return Err(self.error("expected digits in the exponent"));
            }
        }
        let raw = &self.text[start..self.pos];
        if !float {
            if let Ok(i) = raw.parse::<i128>() {
                return Ok(Value::Int(i));
            }
        }
        raw.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| self.error(format!("`{raw}` is not a number")))
    }

    fn string(&mut self) -> Result<String, JsonError> {
        // At the opening quote.
        self.pos += 1;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("unterminated string"));
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    let escaped = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            run_start = self.pos;
                            continue;
                        }
                        _ => return Err(self.error(format!("invalid escape {}", self.found()))),
                    };
                    out.push(escaped);
                    self.pos += 1;
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(self.error("control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err(self.error("unpaired surrogate in \\u escape"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired surrogate in \\u escape"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Seq(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Seq(items));
                }
                _ => return Err(self.error(format!("expected `,` or `]`, found {}", self.found()))),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.object_with(depth, false)
    }

    /// An object; with `skip_items`, the elements of its `items` array are checked, not kept.
    fn object_with(&mut self, depth: usize, skip_items: bool) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut entries: Vec<(String, Node)> = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Map(entries));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error(format!("expected a key in quotes, found {}", self.found())));
            }
            let key_error = self.error("");
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(JsonError {
                    message: super::duplicate_key_message(&key),
                    ..key_error
                });
            }
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.error(format!("expected `:`, found {}", self.found())));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = if skip_items && key == "items" && self.bytes.get(self.pos) == Some(&b'[') {
                let (line, column) = (self.line, self.column());
                self.skip(depth + 1)?;
                Node {
                    value: Value::Seq(Vec::new()),
                    line,
                    column,
                    bytes: None,
                }
            } else {
                self.value(depth + 1)?
            };
            entries.push((key, value));
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(entries));
                }
                _ => {
                    return Err(self.error(format!("expected `,` or `}}`, found {}", self.found())))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let node =
            parse("{\n  \"a\": [1, -2.5e1, \"x\\u00e9\\n\", true, null],\n  \"b\": {}\n}").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[0].0, "a");
        assert_eq!((entries[0].1.line, entries[0].1.column), (2, 8));
        let Value::Seq(items) = &entries[0].1.value else {
            panic!()
        };
        assert!(matches!(items[0].value, Value::Int(1)));
        assert!(matches!(items[1].value, Value::Float(f) if f == -25.0));
        assert!(matches!(&items[2].value, Value::Str(s) if s == "xé\n"));
        assert_eq!((items[3].line, items[3].column), (2, 33));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = parse("{\n  \"kind\": \"List\",\n  \"items\": [}\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 13));
        let e = parse("{\"a\": 1, \"a\": 2}").unwrap_err();
        assert_eq!(e.message, "`a` is written twice in the same mapping");
        assert_eq!(e.column, 10);
        assert!(parse("[1,]").is_err());
        assert!(parse("\"abc").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse(&"[".repeat(100)).is_err());
        assert!(parse("\"\\ud800\"").is_err());
    }
}
