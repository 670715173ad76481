//! From bytes to records: decoding (UTF-8 with or without BOM, or Windows-1252), JSON or CSV, and field access
//! that forgives what real exports do to headers (case, BOM, NBSP, tabs, trailing spaces).

use serde_json::{Map, Value};

use super::ImportError;

/// Where a record came from, for error messages: a CSV line or a JSON record number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// 1-based line of a CSV file.
    Line(u64),
    /// 1-based position of a record in a JSON file.
    Record(usize),
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::Line(l) => write!(f, "{l}"),
            Loc::Record(r) => write!(f, "record {r}"),
        }
    }
}

/// One record of an export: a JSON object (a CSV row becomes one, keyed by its cleaned headers).
#[derive(Debug, Clone)]
pub struct Rec {
    pub loc: Loc,
    pub obj: Map<String, Value>,
}

/// The parsed text of one file.
#[derive(Debug)]
pub enum Parsed {
    /// A JSON document (kept whole: some exports are one object, not a list).
    Json(Value),
    /// CSV rows, with the cleaned header.
    Csv { header: Vec<String>, rows: Vec<Rec> },
}

/// Decodes text: a UTF-8 BOM is dropped; bytes that are not UTF-8 are read as Windows-1252 (the 2023 copy of
/// Microsoft's licensing CSV is one, and Excel on Windows writes them).
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(bytes.iter().map(|&b| cp1252(b)).collect()),
    }
}

/// One Windows-1252 byte as a char (0x80–0x9F are the printable extras; the rest is Latin-1).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
        '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    if (0x80..0xA0).contains(&b) {
        HIGH.get(usize::from(b - 0x80)).copied().unwrap_or(char::from(b))
    } else {
        char::from(b)
    }
}

/// A header or key as compared: trimmed of spaces, tabs and NBSP, inner spaces and underscores dropped, lower
/// case (`String_ Id`, `string_id` and `String Id` are one header).
pub fn norm_key(k: &str) -> String {
    norm_chars(k).collect()
}

fn norm_chars(k: &str) -> impl Iterator<Item = char> + '_ {
    k.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '_' && *c != '\u{feff}')
        .flat_map(char::to_lowercase)
}

/// Parses JSON (when the first non-blank character is `{` or `[`) or CSV.
pub fn parse(file: &str, text: &str) -> Result<Parsed, ImportError> {
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{' | '[')) {
        return serde_json::from_str(text)
            .map(Parsed::Json)
            .map_err(|e| ImportError {
                file: file.to_owned(),
                at: Some(format!("{}:{}", e.line(), e.column())),
                field: None,
                message: format!("not valid JSON: {e}"),
            });
    }
    // PowerShell 5's Export-Csv writes a `#TYPE …` line unless told -NoTypeInformation.
    let (skip, body) = match text.strip_prefix("#TYPE") {
        Some(rest) => (1u64, rest.split_once('\n').map_or("", |(_, b)| b)),
        None => (0, text),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(file, skip, &e))?
        .iter()
        .map(|h| {
            h.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{feff}')
                .to_owned()
        })
        .collect();
    if header.len() < 2 {
        return Err(ImportError {
            file: file.to_owned(),
            at: Some((skip + 1).to_string()),
            field: None,
            message: "neither JSON nor a CSV header (expected comma-separated column names)".to_owned(),
        });
    }
    let keys: Vec<String> = header.iter().map(|h| norm_key(h)).collect();
    let mut rows = Vec::new();
    // Lines are counted from byte offsets: the csv crate's own line count is off for CRLF files (Export-Csv).
    let (mut at, mut line) = (0usize, 1u64);
    let mut line_of = |offset: usize| {
        // After a CRLF record the next one is reported as starting at the `\n`.
        let offset = if body.as_bytes().get(offset) == Some(&b'\n') {
            offset + 1
        } else {
            offset
        };
        let upto = offset.min(body.len());
        line += body
            .as_bytes()
            .get(at..upto)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) as u64;
        at = upto.max(at);
        line
    };
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let mut err = csv_error(file, skip, &e);
                if let Some(p) = e.position() {
                    err.at =
                        Some((line_of(usize::try_from(p.byte()).unwrap_or(usize::MAX)) + skip).to_string());
                }
                return Err(err);
            }
        };
        let line = line_of(
            row.position()
                .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX)),
        ) + skip;
        let mut obj = Map::with_capacity(keys.len());
        for (k, v) in keys.iter().zip(row.iter()) {
            obj.insert(k.clone(), Value::String(v.to_owned()));
        }
        rows.push(Rec {
            loc: Loc::Line(line),
            obj,
        });
    }
    Ok(Parsed::Csv { header, rows })
}

fn csv_error(file: &str, skip: u64, e: &csv::Error) -> ImportError {
    let line = e.position().map(|p| p.line() + skip);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    };
    ImportError {
        file: file.to_owned(),
        at: line.map(|l| l.to_string()),
        field: None,
        message,
    }
}

/// Whether a text is JSON (its first non-blank character opens an object or a list).
pub fn is_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}

