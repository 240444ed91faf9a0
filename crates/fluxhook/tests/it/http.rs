//! A minimal HTTP/1.1 client over a plain `TcpStream`, for what a library
//! client hides: the order of writing and reading, and when the server
//! closes the connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A guard against hanging, not a speed assertion.
const GUARD: Duration = Duration::from_secs(30);

/// One answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `code` of a problem document.
    pub(crate) fn code(&self) -> String {
        let doc: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)));
        doc["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// `host:port` and path of `http://host:port/path`.
pub(crate) fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    (host.parse().unwrap(), path.to_owned())
}

/// A kept-alive connection.
pub(crate) struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub(crate) fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        stream.set_write_timeout(Some(GUARD)).unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    /// Writes a whole POST (head, then every byte of the body), then reads
    /// the answer. A write error (a broken pipe) is returned as is.
    pub(crate) fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        self.post_partial(path, headers, body.len(), body)
    }

    /// Writes a POST head declaring `declared` body bytes and only the
    /// first part of the body, then reads the answer.
    pub(crate) fn post_partial(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        declared: usize,
        part: &[u8],
    ) -> io::Result<Answer> {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(part)?;
        stream.flush()?;
        self.read_answer()
    }

    fn read_answer(&mut self) -> io::Result<Answer> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Waits up to `within` for the server to close the connection; true
    /// when it did, false when it sent something instead. Fails the test
    /// when the connection is still open then.
    pub(crate) fn closed_by_server(mut self, within: Duration) -> bool {
        self.reader
            .get_ref()
            .set_read_timeout(Some(within))
            .unwrap();
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            Err(e) => panic!("the connection was still open after {within:?}: {e}"),
        }
    }
}

/// POSTs on a fresh connection.
pub(crate) fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let (addr, path) = split_url(url);
    Connection::open(addr).post(&path, headers, body).unwrap()
}
