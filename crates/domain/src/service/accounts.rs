//! OTP accounts of an app: import from an `otpauth://` URI, list, get, update, delete, and code generation.

use crate::audit::{Action, AuditEvent, Caller, Detail, ResourceType};
use crate::cascade::CascadePlan;
use crate::entities::{Account, AccountEdit, AccountParts};
use crate::error::{ConflictKind, Error, Resource};
use crate::ids::{AccountId, AppId};
use crate::otp::{self, Algorithm, Digits, OtpAuthUri, OtpKind, OtpType, Period, UriError, VerifyWindow};
use crate::ports::{HotpAdvance, Lock, OtpMaterial, Repo, SealedSecret, Store};
use crate::time::Timestamp;
use crate::values::{Description, DisplayName, IdentityStatus, Metadata, Patch};

use super::{Authd, confine_app, internal, live_account, locked_account, locked_app};

/// Input of [`Authd::create_account`].
#[derive(Clone)]
pub struct NewAccount {
    /// The `otpauth://` URI, as given (it is parsed here, so that a shape error answers before
    /// a missing app and an OTP parameter error after it).
    pub otpauth_uri: String,
    /// Optional display name.
    pub display_name: Option<DisplayName>,
    /// Optional description.
    pub description: Option<Description>,
    /// The verification window; `None` for the type's default.
    pub verify_window: Option<VerifyWindow>,
    /// The caller's own keys and values (empty for none).
    pub metadata: Metadata,
}

impl std::fmt::Debug for NewAccount {
    /// The URI carries the secret: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("otpauth_uri", &"<redacted>")
            .field("display_name", &self.display_name)
            .field("description", &self.description)
            .field("verify_window", &self.verify_window)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Input of [`Authd::update_account`].
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    /// New display name, `Clear` for null, `Keep` when absent.
    pub display_name: Patch<DisplayName>,
    /// New description, `Clear` for null, `Keep` when absent.
    pub description: Patch<Description>,
    /// New verification window, `Clear` (null) for the type's default, `Keep` when absent.
    pub verify_window: Patch<VerifyWindow>,
    /// New metadata, replacing the whole map; `Clear` (null) for none, `Keep` when absent.
    pub metadata: Patch<Metadata>,
}

impl AccountPatch {
    /// `edit` with this patch applied, changed at `now`.
    fn applied_to(self, edit: AccountEdit, now: Timestamp) -> AccountEdit {
        let Self {
            display_name,
            description,
            verify_window,
            metadata,
        } = self;
        AccountEdit {
            display_name: display_name.apply(edit.display_name),
            description: description.apply(edit.description),
            verify_window: verify_window.apply(edit.verify_window),
            metadata: metadata.apply_or_default(edit.metadata),
            updated_at: now,
        }
    }
}

/// A generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCode {
    /// The zero-padded code.
    pub code: String,
    /// TOTP: seconds until the step ends (1..=period); HOTP: `None`.
    pub valid_for_seconds: Option<u32>,
    /// The account's type.
    pub otp_type: OtpType,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Its digits.
    pub digits: Digits,
    /// Its period (TOTP).
    pub period: Option<Period>,
}

impl<S: Store> Authd<S> {
    /// Imports an OTP account from an `otpauth://` URI into an app.
    ///
    /// # Errors
    /// `Uri` (its shape, checked first), `NotFound` (app), `Uri` (its OTP parameters, checked after the app), storage failures.
    pub fn create_account(&self, who: &Caller, app: AppId, input: NewAccount) -> Result<Account, Error> {
        let org = who.org();
        let parsed = match OtpAuthUri::parse(&input.otpauth_uri) {
            Err(e @ UriError::Shape(_)) => return Err(Error::Uri(e)),
            other => other,
        };
        let id = AccountId::from_uuid(self.new_id());
        let now = self.now();
        self.store.transaction(|r| {
            locked_app(r, who, app, Lock::Share)?;
            let uri = parsed.as_ref().map_err(|e| Error::Uri(*e))?;
            let sealed = self.deps.cipher.seal(id, &uri.secret).map_err(internal)?;
            let account = Account::from_parts(AccountParts {
                id,
                org: org.clone(),
                app_id: app,
                kind: uri.kind,
                issuer: uri.issuer.clone(),
                account_name: uri.account_name.clone(),
                display_name: input.display_name.clone(),
                description: input.description.clone(),
                algorithm: uri.algorithm,
                digits: uri.digits,
                verify_window: input.verify_window,
                metadata: input.metadata.clone(),
                created_at: now,
                updated_at: now,
            });
            r.insert_account(&account, &sealed)?;
            let details = [
                ("app_id", Detail::from(app.to_string())),
                ("otp_type", Detail::from(account.otp_type().as_str())),
                ("issuer", Detail::from(account.issuer().clone())),
                ("algorithm", Detail::from(account.algorithm().as_str())),
                ("digits", Detail::from(i64::from(account.digits().get()))),
                ("metadata_keys", Detail::from(account.metadata().key_names())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AccountCreate, ResourceType::Account, id.as_uuid(), &details),
            )?;
            Ok(account)
        })
    }

