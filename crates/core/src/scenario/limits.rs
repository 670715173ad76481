//! What a scenario may hold at most, so that hostile input is refused cheaply instead of overflowing a sum or
//! keeping the parser busy for minutes. Every limit is far beyond any real tenant:
//! - [`MAX_QUANTITY`] for every quantity (units bought, allocated or assigned to a flow, MB of storage, portal
//!   logins and page views, requests, concurrent runs): sums of them over everything a body can hold stay far
//!   inside `u64`;
//! - [`MAX_DEPTH`] levels of nesting, and [`MAX_BYTES`] of text, checked by a pre-scan before the TOML or JSON
//!   parser sees the text: the TOML parser's time grows with the square of the nesting of dotted keys (64k
//!   `a.a.a…` took half a minute), and JSON nesting is bounded the same way for one rule in both formats.

/// The largest quantity of anything: 1,000,000,000 (units, MB, logins, page views, requests, AI Builder credits).
pub const MAX_QUANTITY: u64 = 1_000_000_000;

/// The deepest nesting: TOML counts each open `[` or `{` plus each dot of the key being read (`a.b.c` is three
/// levels, inside `x = { … }` four); JSON counts open `[` and `{`. A scenario needs five.
pub const MAX_DEPTH: usize = 32;

/// The largest scenario text: 64 MiB (the server's default body limit is 32 MiB).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Where the text breaks a limit (a byte offset) and how.
pub(crate) type Breach = (usize, String);

fn too_big(text: &str) -> Result<(), Breach> {
    if text.len() > MAX_BYTES {
        return Err((
            0,
            format!(
                "the scenario is {} bytes, more than the {} MiB a scenario may be",
                text.len(),
                MAX_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

fn too_deep(at: usize) -> Breach {
    (
        at,
        format!("nested more than {MAX_DEPTH} levels deep (brackets, braces and dotted keys count)"),
    )
}

/// The TOML pre-scan: one pass over the bytes, skipping strings and comments, counting open brackets and braces
/// and the dots of the key being read (reset at `=`, `,`, a bracket or a new line; a value has at most one dot,
/// as in `1.5`).
pub(crate) fn scan_toml(text: &str) -> Result<(), Breach> {
    too_big(text)?;
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut dots = 0usize;
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'#' => i = until(b, i, |x| x == b'\n'),
            b'"' | b'\'' => {
                i = skip_toml_string(b, i);
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                dots = 0;
                if depth > MAX_DEPTH {
                    return Err(too_deep(i));
                }
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                dots = 0;
            }
            b'\n' | b'=' | b',' => dots = 0,
            b'.' => {
                dots += 1;
                if depth + dots >= MAX_DEPTH {
                    return Err(too_deep(i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The first index at or after `from` whose byte matches (or the end).
fn until(b: &[u8], from: usize, stop: impl Fn(u8) -> bool) -> usize {
    b.get(from..)
        .and_then(|rest| rest.iter().position(|&x| stop(x)))
        .map_or(b.len(), |p| from + p)
}

/// The index just after the TOML string starting at `start` (basic or literal, one line or multi-line). An
/// unterminated one-line string ends at its line's end: the parser reports it.
fn skip_toml_string(b: &[u8], start: usize) -> usize {
    let Some(&quote) = b.get(start) else {
        return b.len();
    };
    let escapes = quote == b'"';
    let triple = b
        .get(start..start + 3)
        .is_some_and(|s| s.iter().all(|&x| x == quote));
    let mut i = start + if triple { 3 } else { 1 };
    while let Some(&c) = b.get(i) {
        if escapes && c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return i + 1;
            }
            if b.get(i..i + 3).is_some_and(|s| s.iter().all(|&x| x == quote)) {
                // Up to two more quotes may close a multi-line string (`""""` ends with a quote inside).
                let mut end = i + 3;
                while end < i + 5 && b.get(end) == Some(&quote) {
                    end += 1;
                }
                return end;
            }
        }
        if c == b'\n' && !triple {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// The JSON pre-scan: open brackets and braces outside strings.
pub(crate) fn scan_json(text: &str) -> Result<(), Breach> {
    too_big(text)?;
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                i += 1;
                while let Some(&s) = b.get(i) {
                    match s {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_nesting() {
        let ok = "[tenant]\nid = \"t\"\n[[flows]]\nconnectors = [\"a.b.c.d\", 'x.y']\nx = 1.5\n\
                  allocations = { power-automate-process = 1 }\n# a.b.c.d.e.f\n";
        assert_eq!(scan_toml(ok), Ok(()));
        let key = vec!["a"; 33].join(".");
        assert_eq!(
            scan_toml(&format!("x = 1\n{key} = 1")).map_err(|e| e.0),
            Err(6 + 63)
        );
        let arrays = format!("x = {}{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(scan_toml(&arrays).map_err(|e| e.0), Err(4 + 32));
        // Quotes inside strings, multi-line strings and escapes do not end them early.
        let strings = format!(
            "a = \"\\\"{}\"\nb = \"\"\"\n\"\"{}\n\"\"\"\"\nc = '''{}'''\n",
            "[".repeat(40),
            "{".repeat(40),
            vec!["x"; 40].join(".")
        );
        assert_eq!(scan_toml(&strings), Ok(()));
    }

    #[test]
    fn json_nesting() {
        assert_eq!(scan_json("{\"a\": [\"[[[[\\\"{{\", {\"b\": []}]}"), Ok(()));
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(scan_json(&deep).map_err(|e| e.0), Err(32));
        assert_eq!(scan_json(&"[".repeat(32)), Ok(()));
    }
}
