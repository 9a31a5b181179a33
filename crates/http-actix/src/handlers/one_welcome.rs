//! The OneWelcome end-user API: `/oauth/api/v1/users/{user_id}/authentication/apps[/{id}]`.
//! Every response carries the OneWelcome headers (see [`crate::error::OneWelcomeError`]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::auth::OneWelcomeCaller;
use crate::error::OneWelcomeError;
use crate::request::{UserAppPath, UserPath};
use crate::respond::{self, Seq, UserInstanceDto, UserInstancesDto};

/// `GET .../users/{user_id}/authentication/apps`: the user's live instances, oldest first;
/// `404` when the user does not exist or has none.
#[utoipa::path(
    get,
    path = crate::paths::USER_APPS,
    tag = "onewelcome",
    operation_id = "list_user_authentication_apps",
    summary = "List a user's authentication apps",
    description = "Every live instance enrolled for the identity whose handle is `user_id`, oldest first.",
    params(crate::schemas::UserPath),
    responses(
        (status = 200, description = "The instances", body = crate::schemas::UserInstances),
        (status = 404, description = "The user does not exist or has no instances (indistinguishable): `No authentication apps found`", body = crate::schemas::OneWelcomeErrorBody),
    ),
)]
pub(crate) async fn list<S: Store>(
    OneWelcomeCaller(org): OneWelcomeCaller,
    path: web::Path<UserPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, OneWelcomeError> {
    let user = path.into_inner().user_id;
    let instances = blocking(move || authd.user_instances(&org, &user)).await?;
    Ok(respond::one_welcome_json(
        HttpResponse::build(StatusCode::OK),
        &UserInstancesDto {
            authentication_app_instances: Seq(&instances, UserInstanceDto::new),
        },
    ))
}

/// `DELETE .../users/{user_id}/authentication/apps/{instance_id}`: revokes the instance;
/// idempotent. An instance id that is not a UUID is not found (the use case parses it).
#[utoipa::path(
    delete,
    path = crate::paths::USER_APP,
    tag = "onewelcome",
    operation_id = "delete_user_authentication_app",
    summary = "Revoke a user's authentication app",
    description = "Revokes the instance (as `revoke_instance`); idempotent.",
    params(crate::schemas::UserAppPath),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 404, description = "No such instance was ever enrolled for the user, or the id is not a UUID: `Authentication app not found`", body = crate::schemas::OneWelcomeErrorBody),
    ),
)]
pub(crate) async fn revoke<S: Store>(
    OneWelcomeCaller(org): OneWelcomeCaller,
    path: web::Path<UserAppPath>,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, OneWelcomeError> {
    let UserAppPath {
        user_id: user,
        instance_id: instance,
    } = path.into_inner();
    blocking(move || authd.revoke_user_instance(&org, &user, &instance)).await?;
    let mut b = HttpResponse::build(StatusCode::NO_CONTENT);
    respond::one_welcome_headers(&mut b);
    Ok(b.finish())
}
