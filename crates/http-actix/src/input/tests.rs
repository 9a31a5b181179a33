//! The order of [`Input`]'s checks: `401` (also while an uncached token is still being looked
//! up), then `413`, then the path's and the body's `422` items together, then the path's `404`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test as at;
use actix_web::{App, HttpResponse, web};
use domain::auth::Principal;
use domain::error::{Realm, Resource};
use domain::ids::{OrgId, TokenId};
use serde_json::Value;

use super::*;
use crate::auth::ServiceTokens;
use crate::request::{AppPath, VerifyRequest};

const KNOWN: &str = "authd_st_known";
const UNKNOWN: &str = "authd_st_unknown";

/// Knows [`KNOWN`] from its cache; looks any other token up slowly, and refuses it.
struct Tokens;

impl ServiceTokens for Tokens {
    fn cached_principal(&self, token: &str) -> Option<Principal> {
        (token == KNOWN).then(principal)
    }

    fn authenticate_service_token(&self, _: &str) -> Result<(Principal, bool), domain::Error> {
        std::thread::sleep(Duration::from_millis(100));
        Err(domain::Error::Unauthorized(Realm::Service))
    }

    fn record_service_token_use(&self, _: TokenId) -> Result<(), domain::Error> {
        Ok(())
    }
}

fn principal() -> Principal {
    Principal {
        org: OrgId::new("org_acme").expect("org"),
        token_id: TokenId::from_uuid(uuid::Uuid::from_u128(1)),
        access: std::sync::Arc::new(domain::access::Access::admin()),
        expires_at: None,
    }
}

async fn verify(Input(_, path, body): Input<AppPath, VerifyRequest>) -> HttpResponse {
    drop((path.app_id, body.otp_code));
    HttpResponse::Ok().finish()
}

async fn post(token: &str, path: &str, body: impl Into<web::Bytes>) -> (StatusCode, Value) {
    let tokens: Arc<dyn ServiceTokens> = Arc::new(Tokens);
    let app = App::new()
        .app_data(web::Data::from(tokens))
        .app_data(crate::routes::RouteNeeds::of(crate::paths::VERIFY_OTP))
        .route("/apps/{app_id}", web::post().to(verify));
    let service = at::init_service(app).await;
    let req = at::TestRequest::post()
        .uri(path)
        .insert_header(("X-Service-Token", token))
        .set_payload(body.into())
        .to_request();
    let res = at::call_service(&service, req).await;
    let status = res.status();
    let bytes = at::read_body(res).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn a_refused_token_wins_over_a_bad_path_and_body_also_while_it_is_looked_up() {
    assert_eq!(
        post(UNKNOWN, "/apps/nope", "not json").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post("wrong", "/apps/nope", "not json").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_refused_token_wins_over_a_body_too_large_to_read() {
    let big = vec![b' '; body::MAX_BODY_BYTES + 1];
    assert_eq!(
        post(UNKNOWN, "/apps/nope", big.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post(KNOWN, "/apps/nope", big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn the_path_and_body_errors_are_reported_together_path_first() {
    let (status, body) = post(KNOWN, "/apps/nope", "{}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &serde_json::json!(["path", "app_id"]),
            &serde_json::json!(["body", "otp_code"])
        ]
    );
}

#[test]
fn a_path_that_names_nothing_counts_after_the_body_shape() {
    let not_found = || Err::<(), _>(ApiError::Domain(domain::Error::NotFound(Resource::Identity)));
    let bad_body = || Err::<(), _>(vec![body::missing("x")]);
    assert!(matches!(merge(not_found(), bad_body()), Err(ApiError::Invalid(e)) if e.len() == 1));
    assert!(matches!(
        merge(not_found(), Ok(())),
        Err(ApiError::Domain(domain::Error::NotFound(Resource::Identity)))
    ));
    assert!(matches!(merge(Ok(()), Ok(())), Ok(((), ()))));
}
