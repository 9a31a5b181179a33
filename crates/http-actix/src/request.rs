//! Request bodies: one declaration each, which both parses the body and documents it in OpenAPI.
//!
//! `request_body!` turns a declaration such as
//!
//! ```ignore
//! request_body! {
//!     /// `PATCH .../accounts/{account_id}`: ...
//!     UpdateAccountRequest (if empty: EmptyObject) {
//!         display_name: Patch<Text<DisplayName>>,
//!         /// authd extension: the verification window, ...
//!         verify_window: Patch<Window>,
//!     }
//! }
//! ```
//!
//! into a struct of parsed domain values (`display_name: Patch<DisplayName>`), a `parse` that
//! reports every field's error at once, and a `utoipa::ToSchema` whose properties, `required`
//! list, nullability and limits come from the same field types. A declaration written
//! `UpdateAccountRequest (if empty: EmptyObject) -> AccountPatch { ... }` also converts into the
//! use case's input, field by field: its fields are exactly the input's, so a new field is
//! declared here once and never copied by hand (a field missing on either side does not
//! compile). A field's type says how its key
//! may appear ([`Required`], [`Optional`]: absent or `null` is `None`, [`Patch`]: absent keeps,
//! `null` clears) and which [`Rule`] its value follows; the rules take their limits from the
//! domain's constants (`DisplayName::MAX_CHARS`, `VerifyWindow::MAX`, `MAX_URI_CHARS`, ...),
//! so a limit is written once.
//!
//! The paths' UUIDs are declared the same way (`path_ids!`: the struct of ids, a `parse` that
//! reports every malformed id, the `IntoParams`). These two are the module's only macros, kept
//! for what a test could not guard: from one declaration they write both the parser and its
//! documentation, field by field (name, presence, nullability, limits, description), where a
//! hand-written pair could drift apart in any of them and a test would have to restate every
//! field to notice. The rest (the rules, the identity path, the audit query) is plain code,
//! unit-tested in `request/tests.rs`: every field error at once, absent vs `null` vs a value,
//! the limits at and one past the domain's constants, the paths and the query.
//!
//! Why this is hand-written rather than `#[derive(Deserialize, Validate, ToSchema)]`: the wire
//! contract is FastAPI's, and neither serde nor `validator` can express it. serde stops at the
//! first error while the contract lists every field's; serde's `Option` merges an absent key
//! with `null`, which PATCH must tell apart; pydantic's error types (`missing`, `string_type`,
//! `int_type` for `1.0`, `string_too_long` counted in characters) and messages are not theirs;
//! and utoipa's derive takes only literals for `max_length`/`maximum`, not the domain's
//! constants. The shape checks themselves (JSON object, string, integer range, length) are the
//! field-level helpers of [`crate::body`]. Where the derives do fit (the OneWelcome paths: raw
//! segments that cannot fail), they are used: `#[derive(Deserialize, IntoParams)]` and
//! `web::Path`.

use std::borrow::Cow;
use std::marker::PhantomData;

use actix_web::HttpRequest;
use domain::access::{HandlePattern, Scope, Scopes};
use domain::audit::{Action, AuditQuery, DEFAULT_PAGE, MAX_PAGE, ResourceType};
use domain::error::Resource;
use domain::ids::{AccountId, AppId, DeviceId, InstanceId, TokenId};
use domain::otp::{CodeInput, CodeShapeError, MAX_URI_CHARS, VerifyWindow};
use domain::service::{AccountPatch, AppPatch, NewAccount, NewApp, NewInstance, NewToken};
use domain::values::{
    self, Description, DeviceName, DisplayName, Handle, InvalidMetadata, InvalidValue, Metadata, Platform,
    TokenLifetime, TokenName,
};
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr, Required as IsRequired};

use crate::body::{self, Object};
use crate::error::{ApiError, FieldError};

/// What a field's value (present, and for [`Optional`] and [`Patch`] not `null`) must be, and
/// how it is documented.
pub(crate) trait Rule {
    /// The parsed value.
    type Out;
    /// Parses the value of the field `field`.
    fn parse(field: &str, v: &Value) -> Result<Self::Out, FieldError>;
    /// The value's schema.
    fn shape(nullable: bool) -> Shape;
}

/// A value's schema: inline, or a reference to a named component.
pub(crate) enum Shape {
    /// An inline schema (its type already says whether `null` is allowed).
    Inline(Box<ObjectBuilder>),
    /// An inline array (its type already says whether `null` is allowed).
    Array(Box<ArrayBuilder>),
    /// A `$ref` to `#/components/schemas/<name>`.
    Ref(&'static str),
}

fn inline(o: ObjectBuilder) -> Shape {
    Shape::Inline(Box::new(o))
}

fn of_type(t: Type, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::new(t)
    })
}

