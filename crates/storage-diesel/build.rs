//! `embed_migrations!` reads `../../migrations` at compile time but cannot tell cargo about it:
//! rebuild this crate whenever a migration is added or changed.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
