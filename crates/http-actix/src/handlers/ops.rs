//! Operational paths (no auth): `/healthz`, `/readyz` and `/metrics`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;
use serde::Serialize;

use crate::respond;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `GET /healthz`: `200 {"status":"ok"}` while the process runs.
pub(crate) async fn healthz() -> HttpResponse {
    respond::json(StatusCode::OK, &Status { status: "ok" })
}

/// `GET /readyz`: `200 {"status":"ready"}` when the database answers, else
/// `503 {"status":"unavailable"}` (the cause is logged).
pub(crate) async fn readyz<S: Store>(authd: web::Data<Authd<S>>) -> HttpResponse {
    match web::block(move || authd.ping()).await {
        Ok(Ok(())) => respond::json(StatusCode::OK, &Status { status: "ready" }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            respond::json(StatusCode::SERVICE_UNAVAILABLE, &Status { status: "unavailable" })
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check could not run");
            respond::json(StatusCode::SERVICE_UNAVAILABLE, &Status { status: "unavailable" })
        }
    }
}

/// `GET /metrics`: Prometheus text exposition (see [`crate::metrics`]).
pub(crate) async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}
