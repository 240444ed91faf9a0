//! `fluxhook demo`: the emulator, a receiver and the management client, end
//! to end on loopback, one numbered step at a time.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use fluxbase_emulator::{Emulator, Flavor, RunningEmulator};
use fluxbase_webhooks::client::{Client, Delivery, EventFilter};
use fluxbase_webhooks::{Event, Key, Receiver, Verifier};

use crate::cmd::emulator::FlavorArg;
use crate::cmd::listen::{self, ConnectionLimits, LocalListener};
use crate::cmd::manage::webhooks::{delivery_status, events_text};
use crate::output::{StdoutError, outln};

/// How long the demo waits for a delivery before giving up.
const WAIT: Duration = Duration::from_secs(10);

/// The key id the receiver reports for the demo's secret.
const KEY_ID: &str = "demo";

/// Options of `fluxhook demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Run the emulator as the real server answers, or as the SDK
    /// documentation describes.
    #[arg(long, value_enum, default_value_t = FlavorArg::Server)]
    flavor: FlavorArg,
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args.flavor.into()))
}

fn step(n: u32, text: impl AsRef<str>) -> Result<(), StdoutError> {
    outln!("{n}. {}", text.as_ref())
}

async fn demo(flavor: Flavor) -> anyhow::Result<ExitCode> {
    outln!(
        "fluxhook demo: a Fluxbase emulator, a webhook receiver and the management client, on loopback."
    )?;
    outln!()?;

    let emu = Emulator::builder().flavor(flavor).spawn().await?;
    // What `fluxhook emulator --json` prints: where it is, who to sign in as.
    let ready = emu.ready();
    step(
        1,
        format!(
            "Started the Fluxbase emulator ({flavor} flavor) at {}",
            ready.url
        ),
    )?;

    let secret = fresh_secret();
    let verifier = Verifier::builder()
        .key(Key::new(secret.as_str()).id(KEY_ID))
        .build()?;
    // The same receiver as `fluxhook listen`: axum with `VerifyLayer`, the
    // library's default receive policy (replays refused).
    let mut receiver = LocalListener::start(
        ([127, 0, 0, 1], 0).into(),
        "/webhook",
        Receiver::builder(verifier),
        ConnectionLimits::default(),
    )
    .await?;
    let receiver_url = receiver.url();
    step(
        2,
        format!(
            "Started a receiver at {receiver_url} (axum + VerifyLayer); it checks X-Fluxbase-Signature against a fresh secret (key id \"{KEY_ID}\")"
        ),
    )?;

    let client = Client::builder()
        .base_url(&ready.url)
        .timeout(WAIT)
        .build()?;
    client
        .auth()
        .sign_in(&ready.user.email, &ready.user.password)
        .await?;
    step(
        3,
        format!(
            "Signed in as {} with the management client (POST /api/v1/auth/signin)",
            ready.user.email
        ),
    )?;

    let events = [EventFilter::all_rows("users")];
    let reg = client
        .webhooks()
        .register_endpoint(&receiver_url, events, secret.as_str())
        .await?;
    let id = reg.webhook.id.clone();
    step(
        4,
        format!(
            "Registered the receiver with its secret: webhook {id} ({}), events {}",
            if reg.created { "created" } else { "updated" },
            events_text(&reg.webhook.events)
        ),
    )?;

    step(
        5,
        format!(
            "Ran the webhook test (POST /api/v1/webhooks/{id}/test): {}",
            if reg.test.success {
                "success".to_owned()
            } else {
                format!("failed: {}", reg.test.error.as_deref().unwrap_or("-"))
            }
        ),
    )?;
    report(&mut receiver).await?;

    fire(
        &emu,
        &mut receiver,
        6,
        "INSERT",
        "Fired INSERT on auth.users (a new user signed up)",
    )
    .await?;
    fire(
        &emu,
        &mut receiver,
        7,
        "UPDATE",
        "Fired UPDATE on auth.users with old_record (the user changed their email)",
    )
    .await?;
    fire(
        &emu,
        &mut receiver,
        8,
        "user.created",
        match flavor {
            Flavor::Server => {
                "Fired user.created, the SDK documentation's name: the server has no such event and sends INSERT on auth.users"
            }
            _ => "Fired user.created, the event shape the SDK documentation describes",
        },
    )
    .await?;

    tokio::time::timeout(WAIT, emu.wait_idle()).await?;
    let log = client.webhooks().deliveries(&id, None).await?;
    step(
        9,
        format!(
            "Delivery log from the management API (GET /api/v1/webhooks/{id}/deliveries), newest first:"
        ),
    )?;
    for d in &log {
        outln!("     {}", delivery_line(d))?;
    }
    outln!()?;
    outln!(
        "Done: {} deliveries, each verified and typed by the receiver. Run `fluxhook emulator` to keep one running.",
        log.len()
    )?;

    receiver.shutdown().await;
    emu.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn fire(
    emu: &RunningEmulator,
    receiver: &mut LocalListener,
    n: u32,
    name: &str,
    text: &str,
) -> anyhow::Result<()> {
    let fired = emu.trigger_sample(name)?;
    if fired.webhooks.is_empty() {
        anyhow::bail!("{name} matched no webhook");
    }
    step(n, text)?;
    report(receiver).await
}

/// Waits for the receiver's next delivery and prints it.
async fn report(receiver: &mut LocalListener) -> anyhow::Result<()> {
    let got = tokio::time::timeout(WAIT, receiver.next())
        .await
        .map_err(|_| anyhow::anyhow!("the receiver got no delivery within {WAIT:?}"))?
        .ok_or_else(|| anyhow::anyhow!("the receiver stopped"))?;
    match got {
        listen::Delivery::Verified(received) => {
            let verified = &received.verified;
            outln!("     received {}", describe(&received.event))?;
            outln!(
                "       verified: {} signature, key \"{}\"",
                verified.scheme(),
                verified.key_id().unwrap_or("?")
            )?;
            Ok(())
        }
        listen::Delivery::Queued(queued) => {
            anyhow::bail!(
                "the receiver queued delivery {} instead of handling it",
                queued.id
            )
        }
        listen::Delivery::Refused(refusal) => anyhow::bail!(
            "the receiver refused a delivery: {}: {}",
            refusal.code,
            refusal.message
        ),
    }
}

/// One line about an event: its name, table and the user it is about.
fn describe(event: &Event) -> String {
    let mut text = match event.row() {
        Some(row) => format!("{} on {}", event.name(), row.qualified_table()),
        None => event.name().to_owned(),
    };
    if let Some(change) = event.user_change() {
        let email = change.email.as_deref().unwrap_or("?");
        text.push_str(&format!(": user {email}"));
        let documented = change.kind.documented_name();
        if event.name() != documented {
            text.push_str(&format!(" (read as {documented})"));
        }
        let old_email = event
            .row()
            .and_then(|r| r.old_record::<serde_json::Value>().ok().flatten())
            .and_then(|old| old.get("email").and_then(|e| e.as_str()).map(str::to_owned));
        if let Some(old) = old_email {
            text.push_str(&format!(", was {old}"));
        }
    }
    text
}

fn delivery_line(d: &Delivery) -> String {
    let status = delivery_status(d);
    let attempt = d
        .attempt
        .map_or_else(String::new, |a| format!("attempt {a}  "));
    let at = d.created_at.map_or_else(String::new, |t| t.to_string());
    format!("{:<13} {status:<8} {attempt}{at}", d.event)
}

/// A random secret for this run.
fn fresh_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec-demo-{hex}")
}
