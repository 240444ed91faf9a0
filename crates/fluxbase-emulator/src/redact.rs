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

/// Text with every control character escaped (`\r`, `\n`, `\u{1b}`, ...).
pub(crate) struct SafeText<'a>(pub(crate) &'a str);

impl fmt::Display for SafeText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
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
    }
}