    /// The live accounts of a live app, oldest first.
    ///
    /// # Errors
    /// `NotFound` (app), storage failures.
    pub fn list_accounts(&self, who: &Caller, app: AppId) -> Result<Vec<Account>, Error> {
        let org = who.org();
        self.store.run(|r| {
            confine_app(r, who, app, Resource::App)?;
            r.list_accounts(org, app)?.ok_or(Error::NotFound(Resource::App))
        })
    }

    /// One live account of a live app.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn get_account(&self, who: &Caller, app: AppId, id: AccountId) -> Result<Account, Error> {
        self.store.run(|r| live_account(r, who, app, id))
    }

    /// Changes an account's display name, description, verification window and metadata
    /// (absent keeps, null clears; a cleared window is the type's default again, cleared
    /// metadata has no keys; new metadata replaces the old whole). The audit event names the
    /// metadata's keys, never its values.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn update_account(
        &self,
        who: &Caller,
        app: AppId,
        id: AccountId,
        patch: AccountPatch,
    ) -> Result<Account, Error> {
        let org = who.org();
        let now = self.now();
        self.store.transaction(|r| {
            let mut account = locked_account(r, who, app, id)?;
            let edit = patch.clone().applied_to(account.edit(), now);
            r.update_account(org, id, &edit)?;
            account.apply(edit);
            let details = [
                ("app_id", Detail::from(app.to_string())),
                (
                    "display_name",
                    Detail::from(account.display_name().as_ref().map(|d| d.as_str().to_owned())),
                ),
                (
                    "description",
                    Detail::from(account.description().as_ref().map(|d| d.as_str().to_owned())),
                ),
                ("metadata_keys", Detail::from(account.metadata().key_names())),
            ];
            self.audit(
                r,
                who,
                now,
                (Action::AccountUpdate, ResourceType::Account, id.as_uuid(), &details),
            )?;
            Ok(account)
        })
    }

    /// Deletes one account.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub fn delete_account(&self, who: &Caller, app: AppId, id: AccountId) -> Result<(), Error> {
        let org = who.org();
        let at = self.now();
        self.store.transaction(|r| {
            locked_account(r, who, app, id)?;
            r.apply_cascade(&CascadePlan::delete_account(org.clone(), id, at))?;
            let details = [("app_id", Detail::from(app.to_string()))];
            self.audit(
                r,
                who,
                at,
                (Action::AccountDelete, ResourceType::Account, id.as_uuid(), &details),
            )
        })
    }

    /// Generates the account's current code. HOTP advances the counter atomically (a failure
    /// before the advance, such as an unreadable secret, leaves it unchanged).
    ///
    /// A HOTP account whose sealed secret this process has opened before takes one statement
    /// ([`crate::ports::AccountRepo::advance_hotp_if_sealed`], which holds the stored value to
    /// that one); when it changes nothing, the material is read as for any account, and that
    /// read tells why.
    ///
    /// # Errors
    /// `NotFound`, `Paused`, `Conflict` (HOTP counter at its maximum), `SecretUnreadable`,
    /// storage failures.
    pub fn generate_otp(&self, who: &Caller, app: AppId, id: AccountId) -> Result<OtpCode, Error> {
        let now = self.now();
        // No transaction: the code's one write (its event, or the HOTP advance with its event)
        // is atomic on its own.
        self.store.run(|r| {
            confine_app(r, who, app, Resource::Account)?;
            self.code(r, who, app, id, now)
        })
    }

    /// The code of the account `id` of `app`, with its audit event (and the HOTP advance):
    /// one statement for a HOTP account whose sealed secret opened before, else the material is
    /// read and decided on.
    pub(super) fn code(
        &self,
        r: &mut dyn Repo,
        who: &Caller,
        app: AppId,
        id: AccountId,
        now: Timestamp,
    ) -> Result<OtpCode, Error> {
        if let Some(sealed) = self.opened.get(id)
            && let Some(code) = self.hotp_code_if_sealed(r, who, app, id, &sealed, now)?
        {
            return Ok(code);
        }
        let material = r
            .otp_material(who.org(), app, id)?
            .ok_or(Error::NotFound(Resource::Account))?;
        self.code_for(r, who, &material, now)
    }

    /// The HOTP code of an account whose sealed secret `sealed` opened before, in one
    /// statement; `None` when that statement changed nothing.
    fn hotp_code_if_sealed(
        &self,
        r: &mut dyn Repo,
        who: &Caller,
        app: AppId,
        id: AccountId,
        sealed: &SealedSecret,
        now: Timestamp,
    ) -> Result<Option<OtpCode>, Error> {
        let event = self.generate_event(who, now, app, id, OtpType::Hotp);
        let Some(used) = r.advance_hotp_if_sealed(who.org(), app, id, sealed, &event)? else {
            return Ok(None);
        };
        // The same bytes opened before, with the same ring: this cannot fail short of a broken
        // cipher, which is answered as any unreadable secret.
        let secret = self.deps.cipher.open(id, sealed).map_err(|_| Error::SecretUnreadable)?;
        Ok(Some(OtpCode {
            code: otp::hotp(used.algorithm, secret.expose(), used.counter, used.digits),
            valid_for_seconds: None,
            otp_type: OtpType::Hotp,
            algorithm: used.algorithm,
            digits: used.digits,
            period: None,
        }))
    }

    /// The `otp.generate` event of a code of account `id` (of `app`, of this type): its details
    /// name the app and the type, never the code.
    fn generate_event(&self, who: &Caller, now: Timestamp, app: AppId, id: AccountId, otp_type: OtpType) -> AuditEvent {
        let details = [
            ("app_id", Detail::from(app.to_string())),
            ("otp_type", Detail::from(otp_type.as_str())),
        ];
        self.event(
            who,
            now,
            (Action::OtpGenerate, ResourceType::Account, id.as_uuid(), &details),
        )
    }

    /// The code of an account whose material was just read, with its audit event.
    fn code_for(&self, r: &mut dyn Repo, who: &Caller, m: &OtpMaterial, now: Timestamp) -> Result<OtpCode, Error> {
        let org = who.org();
        if m.identity_status == Some(IdentityStatus::Paused) {
            return Err(Error::Paused);
        }
        let a = &m.account;
        let secret = self
            .deps
            .cipher
            .open(*a.id(), &m.sealed)
            .map_err(|_| Error::SecretUnreadable)?;
        let event = self.generate_event(who, now, *a.app_id(), *a.id(), a.otp_type());
        let (code, valid_for_seconds) = match *a.kind() {
            OtpKind::Totp { period } => {
                let t = u64::try_from(now.unix_seconds()).map_err(|_| internal("clock before 1970"))?;
                let totp = otp::totp(*a.algorithm(), secret.expose(), t, period, *a.digits());
                // A TOTP code changes nothing: its event is the one write, atomic on its own.
                r.insert_audit_event(&event)?;
                (totp.code, Some(totp.valid_for_seconds))
            }
            // The advance and its event together (see the port), without a transaction here.
            OtpKind::Hotp { .. } => match r.advance_hotp_counter(org, *a.id(), &event)? {
                HotpAdvance::Use(c) => {
                    // Opened: the next code of this account can be one statement.
                    self.opened.remember(*a.id(), &m.sealed);
                    (otp::hotp(*a.algorithm(), secret.expose(), c, *a.digits()), None)
                }
                HotpAdvance::Exhausted => return Err(Error::Conflict(ConflictKind::HotpCounterExhausted)),
                HotpAdvance::Missing => return Err(Error::NotFound(Resource::Account)),
            },
        };
        Ok(OtpCode {
            code,
            valid_for_seconds,
            otp_type: a.otp_type(),
            algorithm: *a.algorithm(),
            digits: *a.digits(),
            period: a.kind().period(),
        })
    }
}

