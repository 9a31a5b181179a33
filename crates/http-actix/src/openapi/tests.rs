//! The document against the code (snapshot, served routes), against the contract (operation
//! ids, statuses per operation) and against the bodies the DTOs really produce; and the viewer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode, header};
use actix_web::test as at;
use actix_web::{App, web};
use domain::ids::OrgId;
use domain::service::{NewAccount, NewInstance};
use domain::values::{DeviceName, Handle, Platform};
use serde::Serialize;
use serde_json::{Value, json};

use super::*;
use crate::respond::{
    AccountDto, AppDto, EnrollmentDto, IdentityDetailDto, IdentityDto, InstanceDto, LockoutDto, OtpDto,
    UserInstanceDto, VerificationDto,
};

fn header_str<B>(res: &ServiceResponse<B>, name: header::HeaderName) -> String {
    res.headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn doc() -> Value {
    serde_json::to_value(document()).expect("the document serializes")
}

/// Every operation: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

// ------------------------------------------------------------------------- 1. snapshot

#[test]
fn openapi_document_matches_the_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let want = document_json().expect("the document serializes");
    if std::env::var_os("AUTHD_BLESS").is_some() {
        std::fs::write(path, &want).expect("write docs/openapi.json");
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    let first_difference = have.lines().zip(want.lines()).position(|(h, w)| h != w).map_or_else(
        || format!("{} lines, {} expected", have.lines().count(), want.lines().count()),
        |i| format!("first difference at line {}", i + 1),
    );
    assert!(
        have == want,
        "docs/openapi.json is out of date ({first_difference}); \
         run AUTHD_BLESS=1 cargo test -p http-actix openapi"
    );
}

#[test]
fn openapi_document_is_3_1_with_its_security_schemes() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["service_token"],
        json!({"type": "apiKey", "in": "header", "name": "X-Service-Token",
               "description": "A service token (`authd token create`); the org is the token's org."})
    );
    assert_eq!(schemes["service_bearer"]["type"], "http");
    assert_eq!(schemes["service_bearer"]["scheme"], "bearer");
    assert_eq!(schemes["device_bearer"]["scheme"], "bearer");
}

// ------------------------------------------------------------------------- 2. route parity

/// A request path for a route pattern (every placeholder takes a UUID, which is also a valid
/// handle and a file name).
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str("0190c0de-0000-7000-8000-000000000001");
        let end = rest[start..].find('}').expect("closing brace") + start;
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"];

/// The document's operations, as (path, upper-case methods).
fn documented_methods(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, method, _) in operations(doc) {
        paths.entry(path).or_default().insert(method.to_uppercase());
    }
    paths
}

#[actix_web::test]
async fn router_answers_exactly_the_documented_operations_and_its_405s_say_so() {
    let documented = documented_methods(&doc());
    assert!(documented.len() >= 20, "the document has {} paths", documented.len());

    let authd = Arc::new(domain::testkit::kit().authd);
    let app = App::new()
        .configure(|c| crate::configure(c, authd))
        .default_service(web::to(crate::not_found));
    let service = at::init_service(app).await;
    for (pattern, methods) in &documented {
        let mut answered = BTreeSet::new();
        for m in METHODS {
            let req = at::TestRequest::default()
                .method(Method::from_bytes(m.as_bytes()).expect("method"))
                .uri(&concrete(pattern))
                .to_request();
            let res = at::call_service(&service, req).await;
            let allow = (res.status() == StatusCode::METHOD_NOT_ALLOWED).then(|| header_str(&res, header::ALLOW));
            let name = res.request().match_name();
            // Each path reaches the resource named after it: distinct resources, one per path.
            assert_eq!(name, Some(pattern.as_str()), "{m} {pattern}: not routed to {pattern}");
            match allow {
                None => {
                    answered.insert(m.to_owned());
                }
                Some(allow) => {
                    let listed: Vec<&str> = allow.split(", ").collect();
                    let unique: BTreeSet<String> = listed.iter().map(|m| (*m).to_owned()).collect();
                    assert_eq!(
                        unique.len(),
                        listed.len(),
                        "{pattern}: Allow {allow:?} repeats a method"
                    );
                    assert_eq!(
                        &unique, methods,
                        "{m} {pattern}: Allow {allow:?} vs the documented methods"
                    );
                }
            }
        }
        assert_eq!(
            &answered, methods,
            "{pattern}: the methods answered vs the documented ones"
        );
    }
}

