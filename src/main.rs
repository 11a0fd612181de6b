#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    fraudhub::cli::main()
}
