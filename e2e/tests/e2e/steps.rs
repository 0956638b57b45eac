//! Small steps the desk tests share: typing, clicking, signing in, waiting.

use std::time::{Duration, Instant};

use fantoccini::key::Key;
use frontdesk_e2e::{Desk, Locator};

/// Replaces the text of the input matched by `css` with `text`, once it can be
/// typed into: a drawer that re-renders on a refresh can replace the input, or
/// hold it out of reach for a moment, between finding it and typing (a person
/// would look again too).
pub async fn fill(desk: &Desk, css: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let input = desk.wait_for(css).await;
        let typed = match input.clear().await {
            Ok(()) => input.send_keys(text).await,
            Err(e) => Err(e),
        };
        match typed {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => {
                let shot = desk
                    .screenshot(&format!("{}-cannot-type", desk.name()))
                    .await;
                panic!(
                    "{}: cannot type into {css:?}: {e:?} (the window: {})",
                    desk.name(),
                    shot.display()
                )
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element matched by `css` once it exists and is enabled (a click on
/// a disabled button does nothing, and a person would wait for it too).
pub async fn click(desk: &Desk, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let element = desk.wait_for(css).await;
        if element.is_enabled().await.unwrap_or(false) {
            element.click().await.unwrap();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {css:?} stayed disabled",
            desk.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the first button whose text contains `label`, below `scope` (CSS), once
/// it is enabled (a drawer disables its buttons while it saves and reloads).
pub async fn click_button(desk: &Desk, scope: &str, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut disabled = false;
    loop {
        if let Ok(buttons) = desk
            .client()
            .find_all(Locator::Css(&format!("{scope} button")))
            .await
        {
            for b in buttons {
                if b.text().await.is_ok_and(|t| t.contains(label)) {
                    if b.is_enabled().await.unwrap_or(false) {
                        b.click().await.unwrap();
                        return;
                    }
                    disabled = true;
                    break;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: no {}button {label:?} under {scope:?}",
            desk.name(),
            if disabled { "enabled " } else { "" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The labels of the buttons below `scope` right now. The scope must be on the
/// page (waited for, then a failure): "no such button" is never the answer for a
/// missing panel.
pub async fn button_labels(desk: &Desk, scope: &str) -> Vec<String> {
    desk.wait_for(scope).await;
    let buttons = desk
        .client()
        .find_all(Locator::Css(&format!("{scope} button")))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: cannot list the buttons under {scope:?}: {e}",
                desk.name()
            )
        });
    let mut labels = Vec::new();
    for b in buttons {
        labels.push(b.text().await.unwrap_or_else(|e| {
            panic!("{}: cannot read a button under {scope:?}: {e}", desk.name())
        }));
    }
    labels
}

/// Waits until the day grid shows the day the header names (after moving to
/// another day the grid keeps the old day until the new one has loaded).
pub async fn wait_day_loaded(desk: &Desk) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let header = text(desk, "[data-testid=current-date]").await;
        let grid = desk
            .wait_for("[data-testid=day-grid]")
            .await
            .attr("aria-label")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if !header.is_empty() && grid == format!("Slots on {header}") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the grid shows {grid:?}, the header {header:?}",
            desk.name()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Signs in on the login screen and waits for the signed-in frame. The fields
/// are read back before Enter and typed again if they do not hold what was
/// typed: on a loaded CI machine a sign-in was refused as "wrong username or
/// password" with the right ones sent (the form re-rendered while they were
/// typed), where a person would have seen the field and typed again.
pub async fn sign_in(desk: &Desk, username: &str, password: &str) {
    let fields = [
        ("[data-testid=login-form] input[name=username]", username),
        ("[data-testid=login-form] input[name=password]", password),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for (css, text) in fields {
            fill(desk, css, text).await;
        }
        let mut held = Vec::new();
        for (css, _) in fields {
            let value = desk.find(css).await.prop("value").await.ok().flatten();
            held.push(value.unwrap_or_default());
        }
        if held == [username, password] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the sign-in fields hold {held:?}, not what was typed",
            desk.name()
        );
    }
    desk.find("[data-testid=login-form] input[name=password]")
        .await
        .send_keys(&String::from(char::from(Key::Enter)))
        .await
        .unwrap();
    desk.wait_for("[data-testid=signed-in-as]").await;
}

/// After the first-run setup: the recovery key is shown once (a key of 13 groups of
/// four characters); "I have put it away" opens the desk. Returns the key.
pub async fn put_recovery_key_away(desk: &Desk) -> String {
    desk.wait_for("[data-testid=recovery-key-notice]").await;
    let key = desk.wait_for_text("[data-testid=recovery-key]", "-").await;
    click(desk, "[data-testid=recovery-key-done]").await;
    wait_gone(desk, "[data-testid=recovery-key-notice]").await;
    key
}

/// Waits until `css` matches nothing (or until 10 s pass: then panics).
pub async fn wait_gone(desk: &Desk, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while desk
        .client()
        .find_all(Locator::Css(css))
        .await
        .is_ok_and(|v| !v.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "{}: {css:?} still shown",
            desk.name()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The text of the first element matching `css`.
pub async fn text(desk: &Desk, css: &str) -> String {
    desk.wait_for(css).await.text().await.unwrap()
}

/// Chooses the option with `value` in the `<select>` matched by `css`.
pub async fn select(desk: &Desk, css: &str, value: &str) {
    desk.wait_for(css)
        .await
        .select_by_value(value)
        .await
        .unwrap();
}

/// Shows a day with slots: today, or — after hours, when the demo clinic's
/// slots of today are over and were never made — tomorrow.
pub async fn show_a_day_with_slots(desk: &Desk) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let grid = desk
            .client()
            .find_all(Locator::Css("[data-testid=day-grid] [data-testid=status]"))
            .await
            .is_ok_and(|v| !v.is_empty());
        if grid {
            return;
        }
        let empty = desk
            .client()
            .find_all(Locator::Css("[data-testid=day-empty]"))
            .await
            .is_ok_and(|v| !v.is_empty());
        if empty {
            click(desk, "nav.date-nav button[aria-label^='Next day']").await;
            desk.wait_for("[data-testid=day-grid] [data-testid=status]")
                .await;
            wait_day_loaded(desk).await;
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: neither a day grid nor an empty day is shown",
            desk.name()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The number the page's `expression` gives (e.g. `window.__seenAt`), once it
/// gives one; fails after `patience` with `what` never happening.
pub async fn number_on_page(desk: &Desk, expression: &str, patience: Duration, what: &str) -> i64 {
    let deadline = Instant::now() + patience;
    loop {
        let v = desk
            .client()
            .execute(&format!("return {expression}"), vec![])
            .await
            .unwrap();
        if let Some(n) = v.as_i64() {
            return n;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
