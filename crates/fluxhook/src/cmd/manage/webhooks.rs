//! `fluxhook webhooks list|create|get|update|delete|test|deliveries`

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use fluxbase_webhooks::client::{
    CreateWebhook, Delivery, EventFilter, UpdateWebhook, Webhook, WebhookScope,
};

use super::{Connection, EXIT_FAILED, Failure, Purpose, print_json, run, show, when};
use crate::output::{StdoutError, errln, outln};

/// Webhooks: list, create, get, update, delete, test, deliveries.
#[derive(Debug, Args)]
pub(crate) struct WebhooksArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// List every webhook, newest first.
    List,
    /// Create a webhook (enabled unless --disabled). Prints what the server
    /// would silently do differently with these settings (subscriptions it
    /// never matches, a URL production refuses, ...) as warnings on
    /// stderr; `--json` carries them in `warnings`.
    Create(CreateArgs),
    /// Show one webhook.
    Get {
        /// The webhook's id.
        id: String,
    },
    /// Change a webhook; what is not given stays as it is. Warnings as for
    /// create.
    Update(UpdateArgs),
    /// Delete a webhook.
    Delete {
        /// The webhook's id.
        id: String,
    },
    /// Send a test delivery now; exit 1 if the endpoint fails it.
    Test {
        /// The webhook's id.
        id: String,
    },
    /// The delivery log, newest first.
    Deliveries {
        /// The webhook's id.
        id: String,
        /// At most this many (server default 50).
        #[arg(long)]
        limit: Option<u32>,
    },
}

/// Who a webhook sees rows for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// Unowned rows and rows its creator owns.
    User,
    /// Every row.
    Global,
}

impl From<ScopeArg> for WebhookScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::User => WebhookScope::User,
            ScopeArg::Global => WebhookScope::Global,
        }
    }
}

/// Settings shared by create and update.
#[derive(Debug, Args)]
struct Settings {
    /// A name (create default: the URL).
    #[arg(long)]
    name: Option<String>,
    /// A description.
    #[arg(long)]
    description: Option<String>,
    /// What to subscribe to, repeatable (update: replaces the list): TABLE
    /// (every operation), TABLE:OP[,OP] such as users:INSERT,UPDATE, or a
    /// documented event name such as user.created (refused by the server,
    /// which has no such events).
    // The text is `--help` output: `[,OP]` is not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "event", value_name = "FILTER")]
    events: Vec<String>,
    /// The signing secret (its UTF-8 bytes are the HMAC key). The server
    /// replaces the whole webhook on update and never returns the secret,
    /// so an update must give it again (or --no-secret).
    #[arg(
        long,
        env = "FLUXBASE_WEBHOOK_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    secret: Option<String>,
    /// Total delivery attempts per event (server default 3).
    #[arg(long)]
    max_retries: Option<u32>,
    /// Backoff unit in seconds: after attempt n, wait n times this (server default 5).
    #[arg(long)]
    retry_backoff_seconds: Option<u32>,
    /// Per-attempt timeout in seconds (server default 30).
    #[arg(long)]
    timeout_seconds: Option<u32>,
    /// A header sent with every delivery, repeatable (update: replaces them).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Who it sees rows for (server default: user).
    #[arg(long, value_enum)]
    scope: Option<ScopeArg>,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Where deliveries go.
    #[arg(value_name = "URL")]
    endpoint: String,
    #[command(flatten)]
    settings: Settings,
    /// Create it disabled.
    #[arg(long)]
    disabled: bool,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    /// The webhook's id.
    id: String,
    /// A new delivery URL.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    #[command(flatten)]
    settings: Settings,
    /// Stop signing deliveries.
    #[arg(long)]
    no_secret: bool,
    /// Enable deliveries.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable deliveries.
    #[arg(long)]
    disable: bool,
}

/// Applies [`Settings`] to a `CreateWebhook` or an `UpdateWebhook` (the two
/// builders share these setters).
macro_rules! apply_settings {
    ($req:expr, $s:expr) => {{
        let s: Settings = $s;
        let mut req = $req;
        if let Some(v) = s.name {
            req = req.name(v);
        }
        if let Some(v) = s.description {
            req = req.description(v);
        }
        if !s.events.is_empty() {
            req = req.events(filters(&s.events)?);
        }
        if let Some(v) = s.secret {
            req = req.secret(v);
        }
        if let Some(v) = s.max_retries {
            req = req.max_retries(v);
        }
        if let Some(v) = s.retry_backoff_seconds {
            req = req.retry_backoff_seconds(v);
        }
        if let Some(v) = s.timeout_seconds {
            req = req.timeout_seconds(v);
        }
        if !s.headers.is_empty() {
            req = req.headers(header_pairs(&s.headers)?);
        }
        if let Some(v) = s.scope {
            req = req.scope(v.into());
        }
        req
    }};
}

