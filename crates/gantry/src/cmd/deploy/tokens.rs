//! `gantry token create|list|revoke`: role-scoped API and MCP tokens. The value is printed
//! once; `.gantry/tokens.json` keeps only its SHA-256. Creating and revoking are recorded
//! in the ledger (`access.token.created|revoked`, signed by the system key; never the
//! token or its hash).

use clap::Subcommand;
use gantry_access::{TokenRecord, TokenStore};
use serde_json::json;
use time::OffsetDateTime;

use crate::project::Project;
use crate::{exit, output};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token bound to ROLE; prints it once (only its hash is kept)
    #[command(
        after_help = "Examples:\n  gantry token create --role operator --name ci\n  GANTRY_TOKEN=$(gantry token create --role viewer --expires 1h) gantry ps"
    )]
    Create {
        /// A built-in role (viewer, planner, operator, verifier, admin) or one from
        /// `access.roles` in gantry.yaml
        #[arg(long)]
        role: String,
        /// Name shown in `token list` and the ledger (default: ROLE-N)
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 24h or 30m (default: no expiry)
        #[arg(long)]
        expires: Option<gantry_config::Duration>,
    },
    /// Tokens with role, created, expires, last used and status
    #[command(after_help = "Examples:\n  gantry token list\n  gantry --json token list")]
    List,
    /// Revoke token NAME: the API refuses it from now on (401 saying it was revoked)
    #[command(after_help = "Examples:\n  gantry token revoke ci")]
    Revoke {
        /// The token's name, as `gantry token list` shows it
        name: String,
    },
}

fn record_json(t: &TokenRecord, now: OffsetDateTime) -> serde_json::Value {
    json!({"name": t.name, "role": t.role, "created": t.created, "expires": t.expires,
        "revoked": t.revoked, "last_used": t.last_used, "status": t.status(now)})
}

pub fn run(project: &Project, cmd: TokenCommand, json_out: bool) -> anyhow::Result<()> {
    let store = TokenStore::new(&project.gantry_dir());
    let now = OffsetDateTime::now_utc();
    match cmd {
        TokenCommand::Create {
            role,
            name,
            expires,
        } => {
            let config = project.config()?;
            let roles = config.access.roles();
            let (rec, value) = store
                .create(name.as_deref(), &role, &roles, expires.map(Into::into), now)
                .map_err(exit::usage)?;
            record(
                project,
                &config,
                "access.token.created",
                json!({"name": rec.name, "role": rec.role, "expires": rec.expires}),
            )?;
            if json_out {
                let mut v = record_json(&rec, now);
                v["token"] = value.into();
                return output::json(&v);
            }
            println!("{value}");
            eprintln!(
                "token '{}' (role {}{}) created; it is shown only now: store it, e.g. `export GANTRY_TOKEN=…`",
                rec.name,
                rec.role,
                rec.expires
                    .as_deref()
                    .map_or_else(String::new, |e| format!(", expires {e}"))
            );
            Ok(())
        }
        TokenCommand::List => {
            let tokens = store.list().map_err(exit::failed)?;
            if json_out {
                return output::json(
                    &tokens
                        .iter()
                        .map(|t| record_json(t, now))
                        .collect::<Vec<_>>(),
                );
            }
            if tokens.is_empty() {
                println!("no tokens; create one with `gantry token create --role viewer`");
                return Ok(());
            }
            let mut table =
                output::table(&["name", "role", "created", "expires", "last used", "status"]);
            let show = |t: &Option<String>| t.as_deref().map_or("-".to_string(), output::short_ts);
            for t in &tokens {
                table.add_row(vec![
                    t.name.clone(),
                    t.role.clone(),
                    output::short_ts(&t.created),
                    show(&t.expires),
                    show(&t.last_used),
                    t.status(now).to_string(),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            let config = project.config()?;
            let rec = store.revoke(&name, now).map_err(exit::usage)?;
            record(
                project,
                &config,
                "access.token.revoked",
                json!({"name": rec.name, "role": rec.role}),
            )?;
            if json_out {
                return output::json(&record_json(&rec, now));
            }
            println!("token '{}' (role {}) revoked", rec.name, rec.role);
            Ok(())
        }
    }
}

fn record(
    project: &Project,
    config: &gantry_config::Config,
    kind: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let ledger = project.open_ledger(config)?;
    let signer = project.system_signer()?;
    ledger.append(&signer, kind, body)?;
    Ok(())
}