/// How a field's key may appear in the body.
pub(crate) trait Presence {
    /// The parsed field.
    type Out;
    /// Whether the key is required.
    const REQUIRED: bool;
    /// Whether `null` is accepted.
    const NULLABLE: bool;
    /// Reads the field `field` of the body.
    fn read(b: &Object, field: &str) -> Result<Self::Out, FieldError>;
}

/// The key is required (absent: `missing`); `null` is refused by the rule like any other wrong
/// type.
pub(crate) struct Required<R>(PhantomData<R>);

impl<R: Rule> Presence for Required<R> {
    type Out = R::Out;
    const REQUIRED: bool = true;
    const NULLABLE: bool = false;
    fn read(b: &Object, field: &str) -> Result<R::Out, FieldError> {
        match b.get(field) {
            None => Err(body::missing(field)),
            Some(v) => R::parse(field, v),
        }
    }
}

/// The key is optional; absent and `null` both mean "not given".
pub(crate) struct Optional<R>(PhantomData<R>);

impl<R: Rule> Presence for Optional<R> {
    type Out = Option<R::Out>;
    const REQUIRED: bool = false;
    const NULLABLE: bool = true;
    fn read(b: &Object, field: &str) -> Result<Option<R::Out>, FieldError> {
        match b.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => R::parse(field, v).map(Some),
        }
    }
}

/// The key is optional; absent and `null` both mean the value's default (empty metadata).
pub(crate) struct OrDefault<R>(PhantomData<R>);

impl<R: Rule> Presence for OrDefault<R>
where
    R::Out: Default,
{
    type Out = R::Out;
    const REQUIRED: bool = false;
    const NULLABLE: bool = true;
    fn read(b: &Object, field: &str) -> Result<R::Out, FieldError> {
        match b.get(field) {
            None | Some(Value::Null) => Ok(R::Out::default()),
            Some(v) => R::parse(field, v),
        }
    }
}

/// A PATCH field: absent keeps, `null` clears, a value sets.
pub(crate) struct Patch<R>(PhantomData<R>);

impl<R: Rule> Presence for Patch<R> {
    type Out = values::Patch<R::Out>;
    const REQUIRED: bool = false;
    const NULLABLE: bool = true;
    fn read(b: &Object, field: &str) -> Result<values::Patch<R::Out>, FieldError> {
        match b.get(field) {
            None => Ok(values::Patch::Keep),
            Some(Value::Null) => Ok(values::Patch::Clear),
            Some(v) => R::parse(field, v).map(values::Patch::Set),
        }
    }
}

// ------------------------------------------------------------------------------ the rules

/// A domain text value with a length range in Unicode scalar values.
pub(crate) trait BoundedText: Sized {
    /// Fewest characters.
    const MIN: usize;
    /// Most characters.
    const MAX: usize;
    /// The domain's parser.
    fn parse_text(s: String) -> Result<Self, InvalidValue>;
}

