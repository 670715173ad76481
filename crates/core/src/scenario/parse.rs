//! Reading and writing a scenario: syntax, types, unknown keys, references; each problem reported as one line with
//! file, line, column and key path (`tenant.toml:12:9: flows[2].owner: unknown user `alcie` (did you mean
//! `alice`?)`).
//!
//! Reading goes in three steps:
//! 1. syntax: the TOML or JSON parser; the key path of a TOML syntax error is worked out from the table headers
//!    above it, the one of a JSON syntax error from where serde was;
//! 2. types: serde into the model, through `serde_path_to_error` for the key path; serde's messages are
//!    rewritten into plainer ones, with a "did you mean" for unknown keys and enum values;
//! 3. meaning: [`validate`](super::validate) finds dangling references, duplicate ids and the like; a locator
//!    finds the offending key or value in the text again for its line and column.
//!
//! TOML local dates (`start = 2024-01-01`, unquoted) are read like the quoted strings SCENARIO.md shows.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::catalog::Catalog;
use crate::error::{InputError, Location};

use super::Scenario;
use super::limits;
use super::locate::{Locator, Target};
use super::model::SCENARIO_VERSION;
use super::path::{KeyPath, Seg};
use super::suggest;
use super::validate;

/// The two spellings of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// `.json` files are JSON; everything else is read as TOML.
    pub fn from_path(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Toml
        }
    }

    /// `toml` or `json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Json => "json",
        }
    }
}

/// A scenario that cannot be written out (TOML cannot hold integers above `i64::MAX`).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write the scenario as TOML: {0}")]
    Toml(#[from] toml::ser::Error),
    #[error("cannot write the scenario as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Scenario {
    /// Parses and checks a scenario. `file` names the input in error messages. On bad input, the problem that
    /// comes first in the file.
    pub fn parse(text: &str, format: Format, file: &str, catalog: &Catalog) -> Result<Scenario, InputError> {
        Scenario::parse_all(text, format, file, catalog).map_err(|errors| first(errors, file))
    }

    /// Like [`Scenario::parse`], but on bad input every problem found, in file order (never empty). A syntax or
    /// type error stops the reading, so it comes alone; the semantic checks report everything they find.
    pub fn parse_all(
        text: &str,
        format: Format,
        file: &str,
        catalog: &Catalog,
    ) -> Result<Scenario, Vec<InputError>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Before any parser sees the text: nesting and size (the TOML parser's time grows with the square of
        // the nesting).
        let scanned = match format {
            Format::Toml => limits::scan_toml(text),
            Format::Json => limits::scan_json(text),
        };
        if let Err((offset, message)) = scanned {
            return Err(vec![InputError::new(file, location(text, offset), "", message)]);
        }
        let scenario = match format {
            Format::Toml => read_toml(text, file),
            Format::Json => read_json(text, file),
        }
        .map_err(|e| vec![e])?;
        let problems = validate::problems(&scenario, catalog);
        if problems.is_empty() {
            return Ok(scenario);
        }
        // Only now, with something to point at, is the text walked again for positions.
        let locator = match format {
            Format::Toml => toml_edit::Document::parse(text).map_or(Locator::None, Locator::Toml),
            Format::Json => Locator::Json(text),
        };
        let mut errors: Vec<InputError> = problems
            .into_iter()
            .map(|p| {
                let location = locator
                    .offset(&p.at, p.target)
                    .map(|o| location(text, o))
                    .unwrap_or_default();
                to_error(file, location, p)
            })
            .collect();
        errors.sort_by_key(|e| {
            let l = e.location();
            (l.line.unwrap_or(usize::MAX), l.column.unwrap_or(usize::MAX))
        });
        Err(errors)
    }

    /// The semantic checks alone, for a scenario built in memory (no text, so no line numbers): every problem,
    /// in the order of the sections.
    pub fn validate(&self, catalog: &Catalog, file: &str) -> Result<(), Vec<InputError>> {
        let errors: Vec<InputError> = validate::problems(self, catalog)
            .into_iter()
            .map(|p| to_error(file, Location::default(), p))
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// [`Scenario::validate`] for a scenario that differs from `base`'s by `delta` alone: only the items the
    /// change touched are checked. `None` when the change needs the whole check.
    pub(crate) fn validate_change(
        &self,
        catalog: &Catalog,
        file: &str,
        base: &crate::Snapshot,
        delta: &crate::snapshot::Delta,
    ) -> Option<Result<(), Vec<InputError>>> {
        let errors: Vec<InputError> = validate::problems_in(self, catalog, base, delta)?
            .into_iter()
            .map(|p| to_error(file, Location::default(), p))
            .collect();
        Some(if errors.is_empty() { Ok(()) } else { Err(errors) })
    }

    /// The scenario as TOML; [`Scenario::parse`] reads it back to an equal scenario.
    pub fn to_toml_string(&self) -> Result<String, WriteError> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The scenario as pretty-printed JSON; [`Scenario::parse`] reads it back to an equal scenario.
    pub fn to_json_string(&self) -> Result<String, WriteError> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// The scenario in either format.
    pub fn to_string_as(&self, format: Format) -> Result<String, WriteError> {
        match format {
            Format::Toml => self.to_toml_string(),
            Format::Json => self.to_json_string(),
        }
    }
}

fn first(errors: Vec<InputError>, file: &str) -> InputError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| InputError::new(file, Location::default(), "", "unreadable scenario"))
}

