//! Service tokens: minting (by the CLI or by a token, never broader than the minting one),
//! authenticating (with the in-process cache), recording their use, listing and revoking them,
//! and the organization's maximum token lifetime.

use std::sync::Arc;

use crate::access::{Access, HandlePattern, IdentityGrant, Restriction, Scopes, TooBroad};
use crate::audit::{Action, Actor, Caller, Detail, ResourceType};
use crate::auth::Principal;
use crate::entities::{ServiceToken, ServiceTokenParts};
use crate::error::{Error, Forbidden, Realm, Resource};
use crate::ids::{AppId, OrgId, TokenId};
use crate::ports::{Repo, Store};
use crate::time::Timestamp;
use crate::token::{PlainToken, SERVICE_TOKEN_PREFIX, TokenHash};
use crate::values::{Handle, TokenLifetime, TokenName};

use super::{Authd, confined_app_visible, internal};

/// `last_used_at` is written at most this often per token.
pub const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// A token to mint.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// An optional name.
    pub name: Option<TokenName>,
    /// Its scopes (at least one).
    pub scopes: Scopes,
    /// Identity patterns it is confined to (literal handles are pinned to today's identity).
    pub identities: Vec<HandlePattern>,
    /// Apps it is confined to.
    pub apps: Vec<AppId>,
    /// How long it lives (`None`: until revoked, or the tightest bound that applies: the
    /// organization's maximum lifetime, the minting token's own expiry).
    pub lifetime: Option<TokenLifetime>,
}

impl NewToken {
    /// A token with every scope over the whole organization (what `authd token create` makes
    /// without flags).
    #[must_use]
    pub fn admin(name: Option<TokenName>, lifetime: Option<TokenLifetime>) -> Self {
        Self {
            name,
            scopes: Scopes::ADMIN,
            identities: Vec::new(),
            apps: Vec::new(),
            lifetime,
        }
    }
}

/// Whether `other` is no broader than the caller's own access (`Err(TooBroad)` names what is).
fn check_covers(r: &mut dyn Repo, who: &Caller, other: &Access) -> Result<Result<(), TooBroad>, Error> {
    let org = who.org();
    let mut failure = None;
    let covered = who.access().covers(
        other,
        &mut |id, h| {
            who.restriction()
                .is_none_or(|rs| rs.sees_identity_parts(id, h.as_str()))
        },
        &mut |app| {
            confined_app_visible(r, org, who, app).unwrap_or_else(|e| {
                failure = Some(e);
                false
            })
        },
    );
    failure.map_or(Ok(covered), Err)
}

/// Whether `who` manages this token: it covers the token's scopes and resources (a token never
/// lists nor revokes a broader one).
fn manages(r: &mut dyn Repo, who: &Caller, token: &ServiceToken) -> Result<bool, Error> {
    Ok(check_covers(r, who, token.access())?.is_ok())
}

impl<S: Store> Authd<S> {
    /// Mints a service token for the caller's organization; the plain token is returned once.
    /// A token caller mints nothing broader than itself: scopes, identities, apps, lifetime.
    /// Literal handles are pinned to the identity that has them now (it must exist); listed
    /// apps must exist.
    ///
    /// # Errors
    /// `NotFound` (a literal handle or an app), `Forbidden` (too broad, or over the
    /// organization's maximum lifetime), `Internal` (randomness), storage failures.
    pub fn create_service_token(&self, who: &Caller, input: NewToken) -> Result<(ServiceToken, PlainToken), Error> {
        let org = who.org();
        if input.scopes.is_empty() {
            return Err(internal(
                "a service token needs at least one scope (the adapters check it)",
            ));
        }
        let now = self.now();
        let plain = PlainToken::generate(SERVICE_TOKEN_PREFIX, self.deps.rng.as_ref()).map_err(internal)?;
        let id = TokenId::from_uuid(self.new_id());
        let hash = plain.hash();
        self.store
            .transaction(|r| {
                // A token caller mints under a lock on its own row: a revocation of it waits, then
                // revokes what it minted (and a caller revoked meanwhile mints nothing).
                let parent = match who.actor() {
                    Actor::ServiceToken(id) => Some(
                        *r.lock_service_token(*id)?
                            .ok_or(Error::Unauthorized(Realm::Service))?
                            .id(),
                    ),
                    _ => None,
                };
                let access = self.resolve_access(r, who, &input)?;
                check_covers(r, who, &access)?.map_err(|too_broad| Error::Forbidden(Forbidden::TooBroad(too_broad)))?;
                let expires_at = self.lifetime_bound(r, who, input.lifetime, now)?;
                let token = ServiceToken::from_parts(ServiceTokenParts {
                    id,
                    org: org.clone(),
                    name: input.name.clone(),
                    created_at: now,
                    last_used_at: None,
                    revoked_at: None,
                    expires_at,
                    access,
                    parent,
                });
                r.insert_service_token(&token, &hash)?;
                let restriction = token.access().restriction.as_ref();
                let details = [
                    (
                        "name",
                        Detail::from(token.name().as_ref().map(|n| n.as_str().to_owned())),
                    ),
                    ("scopes", Detail::from(token.access().scopes.to_string())),
                    (
                        "identities",
                        Detail::from(restriction.filter(|rs| !rs.identities.is_empty()).map(|rs| {
                            rs.identities
                                .iter()
                                .map(|g| g.pattern_text().to_owned())
                                .collect::<Vec<_>>()
                        })),
                    ),
                    (
                        "apps",
                        Detail::from(
                            restriction
                                .filter(|rs| !rs.apps.is_empty())
                                .map(|rs| rs.apps.iter().map(ToString::to_string).collect::<Vec<_>>()),
                        ),
                    ),
                    ("expires_at", Detail::from(expires_at.map(Timestamp::to_rfc3339))),
                ];
                self.audit(
                    r,
                    who,
                    now,
                    (Action::TokenCreate, ResourceType::ServiceToken, id.as_uuid(), &details),
                )?;
                Ok(token)
            })
            .map(|token| (token, plain))
    }

