//! Steps 2 and 3 of the flow: the budget of bytes buffered at once, and
//! reading a body through the limit, the budget and the read timeout while
//! hashing it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::Error;
use crate::verify::Verification;

/// Why a body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// A limit applied in front of the receiver (another layer, the
    /// framework's payload limit) was passed.
    TooLarge,
    /// The body ended early or its framing broke: the sender went away.
    Incomplete,
}

/// A request body as the flow reads it, chunk by chunk, whatever the
/// framework's body type.
pub(crate) trait BodySource {
    /// The next chunk; `None` at the end.
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>>;
}

/// The most body bytes buffered at once, shared by every delivery of a
/// receiver.
#[derive(Clone, Debug)]
pub(crate) struct Budget(Arc<BudgetInner>);

#[derive(Debug)]
struct BudgetInner {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Self(Arc::new(BudgetInner {
            limit,
            used: AtomicU64::new(0),
        }))
    }

    pub(crate) fn limit(&self) -> u64 {
        self.0.limit
    }

    pub(crate) fn used(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Whether `n` more bytes fit now (taking none of them).
    pub(crate) fn has_room(&self, n: u64) -> bool {
        self.used()
            .checked_add(n)
            .is_some_and(|total| total <= self.0.limit)
    }

    /// An empty reservation, grown as bytes are taken.
    pub(crate) fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            held: 0,
        }
    }

    /// Takes `n` more bytes, unless that would pass the limit.
    fn take(&self, n: u64) -> bool {
        let inner = &self.0;
        let mut used = inner.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(n).filter(|&next| next <= inner.limit) else {
                return false;
            };
            match inner
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    super::metrics::bytes_in_flight(next);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, n: u64) {
        let left = self.0.used.fetch_sub(n, Ordering::AcqRel).saturating_sub(n);
        super::metrics::bytes_in_flight(left);
    }
}

/// Bytes of the budget held by one delivery, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Budget,
    held: u64,
}

impl Reservation {
    /// Makes the reservation at least `total` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::OverCapacity`] when the budget has no room for them.
    pub(crate) fn cover(&mut self, total: u64) -> Result<(), Error> {
        if total <= self.held {
            return Ok(());
        }
        let more = total - self.held;
        if self.budget.take(more) {
            self.held = total;
            Ok(())
        } else {
            Err(Error::OverCapacity)
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.give_back(self.held);
        }
    }
}

/// The bytes of a body as its chunks arrive: a body that arrives as one
/// chunk is kept as that chunk (no copy); once a second one comes, all are
/// gathered into one buffer. The buffer grows with what has arrived (to at
/// most twice it, never past the ceiling), so a sender that only promises a
/// long body makes nothing be allocated for it; [`Chunks::planned`] says
/// how large it will be, so that the budget can cover it first.
#[derive(Default)]
pub(crate) struct Chunks {
    first: Option<Bytes>,
    rest: Vec<u8>,
    /// The most the buffer is sized for: the body's declared length, or
    /// the limit.
    ceiling: usize,
    /// Whether the buffer is sized for the ceiling at once: when the
    /// ceiling is the length of bytes that have already arrived (a body a
    /// layer verified).
    known: bool,
}

impl Chunks {
    /// Chunks of a body still arriving, of at most `ceiling` bytes.
    pub(crate) fn growing(ceiling: usize) -> Self {
        Self {
            ceiling,
            ..Self::default()
        }
    }

    /// Chunks of a body of `len` bytes that have already arrived.
    pub(crate) fn known(len: usize) -> Self {
        Self {
            ceiling: len,
            known: true,
            ..Self::default()
        }
    }

    /// Bytes kept so far.
    pub(crate) fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.rest.len()
    }

    /// Bytes held now: the buffer's size, or the first chunk's.
    fn held(&self) -> usize {
        self.len().max(self.rest.capacity())
    }

    /// The bytes held once `more` bytes are pushed: the buffer's size, or
    /// the first chunk's (the buffer is allocated only with a second one).
    pub(crate) fn planned(&self, more: usize) -> usize {
        let needed = self.len().saturating_add(more);
        if more == 0 {
            return self.held();
        }
        if self.first.is_none() && self.rest.is_empty() {
            return needed;
        }
        if needed <= self.rest.capacity() {
            return self.rest.capacity();
        }
        let grown = match self.known {
            true => self.ceiling,
            false => (self.rest.capacity().max(self.len()).saturating_mul(2)).min(self.ceiling),
        };
        grown.max(needed)
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        let planned = self.planned(chunk.len());
        self.push_sized(chunk, planned);
    }

    /// [`Chunks::push`], growing the buffer, when it must grow, to
    /// `planned` bytes (at least what it then holds).
    fn push_sized(&mut self, chunk: Bytes, planned: usize) {
        if chunk.is_empty() {
            return;
        }
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(chunk);
            return;
        }
        let planned = planned.max(self.len() + chunk.len());
        if planned > self.rest.capacity() {
            self.rest.reserve_exact(planned - self.rest.len());
        }
        if let Some(first) = self.first.take() {
            self.rest.extend_from_slice(&first);
        }
        self.rest.extend_from_slice(&chunk);
    }

    /// The whole body.
    pub(crate) fn finish(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => Bytes::from(self.rest),
        }
    }
}

