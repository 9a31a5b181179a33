//! Request bodies and path parameters: size limit, JSON parsing whatever the `Content-Type`,
//! and the FastAPI-style `422` items for every shape failure.
//!
//! Bodies are read as raw bytes (never through `web::Json`, which refuses a missing
//! `Content-Type` and answers in plain text) and parsed into a `serde_json::Map`, so that a key
//! present with `null` (clear) can be told apart from an absent key (keep). Unknown keys are
//! ignored.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use domain::values::InvalidValue;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// The largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 65_536;

/// A JSON object body.
pub(crate) type Object = Map<String, Value>;

/// What an empty body means for an endpoint.
#[derive(Clone, Copy)]
pub(crate) enum IfEmpty {
    /// `{}`: every field of the endpoint is optional.
    EmptyObject,
    /// `422` missing: the endpoint has a required field.
    Missing,
}

/// `413` when the request announces a body larger than the limit (any path, before anything
/// else is looked at).
pub(crate) fn announced_too_large(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > MAX_BODY_BYTES))
}

/// Reads the whole body, at most [`MAX_BODY_BYTES`] (also when no `Content-Length` was sent).
pub(crate) async fn read(payload: web::Payload) -> Result<web::Bytes, ApiError> {
    match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(ApiError::BodyUnreadable)
        }
        Err(_) => Err(ApiError::PayloadTooLarge),
    }
}

/// Parses a body as one JSON object.
pub(crate) fn object(bytes: &[u8], if_empty: IfEmpty) -> Result<Object, FieldError> {
    if bytes.is_empty() {
        return match if_empty {
            IfEmpty::EmptyObject => Ok(Map::new()),
            IfEmpty::Missing => Err(FieldError::new(&["body"], "Field required", "missing")),
        };
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(FieldError::new(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )),
        Err(e) => Err(FieldError::new(&["body"], json_error_message(&e), "json_invalid")),
    }
}

/// A message that never echoes the input (a body may carry a secret).
fn json_error_message(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "JSON decode error: unexpected end of input",
        serde_json::error::Category::Syntax => "JSON decode error: invalid syntax",
        serde_json::error::Category::Data => "JSON decode error: invalid data",
        serde_json::error::Category::Io => "JSON decode error: unreadable input",
    }
}

fn loc(field: &str) -> [&str; 2] {
    ["body", field]
}

/// `missing`: a required key is absent.
pub(crate) fn missing(field: &str) -> FieldError {
    FieldError::new(&loc(field), "Field required", "missing")
}

fn not_a_string(field: &str) -> FieldError {
    FieldError::new(&loc(field), "Input should be a valid string", "string_type")
}

fn checked<'a>(field: &str, s: &'a str) -> Result<&'a str, FieldError> {
    if s.contains('\0') {
        Err(FieldError::new(
            &loc(field),
            "String should not contain U+0000",
            "string_pattern_mismatch",
        ))
    } else {
        Ok(s)
    }
}

/// A string value (`string_type` for anything else, `null` included; U+0000 refused).
pub(crate) fn string<'a>(field: &str, v: &'a Value) -> Result<&'a str, FieldError> {
    match v {
        Value::String(s) => checked(field, s),
        _ => Err(not_a_string(field)),
    }
}

/// An integer in `min..=max` (absent from a body is the caller's to handle): pydantic's
/// `int_type` for anything but a JSON integer (`1.0` and `"1"` included),
/// `greater_than_equal` / `less_than_equal` outside the range.
pub(crate) fn bounded_int(field: &str, v: &Value, min: u64, max: u64) -> Result<u64, FieldError> {
    let below = || {
        FieldError::new(
            &loc(field),
            format!("Input should be greater than or equal to {min}"),
            "greater_than_equal",
        )
    };
    let n = match v {
        Value::Number(n) if n.is_u64() => n.as_u64().unwrap_or_default(),
        Value::Number(n) if n.is_i64() => return Err(below()),
        _ => {
            return Err(FieldError::new(
                &loc(field),
                "Input should be a valid integer",
                "int_type",
            ));
        }
    };
    if n < min {
        return Err(below());
    }
    if n > max {
        return Err(FieldError::new(
            &loc(field),
            format!("Input should be less than or equal to {max}"),
            "less_than_equal",
        ));
    }
    Ok(n)
}

/// A bounded text value (`DisplayName`, `Description`, `DeviceName`): lengths in Unicode scalar
/// values, `string_too_short` / `string_too_long` like pydantic.
pub(crate) fn text<T>(
    field: &str,
    s: &str,
    min: usize,
    max: usize,
    parse: impl FnOnce(String) -> Result<T, InvalidValue>,
) -> Result<T, FieldError> {
    let n = s.chars().count();
    if n < min {
        return Err(FieldError::new(
            &loc(field),
            format!(
                "String should have at least {min} character{}",
                if min == 1 { "" } else { "s" }
            ),
            "string_too_short",
        ));
    }
    if n > max {
        return Err(FieldError::new(
            &loc(field),
            format!("String should have at most {max} characters"),
            "string_too_long",
        ));
    }
    parse(s.to_owned()).map_err(|e| FieldError::value(&loc(field), e, "value_error"))
}

/// A value parsed by a domain parser whose failure is a plain `value_error`.
pub(crate) fn value<T>(field: &str, parsed: Result<T, InvalidValue>, kind: &'static str) -> Result<T, FieldError> {
    parsed.map_err(|e| FieldError::value(&loc(field), e, kind))
}

/// A UUID in a body.
pub(crate) fn uuid<T>(field: &str, s: &str, parse: fn(&str) -> Option<T>) -> Result<T, FieldError> {
    parse(s).ok_or_else(|| FieldError::new(&loc(field), "Input should be a valid UUID", "uuid_parsing"))
}

/// A UUID in the path (`422` with `loc: ["path", name]` when it is not one).
pub(crate) fn path_id<T>(req: &HttpRequest, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, FieldError> {
    req.match_info()
        .get(name)
        .and_then(parse)
        .ok_or_else(|| FieldError::new(&["path", name], "Input should be a valid UUID", "uuid_parsing"))
}
