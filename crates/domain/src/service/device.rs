//! The device API: an instance lists its app's accounts and generates codes with its device token.

use crate::audit::RequestId;
use crate::entities::Account;
use crate::error::Error;
use crate::ids::AccountId;
use crate::ports::Store;

use super::{Authd, OtpCode, device_caller, device_hash};

impl<S: Store> Authd<S> {
    /// Checks a device token alone (one look-up, nothing written): for an adapter that must
    /// refuse a bad credential before it refuses a malformed request, without running a use
    /// case.
    ///
    /// # Errors
    /// `Unauthorized` (unknown or revoked device token), storage failures.
    pub fn authenticate_device(&self, device_token: &str) -> Result<(), Error> {
        let hash = device_hash(device_token)?;
        self.store.run(|r| device_caller(r, &hash, None).map(|_| ()))
    }

    /// The accounts a device may see (its app's live accounts). Allowed while paused.
    ///
    /// # Errors
    /// `Unauthorized` (unknown or revoked device token), storage failures.
    pub fn device_list_accounts(&self, device_token: &str) -> Result<Vec<Account>, Error> {
        let hash = device_hash(device_token)?;
        self.store.run(|r| {
            let (i, _) = device_caller(r, &hash, None)?;
            // A live instance implies a live app (deleting the app revokes its instances).
            Ok(r.list_accounts(i.org(), *i.app_id())?.unwrap_or_default())
        })
    }

    /// A code for one of the device's app's accounts; records the instance's `last_used_at`.
    ///
    /// # Errors
    /// `Unauthorized`, `NotFound`, `Paused`, `Conflict` (HOTP exhausted), `SecretUnreadable`,
    /// storage failures.
    pub fn device_generate_otp(
        &self,
        device_token: &str,
        account: AccountId,
        request_id: Option<&RequestId>,
    ) -> Result<OtpCode, Error> {
        let hash = device_hash(device_token)?;
        let now = self.now();
        // No transaction: the code's write (see `generate_otp`) and the touch are each atomic,
        // and a device fetch takes no lock for its reads.
        self.store.run(|r| {
            let (i, who) = device_caller(r, &hash, request_id)?;
            let code = self.code(r, &who, *i.app_id(), account, now)?;
            r.touch_instance(i.org(), *i.id(), now)?;
            Ok(code)
        })
    }
}