/// Streams the records of a JSON export to `each`: a list, `{"value": [...]}` (Graph, Dataverse) or
/// `{"data": [...]}` (inventory API). Each record is handed over as soon as it is read, so a 100,000-flow export is
/// never held as one document. A document that is one object without such a list (tenantCapacity, one
/// environment's allocations) is returned instead.
pub fn json_stream<F>(file: &str, text: &str, each: F) -> Result<Option<Map<String, Value>>, ImportError>
where
    F: FnMut(Rec) -> Result<(), ImportError>,
{
    use serde::de::DeserializeSeed;
    let mut state = Stream {
        file,
        each,
        failed: None,
        count: 0,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Top(&mut state)
        .deserialize(&mut de)
        .and_then(|top| de.end().map(|()| top));
    if let Some(e) = state.failed {
        return Err(e);
    }
    result.map_err(|e| ImportError {
        file: file.to_owned(),
        at: Some(format!("{}:{}", e.line(), e.column())),
        field: None,
        message: format!("not valid JSON: {e}"),
    })
}

struct Stream<'f, F> {
    file: &'f str,
    each: F,
    failed: Option<ImportError>,
    count: usize,
}

/// The document: a list of records, or an object that holds one (or is one).
struct Top<'s, 'f, F>(&'s mut Stream<'f, F>);
/// A list of records.
struct List<'s, 'f, F>(&'s mut Stream<'f, F>);

const ABORT: &str = "import stopped at a bad record";

impl<'de, F: FnMut(Rec) -> Result<(), ImportError>> serde::de::DeserializeSeed<'de> for Top<'_, '_, F> {
    type Value = Option<Map<String, Value>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Rec) -> Result<(), ImportError>> serde::de::Visitor<'de> for Top<'_, '_, F> {
    type Value = Option<Map<String, Value>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON list of records or an object")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        List(self.0).visit_seq(seq).map(|()| None)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rest = Map::new();
        let mut listed = false;
        while let Some(k) = map.next_key::<String>()? {
            if !listed && matches!(k.as_str(), "value" | "data" | "Value") {
                let list = map.next_value_seed(MaybeList(&mut *self.0))?;
                match list {
                    None => listed = true,
                    Some(v) => {
                        rest.insert(k, v);
                    }
                }
            } else {
                let v: Value = map.next_value()?;
                rest.insert(k, v);
            }
        }
        Ok((!listed).then_some(rest))
    }
}

/// The value under `value` / `data`: streamed when it is a list, kept when it is anything else.
struct MaybeList<'s, 'f, F>(&'s mut Stream<'f, F>);

impl<'de, F: FnMut(Rec) -> Result<(), ImportError>> serde::de::DeserializeSeed<'de> for MaybeList<'_, '_, F> {
    type Value = Option<Value>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Rec) -> Result<(), ImportError>> serde::de::Visitor<'de> for MaybeList<'_, '_, F> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        List(self.0).visit_seq(seq).map(|()| None)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
}

impl<'de, F: FnMut(Rec) -> Result<(), ImportError>> serde::de::Visitor<'de> for List<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of records")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            self.0.count += 1;
            let loc = Loc::Record(self.0.count);
            let done = match v {
                Value::Object(obj) => (self.0.each)(Rec { loc, obj }),
                // Nothing is dropped silently: a list of records holds only records.
                other => Err(ImportError {
                    file: self.0.file.to_owned(),
                    at: Some(loc.to_string()),
                    field: None,
                    message: format!("a record must be an object, not `{}`", short(&other)),
                }),
            };
            if let Err(e) = done {
                self.0.failed = Some(e);
                return Err(serde::de::Error::custom(ABORT));
            }
        }
        Ok(())
    }
}

/// A value, shortened for a message.
fn short(v: &Value) -> String {
    let t = v.to_string();
    match t.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", t.get(..i).unwrap_or("")),
        None => t,
    }
}

/// Looks a key up in an object the forgiving way (see [`norm_key`]).
pub fn key<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(name) {
        return Some(v);
    }
    obj.iter()
        .find(|(k, _)| norm_chars(k).eq(norm_chars(name)))
        .map(|(_, v)| v)
}

/// Follows a dotted path (`Internal.properties.state`); each step forgiving. PowerShell's Export-Csv flattens
/// nested objects into `@{a=1; b=2}` strings: a step into such a string reads its `a=` part.
pub fn path<'a>(obj: &'a Map<String, Value>, dotted: &str) -> Option<PathValue<'a>> {
    let mut steps = dotted.split('.');
    let first = steps.next()?;
    let mut cur = PathValue::Json(key(obj, first)?);
    for step in steps {
        cur = match cur {
            PathValue::Json(Value::Object(o)) => PathValue::Json(key(o, step)?),
            PathValue::Json(Value::String(s)) => PathValue::Text(ps_hash_get(s, step)?),
            PathValue::Text(s) => PathValue::Text(ps_hash_get(s, step)?),
            PathValue::Json(_) => return None,
        };
    }
    Some(cur)
}