fn to_error(file: &str, location: Location, p: validate::Problem) -> InputError {
    let e = InputError::new(file, location, p.key.to_string(), p.message);
    match p.help {
        Some(help) => e.with_help(help),
        None => e,
    }
}

/// The line and column of a byte offset (moved back to a character boundary if need be).
fn location(text: &str, offset: usize) -> Location {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    Location::of_offset(text, offset)
}

// ---------------------------------------------------------------------------------------------------------------
// TOML

fn read_toml(text: &str, file: &str) -> Result<Scenario, InputError> {
    let mut root = toml::de::DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        InputError::new(
            file,
            location(text, offset),
            toml_syntax_path(text, offset).to_string(),
            one_line(e.message()),
        )
    })?;
    quote_dates(root.get_mut());
    // The common case, a good file, without the cost of tracking the key path; a bad one is read again with it.
    if let Ok(scenario) = <Scenario as serde::Deserialize>::deserialize(toml::Deserializer::from(root)) {
        return Ok(scenario);
    }
    let mut root = toml::de::DeTable::parse(text).map_err(|e| {
        InputError::new(
            file,
            location(text, e.span().map_or(0, |s| s.start)),
            "",
            one_line(e.message()),
        )
    })?;
    quote_dates(root.get_mut());
    let scenario: Scenario =
        serde_path_to_error::deserialize(toml::Deserializer::from(root)).map_err(|e| {
            let path = KeyPath::from_serde(e.path());
            let inner = e.into_inner();
            let span = inner.span();
            let raw = span.clone().and_then(|s| text.get(s)).map(unquote);
            let t = translate(inner.message(), path, raw.as_deref(), Format::Toml);
            let offset = span.map(|s| s.start);
            let location = match offset {
                Some(o) => location(text, o),
                None => toml_edit::Document::parse(text)
                    .ok()
                    .and_then(|doc| Locator::Toml(doc).offset(&t.at, t.target))
                    .map(|o| location(text, o))
                    .unwrap_or_default(),
            };
            t.into_error(file, location)
        })?;
    Ok(scenario)
}

/// The keys whose values are dates.
const DATE_KEYS: [&str; 6] = ["at", "start", "end", "left", "created", "on"];

/// TOML has a date type; the model reads dates from strings. Date values under date keys become strings (with
/// their spans kept, so errors still point at them), and chrono then checks them like quoted ones.
fn quote_dates(table: &mut toml::de::DeTable<'_>) {
    for (key, value) in table.iter_mut() {
        let date_key = DATE_KEYS.contains(&key.get_ref().as_ref());
        quote_date(value.get_mut(), date_key);
    }
}

