//! Payload bytes exactly as the Fluxbase server marshals them (Go
//! `encoding/json` over JSONB records).

use serde_json::Value;

/// Writes `value` compactly, escaping strings the way Go does (`<`, `>`,
/// `&`, U+2028 and U+2029 as `\uXXXX`). With `jsonb`, object keys are in
/// JSONB order (shorter keys first, then bytewise), as Postgres stores them;
/// otherwise in the map's own order.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value, jsonb: bool) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, jsonb);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if jsonb {
                entries.sort_by(|a, b| {
                    a.0.len()
                        .cmp(&b.0.len())
                        .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
                });
            }
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, v, jsonb);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string with Go's escaping.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c if u32::from(c) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The server's row payload:
/// `{event, table, schema, record, old_record (UPDATE only), timestamp}`.
pub(crate) fn row_body(
    event: &str,
    table: &str,
    schema: &str,
    record: Option<&Value>,
    old_record: Option<&Value>,
    timestamp: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"event\":");
    write_str(&mut out, event);
    out.extend_from_slice(b",\"table\":");
    write_str(&mut out, table);
    out.extend_from_slice(b",\"schema\":");
    write_str(&mut out, schema);
    out.extend_from_slice(b",\"record\":");
    write_value(&mut out, record.unwrap_or(&Value::Null), true);
    if let Some(old) = old_record {
        out.extend_from_slice(b",\"old_record\":");
        write_value(&mut out, old, true);
    }
    out.extend_from_slice(b",\"timestamp\":");
    write_str(&mut out, timestamp);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_escaping_and_jsonb_order() {
        let record = json!({"name": "a<b>&c\u{2028}", "id": 1, "email": "é\n", "zz": [true, null]});
        let body = row_body(
            "INSERT",
            "users",
            "auth",
            Some(&record),
            None,
            "2026-01-02T03:04:05.12Z",
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":1,"zz":[true,null],"name":"a\u003cb\u003e\u0026c\u2028","email":"é\n"},"timestamp":"2026-01-02T03:04:05.12Z"}"#
        );
    }

    #[test]
    fn old_record_only_when_given() {
        let r = json!({"id": 1});
        let update = row_body("UPDATE", "t", "public", Some(&r), Some(&r), "x");
        assert!(
            String::from_utf8(update)
                .unwrap()
                .contains(r#""old_record":{"id":1}"#)
        );
        let delete = row_body("DELETE", "t", "public", None, None, "x");
        assert_eq!(
            String::from_utf8(delete).unwrap(),
            r#"{"event":"DELETE","table":"t","schema":"public","record":null,"timestamp":"x"}"#
        );
    }

    #[test]
    fn parses_back() {
        let r = json!({"k": "\u{1}\u{7f}\"\\"});
        let body = row_body("INSERT", "t", "s", Some(&r), None, "x");
        let back: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(back["record"], r);
    }
}
