//! The server's row triggers, as the server flavor models them.
//!
//! A row event reaches a webhook only when (1) a trigger exists on the
//! event's `schema.table`, (2) the webhook is enabled and may see the row,
//! and (3) one of its subscriptions names the bare table (or `*`) and the
//! operation (or `*`). Triggers are reference-counted per table
//! (`auth.webhook_monitored_tables`) and installed where
//! `parseTableReference` says: a bare name in the `auth` schema, a
//! qualified name in its own schema, `*` nowhere
//! (`internal/webhook/webhook.go`: `ManageTriggersForWebhook`,
//! `CleanupTriggersForWebhook`, `Create`, `Update`, `Delete`; migration
//! `005_functions_global.up.sql`: `increment_webhook_table_count`,
//! `decrement_webhook_table_count`, `queue_webhook_event`).

use fluxbase_webhooks::client::{AUTH_TABLES, EventFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::state::{State, Subscription, WebhookRecord};

/// Whether `schema.table` exists. The emulator has no database: in the
/// `auth` schema only the server's own tables exist; a table of any other
/// schema (the application's) is taken to exist.
fn table_exists(schema: &str, table: &str) -> bool {
    if schema == "auth" {
        AUTH_TABLES.contains(&table)
    } else {
        !table.is_empty()
    }
}

/// `auth.increment_webhook_table_count`: one more holder of the table's
/// trigger, creating it for the first. On a table that does not exist the
/// whole call fails and nothing changes.
fn increment(state: &mut State, schema: &str, table: &str) -> Result<(), String> {
    if !table_exists(schema, table) {
        return Err(format!(
            "failed to create trigger for {schema}.{table}: ERROR: relation \"{schema}.{table}\" \
             does not exist (SQLSTATE 42P01)"
        ));
    }
    *state
        .monitored
        .entry((schema.to_owned(), table.to_owned()))
        .or_insert(0) += 1;
    Ok(())
}

/// `auth.decrement_webhook_table_count`: one holder fewer; the trigger goes
/// with the last.
fn decrement(state: &mut State, schema: &str, table: &str) {
    let key = (schema.to_owned(), table.to_owned());
    if let Some(count) = state.monitored.get_mut(&key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            state.monitored.remove(&key);
        }
    }
}

fn filters(events: Option<&[Subscription]>) -> Vec<EventFilter> {
    events
        .unwrap_or_default()
        .iter()
        .map(Subscription::filter)
        .collect()
}

/// `ManageTriggersForWebhook`: installs in order and stops at the first
/// failure (the later subscriptions get no trigger). Returns the failure,
/// which the server only logs.
pub(crate) fn manage(state: &mut State, events: Option<&[Subscription]>) -> Option<String> {
    for filter in filters(events) {
        if let Some((schema, table)) = filter.trigger_table()
            && let Err(e) = increment(state, schema, table)
        {
            return Some(e);
        }
    }
    None
}

/// `CleanupTriggersForWebhook`: every subscription lets go, errors ignored.
pub(crate) fn cleanup(state: &mut State, events: Option<&[Subscription]>) {
    for filter in filters(events) {
        if let Some((schema, table)) = filter.trigger_table() {
            decrement(state, schema, table);
        }
    }
}

