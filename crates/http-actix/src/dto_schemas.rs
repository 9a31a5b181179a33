//! Schemas of the values the DTOs (`respond.rs`) write as plain strings or constants, named by
//! their `ToSchema` derives (`value_type = ...`, `schema_with = ...`). Documentation only: these
//! types are described, never built. A leaf: it imports nothing from the crate.

#![expect(dead_code, reason = "documentation-only types: they are described, never built")]

use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Why a code was refused.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum FailureReason {
    Invalid,
    Replayed,
}

/// The state of a record. A read only ever returns live records: `active`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum RecordStatus {
    Active,
    Deleted,
}

/// A string enum whose values are the domain's own list, so the document cannot name a value
/// the parser refuses or miss one it accepts. A macro (the module's only one) because its doc
/// comment is also the schema's description, as with utoipa's derives: one text, which plain
/// code would have to write twice and no test could keep equal.
macro_rules! wire_enum {
    ($(#[doc = $doc:literal])* $name:ident = $values:expr) => {
        $(#[doc = $doc])*
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let doc = [$($doc),*].map(|l: &str| l.strip_prefix(' ').unwrap_or(l)).join("\n");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(doc))
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

wire_enum! {
    /// The state of an identity: a paused identity's codes cannot be generated (`403`).
    IdentityStatus = domain::values::IdentityStatus::NAMES
}

wire_enum! {
    /// The kind of an OTP account.
    OtpType = domain::otp::OtpType::ALL.map(|t| t.as_str())
}

wire_enum! {
    /// The HMAC of an OTP account (always written lower-case).
    Algorithm = domain::otp::Algorithm::ALL.map(|a| a.as_str())
}

wire_enum! {
    /// A device platform (upper-case on output; case-insensitive on input).
    Platform = domain::values::Platform::NAMES
}

/// The schema of a field that is always `null`.
pub(crate) fn null_schema() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// The schema of a field that is always `true`.
pub(crate) fn true_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// The schema of a field that is always `false`.
pub(crate) fn false_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([false]))
        .build()
}
