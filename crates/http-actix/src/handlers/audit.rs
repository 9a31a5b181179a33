//! `/api/v1/audit/events`: the organization's audit trail, oldest first, paged by cursor.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Authd;
use domain::audit::{Action, AuditQuery, DEFAULT_PAGE, MAX_PAGE, ResourceType};
use domain::ports::Store;

use super::blocking;
use crate::auth::ServiceCaller;
use crate::error::{ApiError, FieldError};
use crate::respond::{self, AuditPageDto};

/// The query string: every parameter optional, unknown ones ignored, every bad one reported.
fn query(req: &HttpRequest) -> Result<AuditQuery, Vec<FieldError>> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| vec![FieldError::new(&["query"], "Invalid query string", "value_error")])?
        .into_inner();
    let mut q = AuditQuery {
        limit: DEFAULT_PAGE,
        ..AuditQuery::default()
    };
    let mut errors = Vec::new();
    let mut bad = |name: &str, msg: &str| errors.push(FieldError::new(&["query", name], msg, "value_error"));
    for (name, value) in &pairs {
        match name.as_str() {
            "after" => match value.parse::<u64>() {
                Ok(n) => q.after = Some(n),
                Err(_) => bad("after", "Must be a cursor returned as `next`"),
            },
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => q.limit = n,
                _ => bad("limit", "Must be an integer from 1 to 1000"),
            },
            "action" => match Action::parse(value) {
                Some(a) => q.action = Some(a),
                None => bad("action", "Unknown action"),
            },
            "resource_type" => match ResourceType::parse(value) {
                Some(t) => q.resource_type = Some(t),
                None => bad("resource_type", "Unknown resource type"),
            },
            "resource_id" => match uuid::Uuid::parse_str(value) {
                Ok(id) => q.resource_id = Some(id),
                Err(_) => bad("resource_id", "Must be a UUID"),
            },
            _ => {}
        }
    }
    if errors.is_empty() { Ok(q) } else { Err(errors) }
}

/// `GET /api/v1/audit/events`.
#[utoipa::path(
    get,
    path = crate::paths::AUDIT_EVENTS,
    tag = "audit",
    operation_id = "list_audit_events",
    summary = "Read the audit trail",
    description = "The caller's organization's audit events, oldest first: every change (apps, accounts, identities, links, instances, tokens) and every code generated or verified, each written in the same transaction as the change. `seq` numbers the events 1, 2, 3, ... without gaps in commit order; page with `after=<next>` (an event committed late is numbered after every event already listed, so a cursor never skips it). Never carries a secret.",
    params(
        ("after" = Option<String>, Query, description = "Only events after this cursor (the `next` of a previous page)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 100)", minimum = 1, maximum = 1000),
        ("action" = Option<String>, Query, description = "Only this action, e.g. `app.create`"),
        ("resource_type" = Option<String>, Query, description = "Only this kind of record: `app`, `account`, `identity`, `instance`, `service_token`"),
        ("resource_id" = Option<String>, Query, description = "Only this record (a UUID)"),
    ),
    responses(
        (status = 200, description = "A page of events", body = crate::schemas::AuditPage),
        (status = 401, response = crate::schemas::ServiceUnauthorized),
        (status = 413, response = crate::schemas::TooLarge),
        (status = 422, response = crate::schemas::Invalid),
    ),
    security(("service_token" = []), ("service_bearer" = [])),
)]
pub(crate) async fn list<S: Store>(
    ServiceCaller(who): ServiceCaller,
    req: HttpRequest,
    authd: web::Data<Authd<S>>,
) -> Result<HttpResponse, ApiError> {
    let q = query(&req)?;
    let page = blocking(move || authd.list_audit_events(&who, &q)).await?;
    Ok(respond::json(StatusCode::OK, &AuditPageDto::new(&page)))
}
