//! `authd token create|list|revoke`.

use domain::Authd;
use domain::audit::{Actor, Caller};
use domain::ids::{OrgId, TokenId};
use domain::values::TokenName;
use storage_diesel::DieselStore;

use crate::cli::TokenCommand;
use crate::config::ConfigError;
use crate::print_line;

fn opt_ts(t: Option<&domain::time::Timestamp>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.to_rfc3339()))
}

/// Runs a token subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { org, name } => {
            let org = OrgId::new(org.as_str()).map_err(|e| ConfigError(format!("--org: {e}")))?;
            let name = name
                .as_deref()
                .map(TokenName::parse)
                .transpose()
                .map_err(|e| ConfigError(format!("--name: {e}")))?;
            let (meta, plain) = authd.create_service_token(&Caller::new(org.clone(), Actor::Cli), name)?;
            tracing::info!(token_id = %meta.id(), org = %org, "created service token");
            print_line(plain.expose());
        }
        TokenCommand::List { org, json } => {
            let org = org
                .as_deref()
                .map(OrgId::new)
                .transpose()
                .map_err(|e| ConfigError(format!("--org: {e}")))?;
            let tokens = authd.list_service_tokens(org.as_ref())?;
            if *json {
                let arr: Vec<serde_json::Value> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id().to_string(),
                            "org": t.org().as_str(),
                            "name": t.name().as_ref().map(TokenName::as_str),
                            "created_at": t.created_at().to_rfc3339(),
                            "last_used_at": opt_ts(t.last_used_at().as_ref()),
                            "revoked_at": opt_ts(t.revoked_at().as_ref()),
                        })
                    })
                    .collect();
                print_line(&serde_json::Value::Array(arr).to_string());
            } else {
                print_line("ID\tORG\tNAME\tCREATED\tLAST_USED\tREVOKED");
                for t in &tokens {
                    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                    print_line(&format!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.id(),
                        t.org(),
                        dash(t.name().as_ref().map(|n| n.as_str().to_owned())),
                        t.created_at(),
                        dash(t.last_used_at().map(|x| x.to_rfc3339())),
                        dash(t.revoked_at().map(|x| x.to_rfc3339())),
                    ));
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
