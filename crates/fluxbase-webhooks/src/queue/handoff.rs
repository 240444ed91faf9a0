//! [`Handoff`]: a receiver endpoint that hands every accepted delivery to a
//! Redis Stream and answers only once it is there.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::{EntryId, QueueError, QueuedDelivery, StreamWriter};
use crate::dedupe::StoreError;
use crate::error::Error;
use crate::receive::{Accepted, IntoReceiver, Receiver, Rejection, Want};

/// A webhook endpoint that runs each delivery through a [`Receiver`] (the
/// signature, its date, the limits, the budget, replays and duplicates) and
/// then appends it to a Redis Stream with a [`StreamWriter`], instead of
/// calling a handler. Consumers take the deliveries from there
/// ([`StreamConsumer`](super::StreamConsumer)).
///
/// It answers `202 Accepted` with `{"queued":"<entry id>","duplicate":<bool>}`
/// only after the append succeeded. When Redis cannot take the delivery it
/// answers `503 queue_unavailable` with `Retry-After`, and forgets the
/// delivery's event so that Fluxbase's retry is handled as new: nothing
/// verified but not appended is ever acknowledged. So does it when the
/// stream is full of entries the consumers have not processed yet
/// ([`QueueError::Full`]; the problem's `detail` then names the cause and
/// the code `queue_full`): the bound refuses rather than forgets. A re-delivery is queued
/// with its duplicate flag whatever the `Duplicates` policy (answering it
/// without an append could acknowledge a delivery that never reached the
/// stream). A body that is not a Fluxbase payload is refused (400) rather
/// than queued.
///
/// Served as a tower service (feature `tower`: `post_service(handoff)` in
/// axum) or an actix-web handler (feature `actix`:
/// `fluxbase_webhooks::actix::handoff` with the `Handoff` in `app_data`).
///
/// ```no_run
/// # #[cfg(feature = "axum")]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::post_service};
/// use fluxbase_webhooks::{Verifier, queue::{Handoff, StreamWriter}};
///
/// let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?;
/// let writer = StreamWriter::builder("redis://127.0.0.1:6379/").stream("webhooks").connect().await?;
/// let app = Router::new().route("/webhooks", post_service(Handoff::new(verifier, writer)));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// fluxbase_webhooks::axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Handoff {
    receiver: Receiver,
    writer: StreamWriter,
    on_queued: Option<OnQueued>,
}

type OnQueued = Arc<dyn Fn(&EntryId, &QueuedDelivery) + Send + Sync>;

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("receiver", &self.receiver)
            .field("writer", &self.writer)
            .field("on_queued", &self.on_queued.is_some())
            .finish()
    }
}

/// What the handoff answers for a queued delivery.
#[derive(serde::Serialize)]
struct Queued {
    queued: String,
    duplicate: bool,
}

impl Handoff {
    /// Receives with `receiver` (or the default policy around a
    /// [`Verifier`](crate::Verifier)) and appends with `writer`.
    pub fn new(receiver: impl IntoReceiver, writer: StreamWriter) -> Self {
        Self {
            receiver: receiver.into_receiver(),
            writer,
            on_queued: None,
        }
    }

    /// Calls `observer` with the entry id and the record of each delivery
    /// once it is in the stream, before the 202 is sent: for a log line,
    /// a metric or a local echo of what was queued. It runs on the
    /// request's task, so it must return quickly and never block (send to
    /// a channel with `try_send`, say); whatever it does, the delivery is
    /// already queued and the sender gets its 202.
    ///
    /// ```no_run
    /// # async fn run(writer: fluxbase_webhooks::queue::StreamWriter, verifier: fluxbase_webhooks::Verifier) {
    /// use fluxbase_webhooks::queue::Handoff;
    ///
    /// let handoff = Handoff::new(verifier, writer).on_queued(|id, delivery| {
    ///     tracing::info!(%id, duplicate = delivery.is_duplicate(), "queued");
    /// });
    /// # }
    /// ```
    #[must_use]
    pub fn on_queued(
        mut self,
        observer: impl Fn(&EntryId, &QueuedDelivery) + Send + Sync + 'static,
    ) -> Self {
        self.on_queued = Some(Arc::new(observer));
        self
    }

    /// The receiver in use.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The stream writer in use.
    pub fn writer(&self) -> &StreamWriter {
        &self.writer
    }