/// What `Update` does to triggers, from the webhook before and after.
/// Returns the failures, which the server only logs.
pub(crate) fn on_update(
    state: &mut State,
    old: &WebhookRecord,
    new: &WebhookRecord,
) -> Vec<String> {
    match (old.enabled, new.enabled) {
        (true, false) => {
            cleanup(state, old.events.as_deref());
            Vec::new()
        }
        (false, true) => manage(state, new.events.as_deref()).into_iter().collect(),
        (true, true) => {
            // The table strings that changed, each on its own (a failure is
            // logged and the rest goes on).
            let tables = |w: &WebhookRecord| -> Vec<String> {
                let mut seen: Vec<String> = Vec::new();
                for f in filters(w.events.as_deref()) {
                    if let EventFilter::Table { table, .. } = f
                        && table != "*"
                        && !seen.contains(&table)
                    {
                        seen.push(table);
                    }
                }
                seen
            };
            let (before, after) = (tables(old), tables(new));
            for gone in before.iter().filter(|t| !after.contains(t)) {
                let f = EventFilter::all_rows(gone.as_str());
                if let Some((schema, table)) = f.trigger_table() {
                    decrement(state, schema, table);
                }
            }
            let mut failures = Vec::new();
            for added in after.iter().filter(|t| !before.contains(t)) {
                let f = EventFilter::all_rows(added.as_str());
                if let Some((schema, table)) = f.trigger_table()
                    && let Err(e) = increment(state, schema, table)
                {
                    failures.push(e);
                }
            }
            failures
        }
        (false, false) => Vec::new(),
    }
}

/// Whether `schema.table` has a webhook trigger.
pub(crate) fn has_trigger(state: &State, schema: &str, table: &str) -> bool {
    state
        .monitored
        .contains_key(&(schema.to_owned(), table.to_owned()))
}

/// The row's owner as `queue_webhook_event` reads it: the first of
/// `user_id`, `owner_id`, `created_by` (and `id` for `auth.users`) that is
/// not null; `None` (unowned) when there is none or it is not a UUID.
pub(crate) fn owner(record: Option<&Value>, schema: &str, table: &str) -> Option<Uuid> {
    let record = record?.as_object()?;
    let mut keys = vec!["user_id", "owner_id", "created_by"];
    if schema == "auth" && table == "users" {
        keys.push("id");
    }
    let first = keys
        .iter()
        .filter_map(|k| record.get(*k))
        .find(|v| !v.is_null())?;
    let text = match first {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Uuid::parse_str(&text).ok()
}

/// The scoping of `queue_webhook_event`: global webhooks, webhooks without
/// a creator, and unowned rows pass; otherwise the owner must be the
/// creator.
pub(crate) fn may_see(w: &WebhookRecord, owner: Option<Uuid>) -> bool {
    w.scope == "global" || w.created_by.is_none() || owner.is_none() || w.created_by == owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owners_as_the_trigger_reads_them() {
        let id = "7d3c2b1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d";
        let uuid = Uuid::parse_str(id).ok();
        let o = |r: Value, table: &str| owner(Some(&r), "auth", table);
        assert_eq!(o(json!({"owner_id": id}), "t"), uuid);
        assert_eq!(o(json!({"user_id": null, "created_by": id}), "t"), uuid);
        // The first non-null decides; not a UUID means unowned.
        assert_eq!(o(json!({"user_id": 5, "owner_id": id}), "t"), None);
        assert_eq!(o(json!({"id": id}), "t"), None);
        assert_eq!(o(json!({"id": id}), "users"), uuid);
        assert_eq!(owner(Some(&json!({"id": id})), "public", "users"), None);
    }

    #[test]
    fn triggers_are_counted_per_table() {
        let mut state = State::default();
        let subs = |t: &[&str]| -> Vec<Subscription> {
            t.iter()
                .map(|t| Subscription::Rows {
                    table: (*t).to_owned(),
                    operations: Some(vec!["*".to_owned()]),
                })
                .collect()
        };
        let a = subs(&["users", "public.orders", "*"]);
        assert_eq!(manage(&mut state, Some(&a)), None);
        assert!(has_trigger(&state, "auth", "users") && has_trigger(&state, "public", "orders"));
        // `products` fails (auth.products) and stops the installs after it.
        let b = subs(&["users", "products", "public.products"]);
        let failure = manage(&mut state, Some(&b)).unwrap();
        assert!(
            failure.contains("relation \"auth.products\" does not exist"),
            "{failure}"
        );
        assert!(!has_trigger(&state, "public", "products"));
        cleanup(&mut state, Some(&a));
        assert!(has_trigger(&state, "auth", "users"), "b still holds it");
        cleanup(&mut state, Some(&b));
        assert!(state.monitored.is_empty());
    }
}
