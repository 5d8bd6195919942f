//! SQLite allocates through mimalloc, the process's allocator, once the store has opened
//! (`storage::sqlite::allocator`), and everything still works on it. Its own test binary:
//! nothing in this process touches SQLite before the store does.

mod common;

use common::{Backend, TestDb, create_and_read_back, new_order};
use order_service::storage::{self, use_mimalloc_for_sqlite};

#[tokio::test]
async fn sqlite_allocates_through_mimalloc() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = storage::connect(&db.url, 4).await.unwrap();
    assert!(use_mimalloc_for_sqlite(), "SQLite refused the allocator");
    // SAFETY: a block SQLite allocates, sized and freed by SQLite itself.
    unsafe {
        let block = libsqlite3_sys::sqlite3_malloc(1000);
        assert!(!block.is_null());
        assert!(
            libmimalloc_sys::mi_is_in_heap_region(block),
            "SQLite's allocation is not from mimalloc's heap"
        );
        assert!(libsqlite3_sys::sqlite3_msize(block) >= 1000);
        libsqlite3_sys::sqlite3_free(block);
    }
    // Writes (group commit, checkpoints) and reads on SQLite's new allocator.
    for n in 0..50 {
        create_and_read_back(&store, &new_order(&format!("user-{n}"))).await;
    }
}