#[test]
fn router_has_no_resource_beyond_the_documented_paths() {
    // Every documented path reaches its own resource (above): as many resources as paths means
    // no resource is left undocumented.
    let resources = crate::routes::resources::<domain::testkit::InMemoryStore, Served>();
    assert_eq!(
        resources.len(),
        documented_methods(&doc()).len(),
        "resources registered vs paths documented"
    );
}

#[test]
fn openapi_annotations_document_every_path_but_the_slash_twin() {
    // `/api/v1/identities/` is documented by `IdentitiesSlash` (the same handlers as
    // `/api/v1/identities`, whose annotations name one path); the handlers' annotations
    // (`RoutesDoc`) document every other path, with the same methods.
    let mut by_annotations = documented_methods(&doc());
    let slash = by_annotations.remove(crate::paths::IDENTITIES_SLASH);
    assert_eq!(slash.as_ref(), by_annotations.get(crate::paths::IDENTITIES));
    let annotated = serde_json::to_value(crate::routes::RoutesDoc::openapi()).expect("serializes");
    assert_eq!(documented_methods(&annotated), by_annotations);
}

#[test]
fn openapi_path_parameters_match_the_path_templates() {
    for (path, method, op) in operations(&doc()) {
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{method} {path}: path parameters are required");
                p["name"].as_str().expect("name").to_owned()
            })
            .collect();
        assert_eq!(declared, in_template, "{method} {path}");
    }
}

// ------------------------------------------------------------------------- 3. ids and statuses

/// Every operation and the statuses `docs/HTTP-API.md` documents for it: its table's
/// (with `422` on every operation with UUID path ids or a body, and `500` where the table names
/// it), plus the conventions' `413` ("a request body larger than 65,536 bytes, on any path"),
/// added to every operation by the test. The two verify operations are authd extensions
/// (docs/API.md): generation's statuses less `409`, plus `429`.
const DOCUMENTED_STATUSES: &[(&str, &[u16])] = &[
    ("create_app", &[201, 401, 404, 409, 422]),
    ("list_apps", &[200, 401]),
    ("get_app", &[200, 401, 404, 422]),
    // authd extension: the app's metadata.
    ("update_app", &[200, 401, 404, 422]),
    ("delete_app", &[204, 401, 404, 422]),
    ("create_account", &[201, 400, 401, 404, 422]),
    ("list_accounts", &[200, 401, 404, 422]),
    ("get_account", &[200, 401, 404, 422]),
    ("update_account", &[200, 401, 404, 422]),
    ("delete_account", &[204, 401, 404, 422]),
    ("generate_otp", &[200, 401, 403, 404, 409, 422, 500]),
    ("verify_otp", &[200, 401, 403, 404, 422, 429, 500]),
    ("create_identity", &[201, 401, 409, 422]),
    ("create_identity_slash", &[201, 401, 409, 422]),
    ("list_identities", &[200, 401]),
    ("list_identities_slash", &[200, 401]),
    ("get_identity", &[200, 401, 404]),
    ("update_identity", &[200, 400, 401, 404, 409, 422]),
    ("delete_identity", &[204, 401, 404]),
    ("assign_authenticator_app", &[200, 401, 404, 409, 422]),
    ("unlink_authenticator_app", &[204, 401, 404]),
    ("enroll_instance", &[201, 401, 403, 404, 409, 422]),
    ("list_instances", &[200, 401, 404, 422]),
    ("get_instance", &[200, 401, 404, 422]),
    ("revoke_instance", &[204, 401, 404, 422]),
    ("list_device_accounts", &[200, 401]),
    ("generate_device_otp", &[200, 401, 403, 404, 409, 422, 500]),
    ("verify_device_otp", &[200, 401, 403, 404, 422, 429, 500]),
    ("list_user_authentication_apps", &[200, 401, 404]),
    ("delete_user_authentication_app", &[204, 401, 404]),
    // authd extension (docs/API.md): the audit trail.
    ("list_audit_events", &[200, 401, 422]),
    // authd extension: the token API (every scope-needing operation also documents 403).
    ("list_tokens", &[200, 401]),
    ("create_token", &[201, 401, 403, 404, 422]),
    ("get_token_self", &[200, 401]),
    ("revoke_token", &[204, 401, 404, 422]),
    ("get_healthz", &[200]),
    ("get_readyz", &[200, 503]),
    ("get_metrics", &[200]),
    ("get_openapi", &[200]),
    ("get_docs", &[200]),
    ("get_docs_asset", &[200, 404]),
    // authd extension: an account's lockout (docs/API.md), and the console's files.
    ("get_account_lockout", &[200, 401, 404, 422]),
    ("get_console", &[200]),
    ("get_console_asset", &[200, 404]),
];

