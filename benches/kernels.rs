//! `cargo bench`: the same suite as `shadergrad bench`.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dev = match shadergrad::Device::new() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {}", dev.describe());
    let opts = shadergrad::bench::Options {
        quick,
        filter: None,
    };
    match shadergrad::bench::run_all(&dev, &opts) {
        Ok(rows) => print!("{}", shadergrad::bench::table(&rows)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
