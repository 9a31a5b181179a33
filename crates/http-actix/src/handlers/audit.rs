//! `/api/v1/audit/events`: the organization's audit trail, oldest first (or newest first), paged by cursor.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::ports::Store;

use super::blocking;
use crate::auth::ServiceCaller;
use crate::error::ApiError;
use crate::request::AuditEventsQuery;
use crate::respond::{self, AuditPageDto};

/// `GET /api/v1/audit/events`.
#[utoipa::path(
    get,
    path = crate::paths::AUDIT_EVENTS,
    tag = "audit",
    operation_id = "list_audit_events",
    summary = "Read the audit trail",
    description = "The caller's organization's audit events, oldest first (newest first with `order=desc`): every change (apps, accounts, identities, links, instances, tokens) and every code generated or verified, each written in the same transaction as the change. `seq` numbers the events 1, 2, 3, ... without gaps in commit order; page with `after=<next>` (an event committed late is numbered after every event already listed, so a cursor never skips it), or newest first with `order=desc&before=<next>`. Never carries a secret.",
    params(crate::schemas::AuditEventsQuery),
    responses(
        (status = 200, description = "A page of events", body = crate::schemas::AuditPage),
    ),
)]
pub(crate) async fn list<S: Store>(
    ServiceCaller(who): ServiceCaller,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let q = AuditEventsQuery::parse(&req)?;
    let page = blocking(move || authd.list_audit_events(&who, &q)).await?;
    Ok(respond::json(StatusCode::OK, &AuditPageDto::new(&page)))
}
