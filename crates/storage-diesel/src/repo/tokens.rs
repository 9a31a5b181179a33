//! Service tokens: `service_tokens` rows, the organizations' `org_settings` (the maximum token
//! lifetime), and [`TokenRepo`].

use diesel::prelude::*;
use domain::access::{Access, Restriction, Scopes};
use domain::entities::{ServiceToken, ServiceTokenParts};
use domain::ids::{OrgId, TokenId};
use domain::ports::{StoreResult, TokenRepo};
use domain::time::Timestamp;
use domain::token::TokenHash;
use domain::values::{TokenLifetime, TokenName};
use time::PrimitiveDateTime;

use super::{DieselRepo, lock_db, read_db, write_db};
use crate::schema::{org_settings, service_tokens};
use crate::sql::{Key, corrupt, from_ts, ts};
use crate::stored_ts::StoredTs;

const T: &str = "service_tokens";
const S: &str = "org_settings";

#[derive(Queryable, Selectable)]
#[diesel(table_name = service_tokens)]
struct ServiceTokenRow {
    id: Key<TokenId>,
    org_id: String,
    name: Option<String>,
    created_at: StoredTs,
    last_used_at: Option<StoredTs>,
    revoked_at: Option<StoredTs>,
    expires_at: Option<StoredTs>,
    scopes: String,
    restriction: Option<String>,
    parent_id: Option<Key<TokenId>>,
}

