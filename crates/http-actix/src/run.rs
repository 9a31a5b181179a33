//! [`blocking`]: where the use cases run, each within the request deadline. A leaf (it imports
//! only the error type).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use actix_web::web;

use crate::error::ApiError;

/// The request deadline in milliseconds (see [`set_request_deadline`]).
static DEADLINE_MS: AtomicU64 = AtomicU64::new(DEFAULT_REQUEST_DEADLINE_MS);

/// The default request deadline: 10 s.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 10_000;

/// Sets how long a request may wait for its use case (queueing for a thread and a connection,
/// then running) before it is answered `503` with `Retry-After`. The store bounds its own calls
/// more tightly (statement timeout, hung-connection watchdog); this is the last bound, so no
/// request ever hangs. A use case still running at the deadline goes on in the background: a
/// `503` answered at the deadline may have taken effect (docs/API.md says which use cases are
/// then safe to retry).
pub fn set_request_deadline(deadline: Duration) {
    DEADLINE_MS.store(u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX).max(1), Relaxed);
}

/// Runs one use case on actix's blocking pool, within the request deadline. A failed (panicked
/// or cancelled) task is a `500`, logged; one past the deadline a `503`, logged.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, domain::Error> + Send + 'static,
    T: Send + 'static,
{
    let deadline = Duration::from_millis(DEADLINE_MS.load(Relaxed));
    match actix_web::rt::time::timeout(deadline, web::block(f)).await {
        Ok(Ok(result)) => result.map_err(ApiError::from),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "blocking task failed");
            Err(ApiError::Internal)
        }
        Err(_) => {
            tracing::warn!(
                deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                "a request outlived its deadline waiting for the database; answered 503"
            );
            Err(ApiError::Unavailable)
        }
    }
}
