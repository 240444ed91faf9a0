//! User-controlled text made safe for logs and error messages: no control
//! character (a CR/LF in a URL or a response body cannot start a log line
//! of its own), no password from a URL's user info.

use std::fmt;

/// `url` with the password of its user info replaced by `mask`
/// (`http://user:pass@host/` → `http://user:<mask>@host/`), as Go's
/// `URL.Redacted` (`xxxxx`) and the HTTP client's `stripPassword` (`***`)
/// do.
pub(crate) fn mask_password(url: &str, mask: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let start = scheme_end + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:{mask}{}",
        &url[..start],
        &authority[..colon],
        &url[start + at..]
    )
}

/// `text` with the password of every URL in it replaced by `mask`: an
/// error or a warning that quotes a URL (`parse "http://ann:pw@h:x/": …`).
pub(crate) fn mask_passwords(text: &str, mask: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        let userinfo = authority
            .rfind('@')
            .and_then(|at| authority[..at].find(':').map(|colon| (colon, at)));
        match userinfo {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(mask);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Text for a log line: every control character escaped (`\r`, `\n`,
/// `\u{1b}`, ...), and the password of any URL in it masked.
pub(crate) struct SafeText<'a>(pub(crate) &'a str);

impl fmt::Display for SafeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in mask_passwords(self.0, "xxxxx").chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// A URL for a log line: password masked, control characters escaped.
pub(crate) struct SafeUrl<'a>(pub(crate) &'a str);

impl fmt::Display for SafeUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SafeText(&mask_password(self.0, "xxxxx")).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_line_breaks_never_reach_a_log() {
        assert_eq!(
            SafeUrl("http://ann:s3cret@host:80/p?q=1").to_string(),
            "http://ann:xxxxx@host:80/p?q=1"
        );
        assert_eq!(SafeUrl("http://ann@host/").to_string(), "http://ann@host/");
        assert_eq!(SafeUrl("http://host/a@b").to_string(), "http://host/a@b");
        assert_eq!(
            SafeUrl("http://x/\r\nINFO forged line").to_string(),
            "http://x/\\r\\nINFO forged line"
        );
        assert_eq!(mask_password("http://a:b:c@h/", "***"), "http://a:***@h/");
        assert_eq!(SafeText("é\u{1b}[31m").to_string(), "é\\u{1b}[31m");
        // A URL quoted in an error or a warning, parsable or not.
        assert_eq!(
            SafeText(r#"parse "http://ann:hunter2@127.0.0.1:bad/": invalid port"#).to_string(),
            r#"parse "http://ann:xxxxx@127.0.0.1:bad/": invalid port"#
        );
        assert_eq!(
            mask_passwords(r#"Post "https://a:b@h": x; see http://c:d@e?q"#, "***"),
            r#"Post "https://a:***@h": x; see http://c:***@e?q"#
        );
        assert_eq!(mask_passwords("no url: a:b@c", "***"), "no url: a:b@c");
    }
}
