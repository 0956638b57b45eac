//! The crash-simulating VFS: a thin SQLite VFS wrapping the default one (unix),
//! registered as the process's default, so every connection Frontdesk opens — the
//! pool, the writer, the checkpointer, `check` — goes through it without any change
//! to how Frontdesk opens files.
//!
//! Files under the simulator's folder (the database and its WAL; the `-shm` is
//! memory-mapped and rebuilt after a reboot, so it is simply deleted at a cut) are
//! *tracked*: every write, truncation and sync still reaches the real file at once
//! (so every reader sees it, as with the OS page cache), but the simulator keeps an
//! undo log of what each write replaced. A sync of the file (`xSync`, or the group
//! sync reported through [`frontdesk::storage::tx::SyncObserver`]) makes the writes made before
//! it began durable: they leave the log. At a power cut ([`Sim::cut`]) every call on
//! a tracked file fails from that instant on and nothing more reaches it; at the
//! reboot ([`Sim::reboot`]) each file is put back to its last synced image and the
//! unsynced operations are applied again in order, each at random kept, dropped, or
//! torn (each 512-byte piece of it new, old or garbage) — the crash model of
//! SQLite's own `test6.c`. Bytes outside what an operation wrote are never touched
//! (SQLite's "powersafe overwrite", which the unix VFS declares).
//!
//! Files elsewhere (other tests running in the same process) pass straight through.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rand::Rng;
use rusqlite::ffi;

/// One unsynced operation on a tracked file, with what it replaced.
#[derive(Debug, Clone)]
enum Op {
    Write {
        offset: u64,
        new: Vec<u8>,
        /// The bytes it overwrote (only those below `old_len`).
        old: Vec<u8>,
        old_len: u64,
    },
    Truncate {
        new_len: u64,
        old_len: u64,
        /// The bytes cut off (`new_len..old_len`).
        old_tail: Vec<u8>,
    },
}

/// What the reboots did to unsynced operations, in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutStats {
    /// Unsynced operations found at the cuts.
    pub unsynced: u64,
    /// Of those, applied whole.
    pub kept: u64,
    /// Dropped.
    pub dropped: u64,
    /// Torn: some 512-byte pieces new, some old, some garbage.
    pub torn: u64,
}

#[derive(Default)]
struct State {
    /// Tracked files (by path) and their unsynced operations, with sequence numbers.
    files: HashMap<PathBuf, Vec<(u64, Op)>>,
    seq: u64,
    stats: CutStats,
}

/// The simulator: one per process (SQLite's VFS list is process-wide).
pub struct Sim {
    root: Mutex<Option<PathBuf>>,
    powered: AtomicBool,
    state: Mutex<State>,
    /// Tracked files open now (a reboot needs every one closed).
    open_files: AtomicI64,
}

static SIM: OnceLock<Arc<Sim>> = OnceLock::new();

const VFS_NAME: &CStr = c"frontdesk-powercut";
const SECTOR: u64 = 512;

