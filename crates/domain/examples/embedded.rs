//! Another Rust service embedding authd's domain in-process, without HTTP or a database:
//! the in-memory adapter from the `testkit` feature, the real OTP engine. The testkit keeps
//! nothing and is for tests only: for a service embedding authd for real, on a SQLite file that
//! survives its restarts and with a real master key, see
//! `crates/storage-diesel/examples/embedded_service.rs`.
//!
//! Run with `cargo run -p domain --example embedded --features testkit`.

use domain::audit::{Actor, Caller};
use domain::ids::OrgId;
use domain::service::NewAccount;
use domain::testkit::kit;
use domain::values::Handle;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let k = kit();
    let authd = &k.authd;
    // An embedding service acts as itself: the audit trail records it as the CLI actor.
    let org = Caller::new(OrgId::new("org_embedded")?, Actor::Cli);
    let bot = Handle::parse("@billing-bot")?;

    authd.create_identity(&org, bot.clone())?;
    let app = authd.create_app(&org, Some(&bot))?;
    let account = authd.create_account(
        &org,
        *app.id(),
        NewAccount {
            otpauth_uri: "otpauth://totp/Example:billing?secret=JBSWY3DPEHPK3PXP&issuer=Example".into(),
            display_name: None,
            description: None,
            verify_window: None,
            metadata: Default::default(),
        },
    )?;
    let code = authd.generate_otp(&org, *app.id(), *account.id())?;
    let out = format!(
        "{} has app {} with account {} ({}): code {} valid for {}s",
        bot,
        app.id(),
        account.account_name(),
        account.otp_type().as_str(),
        code.code,
        code.valid_for_seconds.unwrap_or(0)
    );
    #[expect(clippy::print_stdout, reason = "an example shows its output")]
    {
        println!("{out}");
    }
    Ok(())
}
