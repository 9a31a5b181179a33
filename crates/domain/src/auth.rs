//! Service-token authentication with a short-lived cache, so the hot path does not pay a
//! database round trip per request while a revoked token is still refused by every replica
//! within [`CACHE_TTL_SECONDS`] (well inside the 5-second promise).

use std::collections::HashMap;
use std::sync::RwLock;

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
}

/// Positive look-ups of service tokens, each trusted until it expires. Failed look-ups are never
/// cached, so a new token works at once.
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

    /// Remembers a successful look-up made at `now`.
    pub fn put(&self, hash: TokenHash, principal: Principal, now: Timestamp) {
        let mut map = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CACHE_MAX_ENTRIES {
            map.clear();
        }
        map.insert(hash, (principal, now.plus_seconds(CACHE_TTL_SECONDS)));
    }

    /// Forgets one token at once (used by revocation in this process).
    pub fn forget_token(&self, id: TokenId) {
        let mut map = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (p, _)| p.token_id != id);
    }
}
