//! Standard output, for every command: each line goes through [`outln!`].
//!
//! A write that fails is an error the command returns, so `main` decides
//! how the program ends, in one place ([`closed_stdout`]). When the reader
//! of stdout went away (`fluxhook dead-letters list URL | head -1`), the
//! program stops at once, quietly, with [`EXIT_CLOSED`]: what a Unix tool
//! killed by SIGPIPE shows its shell. Any other failed write (a full disk)
//! is reported like every error, with status 2.
//!
//! `println!` would panic in both cases instead: the Rust runtime ignores
//! SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`.
//!
//! Standard error, for notes, warnings and errors: each line goes through
//! [`errln!`], which never panics (`eprintln!` does when stderr is a closed
//! pipe, as in `fluxhook consume URL 2>&1 | head -1`). A note that cannot
//! be written is dropped: the command's work and its exit status stay what
//! they were.

use std::fmt;
use std::io::{self, Write};

/// Exit status when stdout was closed before everything was written:
/// 128 + SIGPIPE (13), as a shell reports a program SIGPIPE ended, and
/// never 0, since the output was cut short.
pub(crate) const EXIT_CLOSED: u8 = 141;

/// A write to stdout failed.
#[derive(Debug)]
pub(crate) struct StdoutError(io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is the source: `{:#}` and the error chain show it.
        f.write_str("cannot write to stdout")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl StdoutError {
    /// Whether the reader went away (a closed pipe).
    fn is_closed(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Writes `args` and a newline to stdout in one go (lines of two commands
/// printing at once never interleave within a call), flushed.
///
/// # Errors
///
/// The write's error, to return to `main`.
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    write_line(&mut io::stdout().lock(), args)
}

fn write_line(out: &mut impl Write, args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// `println!` that returns the write's error instead of panicking:
/// `outln!("{id} removed")?`.
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes `args` and a newline to stderr in one go, ignoring a failed
/// write (there is nowhere left to report it).
pub(crate) fn note(args: fmt::Arguments<'_>) {
    let _ = write_line(&mut io::stderr().lock(), args);
}

/// `eprintln!` that never panics: `errln!("warning: {why}")`.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::note(format_args!($($arg)*))
    };
}
pub(crate) use errln;

/// An error and its causes, `: `-separated, each said once: a cause whose
/// text the message already holds (anywhere in it) is left out (many errors repeat their
/// source in their own message, and `{:#}` would then say it twice).
pub(crate) fn causes(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Whether `err` is (or was caused by) a write to a closed stdout: the
/// program then ends with [`EXIT_CLOSED`] and says nothing.
pub(crate) fn closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_closed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader went away.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An error whose message repeats its source's, as many do.
    #[derive(Debug)]
    struct Repeats(io::Error);

    impl fmt::Display for Repeats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "the store did not answer: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        let err = anyhow::Error::from(Repeats(refused())).context("cannot start");
        assert_eq!(
            format!("{err:#}"),
            "cannot start: the store did not answer: connection refused: connection refused"
        );
        assert_eq!(
            causes(&err),
            "cannot start: the store did not answer: connection refused"
        );
        let plain = anyhow::Error::from(refused()).context("cannot listen on 127.0.0.1:1");
        assert_eq!(
            causes(&plain),
            "cannot listen on 127.0.0.1:1: connection refused"
        );
    }

    #[test]
    fn only_a_closed_stdout_is_quiet() {
        let mut buf = Vec::new();
        write_line(&mut buf, format_args!("{} {}", 1, "two")).unwrap();
        assert_eq!(buf, b"1 two\n");

        let closed = write_line(&mut Closed, format_args!("x")).unwrap_err();
        let err = anyhow::Error::from(closed).context("cannot print the event");
        assert!(closed_stdout(&err), "found under a context too");

        let full = anyhow::Error::from(StdoutError(io::Error::other("disk full")));
        assert_eq!(format!("{full:#}"), "cannot write to stdout: disk full");
        assert!(!closed_stdout(&full));
        let elsewhere = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(
            !closed_stdout(&elsewhere),
            "a broken pipe elsewhere (a socket, a child's stdin) is an error"
        );
    }
}
