//! `authd token create|list|revoke`.

use domain::Authd;
use domain::audit::{Actor, Caller};
use domain::ids::{OrgId, TokenId};
use domain::values::{TokenLifetime, TokenName};
use storage_diesel::DieselStore;

use crate::cli::{OutputFormat, TokenCommand};
use crate::config::ConfigError;
use crate::print_line;
use crate::table::{self, Column, Table};

/// `token list`'s table: the name is cut to 32 characters.
const LIST: Table<7> = Table::new([
    Column::new("ID"),
    Column::new("ORG"),
    Column::new("NAME").max(32),
    Column::new("CREATED"),
    Column::new("EXPIRES"),
    Column::new("LAST_USED"),
    Column::new("REVOKED"),
]);

fn opt_ts(t: Option<&domain::time::Timestamp>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.to_rfc3339()))
}

/// Runs a token subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { org, name, expires_in } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let name = name
                .as_deref()
                .map(TokenName::parse)
                .transpose()
                .map_err(|e| ConfigError(format!("--name: {e}")))?;
            let lifetime = expires_in
                .as_deref()
                .map(TokenLifetime::parse)
                .transpose()
                .map_err(|e| ConfigError(format!("--expires-in: {e}")))?;
            let (meta, plain) = authd.create_service_token(&Caller::new(org.clone(), Actor::Cli), name, lifetime)?;
            tracing::info!(
                token_id = %meta.id(),
                org = %org,
                expires_at = %meta.expires_at().map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
                "created service token"
            );
            // Not a reader that left (`StdoutError`, a quiet exit 0): the token is lost, say so.
            print_line(plain.expose()).map_err(|e| {
                anyhow::anyhow!(
                    "service token {id} was created but could not be printed ({e}: {}); revoke it with \
                     `authd token revoke {id}`",
                    std::error::Error::source(&e).map_or_else(String::new, ToString::to_string),
                    id = meta.id()
                )
            })?;
        }
        TokenCommand::List { org, json, format } => {
            let org = org
                .as_deref()
                .map(OrgId::new)
                .transpose()
                .map_err(|e| ConfigError(format!("--org: {e}")))?;
            let tokens = authd.list_service_tokens(org.as_ref())?;
            if table::output_format(*format, *json) == OutputFormat::Json {
                let arr: Vec<serde_json::Value> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id().to_string(),
                            "org": t.org().as_str(),
                            "name": t.name().as_ref().map(TokenName::as_str),
                            "created_at": t.created_at().to_rfc3339(),
                            "expires_at": opt_ts(t.expires_at().as_ref()),
                            "last_used_at": opt_ts(t.last_used_at().as_ref()),
                            "revoked_at": opt_ts(t.revoked_at().as_ref()),
                        })
                    })
                    .collect();
                print_line(&serde_json::Value::Array(arr).to_string())?;
            } else {
                let rows: Vec<[String; 7]> = tokens
                    .iter()
                    .map(|t| {
                        [
                            t.id().to_string(),
                            t.org().to_string(),
                            table::or_none(t.name().as_ref().map(|n| n.as_str().to_owned())),
                            table::when(*t.created_at()),
                            table::or_none(t.expires_at().map(table::when)),
                            table::or_none(t.last_used_at().map(table::when)),
                            table::or_none(t.revoked_at().map(table::when)),
                        ]
                    })
                    .collect();
                let list = LIST.fit(&rows);
                print_line(&list.header())?;
                for row in &rows {
                    print_line(&list.row(row))?;
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let id = TokenId::parse(id).ok_or_else(|| ConfigError("token id must be a UUID".into()))?;
            authd.revoke_service_token(id, &Actor::Cli)?;
            tracing::info!(token_id = %id, "revoked service token");
        }
    }
    Ok(())
}