fn quote_date(value: &mut toml::de::DeValue<'_>, date_key: bool) {
    match value {
        toml::de::DeValue::Datetime(dt) if date_key => {
            let text = dt.to_string();
            *value = toml::de::DeValue::String(Cow::Owned(text));
        }
        toml::de::DeValue::Table(t) => quote_dates(t),
        toml::de::DeValue::Array(items) => {
            for item in items.iter_mut() {
                quote_date(item.get_mut(), false);
            }
        }
        _ => {}
    }
}

/// The key path of a TOML syntax error: the table header above it (with the index of each array of tables),
/// then the key on its line. Worked out from the text alone, since the document did not parse.
fn toml_syntax_path(text: &str, offset: usize) -> KeyPath {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text
        .get(..offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table = KeyPath::root();
    for line in text.get(..line_start).unwrap_or_default().lines() {
        if let Some((keys, array)) = header(line) {
            if array {
                *counts.entry(keys.join(".")).or_default() += 1;
            }
            table = header_path(&keys, &counts);
        }
    }
    let line = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default();
    if let Some((keys, _)) = header(line) {
        return header_path(&keys, &counts);
    }
    let mut path = table;
    if let Some((key, _)) = line.split_once('=')
        && let Some(keys) = dotted(key)
    {
        for k in keys {
            path = path.key(&k);
        }
    }
    path
}

/// `[a.b]` or `[[a.b]]`: the keys, and whether it is an array of tables.
fn header(line: &str) -> Option<(Vec<String>, bool)> {
    let t = line.trim();
    if let Some(inner) = t.strip_prefix("[[") {
        let inner = inner.split_once("]]")?.0;
        Some((dotted(inner)?, true))
    } else {
        let inner = t.strip_prefix('[')?.split_once(']')?.0;
        Some((dotted(inner)?, false))
    }
}

/// `a."b.c" . d` → `a`, `b.c`, `d`; `None` for anything that does not look like a key.
fn dotted(text: &str) -> Option<Vec<String>> {
    let mut keys = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '.') => keys.push(std::mem::take(&mut current)),
            (None, c) if c.is_whitespace() => {}
            (None, c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' => current.push(c),
            (None, _) => return None,
        }
    }
    keys.push(current);
    if keys.iter().any(String::is_empty) {
        None
    } else {
        Some(keys)
    }
}

