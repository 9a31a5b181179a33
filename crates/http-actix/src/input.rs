//! [`Input`]: what a service-token handler takes from the request, checked in the order of the
//! wire contract's precedence, so that a handler only runs its use case and answers.
//!
//! 1. the caller ([`ServiceCaller`]): `401` before anything else is looked at;
//! 2. the body is read (when the endpoint has one): `413` for a body larger than announced;
//! 3. the path ids and the body are parsed, and their `422` items reported together, the path's
//!    first; a path that names nothing (the identity paths' handle: `404`) counts only once the
//!    body's shape is right.
//!
//! The caller is awaited here rather than by a separate first argument: actix polls a handler's
//! extractors together, so a body error could otherwise be answered while an uncached token is
//! still being looked up.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use domain::audit::Caller;
use domain::values::Handle;

use crate::auth::ServiceCaller;
use crate::body;
use crate::error::{ApiError, FieldError};
use crate::request::IdentityPath;

/// A service-token request: its caller, its path ids `P` and its body `B` (`()`: none, any body
/// is ignored and never read). See the module docs for the order of the checks.
pub(crate) struct Input<P = (), B = ()>(pub(crate) Caller, pub(crate) P, pub(crate) B);

/// What a path's parameters parse into.
pub(crate) trait FromPath: Sized {
    /// The parsed path: `ApiError::Invalid` for malformed ids (reported with the body's), any
    /// other error once the body is right.
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError>;
}

/// What a request body parses into.
pub(crate) trait FromBody: Sized {
    /// Whether the body is read at all.
    const READ: bool = true;
    /// Parses the body, reporting every field's error.
    fn from_body(bytes: &[u8]) -> Result<Self, Vec<FieldError>>;
}

impl FromPath for () {
    fn from_path(_: &HttpRequest) -> Result<Self, ApiError> {
        Ok(())
    }
}

/// The identity paths' `{agent_handle}` (see [`IdentityPath`]: `404`, never `422`).
impl FromPath for Handle {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        IdentityPath::parse(req)
    }
}

impl FromBody for () {
    const READ: bool = false;
    fn from_body(_: &[u8]) -> Result<Self, Vec<FieldError>> {
        Ok(())
    }
}

type InputFuture<P, B> = Pin<Box<dyn Future<Output = Result<Input<P, B>, ApiError>>>>;

impl<P: FromPath + 'static, B: FromBody + 'static> FromRequest for Input<P, B> {
    type Error = ApiError;
    type Future = InputFuture<P, B>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = ServiceCaller::from_request(req, payload);
        let payload = B::READ.then(|| web::Payload::from_request(req, payload));
        let req = req.clone();
        Box::pin(async move {
            let ServiceCaller(caller) = caller.await?;
            let body = match payload {
                Some(payload) => {
                    let payload = payload.await.map_err(|_| ApiError::BodyUnreadable)?;
                    B::from_body(&body::read(payload).await?)
                }
                None => B::from_body(&[]),
            };
            let (path, body) = merge(P::from_path(&req), body)?;
            Ok(Self(caller, path, body))
        })
    }
}

/// The path's and the body's results: every `422` item of both (path first), then the path's
/// other error.
fn merge<P, B>(path: Result<P, ApiError>, body: Result<B, Vec<FieldError>>) -> Result<(P, B), ApiError> {
    match (path, body) {
        (Ok(path), Ok(body)) => Ok((path, body)),
        (Err(ApiError::Invalid(mut errors)), body) => {
            errors.extend(body.err().unwrap_or_default());
            Err(ApiError::Invalid(errors))
        }
        (_, Err(errors)) => Err(ApiError::Invalid(errors)),
        (Err(e), Ok(_)) => Err(e),
    }
}

#[cfg(test)]
mod tests;