impl BoundedText for DisplayName {
    const MIN: usize = Self::MIN_CHARS;
    const MAX: usize = Self::MAX_CHARS;
    fn parse_text(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}

impl BoundedText for Description {
    const MIN: usize = Self::MIN_CHARS;
    const MAX: usize = Self::MAX_CHARS;
    fn parse_text(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}

impl BoundedText for TokenName {
    const MIN: usize = Self::MIN_CHARS;
    const MAX: usize = Self::MAX_CHARS;
    fn parse_text(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}

impl BoundedText for DeviceName {
    const MIN: usize = Self::MIN_CHARS;
    const MAX: usize = Self::MAX_CHARS;
    fn parse_text(s: String) -> Result<Self, InvalidValue> {
        Self::parse(s)
    }
}

/// A string of `T::MIN..=T::MAX` characters, parsed into `T` (`string_too_short`,
/// `string_too_long`).
pub(crate) struct Text<T>(PhantomData<T>);

impl<T: BoundedText> Rule for Text<T> {
    type Out = T;
    fn parse(field: &str, v: &Value) -> Result<T, FieldError> {
        body::text(field, body::string(field, v)?, T::MIN, T::MAX, T::parse_text)
    }
    fn shape(nullable: bool) -> Shape {
        let o = of_type(Type::String, nullable).max_length(Some(T::MAX));
        inline(if T::MIN > 0 { o.min_length(Some(T::MIN)) } else { o })
    }
}

/// An identity handle (one leading `@` stripped; `value_error`).
pub(crate) struct HandleRule;

impl Rule for HandleRule {
    type Out = Handle;
    fn parse(field: &str, v: &Value) -> Result<Handle, FieldError> {
        body::value(field, Handle::parse(body::string(field, v)?), "value_error")
    }
    fn shape(nullable: bool) -> Shape {
        let pattern = format!("^@?[A-Za-z0-9][A-Za-z0-9._-]{{0,{}}}$", Handle::MAX_CHARS - 1);
        inline(of_type(Type::String, nullable).pattern(Some(pattern)))
    }
}

/// An `otpauth://` URI, passed on as text: the use case parses it (its shape is `422`, its
/// parameters `400` after the app is found).
pub(crate) struct OtpAuthUriText;

impl Rule for OtpAuthUriText {
    type Out = String;
    fn parse(field: &str, v: &Value) -> Result<String, FieldError> {
        body::string(field, v).map(str::to_owned)
    }
    fn shape(nullable: bool) -> Shape {
        inline(of_type(Type::String, nullable).max_length(Some(MAX_URI_CHARS)))
    }
}

/// A typed code: 1 to [`CodeInput::MAX_CHARS`] ASCII digits (pydantic's messages; never the
/// input).
pub(crate) struct Code;

impl Rule for Code {
    type Out = CodeInput;
    fn parse(field: &str, v: &Value) -> Result<CodeInput, FieldError> {
        CodeInput::parse(body::string(field, v)?).map_err(|e| {
            let (msg, kind) = match e {
                CodeShapeError::Empty => (
                    Cow::Borrowed("String should have at least 1 character"),
                    "string_too_short",
                ),
                CodeShapeError::TooLong => (
                    Cow::Owned(format!(
                        "String should have at most {} characters",
                        CodeInput::MAX_CHARS
                    )),
                    "string_too_long",
                ),
                CodeShapeError::NotDigits => (
                    Cow::Borrowed("String should match pattern '^[0-9]+$'"),
                    "string_pattern_mismatch",
                ),
            };
            FieldError::new(&["body", field], msg, kind)
        })
    }
    fn shape(nullable: bool) -> Shape {
        inline(
            of_type(Type::String, nullable)
                .min_length(Some(1))
                .max_length(Some(CodeInput::MAX_CHARS))
                .pattern(Some("^[0-9]+$")),
        )
    }
}

/// `verify_window`: an integer in `0..=VerifyWindow::MAX`.
pub(crate) struct Window;

impl Rule for Window {
    type Out = VerifyWindow;
    fn parse(field: &str, v: &Value) -> Result<VerifyWindow, FieldError> {
        let n = body::bounded_int(field, v, 0, u64::from(VerifyWindow::MAX))?;
        // In range, so the conversion cannot fail.
        Ok(VerifyWindow::new(n).unwrap_or(VerifyWindow::TOTP_DEFAULT))
    }
    fn shape(nullable: bool) -> Shape {
        inline(
            of_type(Type::Integer, nullable)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                .minimum(Some(0))
                .maximum(Some(VerifyWindow::MAX)),
        )
    }
}

/// A platform name, case-insensitive, not trimmed (pydantic's `enum`).
pub(crate) struct PlatformName;

impl Rule for PlatformName {
    type Out = Platform;
    fn parse(field: &str, v: &Value) -> Result<Platform, FieldError> {
        body::value(field, Platform::parse(body::string(field, v)?), "enum")
    }
    fn shape(nullable: bool) -> Shape {
        inline(of_type(Type::String, nullable))
    }
}

/// An identity status, passed on as text: the use case checks it (`400`, after `404`/`409`).
pub(crate) struct StatusText;

impl Rule for StatusText {
    type Out = String;
    fn parse(field: &str, v: &Value) -> Result<String, FieldError> {
        body::string(field, v).map(str::to_owned)
    }
    fn shape(_nullable: bool) -> Shape {
        Shape::Ref("IdentityStatus")
    }
}

/// The caller's metadata: a JSON object of at most [`Metadata::MAX_KEYS`] string keys of 1 to
/// [`Metadata::MAX_KEY_CHARS`] characters and string values of at most
/// [`Metadata::MAX_VALUE_CHARS`], in pydantic's terms (`dict[constr, constr]` with a length):
/// `dict_type` for anything but an object, then each entry's `string_type` (at
/// `[..., key]`), then `too_long` for the number of keys, then a key's length or U+0000 (at
/// `[..., key, "[key]"]`) or a value's (at `[..., key]`). Never echoes a value.
pub(crate) struct MetadataObject;

impl MetadataObject {
    /// A refused key or value string, at `loc`, in pydantic's wording.
    fn string_refused(loc: &[&str], reason: InvalidValue) -> FieldError {
        match reason {
            InvalidValue::Empty => FieldError::new(loc, "String should have at least 1 character", "string_too_short"),
            InvalidValue::TooLong { max } => FieldError::new(
                loc,
                format!("String should have at most {max} characters"),
                "string_too_long",
            ),
            InvalidValue::ContainsNul => {
                FieldError::new(loc, "String should not contain U+0000", "string_pattern_mismatch")
            }
            other => FieldError::value(loc, other, "value_error"),
        }
    }
}

impl Rule for MetadataObject {
    type Out = Metadata;
    fn parse(field: &str, v: &Value) -> Result<Metadata, FieldError> {
        let Value::Object(map) = v else {
            return Err(FieldError::new(
                &["body", field],
                "Input should be a valid dictionary",
                "dict_type",
            ));
        };
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            match value {
                Value::String(s) => entries.push((key.clone(), s.clone())),
                _ => {
                    return Err(FieldError::new(
                        &["body", field, key],
                        "Input should be a valid string",
                        "string_type",
                    ));
                }
            }
        }
        Metadata::parse(entries).map_err(|e| match e {
            InvalidMetadata::TooManyKeys => FieldError::new(
                &["body", field],
                format!(
                    "Dictionary should have at most {} items after validation, not {}",
                    Metadata::MAX_KEYS,
                    map.len()
                ),
                "too_long",
            ),
            InvalidMetadata::Key { key, reason } => Self::string_refused(&["body", field, &key, "[key]"], reason),
            InvalidMetadata::Value { key, reason } => Self::string_refused(&["body", field, &key], reason),
        })
    }
    fn shape(nullable: bool) -> Shape {
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(Metadata::MAX_KEY_CHARS));
        let value = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(Metadata::MAX_VALUE_CHARS));
        inline(
            of_type(Type::Object, nullable)
                .max_properties(Some(Metadata::MAX_KEYS))
                .property_names(Some(key))
                .additional_properties(Some(value)),
        )
    }
}

