//! Speed as the desk feels it, measured and printed (never asserted with timing):
//! how soon a change committed by another desk repaints this desk's day grid, and
//! how long the app takes from process start to a usable sign-in form and from
//! Sign in to the day grid. Run it against the release build with
//! `FRONTDESK_APP_BIN=target/release/frontdesk-app`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frontdesk::{Actor, Frontdesk};
use frontdesk_e2e::{off_runtime, Clinic, Desk};
use serde_json::json;

use crate::seed;
use crate::steps::{click, number_on_page, sign_in, wait_day_loaded};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A number the page put in `document.body.dataset`, once it is there.
async fn dataset_number(desk: &Desk, key: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = desk
            .client()
            .execute(
                &format!("return document.body.dataset.{key} || null"),
                vec![],
            )
            .await
            .unwrap();
        if let Some(n) = v.as_str().and_then(|s| s.parse().ok()) {
            return n;
        }
        assert!(Instant::now() < deadline, "the page never set {key}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn another_desk_s_change_repaints_the_day_grid_and_the_app_starts_quickly() {
    let Some(clinic) = Clinic::for_test("live_refresh") else {
        return;
    };
    live_refresh(clinic, "on one file").await;
}

/// The same on a clinic server: the other desk's change reaches this one as the
/// server's note (`LISTEN`), not as a file event.
#[tokio::test]
async fn on_a_clinic_server_another_desk_s_change_repaints_the_day_grid() {
    let Some(clinic) = Clinic::on_server("live_refresh_server") else {
        return;
    };
    live_refresh(clinic, "on a clinic server").await;
}

async fn live_refresh(clinic: Clinic, on: &str) {
    let doctor = seed::clinic_with_doctor(&clinic);
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    let desk = clinic.open_desk().await;
    desk.wait_for("[data-testid=login-form]").await;
    let started = dataset_number(&desk, "startedAtMs").await;
    let login_shown = dataset_number(&desk, "loginShownAtMs").await;
    sign_in(&desk, seed::ADMIN.0, seed::ADMIN.1).await;
    let sign_in_to_day = dataset_number(&desk, "signInToDayMs").await;
    eprintln!(
        "timing: process start to the sign-in form {} ms; Sign in to the day grid {sign_in_to_day} ms \
         (in the app); {}",
        login_shown - started,
        frontdesk_e2e::app_binary().display()
    );

    click(&desk, "nav.date-nav button[aria-label^='Next day']").await;
    wait_day_loaded(&desk).await;
    desk.wait_for_text(&format!("[data-slot-id='{slot}']"), "Free")
        .await;
    // the page notes when the slot's cell first shows what is expected
    desk.client()
        .execute(
            "const id = arguments[0];
             window.__live = { expect: null, seenAt: null };
             new MutationObserver(() => {
               const l = window.__live;
               if (!l.expect || l.seenAt) return;
               const cell = document.querySelector(`[data-slot-id='${id}']`);
               if (cell && cell.textContent.includes(l.expect)) l.seenAt = Date.now();
             }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });",
            vec![json!(slot)],
        )
        .await
        .unwrap();

    // another desk: this process, on the same database
    // (on a thread of its own: a desk on a server must not block the runtime)
    let other = off_runtime(|| {
        Frontdesk::open_default(clinic.db_path()).expect("a second desk on the database")
    });
    let admin = Actor::local_admin();
    let mut from_commit = Vec::new();
    for round in 0..16 {
        let block = round % 2 == 0;
        let expect = if block { "Blocked" } else { "Free" };
        desk.client()
            .execute(
                "window.__live = { expect: arguments[0], seenAt: null };",
                vec![json!(expect)],
            )
            .await
            .unwrap();
        off_runtime(|| other.set_slot_blocked(&admin, slot, block)).unwrap();
        let committed = now_ms();
        let seen = number_on_page(
            &desk,
            "window.__live.seenAt",
            Duration::from_secs(5),
            &format!("round {round}: the grid showing {expect}"),
        )
        .await;
        from_commit.push((seen - committed).max(0));
        // land at a different moment of any poll cycle next time
        tokio::time::sleep(Duration::from_millis(137 + 53 * (round % 5))).await;
    }
    let mut sorted = from_commit.clone();
    sorted.sort_unstable();
    eprintln!(
        "timing: another desk's commit to this desk's repainted cell {on}, {} changes: p50 {} ms, \
         p90 {} ms, max {} ms (all: {from_commit:?})",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        sorted[sorted.len() - 1],
    );
    desk.screenshot(clinic.test_name()).await;
    off_runtime(move || drop(other));
    desk.close().await;
}
