//! The migrations are compiled in (`include_dir!` in `src/storage/db.rs`), which does not
//! tell cargo about the files it reads: rebuild the core when one changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
