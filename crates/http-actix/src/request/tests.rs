//! The rules of `request.rs` where they live: each body's parser (every field error at once,
//! absent vs `null` vs a value, the limits at and one past the domain's constants, wrong JSON
//! types, unknown keys), the UUID paths, the identity path and the audit query. The same rules
//! over HTTP: `crates/server/tests/api/scenarios/*.rs` and `tests/system/bad_input.rs`.

use actix_web::HttpRequest;
use actix_web::test::TestRequest;
use domain::audit::{Action, AuditQuery, DEFAULT_PAGE, MAX_PAGE, ResourceType};
use domain::error::Resource;
use domain::ids::{AccountId, AppId, DeviceId, InstanceId};
use domain::otp::{CodeInput, MAX_URI_CHARS, VerifyWindow};
use domain::values::{self, Description, DeviceName, DisplayName, Handle, Metadata, Platform};
use serde_json::{Value, json};

use super::*;

const APP: &str = "0190c0de-0000-7000-8000-000000000001";
const ACCOUNT: &str = "0190c0de-0000-7000-8000-000000000002";

/// The item of a `422` at `loc`.
fn item(loc: &[&str], msg: &str, kind: &'static str) -> FieldError {
    FieldError::new(loc, msg, kind)
}

/// The body's bytes.
fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serializes")
}

/// The parsed value, or a panic with the errors.
fn ok<T>(parsed: Result<T, Vec<FieldError>>) -> T {
    parsed.unwrap_or_else(|e| panic!("refused: {e:?}"))
}