pub(crate) fn run_webhooks(args: WebhooksArgs) -> anyhow::Result<ExitCode> {
    let json = args.conn.json;
    run(json, async move {
        let client = args.conn.connect(Purpose::Manage).await?;
        let hooks = client.webhooks();
        match args.command {
            WebhooksCommand::List => {
                let all = hooks.list().await?;
                show(json, &all, |all| print_list(all))
            }
            WebhooksCommand::Create(a) => {
                let created = hooks.create(create_request(a)?).await?;
                show(json, &created, |w| {
                    outln!("created webhook {}", w.id)?;
                    print_webhook(w)?;
                    print_warnings(w);
                    Ok(())
                })
            }
            WebhooksCommand::Get { id } => show(json, &hooks.get(&id).await?, print_webhook),
            WebhooksCommand::Update(a) => {
                let id = a.id.clone();
                let updated = hooks.update(&id, update_request(a)?).await.map_err(|e| {
                    match Failure::from(e) {
                        Failure::Usage(e) => Failure::Usage(anyhow::anyhow!(
                            "{e}: give --secret (or FLUXBASE_WEBHOOK_SECRET) again, or --no-secret"
                        )),
                        api => api,
                    }
                })?;
                show(json, &updated, |w| {
                    outln!("updated webhook {}", w.id)?;
                    print_webhook(w)?;
                    print_warnings(w);
                    Ok(())
                })
            }
            WebhooksCommand::Delete { id } => {
                hooks.delete(&id).await?;
                show(json, &serde_json::json!({"deleted": id}), |_| {
                    outln!("deleted webhook {id}")
                })
            }
            WebhooksCommand::Test { id } => {
                let result = hooks.test(&id).await?;
                if json {
                    print_json(&result)?;
                } else if result.success {
                    outln!("test delivery to webhook {id}: success")?;
                } else {
                    outln!(
                        "test delivery to webhook {id}: failed: {}",
                        result.error.as_deref().unwrap_or("no reason given")
                    )?;
                }
                Ok(if result.success {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILED)
                })
            }
            WebhooksCommand::Deliveries { id, limit } => {
                let log = hooks.deliveries(&id, limit).await?;
                show(json, &log, |log| print_deliveries(log))
            }
        }
    })
}

fn filters(raw: &[String]) -> Result<Vec<EventFilter>, Failure> {
    raw.iter()
        .map(|s| s.parse::<EventFilter>().map_err(Failure::from))
        .collect()
}

fn header_pairs(raw: &[String]) -> Result<Vec<(String, String)>, Failure> {
    raw.iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    Failure::Usage(anyhow::anyhow!("--header `{h}`: expected NAME=VALUE"))
                })
        })
        .collect()
}

fn create_request(a: CreateArgs) -> Result<CreateWebhook, Failure> {
    let req = CreateWebhook::new(a.endpoint).enabled(!a.disabled);
    Ok(apply_settings!(req, a.settings))
}

fn update_request(a: UpdateArgs) -> Result<UpdateWebhook, Failure> {
    let mut req = apply_settings!(UpdateWebhook::new(), a.settings);
    if let Some(v) = a.endpoint {
        req = req.url(v);
    }
    if a.no_secret {
        req = req.remove_secret();
    }
    if a.enable || a.disable {
        req = req.enabled(a.enable);
    }
    Ok(req)
}

pub(crate) fn events_text(events: &[EventFilter]) -> String {
    if events.is_empty() {
        return "(none)".to_owned();
    }
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_list(all: &[Webhook]) -> Result<(), StdoutError> {
    if all.is_empty() {
        return outln!("no webhooks");
    }
    for w in all {
        outln!(
            "{}  {:<8}  {}  {}",
            w.id,
            if w.enabled { "enabled" } else { "disabled" },
            w.url,
            events_text(&w.events)
        )?;
    }
    Ok(())
}

fn print_webhook(w: &Webhook) -> Result<(), StdoutError> {
    let opt =
        |v: Option<u32>, unit: &str| v.map_or_else(|| "-".to_owned(), |n| format!("{n}{unit}"));
    outln!("  id:          {}", w.id)?;
    outln!("  name:        {}", w.name.as_deref().unwrap_or("-"))?;
    if let Some(d) = &w.description {
        outln!("  description: {d}")?;
    }
    outln!("  url:         {}", w.url)?;
    outln!("  enabled:     {}", if w.enabled { "yes" } else { "no" })?;
    outln!("  events:      {}", events_text(&w.events))?;
    outln!(
        "  delivery:    {} attempts, {} backoff unit, {} timeout",
        opt(w.max_retries, ""),
        opt(w.retry_backoff_seconds, " s"),
        opt(w.timeout_seconds, " s")
    )?;
    if !w.headers.is_empty() {
        let names: Vec<_> = w.headers.keys().map(String::as_str).collect();
        outln!("  headers:     {}", names.join(", "))?;
    }
    outln!("  scope:       {}", w.scope.as_deref().unwrap_or("-"))?;
    outln!("  created:     {}", when(w.created_at))
}

/// What the server would silently do differently with the settings sent
/// (the client's lint), on stderr; `--json` carries them in `warnings`.
fn print_warnings(w: &Webhook) {
    for warning in &w.warnings {
        errln!("warning: {}: {}", warning.code, warning.message);
    }
}

pub(crate) fn print_deliveries(log: &[Delivery]) -> Result<(), StdoutError> {
    if log.is_empty() {
        return outln!("no deliveries");
    }
    for d in log {
        let status = delivery_status(d);
        let attempt = d
            .attempt
            .map_or_else(String::new, |n| format!("attempt {n}"));
        let error = d
            .error
            .as_deref()
            .map_or_else(String::new, |e| format!("  {e}"));
        outln!(
            "{}  {:<14}  {:<8}  {:<9}{error}",
            when(d.created_at),
            d.event,
            status,
            attempt
        )?;
    }
    Ok(())
}

/// `pending`/`success`/`failed`, from whichever fields the server sent.
pub(crate) fn delivery_status(d: &Delivery) -> String {
    d.status
        .clone()
        .unwrap_or_else(|| if d.succeeded() { "success" } else { "failed" }.to_owned())
}
