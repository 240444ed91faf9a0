//! `fluxhook send`

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use fluxbase_webhooks::{
    DOCUMENTED_EVENTS, Event, LEGACY_SIGNATURE_HEADER, ROW_EVENTS, RawValue, RowEvent,
    SIGNATURE_HEADER, Scheme, Timestamp,
};

use crate::cli::SendArgs;
use crate::cmd::secret;
use crate::cmd::sign::{scheme, unix_now};
use crate::input::read_body;
use crate::output::outln;

/// Exit status for an answer outside 2xx.
const EXIT_REFUSED: u8 = 1;

/// How long to wait for the receiver, like the Fluxbase server's default.
const TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let signer = secret::signer(secret::given(args.secret.as_deref())?)?;
    let body = match &args.file {
        Some(path) => read_body(Some(path))?,
        None => sample_body(&args.event, args.data.as_deref(), Timestamp::now())?,
    };
    let url =
        reqwest::Url::parse(&args.url).with_context(|| format!("invalid URL {}", args.url))?;
    let scheme = scheme(args.scheme);
    let header = signer.sign(scheme, unix_now(), &body).to_string();
    // The server sends the bare hex form too, in the legacy header.
    let legacy =
        (scheme == Scheme::Timestamped).then(|| signer.sign(Scheme::Hex, 0, &body).to_string());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (status, answer) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .user_agent(concat!("fluxhook/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        let mut request = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, header);
        if let Some(legacy) = legacy {
            request = request.header(LEGACY_SIGNATURE_HEADER, legacy);
        }
        let response = request
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot POST to {url}"))?;
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .context("the answer could not be read")?;
        anyhow::Ok((status, answer))
    })?;
    outln!("HTTP {status}")?;
    if !answer.is_empty() {
        outln!("{}", String::from_utf8_lossy(&answer))?;
    }
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REFUSED)
    })
}

/// The body for `--event NAME [--data JSON]`: the sample of that event, with
/// `data` as the row's `record` (row events) or as the `data` object
/// (documented events), in the order the wire uses.
fn sample_body(name: &str, data: Option<&str>, now: Timestamp) -> anyhow::Result<Vec<u8>> {
    let Some(sample) = Event::sample(name, now) else {
        bail!(
            "unknown event {name:?}; known: {}, {}",
            ROW_EVENTS.join(", "),
            DOCUMENTED_EVENTS.join(", ")
        );
    };
    let Some(data) = data else {
        return Ok(serde_json::to_vec(&sample)?);
    };
    let data: Box<RawValue> = serde_json::from_str(data).context("--data is not valid JSON")?;
    let event = match &sample {
        Event::Insert(row) | Event::Update(row) | Event::Delete(row) | Event::Test(row) => {
            let row = RowEvent::new(
                row.table(),
                row.schema(),
                Some(data),
                row.old_record_raw().map(RawValue::to_owned),
                now,
            );
            match sample {
                Event::Insert(_) => Event::Insert(row),
                Event::Update(_) => Event::Update(row),
                Event::Delete(_) => Event::Delete(row),
                _ => Event::Test(row),
            }
        }
        _ => {
            // The documented shape: {event, timestamp, data}.
            let body = format!(
                r#"{{"event":{},"timestamp":{},"data":{}}}"#,
                serde_json::to_string(name)?,
                serde_json::to_string(&now)?,
                data.get()
            );
            return Ok(body.into_bytes());
        }
    };
    Ok(serde_json::to_vec(&event)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-01-02T03:04:05Z").unwrap()
    }

    #[test]
    fn samples_parse_back_as_the_named_event() {
        for name in ROW_EVENTS.iter().chain(DOCUMENTED_EVENTS.iter()) {
            let body = sample_body(name, None, now()).unwrap();
            assert_eq!(Event::from_slice(&body).unwrap().name(), *name);
        }
    }

    #[test]
    fn data_becomes_the_record_or_the_data() {
        let body = sample_body("UPDATE", Some(r#"{"id":7,"name":"x"}"#), now()).unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"event":"UPDATE","table":"users","schema":"auth","record":{"id":7,"name":"x"},"old_record":"#),
            "{text}"
        );
        let row = Event::from_slice(&body).unwrap();
        assert!(row.row().unwrap().old_record_raw().is_some());

        let body = sample_body("auth.login", Some(r#"{"user_id":"u9"}"#), now()).unwrap();
        assert_eq!(
            body,
            br#"{"event":"auth.login","timestamp":"2026-01-02T03:04:05Z","data":{"user_id":"u9"}}"#
        );
        assert_eq!(
            Event::from_slice(&body)
                .unwrap()
                .user_event()
                .unwrap()
                .user_id(),
            Some("u9")
        );
    }

    #[test]
    fn unknown_events_and_bad_data_are_usage_errors() {
        let err = sample_body("user.exploded", None, now()).unwrap_err();
        assert!(err.to_string().contains("known: INSERT"), "{err}");
        let err = sample_body("INSERT", Some("{not json"), now()).unwrap_err();
        assert!(err.to_string().contains("--data"), "{err}");
    }
}