/// Hashes a body chunk by chunk while keeping the bytes ([`Chunks`]), never
/// past the limit nor the budget.
pub(crate) struct BodyReader {
    verification: Verification,
    reservation: Reservation,
    chunks: Chunks,
    limit: u64,
}

impl BodyReader {
    pub(crate) fn new(
        verification: Verification,
        reservation: Reservation,
        declared_len: Option<u64>,
        limit: u64,
    ) -> Self {
        let ceiling = declared_len.unwrap_or(limit).min(limit);
        Self {
            verification,
            reservation,
            chunks: Chunks::growing(usize::try_from(ceiling).unwrap_or(usize::MAX)),
            limit,
        }
    }

    /// One chunk of the body: refused past the limit or the budget before it
    /// is hashed or kept. The budget covers the bytes held, buffer included.
    fn push(&mut self, chunk: Bytes) -> Result<(), Error> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = self.body_len().saturating_add(chunk.len() as u64);
        if len > self.limit {
            return Err(Error::PayloadTooLarge { limit: self.limit });
        }
        // Room to grow the buffer ahead, or else just enough for this
        // chunk: a budget with room for the bytes never refuses them for
        // the spare.
        let planned = self.chunks.planned(chunk.len());
        let planned = match self.reservation.cover((planned as u64).max(len)) {
            Ok(()) => planned,
            Err(_) => {
                self.reservation.cover(len)?;
                usize::try_from(len).unwrap_or(usize::MAX)
            }
        };
        self.verification.update(&chunk);
        self.chunks.push_sized(chunk, planned);
        Ok(())
    }

    /// Bytes read so far.
    pub(crate) fn body_len(&self) -> u64 {
        self.verification.body_len()
    }

    /// The verification, the body and the budget it holds.
    pub(crate) fn finish(self) -> (Verification, Bytes, Reservation) {
        (self.verification, self.chunks.finish(), self.reservation)
    }
}

/// When a body must have arrived. Inert without a tokio runtime (the timer
/// needs one) or without a timeout. The timer is armed only the first time
/// the body is not ready, so a body that arrives with its head (most
/// webhooks) never touches the timer wheel.
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    started: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            started: Instant::now(),
            sleep: None,
        }
    }

    /// Whether the deadline has passed (registering for a wake-up if not).
    fn passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timeout) = self.timeout else {
            return false;
        };
        if self.sleep.is_none() {
            if tokio::runtime::Handle::try_current().is_err() {
                return false;
            }
            // A timeout too large to add to a clock reading never fires.
            let Some(at) = self.started.checked_add(timeout) else {
                return false;
            };
            self.sleep = Some(Box::pin(tokio::time::sleep_until(
                tokio::time::Instant::from_std(at),
            )));
        }
        self.sleep
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }

    fn error(&self) -> Error {
        Error::BodyTimeout {
            after_secs: self.timeout.unwrap_or_default().as_secs(),
        }
    }
}

