//! Simulated power cuts under SQLite and the group sync (see
//! `frontdesk_proof::stress::power_cut`): every acknowledged change survives, torn
//! writes included; and the harness does catch a write path that acknowledges
//! before the WAL is synced.
//!
//! The long run: `FRONTDESK_POWER_CUTS=10000 cargo test --release -p frontdesk-cli
//! --test core power_cut::long_run -- --ignored --nocapture` (optionally with
//! `FRONTDESK_POWER_CUT_SEED=<seed>` to replay a run).

use std::time::Duration;

use frontdesk_proof::stress::power_cut::{run, summary, PowerCutOptions, PowerCutReport};

fn seed_from_env(default: u64) -> u64 {
    std::env::var("FRONTDESK_POWER_CUT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

fn power_cuts(opts: PowerCutOptions) -> PowerCutReport {
    let report = run(&opts, &|line| eprintln!("power cuts: {line}")).expect("the harness runs");
    eprintln!("{}", summary(&report));
    report
}

/// The CI run: a few hundred cuts on a small clinic with short bursts.
#[test]
fn every_acknowledged_write_survives_hundreds_of_power_cuts_torn_writes_included() {
    let cuts = 200;
    let report = power_cuts(PowerCutOptions {
        cuts,
        seed: seed_from_env(0x5eed_2026),
        ..PowerCutOptions::default()
    });
    assert!(
        report.violations.is_empty(),
        "replay with FRONTDESK_POWER_CUT_SEED={}: {}",
        report.seed,
        summary(&report)
    );
    assert_eq!(report.cuts, cuts);
    assert!(report.ledgers >= 2, "{}", summary(&report));
    // the cuts must land on unsynced data, and the harness must both drop and tear it
    assert!(report.unsynced >= cuts, "{}", summary(&report));
    assert!(
        report.dropped > 0 && report.torn > 0 && report.kept > 0,
        "{}",
        summary(&report)
    );
    assert!(report.acknowledged >= cuts, "{}", summary(&report));
    assert!(report.refused > 0, "{}", summary(&report));
}

/// The negative test: the same harness on a write path that tells the desk
/// "saved" before the group sync of the WAL must find acknowledged changes lost.
#[test]
fn acknowledging_before_the_wal_sync_loses_acknowledged_writes_and_the_harness_says_so() {
    let report = power_cuts(PowerCutOptions {
        cuts: 60,
        seed: seed_from_env(0xbad_5eed),
        ack_before_sync: true,
        stop_at_first_violation: true,
        max_burst: Duration::from_millis(60),
        ..PowerCutOptions::default()
    });
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.contains("reported committed but missing")),
        "acknowledging before the sync must lose an acknowledged write within 60 cuts: {}",
        summary(&report)
    );
    assert!(!report.failing_cuts.is_empty());
}

/// The long run (ignored): `FRONTDESK_POWER_CUTS` cuts (10,000 by default).
#[test]
#[ignore = "long: thousands of power cuts; see the module docs"]
fn long_run() {
    let cuts = std::env::var("FRONTDESK_POWER_CUTS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10_000);
    let seed = seed_from_env(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    );
    let report = power_cuts(PowerCutOptions {
        cuts,
        seed,
        ..PowerCutOptions::default()
    });
    assert!(
        report.violations.is_empty(),
        "replay with FRONTDESK_POWER_CUT_SEED={seed}: {}",
        summary(&report)
    );
}
