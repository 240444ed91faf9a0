//! Every invitation call of the client against the emulator, both flavors.

use std::time::Duration;

use fluxbase_emulator::Flavor;
use fluxbase_webhooks::client::{CreateInvitation, InvitationRole, ListInvitations};

use crate::support::{admin_client, both_flavors, client, emulator};

both_flavors!(lifecycle, expired_and_revoked_invitations);

async fn lifecycle(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;
    let inv = admin.invitations();
    assert!(inv.list().await.unwrap().is_empty());

    let created = inv
        .create(
            CreateInvitation::new("new.admin@example.com", InvitationRole::DashboardAdmin)
                .expires_in(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let token = created.invitation.token.clone().unwrap();
    assert!(created.invite_link.ends_with(&format!("/invite/{token}")));
    assert!(!created.email_sent);
    assert_eq!(created.invitation.role, "dashboard_admin");
    assert!(!created.invitation.is_accepted());

    let pending = inv.list().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].email, "new.admin@example.com");

    let check = inv.validate(&token).await.unwrap();
    assert!(check.valid, "{check:?}");
    assert_eq!(check.invitation.unwrap().email, "new.admin@example.com");

    // Anyone may accept: no credentials needed.
    let public = client(&emu);
    let err = public
        .invitations()
        .accept(&token, "short", "New Admin")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (400, "password must be at least 12 characters long")
    );
    let session = public
        .invitations()
        .accept(&token, "a-long-enough-password", "New Admin")
        .await
        .unwrap();
    assert_eq!(session.user.email, "new.admin@example.com");
    assert_eq!(session.user.full_name.as_deref(), Some("New Admin"));
    assert_eq!(session.expires_in, Some(86400));

    // The new administrator can log in.
    client(&emu)
        .auth()
        .admin_login("new.admin@example.com", "a-long-enough-password")
        .await
        .unwrap();

    let check = inv.validate(&token).await.unwrap();
    assert!(!check.valid);
    assert_eq!(
        check.error.as_deref(),
        Some("Invitation has already been accepted")
    );
    let err = public
        .invitations()
        .accept(&token, "a-long-enough-password", "Again")
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 409);

    assert!(
        inv.list().await.unwrap().is_empty(),
        "accepted ones are not pending"
    );
    let all = inv
        .list_with(ListInvitations::new().include_accepted(true))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].is_accepted());
    emu.shutdown().await;
}

async fn expired_and_revoked_invitations(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let admin = admin_client(&emu).await;
    let inv = admin.invitations();
    let expiring = inv
        .create(CreateInvitation::new(
            "late@example.com",
            InvitationRole::DashboardUser,
        ))
        .await
        .unwrap()
        .invitation
        .token
        .unwrap();
    assert!(emu.expire_invitation(&expiring));
    let check = inv.validate(&expiring).await.unwrap();
    assert_eq!(check.error.as_deref(), Some("Invitation has expired"));
    let err = inv
        .accept(&expiring, "a-long-enough-password", "Late")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (410, "Invitation has expired")
    );
    assert!(inv.list().await.unwrap().is_empty());
    assert_eq!(
        inv.list_with(ListInvitations::new().include_expired(true))
            .await
            .unwrap()
            .len(),
        1
    );

    let doomed = inv
        .create(CreateInvitation::new(
            "oops@example.com",
            InvitationRole::DashboardUser,
        ))
        .await
        .unwrap()
        .invitation
        .token
        .unwrap();
    inv.revoke(&doomed).await.unwrap();
    let check = inv.validate(&doomed).await.unwrap();
    assert_eq!(check.error.as_deref(), Some("Invitation not found"));
    let err = inv.revoke(&doomed).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.message(), "Invitation not found");
    let err = inv
        .accept(&doomed, "a-long-enough-password", "Oops")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    emu.shutdown().await;
}
