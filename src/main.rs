#![forbid(unsafe_code)]

// See Cargo.toml: the allocator is a measured choice, not a default.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fraudhub::cli::main()
}
