//! [`StringList`]: a list of strings (secret names, artefact paths) that remembers where
//! each item was written.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Pos, Spanned};

/// A YAML list of strings whose items keep their positions, so that a check can point at
/// the one bad item.
///
/// It dereferences to `[String]` (code that only needs the values reads it like a
/// `Vec<String>`), serializes as the bare list and compares by values only, like
/// [`Spanned`].
#[derive(Clone, Default)]
pub struct StringList {
    values: Vec<String>,
    positions: Vec<Pos>,
}

impl StringList {
    /// Each item with the position it was written at ([`Pos::UNKNOWN`] for lists built in
    /// code).
    pub fn with_pos(&self) -> impl Iterator<Item = (&str, Pos)> {
        self.values
            .iter()
            .zip(&self.positions)
            .map(|(v, p)| (v.as_str(), *p))
    }
}

impl Deref for StringList {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.values
    }
}

impl FromIterator<String> for StringList {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let values: Vec<String> = iter.into_iter().collect();
        let positions = vec![Pos::UNKNOWN; values.len()];
        StringList { values, positions }
    }
}

impl From<Vec<String>> for StringList {
    fn from(values: Vec<String>) -> Self {
        values.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a StringList {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.iter()
    }
}

impl IntoIterator for StringList {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.into_iter()
    }
}

impl fmt::Debug for StringList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.values.fmt(f)
    }
}

impl PartialEq for StringList {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Eq for StringList {}

impl Serialize for StringList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<Spanned<String>>::deserialize(deserializer)?;
        let positions = items.iter().map(|s| s.pos).collect();
        let values = items.into_iter().map(Spanned::into_inner).collect();
        Ok(StringList { values, positions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_a_vec_and_compares_by_value() {
        let list: StringList = vec!["a".to_string(), "b".to_string()].into();
        assert_eq!(list.len(), 2);
        assert_eq!(list.join(","), "a,b");
        assert_eq!(list.with_pos().next(), Some(("a", Pos::UNKNOWN)));
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["a","b"]"#);
        let back: StringList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }
}
