//! What depends on the operating system, in one place: a file's identity (device
//! and inode), which processes have a file open, how many `flock`s a file has,
//! whether a folder is on a network filesystem, and this process's user. Elsewhere these answer "don't
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

/// This process's effective user id.
#[cfg(unix)]
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// How many `flock`s are held on `path` (Linux: counted in `/proc/locks`).
pub fn flock_holders(path: &Path) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
        let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        Some(
            locks
                .lines()
                .filter(|l| l.contains(" FLOCK ") && l.split_whitespace().any(|w| w == id))
                .count(),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// The name of the network filesystem `dir` is on, if it is on one.
#[cfg(target_os = "linux")]
pub fn network_filesystem_kind(dir: &Path) -> Option<&'static str> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs writes into a zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    network_filesystem_name(st.f_type as i64)
}

/// The name of the network filesystem `dir` is on, if it is on one.
#[cfg(not(target_os = "linux"))]
pub fn network_filesystem_kind(_dir: &Path) -> Option<&'static str> {
    None
}

/// Maps a `statfs` magic number to the name of a network filesystem.
pub fn network_filesystem_name(magic: i64) -> Option<&'static str> {
    Some(match magic as u32 {
        0x6969 => "NFS",
        0x517B => "SMB",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x5346_414F => "AFS",
        0x0102_1997 => "9P",
        0x00C3_6400 => "CephFS",
        0x0116_1970 => "GFS2",
        0x0BD0_0BD0 => "Lustre",
        0x7375_7245 => "Coda",
        0x564C => "NCP",
        _ => return None,
    })
}

/// Refuses a file that someone other than root or this user could change: its
/// owner, its mode and those of every folder above it (a sticky folder such as
/// `/tmp` lets nobody replace another user's file, so it passes).
#[cfg(unix)]
pub fn check_trusted(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = effective_uid();
    let full = path
        .canonicalize()
        .map_err(|e| format!("{} cannot be found ({e})", path.display()))?;
    let mut at = Some(full.as_path());
    while let Some(p) = at {
        let meta =
            std::fs::metadata(p).map_err(|e| format!("{} cannot be read ({e})", p.display()))?;
        let what = if p == full { "it" } else { "the folder" };
        let shown = if p == full {
            String::new()
        } else {
            format!(" {}", p.display())
        };
        if meta.uid() != 0 && meta.uid() != me {
            return Err(format!(
                "{what}{shown} belongs to user id {}, neither root nor the user Frontdesk runs as; only the PC's administrator may be able to change it",
                meta.uid()
            ));
        }
        let mode = meta.mode() & 0o7777;
        let sticky_folder = meta.is_dir() && mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky_folder {
            return Err(format!(
                "{what}{shown} can be changed by other users (mode {mode:04o}); only its owner may write it (chmod go-w)"
            ));
        }
        at = p.parent();
    }
    Ok(())
}

/// Moves the file `from` to `to` unless a file is there already (then
/// `AlreadyExists`, and `from` stays). A hard link claims the name atomically
/// where the file system has them; on one without (FAT, exFAT: a USB stick) the
/// name is checked, then renamed — the only window left is on such a disk.
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            // both names now hold the file; the temporary one goes
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if to.exists() => Err(std::io::ErrorKind::AlreadyExists.into()),
        Err(_) => std::fs::rename(from, to),
    }
}

/// Whether only the file's owner may read or write it (libpq's rule for a pgpass
/// file: no group or other permissions).
#[cfg(unix)]
pub fn private_to_owner(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o077 == 0)
}

/// On Windows the user's profile folder protects the file.
#[cfg(not(unix))]
pub fn private_to_owner(path: &Path) -> bool {
    path.exists()
}

/// On Windows the folder's access list protects the file (see the README).
#[cfg(not(unix))]
pub fn check_trusted(path: &Path) -> std::result::Result<(), String> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| format!("{} cannot be read ({e})", path.display()))
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
