//! Soft-delete cascades: [`CascadeRepo`], every step of a domain `CascadePlan` as one `UPDATE`
//! of live rows, with the plan's one timestamp.

use diesel::prelude::*;
use domain::cascade::{CascadePlan, CascadeStep};
use domain::ids::IdentityId;
use domain::ports::{CascadeRepo, StoreResult};

use super::{DieselRepo, accounts, apps, identities, instances, write_db};
use crate::pool::{Conn, in_transaction};
use crate::schema::{accounts as accounts_t, apps as apps_t, identities as identities_t, instances as instances_t};
use crate::sql::{Key, ts};

impl CascadeRepo for DieselRepo<'_> {
    fn apply_cascade(&mut self, plan: &CascadePlan) -> StoreResult<()> {
        if self.in_tx || plan.steps().len() <= 1 {
            return apply_steps(self, plan);
        }
        // Outside a unit-of-work transaction a cascade is still all-or-nothing.
        in_transaction(self.conn, |c: &mut Conn| {
            apply_steps(&mut DieselRepo::new(c, true), plan)
        })
    }
}

/// Applies every step of a plan, in order, with the plan's one timestamp: `deleted_at = at`
/// and `updated_at = at` on every row a step deletes or changes.
fn apply_steps(repo: &mut DieselRepo<'_>, plan: &CascadePlan) -> StoreResult<()> {
    let org = plan.org().as_str();
    let at = ts(plan.at());
    let unlinked = (
        apps_t::identity_id.eq(None::<Key<IdentityId>>),
        apps_t::updated_at.eq(at),
    );
    for step in plan.steps() {
        match *step {
            CascadeStep::DeleteApp(app) => write_db!(
                repo,
                count,
                diesel::update(apps::live(org).filter(apps_t::id.eq(Key(app))))
                    .set((unlinked, apps_t::deleted_at.eq(at)))
            ),
            CascadeStep::UnlinkApp(app) => write_db!(
                repo,
                count,
                diesel::update(apps::live(org).filter(apps_t::id.eq(Key(app)))).set(unlinked)
            ),
            CascadeStep::DeleteAccountsOfApp(app) => write_db!(
                repo,
                count,
                diesel::update(accounts::live(org).filter(accounts_t::app_id.eq(Key(app))))
                    .set((accounts_t::updated_at.eq(at), accounts_t::deleted_at.eq(at)))
            ),
            CascadeStep::DeleteAccount(id) => write_db!(
                repo,
                count,
                diesel::update(accounts::live(org).filter(accounts_t::id.eq(Key(id))))
                    .set((accounts_t::updated_at.eq(at), accounts_t::deleted_at.eq(at)))
            ),
            CascadeStep::RevokeInstancesOfApp(app) => write_db!(
                repo,
                count,
                diesel::update(instances::live(org).filter(instances_t::app_id.eq(Key(app))))
                    .set((instances_t::updated_at.eq(at), instances_t::deleted_at.eq(at)))
            ),
            CascadeStep::RevokeInstance(id) => write_db!(
                repo,
                count,
                diesel::update(instances::live(org).filter(instances_t::id.eq(Key(id))))
                    .set((instances_t::updated_at.eq(at), instances_t::deleted_at.eq(at)))
            ),
            CascadeStep::DeleteIdentity(id) => write_db!(
                repo,
                count,
                diesel::update(identities::live(org).filter(identities_t::id.eq(Key(id))))
                    .set((identities_t::updated_at.eq(at), identities_t::deleted_at.eq(at)))
            ),
        }?;
    }
    Ok(())
}
