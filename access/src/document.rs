//! Reading a customer's JSON document field by field, so that every refusal names the JSON path
//! of the problem (`$.Statement[1].Condition.StringEquals`) and why, the way each cloud's own
//! validator does.

use serde_json::{Map, Value};

/// A document the lab refuses: where in it, and why. Each cloud's API layer wraps this in that
/// cloud's own error shape (`MalformedPolicyDocumentException`, `INVALID_ARGUMENT`, `BadRequest`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct DocumentError {
    /// The JSON path of the offending value (`$` is the whole document).
    pub path: String,
    /// What is wrong with it, in the cloud's terms.
    pub reason: String,
}

impl DocumentError {
    /// The same refusal for a document found at `at` inside a larger one (`$.Policy`): its
    /// path is rebased there.
    pub fn within(self, at: &str) -> Self {
        let rest = self.path.strip_prefix('$').unwrap_or(&self.path);
        Self {
            path: format!("{at}{rest}"),
            reason: self.reason,
        }
    }
}

/// The largest document the lab accepts (AWS key policies are capped at 32 KiB; the other clouds'
/// limits are of the same order).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;

/// Parses `text` as JSON, refusing over-large or malformed input with the position of the error.
pub fn parse_json(text: &str) -> Result<Value, DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError {
            path: "$".into(),
            reason: format!(
                "the document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                text.len()
            ),
        });
    }
    serde_json::from_str(text).map_err(|e| DocumentError {
        path: "$".into(),
        reason: format!("not valid JSON: {e}"),
    })
}

/// A position in a document being read: its JSON path and the value there.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    path: &'a str,
    value: &'a Value,
}

impl<'a> At<'a> {
    /// The whole document.
    pub fn root(value: &'a Value) -> Self {
        At { path: "$", value }
    }

    /// The value at `path`.
    pub fn new(path: &'a str, value: &'a Value) -> Self {
        At { path, value }
    }

    /// The value at this position.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// The JSON path of this position.
    pub fn path(&self) -> &str {
        self.path
    }

    /// A refusal at this position.
    pub fn error(&self, reason: impl Into<String>) -> DocumentError {
        DocumentError {
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The JSON path of `field` under this position.
    pub fn field_path(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }

    /// This position as an object.
    pub fn object(&self) -> Result<&'a Map<String, Value>, DocumentError> {
        self.value
            .as_object()
            .ok_or_else(|| self.error("must be a JSON object"))
    }

    /// This position as a string.
    pub fn string(&self) -> Result<&'a str, DocumentError> {
        self.value
            .as_str()
            .ok_or_else(|| self.error("must be a string"))
    }

    /// This position as a string or an array of strings (IAM's "one or many").
    pub fn strings(&self) -> Result<Vec<String>, DocumentError> {
        match self.value {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| DocumentError {
                            path: format!("{}[{i}]", self.path),
                            reason: "must be a string".into(),
                        })
                })
                .collect(),
            Value::Array(_) => Err(self.error("must not be an empty list")),
            _ => Err(self.error("must be a string or a list of strings")),
        }
    }

    /// Refuses fields of this object that are not in `known`, naming the first one.
    pub fn only_fields(&self, known: &[&str]) -> Result<(), DocumentError> {
        for name in self.object()?.keys() {
            if !known.contains(&name.as_str()) {
                return Err(DocumentError {
                    path: self.field_path(name),
                    reason: format!("unknown field; expected one of: {}", known.join(", ")),
                });
            }
        }
        Ok(())
    }
}

/// Reads a child position and hands it to `read` with its own path.
pub fn with_field<T>(
    at: At<'_>,
    field: &str,
    read: impl FnOnce(At<'_>) -> Result<T, DocumentError>,
) -> Result<Option<T>, DocumentError> {
    let Some(value) = at.object()?.get(field) else {
        return Ok(None);
    };
    let path = at.field_path(field);
    read(At { path: &path, value }).map(Some)
}

/// Reads each element of a list (or a single object standing for a list of one, as IAM allows
/// for `Statement`) with its own path.
pub fn each<T>(
    at: At<'_>,
    mut read: impl FnMut(At<'_>) -> Result<T, DocumentError>,
) -> Result<Vec<T>, DocumentError> {
    match at.value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let path = format!("{}[{i}]", at.path);
                read(At { path: &path, value })
            })
            .collect(),
        Value::Object(_) => Ok(vec![read(at)?]),
        _ => Err(at.error("must be a list")),
    }
}

/// Matches `text` against an IAM-style pattern where `*` is any run of characters and `?` one
/// character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildcard_match_by(pattern, text, |p, t| p == t)
}

