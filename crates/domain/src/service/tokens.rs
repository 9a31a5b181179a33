//! Service tokens: creating, authenticating (with the in-process cache), listing and revoking them.

use crate::audit::{Action, Actor, Caller, Detail, ResourceType};
use crate::auth::Principal;
use crate::entities::{ServiceToken, ServiceTokenParts};
use crate::error::{Error, Realm, Resource};
use crate::ids::{OrgId, TokenId};
use crate::ports::Store;
use crate::time::Timestamp;
use crate::token::{PlainToken, SERVICE_TOKEN_PREFIX, TokenHash};
use crate::values::{TokenLifetime, TokenName};

use super::{Authd, internal};

impl<S: Store> Authd<S> {
    /// Creates a service token for `org`, living `lifetime` from now when given (until revoked
    /// otherwise); the plain token is returned once.
    ///
    /// # Errors
    /// `Internal` (randomness), storage failures.
    pub fn create_service_token(
        &self,
        who: &Caller,
        name: Option<TokenName>,
        lifetime: Option<TokenLifetime>,
    ) -> Result<(ServiceToken, PlainToken), Error> {
        let org = who.org();
        let now = self.now();
        let expires_at = lifetime.map(|l| now.plus_seconds(l.seconds()));
        let plain = PlainToken::generate(SERVICE_TOKEN_PREFIX, self.deps.rng.as_ref()).map_err(internal)?;
        let token = ServiceToken::from_parts(ServiceTokenParts {
            id: TokenId::from_uuid(self.new_id()),
            org: org.clone(),
            name,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at,
        });
        let hash = plain.hash();
        let name = token.name().as_ref().map(|n| n.as_str().to_owned());
        self.store.transaction(|r| {
            r.insert_service_token(&token, &hash)?;
            let details = [
                ("name", Detail::from(name.clone())),
                ("expires_at", Detail::from(expires_at.map(Timestamp::to_rfc3339))),
            ];
            self.audit(
                r,
                who,
                now,
                (
                    Action::TokenCreate,
                    ResourceType::ServiceToken,
                    token.id().as_uuid(),
                    &details,
                ),
            )
        })?;
        Ok((token, plain))
    }

    /// Resolves a presented service token to its organization. A successful look-up is trusted
    /// for [`crate::auth::CACHE_TTL_SECONDS`] in this process (never past the token's expiry),
    /// so a revoked token is refused everywhere within that bound, and an expired one at once.
    ///
    /// # Errors
    /// `Unauthorized` for a missing, unknown or revoked token; `TokenExpired` for a token at or
    /// past its `expires_at`; storage failures.
    pub fn authenticate_service_token(&self, presented: &str) -> Result<Principal, Error> {
        if !presented.starts_with(SERVICE_TOKEN_PREFIX) {
            return Err(Error::Unauthorized(Realm::Service));
        }
        let hash = TokenHash::of(presented);
        let now = self.now();
        if let Some(p) = self.tokens.get(&hash, now) {
            return Ok(p);
        }
        let token = self.store.run(|r| {
            let t = r.service_token_by_hash(&hash)?;
            if let Some(t) = t.as_ref().filter(|t| !t.is_expired_at(now)) {
                r.touch_service_token(*t.id(), now)?;
            }
            Ok::<_, Error>(t)
        })?;
        let token = token.ok_or(Error::Unauthorized(Realm::Service))?;
        if token.is_expired_at(now) {
            return Err(Error::TokenExpired);
        }
        let principal = Principal {
            org: token.org().clone(),
            token_id: *token.id(),
        };
        self.tokens.put(hash, principal.clone(), now, *token.expires_at());
        Ok(principal)
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
    ///
    /// # Errors
    /// Storage failures.
    pub fn list_service_tokens(&self, org: Option<&OrgId>) -> Result<Vec<ServiceToken>, Error> {
        Ok(self.store.run(|r| r.list_service_tokens(org))?)
    }

    /// Revokes a service token (`by` is recorded in the token's organization's trail).
    ///
    /// # Errors
    /// `NotFound` when no unrevoked token has this id; storage failures.
    pub fn revoke_service_token(&self, id: TokenId, by: &Actor) -> Result<(), Error> {
        let at = self.now();
        let revoked = self.store.transaction(|r| {
            let Some(org) = r.revoke_service_token(id, at)? else {
                return Ok(false);
            };
            let who = Caller::new(org, by.clone());
            self.audit(
                r,
                &who,
                at,
                (Action::TokenRevoke, ResourceType::ServiceToken, id.as_uuid(), &[]),
            )?;
            Ok::<_, Error>(true)
        })?;
        self.tokens.forget_token(id);
        if revoked {
            Ok(())
        } else {
            Err(Error::NotFound(Resource::ServiceToken))
        }
    }
}