impl Sim {
    /// The process's simulator, registered (once) as SQLite's default VFS and as
    /// the group sync's observer.
    pub fn get() -> Arc<Sim> {
        SIM.get_or_init(|| {
            let sim = Arc::new(Sim {
                root: Mutex::new(None),
                powered: AtomicBool::new(true),
                state: Mutex::new(State::default()),
                open_files: AtomicI64::new(0),
            });
            // SAFETY: registers a VFS struct that lives for the rest of the process.
            unsafe { register() };
            frontdesk::storage::tx::set_sync_observer(Some(Arc::new(Observer)));
            sim
        })
        .clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tracks the files under `root` from now on (`None`: nothing), forgetting
    /// every earlier log; the power is on.
    pub fn track(&self, root: Option<&Path>) {
        *self.root.lock().unwrap_or_else(|p| p.into_inner()) = root.map(Path::to_path_buf);
        *self.lock() = State::default();
        self.powered.store(true, Ordering::SeqCst);
    }

    fn tracks(&self, path: &Path) -> bool {
        self.root
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            .is_some_and(|r| path.starts_with(r))
    }

    /// Whether the power is on.
    pub fn powered(&self) -> bool {
        self.powered.load(Ordering::SeqCst)
    }

    /// Cuts the power: from now on every call on a tracked file fails and nothing
    /// more reaches the disk.
    pub fn cut(&self) {
        let _st = self.lock();
        self.powered.store(false, Ordering::SeqCst);
    }

    /// Tracked files still open (by SQLite connections of this process).
    pub fn open_files(&self) -> i64 {
        self.open_files.load(Ordering::SeqCst)
    }

    /// What the reboots did so far.
    pub fn stats(&self) -> CutStats {
        self.lock().stats.clone()
    }

    /// Unsynced operations now, over all tracked files.
    pub fn unsynced(&self) -> usize {
        self.lock().files.values().map(Vec::len).sum()
    }

    /// After a cut, with every connection closed: each tracked file becomes its
    /// last synced image plus a random choice of its unsynced operations (kept,
    /// dropped or torn, in order); the `-shm` files are deleted; the power is on.
    pub fn reboot(&self, rng: &mut impl Rng) -> std::io::Result<()> {
        let mut st = self.lock();
        let files = std::mem::take(&mut st.files);
        for (path, ops) in files {
            if ops.is_empty() || !path.exists() {
                continue;
            }
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)?;
            // back to the last synced image
            for (_, op) in ops.iter().rev() {
                match op {
                    Op::Write {
                        offset,
                        old,
                        old_len,
                        ..
                    } => {
                        f.seek(SeekFrom::Start(*offset))?;
                        f.write_all(old)?;
                        f.set_len(*old_len)?;
                    }
                    Op::Truncate {
                        new_len,
                        old_len,
                        old_tail,
                    } => {
                        f.set_len(*old_len)?;
                        f.seek(SeekFrom::Start(*new_len))?;
                        f.write_all(old_tail)?;
                    }
                }
            }
            // then what the disk happened to get of the rest
            for (_, op) in &ops {
                st.stats.unsynced += 1;
                let roll = rng.random_range(0..100);
                match op {
                    Op::Truncate { new_len, .. } => {
                        if roll < 50 {
                            st.stats.kept += 1;
                            f.set_len(*new_len)?;
                        } else {
                            st.stats.dropped += 1;
                        }
                    }
                    Op::Write { offset, new, .. } if roll < 40 => {
                        st.stats.kept += 1;
                        f.seek(SeekFrom::Start(*offset))?;
                        f.write_all(new)?;
                    }
                    Op::Write { .. } if roll < 75 => st.stats.dropped += 1,
                    Op::Write { offset, new, .. } => {
                        st.stats.torn += 1;
                        tear(&mut f, *offset, new, rng)?;
                    }
                }
            }
            f.sync_all()?;
        }
        drop(st);
        if let Some(root) = self.root.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            for entry in std::fs::read_dir(&root)?.flatten() {
                if entry.file_name().to_string_lossy().ends_with("-shm") {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        self.powered.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// A token for the writes made so far (see `after_sync`).
    fn sync_begins(&self, path: &Path) -> Result<u64, c_int> {
        let st = self.lock();
        if !self.powered() {
            return Err(ffi::SQLITE_IOERR_FSYNC);
        }
        let _ = path;
        Ok(st.seq)
    }

    /// A sync of `path` that began at `token` finished: what was written before it
    /// is durable — unless the power went off meanwhile (then the sync never
    /// finished, as far as anyone alive can tell).
    fn sync_ends(&self, path: &Path, token: u64) -> Result<(), c_int> {
        let mut st = self.lock();
        if !self.powered() {
            return Err(ffi::SQLITE_IOERR_FSYNC);
        }
        if let Some(ops) = st.files.get_mut(path) {
            ops.retain(|(seq, _)| *seq > token);
        }
        Ok(())
    }

    fn record(st: &mut State, path: &Path, op: Op) {
        st.seq += 1;
        let seq = st.seq;
        st.files
            .entry(path.to_path_buf())
            .or_default()
            .push((seq, op));
    }
}

/// Writes `new` at `offset` piece by piece (512-byte sectors of the file): each
/// piece new, left as it was, or garbage.
fn tear(f: &mut std::fs::File, offset: u64, new: &[u8], rng: &mut impl Rng) -> std::io::Result<()> {
    let end = offset + new.len() as u64;
    let mut at = offset;
    while at < end {
        let next = ((at / SECTOR + 1) * SECTOR).min(end);
        let piece = &new[(at - offset) as usize..(next - offset) as usize];
        match rng.random_range(0..3) {
            0 => {
                f.seek(SeekFrom::Start(at))?;
                f.write_all(piece)?;
            }
            1 => {}
            _ => {
                let junk: Vec<u8> = (0..piece.len()).map(|_| rng.random()).collect();
                f.seek(SeekFrom::Start(at))?;
                f.write_all(&junk)?;
            }
        }
        at = next;
    }
    Ok(())
}

/// The group sync's observer: the WAL sync Frontdesk runs itself (through
/// `std::fs`) counts for the simulator like an `xSync`.
struct Observer;

impl frontdesk::storage::tx::SyncObserver for Observer {
    fn before_sync(&self, wal: &Path) -> std::io::Result<u64> {
        let sim = Sim::get();
        if !sim.tracks(wal) {
            return Ok(0);
        }
        sim.sync_begins(wal).map_err(|_| power_is_off())
    }

    fn after_sync(&self, wal: &Path, token: u64) -> std::io::Result<()> {
        let sim = Sim::get();
        if !sim.tracks(wal) {
            return Ok(());
        }
        sim.sync_ends(wal, token).map_err(|_| power_is_off())
    }
}

fn power_is_off() -> std::io::Error {
    std::io::Error::other("simulated power cut")
}

// ---- the VFS itself -------------------------------------------------------

/// Our `sqlite3_file`: the base (our methods), then the real file's handle.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// `Some(path)` when tracked.
    path: Option<Box<PathBuf>>,
}

static mut VFS: std::mem::MaybeUninit<ffi::sqlite3_vfs> = std::mem::MaybeUninit::uninit();
static mut REAL: *mut ffi::sqlite3_vfs = std::ptr::null_mut();

unsafe fn register() {
    let real = ffi::sqlite3_vfs_find(std::ptr::null());
    assert!(!real.is_null(), "SQLite has a default VFS");
    REAL = real;
    let mut vfs = *real;
    vfs.iVersion = vfs.iVersion.min(3);
    vfs.szOsFile = std::mem::size_of::<File>() as c_int;
    vfs.pNext = std::ptr::null_mut();
    vfs.zName = VFS_NAME.as_ptr();
    vfs.xOpen = Some(x_open);
    vfs.xDelete = Some(x_delete);
    let ptr = std::ptr::addr_of_mut!(VFS).cast::<ffi::sqlite3_vfs>();
    ptr.write(vfs);
    let rc = ffi::sqlite3_vfs_register(ptr, 1);
    assert_eq!(rc, ffi::SQLITE_OK, "cannot register the power-cut VFS");
}

fn real_vfs() -> *mut ffi::sqlite3_vfs {
    // SAFETY: set once in `register`, before the VFS can be used.
    unsafe { REAL }
}

fn sim() -> &'static Sim {
    SIM.get()
        .expect("the simulator exists once its VFS is registered")
}

unsafe fn path_of(name: *const c_char) -> Option<PathBuf> {
    if name.is_null() {
        return None;
    }
    let s = CStr::from_ptr(name).to_str().ok()?;
    Some(PathBuf::from(s))
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let f = file.cast::<File>();
    let real_size = (*real_vfs()).szOsFile as usize;
    // u64 words: aligned for any sqlite3_file
    let words = vec![0u64; real_size.div_ceil(8)].into_boxed_slice();
    let real = Box::into_raw(words).cast::<ffi::sqlite3_file>();
    let tracked = path_of(name).filter(|p| {
        flags & (ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_MAIN_JOURNAL)
            != 0
            && sim().tracks(p)
    });
    // the memory is SQLite's and uninitialised: written, never assigned (no drop)
    std::ptr::addr_of_mut!((*f).base.pMethods).write(std::ptr::null());
    std::ptr::addr_of_mut!((*f).real).write(real);
    std::ptr::addr_of_mut!((*f).path).write(None);
    if tracked.is_some() && !sim().powered() {
        free_real(real);
        return ffi::SQLITE_CANTOPEN;
    }
    let rc = ((*real_vfs()).xOpen.expect("xOpen"))(real_vfs(), name, real, flags, out_flags);
    if (*real).pMethods.is_null() {
        free_real(real);
        (*f).real = std::ptr::null_mut();
        return rc;
    }
    if tracked.is_some() {
        sim().open_files.fetch_add(1, Ordering::SeqCst);
    }
    (*f).path = tracked.map(Box::new);
    (*f).base.pMethods = &METHODS;
    rc
}

unsafe fn free_real(real: *mut ffi::sqlite3_file) {
    let real_size = (*real_vfs()).szOsFile as usize;
    let slice = std::ptr::slice_from_raw_parts_mut(real.cast::<u64>(), real_size.div_ceil(8));
    drop(Box::from_raw(slice));
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let real = || ((*real_vfs()).xDelete.expect("xDelete"))(real_vfs(), name, sync_dir);
    let Some(path) = path_of(name).filter(|p| sim().tracks(p)) else {
        return real();
    };
    let mut st = sim().lock();
    if !sim().powered() {
        return ffi::SQLITE_IOERR_DELETE;
    }
    let rc = real();
    // an unlink is taken as durable at once (SQLite syncs what it deletes first)
    st.files.remove(&path);
    rc
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe fn real_of(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    (*file.cast::<File>()).real
}

unsafe fn methods(real: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    &*(*real).pMethods
}

unsafe fn tracked(file: *mut ffi::sqlite3_file) -> Option<&'static Path> {
    (*file.cast::<File>()).path.as_deref().map(|p| {
        // SAFETY: lives as long as the file is open, longer than any call on it
        std::mem::transmute::<&Path, &'static Path>(p.as_path())
    })
}

/// True when the call on `file` must fail: tracked, and the power is off.
unsafe fn dark(file: *mut ffi::sqlite3_file) -> bool {
    tracked(file).is_some() && !sim().powered()
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let f = file.cast::<File>();
    let real = (*f).real;
    // the real file is always closed (its descriptor and locks released)
    let rc = (methods(real).xClose.expect("xClose"))(real);
    free_real(real);
    if (*f).path.take().is_some() {
        sim().open_files.fetch_sub(1, Ordering::SeqCst);
    }
    (*f).real = std::ptr::null_mut();
    rc
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    if dark(file) {
        return ffi::SQLITE_IOERR_READ;
    }
    let real = real_of(file);
    (methods(real).xRead.expect("xRead"))(real, buf, amount, offset)
}

unsafe fn real_size(real: *mut ffi::sqlite3_file) -> Result<u64, c_int> {
    let mut size: ffi::sqlite3_int64 = 0;
    let rc = (methods(real).xFileSize.expect("xFileSize"))(real, &mut size);
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    Ok(size as u64)
}

/// The bytes of `offset..offset+len` below the end of the file.
unsafe fn read_existing(
    real: *mut ffi::sqlite3_file,
    offset: u64,
    len: u64,
    size: u64,
) -> Result<Vec<u8>, c_int> {
    let end = (offset + len).min(size);
    if end <= offset {
        return Ok(Vec::new());
    }
    let mut old = vec![0u8; (end - offset) as usize];
    let rc = (methods(real).xRead.expect("xRead"))(
        real,
        old.as_mut_ptr().cast(),
        old.len() as c_int,
        offset as ffi::sqlite3_int64,
    );
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    Ok(old)
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    let real = real_of(file);
    let write = || (methods(real).xWrite.expect("xWrite"))(real, buf, amount, offset);
    let Some(path) = tracked(file) else {
        return write();
    };
    let mut st = sim().lock();
    if !sim().powered() {
        return ffi::SQLITE_IOERR_WRITE;
    }
    let offset_u = offset as u64;
    let old_len = match real_size(real) {
        Ok(s) => s,
        Err(rc) => return rc,
    };
    let old = match read_existing(real, offset_u, amount as u64, old_len) {
        Ok(o) => o,
        Err(rc) => return rc,
    };
    let rc = write();
    if rc == ffi::SQLITE_OK {
        let new = std::slice::from_raw_parts(buf.cast::<u8>(), amount as usize).to_vec();
        Sim::record(
            &mut st,
            path,
            Op::Write {
                offset: offset_u,
                new,
                old,
                old_len,
            },
        );
    }
    rc
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    let real = real_of(file);
    let truncate = || (methods(real).xTruncate.expect("xTruncate"))(real, size);
    let Some(path) = tracked(file) else {
        return truncate();
    };
    let mut st = sim().lock();
    if !sim().powered() {
        return ffi::SQLITE_IOERR_TRUNCATE;
    }
    let old_len = match real_size(real) {
        Ok(s) => s,
        Err(rc) => return rc,
    };
    let new_len = size as u64;
    let old_tail = if new_len < old_len {
        match read_existing(real, new_len, old_len - new_len, old_len) {
            Ok(t) => t,
            Err(rc) => return rc,
        }
    } else {
        Vec::new()
    };
    let rc = truncate();
    if rc == ffi::SQLITE_OK {
        Sim::record(
            &mut st,
            path,
            Op::Truncate {
                new_len,
                old_len,
                old_tail,
            },
        );
    }
    rc
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let real = real_of(file);
    let sync = || (methods(real).xSync.expect("xSync"))(real, flags);
    let Some(path) = tracked(file) else {
        return sync();
    };
    let token = match sim().sync_begins(path) {
        Ok(t) => t,
        Err(rc) => return rc,
    };
    let rc = sync();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match sim().sync_ends(path, token) {
        Ok(()) => ffi::SQLITE_OK,
        Err(rc) => rc,
    }
}

unsafe extern "C" fn x_file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    if dark(file) {
        return ffi::SQLITE_IOERR_FSTAT;
    }
    let real = real_of(file);
    (methods(real).xFileSize.expect("xFileSize"))(real, size)
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    if dark(file) {
        return ffi::SQLITE_IOERR_LOCK;
    }
    let real = real_of(file);
    (methods(real).xLock.expect("xLock"))(real, level)
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let real = real_of(file);
    (methods(real).xUnlock.expect("xUnlock"))(real, level)
}

unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    if dark(file) {
        return ffi::SQLITE_IOERR_CHECKRESERVEDLOCK;
    }
    let real = real_of(file);
    (methods(real)
        .xCheckReservedLock
        .expect("xCheckReservedLock"))(real, out)
}

unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // a size hint may make the unix VFS extend the file behind xWrite's back; it
    // is only a hint, so a tracked file ignores it
    if op == ffi::SQLITE_FCNTL_SIZE_HINT && tracked(file).is_some() {
        return ffi::SQLITE_OK;
    }
    let real = real_of(file);
    (methods(real).xFileControl.expect("xFileControl"))(real, op, arg)
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let real = real_of(file);
    (methods(real).xSectorSize.expect("xSectorSize"))(real)
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let real = real_of(file);
    (methods(real)
        .xDeviceCharacteristics
        .expect("xDeviceCharacteristics"))(real)
}

unsafe extern "C" fn x_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    if dark(file) {
        return ffi::SQLITE_IOERR_SHMMAP;
    }
    let real = real_of(file);
    match methods(real).xShmMap {
        Some(f) => f(real, page, size, extend, out),
        None => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn x_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    if dark(file) && flags & ffi::SQLITE_SHM_LOCK != 0 {
        return ffi::SQLITE_IOERR_SHMLOCK;
    }
    let real = real_of(file);
    match methods(real).xShmLock {
        Some(f) => f(real, offset, n, flags),
        None => ffi::SQLITE_IOERR_SHMLOCK,
    }
}

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    let real = real_of(file);
    if let Some(f) = methods(real).xShmBarrier {
        f(real)
    }
}

unsafe extern "C" fn x_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    let real = real_of(file);
    match methods(real).xShmUnmap {
        Some(f) => f(real, delete),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn x_fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // no memory-mapped reads: every read goes through xRead
    let _ = (file, offset, amount);
    *out = std::ptr::null_mut();
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_unfetch(
    _file: *mut ffi::sqlite3_file,
    _offset: ffi::sqlite3_int64,
    _page: *mut c_void,
) -> c_int {
    ffi::SQLITE_OK
}
