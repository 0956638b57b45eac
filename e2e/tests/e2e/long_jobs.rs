//! Long jobs in the real window: a backup of a big clinic shows a progress bar
//! with what is happening, and the desk stays usable while it runs; a backup that
//! failed while the admin was elsewhere says so when they come back.

use std::time::{Duration, Instant};

use frontdesk_e2e::{Clinic, Locator};

use crate::seed::{self, ADMIN};
use crate::steps::{click, sign_in, wait_day_loaded, wait_gone};

/// Patients whose notes pad the database to a size whose backup takes seconds.
const BULK_PATIENTS: i64 = 30_000;

/// Pads the clinic with [`BULK_PATIENTS`] patients (~4 KB each) straight
/// into the table, in one transaction: a big clinic in a few seconds.
fn make_big(clinic: &Clinic) {
    let conn =
        frontdesk::storage::db::open_keyed(clinic.db_path()).expect("open the clinic database");
    conn.execute_batch(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BULK_PATIENTS})
         INSERT INTO patient (name, phone, notes, created_at, updated_at)
           SELECT 'Bulk Patient ' || i, printf('+49151%08d', i), hex(randomblob(1000)), 0, 0 FROM n;
         COMMIT;"
    ))
    .expect("pad the clinic");
}

#[tokio::test]
async fn a_backup_of_a_big_clinic_shows_its_progress_and_the_day_view_works_meanwhile() {
    let Some(clinic) = Clinic::for_test("long_job_progress") else {
        return;
    };
    let doctor = seed::clinic_with_doctor(&clinic);
    let patient = seed::patient(&clinic, "Anna Alt", "0151 2345 6789");
    let slot = seed::slot_tomorrow(&clinic, doctor, "10:00");
    seed::book(&clinic, slot, patient);
    // backed up (elsewhere) a moment ago: the admin's sign-in starts no automatic
    // backup, and the backup on screen is the one the admin starts
    seed::run(
        &clinic,
        &[
            "backup",
            &clinic.dir().join("earlier.sqlite3").display().to_string(),
        ],
    );
    make_big(&clinic);
    let bytes = std::fs::metadata(clinic.db_path()).unwrap().len();

    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-backups").await;
    let started = Instant::now();
    click(&desk, "#backup-now").await;
    let shown = desk
        .wait_for_text("#backup-progress .progress-text", "Copying pages")
        .await;
    assert!(
        shown.contains(" of "),
        "the bar says how far the copy is: {shown:?}"
    );
    let disabled = desk
        .find("#backup-now")
        .await
        .attr("disabled")
        .await
        .unwrap();
    assert!(
        disabled.is_some(),
        "a second backup cannot be started from the screen"
    );
    desk.screenshot("progress-backup").await;

    // the rest of the desk answers meanwhile: the day view, the next day's booking,
    // and a check-in (a write while the backup reads its snapshot)
    // (today has no slots: the day view says so instead of drawing a grid)
    click(&desk, "[data-testid=rail-day]").await;
    desk.wait_for("[data-testid=day-empty]").await;
    click(&desk, "button[aria-label='Next day (→)']").await;
    wait_day_loaded(&desk).await;
    desk.wait_for_text("[data-testid=day-grid]", "Anna Alt")
        .await;
    click(&desk, "[data-testid=day-grid] [data-testid=check-in]").await;
    desk.wait_for_text("[data-testid=day-grid] [data-testid=status]", "Arrived")
        .await;
    let day_after = started.elapsed();
    desk.screenshot("progress-day-view-during-backup").await;

    // back on the backups screen the bar is still there (the job is not tied to it)
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-backups").await;
    let later = desk
        .wait_for_text("#backup-progress .progress-text", "")
        .await;
    let on_return = started.elapsed();
    desk.screenshot("progress-backup-on-return").await;
    // a big backup in a debug build takes longer than the helpers' 10 s waits
    let deadline = Instant::now() + Duration::from_secs(120);
    while desk
        .client()
        .find_all(Locator::Css("#backup-progress"))
        .await
        .is_ok_and(|v| !v.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "the backup ended within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    // the screen reloads its list when the job ends
    desk.wait_for_text(".backup-table", "frontdesk-").await;
    println!(
        "long_jobs: backup of a {:.0} MB clinic ({BULK_PATIENTS} padded patients): the day view \
         answered {:.1} s after the start; back on Backups at {:.1} s the bar said {later:?}; the \
         backup ended after {:.1} s",
        bytes as f64 / 1e6,
        day_after.as_secs_f64(),
        on_return.as_secs_f64(),
        took.as_secs_f64()
    );
    assert_ne!(later, shown, "the bar moved on while the admin was away");
    desk.close().await;
}

/// A backup that fails says why on the Backups screen, also when it was not
/// started there (the automatic backup at sign-in) or when the admin left the
/// screen and came back: the end of a job reaches every page with its outcome.
#[tokio::test]
async fn a_failed_backup_is_shown_on_the_backups_screen_also_after_the_admin_was_away() {
    let Some(clinic) = Clinic::for_test("long_job_failed") else {
        return;
    };
    seed::clinic_with_doctor(&clinic);
    // the default backup folder ("backups" beside the database) cannot be made:
    // its name is a link to nowhere (the list reads as empty, a backup fails)
    let folder = clinic.dir().join("backups");
    std::os::unix::fs::symlink(clinic.dir().join("gone").join("backups"), &folder).unwrap();

    let desk = clinic.open_desk().await;
    sign_in(&desk, ADMIN.0, ADMIN.1).await;
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-backups").await;
    // the automatic backup the sign-in started failed; this screen did not start it
    let shown = desk
        .wait_for_text("#backup-failed", "The last backup failed:")
        .await;
    assert!(
        shown.contains("Cannot create the backup folder"),
        "the reason: {shown:?}"
    );
    desk.screenshot("failed-backup-shown").await;

    // the admin's own backup fails the same way; they go to the day view and back
    click(&desk, "#backup-now").await;
    desk.wait_for_text(".error", "Cannot create the backup folder")
        .await;
    click(&desk, "[data-testid=rail-day]").await;
    desk.wait_for("[data-testid=day-empty]").await;
    click(&desk, "[data-testid=rail-admin]").await;
    click(&desk, "#admin-tab-backups").await;
    desk.wait_for_text("#backup-failed", "Cannot create the backup folder")
        .await;
    desk.screenshot("failed-backup-shown-on-return").await;

    // once the folder can be made, a backup succeeds and the failure is gone
    std::fs::remove_file(&folder).unwrap();
    click(&desk, "#backup-now").await;
    desk.wait_for_text(".backup-table", "frontdesk-").await;
    wait_gone(&desk, "#backup-failed").await;
    desk.close().await;
}