/// The route → scope table covers exactly the document's operations (which the other tests
/// hold to the router): a route added without a row in `routes::NEEDS` fails here, and so does
/// a service-token operation without a scope.
#[test]
fn every_operation_needs_exactly_one_scope_from_the_one_table() {
    use crate::routes::{NEEDS, Need};
    let doc = doc();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(p, m, _)| (p, m.to_uppercase()))
        .collect();
    let needs: BTreeSet<(String, String)> = NEEDS
        .iter()
        .map(|(p, m, _)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(
        needs.len(),
        NEEDS.len(),
        "a (path, method) has two rows in routes::NEEDS"
    );
    assert_eq!(documented, needs, "the document's operations vs routes::NEEDS");
    for (path, method, op) in operations(&doc) {
        let (_, _, need) = NEEDS
            .iter()
            .find(|(p, m, _)| *p == path && m.eq_ignore_ascii_case(&method))
            .expect("checked above");
        assert_eq!(op["x-required-scope"], json!(need.as_str()), "{method} {path}");
        let service = op["security"].to_string().contains("service_token");
        assert_eq!(
            service,
            matches!(need, Need::Scope(_) | Need::AnyToken),
            "{method} {path}: a service-token operation needs a scope (or reads the token itself)"
        );
    }
}

fn is_snake_case(id: &str) -> bool {
    id.split('_')
        .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
}

#[test]
fn openapi_operation_ids_are_unique_snake_case() {
    let mut seen = BTreeSet::new();
    for (path, method, op) in operations(&doc()) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            is_snake_case(id),
            "{method} {path}: operationId {id:?} is not ^[a-z]+(_[a-z]+)*$"
        );
        assert!(seen.insert(id.to_owned()), "operationId {id} is not unique");
    }
}

#[test]
fn openapi_operations_list_their_documented_statuses_and_credentials() {
    let expected: BTreeMap<&str, BTreeSet<String>> = DOCUMENTED_STATUSES
        .iter()
        .map(|(id, statuses)| (*id, statuses.iter().chain(&[413]).map(u16::to_string).collect()))
        .collect();
    let mut listed = BTreeSet::new();
    for (path, method, op) in operations(&doc()) {
        let id = op["operationId"].as_str().expect("operationId");
        listed.insert(id.to_owned());
        let statuses: BTreeSet<String> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect();
        let want = expected
            .get(id)
            .unwrap_or_else(|| panic!("{method} {path} ({id}) is not in DOCUMENTED_STATUSES"));
        let mut want = want.clone();
        if op["x-required-scope"].as_str().is_some_and(|s| !s.starts_with("none")) {
            want.insert("403".to_owned());
        }
        assert_eq!(statuses, want, "{method} {path} ({id})");

        let security: Vec<String> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().expect("requirement").keys().cloned())
            .collect();
        let operational = op["tags"] == json!(["operations"]);
        if operational {
            assert!(!statuses.contains("401"), "{id}: operational paths have no auth");
            assert!(security.is_empty(), "{id}: operational paths have no auth");
        } else if path.starts_with("/api/v1/device/") {
            assert!(statuses.contains("401"), "{id}: no 401");
            assert_eq!(security, ["device_bearer"], "{id}");
        } else {
            assert!(statuses.contains("401"), "{id}: no 401");
            assert_eq!(security, ["service_token", "service_bearer"], "{id}");
        }
    }
    let expected_ids: BTreeSet<String> = expected.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        listed, expected_ids,
        "operations in the document vs DOCUMENTED_STATUSES"
    );
}

