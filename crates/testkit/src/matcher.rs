//! The expectation matcher: is an expected, partial answer contained in an actual JSON answer?
//!
//! Rules, applied recursively from the top of `expect`:
//!
//! - **Objects** are matched as subsets: every key of the expectation must be in the answer, with a matching
//!   value; keys the expectation does not name are ignored.
//! - **Arrays** are matched exactly, element by element (same length; each element matched by these rules, so an
//!   object element is itself a subset).
//! - **Strings** must be equal, except that two decimal numbers written as strings compare by value
//!   (`"15"` matches `"15.00"`: amounts are decimal strings, their number of decimals is not part of the answer).
//! - **Numbers** compare by value (`250000` matches `250000` and `250000.0`); **booleans** and `null` by equality.
//!
//! A key of an expected object may end with an operator that applies to the answer's field of that name (the
//! field must then be an array, except for `.absent`):
//!
//! | key | meaning |
//! |---|---|
//! | `"rules.contains" = ["FLOW-10", "D365-2"]` | each listed item matches some element (a single value is a list of one) |
//! | `"flows.excludes" = [{ flow = "x" }]` | no listed item matches any element |
//! | `"fixes.first" = { action = "assign-license" }` | the first element matches (answers list fixes cheapest first) |
//! | `"problems.len" = 2` | the array has exactly this many elements |
//! | `"enforcement.absent" = true` | the field is missing or `null` (`false`: present and not `null`) |
//!
//! Operators on the same field combine (`"rules.contains"` and `"rules.excludes"` in one table).

use std::fmt;

use serde_json::Value;

