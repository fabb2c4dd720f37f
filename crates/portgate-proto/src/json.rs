//! A small JSON value, reader and writer (RFC 8259) for portgated's administration
//! socket and `portgate`'s `--json` output.
//!
//! It replaces a general-purpose serialisation framework in the router build (see the
//! project's docs/size.md): values are built by hand, numbers are kept as their text
//! (so a `u64` counter goes through exactly, and no floating-point parsing is linked),
//! and object members keep the order they were written in. The reader takes untrusted
//! text: it checks the whole grammar, limits nesting to [`MAX_DEPTH`], and never
//! panics (its property tests feed it arbitrary text).

use std::fmt;

/// Deepest nesting of arrays and objects the reader accepts.
pub const MAX_DEPTH: usize = 64;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as its JSON text (checked against RFC 8259 §6 when read).
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, members in order (a name read twice: [`Value::get`] finds the last).
    Obj(Vec<(String, Value)>),
}

/// What [`Value`]'s indexing gives for a missing member or element.
static NULL: Value = Value::Null;

/// An object from `(name, value)` pairs, in that order.
pub fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl Value {
    /// The member `name` of an object (the last one when the name occurs twice, as
    /// most readers do), `None` for other values.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Self::Obj(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number that is a non-negative integer written without fraction or exponent
    /// and fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Num(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
            _ => None,
        }
    }

    /// A boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Arr(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// The member `name`, or `null` when there is none (or this is not an object).
    fn index(&self, name: &str) -> &Value {
        self.get(name).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// Element `i` of an array, or `null` when there is none.
    fn index(&self, i: usize) -> &Value {
        match self {
            Self::Arr(a) => a.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
macro_rules! integer {
    ($($t:ty),*) => {$(impl From<$t> for Value {
        fn from(n: $t) -> Self {
            Self::Num(n.to_string())
        }
    })*};
}
integer!(u8, u16, u32, u64, usize, i32, i64);
impl From<f64> for Value {
    /// Whole numbers below 2^53 are written as integers; a value JSON cannot hold
    /// (NaN, infinity) becomes `null`.
    fn from(n: f64) -> Self {
        if !n.is_finite() {
            Self::Null
        } else if n.fract() == 0.0 && n.abs() < 9e15 {
            Self::Num((n as i64).to_string())
        } else {
            Self::Num(n.to_string())
        }
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Self::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Self::Arr(v.into_iter().map(Into::into).collect())
    }
}

/// Writes `s` as a JSON string: quotes, backslashes and control characters escaped.
fn write_str(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
        let (plain, tail) = rest.split_at(i);
        f.write_str(plain)?;
        let mut chars = tail.chars();
        match chars.next() {
            Some('"') => f.write_str("\\\"")?,
            Some('\\') => f.write_str("\\\\")?,
            Some('\n') => f.write_str("\\n")?,
            Some('\r') => f.write_str("\\r")?,
            Some('\t') => f.write_str("\\t")?,
            Some(c) => write!(f, "\\u{:04x}", u32::from(c))?,
            None => {}
        }
        rest = chars.as_str();
    }
    f.write_str(rest)?;
    f.write_char('"')
}

fn write_value(f: &mut dyn fmt::Write, v: &Value) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Bool(true) => f.write_str("true"),
        Value::Bool(false) => f.write_str("false"),
        Value::Num(n) => f.write_str(n),
        Value::Str(s) => write_str(f, s),
        Value::Arr(a) => {
            f.write_char('[')?;
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write_value(f, e)?;
            }
            f.write_char(']')
        }
        Value::Obj(o) => {
            f.write_char('{')?;
            for (i, (k, e)) in o.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write_str(f, k)?;
                f.write_char(':')?;
                write_value(f, e)?;
            }
            f.write_char('}')
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON on one line (a line break inside a string is written `\n`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self)
    }
}

/// Why a text is not JSON: what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What the reader expected or found.
    pub what: &'static str,
    /// Byte offset in the text.
    pub at: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for ParseError {}