    /// The new token's access: literal handles pinned to today's identities, apps checked. A
    /// confined caller asking for a handle or an app outside its own view is refused as too
    /// broad before anything is looked up, so minting tells it nothing about records it cannot
    /// see (a missing one inside its view is `NotFound`, as everywhere).
    fn resolve_access(&self, r: &mut dyn Repo, who: &Caller, input: &NewToken) -> Result<Access, Error> {
        let org = who.org();
        let too_broad = |what| Error::Forbidden(Forbidden::TooBroad(what));
        let mut restriction = Restriction::default();
        for pattern in &input.identities {
            restriction.identities.push(if pattern.prefix().is_some() {
                IdentityGrant::Pattern(pattern.clone())
            } else {
                let outside = || too_broad(TooBroad::Identity(pattern.as_str().to_owned()));
                let handle = Handle::parse(pattern.as_str()).map_err(|_| Error::NotFound(Resource::Identity))?;
                // Inside a caller's wildcard, a missing handle is `NotFound` (its own namespace);
                // a handle it holds only pinned must still name that very identity, and anything
                // else is too broad whether it exists or not.
                let pinned_only = match who.restriction() {
                    None => false,
                    Some(rs) if rs.may_create_identity(&handle) => false,
                    Some(rs) if rs.identities.iter().any(|g| g.pattern_text() == handle.as_str()) => true,
                    Some(_) => return Err(outside()),
                };
                let identity = r.identity_by_handle(org, &handle)?;
                match identity {
                    Some(i) if !pinned_only || who.access().sees_identity(&i) => IdentityGrant::Pinned(*i.id(), handle),
                    Some(_) => return Err(outside()),
                    None if pinned_only => return Err(outside()),
                    None => return Err(Error::NotFound(Resource::Identity)),
                }
            });
        }
        for app in &input.apps {
            if who.restriction().is_some() && !confined_app_visible(r, org, who, *app)? {
                return Err(too_broad(TooBroad::App(*app)));
            }
            r.app(org, *app)?.ok_or(Error::NotFound(Resource::App))?;
            restriction.apps.push(*app);
        }
        let confined = !restriction.identities.is_empty() || !restriction.apps.is_empty();
        Ok(Access {
            scopes: input.scopes,
            restriction: confined.then_some(restriction),
        })
    }