fn header_path(keys: &[String], counts: &HashMap<String, usize>) -> KeyPath {
    let mut path = KeyPath::root();
    for (i, key) in keys.iter().enumerate() {
        path = path.key(key);
        let prefix = keys.get(..=i).unwrap_or_default().join(".");
        if let Some(n) = counts.get(&prefix) {
            path = path.index(n.saturating_sub(1));
        }
    }
    path
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

fn read_json(text: &str, file: &str) -> Result<Scenario, InputError> {
    // The common case, a good file, without the cost of tracking the key path; a bad one is read again with it.
    if let Ok(scenario) = serde_json::from_str::<Scenario>(text) {
        return Ok(scenario);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let result: Result<Scenario, _> = serde_path_to_error::deserialize(&mut de);
    let scenario = match result {
        Ok(s) => s,
        Err(e) => {
            let path = KeyPath::from_serde(e.path());
            return Err(json_error(text, file, path, &e.into_inner()));
        }
    };
    de.end()
        .map_err(|e| json_error(text, file, KeyPath::root(), &e))?;
    Ok(scenario)
}

fn json_error(text: &str, file: &str, path: KeyPath, e: &serde_json::Error) -> InputError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    let reported = json_position(text, e.line(), e.column());
    if !e.is_data() {
        return InputError::new(
            file,
            location(text, reported),
            path.to_string(),
            one_line(message),
        );
    }
    let locator = Locator::Json(text);
    let value_at = locator.offset(&path, Target::Value);
    let raw = value_at.and_then(|o| json_raw(text, o));
    let t = translate(message, path, raw.as_deref(), Format::Json);
    let offset = if t.use_reported_position {
        // serde_json stops on the closing quote of the second key: point at its opening quote.
        let closing = text.get(..=reported).and_then(|b| b.rfind('"'));
        closing
            .and_then(|c| text.get(..c))
            .and_then(|b| b.rfind('"'))
            .unwrap_or(reported)
    } else {
        locator.offset(&t.at, t.target).unwrap_or(reported)
    };
    t.into_error(file, location(text, offset))
}

/// The byte offset of serde_json's 1-based line and (byte) column.
fn json_position(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    line_start + column.saturating_sub(1)
}

/// The text of the scalar value at `offset`, without its quotes.
fn json_raw(text: &str, offset: usize) -> Option<String> {
    let rest = text.get(offset..)?;
    if let Some(s) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut escaped = false;
        for c in s.chars() {
            match (escaped, c) {
                (false, '"') => return Some(out),
                (false, '\\') => escaped = true,
                (_, c) => {
                    out.push(c);
                    escaped = false;
                }
            }
        }
        return None;
    }
    let end = rest
        .find([',', '}', ']', '\n', '\r', ' ', '\t'])
        .unwrap_or(rest.len());
    rest.get(..end).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------------------------
// serde's messages, rewritten

/// A type error, ready to be located.
struct Translated {
    key: KeyPath,
    at: KeyPath,
    target: Target,
    message: String,
    help: Option<String>,
    /// The parser's own position is better than a located one (a JSON key given twice: the locator would find
    /// the first).
    use_reported_position: bool,
}

impl Translated {
    fn new(path: KeyPath, message: impl Into<String>) -> Translated {
        Translated {
            at: path.clone(),
            key: path,
            target: Target::Value,
            message: message.into(),
            help: None,
            use_reported_position: false,
        }
    }

    fn help(mut self, help: Option<String>) -> Translated {
        self.help = help;
        self
    }

    fn into_error(self, file: &str, location: Location) -> InputError {
        let e = InputError::new(file, location, self.key.to_string(), self.message);
        match self.help {
            Some(help) => e.with_help(help),
            None => e,
        }
    }
}

/// The top-level keys whose values are lists of tables.
const SECTIONS: [&str; 8] = [
    "subscriptions",
    "users",
    "environments",
    "apps",
    "flows",
    "entities",
    "usage",
    "events",
];

/// The chrono messages for a string that is not a date, and what each means here.
const DATE_ERRORS: [(&str, &str); 7] = [
    ("input is out of range", "no such month or day"),
    ("input contains invalid characters", "not a date"),
    ("premature end of input", "incomplete"),
    ("trailing input", "extra text after the date"),
    ("no possible date and time matching input", "no such day"),
    ("input is not enough for unique date and time", "incomplete"),
    ("bad or unsupported format string", "not a date"),
];

fn translate(message: &str, path: KeyPath, raw: Option<&str>, format: Format) -> Translated {
    let message = one_line(message);
    let table = match format {
        Format::Toml => "a table",
        Format::Json => "an object",
    };

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (name, expected) = name_and_expected(rest);
        let help = suggest::did_you_mean(&name, expected.iter().map(String::as_str)).or_else(|| {
            (!expected.is_empty()).then(|| {
                format!(
                    "valid keys: {}",
                    suggest::list(expected.iter().map(String::as_str))
                )
            })
        });
        let mut t = Translated::new(path, format!("unknown key `{name}`")).help(help);
        t.target = Target::Key;
        return t;
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (name, expected) = name_and_expected(rest);
        let help = suggest::did_you_mean(&name, expected.iter().map(String::as_str)).or_else(|| {
            (!expected.is_empty()).then(|| {
                format!(
                    "expected one of {}",
                    suggest::list(expected.iter().map(String::as_str))
                )
            })
        });
        return Translated::new(path, format!("unknown value `{name}`")).help(help);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = rest.trim_matches('`');
        let help = (path.is_root() && name == "tenant").then(|| match format {
            Format::Toml => "every scenario has a `[tenant]` table with an `id`".to_owned(),
            Format::Json => "every scenario has a `\"tenant\"` object with an `\"id\"`".to_owned(),
        });
        let mut t = Translated::new(path.key(name), format!("missing key `{name}`")).help(help);
        t.at = path;
        return t;
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let name = rest.trim_matches('`');
        let mut t = Translated::new(path.key(name), format!("`{name}` is given twice"));
        t.use_reported_position = true;
        return t;
    }
    if let Some((_, reason)) = DATE_ERRORS.iter().find(|(m, _)| *m == message) {
        let shown = raw.map_or_else(String::new, |r| format!(" `{r}`"));
        return Translated::new(path, format!("invalid date{shown}: {reason}"))
            .help(Some("write dates as YYYY-MM-DD, such as `2024-06-01`".to_owned()));
    }

    // `[[tenant]]` instead of `[tenant]`: serde reads the list as the struct's fields, one by one.
    if let [Seg::Key(first), Seg::Index(_), ..] = path.segs()
        && first == "tenant"
    {
        let help = match format {
            Format::Toml => "write `[tenant]`, not `[[tenant]]`",
            Format::Json => "write `\"tenant\": { … }`, not a list",
        };
        return Translated::new(
            KeyPath::root().key("tenant"),
            format!("`tenant` must be {table}, not a list"),
        )
        .help(Some(help.to_owned()));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        let looks_like_date = format == Format::Toml && raw.is_some_and(is_toml_datetime);
        let found = if found == "map" && looks_like_date {
            "a date".to_owned()
        } else {
            noun(found, format)
        };
        let expected = noun(expected, format);
        let mut help = None;
        if let [Seg::Key(section)] = path.segs()
            && SECTIONS.contains(&section.as_str())
            && found == table
        {
            help = Some(match format {
                Format::Toml => format!("write `[[{section}]]` before each entry, not `[{section}]`"),
                Format::Json => format!("write a list: `\"{section}\": [{{ … }}]`"),
            });
        }
        return Translated::new(path, format!("expected {expected}, found {found}")).help(help);
    }
    if message.starts_with("invalid length ") && message.contains(", expected struct ") {
        // A list where a table belongs: serde tried to read the struct's fields from it, in order.
        return Translated::new(path, format!("expected {table}, found a list"));
    }
    if let Some(rest) = message.strip_prefix("invalid value: integer ")
        && let Some((number, expected)) = rest.split_once(", expected ")
    {
        let number = number.trim_matches('`');
        let text = if number.starts_with('-') {
            format!("`{number}` is negative; expected {}", noun(expected, format))
        } else {
            format!("`{number}` is too large; expected {}", noun(expected, format))
        };
        return Translated::new(path, text);
    }
    Translated::new(path, message)
}

