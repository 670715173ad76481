//! Budget keys stored inside the map's entry (up to 46 bytes), so that comparing a key on lookup reads the cache
//! line already fetched for the entry instead of chasing a pointer to a separate string.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

const INLINE: usize = 46;

/// A key's bytes, inline when short.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub(crate) fn new(key: &str) -> Self {
        let bytes = key.as_bytes();
        match (u8::try_from(bytes.len()), bytes.len() <= INLINE) {
            (Ok(len), true) => {
                let mut buf = [0; INLINE];
                buf.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
                Self::Inline { len, buf }
            }
            _ => Self::Heap(bytes.into()),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(b) => b,
        }
    }

    /// The key as given (always UTF-8: built from a `&str`).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
}

/// Lookups borrow a key as bytes, so hashing and equality are those of `[u8]`.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_keep_their_bytes() {
        let long = "x".repeat(100);
        for s in [
            "",
            "user:a",
            "user:0c7e6a52-6f8b-4d3c-9e0f-3b8a1d2c4e5f",
            long.as_str(),
        ] {
            assert_eq!(Key::new(s).bytes(), s.as_bytes());
            assert_eq!(Key::new(s).text(), s);
        }
        assert!(matches!(
            Key::new("user:0c7e6a52-6f8b-4d3c-9e0f-3b8a1d2c4e5f"),
            Key::Inline { .. }
        ));
    }
}
