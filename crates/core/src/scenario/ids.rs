//! The one grammar of every id a scenario declares or names (tenant, users, environments, apps, flows, entities,
//! subscriptions, licence requests), checked by scenario validation and, for ids in URL paths, by the server
//! before it does any work.
//!
//! An id is 1 to [`MAX_LEN`] characters of ASCII letters, digits and `.` `_` `-` `@` `:` `+`, not starting with
//! a dot. Why these:
//! - every one of them may stand in a URL path segment as it is (RFC 3986 `pchar`), so an id is its own URL
//!   segment and a `Location` header never needs encoding; `/`, `?`, `#`, `%` and spaces are out;
//! - mail-style user ids (`ann.lee+ops@contoso.com`) and `prefix:name` ids fit; every id in the examples, the
//!   corpus and the test fixtures uses `[a-z0-9_-]` only;
//! - no leading dot, so no id is `.` or `..` (which URL normalisation would eat);
//! - no `*`: the audit log writes `*` for operator-level entries, so no tenant may be called that;
//! - 128 characters: longer than any real name, short enough that a URL holding several ids stays far below the
//!   limits of proxies and servers (an id that cannot be read back must not be created).

/// The longest id, in characters (all ASCII, so also in bytes).
pub const MAX_LEN: usize = 128;

/// The grammar in words, for error messages and docs.
pub const GRAMMAR: &str =
    "an id is 1 to 128 characters of letters, digits and `.` `_` `-` `@` `:` `+`, not starting with `.`";

/// The grammar as a regular expression (JSON Schema and OpenAPI `pattern`).
pub const PATTERN: &str = "^[A-Za-z0-9_@:+-][A-Za-z0-9._@:+-]{0,127}$";

/// Whether `c` may appear in an id.
pub const fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':' | '+')
}

/// Why `id` is not an id, or `Ok` when it is one.
pub fn check(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_owned());
    }
    if id.len() > MAX_LEN {
        return Err(format!(
            "it is {} characters long, more than {MAX_LEN}",
            id.chars().count()
        ));
    }
    if id.starts_with('.') {
        return Err("it starts with `.`".to_owned());
    }
    match id.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!("it contains {}", describe(c))),
        None => Ok(()),
    }
}

/// Whether `id` follows the grammar.
pub fn is_valid(id: &str) -> bool {
    check(id).is_ok()
}

/// `id` for an error message: whole when short, else its first characters and how long it is (a 64 KB id must
/// not make a 64 KB message).
pub fn shown(id: &str) -> String {
    const KEEP: usize = 40;
    if id.chars().count() <= KEEP + 8 {
        return id.escape_debug().to_string();
    }
    let head: String = id.chars().take(KEEP).collect();
    format!("{}… ({} characters)", head.escape_debug(), id.chars().count())
}

/// A character in words: `` `/` ``, or its code point when it does not print (NUL is named, as the server's
/// other NUL messages do).
fn describe(c: char) -> String {
    match c {
        '\0' => "NUL (U+0000)".to_owned(),
        ' ' => "a space".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("U+{:04X}", u32::from(c)),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        for ok in [
            "a",
            "acme",
            "Default-1f2e",
            "ann.lee+ops@contoso.com",
            "svc:backup_2",
            "0",
            "a.",
            "-x",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        assert!(is_valid(&"x".repeat(MAX_LEN)));
        for bad in [
            "", ".", "..", ".x", "a b", "a/b", "a*", "a#b", "a%20", "é", "a\0", "a?b", "<b>",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(!is_valid(&"x".repeat(MAX_LEN + 1)));
        assert_eq!(check("a\0").unwrap_err(), "it contains NUL (U+0000)");
        assert_eq!(check("a b").unwrap_err(), "it contains a space");
    }

    #[test]
    fn long_ids_are_shown_short() {
        assert_eq!(shown("abc"), "abc");
        let s = shown(&"u".repeat(65_536));
        assert!(s.len() < 80 && s.ends_with("(65536 characters)"), "{s}");
    }
}
