//! Logins and every way the client authenticates, both flavors.

use fluxbase_emulator::Flavor;
use fluxbase_webhooks::client::{CreateClientKey, CreateWebhook, Credentials};

use crate::support::{admin_client, both_flavors, client, emulator, service_client, user_client};

both_flavors!(
    sign_in_keeps_the_token,
    admin_login_keeps_the_token,
    bad_credentials_are_refused,
    bearer_client_key_and_service_key,
    client_key_scopes_are_enforced,
);

async fn sign_in_keeps_the_token(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let c = client(&emu);
    let err = c.webhooks().list().await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert_eq!(
        err.message(),
        "Authentication required. Provide Bearer token, X-Client-Key, or X-Service-Key"
    );

    let session = c
        .auth()
        .sign_in(&emu.user().email, &emu.user().password)
        .await
        .unwrap();
    assert_eq!(session.user.email, emu.user().email);
    assert_eq!(session.user.role.as_deref(), Some("authenticated"));
    assert_eq!(session.expires_in, Some(900));
    assert!(session.refresh_token().is_some());
    assert!(matches!(
        c.auth().credentials(),
        Some(Credentials::Bearer(_))
    ));
    assert!(c.webhooks().list().await.unwrap().is_empty());
    // The token is not in any Debug output.
    assert!(!format!("{c:?}{session:?}").contains(session.access_token()));

    // The documentation's name for the same call.
    let other = client(&emu);
    other
        .auth()
        .login(&emu.user().email, &emu.user().password)
        .await
        .unwrap();
    other.webhooks().list().await.unwrap();
    other.auth().sign_out();
    assert!(other.webhooks().list().await.unwrap_err().is_unauthorized());
    emu.shutdown().await;
}

async fn admin_login_keeps_the_token(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let c = client(&emu);
    let session = c
        .auth()
        .admin_login(&emu.admin().email, &emu.admin().password)
        .await
        .unwrap();
    assert_eq!(session.user.email, emu.admin().email);
    assert_eq!(session.expires_in, Some(86400));
    assert_eq!(session.user.full_name.as_deref(), Some("Administrator"));
    // Dashboard sessions reach webhooks and invitations.
    c.webhooks().list().await.unwrap();
    c.invitations().list().await.unwrap();
    emu.shutdown().await;
}

async fn bad_credentials_are_refused(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let c = client(&emu);
    let err = c
        .auth()
        .sign_in(&emu.user().email, "wrong-password-123")
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert_eq!(err.message(), "Invalid email or password");
    let err = c.auth().sign_in("", "").await.unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (400, "Email and password are required")
    );
    let err = c
        .auth()
        .admin_login(&emu.admin().email, "nope-nope-nope")
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert_eq!(err.code().unwrap(), "INVALID_CREDENTIALS");
    // The app user is no dashboard administrator.
    let err = c
        .auth()
        .admin_login(&emu.user().email, &emu.user().password)
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert!(
        c.auth().credentials().is_none(),
        "failed logins store nothing"
    );
    emu.shutdown().await;
}

async fn bearer_client_key_and_service_key(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;

    // A token obtained elsewhere.
    let session = client(&emu)
        .auth()
        .sign_in(&emu.user().email, &emu.user().password)
        .await
        .unwrap();
    let c = client(&emu);
    c.auth().bearer_token(session.access_token());
    c.webhooks().list().await.unwrap();
    c.auth().bearer_token("not-a-token");
    let err = c.webhooks().list().await.unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (401, "Invalid or expired Bearer token")
    );

    // A client key, on the builder.
    let created = admin
        .client_keys()
        .create(CreateClientKey::new(
            "ci",
            ["read:webhooks", "write:webhooks"],
        ))
        .await
        .unwrap();
    let keyed = fluxbase_webhooks::client::Client::builder()
        .base_url(emu.url())
        .client_key(created.key())
        .build()
        .unwrap();
    let hook = keyed
        .webhooks()
        .create(CreateWebhook::new("http://127.0.0.1:9/x"))
        .await
        .unwrap();
    assert!(!format!("{keyed:?}").contains(created.key()));

    // The service key.
    let service = service_client(&emu);
    assert_eq!(service.webhooks().get(&hook.id).await.unwrap().id, hook.id);
    let own = service
        .webhooks()
        .create(CreateWebhook::new("http://127.0.0.1:9/y"))
        .await
        .unwrap();
    assert_eq!(own.created_by, None, "a service-key webhook has no creator");
    let wrong = client(&emu);
    wrong.auth().service_key("sk_wrong");
    assert!(wrong.webhooks().list().await.unwrap_err().is_unauthorized());
    emu.shutdown().await;
}

async fn client_key_scopes_are_enforced(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;
    let read_only = admin
        .client_keys()
        .create(CreateClientKey::new("reader", ["read:webhooks"]))
        .await
        .unwrap();
    let c = client(&emu);
    c.auth().client_key(read_only.key());
    c.webhooks().list().await.unwrap();
    let err = c
        .webhooks()
        .create(CreateWebhook::new("http://127.0.0.1:9/x"))
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);
    assert_eq!(err.message(), "Insufficient permissions");
    assert_eq!(err.body().unwrap()["required_scope"], "write:webhooks");
    // Keys never reach the admin routes.
    let err = c.invitations().list().await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert_eq!(err.code().unwrap(), "MISSING_AUTHENTICATION");
    // A user session is not an administrator's.
    let user = user_client(&emu).await;
    let err = user.invitations().list().await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);
    assert_eq!(err.code().unwrap(), "INSUFFICIENT_PERMISSIONS");
    emu.shutdown().await;
}