/// A UUID naming a record (`uuid_parsing`).
pub(crate) struct Uuid<T>(PhantomData<T>);

/// An id parsed from any form the `uuid` crate accepts.
pub(crate) trait UuidId: Sized {
    /// The domain's parser.
    fn parse_id(s: &str) -> Option<Self>;
}

impl UuidId for AppId {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s)
    }
}

impl UuidId for AccountId {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s)
    }
}

impl UuidId for InstanceId {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s)
    }
}

impl UuidId for TokenId {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s)
    }
}

impl UuidId for DeviceId {
    fn parse_id(s: &str) -> Option<Self> {
        Self::parse(s)
    }
}

impl<T: UuidId> Rule for Uuid<T> {
    type Out = T;
    fn parse(field: &str, v: &Value) -> Result<T, FieldError> {
        body::uuid(field, body::string(field, v)?, T::parse_id)
    }
    fn shape(nullable: bool) -> Shape {
        inline(of_type(Type::String, nullable).format(Some(SchemaFormat::Custom("uuid".to_owned()))))
    }
}

// ------------------------------------------------------------------------- the declarations

/// A doc comment's text as utoipa renders it: lines without their leading space, joined by
/// newlines; `None` when there is none.
fn doc(lines: &[&str]) -> Option<String> {
    (!lines.is_empty()).then(|| {
        lines
            .iter()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A field's schema: its rule's shape, with its description and examples.
fn property(shape: Shape, nullable: bool, description: Option<String>, examples: &[&str]) -> RefOr<Schema> {
    match shape {
        Shape::Inline(o) => {
            let o = (*o).description(description);
            let o = if examples.is_empty() {
                o
            } else {
                o.examples(examples.iter().copied())
            };
            RefOr::T(Schema::Object(o.build()))
        }
        Shape::Array(a) => RefOr::T(Schema::Array((*a).description(description).build())),
        Shape::Ref(name) => {
            let mut r = Ref::from_schema_name(name);
            r.description = description.unwrap_or_default();
            if nullable {
                RefOr::T(Schema::OneOf(
                    OneOfBuilder::new()
                        .item(ObjectBuilder::new().schema_type(Type::Null))
                        .item(r)
                        .build(),
                ))
            } else {
                RefOr::Ref(r)
            }
        }
    }
}

// ------------------------------------------------------------------------- token API rules

/// The items of a JSON array field (`list_type` for anything else).
fn list<'a>(field: &str, v: &'a Value) -> Result<&'a [Value], FieldError> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(FieldError::new(
            &["body", field],
            "Input should be a valid list",
            "list_type",
        )),
    }
}

/// Each string item of a list parsed by `parse`, errors at `["body", field, index]`.
fn list_of<T>(
    field: &str,
    v: &Value,
    mut parse: impl FnMut(&[&str], &str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    let items = list(field, v)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let index = i.to_string();
        let loc = ["body", field, index.as_str()];
        match item {
            Value::String(s) => out.push(parse(&loc, s)?),
            _ => return Err(FieldError::new(&loc, "Input should be a valid string", "string_type")),
        }
    }
    Ok(out)
}

fn string_list(nullable: bool, item: ObjectBuilder, min_items: Option<usize>) -> Shape {
    let t = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::new(Type::Array)
    };
    Shape::Array(Box::new(
        ArrayBuilder::new().schema_type(t).items(item).min_items(min_items),
    ))
}

/// A non-empty list of scope names (`list_type`, `too_short`, each item's `enum`).
pub(crate) struct ScopeList;

