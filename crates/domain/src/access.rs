//! What a service token may do: its [`Scopes`] (which families of operations) and its
//! optional [`Restriction`] (which identities and apps). Together they are its [`Access`].
//!
//! - Scopes are checked by the HTTP adapter before a request is read (each route names one
//!   scope, declared once in its route table); the restriction is checked here, by the use
//!   cases, on the records they load: anything outside it answers exactly like a missing record.
//! - Identity patterns are handles, or a prefix and one trailing `*` (`sales-*`), matched per
//!   request, so a pattern covers identities created later. A literal handle is *pinned*: when
//!   the token is minted it is bound to the live identity with that handle, and it never covers
//!   another identity that later takes the same handle (the deleted agent's token does not
//!   inherit its successor). A wildcard delegates a whole namespace, later identities included.
//! - A token never mints a broader one ([`Access::covers`]): scopes, identities, apps (and the
//!   lifetime, checked by the use case).

use std::fmt;

use crate::entities::{App, Identity};
use crate::ids::{AppId, IdentityId};
use crate::values::Handle;

macro_rules! scopes {
    ($($(#[$doc:meta])* $variant:ident = $s:literal),* $(,)?) => {
        /// One capability on one family of routes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope {
            $($(#[$doc])* $variant),*
        }

        impl Scope {
            /// Every scope, in the order of the docs.
            pub const ALL: &'static [Scope] = &[$(Scope::$variant),*];

            /// The scope's name on the wire (`otp:generate`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$variant => $s),*
                }
            }

            /// The scope of a name.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some(Scope::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

scopes! {
    /// List and read apps.
    AppsRead = "apps:read",
    /// Create, change and delete apps; import, change and delete their accounts.
    AppsWrite = "apps:write",
    /// List and read identities.
    IdentitiesRead = "identities:read",
    /// Create, change and delete identities; link and unlink their apps.
    IdentitiesWrite = "identities:write",
    /// Generate codes (`generate-otp`).
    OtpGenerate = "otp:generate",
    /// Verify codes only (a relying party that may check codes and never mint one).
    OtpVerify = "otp:verify",
    /// List and read app instances.
    InstancesRead = "instances:read",
    /// Enroll and revoke app instances.
    InstancesWrite = "instances:write",
    /// Read the audit trail.
    AuditRead = "audit:read",
    /// Mint, list and revoke service tokens.
    TokensWrite = "tokens:write",
    /// All of the above.
    Admin = "admin",
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes. `admin` grants every scope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u16);

impl Scopes {
    /// Every scope (`admin`): what tokens minted before scopes existed hold.
    pub const ADMIN: Self = Self(Self::bit(Scope::Admin));

    #[expect(
        clippy::as_conversions,
        reason = "the discriminant of a fieldless enum of 11 variants: always below 16"
    )]
    const fn bit(s: Scope) -> u16 {
        1 << s as u16
    }

    /// The set of these scopes.
    #[must_use]
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |acc, s| acc | Self::bit(*s)))
    }

    /// Parses scope names separated by spaces or commas (at least one).
    ///
    /// # Errors
    /// The first unknown name, or an empty string when none is given.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set = Self::default();
        for name in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            set.0 |= Self::bit(Scope::parse(name).ok_or_else(|| name.to_owned())?);
        }
        if set.0 == 0 { Err(String::new()) } else { Ok(set) }
    }

    /// Whether the set grants `scope` (it names it, or holds `admin`).
    #[must_use]
    pub const fn allows(self, scope: Scope) -> bool {
        self.0 & (Self::bit(scope) | Self::bit(Scope::Admin)) != 0
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes named, in the order of [`Scope::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.iter().copied().filter(move |s| self.0 & Self::bit(*s) != 0)
    }

    /// The first scope of `other` that this set does not grant.
    #[must_use]
    pub fn first_missing(self, other: Self) -> Option<Scope> {
        other.iter().find(|s| !self.allows(*s))
    }
}

impl fmt::Display for Scopes {
    /// Space-separated names (how they are stored and shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

/// An identity handle pattern: a handle, or a handle prefix followed by one `*`
/// (`sales-*`; `*` alone is every identity).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct HandlePattern(String);

impl HandlePattern {
    /// Parses a pattern (one leading `@` is stripped, as for handles).
    ///
    /// # Errors
    /// A message when the text is neither a handle nor a handle prefix followed by one `*`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.strip_prefix('@').unwrap_or(input);
        let bad = || format!("{input:?} is neither a handle nor a handle prefix followed by one *");
        match s.strip_suffix('*') {
            Some("") => Ok(Self("*".to_owned())),
            Some(prefix) => {
                // a prefix may end in `.`, `_` or `-`: it is a handle once one letter follows
                let probe = format!("{prefix}a");
                Handle::parse(&probe).map_err(|_| bad())?;
                Ok(Self(s.to_owned()))
            }
            None => Handle::parse(s).map(|h| Self(h.as_str().to_owned())).map_err(|_| bad()),
        }
    }

    /// The pattern as written (`sales-*`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix of a wildcard, `None` for a literal handle.
    #[must_use]
    pub fn prefix(&self) -> Option<&str> {
        self.0.strip_suffix('*')
    }

    /// Whether `handle` matches (a literal matches only itself).
    #[must_use]
    pub fn matches(&self, handle: &str) -> bool {
        match self.prefix() {
            Some(prefix) => handle.starts_with(prefix),
            None => self.0 == handle,
        }
    }

    /// Whether every handle this pattern matches is matched by `wider` too.
    #[must_use]
    pub fn within(&self, wider: &Self) -> bool {
        match (self.prefix(), wider.prefix()) {
            (_, Some(w)) => self.0.starts_with(w) || self.prefix().is_some_and(|p| p.starts_with(w)),
            (None, None) => self.0 == wider.0,
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for HandlePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One identity grant of a restriction: a wildcard pattern, or a literal handle pinned to the
/// identity that had it when the token was minted.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum IdentityGrant {
    /// Every identity whose handle matches, now or later.
    Pattern(HandlePattern),
    /// This identity, while it is live (its handle when minted, for display).
    Pinned(IdentityId, Handle),
}

impl IdentityGrant {
    /// Whether the grant covers this identity.
    #[must_use]
    pub fn covers_identity(&self, id: IdentityId, handle: &str) -> bool {
        match self {
            Self::Pattern(p) => p.matches(handle),
            Self::Pinned(pinned, _) => *pinned == id,
        }
    }

    /// The grant as written (`bot`, `sales-*`).
    #[must_use]
    pub fn pattern_text(&self) -> &str {
        match self {
            Self::Pattern(p) => p.as_str(),
            Self::Pinned(_, h) => h.as_str(),
        }
    }
}

/// The identities and apps a confined token may see: the identities its grants cover, the apps
/// linked to them, the apps listed, and their accounts, instances and audit events.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Restriction {
    /// Identity grants.
    pub identities: Vec<IdentityGrant>,
    /// Apps by id.
    pub apps: Vec<AppId>,
}

impl Restriction {
    /// Whether the restriction covers this identity.
    #[must_use]
    pub fn sees_identity(&self, identity: &Identity) -> bool {
        self.sees_identity_parts(*identity.id(), identity.handle().as_str())
    }

    /// [`Self::sees_identity`] from an id and a handle.
    #[must_use]
    pub fn sees_identity_parts(&self, id: IdentityId, handle: &str) -> bool {
        self.identities.iter().any(|g| g.covers_identity(id, handle))
    }

    /// Whether the restriction covers this app, linked to `owner` (the app's live identity).
    #[must_use]
    pub fn sees_app(&self, app: &App, owner: Option<&Identity>) -> bool {
        self.apps.contains(app.id()) || owner.is_some_and(|i| self.sees_identity(i))
    }

    /// Whether a new identity with this handle would be inside (a wildcard matches it; a
    /// pinned handle never covers a new identity).
    #[must_use]
    pub fn may_create_identity(&self, handle: &Handle) -> bool {
        self.identities
            .iter()
            .any(|g| matches!(g, IdentityGrant::Pattern(p) if p.matches(handle.as_str())))
    }

    /// The stored form: space-separated `identity:<pattern>`, `identity:<handle>@<uuid>` and
    /// `app:<uuid>` items.
    #[must_use]
    pub fn to_stored(&self) -> String {
        let mut items: Vec<String> = self
            .identities
            .iter()
            .map(|g| match g {
                IdentityGrant::Pattern(p) => format!("identity:{p}"),
                IdentityGrant::Pinned(id, h) => format!("identity:{h}@{id}"),
            })
            .collect();
        items.extend(self.apps.iter().map(|a| format!("app:{a}")));
        items.join(" ")
    }

    /// Reads [`Self::to_stored`] back; `None` when the text is not of that form.
    #[must_use]
    pub fn from_stored(text: &str) -> Option<Self> {
        let mut r = Self::default();
        for item in text.split(' ').filter(|s| !s.is_empty()) {
            if let Some(app) = item.strip_prefix("app:") {
                r.apps.push(AppId::from_uuid(uuid::Uuid::parse_str(app).ok()?));
            } else if let Some(grant) = item.strip_prefix("identity:") {
                r.identities.push(match grant.split_once('@') {
                    Some((h, id)) => IdentityGrant::Pinned(
                        IdentityId::from_uuid(uuid::Uuid::parse_str(id).ok()?),
                        Handle::parse(h).ok()?,
                    ),
                    None => IdentityGrant::Pattern(HandlePattern::parse(grant).ok()?),
                });
            } else {
                return None;
            }
        }
        Some(r)
    }
}

/// What a service token may do: its scopes, and its restriction (`None`: the whole
/// organization).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Access {
    /// The scopes.
    pub scopes: Scopes,
    /// The restriction, if any.
    pub restriction: Option<Restriction>,
}

/// What made a new token broader than the one minting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TooBroad {
    /// A scope the minting token lacks.
    Scope(Scope),
    /// The new token is unrestricted, the minting one is not.
    Unrestricted,
    /// An identity grant the minting token does not cover (as written).
    Identity(String),
    /// An app the minting token does not see.
    App(AppId),
    /// It would outlive the minting token (or the organization's maximum lifetime).
    Lifetime,
}

impl fmt::Display for TooBroad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scope(s) => write!(f, "the scope {s}"),
            Self::Unrestricted => f.write_str("every identity and app (no restriction)"),
            Self::Identity(p) => write!(f, "the identities {p}"),
            Self::App(a) => write!(f, "the app {a}"),
            Self::Lifetime => f.write_str("its lifetime"),
        }
    }
}

impl Access {
    /// Every scope, the whole organization: tokens minted before scopes existed, and the CLI.
    #[must_use]
    pub const fn admin() -> Self {
        Self {
            scopes: Scopes::ADMIN,
            restriction: None,
        }
    }

    /// Whether the token may use `scope`.
    #[must_use]
    pub const fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }

    /// Whether the token sees this identity.
    #[must_use]
    pub fn sees_identity(&self, identity: &Identity) -> bool {
        self.restriction.as_ref().is_none_or(|r| r.sees_identity(identity))
    }

    /// Whether `other` (scopes and resources; the lifetime is the use case's) is no broader
    /// than this access. `app_visible` tells whether this access sees an app of `other`'s list,
    /// `identity_visible` whether it sees a pinned identity of `other`'s.
    ///
    /// # Errors
    /// The first thing that is broader.
    pub fn covers(
        &self,
        other: &Self,
        identity_visible: &mut dyn FnMut(IdentityId, &Handle) -> bool,
        app_visible: &mut dyn FnMut(AppId) -> bool,
    ) -> Result<(), TooBroad> {
        if let Some(s) = self.scopes.first_missing(other.scopes) {
            return Err(TooBroad::Scope(s));
        }
        let Some(mine) = &self.restriction else {
            return Ok(());
        };
        let Some(theirs) = &other.restriction else {
            return Err(TooBroad::Unrestricted);
        };
        for g in &theirs.identities {
            let inside = match g {
                IdentityGrant::Pattern(p) => mine
                    .identities
                    .iter()
                    .any(|m| matches!(m, IdentityGrant::Pattern(w) if p.within(w))),
                IdentityGrant::Pinned(id, h) => identity_visible(*id, h),
            };
            if !inside {
                return Err(TooBroad::Identity(g.pattern_text().to_owned()));
            }
        }
        for a in &theirs.apps {
            if !app_visible(*a) {
                return Err(TooBroad::App(*a));
            }
        }
        Ok(())
    }
}

impl Default for Access {
    fn default() -> Self {
        Self::admin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HandlePattern {
        HandlePattern::parse(s).unwrap()
    }

    #[test]
    fn scopes_parse_display_and_admin_grants_all() {
        let s = Scopes::parse("otp:generate,apps:read").unwrap();
        assert_eq!(s.to_string(), "apps:read otp:generate");
        assert!(s.allows(Scope::AppsRead));
        assert!(!s.allows(Scope::OtpVerify));
        assert_eq!(Scopes::parse("apps:read nope"), Err("nope".to_owned()));
        assert_eq!(Scopes::parse(" "), Err(String::new()));
        for scope in Scope::ALL {
            assert!(Scopes::ADMIN.allows(*scope));
            assert_eq!(Scope::parse(scope.as_str()), Some(*scope));
        }
        assert_eq!(Scopes::ADMIN.first_missing(s), None);
        assert_eq!(s.first_missing(Scopes::ADMIN), Some(Scope::Admin));
        assert_eq!(
            s.first_missing(Scopes::of(&[Scope::AppsRead, Scope::OtpVerify])),
            Some(Scope::OtpVerify)
        );
    }

    #[test]
    fn patterns_match_literally_or_by_prefix() {
        assert!(p("bot").matches("bot"));
        assert!(!p("bot").matches("bot2"));
        assert!(p("sales-*").matches("sales-1"));
        assert!(p("sales-*").matches("sales-"));
        assert!(!p("sales-*").matches("sale"));
        assert!(p("*").matches("anything"));
        assert_eq!(p("@bot").as_str(), "bot");
        for bad in ["", "a*b", "**", "-x*", "a b", "sales-**"] {
            assert!(HandlePattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pattern_containment() {
        assert!(p("sales-eu-*").within(&p("sales-*")));
        assert!(p("sales-1").within(&p("sales-*")));
        assert!(p("sales-*").within(&p("*")));
        assert!(!p("sales-*").within(&p("sales-eu-*")));
        assert!(!p("sales-*").within(&p("sales-1")));
        assert!(p("bot").within(&p("bot")));
    }

    #[test]
    fn restrictions_round_trip_through_storage() {
        let id = IdentityId::from_uuid(uuid::Uuid::from_u128(9));
        let r = Restriction {
            identities: vec![
                IdentityGrant::Pattern(p("sales-*")),
                IdentityGrant::Pinned(id, Handle::parse("bot").unwrap()),
            ],
            apps: vec![AppId::from_uuid(uuid::Uuid::from_u128(3))],
        };
        let text = r.to_stored();
        assert_eq!(Restriction::from_stored(&text), Some(r));
        assert_eq!(Restriction::from_stored("user:x"), None);
        assert_eq!(Restriction::from_stored("app:nope"), None);
    }

    #[test]
    fn a_pinned_handle_never_covers_a_new_identity_with_that_handle() {
        let old = IdentityId::from_uuid(uuid::Uuid::from_u128(1));
        let new = IdentityId::from_uuid(uuid::Uuid::from_u128(2));
        let r = Restriction {
            identities: vec![IdentityGrant::Pinned(old, Handle::parse("bot").unwrap())],
            apps: vec![],
        };
        assert!(r.sees_identity_parts(old, "bot"));
        assert!(!r.sees_identity_parts(new, "bot"));
        assert!(!r.may_create_identity(&Handle::parse("bot").unwrap()));
    }

    #[test]
    fn covers_names_the_first_broader_thing() {
        let confined = Access {
            scopes: Scopes::of(&[Scope::AppsRead, Scope::OtpGenerate, Scope::TokensWrite]),
            restriction: Some(Restriction {
                identities: vec![IdentityGrant::Pattern(p("sales-*"))],
                apps: vec![],
            }),
        };
        let yes = &mut |_: IdentityId, h: &Handle| h.as_str().starts_with("sales-");
        let no_app = &mut |_: AppId| false;
        let narrower = Access {
            scopes: Scopes::of(&[Scope::OtpGenerate]),
            restriction: Some(Restriction {
                identities: vec![IdentityGrant::Pattern(p("sales-eu-*"))],
                apps: vec![],
            }),
        };
        assert_eq!(confined.covers(&narrower, yes, no_app), Ok(()));
        let more_scope = Access {
            scopes: Scopes::of(&[Scope::OtpVerify]),
            ..narrower.clone()
        };
        assert_eq!(
            confined.covers(&more_scope, yes, no_app),
            Err(TooBroad::Scope(Scope::OtpVerify))
        );
        let unrestricted = Access {
            restriction: None,
            ..narrower.clone()
        };
        assert_eq!(confined.covers(&unrestricted, yes, no_app), Err(TooBroad::Unrestricted));
        let wider = Access {
            restriction: Some(Restriction {
                identities: vec![IdentityGrant::Pattern(p("*"))],
                apps: vec![],
            }),
            ..narrower.clone()
        };
        assert_eq!(
            confined.covers(&wider, yes, no_app),
            Err(TooBroad::Identity("*".to_owned()))
        );
        let app = AppId::from_uuid(uuid::Uuid::from_u128(5));
        let with_app = Access {
            restriction: Some(Restriction {
                identities: vec![],
                apps: vec![app],
            }),
            ..narrower
        };
        assert_eq!(confined.covers(&with_app, yes, no_app), Err(TooBroad::App(app)));
        assert_eq!(Access::admin().covers(&with_app, yes, no_app), Ok(()));
    }
}
