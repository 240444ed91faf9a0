//! How the queue commands (`consume`, `dead-letters`) end when something
//! fails: exit status 1 with the error and its causes on stderr for Redis,
//! the usual usage error (2) for the rest.

use std::process::ExitCode;

use fluxbase_webhooks::queue::QueueError;

use super::stream_url::StreamUrl;

/// Exit status when Redis cannot be reached or refuses a command (and when
/// `dead-letters` is given an id that is not there).
pub(crate) const EXIT_QUEUE: u8 = 1;

/// Why a queue command stopped short.
pub(crate) enum Failure {
    /// Redis failed or refused.
    Queue(QueueError),
    /// Output could not be written (stdout closed), or another usage-level
    /// error.
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

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Self::Output(e.into())
    }
}

/// Prints a Redis failure and gives the exit status.
pub(crate) fn queue_failed(e: &QueueError, url: &StreamUrl) -> ExitCode {
    eprintln!("error: {url}: {}", report(e));
    ExitCode::from(EXIT_QUEUE)
}

/// An error's message and its sources, on one line.
pub(crate) fn report(e: &QueueError) -> String {
    let mut report = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        report.push_str(": ");
        report.push_str(&s.to_string());
        source = s.source();
    }
    report
}
