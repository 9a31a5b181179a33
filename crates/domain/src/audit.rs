//! The audit trail: who did what to which record, written by every mutation in the same unit of
//! work as the change itself (so no committed change lacks its event and no event outlives a
//! rolled-back change), never carrying a secret.
//!
//! Events are numbered per organization (`seq`, 1, 2, 3, ... without gaps) after they commit,
//! by the store's sequencer ([`crate::ports::AuditRepo::sequence_audit_events`]): an event committed
//! late is numbered after every event already numbered, so a reader that pages with
//! `after=<seq>` never skips it. Until it is numbered an event is not listed.

use std::fmt;
use std::sync::Arc;

use crate::access::{Access, Restriction};
use crate::ids::{InstanceId, OrgId, TokenId};
use crate::time::Timestamp;

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An API caller, by its service token's public id.
    ServiceToken(TokenId),
    /// A device, by its instance id.
    Device(InstanceId),
    /// The `authd` command line (an operator on the machine).
    Cli,
}

impl Actor {
    /// `service_token`, `device` or `cli`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ServiceToken(_) => "service_token",
            Self::Device(_) => "device",
            Self::Cli => "cli",
        }
    }

    /// The token or instance id (`None` for the CLI).
    #[must_use]
    pub fn id(&self) -> Option<uuid::Uuid> {
        match self {
            Self::ServiceToken(t) => Some(t.as_uuid()),
            Self::Device(i) => Some(i.as_uuid()),
            Self::Cli => None,
        }
    }

    /// Rebuilds an actor from its stored kind and id.
    #[must_use]
    pub fn from_stored(kind: &str, id: Option<uuid::Uuid>) -> Option<Self> {
        match (kind, id) {
            ("service_token", Some(id)) => Some(Self::ServiceToken(TokenId::from_uuid(id))),
            ("device", Some(id)) => Some(Self::Device(InstanceId::from_uuid(id))),
            ("cli", None) => Some(Self::Cli),
            _ => None,
        }
    }
}

/// A request's id, as the HTTP layer gives it (its own, or the client's when it is 1-128
/// characters of `[A-Za-z0-9._:-]`).
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Longest accepted id.
    pub const MAX_CHARS: usize = 128;

    /// `None` unless the id is 1-128 characters of `[A-Za-z0-9._:-]`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_CHARS
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c));
        ok.then(|| Self(s.to_owned()))
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

/// Whom a use case acts for: the organization (always the credential's), the actor, and the
/// request it serves (for the audit trail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    org: OrgId,
    actor: Actor,
    request_id: Option<RequestId>,
    access: Arc<Access>,
    token_expires_at: Option<Timestamp>,
}

impl Caller {
    /// A caller without a request id, with full access to its organization (the CLI, a
    /// device, a token minted before scopes existed).
    #[must_use]
    pub fn new(org: OrgId, actor: Actor) -> Self {
        Self {
            org,
            actor,
            request_id: None,
            access: Arc::new(Access::admin()),
            token_expires_at: None,
        }
    }

    /// The same caller, limited to `access` (its token's scopes and restriction), its token
    /// expiring at `expires_at` (which bounds the tokens it mints).
    #[must_use]
    pub fn with_access(mut self, access: Arc<Access>, expires_at: Option<Timestamp>) -> Self {
        self.access = access;
        self.token_expires_at = expires_at;
        self
    }

    /// When the caller's token expires, if it does.
    #[must_use]
    pub fn token_expires_at(&self) -> Option<Timestamp> {
        self.token_expires_at
    }

    /// What the caller may do.
    #[must_use]
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The caller's restriction, `None` when it sees its whole organization.
    #[must_use]
    pub fn restriction(&self) -> Option<&Restriction> {
        self.access.restriction.as_ref()
    }

    /// The same caller, serving this request.
    #[must_use]
    pub fn with_request_id(mut self, id: Option<RequestId>) -> Self {
        self.request_id = id;
        self
    }

    /// The organization.
    #[must_use]
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// The actor.
    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The request id.
    #[must_use]
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The wire and storage name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $s,)*
                }
            }

            /// The value with this name.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

string_enum!(
    /// What was done.
    Action {
        /// An app was created.
        AppCreate = "app.create",
        /// An app's metadata was changed.
        AppUpdate = "app.update",
        /// An app was deleted (with its accounts and instances).
        AppDelete = "app.delete",
        /// An app was linked to an identity.
        AppLink = "app.link",
        /// An app was unlinked from its identity (its instances revoked).
        AppUnlink = "app.unlink",
        /// An account was imported.
        AccountCreate = "account.create",
        /// An account's labels were changed.
        AccountUpdate = "account.update",
        /// An account was deleted.
        AccountDelete = "account.delete",
        /// An account's secret was re-sealed under the primary master key (`authd key rewrap`).
        AccountRewrap = "account.rewrap",
        /// An identity was created.
        IdentityCreate = "identity.create",
        /// An identity was renamed, paused or resumed.
        IdentityUpdate = "identity.update",
        /// An identity was deleted (its app unlinked).
        IdentityDelete = "identity.delete",
        /// A device was enrolled.
        InstanceEnroll = "instance.enroll",
        /// A device was revoked.
        InstanceRevoke = "instance.revoke",
        /// A service token was created.
        TokenCreate = "token.create",
        /// A service token was revoked.
        TokenRevoke = "token.revoke",
        /// A code was generated.
        OtpGenerate = "otp.generate",
        /// A code was verified (valid or not).
        OtpVerify = "otp.verify",
        /// An organization setting was changed (the maximum token lifetime).
        OrgUpdate = "org.update",
    }
);