/// [`wildcard_match`] ignoring ASCII case (IAM actions, Azure data actions).
pub fn wildcard_match_ignore_case(pattern: &str, text: &str) -> bool {
    wildcard_match_by(pattern, text, |p, t| p.eq_ignore_ascii_case(&t))
}

/// The wildcard match with `same` deciding whether a pattern character matches a text
/// character; it walks both strings in place (no allocation: it runs for every statement of
/// every call the mock decides).
fn wildcard_match_by(pattern: &str, text: &str, same: impl Fn(char, char) -> bool) -> bool {
    let at = |s: &str, i: usize| s[i..].chars().next();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while let Some(t) = at(text, ti) {
        let p = at(pattern, pi);
        if p == Some('*') {
            // A `*` is always a wildcard, also where the text has a `*` too.
            if pi + 1 == pattern.len() {
                // A last `*` matches whatever text is left.
                return true;
            }
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(p) = p.filter(|&p| p == '?' || same(p, t)) {
            pi += p.len_utf8();
            ti += t.len_utf8();
        } else if let Some(s) = star {
            pi = s + 1;
            mark += at(text, mark).map_or(1, char::len_utf8);
            ti = mark;
        } else {
            return false;
        }
    }
    pattern[pi..].bytes().all(|b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("kms:*", "kms:Decrypt"));
        assert!(wildcard_match("kms:Re*crypt", "kms:ReEncrypt"));
        assert!(wildcard_match("kms:?ncrypt", "kms:Encrypt"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("kms:Encrypt", "kms:Encrypt2"));
        assert!(!wildcard_match("kms:G*Key", "kms:GenerateDataKeyPair"));
        assert!(!wildcard_match("kms:encrypt", "kms:Encrypt"));
        assert!(wildcard_match_ignore_case("KMS:en*", "kms:Encrypt"));
        assert!(wildcard_match("ключ-?/*", "ключ-ё/x"));
        assert!(!wildcard_match("ключ-?", "ключ-ёё"));
        assert!(wildcard_match("a*ё?c", "aёxёyc"));
        // A `*` of the pattern stays a wildcard where the text has a literal `*`.
        assert!(wildcard_match("a*", "a**b"));
        assert!(wildcard_match("a*b", "a**b"));
        assert!(wildcard_match("*:key/*", "arn:aws:kms:*:key/*x"));
    }

    /// The in-place match answers what the definition of the wildcards answers (`*`: any run of
    /// characters, `?`: any one character, anything else: itself — tried every way, here as the
    /// reference), on every pattern and text drawn from a small alphabet that has wildcards, a
    /// multi-byte letter and both cases.
    #[test]
    fn the_in_place_match_agrees_with_the_definition() {
        fn matches(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|skip| matches(rest, &t[skip..])),
                Some((&c, rest)) => t
                    .split_first()
                    .is_some_and(|(&x, t)| (c == '?' || c == x) && matches(rest, t)),
            }
        }
        fn reference(pattern: &str, text: &str) -> bool {
            let (p, t): (Vec<char>, Vec<char>) =
                (pattern.chars().collect(), text.chars().collect());
            matches(&p, &t)
        }
        fn words(alphabet: &[char], max: usize) -> Vec<String> {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        }
        let patterns = words(&['a', 'A', 'ё', '*', '?'], 4);
        let texts = words(&['a', 'A', 'ё', '*', '?'], 4);
        for p in &patterns {
            for t in &texts {
                assert_eq!(wildcard_match(p, t), reference(p, t), "{p:?} {t:?}");
                assert_eq!(
                    wildcard_match_ignore_case(p, t),
                    reference(&p.to_ascii_lowercase(), &t.to_ascii_lowercase()),
                    "{p:?} {t:?} ignoring case"
                );
            }
        }
    }

    #[test]
    fn errors_name_the_path() {
        let doc = json!({"Statement": [{"Action": 3}]});
        let root = At::root(&doc);
        let err = with_field(root, "Statement", |s| {
            each(s, |st| with_field(st, "Action", |a| a.strings()))
        })
        .unwrap_err();
        assert_eq!(err.path, "$.Statement[0].Action");
        assert!(err.reason.contains("string"), "{err}");
    }

    #[test]
    fn oversized_and_malformed_documents_are_refused() {
        let big = format!("\"{}\"", "a".repeat(MAX_DOCUMENT_BYTES));
        assert!(parse_json(&big).unwrap_err().reason.contains("limit"));
        assert!(
            parse_json("{\"a\":")
                .unwrap_err()
                .reason
                .contains("not valid JSON")
        );
    }
}
