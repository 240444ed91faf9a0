//! `fluxhook invitations create|list|validate|accept|revoke`

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use fluxbase_webhooks::client::{CreateInvitation, Invitation, InvitationRole, ListInvitations};

use super::{Connection, Failure, Purpose, run, show, when};
use crate::output::{StdoutError, outln};

/// Dashboard invitations (administrators; validate and accept are public).
#[derive(Debug, Args)]
pub(crate) struct InvitationsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: InvitationsCommand,
}

#[derive(Debug, Subcommand)]
enum InvitationsCommand {
    /// Invite someone; prints the invite link and token.
    Create {
        /// Who to invite.
        #[arg(value_name = "EMAIL")]
        invitee: String,
        /// dashboard_user or dashboard_admin.
        #[arg(long, default_value = "dashboard_user")]
        role: String,
        /// Seconds until it expires (default 7 days).
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Pending invitations (the server blanks their tokens).
    List {
        /// Include accepted ones.
        #[arg(long)]
        include_accepted: bool,
        /// Include expired ones.
        #[arg(long)]
        include_expired: bool,
    },
    /// Check a token.
    Validate {
        /// The invitation token.
        #[arg(value_name = "TOKEN", allow_hyphen_values = true)]
        invitation: String,
    },
    /// Accept an invitation, creating the dashboard account.
    Accept {
        /// The invitation token.
        #[arg(value_name = "TOKEN", allow_hyphen_values = true)]
        invitation: String,
        /// The new account's display name.
        #[arg(long)]
        name: String,
        /// The new account's password (12 to 72 bytes).
        #[arg(
            long,
            env = "FLUXBASE_NEW_PASSWORD",
            hide_env_values = true,
            allow_hyphen_values = true
        )]
        new_password: String,
    },
    /// Revoke (delete) an invitation by its token.
    Revoke {
        /// The invitation token.
        #[arg(value_name = "TOKEN", allow_hyphen_values = true)]
        invitation: String,
    },
}

pub(crate) fn run_invitations(args: InvitationsArgs) -> anyhow::Result<ExitCode> {
    let json = args.conn.json;
    run(json, async move {
        let client = args.conn.connect(Purpose::Admin).await?;
        let inv = client.invitations();
        match args.command {
            InvitationsCommand::Create {
                invitee,
                role,
                expires_in,
            } => {
                let role: InvitationRole = role.parse().map_err(Failure::from)?;
                let mut req = CreateInvitation::new(invitee, role);
                if let Some(secs) = expires_in {
                    req = req.expires_in(Duration::from_secs(secs));
                }
                let created = inv.create(req).await?;
                show(json, &created, |c| {
                    print_invitation(&c.invitation)?;
                    outln!("  link:        {}", c.invite_link)?;
                    if let Some(status) = &c.email_status {
                        outln!("  email:       {status}")?;
                    }
                    Ok(())
                })
            }
            InvitationsCommand::List {
                include_accepted,
                include_expired,
            } => {
                let filter = ListInvitations::new()
                    .include_accepted(include_accepted)
                    .include_expired(include_expired);
                let all = inv.list_with(filter).await?;
                show(json, &all, |all| {
                    if all.is_empty() {
                        outln!("no invitations")?;
                    }
                    for i in all {
                        outln!(
                            "{}  {:<16}  {:<8}  expires {}",
                            i.email,
                            i.role,
                            if i.is_accepted() {
                                "accepted"
                            } else {
                                "pending"
                            },
                            when(i.expires_at)
                        )?;
                    }
                    Ok(())
                })
            }
            InvitationsCommand::Validate { invitation } => {
                let v = inv.validate(&invitation).await?;
                show(json, &v, |v| match (&v.invitation, v.valid) {
                    (Some(i), true) => {
                        outln!("valid")?;
                        print_invitation(i)
                    }
                    _ => outln!(
                        "invalid: {}",
                        v.error.as_deref().unwrap_or("unknown reason")
                    ),
                })
            }
            InvitationsCommand::Accept {
                invitation,
                name,
                new_password,
            } => {
                let session = inv.accept(&invitation, &new_password, &name).await?;
                show(json, &session, |s| {
                    outln!("account created for {}", s.user.email)
                })
            }
            InvitationsCommand::Revoke { invitation } => {
                inv.revoke(&invitation).await?;
                show(json, &serde_json::json!({"revoked": true}), |_| {
                    outln!("invitation revoked")
                })
            }
        }
    })
}

fn print_invitation(i: &Invitation) -> Result<(), StdoutError> {
    outln!("  email:       {}", i.email)?;
    outln!("  role:        {}", i.role)?;
    if let Some(t) = &i.token {
        outln!("  token:       {t}")?;
    }
    outln!("  expires:     {}", when(i.expires_at))?;
    outln!(
        "  status:      {}",
        if i.is_accepted() {
            "accepted"
        } else {
            "pending"
        }
    )
}