#[test]
fn openapi_error_bodies_are_of_the_path_family() {
    let doc = doc();
    let responses = &doc["components"]["responses"];
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !status.starts_with('4') && !status.starts_with('5') || status == "503" {
                continue;
            }
            let response = match response["$ref"].as_str() {
                Some(r) => &responses[r.trim_start_matches("#/components/responses/")],
                None => response,
            };
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            let want = if path.starts_with("/oauth/") {
                "#/components/schemas/OneWelcomeError"
            } else if status == "422" {
                "#/components/schemas/ValidationError"
            } else if status == "429" {
                // The Inkbox `{"detail"}` with the seconds to wait beside it.
                "#/components/schemas/TooManyAttempts"
            } else {
                "#/components/schemas/DetailError"
            };
            assert_eq!(schema, want, "{method} {path} {status}");
            if path.starts_with("/oauth/") {
                let headers = response["headers"].as_object().expect("OneWelcome headers");
                assert!(headers.contains_key("Cache-Control") && headers.contains_key("Pragma"));
            }
        }
    }
}

/// Every `$ref` of the document points at something it defines.
#[test]
fn openapi_references_resolve() {
    fn walk(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let doc = doc();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }
}

// ------------------------------------------------------------------------- schemas vs DTOs

/// A small JSON Schema check, enough for the document's own schemas: `$ref`, `allOf`, `oneOf`,
/// `type` (one or several), `enum`, `properties` / `required` (and no other keys), `items`.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .ok_or(format!("{at}: unresolved {r}"))?;
        return check(doc, target, value, at);
    }
    if let Some(all) = schema["allOf"].as_array() {
        // The parts of a flattened object: each checks its own keys.
        let mut keys = BTreeSet::new();
        for part in all {
            keys.extend(object_keys(doc, part));
        }
        let obj = value.as_object().ok_or(format!("{at}: not an object"))?;
        let extra: Vec<_> = obj.keys().filter(|k| !keys.contains(*k)).collect();
        if !extra.is_empty() {
            return Err(format!("{at}: keys not in the schema: {extra:?}"));
        }
        for part in all {
            let own: serde_json::Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| object_keys(doc, part).contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            check(doc, part, &Value::Object(own), at)?;
        }
        return Ok(());
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let matching = one.iter().filter(|s| check(doc, s, value, at).is_ok()).count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{at}: {value} matches {matching} of oneOf"))
        };
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} not in {values:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let number = actual == "integer" && types.contains(&"number");
        if !types.contains(&actual) && !number {
            return Err(format!("{at}: {value} is {actual}, not {types:?}"));
        }
    }
    if let Value::Object(obj) = value
        && let Some(props) = schema["properties"].as_object()
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !obj.contains_key(key) {
                return Err(format!("{at}: required key {key} missing"));
            }
        }
        for (k, v) in obj {
            let prop = props.get(k).ok_or(format!("{at}: key {k} not in the schema"))?;
            check(doc, prop, v, &format!("{at}.{k}"))?;
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(doc, item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The property names of an object schema (through `$ref` and `allOf`).
fn object_keys(doc: &Value, schema: &Value) -> BTreeSet<String> {
    keys_of(doc, schema, |s| {
        s["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    })
}

/// The required property names of an object schema (through `$ref` and `allOf`).
fn required_keys(doc: &Value, schema: &Value) -> BTreeSet<String> {
    keys_of(doc, schema, |s| {
        s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn keys_of(doc: &Value, schema: &Value, own: fn(&Value) -> BTreeSet<String>) -> BTreeSet<String> {
    if let Some(r) = schema["$ref"].as_str() {
        return doc
            .pointer(r.trim_start_matches('#'))
            .map(|s| keys_of(doc, s, own))
            .unwrap_or_default();
    }
    let mut keys = own(schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        keys.extend(keys_of(doc, part, own));
    }
    keys
}

/// A body of a DTO matches its component schema, and every key of the schema is in the body
/// (the DTOs never skip a field: absent values are `null`).
fn assert_matches(doc: &Value, name: &str, dto: &impl Serialize) {
    let value = serde_json::to_value(dto).expect("serializes");
    let schema = &doc["components"]["schemas"][name];
    assert!(!schema.is_null(), "no schema {name}");
    if let Err(e) = check(doc, schema, &value, name) {
        panic!("{name}: {e}\n{value:#}");
    }
    let keys: BTreeSet<String> = value.as_object().expect("object").keys().cloned().collect();
    assert_eq!(
        keys,
        object_keys(doc, schema),
        "{name}: the body's keys vs the schema's properties"
    );
    assert_eq!(
        keys,
        required_keys(doc, schema),
        "{name}: the body's keys vs the schema's required keys"
    );
}

#[test]
fn openapi_schemas_describe_the_bodies_the_dtos_produce() {
    let doc = doc();
    let kit = domain::testkit::kit();
    let authd = &kit.authd;
    let org = domain::audit::Caller::new(OrgId::new("org_acme").expect("org"), domain::audit::Actor::Cli);
    let bot = Handle::parse("bot").expect("handle");

    let identity = authd.create_identity(&org, bot.clone()).expect("identity");
    assert_matches(&doc, "IdentitySummary", &IdentityDto::new(&identity));
    let unlinked = authd.create_app(&org, None).expect("app");
    assert_matches(&doc, "App", &AppDto::new(&unlinked));
    let detail = authd.get_identity(&org, &bot).expect("detail");
    assert_matches(&doc, "IdentityDetail", &IdentityDetailDto::new(&detail));
    let app = authd.create_app(&org, Some(&bot)).expect("linked app");
    assert_matches(&doc, "App", &AppDto::new(&app));
    let detail = authd.get_identity(&org, &bot).expect("detail");
    assert_matches(&doc, "IdentityDetail", &IdentityDetailDto::new(&detail));

    for uri in [
        "otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
        "otpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256&digits=8&counter=7",
    ] {
        let input = NewAccount {
            otpauth_uri: uri.to_owned(),
            display_name: None,
            description: None,
            verify_window: None,
            metadata: domain::values::Metadata::parse([("customer".to_owned(), "cus_42".to_owned())])
                .expect("metadata"),
        };
        let account = authd.create_account(&org, *app.id(), input).expect("account");
        assert_matches(&doc, "Account", &AccountDto::new(&account));
        let code = authd.generate_otp(&org, *app.id(), *account.id()).expect("code");
        assert_matches(&doc, "Otp", &OtpDto::new(&code));

        // Verification: the HOTP code just generated is used (replayed), the TOTP one is valid.
        let typed = domain::otp::CodeInput::parse(&code.code).expect("digits");
        let verified = authd
            .verify_otp(&org, *app.id(), *account.id(), &typed)
            .expect("verification");
        let (name, other) = match verified {
            domain::service::Verification::Valid { .. } => ("VerificationValid", "VerificationFailed"),
            domain::service::Verification::Invalid { .. } => ("VerificationFailed", "VerificationValid"),
        };
        let body = VerificationDto::new(&verified);
        assert_matches(&doc, name, &body);
        let value = serde_json::to_value(&body).expect("serializes");
        assert!(check(&doc, &doc["components"]["schemas"][other], &value, other).is_err());
        if let Err(e) = check(
            &doc,
            &doc["components"]["schemas"]["Verification"],
            &value,
            "Verification",
        ) {
            panic!("{e}: {value}");
        }
        // The lockout, after that verification (a refused code locks the account for 1 s).
        let lockout = authd.account_lockout(&org, *app.id(), *account.id()).expect("lockout");
        assert_matches(&doc, "Lockout", &LockoutDto::new(&lockout));
    }

    let input = NewInstance {
        device_name: DeviceName::parse("Alice's Pixel".to_owned()).expect("device name"),
        platform: Platform::parse("android").expect("platform"),
        device_id: None,
    };
    let enrollment = authd.enroll_instance(&org, *app.id(), input).expect("enrollment");
    assert_matches(&doc, "Enrollment", &EnrollmentDto::new(&enrollment));
    assert_matches(&doc, "Instance", &InstanceDto::new(&enrollment.instance));
    assert_matches(&doc, "UserInstance", &UserInstanceDto::new(&enrollment.instance));
    let listed = json!({"authentication_app_instances": [UserInstanceDto::new(&enrollment.instance)]});
    assert_matches(&doc, "UserInstances", &listed);

    let errors = [
        (json!({"detail": "Invalid service token"}), "DetailError"),
        (
            json!({"detail": "Too many failed attempts", "retry_after_seconds": 2}),
            "TooManyAttempts",
        ),
        (
            json!({"detail": [{"loc": ["body", "x"], "msg": "Field required", "type": "missing"}]}),
            "ValidationError",
        ),
        (json!({"error": "Unauthorized"}), "OneWelcomeError"),
        (json!({"status": "ok"}), "HealthStatus"),
    ];
    for (body, name) in errors {
        assert_matches(&doc, name, &body);
    }
}

#[actix_web::test]
async fn openapi_error_schemas_describe_the_served_error_bodies() {
    let doc = doc();
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    for (uri, name) in [
        ("/api/v1/authenticator/apps", "DetailError"),
        ("/oauth/api/v1/users/bot/authentication/apps", "OneWelcomeError"),
    ] {
        let res = at::call_service(&service, at::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = at::read_body_json(res).await;
        assert_matches(&doc, name, &body);
    }
}

// ------------------------------------------------------------------------- 4. the served document and viewer

#[actix_web::test]
async fn openapi_json_is_served_without_auth() {
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    let res = at::call_service(&service, at::TestRequest::get().uri("/openapi.json").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_str(&res, header::CONTENT_TYPE), "application/json");
    let body = at::read_body(res).await;
    assert_eq!(body, document_json().expect("serializes").as_bytes());

    // 413 on any path, these too.
    for uri in ["/openapi.json", "/docs", "/docs/init.js"] {
        let req = at::TestRequest::get()
            .uri(uri)
            .set_payload(vec![b' '; 70_000])
            .to_request();
        let res = at::call_service(&service, req).await;
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
    }

    let req = at::TestRequest::post().uri("/openapi.json").to_request();
    let res = at::call_service(&service, req).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_str(&res, header::ALLOW), "GET");
    let body: Value = at::read_body_json(res).await;
    assert_eq!(body, json!({"detail": "Method Not Allowed"}));
}

/// The `src`/`href` values of a page.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            urls.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    urls
}

#[actix_web::test]
async fn docs_page_loads_only_local_assets_and_they_are_served() {
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    let res = at::call_service(&service, at::TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_str(&res, header::CONTENT_TYPE).starts_with("text/html"));
    let csp = header_str(&res, header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = String::from_utf8(at::read_body(res).await.to_vec()).expect("utf-8");
    assert!(html.contains("<script") && html.contains("stylesheet"), "{html}");

    let urls = linked_urls(&html);
    assert!(urls.len() >= 4, "{urls:?}");
    let mut fetched = BTreeSet::new();
    for url in &urls {
        assert!(
            !url.contains("://") && !url.starts_with("//") && !url.starts_with('/'),
            "{url}: the page must link only relative, same-origin URLs"
        );
        // Relative to `/docs`, i.e. to `/`.
        let res = at::call_service(&service, at::TestRequest::get().uri(&format!("/{url}")).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "/{url}");
        let content_type = header_str(&res, header::CONTENT_TYPE);
        let body = at::read_body(res).await;
        assert!(body.len() > 100, "/{url}: {} bytes", body.len());
        let want = match url.rsplit('.').next() {
            Some("css") => "text/css",
            Some("js") => "javascript",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => "text/html",
        };
        assert!(content_type.contains(want), "/{url}: {content_type}");
        fetched.insert(url.trim_start_matches("docs/").to_owned());
    }
    // Every file served under /docs/ is one the page uses.
    for name in crate::docs::asset_names() {
        assert!(fetched.contains(name), "/docs/{name} is served but not linked");
    }

    let res = at::call_service(&service, at::TestRequest::get().uri("/docs/index.html").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: Value = at::read_body_json(res).await;
    assert_eq!(body, json!({"detail": "Not Found"}));
}

#[actix_web::test]
async fn docs_initializer_points_at_the_served_document() {
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    let res = at::call_service(&service, at::TestRequest::get().uri("/docs/init.js").to_request()).await;
    let js = String::from_utf8(at::read_body(res).await.to_vec()).expect("utf-8");
    assert!(js.contains(r#"url: "openapi.json""#), "{js}");
    assert!(!js.contains("http://") && !js.contains("https://"), "{js}");
}

// ------------------------------------------------------------------------- the console

#[actix_web::test]
async fn console_page_and_files_are_served_with_the_security_headers() {
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    let res = at::call_service(&service, at::TestRequest::get().uri("/console").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_str(&res, header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header_str(&res, header::CACHE_CONTROL), "no-store");
    let check_headers = |res: &ServiceResponse<_>, what: &str| {
        let csp = header_str(res, header::CONTENT_SECURITY_POLICY);
        for part in [
            "default-src 'none'",
            "script-src 'self';",
            "style-src 'self';",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{what}: {part} not in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{what}: {csp}");
        assert_eq!(header_str(res, header::REFERRER_POLICY), "no-referrer", "{what}");
        assert_eq!(header_str(res, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{what}");
        assert_eq!(header_str(res, header::X_FRAME_OPTIONS), "DENY", "{what}");
    };
    check_headers(&res, "/console");
    let html = String::from_utf8(at::read_body(res).await.to_vec()).expect("utf-8");
    // No inline script or style: every script has a src, no style element or attribute.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"").count(),
        "{html}"
    );
    assert!(!html.contains("<style") && !html.contains(" style="), "{html}");
    // No inline event handler attribute (` onload=`, ` onclick=`, ...).
    let handler = html.split(" on").skip(1).find(|rest| {
        let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(handler.is_none(), "an inline handler: on{handler:?}");

    let mut fetched = BTreeSet::new();
    for url in linked_urls(&html) {
        if url.starts_with('#') || url.starts_with("data:") || url == "docs" {
            continue;
        }
        assert!(
            !url.contains("://") && !url.starts_with("//") && !url.starts_with('/'),
            "{url}: the page must link only relative, same-origin URLs"
        );
        let res = at::call_service(&service, at::TestRequest::get().uri(&format!("/{url}")).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "/{url}");
        check_headers(&res, &url);
        assert_eq!(header_str(&res, header::CACHE_CONTROL), "no-cache", "/{url}");
        let content_type = header_str(&res, header::CONTENT_TYPE);
        let want = if url.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(content_type.starts_with(want), "/{url}: {content_type}");
        let body = String::from_utf8(at::read_body(res).await.to_vec()).expect("utf-8");
        assert!(body.len() > 100, "/{url}");
        fetched.insert(url.trim_start_matches("console/").to_owned());
    }
    for name in crate::console::asset_names() {
        assert!(fetched.contains(name), "/console/{name} is served but not linked");
    }
    let res = at::call_service(&service, at::TestRequest::get().uri("/console/index.html").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn console_script_renders_data_as_text_and_keeps_the_token_in_session_storage() {
    let authd = Arc::new(domain::testkit::kit().authd);
    let service = at::init_service(crate::app(authd)).await;
    let res = at::call_service(&service, at::TestRequest::get().uri("/console/console.js").to_request()).await;
    let js = String::from_utf8(at::read_body(res).await.to_vec()).expect("utf-8");
    // Never HTML from strings, never a token anywhere but sessionStorage.
    for banned in [
        ".innerHTML",
        ".outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "document.cookie",
        "console.log",
        "http://",
        "https://",
    ] {
        assert!(!js.contains(banned), "console.js contains {banned}");
    }
    assert!(js.contains("sessionStorage"));
    // Every API call goes to a relative `api/v1/` URL (this origin).
    assert!(js.contains(r#"const API = "api/v1/";"#));
}
