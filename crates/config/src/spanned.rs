//! [`Spanned<T>`]: a config value together with where it was written.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A position in the config file: 1-based line and column (in characters).
///
/// `Pos::UNKNOWN` (0:0) is used for values that were built in code rather than read from a
/// file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line number; 0 when unknown.
    pub line: u64,
    /// 1-based column number, counted in characters; 0 when unknown.
    pub column: u64,
    /// Length of the written value in characters (0 when unknown or empty).
    pub len: u64,
}

impl Pos {
    /// The position of a value that did not come from a file.
    pub const UNKNOWN: Pos = Pos {
        line: 0,
        column: 0,
        len: 0,
    };

    /// Whether this position points into a file.
    #[must_use]
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos {
            line: loc.line(),
            column: loc.column(),
            len: loc.span().len(),
        }
    }
}

/// A value read from `gantry.yaml` with the position it was written at, so that semantic
/// checks (and later the engines) can point at the exact place in the file.
///
/// It dereferences to the value, serializes as the bare value, and compares by value only
/// (two configs that mean the same compare equal wherever their values were written).
#[derive(Clone, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written (for an alias: where the alias was used).
    pub pos: Pos,
}

impl<T> Spanned<T> {
    /// A value with no file position (for configs built in code).
    pub fn new(value: T) -> Self {
        Spanned {
            value,
            pos: Pos::UNKNOWN,
        }
    }

    /// A value at a given position.
    pub fn at(value: T, pos: Pos) -> Self {
        Spanned { value, pos }
    }

    /// Consumes the wrapper, returning the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Spanned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> AsRef<T> for Spanned<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "@{} ", self.pos)?;
        }
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T> From<T> for Spanned<T> {
    fn from(value: T) -> Self {
        Spanned::new(value)
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde-saphyr recognises its own `Spanned` and records the node's location; with any
        // other deserializer (e.g. JSON) the location is simply unknown.
        let inner = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Spanned {
            value: inner.value,
            pos: inner.referenced.into(),
        })
    }
}
