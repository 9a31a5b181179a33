//! `/api/v1/authenticator/apps` and `/api/v1/authenticator/apps/{app_id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::ids::AppId;
use domain::ports::Store;
use domain::values::Handle;

use super::{blocking, caller};
use crate::body::{self, IfEmpty};
use crate::error::ApiError;
use crate::respond::{self, AppDto, Seq};

/// `POST /apps`: `{}` or `{"agent_handle": "bot"}` (optional, nullable, `@` stripped).
pub(crate) async fn create<S: Store>(
    req: HttpRequest,
    payload: web::Payload,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let bytes = body::read(payload).await?;
    let b = body::object(&bytes, IfEmpty::EmptyObject)?;
    let handle = body::optional_str(&b, "agent_handle")?
        .map(|h| body::value("agent_handle", Handle::parse(h), "value_error"))
        .transpose()?;
    let app = blocking(move || authd.create_app(&org, handle.as_ref())).await?;
    Ok(respond::json(StatusCode::CREATED, &AppDto::new(&app)))
}

/// `GET /apps`.
pub(crate) async fn list<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let apps = blocking(move || authd.list_apps(&org)).await?;
    Ok(respond::json(StatusCode::OK, &Seq(&apps, AppDto::new)))
}

/// `GET /apps/{app_id}`.
pub(crate) async fn get<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let id = body::path_id(&req, "app_id", AppId::parse)?;
    let app = blocking(move || authd.get_app(&org, id)).await?;
    Ok(respond::json(StatusCode::OK, &AppDto::new(&app)))
}

/// `DELETE /apps/{app_id}`: the app, its accounts and instances; its link is cleared.
pub(crate) async fn delete<S: Store>(req: HttpRequest, authd: web::Data<Authd<S>>) -> Result<HttpResponse, ApiError> {
    let org = caller(&req, &authd).await?;
    let id = body::path_id(&req, "app_id", AppId::parse)?;
    blocking(move || authd.delete_app(&org, id)).await?;
    Ok(respond::no_content())
}
