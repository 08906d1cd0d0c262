//! `cargo bench`: the same suite as `shadergrad bench`, with the same flags
//! (`cargo bench --bench kernels -- --quick --filter matmul --json out.json`,
//! `--peer PATH` to run a peer harness beside the end-to-end workloads;
//! name the bench target when passing flags, or the library's test harness
//! rejects them); a bare word is taken as the filter, as cargo bench's own
//! convention.

fn main() {
    let mut opts = shadergrad_cli::bench::Options {
        report: Some("bench-report".into()),
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--end-to-end" => opts.end_to_end = true,
            "--no-report" => opts.report = None,
            "--filter" => opts.filter = args.next(),
            "--peer" => opts.peer = args.next().map(Into::into),
            "--json" => opts.json = args.next().map(Into::into),
            "--compare" => opts.compare = args.next().map(Into::into),
            "--report" => opts.report = args.next().map(Into::into),
            // cargo passes --bench; other harness flags mean nothing here.
            s if s.starts_with('-') => {}
            s => opts.filter = Some(s.to_string()),
        }
    }
    match shadergrad_cli::bench::cli(&opts) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