impl Rule for ScopeList {
    type Out = Scopes;
    fn parse(field: &str, v: &Value) -> Result<Scopes, FieldError> {
        let names = Scope::ALL
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let scopes = list_of(field, v, |loc, s| {
            Scope::parse(s).ok_or_else(|| FieldError::new(loc, format!("Input should be one of {names}"), "enum"))
        })?;
        if scopes.is_empty() {
            return Err(FieldError::new(
                &["body", field],
                "List should have at least 1 item after validation, not 0",
                "too_short",
            ));
        }
        Ok(Scopes::of(&scopes))
    }
    fn shape(nullable: bool) -> Shape {
        let item = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Scope::ALL.iter().map(|s| s.as_str())));
        string_list(nullable, item, Some(1))
    }
}

/// Identity handle patterns: a handle, or a handle prefix and one trailing `*` (`value_error`).
pub(crate) struct PatternList;

impl Rule for PatternList {
    type Out = Vec<HandlePattern>;
    fn parse(field: &str, v: &Value) -> Result<Vec<HandlePattern>, FieldError> {
        list_of(field, v, |loc, s| {
            HandlePattern::parse(s).map_err(|why| FieldError::new(loc, format!("Value error, {why}"), "value_error"))
        })
    }
    fn shape(nullable: bool) -> Shape {
        let pattern = format!(
            "^@?([A-Za-z0-9][A-Za-z0-9._-]{{0,{}}}|[A-Za-z0-9._-]*\\*)$",
            Handle::MAX_CHARS - 1
        );
        string_list(
            nullable,
            ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)),
            None,
        )
    }
}

/// App ids (`uuid_parsing`).
pub(crate) struct AppIdList;

impl Rule for AppIdList {
    type Out = Vec<AppId>;
    fn parse(field: &str, v: &Value) -> Result<Vec<AppId>, FieldError> {
        list_of(field, v, |loc, s| {
            AppId::parse(s).ok_or_else(|| FieldError::new(loc, "Input should be a valid UUID", "uuid_parsing"))
        })
    }
    fn shape(nullable: bool) -> Shape {
        let item = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".to_owned())));
        string_list(nullable, item, None)
    }
}

/// A token lifetime in whole seconds, one minute to ten years (`int_type`,
/// `greater_than_equal`, `less_than_equal`).
pub(crate) struct LifetimeSeconds;

impl Rule for LifetimeSeconds {
    type Out = TokenLifetime;
    fn parse(field: &str, v: &Value) -> Result<TokenLifetime, FieldError> {
        let (min, max) = (
            TokenLifetime::MIN_SECONDS.unsigned_abs(),
            TokenLifetime::MAX_SECONDS.unsigned_abs(),
        );
        let n = body::bounded_int(field, v, min, max)?;
        i64::try_from(n)
            .ok()
            .and_then(|n| TokenLifetime::from_seconds(n).ok())
            .ok_or_else(|| FieldError::new(&["body", field], "Input should be a valid integer", "int_type"))
    }
    fn shape(nullable: bool) -> Shape {
        inline(
            of_type(Type::Integer, nullable)
                .minimum(Some(TokenLifetime::MIN_SECONDS))
                .maximum(Some(TokenLifetime::MAX_SECONDS)),
        )
    }
}