impl ServiceTokenRow {
    fn into_entity(self) -> StoreResult<ServiceToken> {
        Ok(ServiceToken::from_parts(ServiceTokenParts {
            id: self.id.0,
            org: OrgId::new(self.org_id).map_err(|_| corrupt(T, "org_id"))?,
            name: self
                .name
                .map(|n| TokenName::parse(n).map_err(|_| corrupt(T, "name")))
                .transpose()?,
            created_at: from_ts(self.created_at),
            last_used_at: self.last_used_at.map(from_ts),
            revoked_at: self.revoked_at.map(from_ts),
            expires_at: self.expires_at.map(from_ts),
            access: Access {
                scopes: Scopes::parse(&self.scopes).map_err(|_| corrupt(T, "scopes"))?,
                restriction: self
                    .restriction
                    .map(|r| Restriction::from_stored(&r).ok_or_else(|| corrupt(T, "restriction")))
                    .transpose()?,
            },
            parent: self.parent_id.map(|k| k.0),
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = service_tokens, treat_none_as_default_value = false)]
struct NewServiceToken<'a> {
    id: Key<TokenId>,
    org_id: &'a str,
    name: Option<&'a str>,
    token_hash: &'a [u8],
    created_at: PrimitiveDateTime,
    last_used_at: Option<PrimitiveDateTime>,
    revoked_at: Option<PrimitiveDateTime>,
    expires_at: Option<PrimitiveDateTime>,
    scopes: &'a str,
    restriction: Option<&'a str>,
    parent_id: Option<Key<TokenId>>,
}

impl TokenRepo for DieselRepo<'_> {
    fn insert_service_token(&mut self, t: &ServiceToken, hash: &TokenHash) -> StoreResult<()> {
        let scopes = t.access().scopes.to_string();
        let restriction = t.access().restriction.as_ref().map(Restriction::to_stored);
        let row = NewServiceToken {
            id: Key(*t.id()),
            org_id: t.org().as_str(),
            name: t.name().as_ref().map(TokenName::as_str),
            token_hash: hash.as_bytes(),
            created_at: ts(*t.created_at()),
            last_used_at: t.last_used_at().map(ts),
            revoked_at: t.revoked_at().map(ts),
            expires_at: t.expires_at().map(ts),
            scopes: &scopes,
            restriction: restriction.as_deref(),
            parent_id: t.parent().map(Key),
        };
        write_db!(self, count, diesel::insert_into(service_tokens::table).values(&row))?;
        Ok(())
    }

    fn service_token_by_hash(&mut self, hash: &TokenHash) -> StoreResult<Option<ServiceToken>> {
        let hash: &[u8] = hash.as_bytes();
        read_db!(
            self,
            first,
            service_tokens::table
                .filter(service_tokens::token_hash.eq(hash))
                .filter(service_tokens::revoked_at.is_null())
                .select(ServiceTokenRow::as_select())
        )?
        .map(ServiceTokenRow::into_entity)
        .transpose()
    }

    fn lock_service_token(&mut self, id: TokenId) -> StoreResult<Option<ServiceToken>> {
        lock_db!(
            self,
            domain::ports::Lock::Share,
            service_tokens::table
                .filter(service_tokens::id.eq(Key(id)))
                .filter(service_tokens::revoked_at.is_null())
                .select(ServiceTokenRow::as_select())
        )?
        .map(ServiceTokenRow::into_entity)
        .transpose()
    }

    fn list_service_tokens(&mut self, org: Option<&OrgId>) -> StoreResult<Vec<ServiceToken>> {
        let order = (service_tokens::created_at.asc(), service_tokens::id.asc());
        let rows = match org {
            Some(org) => read_db!(
                self,
                all,
                service_tokens::table
                    .filter(service_tokens::org_id.eq(org.as_str()))
                    .order(order)
                    .select(ServiceTokenRow::as_select())
            )?,
            None => read_db!(
                self,
                all,
                service_tokens::table.order(order).select(ServiceTokenRow::as_select())
            )?,
        };
        rows.into_iter().map(ServiceTokenRow::into_entity).collect()
    }

    fn revoke_service_token(&mut self, id: TokenId, at: Timestamp) -> StoreResult<Option<OrgId>> {
        let org = write_db!(
            self,
            first,
            diesel::update(
                service_tokens::table
                    .filter(service_tokens::id.eq(Key(id)))
                    .filter(service_tokens::revoked_at.is_null()),
            )
            .set(service_tokens::revoked_at.eq(ts(at)))
            .returning(service_tokens::org_id)
        )?;
        org.map(|o: String| OrgId::new(o).map_err(|_| corrupt(T, "org_id")))
            .transpose()
    }

    fn touch_service_token(&mut self, id: TokenId, at: Timestamp, stale_before: Timestamp) -> StoreResult<()> {
        // One conditional statement: of replicas recording the same use, the first writes it and
        // the others find it fresh.
        write_db!(
            self,
            count,
            diesel::update(
                service_tokens::table.filter(service_tokens::id.eq(Key(id))).filter(
                    service_tokens::last_used_at
                        .is_null()
                        .or(service_tokens::last_used_at.lt(ts(stale_before))),
                ),
            )
            .set(service_tokens::last_used_at.eq(ts(at)))
        )?;
        Ok(())
    }

    fn max_token_lifetime(&mut self, org: &OrgId) -> StoreResult<Option<TokenLifetime>> {
        let stored: Option<Option<i64>> = read_db!(
            self,
            first,
            org_settings::table
                .filter(org_settings::org_id.eq(org.as_str()))
                .select(org_settings::max_token_lifetime_seconds)
        )?;
        stored
            .flatten()
            .map(|secs| TokenLifetime::from_seconds(secs).map_err(|_| corrupt(S, "max_token_lifetime_seconds")))
            .transpose()
    }

    fn set_max_token_lifetime(&mut self, org: &OrgId, max: Option<TokenLifetime>, at: Timestamp) -> StoreResult<()> {
        // An upsert (one statement on either backend); clearing keeps the row, its value NULL.
        let secs = max.map(TokenLifetime::seconds);
        write_db!(
            self,
            count,
            diesel::insert_into(org_settings::table)
                .values((
                    org_settings::org_id.eq(org.as_str()),
                    org_settings::max_token_lifetime_seconds.eq(secs),
                    org_settings::updated_at.eq(ts(at)),
                ))
                .on_conflict(org_settings::org_id)
                .do_update()
                .set((
                    org_settings::max_token_lifetime_seconds.eq(secs),
                    org_settings::updated_at.eq(ts(at)),
                ))
        )?;
        Ok(())
    }
}