/// Reads one JSON value; whitespace may surround it, nothing else may follow.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut r = Reader {
        s: text.as_bytes(),
        at: 0,
    };
    let v = r.value(0)?;
    r.skip_ws();
    if r.at < r.s.len() {
        return Err(r.fail("trailing characters"));
    }
    Ok(v)
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn fail(&self, what: &'static str) -> ParseError {
        ParseError { what, at: self.at }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `b` (after whitespace) when it comes next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let hit = self.peek() == Some(b);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn literal(&mut self, word: &'static str, v: Value) -> Result<Value, ParseError> {
        if self.s.get(self.at..self.at + word.len()) == Some(word.as_bytes()) {
            self.at += word.len();
            Ok(v)
        } else {
            Err(self.fail("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.fail("unexpected end")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') if depth >= MAX_DEPTH => Err(self.fail("nested too deeply")),
            Some(b'{') if depth >= MAX_DEPTH => Err(self.fail("nested too deeply")),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Value::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Ok(Value::Arr(items));
                    }
                    if !self.eat(b',') {
                        return Err(self.fail("expected ',' or ']'"));
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Ok(Value::Obj(members));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.fail("expected a member name"));
                    }
                    let name = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.fail("expected ':'"));
                    }
                    members.push((name, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Ok(Value::Obj(members));
                    }
                    if !self.eat(b',') {
                        return Err(self.fail("expected ',' or '}'"));
                    }
                }
            }
            Some(_) => Err(self.fail("expected a value")),
        }
    }

    /// Digits from here; how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` (RFC 8259 §6).
    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.fail("expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("expected a digit in the exponent"));
            }
        }
        let text = self.s.get(start..self.at).unwrap_or_default();
        // Only ASCII was consumed.
        Ok(Value::Num(String::from_utf8_lossy(text).into_owned()))
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.fail("expected four hex digits after \\u"))?;
            n = n * 16 + d;
            self.at += 1;
        }
        Ok(n)
    }

    /// A string, the opening quote next.
    fn string(&mut self) -> Result<String, ParseError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.fail("unterminated string"));
            };
            self.at += 1;
            match b {
                b'"' => break,
                0..=0x1f => {
                    self.at -= 1;
                    return Err(self.fail("control character in a string"));
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.fail("unterminated string"));
                    };
                    self.at += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => {
                            self.at -= 1;
                            return Err(self.fail("unknown escape"));
                        }
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(b),
            }
        }
        // The text was a &str and escapes were written as UTF-8: still valid.
        String::from_utf8(out).map_err(|_| self.fail("invalid UTF-8"))
    }

    /// The character of a `\uXXXX` escape (the `u` read), a surrogate pair joined.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let hi = self.hex4()?;
        let code = match hi {
            0xd800..=0xdbff => {
                if self.s.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.fail("unpaired surrogate"));
                }
                self.at += 2;
                let lo = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return Err(self.fail("unpaired surrogate"));
                }
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.fail("unpaired surrogate")),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.fail("invalid \\u escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse(
            " {\"cmd\" : \"delete\", \"external_port\":8080,\"n\":[true,false,null,-1.5e+3,0],\
             \"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\",\"o\":{}} \n",
        )
        .unwrap();
        assert_eq!(v["cmd"].as_str(), Some("delete"));
        assert_eq!(v["external_port"].as_u64(), Some(8080));
        assert_eq!(v["n"][0].as_bool(), Some(true));
        assert!(v["n"][2].is_null());
        assert_eq!(v["n"][3], Value::Num("-1.5e+3".into()));
        assert_eq!(v["n"][3].as_u64(), None, "not an unsigned integer");
        assert_eq!(v["n"][4].as_u64(), Some(0));
        assert_eq!(v["s"].as_str(), Some("a\"b\\c/d\u{8}\u{c}\n\r\té\u{1f600}"));
        assert_eq!(v["o"], Value::Obj(Vec::new()));
        assert!(v["missing"].is_null() && v["n"][99].is_null() && v["cmd"]["x"].is_null());
    }

    #[test]
    fn the_last_of_a_repeated_name_wins() {
        let v = parse(r#"{"cmd":"status","cmd":"list"}"#).unwrap();
        assert_eq!(v["cmd"].as_str(), Some("list"));
    }

    #[test]
    fn numbers_keep_their_text() {
        assert_eq!(
            parse("18446744073709551615").unwrap().as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(parse("18446744073709551616").unwrap().as_u64(), None);
        assert_eq!(parse("-0").unwrap().as_u64(), None);
        assert_eq!(parse("8080.0").unwrap().as_u64(), None);
        assert_eq!(parse("1E2").unwrap(), Value::Num("1E2".into()));
        assert_eq!(Value::from(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Value::from(2.5f64).to_string(), "2.5");
        assert_eq!(Value::from(3.0f64).to_string(), "3");
        assert_eq!(Value::from(f64::NAN).to_string(), "null");
    }

    #[test]
    fn hostile_input_is_refused_with_a_position() {
        for (text, what) in [
            ("", "unexpected end"),
            ("   ", "unexpected end"),
            ("nul", "unknown literal"),
            ("True", "expected a value"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\":1,}", "expected a member name"),
            ("{a:1}", "expected a member name"),
            ("[1,]", "expected a value"),
            ("[1 2]", "expected ',' or ']'"),
            ("{\"a\":1 \"b\":2}", "expected ',' or '}'"),
            ("01", "trailing characters"),
            ("1.", "expected a digit after '.'"),
            (".5", "expected a value"),
            ("1e", "expected a digit in the exponent"),
            ("-", "expected a digit"),
            ("+1", "expected a value"),
            ("\"abc", "unterminated string"),
            ("\"a\\", "unterminated string"),
            ("\"a\nb\"", "control character in a string"),
            ("\"\\x\"", "unknown escape"),
            ("\"\\u12\"", "expected four hex digits after \\u"),
            ("\"\\ud800\"", "unpaired surrogate"),
            ("\"\\ud800\\u0041\"", "unpaired surrogate"),
            ("\"\\udc00\"", "unpaired surrogate"),
            ("{} {}", "trailing characters"),
            ("{\"cmd\":\"status\"}\u{0}", "trailing characters"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.what, what, "{text:?}");
            assert!(e.at <= text.len(), "{text:?}: {e}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep).unwrap_err().what, "nested too deeply");
        // Far deeper than the limit: refused, not a stack overflow.
        let hostile = "{\"a\":".repeat(100_000);
        assert_eq!(parse(&hostile).unwrap_err().what, "nested too deeply");
    }

    #[test]
    fn writes_escaped_compact_json_in_order() {
        let j = obj([
            ("z", Value::from("x\"y\\\n\r\t\u{1}\u{7f}é")),
            ("n", 5u16.into()),
            ("none", Value::from(None::<u32>)),
            ("l", Value::Arr(vec![true.into(), 1.5f64.into()])),
        ]);
        assert_eq!(
            j.to_string(),
            "{\"z\":\"x\\\"y\\\\\\n\\r\\t\\u0001\u{7f}é\",\"n\":5,\"none\":null,\"l\":[true,1.5]}"
        );
    }

    /// Values built from arbitrary strings, integers and shapes.
    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::Str),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Arr),
                prop::collection::vec((any::<String>(), inner), 0..6).prop_map(Value::Obj),
            ]
        })
    }

    /// Whether our value and serde_json's hold the same JSON (numbers: the same
    /// unsigned integer, or both some other number).
    fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (ours, theirs) {
            (Value::Null, J::Null) => true,
            (Value::Bool(a), J::Bool(b)) => a == b,
            (Value::Num(_), J::Number(n)) => ours.as_u64() == n.as_u64() || n.as_u64().is_none(),
            (Value::Str(a), J::String(b)) => a == b,
            (Value::Arr(a), J::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            // serde_json keeps the last of a repeated name, as `get` finds it.
            (Value::Obj(a), J::Object(b)) => {
                a.iter()
                    .all(|(k, _)| b.get(k).is_some_and(|y| same(&ours[k.as_str()], y)))
                    && b.keys().all(|k| ours.get(k).is_some())
            }
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(v in values()) {
            let text = v.to_string();
            prop_assert!(!text.contains('\n'));
            prop_assert_eq!(parse(&text), Ok(v));
        }

        #[test]
        fn another_reader_reads_what_is_written(v in values()) {
            let theirs: serde_json::Value = serde_json::from_str(&v.to_string())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(same(&v, &theirs), "{} / {}", v, theirs);
        }

        #[test]
        fn what_another_reader_accepts_is_read_the_same(
            s in "[\\[\\]{}\",:0-9eE.+\\-\\\\u a-fnrtl\u{e9}]{0,48}"
        ) {
            if let Ok(theirs) = serde_json::from_str::<serde_json::Value>(&s) {
                let ours = parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
                prop_assert!(same(&ours, &theirs), "{:?}: {} / {}", s, ours, theirs);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn json_like_text_never_panics(s in "[\\[\\]{}\",:0-9eE.+\\-\\\\u a-fnrtl]{0,64}") {
            if let Ok(v) = parse(&s) {
                // Whatever was accepted is written back as JSON that reads the same.
                prop_assert_eq!(parse(&v.to_string()), Ok(v));
            }
        }
    }
}
