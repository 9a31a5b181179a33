//! Service-token authentication with a short-lived cache, so the hot path does not pay a
//! database round trip per request while a revoked token is still refused by every replica
//! within [`CACHE_TTL_SECONDS`] (well inside the 5-second promise).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::access::Access;

use crate::ids::{OrgId, TokenId};
use crate::time::Timestamp;
use crate::token::TokenHash;

/// How long a successful look-up is trusted.
pub const CACHE_TTL_SECONDS: i64 = 2;
/// The cache is cleared when it grows past this many entries (bounding memory under a flood of
/// distinct valid tokens, which would need that many tokens to exist).
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// Who is calling: the organization a valid service token acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's organization.
    pub org: OrgId,
    /// The token's public id.
    pub token_id: TokenId,
    /// What it may do.
    pub access: Arc<Access>,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
}

/// Positive look-ups of service tokens, each trusted until the earlier of its cache deadline
/// and the token's own expiry. Failed look-ups are never cached, so a new token works at once.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<TokenHash, (Principal, Timestamp)>>,
}

impl TokenCache {
    /// A cached, unexpired principal for this hash.
    #[must_use]
    pub fn get(&self, hash: &TokenHash, now: Timestamp) -> Option<Principal> {
        let map = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(hash) {
            Some((p, expires)) if now < *expires => Some(p.clone()),
            _ => None,
        }
    }

    /// Remembers a successful look-up made at `now`, of a token that stops working at
    /// `token_expires_at` (if ever): the entry is trusted until the earlier of the two, so the
    /// cache never serves an expired token.
    pub fn put(&self, hash: TokenHash, principal: Principal, now: Timestamp, token_expires_at: Option<Timestamp>) {
        let ttl = now.plus_seconds(CACHE_TTL_SECONDS);
        let until = token_expires_at.map_or(ttl, |e| e.min(ttl));
        let mut map = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CACHE_MAX_ENTRIES {
            map.clear();
        }
        map.insert(hash, (principal, until));
    }

    /// Forgets one token at once (used by revocation in this process).
    pub fn forget_token(&self, id: TokenId) {
        let mut map = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (p, _)| p.token_id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            org: OrgId::new("acme").unwrap(),
            token_id: TokenId::from_uuid(uuid::Uuid::nil()),
            access: Arc::new(Access::admin()),
            expires_at: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(secs).unwrap()
    }

    #[test]
    fn an_entry_is_never_served_past_the_tokens_expiry() {
        let cache = TokenCache::default();
        let hash = TokenHash::of("authd_svc_x");
        cache.put(hash, principal(), at(1000), Some(at(1001)));
        assert_eq!(cache.get(&hash, at(1000)), Some(principal()));
        assert_eq!(cache.get(&hash, at(1001)), None, "expired although the TTL still runs");
    }

    #[test]
    fn without_expiry_the_ttl_bounds_an_entry() {
        let cache = TokenCache::default();
        let hash = TokenHash::of("authd_svc_x");
        cache.put(hash, principal(), at(1000), None);
        assert_eq!(cache.get(&hash, at(1000 + CACHE_TTL_SECONDS - 1)), Some(principal()));
        assert_eq!(cache.get(&hash, at(1000 + CACHE_TTL_SECONDS)), None);
        cache.put(hash, principal(), at(1000), Some(at(5000)));
        assert_eq!(
            cache.get(&hash, at(1000 + CACHE_TTL_SECONDS)),
            None,
            "a later expiry does not extend the TTL"
        );
    }
}
