//! The `redis://HOST[:PORT]/STREAM` form the queue commands take.

use std::fmt;

use clap::Args;
use percent_encoding::percent_decode_str;
use url::Url;

/// What `STREAM_URL` means, for the help of every command that takes one.
pub(crate) const HELP: &str = "The stream, as redis://[USER[:PASSWORD]@]HOST[:PORT]/STREAM[?db=N]: \
    port 6379 and database 0 unless given; the path after the first `/` is the stream's name \
    (percent-decoded, so `%2F` is a `/`; `:` may appear as is), \
    e.g. redis://127.0.0.1/fluxhook:deliveries. \
    Put a password in the environment variable rather than on the command line.";

/// The stream a queue command works on, and its dead-letter stream.
#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    #[arg(
        value_name = "STREAM_URL",
        help = HELP,
        env = "FLUXHOOK_QUEUE_URL",
        hide_env_values = true,
        value_parser = StreamUrlParser
    )]
    pub(crate) url: StreamUrl,
    /// The dead-letter stream (default: STREAM:dead-letters).
    #[arg(long, value_name = "STREAM")]
    pub(crate) dead_letter_stream: Option<String>,
}

/// The clap value parser of a STREAM_URL. Unlike clap's usual message, its
/// errors never repeat the value: it may hold a password, and may come from
/// `FLUXHOOK_QUEUE_URL`, whose value is meant to stay out of sight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamUrlParser;

impl clap::builder::TypedValueParser for StreamUrlParser {
    type Value = StreamUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StreamUrl, clap::Error> {
        let invalid = |reason: &str| {
            let name = arg.map_or_else(|| "STREAM_URL".to_owned(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {name}: {reason}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| invalid("not UTF-8"))?;
        StreamUrl::parse(text).map_err(|reason| invalid(&reason))
    }
}

/// A Redis Stream named by a URL: `redis://[user[:password]@]host[:port]/STREAM[?db=N]`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StreamUrl {
    /// The Redis URL the client connects with: `redis://[user:password@]host:port/db`.
    redis: String,
    /// The Redis URL with its password masked, to show.
    shown: String,
    stream: String,
}

impl StreamUrl {
    /// Parses the URL (a clap value parser).
    ///
    /// # Errors
    ///
    /// A message for the user (that never repeats a password) when the URL
    /// is not of that form.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "redis" => {}
            "rediss" => {
                return Err("rediss:// (TLS) is not supported by this build; use redis://".into());
            }
            other => {
                return Err(format!(
                    "expected redis://HOST[:PORT]/STREAM, not {other}://"
                ));
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?;
        let port = url.port().unwrap_or(6379);
        let stream = url.path().strip_prefix('/').unwrap_or_default();
        let stream = percent_decode_str(stream)
            .decode_utf8()
            .map_err(|_| "the stream name is not UTF-8 once percent-decoded")?
            .into_owned();
        if stream.is_empty() {
            return Err("the URL names no stream: redis://HOST[:PORT]/STREAM".into());
        }
        if url.fragment().is_some() {
            return Err(
                "the URL has a #fragment; percent-encode `#` in a stream name as %23".into(),
            );
        }
        let mut db = 0u32;
        for (key, value) in url.query_pairs() {
            match &*key {
                "db" => {
                    db = value
                        .parse()
                        .map_err(|_| format!("db={value} is not a database number"))?;
                }
                other => return Err(format!("unknown URL parameter {other:?} (only db=N)")),
            }
        }
        // User and password stay percent-encoded: the client decodes them.
        let user = url.username();
        let (auth, shown_auth) = match (user, url.password()) {
            ("", None) => (String::new(), String::new()),
            (user, None) => (format!("{user}@"), format!("{user}@")),
            (user, Some(password)) => (format!("{user}:{password}@"), format!("{user}:***@")),
        };
        Ok(Self {
            redis: format!("redis://{auth}{host}:{port}/{db}"),
            shown: format!("redis://{shown_auth}{host}:{port}/{db}"),
            stream,
        })
    }

    /// The URL to give the Redis client (it may hold a password: never show it).
    pub(crate) fn redis_url(&self) -> &str {
        &self.redis
    }

    /// The stream's name.
    pub(crate) fn stream(&self) -> &str {
        &self.stream
    }
}

impl fmt::Display for StreamUrl {
    /// The Redis server, database and stream, with the password masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {} on {}", self.stream, self.shown)
    }
}

impl fmt::Debug for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamUrl")
            .field("redis", &self.shown)
            .field("stream", &self.stream)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_forms_parse() {
        let u = StreamUrl::parse("redis://127.0.0.1/fluxhook:deliveries").unwrap();
        assert_eq!(u.redis_url(), "redis://127.0.0.1:6379/0");
        assert_eq!(u.stream(), "fluxhook:deliveries");

        let u = StreamUrl::parse("redis://cache.internal:6380/a%2Fb%20c?db=3").unwrap();
        assert_eq!(u.redis_url(), "redis://cache.internal:6380/3");
        assert_eq!(u.stream(), "a/b c");

        let u = StreamUrl::parse("redis://app:p%40ss@[::1]:7000/s").unwrap();
        assert_eq!(u.redis_url(), "redis://app:p%40ss@[::1]:7000/0");
        assert_eq!(u.to_string(), "stream s on redis://app:***@[::1]:7000/0");
        assert!(!format!("{u:?}").contains("p%40ss"));

        let u = StreamUrl::parse("redis://:secret@h/s").unwrap();
        assert_eq!(u.redis_url(), "redis://:secret@h:6379/0");
        assert!(!u.to_string().contains("secret"));
    }

    #[test]
    fn other_forms_are_refused_with_a_reason() {
        for (url, reason) in [
            ("redis://127.0.0.1", "names no stream"),
            ("redis://127.0.0.1/", "names no stream"),
            ("http://127.0.0.1/s", "expected redis://"),
            ("rediss://127.0.0.1/s", "TLS"),
            ("redis://127.0.0.1/s?db=x", "not a database number"),
            ("redis://127.0.0.1/s?timeout=1", "unknown URL parameter"),
            ("redis://127.0.0.1/s#x", "fragment"),
            ("127.0.0.1/s", "not a URL"),
        ] {
            let err = StreamUrl::parse(url).unwrap_err();
            assert!(err.contains(reason), "{url}: {err}");
        }
        let err = StreamUrl::parse("rediss://u:hunter2@h/s").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
