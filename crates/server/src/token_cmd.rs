//! `authd token create|list|revoke`.

use domain::Authd;
use domain::access::{Access, HandlePattern, IdentityGrant, Scope, Scopes};
use domain::audit::{Actor, Caller};
use domain::error::{Error, Forbidden, Resource};
use domain::ids::{AppId, OrgId, TokenId};
use domain::service::NewToken;
use domain::values::{TokenLifetime, TokenName};
use storage_diesel::DieselStore;

use crate::cli::{OutputFormat, TokenCommand};
use crate::config::ConfigError;
use crate::print_line;
use crate::table::{self, Column, Table};

/// `token list`'s table: the name is cut to 32 characters, the restriction to 64 (the JSON
/// form has it all).
const LIST: Table<9> = Table::new([
    Column::new("ID"),
    Column::new("ORG"),
    Column::new("NAME").max(32),
    Column::new("CREATED"),
    Column::new("EXPIRES"),
    Column::new("LAST_USED"),
    Column::new("REVOKED"),
    Column::new("SCOPES"),
    Column::new("RESTRICTION").max(64),
]);

/// A token's scopes in a table cell: comma-separated, as `--scope` takes them.
fn scopes_cell(access: &Access) -> String {
    access.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
}

/// A token's restriction in a table cell: its identity patterns and `app:<id>` items,
/// space-separated; `-` when it is confined to nothing.
fn restriction_cell(access: &Access) -> String {
    table::or_none(access.restriction.as_ref().map(|r| {
        r.identities
            .iter()
            .map(|g| g.pattern_text().to_owned())
            .chain(r.apps.iter().map(|a| format!("app:{a}")))
            .collect::<Vec<_>>()
            .join(" ")
    }))
}

/// One token of `token list --json`: the fields of `GET /api/v1/tokens`, and its org
/// (`identities` and `apps` are null when the token is not confined to any).
fn token_json(t: &domain::entities::ServiceToken) -> serde_json::Value {
    let restriction = t.access().restriction.as_ref();
    serde_json::json!({
        "id": t.id().to_string(),
        "org": t.org().as_str(),
        "name": t.name().as_ref().map(TokenName::as_str),
        "created_at": t.created_at().to_rfc3339(),
        "expires_at": opt_ts(t.expires_at().as_ref()),
        "last_used_at": opt_ts(t.last_used_at().as_ref()),
        "revoked_at": opt_ts(t.revoked_at().as_ref()),
        "scopes": t.access().scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
        "identities": restriction
            .filter(|r| !r.identities.is_empty())
            .map(|r| r.identities.iter().map(IdentityGrant::pattern_text).collect::<Vec<_>>()),
        "apps": restriction
            .filter(|r| !r.apps.is_empty())
            .map(|r| r.apps.iter().map(ToString::to_string).collect::<Vec<_>>()),
    })
}

/// The token `token create` asks for: the union of the `--scope` values (`admin` without any),
/// each identity pattern and app once, in the order given.
fn new_token(
    name: Option<TokenName>,
    lifetime: Option<TokenLifetime>,
    scopes: &[Scopes],
    identities: &[HandlePattern],
    apps: &[AppId],
) -> NewToken {
    let mut token = NewToken::admin(name, lifetime);
    if !scopes.is_empty() {
        token.scopes = Scopes::of(&scopes.iter().flat_map(|s| s.iter()).collect::<Vec<_>>());
    }
    for p in identities {
        if !token.identities.contains(p) {
            token.identities.push(p.clone());
        }
    }
    for a in apps {
        if !token.apps.contains(a) {
            token.apps.push(*a);
        }
    }
    token
}

/// A refused `token create`, in the words of its flags.
fn create_error(e: Error, org: &OrgId, input: &NewToken, expires_in: Option<&str>) -> anyhow::Error {
    let list = |items: Vec<String>| items.join(", ");
    match e {
        Error::NotFound(Resource::Identity) => {
            let literals: Vec<String> = input
                .identities
                .iter()
                .filter(|p| p.prefix().is_none())
                .map(ToString::to_string)
                .collect();
            let which = match literals.as_slice() {
                [one] => format!("no identity of {org} has the handle {one}"),
                _ => format!("one of the handles {} names no identity of {org}", list(literals)),
            };
            anyhow::anyhow!("--identity: {which} (a handle without `*` must name an existing identity)")
        }
        Error::NotFound(Resource::App) => {
            let ids: Vec<String> = input.apps.iter().map(ToString::to_string).collect();
            match ids.as_slice() {
                [one] => anyhow::anyhow!("--app: {org} has no app {one}"),
                _ => anyhow::anyhow!("--app: one of the apps {} is not an app of {org}", list(ids)),
            }
        }
        Error::Forbidden(Forbidden::LifetimeOverMax(max)) => anyhow::anyhow!(
            "--expires-in {}: longer than the maximum token lifetime of {org}, {} (see `authd org \
             show --org {org}`)",
            expires_in.unwrap_or_default(),
            table::lifetime(max)
        ),
        e => e.into(),
    }
}

fn opt_ts(t: Option<&domain::time::Timestamp>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.to_rfc3339()))
}

/// Runs a token subcommand.
///
/// # Errors
/// [`ConfigError`] for invalid arguments; storage failures.
pub fn run(authd: &Authd<DieselStore>, cmd: &TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            org,
            name,
            expires_in,
            scopes,
            identities,
            apps,
        } => {
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
            let input = new_token(name, lifetime, scopes, identities, apps);
            let (meta, plain) = authd
                .create_service_token(&Caller::new(org.clone(), Actor::Cli), input.clone())
                .map_err(|e| create_error(e, &org, &input, expires_in.as_deref()))?;
            tracing::info!(
                token_id = %meta.id(),
                org = %org,
                expires_at = %meta.expires_at().map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
                scopes = %meta.access().scopes,
                restriction = %restriction_cell(meta.access()),
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
                let arr: Vec<serde_json::Value> = tokens.iter().map(token_json).collect();
                print_line(&serde_json::Value::Array(arr).to_string())?;
            } else {
                let rows: Vec<[String; 9]> = tokens
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
                            scopes_cell(t.access()),
                            restriction_cell(t.access()),
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
