//! The `registry` command: parses the command line and hands over to the library.

// The service allocates many small short-lived strings per request and per exported
// row, from several threads; mimalloc's thread-local heaps measured faster than
// glibc's allocator here (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    registry::cli::main()
}
