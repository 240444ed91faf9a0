//! Tolerant readers for the shapes the documentation and the server disagree on.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A list answered as a bare array, `null`, or an object holding the array
/// (or `null`) under one of `keys` (`{webhooks, total}`, `{deliveries}`, ...).
pub(crate) fn list<T: DeserializeOwned>(value: Value, keys: &[&str]) -> Result<Vec<T>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        Value::Object(mut map) => {
            let found = keys.iter().find_map(|k| map.remove(*k));
            match found {
                Some(Value::Array(items)) => items,
                Some(Value::Null) => return Ok(Vec::new()),
                Some(other) => return Err(format!("expected a list, got {}", kind(&other))),
                None => {
                    return Err(format!(
                        "expected a list or an object with one of {keys:?}, got keys {:?}",
                        map.keys().collect::<Vec<_>>()
                    ));
                }
            }
        }
        other => return Err(format!("expected a list, got {}", kind(&other))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| serde_json::from_value(item).map_err(|e| format!("item {i}: {e}")))
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `null` or absent reads as the default (`[]`, `{}`, ...).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An id or other identifier sent as a string or a number.
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!(
            "expected an id, got {}",
            kind(&other)
        ))),
    }
}

/// An empty string reads as absent (list answers blank invitation tokens).
pub(crate) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// A string map whose values may be non-strings (kept as their JSON text).
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    Ok(map
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_list_shape() {
        let keys = &["webhooks"];
        for (value, len) in [
            (json!([1, 2]), 2),
            (json!(null), 0),
            (json!([]), 0),
            (json!({"webhooks": [1], "total": 1}), 1),
            (json!({"webhooks": null, "total": 0}), 0),
        ] {
            assert_eq!(
                list::<u8>(value.clone(), keys).unwrap().len(),
                len,
                "{value}"
            );
        }
        assert!(list::<u8>(json!({"other": []}), keys).is_err());
        assert!(list::<u8>(json!("x"), keys).is_err());
        assert!(list::<u8>(json!({"webhooks": 5}), keys).is_err());
        let err = list::<u8>(json!([1, "x"]), keys).unwrap_err();
        assert!(err.starts_with("item 1"), "{err}");
    }
}
