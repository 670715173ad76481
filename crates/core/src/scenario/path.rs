//! Key paths such as `flows[2].created`: how errors name a key, and how the locators find it again.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A key of a table (TOML) or object (JSON).
    Key(String),
    /// A 0-based index into an array.
    Index(usize),
}

/// A path from the document's root to a key or value; the empty path is the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    /// The whole document.
    pub(crate) fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// This path, then `key`.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        KeyPath(segs)
    }

    /// This path, then `[index]`.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    /// The path without its last step (the root stays the root).
    pub(crate) fn parent(&self) -> KeyPath {
        let mut segs = self.0.clone();
        segs.pop();
        KeyPath(segs)
    }

    pub(crate) fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path of a `serde_path_to_error` error; steps it could not name are dropped.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> KeyPath {
        KeyPath(
            path.iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl From<Vec<Seg>> for KeyPath {
    fn from(segs: Vec<Seg>) -> Self {
        KeyPath(segs)
    }
}

/// A key that TOML could write bare (`A-Za-z0-9_-`); others are shown quoted.
fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_as_keys_and_indices() {
        let p = KeyPath::root().key("flows").index(2).key("created");
        assert_eq!(p.to_string(), "flows[2].created");
        assert_eq!(p.parent().to_string(), "flows[2]");
        assert_eq!(KeyPath::root().to_string(), "");
        let q = KeyPath::root()
            .key("environments")
            .index(0)
            .key("allocations")
            .key("odd key");
        assert_eq!(q.to_string(), "environments[0].allocations.\"odd key\"");
    }
}