    /// The record of one accepted delivery, as consumers will read it.
    fn record(accepted: &Accepted, body: Bytes) -> QueuedDelivery {
        let verified = &accepted.verified;
        let dedupe = accepted.dedupe.as_ref();
        QueuedDelivery::builder(body, verified.scheme())
            .key_index(verified.key_index())
            .key_id(verified.key_id())
            .timestamp(verified.timestamp())
            .received_at(SystemTime::now())
            .event_key(dedupe.and_then(|d| d.event_key()).map(str::to_owned))
            .duplicate(dedupe.is_some_and(|d| d.is_duplicate()))
            .build()
    }

    /// Appends one accepted delivery: its entry id, or why it was not
    /// queued (an error that makes the flow answer 503 and forget the event).
    async fn append(&self, accepted: Accepted) -> Result<(Rejection, bool), Error> {
        let body = accepted.body.clone();
        let record = Self::record(&accepted, body);
        let duplicate = record.is_duplicate();
        // The body's share of the budget is held until Redis has it.
        let appended = self.writer.append(&record).await;
        drop(accepted);
        match appended {
            Ok(id) => {
                if let Some(observer) = &self.on_queued {
                    observer(&id, &record);
                }
                Ok((answer(&id, duplicate), true))
            }
            Err(err) => Err(queue_error(err)),
        }
    }
}

fn answer(id: &EntryId, duplicate: bool) -> Rejection {
    Rejection::json(
        202,
        &Queued {
            queued: id.to_string(),
            duplicate,
        },
    )
}

fn queue_error(err: QueueError) -> Error {
    if err.is_unavailable() {
        tracing::warn!(code = err.code(), "the queue did not take a delivery");
    } else if let QueueError::Full { max_len } = err {
        tracing::warn!(
            code = err.code(),
            max_len,
            "the queue did not take a delivery: the stream is full of entries not yet \
             processed (are the consumers down or behind?)"
        );
    } else {
        tracing::error!(code = err.code(), error = %err, "the queue refused a delivery");
    }
    Error::QueueUnavailable(StoreError::with_source(
        "the queue did not take the delivery",
        err,
    ))
}

#[cfg(feature = "tower")]
mod tower_service {
    use std::convert::Infallible;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body::Body;
    use http_body_util::Full;

    use super::{Handoff, Want};
    use crate::tower::{HttpBody, HttpHead, ResponseFuture};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// The handoff as a tower service: any `http::Request` in, the answer
    /// out; it never fails as a service.
    impl<B> tower_service::Service<Request<B>> for Handoff
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = ResponseFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            let this = self.clone();
            let (parts, body) = req.into_parts();
            let prepared = this
                .receiver
                .prepare(&HttpHead(&parts.headers), Some(body.size_hint().lower()));
            ResponseFuture::new(async move {
                let body = std::pin::pin!(HttpBody { body });
                let answer = this
                    .receiver
                    .run(prepared, body, Want::Payload, false, |accepted| {
                        this.append(accepted)
                    })
                    .await;
                Ok(answer.unwrap_or_else(|rejection| rejection).into_http())
            })
        }
    }
}

#[cfg(feature = "actix")]
pub(crate) mod actix_handler {
    use actix_web::{HttpRequest, HttpResponse, web};

    use super::{Handoff, Want};
    use crate::actix::{ActixBody, ActixHead, response};
    use crate::receive::Rejection;

    /// The handoff as an actix-web handler, with the [`Handoff`] in
    /// `app_data` (as `Handoff` or `Data<Handoff>`).
    pub async fn handoff(req: HttpRequest, payload: web::Payload) -> HttpResponse {
        let handoff = req.app_data::<Handoff>().cloned().or_else(|| {
            req.app_data::<web::Data<Handoff>>()
                .map(|d| d.get_ref().clone())
        });
        let Some(handoff) = handoff else {
            return response(Rejection::not_configured(
                "add the Handoff with App::app_data",
            ));
        };
        let prepared = handoff.receiver.prepare(&ActixHead(req.headers()), None);
        let body = std::pin::pin!(ActixBody(payload.into_inner()));
        let answer = handoff
            .receiver
            .run(prepared, body, Want::Payload, false, |accepted| {
                handoff.append(accepted)
            })
            .await;
        response(answer.unwrap_or_else(|rejection| rejection))
    }
}
