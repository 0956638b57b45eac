//! Health data is for the clinic's operating-system user only: every file Frontdesk
//! creates is 0600 and every folder 0700, whatever the umask it was started with.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use frontdesk::Actor;

use crate::fixture::{self, Clinic, NOW};

/// Every file and folder below `root` that others than the owner can use.
fn too_open(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            if mode & 0o077 != 0 {
                found.push(format!("{} is {mode:o}", path.display()));
            }
        }
    }
    found
}

/// Runs the CLI with umask 022, as a shell started by a default login would,
/// signed in as `who` (username, password) when given; its standard output.
fn cli_with_loose_umask(keys: &Path, who: Option<(&str, &str)>, args: &[&str]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "umask 022; exec '{}' {}",
            fixture::frontdesk_bin(),
            quoted.join(" ")
        ))
        .env(frontdesk::storage::audit_key::KEYS_DIR_ENV, keys);
    match who {
        Some((user, password)) => fixture::signed_in(&mut cmd, user, password),
        None => fixture::without_sign_in(&mut cmd),
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "frontdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_cli_makes_the_database_backups_exports_and_keys_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clinic");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = root.join("data").join("frontdesk.sqlite3");
    let keys = root.join("keys");
    let db_arg = db.to_str().unwrap();
    let demo: serde_json::Value = serde_json::from_str(&cli_with_loose_umask(
        &keys,
        None,
        &["--db", db_arg, "--json", "demo"],
    ))
    .expect("the demo's JSON");
    // the demo's admin signs in with the password it printed once
    let admin = &demo["accounts"][0];
    assert_eq!(admin["role"], "ADMIN", "the demo's first account: {demo}");
    let who = Some((
        admin["username"].as_str().unwrap(),
        admin["password"].as_str().unwrap(),
    ));
    cli_with_loose_umask(&keys, who, &["--db", db_arg, "backup"]);
    let csv = root.join("patients.csv");
    cli_with_loose_umask(
        &keys,
        who,
        &[
            "--db",
            db_arg,
            "export",
            "patients",
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert!(
        csv.exists() && keys.exists(),
        "the export and the key folder were written"
    );
    assert!(
        root.join("data")
            .join("backups")
            .read_dir()
            .unwrap()
            .count()
            > 0,
        "a backup was written"
    );
    assert_eq!(
        too_open(&root),
        Vec::<String>::new(),
        "nothing readable by others"
    );
}

#[test]
fn an_open_desk_its_log_files_backups_and_a_restore_keep_everything_private() {
    let c = Clinic::new();
    std::fs::set_permissions(c.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    c.patient("Maria García", "0151 23456789");
    let taken = PathBuf::from(c.desk.backup_now(&c.admin(), None).unwrap().file.path);
    let found = too_open(c.dir.path());
    assert_eq!(
        found,
        Vec::<String>::new(),
        "the open desk's files are private"
    );
    let db = c.path();
    let clock = c.clock.clone();
    let Clinic { desk, dir, .. } = c;
    desk.restore_backup(&Actor::local_admin(), &taken, false)
        .expect("restore");
    let _reopened = fixture::open_at(&db, clock);
    assert_eq!(
        too_open(dir.path()),
        Vec::<String>::new(),
        "the restored database and the safety copy are private"
    );
    let _ = NOW;
}

#[test]
fn an_existing_database_readable_by_others_is_made_private_when_opened() {
    let c = Clinic::new();
    let db = c.path();
    let clock = c.clock.clone();
    drop(c.desk);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _desk = fixture::open_at(&db, clock);
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "tightened to 0600 at open");
}
