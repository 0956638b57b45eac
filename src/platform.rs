//! What depends on the operating system, in one place: a file's identity (device
//! and inode) and which processes have a file open. Elsewhere these answer "don't
//! know" (`None` / an empty list), and the callers fall back to SQLite's own checks.

use std::fs::File;
use std::path::Path;

/// A file's identity: the same for every name (link, relative spelling) of it,
/// different for a file put in its place under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

/// The identity of the file at `path` now (`None`: there is none).
pub fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().and_then(|m| id_of(&m))
}

/// The identity of an open file.
pub fn open_file_id(file: &File) -> Option<FileId> {
    file.metadata().ok().and_then(|m| id_of(&m))
}

#[cfg(unix)]
fn id_of(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
fn id_of(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// From now on, files and folders this process creates are readable only by its
/// user (umask 077: files 0600, folders 0700), whatever umask it was started
/// with. The app and the CLI call it first thing; the library also creates its
/// own files private explicitly.
pub fn restrict_new_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Ends the process at once with `code`, without the C library's exit handlers,
/// after flushing standard output and error. SQLCipher frees its private heap in
/// one (`atexit`) while another thread may still be using or closing a
/// connection (the read pool's, the app's watcher): the process then died of
/// SIGSEGV after its work was done (4 runs in 10 of a refused `frontdesk demo`).
/// Every change is committed and synced by then; callers flush what else they
/// buffer (the log file) first. The CLI and the app end this way.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    // SAFETY: `_exit` ends the process at once; nothing runs after it.
    unsafe {
        libc::_exit(code)
    }
    #[cfg(not(unix))]
    std::process::exit(code)
}

/// Makes an existing file readable only by this user (0600) if it is not already.
pub fn make_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Creates `dir` and its missing parents, readable only by this user (0700).
pub fn create_private_dir(dir: &Path) -> crate::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        crate::Error::Unusable(format!("cannot create the folder {}: {e}", dir.display()))
    })
}

/// Opens `path` for reading and writing, creating it readable only by this user
/// (0600) when it does not exist.
pub fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Creates a new file readable only by this user (0600); fails if it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a folder's entries (a new or renamed file) durable.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The programs (`name (pid N)`) that have any of `files` open, as far as this
/// user may see (Linux: `/proc/*/fd`). Catches what SQLite's locks cannot: a
/// connection that was opened but has not read anything yet holds no lock.
///
/// A process that forks holds copies of its parent's descriptors until it runs
/// the new program (which closes them): for those microseconds a desk starting
/// a sender, or any program spawning a child, appears to hold the file. So a
/// holder counts only when it is seen on every one of a few scans 50 ms apart.
pub fn processes_with_open(files: &[&Path]) -> Vec<String> {
    let ids: Vec<FileId> = files.iter().filter_map(|f| file_id(f)).collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut holders = scan_processes(&ids);
    for _ in 0..4 {
        if holders.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let again = scan_processes(&ids);
        holders.retain(|h| again.contains(h));
    }
    holders
}

#[cfg(target_os = "linux")]
fn scan_processes(ids: &[FileId]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue; // another user's process, or gone
        };
        let holds = fds
            .flatten()
            .any(|fd| file_id(&fd.path()).is_some_and(|id| ids.contains(&id)));
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("{} (pid {pid})", comm.trim()));
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
fn scan_processes(_ids: &[FileId]) -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_has_the_same_identity_under_every_name_and_a_replacement_has_another() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        let dotted = dir.path().join(".").join("a");
        assert_eq!(file_id(&a), file_id(&dotted), "two spellings, one file");
        let held = File::open(&a).unwrap();
        let b = dir.path().join("b");
        std::fs::write(&b, b"y").unwrap();
        std::fs::rename(&b, &a).unwrap();
        assert_ne!(
            open_file_id(&held),
            file_id(&a),
            "a file renamed over the name is another file"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_found_holding_a_file_it_opened() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        assert!(processes_with_open(&[&a]).is_empty(), "nobody has it open");
        let _held = File::open(&a).unwrap();
        let found = processes_with_open(&[&a]);
        assert!(
            found
                .iter()
                .any(|p| p.contains(&format!("pid {}", std::process::id()))),
            "this process holds it: {found:?}"
        );
    }

    /// The descriptors a forked child holds until it runs its program.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_holder_seen_for_a_moment_only_is_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        let (opened, wait) = std::sync::mpsc::channel();
        let path = a.clone();
        let brief = std::thread::spawn(move || {
            let held = File::open(&path).unwrap();
            opened.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(held);
        });
        wait.recv().unwrap();
        let found = processes_with_open(&[&a]);
        brief.join().unwrap();
        assert!(
            found.is_empty(),
            "a passing holder is not a holder: {found:?}"
        );
    }
}
