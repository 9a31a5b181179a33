//! The route table: every resource of the wire contract, its family, its methods and their
//! handlers, written once. `routes!` expands it into
//!
//! - [`register`]: the `.service(...)` calls of the crate's `configure`, in the table's order (actix
//!   tries routes in registration order and every pattern with a `{param}` costs a
//!   regular-expression match: the hottest routes come first; patterns never overlap, so the
//!   order changes nothing else). Each resource is named after its pattern (see
//!   [`crate::log::RequestLog`]) and answers any other method with its family's `405`, whose `Allow`
//!   is the table's methods;
//! - [`RoutesDoc`]: a derived [`utoipa::OpenApi`] whose `paths(...)` are the handlers of every
//!   `documented` entry (their `#[utoipa::path]` annotations), merged into the document by
//!   `openapi::document` (above this module: it imports the table, never the other way round);
//! - `TABLE`: the (pattern, `Allow`, documented) of every entry, for the tests.
//!
//! An entry is `family PATTERN documented|served_only { METHOD => handler, ... }`:
//!
//! - `family`: `inkbox` (the Inkbox family, the extensions and the operational paths: `405
//!   {"detail": ...}`) or `one_welcome` (the OneWelcome `405`, with its headers);
//! - `PATTERN`: a constant of [`crate::paths`];
//! - `served_only`: served, but documented by a `Modify` of `openapi.rs` rather than by its
//!   handlers' annotations (`/api/v1/identities/`, the same handlers as `/api/v1/identities`);
//! - `handler`: a path to an annotated handler, with its generic arguments as `<S>` (written
//!   without the turbofish: the router adds it, the document leaves the arguments out).

use actix_web::http::Method;
use actix_web::web;
use domain::ports::Store;

use crate::docs::{self, ServedDocument};
use crate::handlers::{accounts, apps, audit, device, identities, instances, one_welcome, ops, verify};
use crate::paths;

/// An entry of the table, as the tests see it.
#[cfg(test)]
pub(crate) struct Route {
    /// The pattern.
    pub(crate) path: &'static str,
    /// Its methods, as its `405`'s `Allow` header.
    pub(crate) allow: &'static str,
    /// Whether its handlers' annotations document it (else a `Modify` does).
    pub(crate) documented: bool,
}

/// The resource of each family: named after its pattern, with the family's `405`.
mod family {
    use actix_web::{Resource, web};

    use crate::handlers;

    /// The Inkbox family (and the extensions, the operational paths).
    pub(super) fn inkbox(path: &'static str, allow: &'static str) -> Resource {
        web::resource(path)
            .name(path)
            .default_service(web::to(move || async move { handlers::method_not_allowed(allow) }))
    }

    /// The OneWelcome family.
    pub(super) fn one_welcome(path: &'static str, allow: &'static str) -> Resource {
        web::resource(path)
            .name(path)
            .default_service(web::to(move || async move {
                handlers::one_welcome_method_not_allowed(allow)
            }))
    }
}

/// The `Allow` header of a list of methods: `GET, POST`.
macro_rules! allow {
    ($first:ident $(, $method:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($method))*)
    };
}

/// Whether an entry's handlers document it.
#[cfg(test)]
macro_rules! documented {
    (documented) => {
        true
    };
    (served_only) => {
        false
    };
}

/// Accumulates the handlers of the `documented` entries, then derives [`RoutesDoc`] over them
/// (an attribute's arguments are not macro-expanded: the list is built before the derive).
macro_rules! routes_doc {
    ([$($acc:tt)*]) => {
        /// The operations of every `documented` entry of the table.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($acc)*))]
        pub(crate) struct RoutesDoc;
    };
    ([$($acc:tt)*] documented [$($handler:tt)*] $($rest:tt)*) => {
        routes_doc!([$($acc)* $($handler)*] $($rest)*);
    };
    ([$($acc:tt)*] served_only [$($handler:tt)*] $($rest:tt)*) => {
        routes_doc!([$($acc)*] $($rest)*);
    };
}

/// Expands the table (see the module docs).
macro_rules! routes {
    ($(
        $family:ident $path:ident $doc:ident {
            $($method:ident => $($seg:ident)::+ $(<$($generic:ident),+>)?),+ $(,)?
        }
    )*) => {
        /// Registers every resource of the table, in its order; `/openapi.json` serves `D`.
        pub(crate) fn register<S: Store, D: ServedDocument>(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    family::$family(paths::$path, allow!($($method),+))
                        $(.route(web::method(Method::$method).to($($seg)::+ $(::<$($generic),+>)?)))+
                );
            )*
        }

        routes_doc!([] $($doc [$($($seg)::+ ,)+])*);

        /// Every entry of the table, in its order.
        #[cfg(test)]
        pub(crate) const TABLE: &[Route] = &[$(
            Route {
                path: paths::$path,
                allow: allow!($($method),+),
                documented: documented!($doc),
            },
        )*];
    };
}

routes! {
    // Inkbox authenticator
    inkbox GENERATE_OTP documented { POST => accounts::generate_otp<S> }
    inkbox VERIFY_OTP documented { POST => verify::verify_otp<S> }
    inkbox APPS documented { GET => apps::list<S>, POST => apps::create<S> }
    inkbox APP documented { GET => apps::get<S>, DELETE => apps::delete<S> }
    inkbox ACCOUNTS documented { GET => accounts::list<S>, POST => accounts::create<S> }
    inkbox ACCOUNT documented {
        GET => accounts::get<S>,
        PATCH => accounts::update<S>,
        DELETE => accounts::delete<S>,
    }
    // authd extension: instances
    inkbox INSTANCES documented { GET => instances::list<S>, POST => instances::enroll<S> }
    inkbox INSTANCE documented { GET => instances::get<S>, DELETE => instances::revoke<S> }
    // Inkbox identities: with and without the trailing slash, never redirected
    inkbox IDENTITIES documented { GET => identities::list<S>, POST => identities::create<S> }
    inkbox IDENTITIES_SLASH served_only { GET => identities::list<S>, POST => identities::create<S> }
    inkbox IDENTITY documented {
        GET => identities::get<S>,
        PATCH => identities::update<S>,
        DELETE => identities::delete<S>,
    }
    inkbox IDENTITY_APP documented {
        POST => identities::assign_app<S>,
        DELETE => identities::unlink_app<S>,
    }
    // authd extension: device API
    inkbox DEVICE_ACCOUNTS documented { GET => device::accounts<S> }
    inkbox DEVICE_GENERATE_OTP documented { POST => device::generate_otp<S> }
    inkbox DEVICE_VERIFY_OTP documented { POST => verify::verify_device_otp<S> }
    // OneWelcome end-user API
    one_welcome USER_APPS documented { GET => one_welcome::list<S> }
    one_welcome USER_APP documented { DELETE => one_welcome::revoke<S> }
    // authd extension: audit trail
    inkbox AUDIT_EVENTS documented { GET => audit::list<S> }
    // operations
    inkbox HEALTHZ documented { GET => ops::healthz }
    inkbox READYZ documented { GET => ops::readyz<S> }
    inkbox METRICS documented { GET => ops::metrics }
    // the OpenAPI document and its viewer
    inkbox OPENAPI documented { GET => docs::openapi_json<D> }
    inkbox DOCS documented { GET => docs::page }
    inkbox DOCS_ASSET documented { GET => docs::asset }
}
