//! [`blocking`]: where the use cases run. A leaf (it imports only the error type).

use actix_web::web;

use crate::error::ApiError;

/// Runs one use case on actix's blocking pool. A failed (panicked or cancelled) task is a `500`,
/// logged.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, domain::Error> + Send + 'static,
    T: Send + 'static,
{
    match web::block(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "blocking task failed");
            Err(ApiError::Internal)
        }
    }
}