/// "`x`, expected one of `a`, `b`" → (`x`, [a, b]).
fn name_and_expected(rest: &str) -> (String, Vec<String>) {
    let mut ticks = rest.split('`').skip(1).step_by(2).map(str::to_owned);
    let name = ticks.next().unwrap_or_default();
    let expected = if rest.contains(", expected ") {
        ticks.collect()
    } else {
        Vec::new()
    };
    (name, expected)
}

/// serde's names for types and values, in the words of the scenario file.
fn noun(serde: &str, format: Format) -> String {
    let table = match format {
        Format::Toml => "a table",
        Format::Json => "an object",
    };
    let s = serde.trim();
    match s {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            let max = match s {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                _ => 0,
            };
            if max == 0 {
                "a whole number, 0 or more".to_owned()
            } else {
                format!("a whole number from 0 to {max}")
            }
        }
        "a boolean" => "`true` or `false`".to_owned(),
        "a sequence" | "sequence" => "a list".to_owned(),
        "a map" | "map" => table.to_owned(),
        "a formatted date string" => "a date such as \"2024-06-01\"".to_owned(),
        "unit value" => "null".to_owned(),
        _ if s.starts_with("struct ") => table.to_owned(),
        _ if s.starts_with("enum ") => "one of its names".to_owned(),
        _ if s.starts_with("string ") => format!("the string {}", s.trim_start_matches("string ")),
        _ if s.starts_with("integer ") => format!("the number {}", s.trim_start_matches("integer ")),
        _ if s.starts_with("floating point ") => {
            format!("the number {}", s.trim_start_matches("floating point "))
        }
        _ if s.starts_with("boolean ") => s.trim_start_matches("boolean ").to_owned(),
        _ => s.to_owned(),
    }
}

/// A TOML date, time or date-time literal (unquoted).
fn is_toml_datetime(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() >= 8
        && b.iter().take(4).all(u8::is_ascii_digit)
        && b.get(4) == Some(&b'-')
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-:.+ ".contains(c))
}

