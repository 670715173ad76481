//! Errors for bad input: a catalog or a scenario that cannot be used.
//!
//! Every message is one line that names the file, the line (and column) and the key, so that an admin can go
//! straight to the mistake: `tenant.toml:12:9: flows[2].owner: unknown user `alcie` (did you mean `alice`?)`.

use std::fmt;

/// Where in an input file something is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl Location {
    /// The line and column of a byte offset in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            line: Some(line),
            column: Some(column),
        }
    }
}

/// A bad input file: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError(Box<Inner>);

/// Boxed so that `Result<_, InputError>` stays one pointer wide on the happy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inner {
    file: String,
    location: Location,
    key: String,
    message: String,
    help: Option<String>,
}

impl std::ops::Deref for InputError {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::ops::DerefMut for InputError {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.0
    }
}

/// A catalog that cannot be used.
pub type CatalogError = InputError;

impl InputError {
    /// A new error about `key` (a path such as `flows[2].owner`; empty for the whole file).
    pub fn new(file: &str, location: Location, key: impl Into<String>, message: impl Into<String>) -> Self {
        InputError(Box::new(Inner {
            file: file.to_owned(),
            location,
            key: key.into(),
            message: message.into(),
            help: None,
        }))
    }

    /// Adds a hint such as "did you mean `alice`?".
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn parse(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let location = err
            .span()
            .map(|s| Location::of_offset(text, s.start))
            .unwrap_or_default();
        InputError::new(file, location, "", err.message().trim().replace('\n', " "))
    }

    pub(crate) fn invalid(file: &str, key: &str, message: &str) -> Self {
        InputError::new(file, Location::default(), key, message)
    }

    pub fn file(&self) -> &str {
        &self.file
    }
    pub fn location(&self) -> &Location {
        &self.location
    }
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// Sets the location once it is known (semantic checks find the key first, the line after).
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = location;
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.location.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.location.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location {
                line: Some(1),
                column: Some(1)
            }
        );
        assert_eq!(
            Location::of_offset(text, 9),
            Location {
                line: Some(2),
                column: Some(4)
            }
        );
    }

    #[test]
    fn display_is_one_line_with_file_line_key() {
        let e = InputError::new(
            "t.toml",
            Location {
                line: Some(3),
                column: Some(9),
            },
            "flows[0].owner",
            "unknown user `alcie`",
        )
        .with_help("did you mean `alice`?");
        assert_eq!(
            e.to_string(),
            "t.toml:3:9: flows[0].owner: unknown user `alcie` (did you mean `alice`?)"
        );
    }
}