    /// The new token's expiry: the asked lifetime, never past the organization's maximum nor
    /// the minting token's expiry (an unasked lifetime defaults to the tightest of them).
    fn lifetime_bound(
        &self,
        r: &mut dyn Repo,
        who: &Caller,
        asked: Option<TokenLifetime>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, Error> {
        let max = r.max_token_lifetime(who.org())?;
        if let (Some(asked), Some(max)) = (asked, max)
            && asked > max
        {
            return Err(Error::Forbidden(Forbidden::LifetimeOverMax(max)));
        }
        let parent = who.token_expires_at();
        match asked.map(|l| now.plus_seconds(l.seconds())) {
            Some(at) if parent.is_some_and(|p| at > p) => {
                Err(Error::Forbidden(Forbidden::TooBroad(TooBroad::Lifetime)))
            }
            Some(at) => Ok(Some(at)),
            None => Ok(max
                .map(|m| now.plus_seconds(m.seconds()))
                .into_iter()
                .chain(parent)
                .min()),
        }
    }

    /// Resolves a presented service token to its principal (organization, access, expiry), and
    /// whether its `last_used_at` is due to be recorded ([`Self::record_service_token_use`]:
    /// the caller runs that off the request's critical path). A successful look-up is trusted
    /// for [`crate::auth::CACHE_TTL_SECONDS`] in this process (never past the token's expiry),
    /// so a revoked token is refused everywhere within that bound, and an expired one at once.
    ///
    /// # Errors
    /// `Unauthorized` for a missing, unknown or revoked token; `TokenExpired` for a token at or
    /// past its `expires_at`; storage failures.
    pub fn authenticate_service_token(&self, presented: &str) -> Result<(Principal, bool), Error> {
        if !presented.starts_with(SERVICE_TOKEN_PREFIX) {
            return Err(Error::Unauthorized(Realm::Service));
        }
        let hash = TokenHash::of(presented);
        let now = self.now();
        if let Some(p) = self.tokens.get(&hash, now) {
            return Ok((p, false));
        }
        let token = self
            .store
            .run(|r| r.service_token_by_hash(&hash))?
            .ok_or(Error::Unauthorized(Realm::Service))?;
        if token.is_expired_at(now) {
            return Err(Error::TokenExpired);
        }
        let due = token
            .last_used_at()
            .is_none_or(|t| t < now.plus_seconds(-LAST_USED_RESOLUTION_SECONDS));
        let principal = Principal {
            org: token.org().clone(),
            token_id: *token.id(),
            access: Arc::new(token.access().clone()),
            expires_at: *token.expires_at(),
        };
        self.tokens.put(hash, principal.clone(), now, *token.expires_at());
        Ok((principal, due))
    }

    /// Records that a token was used now: writes `last_used_at` unless another request (of any
    /// replica) did within the last [`LAST_USED_RESOLUTION_SECONDS`].
    ///
    /// # Errors
    /// Storage failures.
    pub fn record_service_token_use(&self, id: TokenId) -> Result<(), Error> {
        let now = self.now();
        let stale_before = now.plus_seconds(-LAST_USED_RESOLUTION_SECONDS);
        Ok(self.store.run(|r| r.touch_service_token(id, now, stale_before))?)
    }

    /// The principal of a presented service token when this process has recently verified it:
    /// no I/O at all, so an async caller can try this first and fall back to
    /// [`Self::authenticate_service_token`] on a blocking thread only on a miss.
    #[must_use]
    pub fn cached_principal(&self, presented: &str) -> Option<Principal> {
        if !presented.starts_with(SERVICE_TOKEN_PREFIX) {
            return None;
        }
        self.tokens.get(&TokenHash::of(presented), self.now())
    }

    /// Every service token (of one org, or all), oldest first; never the tokens themselves.
    /// For the CLI.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_service_tokens(&self, org: Option<&OrgId>) -> Result<Vec<ServiceToken>, Error> {
        Ok(self.store.run(|r| r.list_service_tokens(org))?)
    }

    /// The caller's organization's tokens that the caller covers (no broader than itself),
    /// revoked ones too, oldest first.
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_tokens(&self, who: &Caller) -> Result<Vec<ServiceToken>, Error> {
        self.store.run(|r| {
            let mut out = Vec::new();
            for t in r.list_service_tokens(Some(who.org()))? {
                if manages(r, who, &t)? {
                    out.push(t);
                }
            }
            Ok(out)
        })
    }

    /// The calling token itself (what it may do, when it expires).
    ///
    /// # Errors
    /// `NotFound` when the caller is not a service token or it was revoked meanwhile; storage
    /// failures.
    pub fn token_self(&self, who: &Caller) -> Result<ServiceToken, Error> {
        let Actor::ServiceToken(id) = who.actor() else {
            return Err(Error::NotFound(Resource::ServiceToken));
        };
        self.store
            .run(|r| r.list_service_tokens(Some(who.org())))?
            .into_iter()
            .find(|t| t.id() == id && t.revoked_at().is_none())
            .ok_or(Error::NotFound(Resource::ServiceToken))
    }

