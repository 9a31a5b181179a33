//! `authd org set|show`: an organization's settings (its maximum token lifetime).

use domain::Authd;
use domain::audit::{Actor, Caller};
use domain::ids::OrgId;
use domain::values::TokenLifetime;
use storage_diesel::DieselStore;

use crate::cli::{OrgCommand, OutputFormat};
use crate::config::ConfigError;
use crate::print_line;
use crate::table::{self, Column, Table};

/// `org show`'s table.
const SHOW: Table<2> = Table::new([Column::new("ORG"), Column::new("MAX_TOKEN_LIFETIME")]);

/// Runs an org subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Set {
            org,
            max_token_lifetime,
        } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let max = max_token_lifetime.0;
            authd.set_max_token_lifetime(&Caller::new(org.clone(), Actor::Cli), max)?;
            tracing::info!(
                org = %org,
                max_token_lifetime = %table::or_none(max.map(table::lifetime)),
                "set the maximum token lifetime"
            );
        }
        OrgCommand::Show { org, json, format } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let max = authd.max_token_lifetime(&org)?;
            match table::output_format(*format, *json) {
                OutputFormat::Json => print_line(
                    &serde_json::json!({
                        "org": org.as_str(),
                        "max_token_lifetime_seconds": max.map(TokenLifetime::seconds),
                    })
                    .to_string(),
                )?,
                OutputFormat::Table => {
                    let row = [org.to_string(), table::or_none(max.map(table::lifetime))];
                    let t = SHOW.fit(std::slice::from_ref(&row));
                    print_line(&t.header())?;
                    print_line(&t.row(&row))?;
                }
            }
        }
    }
    Ok(())
}