/// Reads the whole body into `reader`. On failure, the error; the body may
/// then still hold unread bytes (see [`drain`]).
pub(crate) async fn read<B: BodySource>(
    mut body: Pin<&mut B>,
    reader: &mut BodyReader,
    deadline: &mut Deadline,
) -> Result<(), Error> {
    std::future::poll_fn(|cx| {
        loop {
            match body.as_mut().poll_chunk(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(err) = reader.push(chunk) {
                        return Poll::Ready(Err(err));
                    }
                }
                Poll::Ready(Some(Err(BodyError::TooLarge))) => {
                    return Poll::Ready(Err(Error::PayloadTooLarge {
                        limit: reader.limit,
                    }));
                }
                Poll::Ready(Some(Err(BodyError::Incomplete))) => {
                    return Poll::Ready(Err(Error::BodyIncomplete));
                }
                Poll::Pending if deadline.passed(cx) => return Poll::Ready(Err(deadline.error())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Reads and throws away what is left of a refused body, up to `limit`
/// bytes, for at most `total`, and only while the sender keeps sending
/// (stopping after `idle` without a byte), so a sender still writing gets
/// to read the answer. Nothing is kept.
pub(crate) async fn drain<B: BodySource>(
    mut body: Pin<&mut B>,
    limit: u64,
    total: Duration,
    idle: Duration,
) {
    let mut read = 0u64;
    let mut overall = Deadline::after(Some(total));
    let mut quiet = Deadline::after(Some(idle));
    std::future::poll_fn(|cx| {
        loop {
            match body.as_mut().poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    read = read.saturating_add(chunk.len() as u64);
                    if read > limit {
                        return Poll::Ready(());
                    }
                    quiet = Deadline::after(Some(idle));
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending if overall.passed(cx) | quiet.passed(cx) => {
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signer, Verifier};

    fn reader(limit: u64, budget: &Budget, body: &[u8]) -> BodyReader {
        let header = Signer::new("k").unwrap().sign_now(body).to_string();
        let verification = Verifier::new("k").unwrap().begin(&header).unwrap();
        BodyReader::new(verification, budget.reservation(), None, limit)
    }

    #[test]
    fn one_chunk_is_kept_without_copy() {
        let body = Bytes::from_static(b"{\"event\":\"TEST\"}");
        let budget = Budget::new(1024);
        let mut r = reader(1024, &budget, &body);
        r.push(body.clone()).unwrap();
        let (verification, kept, _held) = r.finish();
        assert_eq!(kept.as_ptr(), body.as_ptr());
        assert_eq!(verification.body_len(), body.len() as u64);
    }

    #[test]
    fn many_chunks_give_the_same_bytes() {
        let body: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let budget = Budget::new(1 << 20);
        let mut r = reader(4096, &budget, &body);
        for chunk in body.chunks(700) {
            r.push(Bytes::copy_from_slice(chunk)).unwrap();
        }
        r.push(Bytes::new()).unwrap();
        let (_, kept, _held) = r.finish();
        assert_eq!(kept.as_ref(), body.as_slice());
    }

    #[test]
    fn a_declared_length_is_held_only_as_its_bytes_arrive() {
        const LEN: usize = 1 << 20;
        let body: Vec<u8> = (0..=255u8).cycle().take(LEN).collect();
        let budget = Budget::new(4 * LEN as u64);
        let header = Signer::new("k").unwrap().sign_now(&body).to_string();
        let verification = Verifier::new("k").unwrap().begin(&header).unwrap();
        let mut r = BodyReader::new(
            verification,
            budget.reservation(),
            Some(LEN as u64),
            LEN as u64,
        );
        assert_eq!(budget.used(), 0, "nothing held for a promise");
        let mut sent = 0;
        for size in [100, 100, 1000]
            .into_iter()
            .chain(std::iter::repeat(64 * 1024))
        {
            let end = (sent + size).min(LEN);
            r.push(Bytes::copy_from_slice(&body[sent..end])).unwrap();
            sent = end;
            // Never more than twice what arrived, nor past the declared
            // length, and never less than the buffer holds.
            assert!(budget.used() >= r.chunks.held() as u64);
            assert!(budget.used() >= sent as u64);
            assert!(
                budget.used() <= (2 * sent).min(LEN) as u64,
                "{} for {sent}",
                budget.used()
            );
            if sent == LEN {
                break;
            }
        }
        assert_eq!(budget.used(), LEN as u64);
        let (verification, kept, _held) = r.finish();
        assert_eq!(kept.as_ref(), body.as_slice());
        assert!(verification.finish_tags().is_ok());
    }

    #[test]
    fn a_budget_with_room_for_the_bytes_takes_them_without_the_spare() {
        // Room for 300 bytes: the buffer would double to 400 after the
        // third chunk; it grows to just what arrived instead of refusing.
        let budget = Budget::new(300);
        let mut r = reader(1000, &budget, b"");
        for _ in 0..3 {
            r.push(Bytes::from(vec![0; 100])).unwrap();
        }
        assert_eq!(r.body_len(), 300);
        assert_eq!(budget.used(), 300);
        assert!(r.chunks.held() <= 300);
        assert_eq!(
            r.push(Bytes::from(vec![0; 1])).unwrap_err(),
            Error::OverCapacity
        );
    }

    #[test]
    fn stops_at_the_limit() {
        let body = vec![b'x'; 100];
        let budget = Budget::new(1 << 20);
        let mut r = reader(64, &budget, &body);
        r.push(Bytes::copy_from_slice(&body[..60])).unwrap();
        assert_eq!(
            r.push(Bytes::copy_from_slice(&body[60..70])).unwrap_err(),
            Error::PayloadTooLarge { limit: 64 }
        );
        assert_eq!(r.body_len(), 60);
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = Budget::new(100);
        let mut a = reader(1000, &budget, b"");
        let mut b = reader(1000, &budget, b"");
        a.push(Bytes::from(vec![0; 60])).unwrap();
        assert_eq!(budget.used(), 60);
        // Forty bytes are left: b may take them, not one more.
        assert_eq!(
            b.push(Bytes::from(vec![0; 41])).unwrap_err(),
            Error::OverCapacity
        );
        assert_eq!(b.body_len(), 0);
        b.push(Bytes::from(vec![0; 40])).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        let (_, kept, held) = b.finish();
        assert_eq!(budget.used(), 40, "held while the body is in use");
        drop((kept, held));
        assert_eq!(budget.used(), 0);
        // A reservation grows to what it covers, and only once.
        let mut r = budget.reservation();
        r.cover(70).unwrap();
        r.cover(50).unwrap();
        assert_eq!(budget.used(), 70);
        assert_eq!(
            budget.reservation().cover(31).unwrap_err(),
            Error::OverCapacity
        );
    }
}