/// Where and how an answer differs from its expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The path in the answer (`flows[2].enforcement`, `rules.contains`); empty for the whole answer.
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{}`: {}", self.path, self.message)
        }
    }
}

/// The operators a key may end with.
const OPERATORS: [&str; 5] = [".contains", ".excludes", ".first", ".len", ".absent"];

/// Checks that `actual` contains `expected` (see the module documentation for the rules).
pub fn matches(expected: &Value, actual: &Value) -> Result<(), Mismatch> {
    match_at("", expected, actual)
}

fn mismatch(path: &str, message: impl Into<String>) -> Mismatch {
    Mismatch {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A short rendering of a value for messages.
pub fn brief(value: &Value) -> String {
    const MAX: usize = 500;
    let text = serde_json::to_string(value).unwrap_or_else(|_| "?".to_owned());
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn match_at(path: &str, expected: &Value, actual: &Value) -> Result<(), Mismatch> {
    match expected {
        Value::Object(fields) => {
            let Value::Object(actual_fields) = actual else {
                return Err(mismatch(
                    path,
                    format!("expected an object, got {}", brief(actual)),
                ));
            };
            for (key, want) in fields {
                if let Some((field, op)) = split_operator(key) {
                    let here = join(path, key);
                    operator(&here, field, op, want, actual_fields.get(field))?;
                } else {
                    let here = join(path, key);
                    let got = actual_fields
                        .get(key)
                        .ok_or_else(|| mismatch(&here, format!("missing; expected {}", brief(want))))?;
                    match_at(&here, want, got)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            let Value::Array(got) = actual else {
                return Err(mismatch(
                    path,
                    format!("expected an array, got {}", brief(actual)),
                ));
            };
            if items.len() != got.len() {
                return Err(mismatch(
                    path,
                    format!(
                        "expected {} element(s), got {}: {}",
                        items.len(),
                        got.len(),
                        brief(actual)
                    ),
                ));
            }
            for (i, (want, have)) in items.iter().zip(got).enumerate() {
                match_at(&format!("{path}[{i}]"), want, have)?;
            }
            Ok(())
        }
        Value::String(want) => match actual {
            Value::String(got) if got == want || same_decimal(want, got) => Ok(()),
            _ => Err(mismatch(
                path,
                format!("expected {}, got {}", brief(expected), brief(actual)),
            )),
        },
        Value::Number(want) => match actual {
            Value::Number(got) if same_number(want, got) => Ok(()),
            _ => Err(mismatch(
                path,
                format!("expected {}, got {}", brief(expected), brief(actual)),
            )),
        },
        Value::Bool(_) | Value::Null => {
            if expected == actual {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!("expected {}, got {}", brief(expected), brief(actual)),
                ))
            }
        }
    }
}

fn split_operator(key: &str) -> Option<(&str, &str)> {
    OPERATORS
        .iter()
        .find_map(|op| key.strip_suffix(op).filter(|f| !f.is_empty()).map(|f| (f, *op)))
}

fn operator(path: &str, field: &str, op: &str, want: &Value, got: Option<&Value>) -> Result<(), Mismatch> {
    if op == ".absent" {
        let Value::Bool(absent) = want else {
            return Err(mismatch(path, "`.absent` takes true or false"));
        };
        let is_absent = got.is_none_or(Value::is_null);
        return if is_absent == *absent {
            Ok(())
        } else if *absent {
            Err(mismatch(
                path,
                format!(
                    "expected no `{field}`, got {}",
                    got.map_or_else(String::new, brief)
                ),
            ))
        } else {
            Err(mismatch(path, format!("expected a `{field}`, found none")))
        };
    }
    let Some(Value::Array(elements)) = got else {
        return Err(mismatch(
            path,
            format!(
                "`{field}` must be an array, got {}",
                got.map_or_else(|| "nothing".to_owned(), brief)
            ),
        ));
    };
    let listed = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        }
    };
    match op {
        ".contains" => {
            for item in listed(want) {
                if !elements.iter().any(|e| match_at("", &item, e).is_ok()) {
                    return Err(mismatch(
                        path,
                        format!(
                            "no element matches {}; `{field}` is {}",
                            brief(&item),
                            brief(&project(elements, &item))
                        ),
                    ));
                }
            }
            Ok(())
        }
        ".excludes" => {
            for item in listed(want) {
                if let Some(e) = elements.iter().find(|e| match_at("", &item, e).is_ok()) {
                    return Err(mismatch(
                        path,
                        format!(
                            "expected no element to match {}, but {} does",
                            brief(&item),
                            brief(e)
                        ),
                    ));
                }
            }
            Ok(())
        }
        ".first" => {
            let first = elements
                .first()
                .ok_or_else(|| mismatch(path, format!("`{field}` is empty")))?;
            match_at(path, want, first)
        }
        ".len" => {
            let n = want
                .as_u64()
                .ok_or_else(|| mismatch(path, "`.len` takes a whole number"))?;
            if elements.len() as u64 == n {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!(
                        "expected {n} element(s), got {}: {}",
                        elements.len(),
                        brief(&Value::Array(elements.clone()))
                    ),
                ))
            }
        }
        _ => Err(mismatch(path, format!("unknown operator `{op}`"))),
    }
}

/// The elements as far as an expected item looks at them: for an object item, each object element keeps only the
/// keys the item names (so a failure message shows the fields that matter, not whole answers).
fn project(elements: &[Value], item: &Value) -> Value {
    let Value::Object(wanted) = item else {
        return Value::Array(elements.to_vec());
    };
    let keys: Vec<&str> = wanted
        .keys()
        .map(|k| split_operator(k).map_or(k.as_str(), |(f, _)| f))
        .collect();
    Value::Array(
        elements
            .iter()
            .map(|e| match e {
                Value::Object(fields) => Value::Object(
                    fields
                        .iter()
                        .filter(|(k, _)| keys.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            })
            .collect(),
    )
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
    }
}

/// `-?digits(.digits)?` in a canonical form (no leading zeros, no trailing fractional zeros), if it is one.
fn canonical_decimal(s: &str) -> Option<String> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (body.contains('.') && !digits(frac)) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let zero = int == "0" && frac.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

fn same_decimal(a: &str, b: &str) -> bool {
    matches!((canonical_decimal(a), canonical_decimal(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_are_subsets() {
        let actual =
            json!({"allowed": true, "premium": false, "licensed_by": {"kind": "owner", "user": "a"}});
        assert!(matches(&json!({"allowed": true}), &actual).is_ok());
        assert!(matches(&json!({"licensed_by": {"kind": "owner"}}), &actual).is_ok());
        let e = matches(&json!({"licensed_by": {"kind": "process"}}), &actual).unwrap_err();
        assert_eq!(e.path, "licensed_by.kind");
        let e = matches(&json!({"nope": 1}), &actual).unwrap_err();
        assert_eq!(e.path, "nope");
    }

    #[test]
    fn arrays_are_exact_element_wise() {
        let actual = json!({"rules": ["FLOW-2", "FLOW-4"], "fixes": [{"action": "a", "x": 1}]});
        assert!(matches(&json!({"rules": ["FLOW-2", "FLOW-4"]}), &actual).is_ok());
        assert!(matches(&json!({"rules": ["FLOW-4", "FLOW-2"]}), &actual).is_err());
        assert!(matches(&json!({"rules": ["FLOW-2"]}), &actual).is_err());
        assert!(matches(&json!({"fixes": [{"action": "a"}]}), &actual).is_ok());
    }

    #[test]
    fn operators() {
        let actual = json!({"rules": ["FLOW-2", "FLOW-4"], "fixes": [{"action": "a"}, {"action": "b"}]});
        assert!(matches(&json!({"rules.contains": ["FLOW-4"]}), &actual).is_ok());
        assert!(matches(&json!({"rules.contains": "FLOW-2"}), &actual).is_ok());
        assert!(matches(&json!({"rules.contains": ["FLOW-9"]}), &actual).is_err());
        assert!(matches(&json!({"rules.excludes": ["FLOW-9"]}), &actual).is_ok());
        assert!(matches(&json!({"rules.excludes": ["FLOW-2"]}), &actual).is_err());
        assert!(matches(&json!({"fixes.first": {"action": "a"}}), &actual).is_ok());
        assert!(matches(&json!({"fixes.first": {"action": "b"}}), &actual).is_err());
        assert!(matches(&json!({"fixes.len": 2}), &actual).is_ok());
        assert!(matches(&json!({"fixes.len": 1}), &actual).is_err());
        assert!(matches(&json!({"fixes.contains": [{"action": "b"}]}), &actual).is_ok());
        assert!(matches(&json!({"enforcement.absent": true}), &actual).is_ok());
        assert!(matches(&json!({"rules.absent": true}), &actual).is_err());
        assert!(matches(&json!({"rules.absent": false}), &actual).is_ok());
    }

    #[test]
    fn decimals_and_numbers() {
        assert!(matches(&json!("15"), &json!("15.00")).is_ok());
        assert!(matches(&json!("0"), &json!("0.00")).is_ok());
        assert!(matches(&json!("15.5"), &json!("15.50")).is_ok());
        assert!(matches(&json!("15"), &json!("150")).is_err());
        assert!(matches(&json!("FLOW-1"), &json!("FLOW-1.0")).is_err());
        assert!(matches(&json!(250000), &json!(250000)).is_ok());
        assert!(matches(&json!(250000), &json!(250000.0)).is_ok());
        assert!(matches(&json!(1), &json!("1")).is_err());
    }
}