/// The errors, or a panic.
fn refused<T>(parsed: Result<T, Vec<FieldError>>) -> Vec<FieldError> {
    match parsed {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

/// `n` characters of two bytes each: lengths are counted in characters, not bytes.
fn chars(n: usize) -> String {
    "é".repeat(n)
}

fn string_type(field: &str) -> FieldError {
    item(&["body", field], "Input should be a valid string", "string_type")
}

fn too_long(field: &str, max: usize) -> FieldError {
    item(
        &["body", field],
        &format!("String should have at most {max} characters"),
        "string_too_long",
    )
}

// ------------------------------------------------------------------------- the body as a whole

#[test]
fn every_field_error_is_reported_at_once_in_declaration_order() {
    let body = json!({
        "verify_window": VerifyWindow::MAX + 1,
        "description": chars(Description::MAX_CHARS + 1),
        "display_name": 7,
        "otpauth_uri": null,
    });
    assert_eq!(
        refused(CreateAccountRequest::parse(&bytes(&body))),
        [
            string_type("otpauth_uri"),
            string_type("display_name"),
            too_long("description", Description::MAX_CHARS),
            item(
                &["body", "verify_window"],
                &format!("Input should be less than or equal to {}", VerifyWindow::MAX),
                "less_than_equal"
            ),
        ]
    );

    // Two required keys missing, and a bad optional one: three items.
    assert_eq!(
        refused(EnrollInstanceRequest::parse(&bytes(&json!({"device_id": "nope"})))),
        [
            item(&["body", "device_name"], "Field required", "missing"),
            item(&["body", "platform"], "Field required", "missing"),
            item(&["body", "device_id"], "Input should be a valid UUID", "uuid_parsing"),
        ]
    );
}

#[test]
fn an_empty_body_is_an_empty_object_where_every_field_is_optional_else_missing() {
    // Every field optional: `{}`.
    assert!(ok(CreateAppRequest::parse(b"")).agent_handle.is_none());
    let patch = ok(UpdateAccountRequest::parse(b""));
    assert_eq!(patch.display_name, values::Patch::Keep);
    assert_eq!(patch.description, values::Patch::Keep);
    assert_eq!(patch.verify_window, values::Patch::Keep);
    let update = ok(UpdateIdentityRequest::parse(b""));
    assert!(update.agent_handle.is_none() && update.status.is_none());

    // A required field: the body itself is missing (one item, not one per field).
    let missing = [item(&["body"], "Field required", "missing")];
    assert_eq!(refused(CreateAccountRequest::parse(b"")), missing);
    assert_eq!(refused(VerifyRequest::parse(b"")), missing);
    assert_eq!(refused(CreateIdentityRequest::parse(b"")), missing);
    assert_eq!(refused(AssignAppRequest::parse(b"")), missing);
    assert_eq!(refused(EnrollInstanceRequest::parse(b"")), missing);

    // `{}` is not an empty body: each required field is missing.
    assert_eq!(
        refused(CreateAccountRequest::parse(b"{}")),
        [item(&["body", "otpauth_uri"], "Field required", "missing")]
    );
}

#[test]
fn a_body_that_is_not_a_json_object_is_one_item_that_never_echoes_it() {
    let not_an_object = [item(
        &["body"],
        "Input should be a valid dictionary or object to extract fields from",
        "model_attributes_type",
    )];
    for body in [
        &b"null"[..],
        b"[]",
        b"[{\"otp_code\": \"123456\"}]",
        b"\"123456\"",
        b"123456",
        b"true",
    ] {
        assert_eq!(refused(VerifyRequest::parse(body)), not_an_object, "{body:?}");
        // Also where an empty body would be `{}`.
        assert_eq!(refused(UpdateAccountRequest::parse(body)), not_an_object, "{body:?}");
    }

    for (body, msg) in [
        (
            &b"{\"otp_code\": \"123456\""[..],
            "JSON decode error: unexpected end of input",
        ),
        (b" ", "JSON decode error: unexpected end of input"),
        (b"{\"otp_code\": 123456x}", "JSON decode error: invalid syntax"),
        (b"{'otp_code': '123456'}", "JSON decode error: invalid syntax"),
        (b"{\"otp_code\": \"123456\"} {}", "JSON decode error: invalid syntax"),
        (b"\xff\xfe", "JSON decode error: invalid syntax"),
    ] {
        let errors = refused(VerifyRequest::parse(body));
        assert_eq!(errors, [item(&["body"], msg, "json_invalid")], "{body:?}");
        assert!(!errors.iter().any(|e| e.msg.contains("123456")), "{body:?}");
    }
}

#[test]
fn unknown_keys_are_ignored_and_a_repeated_key_keeps_its_last_value() {
    let body = json!({"otp_code": "123456", "otp": "000000", "extra": {"nested": [1, 2]}});
    assert_eq!(ok(VerifyRequest::parse(&bytes(&body))).otp_code.expose(), "123456");
    // Keys are case-sensitive: `Otp_Code` is another (unknown) key.
    assert_eq!(
        refused(VerifyRequest::parse(br#"{"Otp_Code": "123456"}"#)),
        [item(&["body", "otp_code"], "Field required", "missing")]
    );
    let repeated = br#"{"otp_code": "x", "otp_code": "654321"}"#;
    assert_eq!(ok(VerifyRequest::parse(repeated)).otp_code.expose(), "654321");
}

// ------------------------------------------------------------------------- presence

#[test]
fn a_required_field_absent_is_missing_and_null_is_a_wrong_type() {
    assert_eq!(
        refused(CreateIdentityRequest::parse(b"{}")),
        [item(&["body", "agent_handle"], "Field required", "missing")]
    );
    assert_eq!(
        refused(CreateIdentityRequest::parse(br#"{"agent_handle": null}"#)),
        [string_type("agent_handle")]
    );
    let parsed = ok(CreateIdentityRequest::parse(br#"{"agent_handle": "bot"}"#));
    assert_eq!(parsed.agent_handle.as_str(), "bot");

    assert_eq!(
        refused(AssignAppRequest::parse(br#"{"authenticator_app_id": null}"#)),
        [string_type("authenticator_app_id")]
    );
    assert_eq!(
        refused(VerifyRequest::parse(br#"{"otp_code": null}"#)),
        [string_type("otp_code")]
    );
}

#[test]
fn an_optional_field_absent_or_null_is_not_given() {
    for body in [json!({}), json!({"agent_handle": null})] {
        assert!(
            ok(CreateAppRequest::parse(&bytes(&body))).agent_handle.is_none(),
            "{body}"
        );
    }
    let linked = ok(CreateAppRequest::parse(br#"{"agent_handle": "@bot"}"#));
    assert_eq!(linked.agent_handle.as_ref().map(Handle::as_str), Some("bot"));
    assert_eq!(
        refused(CreateAppRequest::parse(br#"{"agent_handle": 1}"#)),
        [string_type("agent_handle")]
    );

    let uri = "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP";
    let body = json!({"otpauth_uri": uri, "display_name": null, "description": null, "verify_window": null});
    let parsed = ok(CreateAccountRequest::parse(&bytes(&body)));
    assert_eq!(parsed.otpauth_uri, uri);
    assert!(parsed.display_name.is_none() && parsed.description.is_none() && parsed.verify_window.is_none());
    let body = json!({"otpauth_uri": uri, "display_name": "A", "description": "", "verify_window": 0});
    let parsed = ok(CreateAccountRequest::parse(&bytes(&body)));
    assert_eq!(parsed.display_name, Some(DisplayName::parse("A").expect("name")));
    assert_eq!(parsed.description, Some(Description::parse("").expect("description")));
    assert_eq!(parsed.verify_window, VerifyWindow::new(0));

    // `null` for a device id: generated by the use case, as when absent.
    let body = json!({"device_name": "Pixel", "platform": "ios", "device_id": null});
    assert!(ok(EnrollInstanceRequest::parse(&bytes(&body))).device_id.is_none());

    // PATCH /identities: `null` counts as absent.
    let update = ok(UpdateIdentityRequest::parse(
        br#"{"agent_handle": null, "status": null}"#,
    ));
    assert!(update.agent_handle.is_none() && update.status.is_none());
}

#[test]
fn a_patch_field_absent_keeps_null_clears_a_value_sets() {
    let keep = ok(UpdateAccountRequest::parse(b"{}"));
    assert_eq!(
        (keep.display_name, keep.description, keep.verify_window),
        (values::Patch::Keep, values::Patch::Keep, values::Patch::Keep)
    );
    let body = json!({"display_name": null, "description": null, "verify_window": null});
    let clear = ok(UpdateAccountRequest::parse(&bytes(&body)));
    assert_eq!(
        (clear.display_name, clear.description, clear.verify_window),
        (values::Patch::Clear, values::Patch::Clear, values::Patch::Clear)
    );
    let body = json!({"display_name": "Work", "description": "", "verify_window": 3});
    let set = ok(UpdateAccountRequest::parse(&bytes(&body)));
    assert_eq!(
        set.display_name,
        values::Patch::Set(DisplayName::parse("Work").expect("name"))
    );
    assert_eq!(
        set.description,
        values::Patch::Set(Description::parse("").expect("description"))
    );
    assert_eq!(set.verify_window, values::Patch::Set(VerifyWindow::new(3).expect("3")));

    // Each key on its own.
    let one = ok(UpdateAccountRequest::parse(br#"{"description": null}"#));
    assert_eq!(
        (one.display_name, one.description, one.verify_window),
        (values::Patch::Keep, values::Patch::Clear, values::Patch::Keep)
    );

    // A wrong type is refused, not taken as `null`.
    let body = json!({"display_name": false, "description": [], "verify_window": "3"});
    assert_eq!(
        refused(UpdateAccountRequest::parse(&bytes(&body))),
        [
            string_type("display_name"),
            string_type("description"),
            item(
                &["body", "verify_window"],
                "Input should be a valid integer",
                "int_type"
            ),
        ]
    );
}

// ------------------------------------------------------------------------- the rules

/// `n` metadata entries `k0..`, each with `value`.
fn entries(n: usize, value: &str) -> serde_json::Map<String, Value> {
    (0..n).map(|i| (format!("k{i}"), json!(value))).collect()
}

#[test]
fn metadata_absent_null_or_an_object_on_create_and_patch() {
    let uri = "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP";
    // Create: absent and null are none; an object is taken whole.
    for body in [
        json!({"otpauth_uri": uri}),
        json!({"otpauth_uri": uri, "metadata": null}),
    ] {
        assert!(
            ok(CreateAccountRequest::parse(&bytes(&body))).metadata.is_empty(),
            "{body}"
        );
    }
    let body = json!({"otpauth_uri": uri, "metadata": {"plan": "pro", "customer": ""}});
    let parsed = ok(CreateAccountRequest::parse(&bytes(&body)));
    assert_eq!(
        parsed.metadata.iter().collect::<Vec<_>>(),
        [("customer", ""), ("plan", "pro")]
    );
    // PATCH: absent keeps, null clears, an object (even `{}`) sets.
    assert_eq!(ok(UpdateAccountRequest::parse(b"{}")).metadata, values::Patch::Keep);
    assert_eq!(
        ok(UpdateAccountRequest::parse(br#"{"metadata": null}"#)).metadata,
        values::Patch::Clear
    );
    assert_eq!(
        ok(UpdateAccountRequest::parse(br#"{"metadata": {}}"#)).metadata,
        values::Patch::Set(Metadata::default())
    );
}

#[test]
fn app_metadata_on_create_and_patch() {
    let created = ok(CreateAppRequest::parse(
        br#"{"agent_handle": "@bot", "metadata": {"env": "prod"}}"#,
    ));
    assert_eq!(created.agent_handle.as_ref().map(Handle::as_str), Some("bot"));
    assert_eq!(created.metadata.iter().collect::<Vec<_>>(), [("env", "prod")]);
    assert!(ok(CreateAppRequest::parse(b"")).metadata.is_empty());
    assert!(
        ok(CreateAppRequest::parse(br#"{"metadata": null}"#))
            .metadata
            .is_empty()
    );
    assert_eq!(ok(UpdateAppRequest::parse(b"")).metadata, values::Patch::Keep);
    assert_eq!(ok(UpdateAppRequest::parse(b"{}")).metadata, values::Patch::Keep);
    assert_eq!(
        ok(UpdateAppRequest::parse(br#"{"metadata": null}"#)).metadata,
        values::Patch::Clear
    );
    let set = ok(UpdateAppRequest::parse(br#"{"metadata": {"env": "staging"}}"#));
    assert!(matches!(set.metadata, values::Patch::Set(m) if m.get("env") == Some("staging")));
    // Both errors of a create at once; a PATCH's.
    assert_eq!(
        refused(CreateAppRequest::parse(br#"{"agent_handle": 1, "metadata": {"k": 1}}"#)),
        [
            string_type("agent_handle"),
            item(
                &["body", "metadata", "k"],
                "Input should be a valid string",
                "string_type"
            ),
        ]
    );
    assert_eq!(
        refused(UpdateAppRequest::parse(br#"{"metadata": "x"}"#)),
        [item(
            &["body", "metadata"],
            "Input should be a valid dictionary",
            "dict_type"
        )]
    );
}

#[test]
fn metadata_limits_are_the_domains() {
    let patch = |metadata: Value| UpdateAccountRequest::parse(&bytes(&json!({"metadata": metadata})));
    // At the limits: accepted (lengths in characters).
    let mut at = entries(Metadata::MAX_KEYS - 1, &chars(Metadata::MAX_VALUE_CHARS));
    at.insert(chars(Metadata::MAX_KEY_CHARS), json!("v"));
    match ok(patch(Value::Object(at))).metadata {
        values::Patch::Set(m) => assert_eq!(m.len(), Metadata::MAX_KEYS),
        other => panic!("{other:?}"),
    }
    // One over each.
    assert_eq!(
        refused(patch(Value::Object(entries(Metadata::MAX_KEYS + 1, "v")))),
        [item(
            &["body", "metadata"],
            "Dictionary should have at most 50 items after validation, not 51",
            "too_long"
        )]
    );
    let long_key = chars(Metadata::MAX_KEY_CHARS + 1);
    assert_eq!(
        refused(patch(json!({ long_key.clone(): "v" }))),
        [item(
            &["body", "metadata", &long_key, "[key]"],
            "String should have at most 40 characters",
            "string_too_long"
        )]
    );
    assert_eq!(
        refused(patch(json!({ "k": chars(Metadata::MAX_VALUE_CHARS + 1) }))),
        [item(
            &["body", "metadata", "k"],
            "String should have at most 500 characters",
            "string_too_long"
        )]
    );
    assert_eq!(
        refused(patch(json!({ "": "v" }))),
        [item(
            &["body", "metadata", "", "[key]"],
            "String should have at least 1 character",
            "string_too_short"
        )]
    );
    assert_eq!(
        refused(patch(json!({ "k": "a\u{0}b" }))),
        [item(
            &["body", "metadata", "k"],
            "String should not contain U+0000",
            "string_pattern_mismatch"
        )]
    );
    // Types: not an object, a value that is not a string.
    for not_an_object in [json!([]), json!("x"), json!(1), json!(true)] {
        assert_eq!(
            refused(patch(not_an_object.clone())),
            [item(
                &["body", "metadata"],
                "Input should be a valid dictionary",
                "dict_type"
            )],
            "{not_an_object}"
        );
    }
    for not_a_string in [json!(1), json!(null), json!({}), json!(["x"]), json!(false)] {
        assert_eq!(
            refused(patch(json!({ "k": not_a_string.clone() }))),
            [item(
                &["body", "metadata", "k"],
                "Input should be a valid string",
                "string_type"
            )],
            "{not_a_string}"
        );
    }
    // Reported with the other fields' errors.
    let body = json!({"otpauth_uri": 1, "metadata": []});
    assert_eq!(
        refused(CreateAccountRequest::parse(&bytes(&body))),
        [
            string_type("otpauth_uri"),
            item(&["body", "metadata"], "Input should be a valid dictionary", "dict_type"),
        ]
    );
}

#[test]
fn text_limits_are_the_domains_in_characters() {
    let uri = "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP";
    // At the limit: accepted (twice as many bytes).
    let body = json!({
        "otpauth_uri": uri,
        "display_name": chars(DisplayName::MAX_CHARS),
        "description": chars(Description::MAX_CHARS),
    });
    let parsed = ok(CreateAccountRequest::parse(&bytes(&body)));
    let name = parsed.display_name.expect("display name");
    assert_eq!(name.as_str().chars().count(), DisplayName::MAX_CHARS);
    let description = parsed.description.expect("description");
    assert_eq!(description.as_str().chars().count(), Description::MAX_CHARS);

    // One over: refused, in the PATCH too.
    let body = json!({
        "display_name": chars(DisplayName::MAX_CHARS + 1),
        "description": chars(Description::MAX_CHARS + 1),
    });
    let over = [
        too_long("display_name", DisplayName::MAX_CHARS),
        too_long("description", Description::MAX_CHARS),
    ];
    assert_eq!(refused(UpdateAccountRequest::parse(&bytes(&body))), over);
    let body = json!({
        "otpauth_uri": uri,
        "display_name": chars(DisplayName::MAX_CHARS + 1),
        "description": chars(Description::MAX_CHARS + 1),
    });
    assert_eq!(refused(CreateAccountRequest::parse(&bytes(&body))), over);

    // A device name: 1 to DeviceName::MAX_CHARS.
    let enroll = |name: String| EnrollInstanceRequest::parse(&bytes(&json!({"device_name": name, "platform": "WEB"})));
    let parsed = ok(enroll(chars(DeviceName::MAX_CHARS)));
    assert_eq!(parsed.device_name.as_str().chars().count(), DeviceName::MAX_CHARS);
    assert_eq!(ok(enroll("x".to_owned())).device_name.as_str(), "x");
    assert_eq!(
        refused(enroll(chars(DeviceName::MAX_CHARS + 1))),
        [too_long("device_name", DeviceName::MAX_CHARS)]
    );
    assert_eq!(DeviceName::MIN_CHARS, 1);
    assert_eq!(
        refused(enroll(String::new())),
        [item(
            &["body", "device_name"],
            "String should have at least 1 character",
            "string_too_short"
        )]
    );
    // An empty display name or description is a value (MIN_CHARS is 0), not a clear.
    assert_eq!((DisplayName::MIN_CHARS, Description::MIN_CHARS), (0, 0));
}

#[test]
fn u0000_is_refused_in_every_string() {
    let nul = |field: &str| {
        item(
            &["body", field],
            "String should not contain U+0000",
            "string_pattern_mismatch",
        )
    };
    let body = json!({"otpauth_uri": "otpauth://totp/a\u{0}", "display_name": "a\u{0}", "description": "\u{0}"});
    assert_eq!(
        refused(CreateAccountRequest::parse(&bytes(&body))),
        [nul("otpauth_uri"), nul("display_name"), nul("description")]
    );
    let body = json!({"device_name": "a\u{0}b", "platform": "WEB\u{0}"});
    assert_eq!(
        refused(EnrollInstanceRequest::parse(&bytes(&body))),
        [nul("device_name"), nul("platform")]
    );
    assert_eq!(
        refused(UpdateIdentityRequest::parse(&bytes(&json!({"status": "active\u{0}"})))),
        [nul("status")]
    );
}

#[test]
fn wrong_json_types_are_pydantics() {
    for v in [json!(1), json!(1.5), json!(true), json!([]), json!({}), json!(["bot"])] {
        let body = json!({"agent_handle": v, "status": v});
        assert_eq!(
            refused(UpdateIdentityRequest::parse(&bytes(&body))),
            [string_type("agent_handle"), string_type("status")],
            "{v}"
        );
    }
    // A code is a string of digits, never a number.
    assert_eq!(
        refused(VerifyRequest::parse(br#"{"otp_code": 123456}"#)),
        [string_type("otp_code")]
    );
}

#[test]
fn the_verify_window_is_an_integer_from_0_to_the_domains_max() {
    let window = |v: Value| UpdateAccountRequest::parse(&bytes(&json!({"verify_window": v}))).map(|r| r.verify_window);
    assert_eq!(
        ok(window(json!(0))),
        values::Patch::Set(VerifyWindow::new(0).expect("0"))
    );
    let max = u64::from(VerifyWindow::MAX);
    let at_max = VerifyWindow::new(max).expect("max");
    assert_eq!(ok(window(json!(max))), values::Patch::Set(at_max));

    let over = item(
        &["body", "verify_window"],
        &format!("Input should be less than or equal to {}", VerifyWindow::MAX),
        "less_than_equal",
    );
    for v in [json!(max + 1), json!(u64::MAX)] {
        assert_eq!(refused(window(v.clone())), std::slice::from_ref(&over), "{v}");
    }
    let under = item(
        &["body", "verify_window"],
        "Input should be greater than or equal to 0",
        "greater_than_equal",
    );
    for v in [json!(-1), json!(i64::MIN)] {
        assert_eq!(refused(window(v.clone())), std::slice::from_ref(&under), "{v}");
    }
    let not_int = item(
        &["body", "verify_window"],
        "Input should be a valid integer",
        "int_type",
    );
    for v in [json!(1.0), json!(2.5), json!("1"), json!(true), json!([1]), json!({})] {
        assert_eq!(refused(window(v.clone())), std::slice::from_ref(&not_int), "{v}");
    }
}

#[test]
fn a_code_is_1_to_the_domains_max_ascii_digits_and_never_echoed() {
    let code = |s: &str| VerifyRequest::parse(&bytes(&json!({"otp_code": s}))).map(|r| r.otp_code);
    let longest = "9".repeat(CodeInput::MAX_CHARS);
    assert_eq!(ok(code(&longest)).expose(), longest);
    assert_eq!(ok(code("0")).expose(), "0");
    assert_eq!(ok(code("004512")).expose(), "004512");

    let field = ["body", "otp_code"];
    let cases = [
        (
            "9".repeat(CodeInput::MAX_CHARS + 1),
            item(
                &field,
                &format!("String should have at most {} characters", CodeInput::MAX_CHARS),
                "string_too_long",
            ),
        ),
        (
            String::new(),
            item(&field, "String should have at least 1 character", "string_too_short"),
        ),
        (
            "12345a".to_owned(),
            item(
                &field,
                "String should match pattern '^[0-9]+$'",
                "string_pattern_mismatch",
            ),
        ),
        (
            " 123456".to_owned(),
            item(
                &field,
                "String should match pattern '^[0-9]+$'",
                "string_pattern_mismatch",
            ),
        ),
        (
            // Non-ASCII digits: too long counts characters, the pattern wants ASCII.
            "١٢٣".to_owned(),
            item(
                &field,
                "String should match pattern '^[0-9]+$'",
                "string_pattern_mismatch",
            ),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(refused(code(&input)), [want], "{input:?}");
    }
}

#[test]
fn a_handle_follows_the_domains_rules_with_one_leading_at_stripped() {
    let handle = |v: &str| CreateIdentityRequest::parse(&bytes(&json!({"agent_handle": v}))).map(|r| r.agent_handle);
    assert_eq!(ok(handle("bot")).as_str(), "bot");
    assert_eq!(ok(handle("@bot")).as_str(), "bot");
    assert_eq!(ok(handle("B0t.a_b-c")).as_str(), "B0t.a_b-c");
    let longest = "a".repeat(Handle::MAX_CHARS);
    assert_eq!(ok(handle(&longest)).as_str(), longest);
    assert_eq!(ok(handle(&format!("@{longest}"))).as_str(), longest, "`@` not counted");

    let field = ["body", "agent_handle"];
    for (input, msg) in [
        (
            "a".repeat(Handle::MAX_CHARS + 1),
            format!("agent_handle must be at most {} characters", Handle::MAX_CHARS),
        ),
        (String::new(), "agent_handle must not be empty".to_owned()),
        ("@".to_owned(), "agent_handle must not be empty".to_owned()),
        (
            "@@bot".to_owned(),
            "agent_handle must start with a letter or digit".to_owned(),
        ),
        (
            "-bot".to_owned(),
            "agent_handle must start with a letter or digit".to_owned(),
        ),
        (
            "bot bot".to_owned(),
            "agent_handle may contain only letters, digits, '.', '_' and '-'".to_owned(),
        ),
        (
            "bøt".to_owned(),
            "agent_handle may contain only letters, digits, '.', '_' and '-'".to_owned(),
        ),
    ] {
        assert_eq!(
            refused(handle(&input)),
            [item(&field, &msg, "value_error")],
            "{input:?}"
        );
    }
}

#[test]
fn the_otpauth_uri_and_the_identity_status_are_passed_on_as_text() {
    // Their content is the use case's to judge (`422` for a URI's shape, `400` for its
    // parameters or a status), whatever its length.
    let long = format!("otpauth://totp/a?secret={}", "A".repeat(MAX_URI_CHARS));
    let parsed = ok(CreateAccountRequest::parse(&bytes(&json!({"otpauth_uri": long}))));
    assert_eq!(parsed.otpauth_uri, long);
    assert_eq!(
        ok(CreateAccountRequest::parse(br#"{"otpauth_uri": ""}"#)).otpauth_uri,
        ""
    );
    let status = ok(UpdateIdentityRequest::parse(br#"{"status": "ACTIVE "}"#)).status;
    assert_eq!(status.as_deref(), Some("ACTIVE "));
}

#[test]
fn a_platform_is_one_of_the_domains_names_in_any_case_untrimmed() {
    let platform = |v: &str| {
        EnrollInstanceRequest::parse(&bytes(&json!({"device_name": "Pixel", "platform": v}))).map(|r| r.platform)
    };
    for (name, want) in Platform::NAMES.iter().zip(Platform::ALL) {
        assert_eq!(ok(platform(name)), want);
        assert_eq!(ok(platform(&name.to_lowercase())), want);
    }
    assert_eq!(ok(platform("aNdRoId")), Platform::Android);
    let msg = format!("platform must be one of {}", Platform::NAMES.join(", "));
    for input in [" android", "android ", "", "PHONE"] {
        assert_eq!(
            refused(platform(input)),
            [item(&["body", "platform"], &msg, "enum")],
            "{input:?}"
        );
    }
}

#[test]
fn a_uuid_in_a_body_takes_any_form_the_uuid_crate_parses() {
    let assign =
        |v: &str| AssignAppRequest::parse(&bytes(&json!({"authenticator_app_id": v}))).map(|r| r.authenticator_app_id);
    let want = AppId::parse(APP).expect("uuid");
    for form in [
        APP.to_owned(),
        APP.to_uppercase(),
        APP.replace('-', ""),
        format!("{{{APP}}}"),
        format!("urn:uuid:{APP}"),
    ] {
        assert_eq!(ok(assign(&form)), want, "{form}");
    }
    for bad in ["", "nope", &APP[1..], &format!("{APP}0"), &format!(" {APP}")] {
        assert_eq!(
            refused(assign(bad)),
            [item(
                &["body", "authenticator_app_id"],
                "Input should be a valid UUID",
                "uuid_parsing"
            )],
            "{bad:?}"
        );
    }
    let body = json!({"device_name": "Pixel", "platform": "WEB", "device_id": APP.to_uppercase()});
    let device = ok(EnrollInstanceRequest::parse(&bytes(&body))).device_id;
    assert_eq!(device, DeviceId::parse(APP));
}

#[test]
fn the_schema_requires_exactly_the_fields_the_parser_reports_missing() {
    use utoipa::PartialSchema;

    /// The fields `parse(b"{}")` reports `missing`, and the schema's `required` list.
    fn both<T: PartialSchema>(parse: fn(&[u8]) -> Result<T, Vec<FieldError>>) -> (Vec<String>, Vec<String>) {
        let missing = parse(b"{}")
            .err()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.kind == "missing")
            .filter_map(|e| e.loc.get(1).cloned())
            .collect();
        let schema = serde_json::to_value(T::schema()).expect("serializes");
        let required = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        (missing, required)
    }
    for (name, (missing, required)) in [
        ("CreateAppRequest", both(CreateAppRequest::parse)),
        ("CreateAccountRequest", both(CreateAccountRequest::parse)),
        ("UpdateAccountRequest", both(UpdateAccountRequest::parse)),
        ("VerifyRequest", both(VerifyRequest::parse)),
        ("CreateIdentityRequest", both(CreateIdentityRequest::parse)),
        ("UpdateIdentityRequest", both(UpdateIdentityRequest::parse)),
        ("AssignAppRequest", both(AssignAppRequest::parse)),
        ("EnrollInstanceRequest", both(EnrollInstanceRequest::parse)),
    ] {
        assert_eq!(missing, required, "{name}");
    }
}

// ------------------------------------------------------------------------- paths

/// A request whose route matched `params`.
fn routed(params: &[(&'static str, &str)]) -> HttpRequest {
    params
        .iter()
        .fold(TestRequest::default(), |r, (name, value)| {
            r.param(*name, (*value).to_owned())
        })
        .to_http_request()
}

fn bad_uuid(name: &str) -> FieldError {
    item(&["path", name], "Input should be a valid UUID", "uuid_parsing")
}

#[test]
fn path_ids_report_every_malformed_id_in_path_order() {
    let both = ok(AccountPath::parse(&routed(&[("app_id", APP), ("account_id", ACCOUNT)])));
    assert_eq!(both.app_id, AppId::parse(APP).expect("app"));
    assert_eq!(both.account_id, AccountId::parse(ACCOUNT).expect("account"));

    assert_eq!(
        refused(AccountPath::parse(&routed(&[("app_id", "x"), ("account_id", "y")]))),
        [bad_uuid("app_id"), bad_uuid("account_id")]
    );
    assert_eq!(
        refused(AccountPath::parse(&routed(&[("app_id", APP), ("account_id", "y")]))),
        [bad_uuid("account_id")]
    );
    assert_eq!(
        refused(AccountPath::parse(&routed(&[("app_id", "x"), ("account_id", ACCOUNT)]))),
        [bad_uuid("app_id")]
    );
    assert_eq!(
        refused(InstancePath::parse(&routed(&[("app_id", "1"), ("instance_id", "2")]))),
        [bad_uuid("app_id"), bad_uuid("instance_id")]
    );
    let instance = ok(InstancePath::parse(&routed(&[
        ("app_id", APP),
        ("instance_id", ACCOUNT),
    ])));
    assert_eq!(instance.instance_id, InstanceId::parse(ACCOUNT).expect("instance"));
    assert_eq!(
        refused(AppPath::parse(&routed(&[("app_id", "")]))),
        [bad_uuid("app_id")]
    );
    assert_eq!(
        refused(DeviceAccountPath::parse(&routed(&[("account_id", "nope")]))),
        [bad_uuid("account_id")]
    );
    // Not matched at all (a handler on the wrong route): reported like a malformed id.
    assert_eq!(refused(AppPath::parse(&routed(&[]))), [bad_uuid("app_id")]);
}

#[test]
fn path_ids_take_any_form_the_uuid_crate_parses() {
    let want = AppId::parse(APP).expect("uuid");
    for form in [
        APP.to_uppercase(),
        APP.replace('-', ""),
        format!("{{{APP}}}"),
        format!("urn:uuid:{APP}"),
    ] {
        assert_eq!(ok(AppPath::parse(&routed(&[("app_id", &form)]))).app_id, want, "{form}");
    }
}

#[test]
fn the_identity_path_is_a_handle_and_anything_else_is_the_identitys_404() {
    let handle = |h: &str| IdentityPath::parse(&routed(&[("agent_handle", h)]));
    let found = |h: &str| handle(h).unwrap_or_else(|e| panic!("{h:?}: {e:?}"));
    assert_eq!(found("bot").as_str(), "bot");
    assert_eq!(found("@bot").as_str(), "bot");
    assert_eq!(found(APP).as_str(), APP, "a UUID is a valid handle");
    let longest = "a".repeat(Handle::MAX_CHARS);
    assert_eq!(found(&longest).as_str(), longest);

    let too_long = "a".repeat(Handle::MAX_CHARS + 1);
    for h in ["", "@", "@@bot", "-bot", "bot bot", "bøt", &too_long] {
        let refused = handle(h);
        assert!(
            matches!(
                refused,
                Err(ApiError::Domain(domain::Error::NotFound(Resource::Identity)))
            ),
            "{h:?}: {refused:?}"
        );
    }
    let unrouted = IdentityPath::parse(&routed(&[]));
    assert!(matches!(
        unrouted,
        Err(ApiError::Domain(domain::Error::NotFound(Resource::Identity)))
    ));
}

// ------------------------------------------------------------------------- the audit query

fn audit(query: &str) -> Result<AuditQuery, Vec<FieldError>> {
    AuditEventsQuery::parse(
        &TestRequest::get()
            .uri(&format!("/api/v1/audit/events?{query}"))
            .to_http_request(),
    )
}

fn bad_query(name: &str, msg: &str) -> FieldError {
    item(&["query", name], msg, "value_error")
}

#[test]
fn the_audit_query_defaults_to_the_first_page_of_default_size() {
    let want = AuditQuery {
        limit: DEFAULT_PAGE,
        ..AuditQuery::default()
    };
    assert_eq!(ok(audit("")), want);
    let no_query = TestRequest::get().uri("/api/v1/audit/events").to_http_request();
    assert_eq!(ok(AuditEventsQuery::parse(&no_query)), want);
    // Unknown parameters are ignored.
    assert_eq!(ok(audit("page=2&LIMIT=0&x")), want);
}

#[test]
fn the_audit_page_size_is_1_to_the_domains_max() {
    assert_eq!(ok(audit("limit=1")).limit, 1);
    assert_eq!(ok(audit(&format!("limit={MAX_PAGE}"))).limit, MAX_PAGE);
    let bad = [bad_query("limit", &format!("Must be an integer from 1 to {MAX_PAGE}"))];
    for limit in [
        "0".to_owned(),
        (MAX_PAGE + 1).to_string(),
        "-1".to_owned(),
        "1.0".to_owned(),
        "ten".to_owned(),
        String::new(),
        u64::MAX.to_string(),
    ] {
        assert_eq!(refused(audit(&format!("limit={limit}"))), bad, "limit={limit}");
    }
    // A repeated parameter: the last one counts.
    assert_eq!(ok(audit("limit=5&limit=7")).limit, 7);
}

#[test]
fn the_audit_filters_parse_into_the_domains_values() {
    let q = ok(audit(&format!(
        "after=41&action=app.create&resource_type=account&resource_id={}",
        APP.to_uppercase()
    )));
    assert_eq!(q.after, Some(41));
    assert_eq!(q.action, Some(Action::AppCreate));
    assert_eq!(q.resource_type, Some(ResourceType::Account));
    assert_eq!(q.resource_id, uuid::Uuid::parse_str(APP).ok());
    assert_eq!(ok(audit("after=0")).after, Some(0));
    assert_eq!(ok(audit(&format!("after={}", u64::MAX))).after, Some(u64::MAX));
    for t in ResourceType::ALL {
        assert_eq!(
            ok(audit(&format!("resource_type={}", t.as_str()))).resource_type,
            Some(*t)
        );
    }
    for a in Action::ALL {
        assert_eq!(ok(audit(&format!("action={}", a.as_str()))).action, Some(*a));
    }
    // Percent-decoded like any query.
    assert_eq!(ok(audit("action=app%2Ecreate")).action, Some(Action::AppCreate));
}

#[test]
fn the_audit_order_and_before_cursor_parse() {
    assert!(!ok(audit("")).newest_first);
    assert!(!ok(audit("order=asc")).newest_first);
    let q = ok(audit("order=desc&before=12&after=3"));
    assert!(q.newest_first);
    assert_eq!((q.after, q.before), (Some(3), Some(12)));
    assert_eq!(ok(audit("before=0")).before, Some(0));
    assert_eq!(
        refused(audit("order=DESC&before=-1")),
        [
            bad_query("order", "Must be `asc` or `desc`"),
            bad_query("before", "Must be a cursor returned as `next`"),
        ]
    );
    assert_eq!(
        refused(audit("order=")),
        [bad_query("order", "Must be `asc` or `desc`")]
    );
}

#[test]
fn every_bad_audit_parameter_is_reported_in_query_order() {
    assert_eq!(
        refused(audit(
            "resource_id=nope&action=App.Create&after=-1&limit=0&resource_type=apps&page=x"
        )),
        [
            bad_query("resource_id", "Must be a UUID"),
            bad_query("action", "Unknown action"),
            bad_query("after", "Must be a cursor returned as `next`"),
            bad_query("limit", &format!("Must be an integer from 1 to {MAX_PAGE}")),
            bad_query("resource_type", "Unknown resource type"),
        ]
    );
    // One bad parameter among good ones: only it.
    assert_eq!(
        refused(audit("limit=10&after=x")),
        [bad_query("after", "Must be a cursor returned as `next`")]
    );
}
