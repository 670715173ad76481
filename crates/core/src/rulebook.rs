//! The rulebook, `docs/rules.md`, embedded in the binary and parsed into one [`Section`] per rule, so that every
//! face of entitle (the CLI's `explain`, the server's `/v1/rules`, the web UI's rule chips) shows the same text
//! as the repository, and a rule added to [`Rule`] without its section fails a test rather than a reader.
//!
//! The page's format is described at its top: a `### ID — title` heading per rule, the reading, seed quotes as
//! two-line block quotes (`> **Seed NNN** (lang): …` then `> *Gloss:* …`), and one `**Tests:**` line.

use std::sync::OnceLock;

use serde::Serialize;

use crate::rule::Rule;

/// `docs/rules.md`, as it was when this crate was built.
pub const TEXT: &str = include_str!("../../../docs/rules.md");

/// One sentence of a seed document a rule rests on, in its original language, with an English gloss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedQuote<'a> {
    /// The seed's number, `000` … `004`.
    pub seed: &'a str,
    /// The quote's language (`nl`, `ro`, `sv`).
    pub language: &'a str,
    /// The sentence as the seed writes it (`[…]` marks a cut).
    pub original: &'a str,
    /// Its meaning in English.
    pub gloss: &'a str,
}

/// One rule's section of the rulebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section<'a> {
    /// The rule, serialized as its ID (`FLOW-4`).
    pub id: Rule,
    /// The ID's family (`FLOW`).
    pub family: &'a str,
    pub title: &'a str,
    /// The project's reading of the rule: the section's paragraphs before its first quote (markdown).
    pub reading: &'a str,
    /// The whole section below its heading (markdown).
    pub text: &'a str,
    pub seed_quotes: Vec<SeedQuote<'a>>,
    /// Tests that check the rule: test function names, and corpus cases as `corpus/FILE.toml#case`.
    pub tests: Vec<&'a str>,
}

/// What [`parse`] found: the sections, and every line it could not read (empty for a well-formed page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub sections: Vec<Section<'a>>,
    pub errors: Vec<String>,
}

/// Parses a rulebook page. Never fails: a heading with an unknown or repeated ID, a quote without its gloss or
/// a section without a title is reported in [`Parsed::errors`] (with its line number) and left out, so that a
/// test can list every mistake at once.
pub fn parse(text: &str) -> Parsed<'_> {
    let mut out = Parsed::default();
    // (line number, heading line, body start offset, body end offset)
    let mut spans: Vec<(usize, &str, usize, usize)> = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let next = offset + line.len();
        let bare = line.trim_end();
        if bare.starts_with("## ") || bare.starts_with("### ") {
            if let Some(last) = spans.last_mut()
                && last.3 == usize::MAX
            {
                last.3 = offset;
            }
            if let Some(heading) = bare.strip_prefix("### ") {
                spans.push((n + 1, heading, next, usize::MAX));
            }
        }
        offset = next;
    }
    if let Some(last) = spans.last_mut()
        && last.3 == usize::MAX
    {
        last.3 = text.len();
    }
    for (line, heading, start, end) in spans {
        let body = text.get(start..end).unwrap_or("");
        match section(heading, body, line, &mut out.errors) {
            Some(s) if out.sections.iter().any(|o| o.id == s.id) => {
                out.errors
                    .push(format!("line {line}: a second section for {}", s.id));
            }
            Some(s) => out.sections.push(s),
            None => {}
        }
    }
    out
}

