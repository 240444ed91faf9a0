//! `fluxhook keys create|list|get|update|revoke|delete`

use std::process::ExitCode;

use clap::{Args, Subcommand};
use fluxbase_webhooks::Timestamp;
use fluxbase_webhooks::client::{ClientKey, CreateClientKey, UpdateClientKey};

use super::{Connection, Failure, Purpose, run, show, when};
use crate::output::{StdoutError, outln};

/// Client keys (API keys on older servers).
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; its full value is printed this once.
    Create {
        /// A name.
        name: String,
        /// A scope, repeatable (the server's list: read:webhooks,
        /// write:webhooks, read:tables, ..., or *).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A description.
        #[arg(long)]
        description: Option<String>,
        /// Requests per minute (server default 100).
        #[arg(long)]
        rate_limit: Option<u32>,
        /// When it stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys.
    List {
        /// Another user's keys (administrators).
        #[arg(long)]
        user_id: Option<String>,
    },
    /// Show one key.
    Get {
        /// The key's id.
        id: String,
    },
    /// Change a key; what is not given stays.
    Update {
        /// The key's id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Replace the scopes (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A new rate limit.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Revoke a key: it stops working and stays listed.
    Revoke {
        /// The key's id.
        id: String,
    },
    /// Delete a key.
    Delete {
        /// The key's id.
        id: String,
    },
}

pub(crate) fn run_keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let json = args.conn.json;
    run(json, async move {
        let client = args.conn.connect(Purpose::Manage).await?;
        let keys = client.client_keys();
        match args.command {
            KeysCommand::Create {
                name,
                scopes,
                description,
                rate_limit,
                expires_at,
            } => {
                let mut req = CreateClientKey::new(name, scopes);
                if let Some(v) = description {
                    req = req.description(v);
                }
                if let Some(v) = rate_limit {
                    req = req.rate_limit_per_minute(v);
                }
                if let Some(v) = expires_at {
                    let t = Timestamp::parse(&v)
                        .map_err(|e| Failure::Usage(anyhow::anyhow!("--expires-at `{v}`: {e}")))?;
                    req = req.expires_at(t);
                }
                let created = keys.create(req).await?;
                show(json, &created, |c| {
                    print_key(&c.client_key)?;
                    outln!("  key:         {}", c.key())?;
                    outln!("Store the key now: it is not shown again.")
                })
            }
            KeysCommand::List { user_id } => {
                let all = match user_id {
                    Some(u) => keys.list_for_user(&u).await?,
                    None => keys.list().await?,
                };
                show(json, &all, |all| {
                    if all.is_empty() {
                        outln!("no keys")?;
                    }
                    for k in all {
                        outln!(
                            "{}  {:<8}  {}…  {}  [{}]",
                            k.id.as_deref().unwrap_or("-"),
                            status(k),
                            k.key_prefix.as_deref().unwrap_or(""),
                            k.name,
                            k.scopes.join(" ")
                        )?;
                    }
                    Ok(())
                })
            }
            KeysCommand::Get { id } => show(json, &keys.get(&id).await?, print_key),
            KeysCommand::Update {
                id,
                name,
                description,
                scopes,
                rate_limit,
            } => {
                let mut req = UpdateClientKey::new();
                if let Some(v) = name {
                    req = req.name(v);
                }
                if let Some(v) = description {
                    req = req.description(v);
                }
                if !scopes.is_empty() {
                    req = req.scopes(scopes);
                }
                if let Some(v) = rate_limit {
                    req = req.rate_limit_per_minute(v);
                }
                show(json, &keys.update(&id, req).await?, print_key)
            }
            KeysCommand::Revoke { id } => {
                keys.revoke(&id).await?;
                show(json, &serde_json::json!({"revoked": id}), |_| {
                    outln!("revoked key {id}")
                })
            }
            KeysCommand::Delete { id } => {
                keys.delete(&id).await?;
                show(json, &serde_json::json!({"deleted": id}), |_| {
                    outln!("deleted key {id}")
                })
            }
        }
    })
}

fn status(k: &ClientKey) -> &'static str {
    if k.is_revoked() {
        "revoked"
    } else if k
        .expires_at
        .is_some_and(|t| t.to_system_time() < std::time::SystemTime::now())
    {
        "expired"
    } else {
        "active"
    }
}

fn print_key(k: &ClientKey) -> Result<(), StdoutError> {
    outln!("  id:          {}", k.id.as_deref().unwrap_or("-"))?;
    outln!("  name:        {}", k.name)?;
    if let Some(d) = &k.description {
        outln!("  description: {d}")?;
    }
    outln!("  prefix:      {}", k.key_prefix.as_deref().unwrap_or("-"))?;
    outln!("  scopes:      {}", k.scopes.join(" "))?;
    if let Some(n) = k.rate_limit_per_minute {
        outln!("  rate limit:  {n}/min")?;
    }
    outln!("  status:      {}", status(k))?;
    outln!("  expires:     {}", when(k.expires_at))?;
    outln!("  last used:   {}", when(k.last_used_at))
}
