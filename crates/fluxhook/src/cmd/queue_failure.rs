//! How the queue commands (`consume`, `dead-letters`) end when something
//! fails: exit status 1 with the error and its causes on stderr for Redis,
//! the usual usage error (2) for the rest.

use std::process::ExitCode;

use fluxbase_webhooks::queue::QueueError;

use super::stream_url::StreamUrl;
use crate::output::{StdoutError, errln};

/// Exit status when Redis cannot be reached or refuses a command (and when
/// `dead-letters` is given an id that is not there).
pub(crate) const EXIT_QUEUE: u8 = 1;

/// Why a queue command stopped short.
pub(crate) enum Failure {
    /// Redis failed or refused.
    Queue(QueueError),
    /// Output could not be written (`main` ends quietly when stdout was
    /// closed), or another usage-level error.
    Output(anyhow::Error),
}

impl Failure {
    /// The exit status (the error printed for a Redis failure), or the
    /// error `main` prints with status 2.
    pub(crate) fn exit(self, url: &StreamUrl) -> anyhow::Result<ExitCode> {
        match self {
            Self::Queue(QueueError::Config(reason)) => {
                Err(anyhow::anyhow!("invalid queue configuration: {reason}"))
            }
            Self::Queue(e) => Ok(queue_failed(&e, url)),
            Self::Output(e) => Err(e),
        }
    }
}

impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        Self::Queue(e)
    }
}

impl From<StdoutError> for Failure {
    fn from(e: StdoutError) -> Self {
        Self::Output(e.into())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Self::Output(e.into())
    }
}

/// Prints a Redis failure and gives the exit status.
pub(crate) fn queue_failed(e: &QueueError, url: &StreamUrl) -> ExitCode {
    errln!("error: {url}: {}", report(e));
    ExitCode::from(EXIT_QUEUE)
}

/// An error's message and its sources, on one line (a source whose text
/// its error already ends with is not repeated).
pub(crate) fn report(e: &dyn std::error::Error) -> String {
    let mut report = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !report.ends_with(&text) {
            report.push_str(": ");
            report.push_str(&text);
        }
        source = s.source();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message may already quote its source, as the Redis
    /// client's do.
    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);

    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn each_cause_is_shown_once() {
        let refused = Chain("Connection refused (os error 111)", None);
        let client = Chain("Connection refused (os error 111)", Some(Box::new(refused)));
        let e = Chain("redis is unavailable", Some(Box::new(client)));
        assert_eq!(
            report(&e),
            "redis is unavailable: Connection refused (os error 111)"
        );
        let e = Chain(
            "a",
            Some(Box::new(Chain("b", Some(Box::new(Chain("c", None)))))),
        );
        assert_eq!(report(&e), "a: b: c");
    }
}