/// Declares a request body: the struct of its parsed fields, its `parse`, and its schema (see
/// the module docs); with `-> Target`, also `From<Body> for Target`, field by field.
macro_rules! request_body {
    (
        $(#[doc = $doc:literal])*
        $name:ident (if empty: $empty:ident) -> $target:path {
            $(
                $(#[doc = $fdoc:literal])*
                $(#[example = $ex:literal])?
                $field:ident: $presence:ident<$rule:ty>,
            )+
        }
    ) => {
        request_body! {
            $(#[doc = $doc])*
            $name (if empty: $empty) {
                $(
                    $(#[doc = $fdoc])*
                    $(#[example = $ex])?
                    $field: $presence<$rule>,
                )+
            }
        }

        impl From<$name> for $target {
            fn from(body: $name) -> Self {
                Self { $($field: body.$field,)+ }
            }
        }
    };
    (
        $(#[doc = $doc:literal])*
        $name:ident (if empty: $empty:ident) {
            $(
                $(#[doc = $fdoc:literal])*
                $(#[example = $ex:literal])?
                $field:ident: $presence:ident<$rule:ty>,
            )+
        }
    ) => {
        $(#[doc = $doc])*
        pub(crate) struct $name {
            $(
                $(#[doc = $fdoc])*
                pub(crate) $field: <$presence<$rule> as Presence>::Out,
            )+
        }

        impl $name {
            /// Parses the body, reporting every field's error (in declaration order).
            pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Vec<FieldError>> {
                let b = body::object(bytes, body::IfEmpty::$empty).map_err(|e| vec![e])?;
                $( let $field = <$presence<$rule> as Presence>::read(&b, stringify!($field)); )+
                match ($($field,)+) {
                    ($(Ok($field),)+) => Ok(Self { $($field,)+ }),
                    ($($field,)+) => Err([$($field.err(),)+].into_iter().flatten().collect()),
                }
            }
        }

        impl crate::input::FromBody for $name {
            fn from_body(bytes: &[u8]) -> Result<Self, Vec<FieldError>> {
                Self::parse(bytes)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let mut o = ObjectBuilder::new().schema_type(Type::Object).description(doc(&[$($doc),*]));
                $(
                    o = o.property(
                        stringify!($field),
                        property(
                            <$rule as Rule>::shape(<$presence<$rule> as Presence>::NULLABLE),
                            <$presence<$rule> as Presence>::NULLABLE,
                            doc(&[$($fdoc),*]),
                            &[$($ex)?],
                        ),
                    );
                    if <$presence<$rule> as Presence>::REQUIRED {
                        o = o.required(stringify!($field));
                    }
                )+
                RefOr::T(Schema::Object(o.build()))
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

request_body! {
    /// `POST /api/v1/tokens` (authd extension): a token never broader than the calling one.
    CreateTokenRequest (if empty: Missing) {
        /// A name to recognise it by (1-255 characters).
        #[example = "agent sales-eu-1"]
        name: Optional<Text<TokenName>>,
        /// What it may do: at least one scope.
        scopes: Required<ScopeList>,
        /// Confines it to these identities: handles (pinned to today's identity with that
        /// handle) or a prefix and `*` (every identity whose handle starts so, now or later).
        /// With `apps`: either grants. Absent, `null` or empty (and no `apps`): the whole
        /// organization.
        identities: OrDefault<PatternList>,
        /// Confines it to these apps (they must exist).
        apps: OrDefault<AppIdList>,
        /// Its lifetime in seconds (60 to 315360000). Absent or `null`: until revoked, or the
        /// tightest bound that applies (the organization's maximum lifetime, the calling
        /// token's own expiry).
        expires_in_seconds: Optional<LifetimeSeconds>,
    }
}

impl From<CreateTokenRequest> for NewToken {
    fn from(body: CreateTokenRequest) -> Self {
        Self {
            name: body.name,
            scopes: body.scopes,
            identities: body.identities,
            apps: body.apps,
            lifetime: body.expires_in_seconds,
        }
    }
}

request_body! {
    /// `POST /api/v1/authenticator/apps`. An empty body counts as `{}`.
    CreateAppRequest (if empty: EmptyObject) -> NewApp {
        /// Links the new app to this identity (`null` or absent: unlinked).
        #[example = "bot"]
        agent_handle: Optional<HandleRule>,
        /// authd extension: the caller's own string keys and values (at most 50 keys of 1-40
        /// characters, values of at most 500). Absent or `null`: none (`{}`).
        metadata: OrDefault<MetadataObject>,
    }
}

request_body! {
    /// `PATCH /api/v1/authenticator/apps/{app_id}` (authd extension): a key present with `null`
    /// clears the field, an absent key leaves it. An empty body counts as `{}`.
    UpdateAppRequest (if empty: EmptyObject) -> AppPatch {
        /// New metadata, replacing the old whole (at most 50 keys of 1-40 characters, values of
        /// at most 500); `null` clears it to `{}`.
        metadata: Patch<MetadataObject>,
    }
}

request_body! {
    /// `POST .../accounts`.
    CreateAccountRequest (if empty: Missing) -> NewAccount {
        /// `otpauth://totp/...` or `otpauth://hotp/...` (scheme and type case-insensitive). Its
        /// parameters (`secret`, `algorithm`, `digits`, `period`, `counter`) are checked after the
        /// app exists: a bad one is `400`.
        #[example = "otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"]
        otpauth_uri: Required<OtpAuthUriText>,
        display_name: Optional<Text<DisplayName>>,
        description: Optional<Text<Description>>,
        /// authd extension: TOTP steps on either side of the current one, or HOTP counters past
        /// the stored one, that `verify` accepts. Absent or `null`: the default (TOTP 1, HOTP
        /// 10). Not an integer in 0..=10: `422`.
        verify_window: Optional<Window>,
        /// authd extension: the caller's own string keys and values (at most 50 keys of 1-40
        /// characters, values of at most 500). Absent or `null`: none (`{}`).
        metadata: OrDefault<MetadataObject>,
    }
}

request_body! {
    /// `PATCH .../accounts/{account_id}`: any subset; a key present with `null` clears the field,
    /// an absent key leaves it. An empty body counts as `{}`.
    UpdateAccountRequest (if empty: EmptyObject) -> AccountPatch {
        display_name: Patch<Text<DisplayName>>,
        description: Patch<Text<Description>>,
        /// authd extension: the verification window, 0..=10; `null` resets it to the default.
        verify_window: Patch<Window>,
        /// authd extension: new metadata, replacing the old whole (at most 50 keys of 1-40
        /// characters, values of at most 500); `null` clears it to `{}`.
        metadata: Patch<MetadataObject>,
    }
}

request_body! {
    /// `POST .../verify`.
    VerifyRequest (if empty: Missing) {
        /// The code the user typed: 1 to 10 ASCII digits (anything else is `422`, not counted).
        /// Digits of another length than the account's are simply `invalid`.
        #[example = "004512"]
        otp_code: Required<Code>,
    }
}

request_body! {
    /// `POST /api/v1/identities`.
    CreateIdentityRequest (if empty: Missing) {
        /// The new identity's handle (one leading `@` is stripped).
        #[example = "bot"]
        agent_handle: Required<HandleRule>,
    }
}

request_body! {
    /// `PATCH /api/v1/identities/{agent_handle}`: rename and/or pause; `null` counts as absent.
    /// An empty body counts as `{}`.
    UpdateIdentityRequest (if empty: EmptyObject) {
        /// A new handle.
        agent_handle: Optional<HandleRule>,
        /// `active` or `paused` (another string is `400`).
        status: Optional<StatusText>,
    }
}

request_body! {
    /// `POST /api/v1/identities/{agent_handle}/authenticator_app`.
    AssignAppRequest (if empty: Missing) {
        authenticator_app_id: Required<Uuid<AppId>>,
    }
}

request_body! {
    /// `POST .../instances`.
    EnrollInstanceRequest (if empty: Missing) -> NewInstance {
        #[example = "Alice's Pixel"]
        device_name: Required<Text<DeviceName>>,
        /// `ANDROID`, `IOS`, `WEB`, `WINDOWS`, `MACOS`, `LINUX` or `OTHER`, case-insensitive (not
        /// trimmed).
        #[example = "ANDROID"]
        platform: Required<PlatformName>,
        /// Generated when absent or `null`.
        device_id: Optional<Uuid<DeviceId>>,
    }
}

// ------------------------------------------------------------------------------- paths

/// Declares the UUID parameters of a path: the struct of parsed ids, its `parse` (every
/// malformed id reported at once: `422` with `loc: ["path", name]`, type `uuid_parsing`), and
/// its `utoipa::IntoParams`, from one list.
macro_rules! path_ids {
    (
        $(#[doc = $doc:literal])*
        $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $field:ident: $ty:ty,
            )+
        }
    ) => {
        $(#[doc = $doc])*
        pub(crate) struct $name {
            $(
                $(#[doc = $fdoc])*
                pub(crate) $field: $ty,
            )+
        }

        impl $name {
            /// Parses the path's ids, reporting every malformed one (in path order).
            pub(crate) fn parse(req: &HttpRequest) -> Result<Self, Vec<FieldError>> {
                $( let $field = body::path_id(req, stringify!($field), <$ty as UuidId>::parse_id); )+
                match ($($field,)+) {
                    ($(Ok($field),)+) => Ok(Self { $($field,)+ }),
                    ($($field,)+) => Err([$($field.err(),)+].into_iter().flatten().collect()),
                }
            }
        }

        impl crate::input::FromPath for $name {
            fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
                Self::parse(req).map_err(ApiError::Invalid)
            }
        }

        impl utoipa::IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![$(
                    ParameterBuilder::new()
                        .name(stringify!($field))
                        .parameter_in(ParameterIn::Path)
                        .description(doc(&[$($fdoc),*]))
                        .required(IsRequired::True)
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .format(Some(SchemaFormat::Custom("uuid".to_owned()))),
                        ))
                        .build(),
                )+]
            }
        }
    };
}

path_ids! {
    /// `{app_id}`.
    AppPath {
        /// The app's id: a UUID (any form the `uuid` crate parses; anything else is `422`).
        app_id: AppId,
    }
}

path_ids! {
    /// `/api/v1/tokens/{token_id}`.
    TokenPath {
        /// The token's id: a UUID (anything else is `422`).
        token_id: TokenId,
    }
}

path_ids! {
    /// `{app_id}/accounts/{account_id}`.
    AccountPath {
        /// The app's id: a UUID (anything else is `422`).
        app_id: AppId,
        /// The account's id: a UUID of an account of that app (anything else is `422`).
        account_id: AccountId,
    }
}

path_ids! {
    /// `{app_id}/instances/{instance_id}`.
    InstancePath {
        /// The app's id: a UUID (anything else is `422`).
        app_id: AppId,
        /// The instance's id: a UUID of an instance of that app (anything else is `422`).
        instance_id: InstanceId,
    }
}

path_ids! {
    /// The device API's `{account_id}`.
    DeviceAccountPath {
        /// An account of the device's app: a UUID (anything else is `422`).
        account_id: AccountId,
    }
}

/// `{agent_handle}`: a handle, `@` stripped; one that is not a valid handle is simply not found
/// (`404`, as for a handle no identity has), never a `422`.
pub(crate) struct IdentityPath;

impl IdentityPath {
    /// The handle in the path, or the identity's `404`.
    pub(crate) fn parse(req: &HttpRequest) -> Result<Handle, ApiError> {
        req.match_info()
            .get("agent_handle")
            .and_then(|h| Handle::parse(h).ok())
            .ok_or(ApiError::Domain(domain::Error::NotFound(Resource::Identity)))
    }
}

impl utoipa::IntoParams for IdentityPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("agent_handle")
                .parameter_in(ParameterIn::Path)
                .description(Some(
                    "The identity's handle; one leading `@` is stripped (unencoded `@` accepted). A value\n\
                     that is not a valid handle is `404`.",
                ))
                .required(IsRequired::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .example(Some(serde_json::json!("bot")))
                .build(),
        ]
    }
}

/// OneWelcome `{user_id}`: a raw segment (the use case parses it: an invalid handle is simply
/// not found). Plain strings cannot fail, so `serde` and utoipa's derives express it whole.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct UserPath {
    /// The user: the identity's `agent_handle` (one leading `@` is stripped).
    #[param(example = "bot")]
    pub(crate) user_id: String,
}

/// OneWelcome `{user_id}/.../{instance_id}`: raw segments, as [`UserPath`].
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct UserAppPath {
    /// The user: the identity's `agent_handle` (one leading `@` is stripped).
    #[param(example = "bot")]
    pub(crate) user_id: String,
    /// The instance's id (a value that is not a UUID is simply not found: `404`).
    pub(crate) instance_id: String,
}

// ------------------------------------------------------------------------------- queries

/// The query of `GET /api/v1/audit/events`: every parameter optional, unknown ones ignored,
/// every bad one reported. The page size's bounds are the domain's (`DEFAULT_PAGE`,
/// `MAX_PAGE`), in the parser, its messages and the document alike.
pub(crate) struct AuditEventsQuery;

impl AuditEventsQuery {
    /// Parses the query string into the domain's [`AuditQuery`].
    pub(crate) fn parse(req: &HttpRequest) -> Result<AuditQuery, Vec<FieldError>> {
        let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|_| vec![FieldError::new(&["query"], "Invalid query string", "value_error")])?
            .into_inner();
        let mut q = AuditQuery {
            limit: DEFAULT_PAGE,
            ..AuditQuery::default()
        };
        let mut errors = Vec::new();
        let mut bad = |name: &str, msg: Cow<'static, str>| {
            errors.push(FieldError::new(&["query", name], msg, "value_error"));
        };
        for (name, value) in &pairs {
            match name.as_str() {
                "after" => match value.parse::<u64>() {
                    Ok(n) => q.after = Some(n),
                    Err(_) => bad("after", "Must be a cursor returned as `next`".into()),
                },
                "before" => match value.parse::<u64>() {
                    Ok(n) => q.before = Some(n),
                    Err(_) => bad("before", "Must be a cursor returned as `next`".into()),
                },
                "order" => match value.as_str() {
                    "asc" => q.newest_first = false,
                    "desc" => q.newest_first = true,
                    _ => bad("order", "Must be `asc` or `desc`".into()),
                },
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_PAGE).contains(&n) => q.limit = n,
                    _ => bad("limit", format!("Must be an integer from 1 to {MAX_PAGE}").into()),
                },
                "action" => match Action::parse(value) {
                    Some(a) => q.action = Some(a),
                    None => bad("action", "Unknown action".into()),
                },
                "resource_type" => match ResourceType::parse(value) {
                    Some(t) => q.resource_type = Some(t),
                    None => bad("resource_type", "Unknown resource type".into()),
                },
                "resource_id" => match uuid::Uuid::parse_str(value) {
                    Ok(id) => q.resource_id = Some(id),
                    Err(_) => bad("resource_id", "Must be a UUID".into()),
                },
                _ => {}
            }
        }
        if errors.is_empty() { Ok(q) } else { Err(errors) }
    }
}

impl utoipa::IntoParams for AuditEventsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let param = |name: &str, description: String, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(description))
                .required(IsRequired::False)
                .schema(Some(schema))
                .build()
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let types = ResourceType::ALL
            .iter()
            .map(|t| format!("`{}`", t.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        vec![
            param(
                "after",
                "Only events after this cursor (the `next` of a previous page, oldest first)".to_owned(),
                string(),
            ),
            param(
                "before",
                "Only events before this cursor (the `next` of a previous page, newest first)".to_owned(),
                string(),
            ),
            param(
                "order",
                "`asc` (default): oldest first; `desc`: newest first (the newest `limit` events below `before`)"
                    .to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["asc", "desc"]))
                    .default(Some(serde_json::json!("asc"))),
            ),
            param(
                "limit",
                format!("Page size, 1 to {MAX_PAGE} (default {DEFAULT_PAGE})"),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                    .minimum(Some(1))
                    .maximum(Some(MAX_PAGE)),
            ),
            param("action", "Only this action, e.g. `app.create`".to_owned(), string()),
            param("resource_type", format!("Only this kind of record: {types}"), string()),
            param("resource_id", "Only this record (a UUID)".to_owned(), string()),
        ]
    }
}

#[cfg(test)]
mod tests;
