//! `fluxhook demo`: the README's first command.

use crate::support::{fluxhook, stderr, stdout};

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_end_to_end_and_exits_0() {
    let out = fluxhook(&["demo"], &[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    // Numbered steps, in order.
    let mut at = 0;
    for n in 1..=9 {
        let marker = format!("\n{n}. ");
        let found = text[at..]
            .find(&marker)
            .unwrap_or_else(|| panic!("step {n} missing:\n{text}"));
        at += found + marker.len();
    }
    for line in [
        "Started the Fluxbase emulator (server flavor) at http://127.0.0.1:",
        "Signed in as user@example.com",
        "received TEST on public.test",
        "received INSERT on auth.users: user ada@example.com (read as user.created)",
        "received UPDATE on auth.users: user ada.lovelace@example.com (read as user.updated), was ada@example.com",
        "8. Fired user.created, the SDK documentation's name: the server has no such event and sends INSERT on auth.users",
        "verified: timestamped signature, key \"demo\"",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    let log: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("9. "))
        .skip(1)
        .filter(|l| l.contains("success"))
        .collect();
    assert_eq!(log.len(), 3, "{text}");
    // The server flavor delivered user.created as INSERT on auth.users.
    assert!(log[0].trim_start().starts_with("INSERT"), "{text}");
    assert!(log[1].trim_start().starts_with("UPDATE"), "{text}");
    assert!(log[2].trim_start().starts_with("INSERT"), "{text}");
    let after_8 = &text[text.find("\n8. ").unwrap()..];
    assert!(
        after_8
            .contains("received INSERT on auth.users: user ada@example.com (read as user.created)"),
        "{text}"
    );
    assert!(text.contains("Done: 3 deliveries"));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_in_the_documented_flavor() {
    let out = fluxhook(&["demo", "--flavor", "documented"], &[]).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("received webhook.test"), "{text}");
    assert!(
        text.contains("received user.created: user ada@example.com"),
        "{text}"
    );
    assert!(
        text.contains("received user.updated: user ada.lovelace@example.com"),
        "{text}"
    );
    assert!(text.contains("verified: hex signature"), "{text}");
}