    /// Revokes one of the caller's organization's tokens that the caller covers, with every
    /// token it minted (and theirs).
    ///
    /// # Errors
    /// `NotFound` when no unrevoked token of the organization the caller covers has this id;
    /// storage failures.
    pub fn revoke_token(&self, who: &Caller, id: TokenId) -> Result<(), Error> {
        let at = self.now();
        let revoked = self.store.transaction(|r| {
            let token = r
                .list_service_tokens(Some(who.org()))?
                .into_iter()
                .find(|t| *t.id() == id);
            let Some(token) = token.filter(|t| t.revoked_at().is_none()) else {
                return Ok(Vec::new());
            };
            if !manages(r, who, &token)? || r.revoke_service_token(id, at)?.is_none() {
                return Ok(Vec::new());
            }
            self.revoked_with_descendants(r, who, id, at)
        })?;
        self.forget(&revoked)
    }

    /// Revokes a service token of any organization (the CLI; `by` is recorded in the token's
    /// organization's trail), with every token it minted (and theirs).
    ///
    /// # Errors
    /// `NotFound` when no unrevoked token has this id; storage failures.
    pub fn revoke_service_token(&self, id: TokenId, by: &Actor) -> Result<(), Error> {
        let at = self.now();
        let revoked = self.store.transaction(|r| {
            let Some(org) = r.revoke_service_token(id, at)? else {
                return Ok(Vec::new());
            };
            let who = Caller::new(org, by.clone());
            self.revoked_with_descendants(r, &who, id, at)
        })?;
        self.forget(&revoked)
    }

    /// Drops the revoked tokens from this process's cache at once; `NotFound` when none was
    /// revoked (no such token, or not the caller's to revoke).
    fn forget(&self, ids: &[TokenId]) -> Result<(), Error> {
        for id in ids {
            self.tokens.forget_token(*id);
        }
        if ids.is_empty() {
            Err(Error::NotFound(Resource::ServiceToken))
        } else {
            Ok(())
        }
    }

    /// After `root` was revoked in this unit of work: its audit event, then every unrevoked
    /// token it minted, transitively, revoked with an event naming `root`. Returns them all,
    /// `root` first. A mint holds its parent's row locked
    /// ([`crate::ports::TokenRepo::lock_service_token`]), so a child committed before the
    /// revocation is found here, and none can be minted after it.
    fn revoked_with_descendants(
        &self,
        r: &mut dyn Repo,
        who: &Caller,
        root: TokenId,
        at: Timestamp,
    ) -> Result<Vec<TokenId>, Error> {
        self.audit(
            r,
            who,
            at,
            (Action::TokenRevoke, ResourceType::ServiceToken, root.as_uuid(), &[]),
        )?;
        let tokens = r.list_service_tokens(Some(who.org()))?;
        let mut revoked = vec![root];
        let mut i = 0;
        while let Some(parent) = revoked.get(i).copied() {
            i += 1;
            for child in tokens.iter().filter(|t| *t.parent() == Some(parent)) {
                let id = *child.id();
                if child.revoked_at().is_none() && r.revoke_service_token(id, at)?.is_some() {
                    let details = [("revoked_with", Detail::from(root.to_string()))];
                    self.audit(
                        r,
                        who,
                        at,
                        (Action::TokenRevoke, ResourceType::ServiceToken, id.as_uuid(), &details),
                    )?;
                    revoked.push(id);
                }
            }
        }
        Ok(revoked)
    }

    /// The organization's maximum token lifetime, if set.
    ///
    /// # Errors
    /// Storage failures.
    pub fn max_token_lifetime(&self, org: &OrgId) -> Result<Option<TokenLifetime>, Error> {
        Ok(self.store.run(|r| r.max_token_lifetime(org))?)
    }

    /// Sets (or clears) the organization's maximum token lifetime (CLI): tokens minted later
    /// live at most this long; tokens that exist keep their expiry. Audited.
    ///
    /// # Errors
    /// Storage failures.
    pub fn set_max_token_lifetime(&self, who: &Caller, max: Option<TokenLifetime>) -> Result<(), Error> {
        let at = self.now();
        self.store.transaction(|r| {
            r.set_max_token_lifetime(who.org(), max, at)?;
            let details = [(
                "max_token_lifetime_seconds",
                Detail::from(max.map(TokenLifetime::seconds)),
            )];
            self.audit(
                r,
                who,
                at,
                (Action::OrgUpdate, ResourceType::Org, uuid::Uuid::nil(), &details),
            )
        })
    }
}
