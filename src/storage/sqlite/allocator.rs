//! SQLite's own allocations through mimalloc, the process's allocator. SQLite allocates
//! with the C library's `malloc` unless told otherwise, and it allocates a lot: a copy of
//! every column of every row read (sqlx takes each value out with `sqlite3_value_dup`),
//! statement and page-cache buffers. glibc's `malloc`/`free` were ~10 % of a SQLite read's
//! instructions.

use libmimalloc_sys::{mi_free, mi_good_size, mi_malloc, mi_realloc, mi_usable_size};
use libsqlite3_sys as ffi;
use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

// SQLite's contract (`sqlite3_mem_methods`): sizes are positive, `realloc` and `free` get
// pointers from these functions (never null), and allocations are 8-byte aligned (mimalloc:
// at least that for every size SQLite asks for).
unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
    unsafe { mi_malloc(usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn free(p: *mut c_void) {
    unsafe { mi_free(p) }
}

unsafe extern "C" fn realloc(p: *mut c_void, bytes: c_int) -> *mut c_void {
    unsafe { mi_realloc(p, usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn size(p: *mut c_void) -> c_int {
    c_int::try_from(unsafe { mi_usable_size(p) }).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn roundup(bytes: c_int) -> c_int {
    let rounded = unsafe { mi_good_size(usize::try_from(bytes).unwrap_or(0)) };
    c_int::try_from(rounded).unwrap_or(bytes)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

/// Hands SQLite mimalloc's functions, once per process. SQLite takes them only before its
/// first use in the process (afterwards `sqlite3_config` refuses, SQLITE_MISUSE, and SQLite
/// keeps the C library's allocator: correct too, only slower), so the store calls this
/// before it opens its first connection. Whether SQLite took them.
pub fn use_mimalloc_for_sqlite() -> bool {
    static TAKEN: OnceLock<bool> = OnceLock::new();
    *TAKEN.get_or_init(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to an `sqlite3_mem_methods`, which
        // SQLite copies before returning; it is refused once SQLite is initialized, so no
        // allocation made by another allocator can reach these functions.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_MALLOC,
                &methods as *const ffi::sqlite3_mem_methods,
            )
        };
        if rc != ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was already in use: it keeps the C library's allocator"
            );
        }
        rc == ffi::SQLITE_OK
    })
}
