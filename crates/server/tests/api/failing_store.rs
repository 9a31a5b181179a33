//! Not scenarios (they need a store that fails, whatever the backend): the adapter's answers when the store fails: `503` when the database is unreachable, `500`
//! for any other failure, with exact bodies and never the cause.

use std::sync::Arc;

use actix_web::test::{self, TestRequest};
use domain::error::Opaque;
use domain::ports::{Repo, Store, StoreError, StoreResult};
use domain::testkit::{TEST_KEY, TestCipher, kit_with};

#[derive(Clone, Copy)]
enum Failure {
    Unavailable,
    Other,
}

struct FailingStore(Failure);

const CAUSE: &str = "connection refused to postgres://authd:hunter2@db.internal/authd";

impl FailingStore {
    fn error(&self) -> StoreError {
        match self.0 {
            Failure::Unavailable => StoreError::Unavailable(Opaque::new(CAUSE)),
            Failure::Other => StoreError::Other(Opaque::new(CAUSE)),
        }
    }
}

impl Store for FailingStore {
    fn run<T, E: From<StoreError>>(&self, _f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        Err(self.error().into())
    }

    fn transaction<T, E: From<StoreError>>(&self, _f: impl FnOnce(&mut dyn Repo) -> Result<T, E>) -> Result<T, E> {
        Err(self.error().into())
    }

    fn ping(&self) -> StoreResult<()> {
        Err(self.error())
    }
}

async fn check(failure: Failure, status: u16, message: &str) {
    let kit = kit_with(FailingStore(failure), Arc::new(TestCipher::new(TEST_KEY)));
    let app = test::init_service(http_actix::app(Arc::new(kit.authd))).await;
    let token = format!("authd_st_{}", "A".repeat(43));

    // the token look-up itself fails
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/authenticator/apps")
            .insert_header(("X-Service-Token", token.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(
        res.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body = test::read_body(res).await;
    assert_eq!(body, format!(r#"{{"detail":"{message}"}}"#).into_bytes());

    // OneWelcome family
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/oauth/api/v1/users/bot/authentication/apps")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(
        res.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body = test::read_body(res).await;
    assert_eq!(body, format!(r#"{{"error":"{message}"}}"#).into_bytes());

    // the device API
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/device/accounts")
            .insert_header(("Authorization", format!("Bearer authd_dev_{}", "A".repeat(43))))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), status);
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    assert_eq!(
        retry_after.as_deref(),
        (status == 503).then_some("2"),
        "every 503 (and only a 503) tells when to retry"
    );
    let body = test::read_body(res).await;
    assert_eq!(body, format!(r#"{{"detail":"{message}"}}"#).into_bytes());

    // probes: alive, not ready
    let res = test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"2"[..]));
    assert_eq!(test::read_body(res).await, br#"{"status":"unavailable"}"#.to_vec());

    // a token without the prefix is refused without any look-up
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/authenticator/apps")
            .insert_header(("X-Service-Token", "nope"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 401);
}

#[actix_web::test]
async fn unreachable_database_is_503() {
    check(Failure::Unavailable, 503, "Database unavailable").await;
}

#[actix_web::test]
async fn other_storage_failure_is_500() {
    check(Failure::Other, 500, "Internal server error").await;
}