/// A value found by [`path`]: JSON, or a piece of a flattened PowerShell hashtable string.
#[derive(Debug, Clone, Copy)]
pub enum PathValue<'a> {
    Json(&'a Value),
    Text(&'a str),
}

impl<'a> PathValue<'a> {
    /// As text: strings as they are, numbers and booleans written out; null and empty are nothing.
    pub fn text(self) -> Option<String> {
        let s = match self {
            PathValue::Text(s) => s.to_owned(),
            PathValue::Json(Value::String(s)) => s.clone(),
            PathValue::Json(Value::Number(n)) => n.to_string(),
            PathValue::Json(Value::Bool(b)) => b.to_string(),
            PathValue::Json(_) => return None,
        };
        let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}');
        (!s.is_empty()).then(|| s.to_owned())
    }

    pub fn json(self) -> Option<&'a Value> {
        match self {
            PathValue::Json(v) => Some(v),
            PathValue::Text(_) => None,
        }
    }
}

/// `@{tenantId=…; objectId=…}` → the value of `name` (case-insensitive).
fn ps_hash_get<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let inner = s.trim().strip_prefix("@{")?.strip_suffix('}')?;
    inner.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The first of several paths that is present.
pub fn path_first<'a>(obj: &'a Map<String, Value>, paths: &[&str]) -> Option<PathValue<'a>> {
    paths.iter().find_map(|p| path(obj, p))
}

/// The first of several paths that gives text.
pub fn text(rec: &Rec, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find_map(|p| path(&rec.obj, p).and_then(PathValue::text))
}

/// Whether any of these paths is present (even empty) in a record.
pub fn has(obj: &Map<String, Value>, paths: &[&str]) -> bool {
    paths.iter().any(|p| path(obj, p).is_some())
}

/// A GUID in lower case, or `None` if the text is not one. Joins are on GUIDs; case differs between exports.
pub fn guid(s: &str) -> Option<String> {
    let s = s.trim().trim_matches(|c| c == '{' || c == '}');
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| s.to_ascii_lowercase())
}

/// A boolean as exports write it (`True`, `true`, `1`, `Yes`).
pub fn boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Some(true),
        "false" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// The day of a timestamp (`2022-06-20T15:13:24.51Z`, `2022-03-18 19:49:35Z`, `3/26/2020 8:38:08 AM`).
pub fn day(s: &str) -> Option<chrono::NaiveDate> {
    let s = s.trim();
    if let Some(d) = s
        .get(..10)
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    {
        return Some(d);
    }
    let date = s.split_whitespace().next()?;
    chrono::NaiveDate::parse_from_str(date, "%m/%d/%Y").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_is_read_when_the_bytes_are_not_utf8() {
        assert_eq!(decode(b"a\x96b"), "a–b");
        assert_eq!(decode(b"\xEF\xBB\xBFid"), "id");
    }

    #[test]
    fn headers_forgive_case_spaces_nbsp_and_underscores() {
        assert_eq!(norm_key("String_ Id"), norm_key("String_Id"));
        assert_eq!(norm_key(" Object\u{a0}Id\t"), "objectid");
    }

    #[test]
    fn powershell_hashtables_in_csv_cells_are_read() {
        let text = "FlowName,CreatedBy\nf,\"@{tenantId=t; objectId=E1251B10-0000-0000-0000-000000000001}\"\n";
        let Parsed::Csv { rows, .. } = parse("x.csv", text).unwrap() else {
            panic!("csv")
        };
        let owner = text_of(&rows[0], "CreatedBy.objectId");
        assert_eq!(guid(&owner).unwrap(), "e1251b10-0000-0000-0000-000000000001");
        assert_eq!(rows[0].loc, Loc::Line(2));
    }

    fn text_of(r: &Rec, p: &str) -> String {
        text(r, &[p]).unwrap()
    }

    #[test]
    fn a_short_csv_row_names_its_line() {
        let e = parse("f.csv", "a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(e.at.as_deref(), Some("3"));
    }

    #[test]
    fn guids_and_days() {
        assert!(guid("not-a-guid").is_none());
        assert_eq!(
            day("3/26/2020 8:38:08 AM"),
            chrono::NaiveDate::from_ymd_opt(2020, 3, 26)
        );
        assert_eq!(
            day("2022-03-18 19:49:35Z"),
            chrono::NaiveDate::from_ymd_opt(2022, 3, 18)
        );
    }
}
#[cfg(test)]
mod crlf_tests {
    #[test]
    fn crlf_lines() {
        let text = "\"a\",\"b\"\r\n\"1\",\"2\"\r\n\"3\",\"4\"\r\n";
        let super::Parsed::Csv { rows, .. } = super::parse("x.csv", text).unwrap() else {
            panic!()
        };
        assert_eq!(rows[0].loc, super::Loc::Line(2));
        assert_eq!(rows[1].loc, super::Loc::Line(3));
        let e = super::parse("x.csv", "a,b\r\n1,2\r\n3\r\n").unwrap_err();
        assert_eq!(e.at.as_deref(), Some("3"));
    }
}
