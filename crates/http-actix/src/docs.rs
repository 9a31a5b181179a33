//! `GET /openapi.json` (the OpenAPI document, rendered by `openapi.rs`) and `GET /docs`: an
//! interactive viewer of it (Swagger UI), served entirely from the binary, for machines that
//! are offline.
//!
//! The page (`docs/index.html`) and its initializer (`docs/init.js`) are ours; Swagger UI's
//! stylesheet and bundle come from `utoipa-swagger-ui` with its `vendored` feature (the
//! Swagger UI release shipped inside a crate, embedded at build time: no download, no CDN).
//! Every URL on the page is relative to `/docs` (so the page also works under a path prefix),
//! and its `Content-Security-Policy` lets the browser load nothing from another origin.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

/// The document `GET /openapi.json` serves, given to the routes as a type: it is rendered
/// by `openapi.rs`, which sits above the routes (see the layering in the crate's docs).
pub(crate) trait ServedDocument: 'static {
    /// The document as served, or `None` when it could not be rendered (`500`).
    fn json() -> Option<&'static str>;
}

/// `GET /openapi.json`: the document `D` renders.
#[utoipa::path(
    get,
    path = crate::paths::OPENAPI,
    tag = "operations",
    operation_id = "get_openapi",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 document of every path of the API, generated from the code.",
    responses(
        (status = 200, description = "The document", content_type = "application/json", body = Object),
    ),
)]
pub(crate) async fn openapi_json<D: ServedDocument>() -> HttpResponse {
    match D::json() {
        Some(doc) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(doc),
        None => ApiError::Internal.error_response(),
    }
}

/// The page.
const PAGE: &str = include_str!("docs/index.html");
/// Starts Swagger UI on `/openapi.json`.
const INIT_JS: &str = include_str!("docs/init.js");

/// The Swagger UI files the page uses; no other embedded file is served.
const SWAGGER_UI_FILES: [&str; 3] = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"];

/// Same origin only; Swagger UI sets inline styles and uses `data:` images.
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
);

/// A file served under `/docs/`.
struct Asset {
    name: &'static str,
    content_type: String,
    bytes: Bytes,
}

/// The files, looked up once.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let config = Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"]));
    let mut assets = vec![Asset {
        name: "init.js",
        content_type: "text/javascript; charset=utf-8".to_owned(),
        bytes: Bytes::from_static(INIT_JS.as_bytes()),
    }];
    for name in SWAGGER_UI_FILES {
        match utoipa_swagger_ui::serve(name, config.clone()) {
            Ok(Some(file)) => assets.push(Asset {
                name,
                content_type: file.content_type,
                bytes: match file.bytes {
                    Cow::Borrowed(b) => Bytes::from_static(b),
                    Cow::Owned(v) => Bytes::from(v),
                },
            }),
            Ok(None) => tracing::error!(asset = name, "Swagger UI asset is not embedded"),
            Err(e) => tracing::error!(error = %e, asset = name, "Swagger UI asset could not be read"),
        }
    }
    assets
});

/// The names of the files served under `/docs/`.
#[cfg(test)]
pub(crate) fn asset_names() -> impl Iterator<Item = &'static str> {
    ["init.js"].into_iter().chain(SWAGGER_UI_FILES)
}

/// `GET /docs`: the viewer's page.
#[utoipa::path(
    get,
    path = crate::paths::DOCS,
    tag = "operations",
    operation_id = "get_docs",
    summary = "Interactive viewer of this document",
    description = "An HTML page (Swagger UI) rendering `/openapi.json`; every asset is served by this server.",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .body(PAGE)
}

/// `GET /docs/{asset}`: a file of the viewer.
#[utoipa::path(
    get,
    path = crate::paths::DOCS_ASSET,
    tag = "operations",
    operation_id = "get_docs_asset",
    summary = "A file of the viewer",
    description = "The viewer's stylesheet, scripts and icon (`swagger-ui.css`, `swagger-ui-bundle.js`, `init.js`, \
        `favicon-32x32.png`).",
    params(crate::schemas::AssetPath),
    responses(
        (status = 200, description = "The file", content(
            ("text/css"), ("text/javascript"), ("image/png")
        )),
        (status = 404, description = "No such file", body = crate::schemas::DetailError),
    ),
)]
pub(crate) async fn asset(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("asset").unwrap_or_default();
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type.as_str()))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
            .body(a.bytes.clone()),
        None => ApiError::RouteNotFound.error_response(),
    }
}