/// A span's text without its TOML quotes.
fn unquote(raw: &str) -> String {
    let t = raw.trim();
    for q in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = t.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    t.to_owned()
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------------------------
// JSON Schema

/// The JSON Schema of the scenario file (draft 2020-12), with `$id`, title and description naming the format
/// version. TOML files follow the same schema.
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".to_owned(),
            format!("https://example.invalid/entitle/schema/scenario-v{SCENARIO_VERSION}.json").into(),
        );
        obj.insert(
            "title".to_owned(),
            format!("entitle scenario, version {SCENARIO_VERSION}").into(),
        );
        obj.insert(
            "description".to_owned(),
            format!(
                "One tenant as of a date: subscriptions, users, environments, apps, flows, entities, usage and \
                 events, as read by entitle (scenario format version {SCENARIO_VERSION}; see SCENARIO.md). \
                 Unknown keys are an error. Dates are YYYY-MM-DD strings; SKU ids are the catalog's."
            )
            .into(),
        );
    }
    let version = serde_json::json!({ "minimum": 1, "maximum": SCENARIO_VERSION });
    extend(&mut schema, &["properties", "version"], version);
    // Every id: the grammar of `ids`.
    for def in [
        "Tenant",
        "Subscription",
        "User",
        "Environment",
        "App",
        "Flow",
        "Entity",
        "LicenseRequest",
    ] {
        extend(
            &mut schema,
            &["$defs", def, "properties", "id"],
            serde_json::json!({ "minLength": 1, "maxLength": super::ids::MAX_LEN, "pattern": super::ids::PATTERN }),
        );
    }
    extend(
        &mut schema,
        &["$defs", "Tenant", "properties", "country"],
        serde_json::json!({ "pattern": "^[A-Z]{2}$" }),
    );
    schema
}

/// Adds the members of `extra` to the object at `path`, if there is one.
fn extend(schema: &mut serde_json::Value, path: &[&str], extra: serde_json::Value) {
    let mut at = Some(schema);
    for key in path {
        at = at.and_then(|v| v.get_mut(*key));
    }
    if let (Some(serde_json::Value::Object(target)), serde_json::Value::Object(extra)) = (at, extra) {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_syntax_paths_follow_headers() {
        let text = "[tenant]\nid = \"c\"\n[[flows]]\nid = \"a\"\n[[flows]]\nid = \"b\"\nowner = \"x\n";
        let at = text.find("\"x").unwrap_or_default();
        assert_eq!(toml_syntax_path(text, at).to_string(), "flows[1].owner");
        let text = "[tenant]\nid = \"c\" x\n";
        assert_eq!(toml_syntax_path(text, 17).to_string(), "tenant.id");
        let text = "[[apps]]\nid = 'a'\n[apps.extra]\nx == 1\n";
        assert_eq!(
            toml_syntax_path(text, text.len() - 3).to_string(),
            "apps[0].extra.x"
        );
    }

    #[test]
    fn serde_messages_become_plain() {
        let p = KeyPath::root().key("subscriptions").index(0).key("quantity");
        let t = translate(
            "invalid value: integer `-5`, expected u32",
            p.clone(),
            None,
            Format::Toml,
        );
        assert_eq!(
            t.message,
            "`-5` is negative; expected a whole number from 0 to 4294967295"
        );
        let t = translate("invalid type: string \"5\", expected u32", p, None, Format::Json);
        assert_eq!(
            t.message,
            "expected a whole number from 0 to 4294967295, found the string \"5\""
        );
        let p = KeyPath::root().key("tenant").key("cloud");
        let t = translate(
            "unknown variant `publik`, expected one of `public`, `gcc`",
            p,
            None,
            Format::Toml,
        );
        assert_eq!(t.message, "unknown value `publik`");
        assert_eq!(t.help.as_deref(), Some("did you mean `public`?"));
    }

    #[test]
    fn json_positions_are_byte_offsets() {
        let text = "{\n  \"a\": 1,\n}";
        assert_eq!(json_position(text, 3, 1), 12);
        assert_eq!(json_position(text, 1, 0), 0);
    }
}