fn section<'a>(
    heading: &'a str,
    body: &'a str,
    line: usize,
    errors: &mut Vec<String>,
) -> Option<Section<'a>> {
    let Some((id, title)) = heading.split_once(" — ") else {
        errors.push(format!(
            "line {line}: the heading `{heading}` is not `ID — title`"
        ));
        return None;
    };
    let (id, title) = (id.trim(), title.trim());
    let Some(rule) = Rule::parse(id) else {
        errors.push(format!("line {line}: `{id}` is not a rule ID"));
        return None;
    };
    if title.is_empty() {
        errors.push(format!("line {line}: {id} has no title"));
        return None;
    }
    let mut quotes = Vec::new();
    let mut tests = Vec::new();
    let mut reading_end = None;
    let mut pending: Option<(&str, &str, &str)> = None;
    let mut offset = 0;
    for (k, raw) in body.split_inclusive('\n').enumerate() {
        let here = line + 1 + k;
        let l = raw.trim_end();
        let is_quote = l.starts_with('>');
        if (is_quote || l.starts_with("**Tests:**")) && reading_end.is_none() {
            reading_end = Some(offset);
        }
        offset += raw.len();
        if let Some(rest) = l.strip_prefix("> **Seed ") {
            if let Some((seed, _, _)) = pending.take() {
                errors.push(format!(
                    "line {here}: the quote of seed {seed} in {id} has no gloss"
                ));
            }
            match seed_line(rest) {
                Some(q) => pending = Some(q),
                None => errors.push(format!(
                    "line {here}: {id}: a seed quote is `> **Seed NNN** (lang): …`"
                )),
            }
        } else if let Some(gloss) = l.strip_prefix("> *Gloss:*") {
            match pending.take() {
                Some((seed, language, original)) => quotes.push(SeedQuote {
                    seed,
                    language,
                    original,
                    gloss: gloss.trim(),
                }),
                None => errors.push(format!("line {here}: {id}: a gloss with no quote above it")),
            }
        } else if let Some(list) = l.strip_prefix("**Tests:**") {
            tests.extend(list.split('`').skip(1).step_by(2).filter(|t| !t.is_empty()));
        } else if is_quote {
            errors.push(format!(
                "line {here}: {id}: a block quote that is neither a seed quote nor a gloss"
            ));
        }
    }
    if let Some((seed, _, _)) = pending {
        errors.push(format!("{id}: the quote of seed {seed} has no gloss"));
    }
    let reading = body
        .get(..reading_end.unwrap_or(body.len()))
        .unwrap_or(body)
        .trim();
    Some(Section {
        id: rule,
        family: id.rsplit_once('-').map_or(id, |(f, _)| f),
        title,
        reading,
        text: body.trim(),
        seed_quotes: quotes,
        tests,
    })
}

/// `000** (nl): sentence` → (`000`, `nl`, `sentence`).
fn seed_line(rest: &str) -> Option<(&str, &str, &str)> {
    let (seed, rest) = rest.split_once("** (")?;
    let (language, original) = rest.split_once("): ")?;
    let ok = seed.len() == 3 && seed.bytes().all(|b| b.is_ascii_digit()) && !original.trim().is_empty();
    ok.then(|| (seed, language, original.trim()))
}

/// Every section of the embedded rulebook, in page order (parsed once; the text is a constant).
pub fn all() -> &'static [Section<'static>] {
    static SECTIONS: OnceLock<Vec<Section<'static>>> = OnceLock::new();
    SECTIONS.get_or_init(|| parse(TEXT).sections)
}

/// The section of one rule.
pub fn get(rule: Rule) -> Option<&'static Section<'static>> {
    all().iter().find(|s| s.id == rule)
}

/// Reads an ID as a person types it: any case, `_` or a space for the dash, or no dash at all (`flow4`).
pub fn parse_id(query: &str) -> Option<Rule> {
    let norm = normalize(query);
    Rule::parse(&norm).or_else(|| {
        let at = norm.find(|c: char| c.is_ascii_digit())?;
        let (family, number) = norm.split_at(at);
        if family.ends_with('-') || family.is_empty() {
            return None;
        }
        Rule::parse(&format!("{family}-{number}"))
    })
}

/// Up to three rule IDs close to `query` (edit distance at most 2 once normalized), closest first and, among
/// equally close ones, those of the same family with the nearest number first (`FLOW-26` → `FLOW-25`): what to
/// suggest for an unknown ID.
pub fn suggest(query: &str) -> Vec<Rule> {
    let norm = normalize(query);
    let split = |s: &str| -> (String, Option<u32>) {
        match s.rsplit_once('-') {
            Some((f, n)) => (f.to_owned(), n.parse().ok()),
            None => (s.to_owned(), None),
        }
    };
    let (family, number) = split(&norm);
    let mut near: Vec<(usize, u32, Rule)> = Rule::ALL
        .iter()
        .map(|r| {
            let (f, n) = split(r.id());
            let apart = match (number, n) {
                (Some(a), Some(b)) if f == family => a.abs_diff(b),
                _ => u32::MAX,
            };
            (strsim::levenshtein(&norm, r.id()), apart, *r)
        })
        .filter(|(d, _, _)| *d <= 2)
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, _, r)| r).collect()
}

