//! `GET /console`: the operator console, a browser client of the public JSON API, served from
//! the binary (`docs/CONSOLE.md`).
//!
//! The page (`console/index.html`), its script (`console/console.js`) and stylesheet
//! (`console/console.css`) are ours, hand-written, with no build step; `console/jsqr.js` is
//! jsQR 1.4.0 (Apache-2.0, the npm package's `dist/jsQR.js`, unchanged), which decodes a QR
//! code image in the browser. All four are embedded at build time: nothing is fetched from
//! another host. The console holds no credential of its own: it calls the API with the service
//! token the person pastes in, and what it offers follows that token's scopes.
//!
//! Every response carries the same headers: a `Content-Security-Policy` that lets the page run
//! only its own script and style (no inline script or style, no `eval`) and connect only to
//! this origin, never be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), send no
//! `Referer` (`Referrer-Policy: no-referrer`), and `X-Content-Type-Options: nosniff`. The page
//! is `Cache-Control: no-store`; its files `no-cache` (revalidated, so a new binary's files are
//! used at once).
//!
//! These handlers are the console's only server side. No middleware is added and no API route
//! changes: the API's hot paths do exactly what they did before.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};

use crate::error::ApiError;

/// What the console's pages may do: load and connect to this origin only.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page.
const PAGE: &str = include_str!("console/index.html");

/// A file served under `/console/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every file served under `/console/`; no other name is.
const ASSETS: [Asset; 3] = [
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("console/console.js"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("console/console.css"),
    },
    Asset {
        name: "jsqr.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("console/jsqr.js"),
    },
];

/// The names of the files served under `/console/`.
#[cfg(test)]
pub(crate) fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// A `200` with the console's security headers.
fn secured(content_type: &'static str, cache: &'static str) -> HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)));
    b
}

/// `GET /console`: the console's page.
#[utoipa::path(
    get,
    path = crate::paths::CONSOLE,
    tag = "operations",
    operation_id = "get_console",
    summary = "The operator console",
    description = "An HTML page (the operator console): a browser client of this API, used with a service token the person pastes in (kept in the tab's `sessionStorage` only). Every file is served by this server; `Content-Security-Policy` allows this origin only and no framing, `Referrer-Policy: no-referrer`.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn page() -> HttpResponse {
    secured("text/html; charset=utf-8", "no-store").body(PAGE)
}

/// `GET /console/{asset}`: a file of the console.
#[utoipa::path(
    get,
    path = crate::paths::CONSOLE_ASSET,
    tag = "operations",
    operation_id = "get_console_asset",
    summary = "A file of the console",
    description = "The console's script, stylesheet and QR decoder (`console.js`, `console.css`, `jsqr.js`).",
    params(crate::schemas::ConsoleAssetPath),
    responses(
        (status = 200, description = "The file", content(("text/css"), ("text/javascript"))),
        (status = 404, description = "No such file", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn asset(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("asset").unwrap_or_default();
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => secured(a.content_type, "no-cache").body(a.body),
        None => ApiError::RouteNotFound.error_response(),
    }
}