/// The sealed HOTP secrets this process has opened, by account: the key to
/// [`Authd::generate_otp`]'s one-statement path. Ciphertext only, never a plaintext secret. An
/// entry is never trusted on its own (the statement holds the stored value to it), so it needs
/// no invalidation; the map is emptied when it reaches [`OpenedSecrets::MAX_ENTRIES`].
#[derive(Default)]
pub(crate) struct OpenedSecrets {
    entries: std::sync::RwLock<std::collections::HashMap<AccountId, SealedSecret>>,
}

impl OpenedSecrets {
    /// At most this many accounts are remembered: about 130 bytes each (an id and a sealed value
    /// of about 60 bytes, with the map's overhead), so at most about 8 MiB.
    pub(crate) const MAX_ENTRIES: usize = 65_536;

    fn get(&self, id: AccountId) -> Option<SealedSecret> {
        let map = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&id).cloned()
    }

    fn remember(&self, id: AccountId, sealed: &SealedSecret) {
        let mut map = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.get(&id) == Some(sealed) {
            return;
        }
        if map.len() >= Self::MAX_ENTRIES {
            map.clear();
        }
        map.insert(id, sealed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::{OpenedSecrets, SealedSecret};
    use crate::ids::AccountId;

    fn id(n: u128) -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(n))
    }

    /// The map keeps the latest value per account and never grows past its bound.
    #[test]
    fn opened_secrets_keep_the_latest_value_within_the_bound() {
        let opened = OpenedSecrets::default();
        opened.remember(id(1), &SealedSecret(vec![1]));
        opened.remember(id(1), &SealedSecret(vec![2]));
        assert_eq!(opened.get(id(1)), Some(SealedSecret(vec![2])));
        assert_eq!(opened.get(id(2)), None);
        for n in 0..=OpenedSecrets::MAX_ENTRIES {
            opened.remember(id(u128::try_from(n).unwrap_or(0) + 10), &SealedSecret(vec![3]));
        }
        let len = opened.entries.read().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(len <= OpenedSecrets::MAX_ENTRIES, "{len} entries");
    }
}
