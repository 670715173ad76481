//! Finding a key path in the text again, so that an error found after deserializing (an unknown user, a duplicate
//! id) points at the line and column of the offending key or value.
//!
//! TOML is walked with `toml_edit`, which keeps the span of every key and value. JSON is walked with a small
//! scanner: serde_json has already accepted the text, so the scanner only needs to skip values, not validate them.

use std::ops::Range;

use super::path::{KeyPath, Seg};

/// What to point at: the key itself (an unknown key, a map key naming an unknown SKU) or its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Key,
    Value,
}

/// A parsed document that can answer "where is this path?".
#[derive(Debug)]
pub(crate) enum Locator<'t> {
    Toml(toml_edit::Document<&'t str>),
    Json(&'t str),
    /// Nothing to look in (a scenario built in memory).
    None,
}

impl Locator<'_> {
    /// The byte offset of `path` (its key or its value), or of the nearest enclosing key that can be found.
    pub(crate) fn offset(&self, path: &KeyPath, target: Target) -> Option<usize> {
        let mut path = path.clone();
        let mut target = target;
        loop {
            let found = match self {
                Locator::Toml(doc) => toml_span(doc, path.segs(), target).map(|r| r.start),
                Locator::Json(text) => json_offset(text, path.segs(), target),
                Locator::None => return None,
            };
            if found.is_some() {
                return found;
            }
            if path.is_root() {
                return None;
            }
            path = path.parent();
            target = Target::Value;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// TOML

enum Node<'d> {
    Item(&'d toml_edit::Item),
    Value(&'d toml_edit::Value),
    Table(&'d toml_edit::Table),
}

impl Node<'_> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }
}

/// The span of a path's key or value in a parsed TOML document.
fn toml_span(doc: &toml_edit::Document<&str>, path: &[Seg], target: Target) -> Option<Range<usize>> {
    let mut node = Node::Table(doc.as_table());
    let mut key_span: Option<Range<usize>> = None;
    for seg in path {
        let (next, kspan) = match (seg, node) {
            (Seg::Key(k), Node::Table(t)) => {
                let (key, item) = t.get_key_value(k)?;
                (Node::Item(item), key.span())
            }
            (Seg::Key(k), Node::Item(item)) => {
                let (key, item) = item.as_table_like()?.get_key_value(k)?;
                (Node::Item(item), key.span())
            }
            (Seg::Key(k), Node::Value(v)) => {
                let (key, item) = v.as_inline_table()?.get_key_value(k)?;
                (Node::Item(item), key.span())
            }
            (Seg::Index(i), Node::Item(toml_edit::Item::ArrayOfTables(aot))) => {
                (Node::Table(aot.get(*i)?), None)
            }
            (Seg::Index(i), Node::Item(toml_edit::Item::Value(v)) | Node::Value(v)) => {
                (Node::Value(v.as_array()?.get(*i)?), None)
            }
            (Seg::Index(_), _) => return None,
        };
        node = next;
        key_span = kspan;
    }
    match target {
        Target::Key => key_span.or_else(|| node.span()),
        Target::Value => node.span().or(key_span),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/// The byte offset of a path's key or value in JSON text that serde_json has accepted.
fn json_offset(text: &str, path: &[Seg], target: Target) -> Option<usize> {
    let s = Scanner { b: text.as_bytes() };
    let mut pos = s.ws(0);
    let mut key_pos = None;
    for seg in path {
        match seg {
            Seg::Key(want) => {
                let (kpos, vpos) = s.find_key(pos, want)?;
                key_pos = Some(kpos);
                pos = vpos;
            }
            Seg::Index(want) => {
                pos = s.find_index(pos, *want)?;
                key_pos = None;
            }
        }
    }
    match target {
        Target::Key => key_pos.or(Some(pos)),
        Target::Value => Some(pos),
    }
}

struct Scanner<'b> {
    b: &'b [u8],
}

impl Scanner<'_> {
    fn at(&self, pos: usize) -> Option<u8> {
        self.b.get(pos).copied()
    }

    /// The first position at or after `pos` that is not whitespace.
    fn ws(&self, mut pos: usize) -> usize {
        while matches!(self.at(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            pos += 1;
        }
        pos
    }

    /// A string starting at `pos` (on its `"`): its decoded text and the position after its closing quote.
    fn string(&self, pos: usize) -> Option<(String, usize)> {
        if self.at(pos)? != b'"' {
            return None;
        }
        let mut out: Vec<u16> = Vec::new();
        let mut raw: Vec<u8> = Vec::new();
        let mut i = pos + 1;
        // Decoded as UTF-16 units only where \u escapes occur; everything else is copied as UTF-8 bytes.
        let flush = |raw: &mut Vec<u8>, out: &mut Vec<u16>| {
            out.extend(String::from_utf8_lossy(raw).encode_utf16());
            raw.clear();
        };
        loop {
            match self.at(i)? {
                b'"' => {
                    flush(&mut raw, &mut out);
                    return Some((String::from_utf16_lossy(&out), i + 1));
                }
                b'\\' => {
                    let esc = self.at(i + 1)?;
                    i += 2;
                    match esc {
                        b'n' => raw.push(b'\n'),
                        b't' => raw.push(b'\t'),
                        b'r' => raw.push(b'\r'),
                        b'b' => raw.push(0x08),
                        b'f' => raw.push(0x0c),
                        b'u' => {
                            let hex = std::str::from_utf8(self.b.get(i..i + 4)?).ok()?;
                            let unit = u16::from_str_radix(hex, 16).ok()?;
                            flush(&mut raw, &mut out);
                            out.push(unit);
                            i += 4;
                        }
                        other => raw.push(other),
                    }
                }
                c => {
                    raw.push(c);
                    i += 1;
                }
            }
        }
    }

    /// The position just after the value starting at `pos`.
    fn skip_value(&self, pos: usize) -> Option<usize> {
        match self.at(pos)? {
            b'"' => self.string(pos).map(|(_, end)| end),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut i = pos;
                loop {
                    match self.at(i)? {
                        b'"' => {
                            i = self.string(i)?.1;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                let mut i = pos;
                while let Some(c) = self.at(i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    i += 1;
                }
                Some(i)
            }
        }
    }

    /// In the object starting at `pos`, the positions of `want`'s key and of its value (the first such key).
    fn find_key(&self, pos: usize, want: &str) -> Option<(usize, usize)> {
        if self.at(pos)? != b'{' {
            return None;
        }
        let mut i = self.ws(pos + 1);
        loop {
            if self.at(i)? == b'}' {
                return None;
            }
            let (key, after) = self.string(i)?;
            let colon = self.ws(after);
            if self.at(colon)? != b':' {
                return None;
            }
            let value = self.ws(colon + 1);
            if key == want {
                return Some((i, value));
            }
            i = self.ws(self.skip_value(value)?);
            if self.at(i)? == b',' {
                i = self.ws(i + 1);
            }
        }
    }

    /// In the array starting at `pos`, the position of element `want`.
    fn find_index(&self, pos: usize, want: usize) -> Option<usize> {
        if self.at(pos)? != b'[' {
            return None;
        }
        let mut i = self.ws(pos + 1);
        let mut n = 0usize;
        loop {
            if self.at(i)? == b']' {
                return None;
            }
            if n == want {
                return Some(i);
            }
            i = self.ws(self.skip_value(i)?);
            if self.at(i)? == b',' {
                i = self.ws(i + 1);
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segs: &[&str]) -> KeyPath {
        segs.iter()
            .map(|s| match s.parse::<usize>() {
                Ok(n) => Seg::Index(n),
                Err(_) => Seg::Key((*s).to_owned()),
            })
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn json_paths_find_keys_and_values() {
        let text = r#"{"tenant": {"id": "c"}, "flows": [{"id": "a", "run_by": ["x", "y"]}, {"id": "b\"q", "owner": "z"}]}"#;
        let loc = Locator::Json(text);
        let at = |segs: &[&str], t| loc.offset(&path(segs), t).and_then(|o| text.get(o..o + 3));
        assert_eq!(at(&["tenant", "id"], Target::Value), Some("\"c\""));
        assert_eq!(at(&["flows", "0", "run_by", "1"], Target::Value), Some("\"y\""));
        assert_eq!(at(&["flows", "1", "owner"], Target::Key), Some("\"ow"));
        assert_eq!(at(&["flows", "1", "owner"], Target::Value), Some("\"z\""));
        // Not there: the nearest enclosing value.
        assert_eq!(at(&["flows", "1", "parent"], Target::Value), Some("{\"i"));
        assert_eq!(at(&["flows", "7"], Target::Value), Some("[{\""));
    }

    #[test]
    fn json_keys_with_escapes_are_decoded() {
        let text = r#"{"a\u0062": 1, "x\"y": [true, 2]}"#;
        let loc = Locator::Json(text);
        assert_eq!(loc.offset(&path(&["ab"]), Target::Value), Some(12));
        assert_eq!(loc.offset(&path(&["x\"y", "1"]), Target::Value), Some(30));
    }

    #[test]
    fn toml_paths_find_keys_and_values() {
        let text = "[tenant]\nid = \"c\"\n\n[[flows]]\nid = \"a\"\n\n[[flows]]\nid = \"b\"\nrun_by = [\"x\", \"y\"]\n\
                    [[environments]]\nid = \"e\"\nallocations = { ai-builder-capacity = 2 }\n";
        let doc = toml_edit::Document::parse(text);
        assert!(doc.is_ok());
        let Ok(doc) = doc else { return };
        let loc = Locator::Toml(doc);
        let at = |segs: &[&str], t| loc.offset(&path(segs), t).and_then(|o| text.get(o..o + 4));
        assert_eq!(at(&["flows", "1", "run_by", "1"], Target::Value), Some("\"y\"]"));
        assert_eq!(at(&["flows", "1", "id"], Target::Value), Some("\"b\"\n"));
        assert_eq!(at(&["flows", "1"], Target::Value), Some("[[fl"));
        assert_eq!(at(&["flows", "1", "owner"], Target::Value), Some("[[fl"));
        assert_eq!(
            at(
                &["environments", "0", "allocations", "ai-builder-capacity"],
                Target::Key
            ),
            Some("ai-b")
        );
        assert_eq!(at(&["tenant", "id"], Target::Key), Some("id ="));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The first JSON value at `offset`.
    fn value_at(text: &str, offset: usize) -> Option<serde_json::Value> {
        let rest = text.get(offset..)?;
        serde_json::Deserializer::from_str(rest)
            .into_iter::<serde_json::Value>()
            .next()?
            .ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the keys and strings hold (quotes, backslashes, escapes, non-ASCII), the JSON scanner finds
        /// the value serde_json wrote at a path, in compact and in pretty output.
        #[test]
        fn json_scanner_finds_what_serde_json_wrote(
            entries in proptest::collection::btree_map(".{0,8}", proptest::collection::vec(".{0,8}", 1..4), 1..5),
            pick in any::<proptest::sample::Index>(),
            item in any::<proptest::sample::Index>(),
            pretty in any::<bool>(),
        ) {
            let doc = serde_json::json!({ "outer": [entries.clone()] });
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) };
            let text = text.unwrap();
            let keys: Vec<&String> = entries.keys().collect();
            let key = *pick.get(&keys);
            let list = &entries[key];
            let i = item.index(list.len());
            let path: KeyPath = vec![
                Seg::Key("outer".to_owned()), Seg::Index(0), Seg::Key(key.clone()), Seg::Index(i),
            ].into();
            let loc = Locator::Json(&text);
            let at = loc.offset(&path, Target::Value).unwrap();
            prop_assert_eq!(value_at(&text, at), Some(serde_json::Value::String(list[i].clone())));
            let key_at = loc.offset(&path.parent(), Target::Key).unwrap();
            prop_assert_eq!(value_at(&text, key_at), Some(serde_json::Value::String(key.clone())));
        }

        /// The same for TOML written by the toml crate.
        #[test]
        fn toml_locator_finds_what_toml_wrote(
            entries in proptest::collection::btree_map(".{1,8}", proptest::collection::vec(".{0,8}", 1..4), 1..5),
            pick in any::<proptest::sample::Index>(),
            item in any::<proptest::sample::Index>(),
        ) {
            let mut table = toml::Table::new();
            let inner: toml::Table = entries
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect())))
                .collect();
            table.insert("outer".to_owned(), toml::Value::Array(vec![toml::Value::Table(inner)]));
            let text = toml::to_string_pretty(&table).unwrap();
            let keys: Vec<&String> = entries.keys().collect();
            let key = *pick.get(&keys);
            let list = &entries[key];
            let i = item.index(list.len());
            let path: KeyPath = vec![
                Seg::Key("outer".to_owned()), Seg::Index(0), Seg::Key(key.clone()), Seg::Index(i),
            ].into();
            let doc = toml_edit::Document::parse(text.as_str()).unwrap();
            let span = toml_span(&doc, path.segs(), Target::Value).unwrap();
            let found: toml::Value = text[span].parse().unwrap();
            prop_assert_eq!(found, toml::Value::String(list[i].clone()));
        }
    }
}