string_enum!(
    /// The kind of record an event is about.
    ResourceType {
        /// An authenticator app.
        App = "app",
        /// An OTP account.
        Account = "account",
        /// An identity.
        Identity = "identity",
        /// An app instance (device).
        Instance = "instance",
        /// A service token.
        ServiceToken = "service_token",
        /// The organization itself (its settings; the resource id is the nil UUID).
        Org = "org",
    }
);

/// One value of an event's details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detail {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list of strings (a JSON array).
    List(Vec<String>),
    /// `null`.
    Null,
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Detail {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for Detail {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<Vec<String>> for Detail {
    fn from(v: Vec<String>) -> Self {
        Self::List(v)
    }
}

impl From<bool> for Detail {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl<T: Into<Detail>> From<Option<T>> for Detail {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// An event's details as a JSON object's text (written here, so every adapter stores and serves
/// the same bytes). Never holds a secret: only ids, names, types and outcomes go in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details(String);

impl Details {
    /// `{}`.
    #[must_use]
    pub fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// A JSON object of these keys and values, in this order.
    #[must_use]
    pub fn of(pairs: &[(&str, Detail)]) -> Self {
        let mut out = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, k);
            out.push(':');
            match v {
                Detail::Str(s) => json_string(&mut out, s),
                Detail::Int(n) => out.push_str(&n.to_string()),
                Detail::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Detail::List(items) => {
                    out.push('[');
                    for (j, item) in items.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        json_string(&mut out, item);
                    }
                    out.push(']');
                }
                Detail::Null => out.push_str("null"),
            }
        }
        out.push('}');
        Self(out)
    }

    /// Stored text, as written by [`Details::of`].
    #[must_use]
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The JSON text.
    #[must_use]
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id (UUID v7: ordered by creation).
    pub id: uuid::Uuid,
    /// The organization.
    pub org: OrgId,
    /// Its number in the organization's trail; `None` until the sequencer numbered it.
    pub seq: Option<u64>,
    /// When the change was made (the change's own timestamp).
    pub at: Timestamp,
    /// Who made it.
    pub actor: Actor,
    /// What was done.
    pub action: Action,
    /// The kind of record.
    pub resource_type: ResourceType,
    /// The record's id.
    pub resource_id: uuid::Uuid,
    /// The request that made it (none for the CLI).
    pub request_id: Option<RequestId>,
    /// Ids, names and outcomes; never a secret.
    pub details: Details,
}

/// The page size of [`crate::Authd::list_audit_events`] when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;
/// The largest page.
pub const MAX_PAGE: u32 = 1000;

/// A page request of the audit trail: numbered events between two cursors, oldest first (or
/// newest first), filtered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events numbered after this (`None`: from the start).
    pub after: Option<u64>,
    /// Only events numbered before this (`None`: up to the newest).
    pub before: Option<u64>,
    /// Newest first (highest `seq` first) instead of oldest first: the page is then the
    /// newest `limit` events below `before`.
    pub newest_first: bool,
    /// At most this many (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Only this action.
    pub action: Option<Action>,
    /// Only this kind of record.
    pub resource_type: Option<ResourceType>,
    /// Only this record.
    pub resource_id: Option<uuid::Uuid>,
    /// Only events about these records (a confined token's view; `None`: any record).
    pub within: Option<Vec<uuid::Uuid>>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            after: None,
            before: None,
            newest_first: false,
            limit: DEFAULT_PAGE,
            action: None,
            resource_type: None,
            resource_id: None,
            within: None,
        }
    }
}

/// A page of the trail and the cursor to ask for the next one with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    /// The events, oldest first (newest first when asked).
    pub events: Vec<AuditEvent>,
    /// The `seq` of the last event listed (or the cursor given in the page's direction, when
    /// none was found): pass it as `after` to continue (as `before`, newest first); events
    /// committed later get higher numbers.
    pub next: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_json_objects_with_escaped_strings() {
        let d = Details::of(&[
            ("name", Detail::from("a\"b\\c\n\u{1}é")),
            ("n", Detail::Int(-3)),
            ("ok", Detail::Bool(true)),
            ("none", Detail::from(None::<&str>)),
            ("keys", Detail::from(vec!["a\"b".to_owned(), "c".to_owned()])),
            ("no_keys", Detail::from(Vec::<String>::new())),
        ]);
        assert_eq!(
            d.as_json(),
            "{\"name\":\"a\\\"b\\\\c\\n\\u0001é\",\"n\":-3,\"ok\":true,\"none\":null,\"keys\":[\"a\\\"b\",\"c\"],\"no_keys\":[]}"
        );
        assert_eq!(Details::empty().as_json(), "{}");
    }

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        for r in ResourceType::ALL {
            assert_eq!(ResourceType::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Action::parse("app.explode"), None);
    }

    #[test]
    fn actors_round_trip_through_storage() {
        let t = TokenId::from_uuid(uuid::Uuid::from_u128(7));
        for a in [
            Actor::ServiceToken(t),
            Actor::Device(InstanceId::from_uuid(uuid::Uuid::from_u128(8))),
            Actor::Cli,
        ] {
            assert_eq!(Actor::from_stored(a.kind(), a.id()), Some(a.clone()));
        }
        assert_eq!(Actor::from_stored("cli", Some(uuid::Uuid::nil())), None);
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(RequestId::parse("abc-1.2:3_x").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse(&"x".repeat(129)).is_none());
    }
}
