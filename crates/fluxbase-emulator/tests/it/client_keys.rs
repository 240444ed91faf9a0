//! Every client-key call of the client against the emulator, both flavors.

use fluxbase_emulator::Flavor;
use fluxbase_webhooks::Timestamp;
use fluxbase_webhooks::client::{CreateClientKey, UpdateClientKey};

use crate::support::{admin_client, both_flavors, client, emulator};

both_flavors!(lifecycle, revoked_and_deleted_keys_stop_working);

async fn lifecycle(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;
    // The documentation's name: on the documented flavor (an older server)
    // only the legacy /api-keys path exists, and the client falls back to it.
    let keys = admin.api_keys();
    assert!(keys.list().await.unwrap().is_empty());

    let expires = Timestamp::parse("2099-12-31T23:59:59Z").unwrap();
    let created = keys
        .create(
            CreateClientKey::new("ingest", ["read:webhooks", "write:webhooks"])
                .description("CI pipeline")
                .rate_limit_per_minute(60)
                .expires_at(expires),
        )
        .await
        .unwrap();
    let prefix = match flavor {
        Flavor::Server => "fbk_",
        _ => "fb_live_",
    };
    assert!(created.key().starts_with(prefix), "{}", created.key());
    let meta = &created.client_key;
    assert_eq!(meta.name, "ingest");
    assert_eq!(meta.scopes, ["read:webhooks", "write:webhooks"]);
    assert_eq!(meta.rate_limit_per_minute, Some(60));
    assert_eq!(meta.expires_at, Some(expires));
    assert_eq!(
        meta.key_prefix.as_deref(),
        Some(&created.key()[..12]),
        "the prefix is the key's first 12 characters"
    );
    assert!(!format!("{created:?}").contains(created.key()));
    let id = meta.id.clone().unwrap();

    let listed = keys.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_deref(), Some(id.as_str()));
    assert_eq!(
        keys.get(&id).await.unwrap().description.as_deref(),
        Some("CI pipeline")
    );

    let updated = admin
        .client_keys()
        .update(
            &id,
            UpdateClientKey::new()
                .name("ingest-v2")
                .rate_limit_per_minute(200),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "ingest-v2");
    assert_eq!(updated.rate_limit_per_minute, Some(200));
    assert_eq!(
        updated.scopes,
        ["read:webhooks", "write:webhooks"],
        "partial update"
    );

    keys.revoke(&id).await.unwrap();
    assert!(keys.get(&id).await.unwrap().is_revoked());
    keys.delete(&id).await.unwrap();
    assert!(keys.get(&id).await.unwrap_err().is_not_found());
    let err = keys.delete(&id).await.unwrap_err();
    assert!(err.is_status());
    emu.shutdown().await;
}

async fn revoked_and_deleted_keys_stop_working(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;
    let mut ids = Vec::new();
    let mut users = Vec::new();
    for name in ["a", "b"] {
        let k = admin
            .client_keys()
            .create(CreateClientKey::new(name, ["read:webhooks"]))
            .await
            .unwrap();
        let c = client(&emu);
        c.auth().client_key(k.key());
        c.webhooks().list().await.unwrap();
        ids.push(k.client_key.id.clone().unwrap());
        users.push(c);
    }
    admin.client_keys().revoke(&ids[0]).await.unwrap();
    admin.client_keys().delete(&ids[1]).await.unwrap();
    for c in &users {
        let err = c.webhooks().list().await.unwrap_err();
        assert_eq!(err.status().unwrap().as_u16(), 401, "{err:?}");
    }
    // The revoked key stays listed; the deleted one is gone.
    let left = admin.client_keys().list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].is_revoked());
    emu.shutdown().await;
}