fn normalize(query: &str) -> String {
    query
        .trim()
        .chars()
        .map(|c| {
            if c == '_' || c == ' ' {
                '-'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_rulebook_parses_without_errors() {
        let p = parse(TEXT);
        assert!(p.errors.is_empty(), "{:#?}", p.errors);
    }

    #[test]
    fn every_rule_has_a_section() {
        let missing: Vec<&str> = Rule::ALL
            .iter()
            .filter(|r| get(**r).is_none())
            .map(|r| r.id())
            .collect();
        assert!(missing.is_empty(), "no section in docs/rules.md for {missing:?}");
    }

    #[test]
    fn no_section_names_an_unknown_id_and_none_repeats() {
        let bad = "### FLOW-4 — a\n\nx\n\n### FLOW-99 — b\n\ny\n\n### FLOW-4 — c\n\nz\n";
        let p = parse(bad);
        assert_eq!(p.sections.len(), 1);
        assert!(
            p.errors.iter().any(|e| e.contains("`FLOW-99` is not a rule ID")),
            "{:?}",
            p.errors
        );
        assert!(
            p.errors.iter().any(|e| e.contains("a second section for FLOW-4")),
            "{:?}",
            p.errors
        );
        // The embedded page: as many sections as rules, each once.
        assert_eq!(all().len(), Rule::ALL.len());
    }

    #[test]
    fn every_section_has_a_reading_a_seed_quote_and_a_test() {
        for s in all() {
            assert!(!s.reading.is_empty(), "{}: no reading", s.id);
            assert!(!s.seed_quotes.is_empty(), "{}: no seed quote", s.id);
            for q in &s.seed_quotes {
                assert!(
                    ["000", "001", "002", "003", "004"].contains(&q.seed),
                    "{}: seed {}",
                    s.id,
                    q.seed
                );
                assert!(!q.gloss.is_empty(), "{}: a quote without gloss", s.id);
            }
            assert!(!s.tests.is_empty(), "{}: no test listed", s.id);
        }
    }

    #[test]
    fn a_section_reads_into_its_parts() {
        let p = parse(
            "## Flows\n\n### FLOW-4 — Premium flows\n\nThe reading.\n\nSecond paragraph.\n\n\
             > **Seed 002** (ro): Dacă un flux.\n> *Gloss:* If a flow.\n\n**Tests:** `flow_4_a`, `corpus/x.toml#flow_4_b`.\n\n\
             ## Next\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let s = p.sections.first().unwrap();
        assert_eq!(s.id, Rule::Flow4);
        assert_eq!(s.family, "FLOW");
        assert_eq!(s.title, "Premium flows");
        assert_eq!(s.reading, "The reading.\n\nSecond paragraph.");
        assert_eq!(
            s.seed_quotes,
            vec![SeedQuote {
                seed: "002",
                language: "ro",
                original: "Dacă un flux.",
                gloss: "If a flow."
            }]
        );
        assert_eq!(s.tests, vec!["flow_4_a", "corpus/x.toml#flow_4_b"]);
        assert!(s.text.ends_with("`corpus/x.toml#flow_4_b`."), "{}", s.text);
        assert!(s.text.starts_with("The reading."), "{}", s.text);
    }

    #[test]
    fn a_quote_without_gloss_is_an_error() {
        let p = parse("### CAT-1 — t\n\nr\n\n> **Seed 000** (nl): zin\n\n**Tests:** `cat_1_x`\n");
        assert!(
            p.errors.iter().any(|e| e.contains("has no gloss")),
            "{:?}",
            p.errors
        );
    }

    #[test]
    fn ids_are_read_as_people_type_them() {
        assert_eq!(parse_id("flow-4"), Some(Rule::Flow4));
        assert_eq!(parse_id("FLOW_4"), Some(Rule::Flow4));
        assert_eq!(parse_id("flow4"), Some(Rule::Flow4));
        assert_eq!(parse_id(" m365-1 "), Some(Rule::M365_1));
        assert_eq!(parse_id("FLOW-99"), None);
        assert_eq!(parse_id(""), None);
    }

    #[test]
    fn close_ids_are_suggested() {
        assert_eq!(
            suggest("FLOW-26").first(),
            Some(&Rule::Flow25),
            "{:?}",
            suggest("FLOW-26")
        );
        assert!(
            suggest("FLOW-99").iter().all(|r| r.id().starts_with("FLOW-")),
            "{:?}",
            suggest("FLOW-99")
        );
        assert!(!suggest("FLOW-99").is_empty());
        assert!(suggest("PORTL-2").contains(&Rule::Portal2));
        assert!(suggest("nothing-like-it").is_empty());
        assert!(suggest("FLOW-26").len() <= 3);
    }
}
