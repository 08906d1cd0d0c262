//! The `shadergrad` command: `info` describes the adapters, `demo` runs a small
//! computation and shows what the engine did, `tour` trains the course's
//! models (`--save` keeps them), `eval` scores a saved one again, `bench`
//! times the kernels.

use clap::{Parser, Subcommand};
use shadergrad::{DType, Device, MatmulVariant, Tensor};

#[derive(Parser)]
#[command(
    name = "shadergrad",
    version,
    about = "A WGSL deep-learning engine on wgpu"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Adapters found, the one chosen, its backend, features and limits.
    Info,
    /// A small computation end to end, with the device's counters.
    Demo,
    /// Trains every chapter of the course notes on real data and checks each
    /// against its held-out target.
    Tour {
        /// Only this entry (an exact name), or every entry whose name contains it (repeatable).
        #[arg(long)]
        only: Vec<String>,
        /// CI-sized runs: subsets, fewer steps, the quick targets.
        #[arg(long)]
        quick: bool,
        /// One JSON object per entry: model, dataset, metric, value, target, pass, seconds, steps, checks, notes.
        #[arg(long)]
        json: bool,
        /// Folder for the plots (default tour-report/).
        #[arg(long)]
        report: Option<std::path::PathBuf>,
        /// Write each entry's trained model to DIR/<entry>.safetensors (its
        /// state dict, and the held-out metric in the metadata).
        #[arg(long, value_name = "DIR")]
        save: Option<std::path::PathBuf>,
    },
    /// Rebuilds the model a `tour --save` file holds, scores it on its
    /// entry's held-out data and prints that beside the value recorded at save.
    Eval {
        /// Files `tour --save` wrote.
        #[arg(required = true, value_name = "CHECKPOINT")]
        checkpoints: Vec<std::path::PathBuf>,
    },
    /// Times every kernel (forward and backward, a sweep of sizes, every
    /// variant) beside its baseline and the adapter's measured ceilings, after
    /// checking each against a float64 reference.
    Bench {
        /// CI-sized shapes and repetitions.
        #[arg(long)]
        quick: bool,
        /// Only kernels whose name contains this (comma-separated: any of them).
        #[arg(long)]
        filter: Option<String>,
        /// Time every case end to end: record, run, whole output read back.
        #[arg(long)]
        end_to_end: bool,
        /// Write the results as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
        /// A peer harness binary (`PATH list`, `PATH serve`: see peer/burn) run
        /// beside the end-to-end workloads, alternating with ours.
        #[arg(long, value_name = "PATH")]
        peer: Option<std::path::PathBuf>,
        /// Compare with an earlier --json file; flags regressions over 10%.
        #[arg(long, value_name = "OLD.json")]
        compare: Option<std::path::PathBuf>,
        /// Folder for the markdown report and PNG charts.
        #[arg(long, value_name = "DIR", default_value = "bench-report")]
        report: std::path::PathBuf,
        /// Write no report folder.
        #[arg(long)]
        no_report: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info(),
        Command::Demo => demo(),
        Command::Bench {
            quick,
            filter,
            end_to_end,
            peer,
            json,
            compare,
            report,
            no_report,
        } => bench(shadergrad_cli::bench::Options {
            quick,
            filter,
            end_to_end,
            peer,
            json,
            compare,
            report: (!no_report).then_some(report),
        }),
        Command::Tour {
            only,
            quick,
            json,
            report,
            save,
        } => {
            let opts = shadergrad_cli::tour::TourOptions {
                only,
                quick,
                json,
                report,
                save,
            };
            match shadergrad_cli::tour::run(&opts) {
                Ok(true) => Ok(()),
                Ok(false) => std::process::exit(2),
                Err(e) => Err(e),
            }
        }
        Command::Eval { checkpoints } => eval(&checkpoints),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn info() -> shadergrad::Result<()> {
    println!("adapters:");
    for a in Device::adapters() {
        println!(
            "  - {} ({:?}, {:?}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
    }
    let dev = Device::new()?;
    println!("chosen: {}", dev.describe());
    let (variant, why) = MatmulVariant::choose(&dev);
    println!("matmul: {} ({why})", variant.name());
    let l = dev.limits();
    println!("limits:");
    println!(
        "  max_storage_buffer_binding_size: {}",
        l.max_storage_buffer_binding_size
    );
    println!("  max_buffer_size: {}", l.max_buffer_size);
    println!(
        "  max_storage_buffers_per_shader_stage: {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "  max_compute_workgroup_storage_size: {}",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "  max_compute_invocations_per_workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "  max_compute_workgroups_per_dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    println!(
        "  min_uniform_buffer_offset_alignment: {}",
        l.min_uniform_buffer_offset_alignment
    );
    Ok(())
}

fn demo() -> shadergrad::Result<()> {
    let dev = Device::new()?;
    println!("device: {}", dev.describe());
    let x = Tensor::arange(&dev, 0.0, 12.0, 1.0, DType::F32)?.reshape(&[3, 4])?;
    let w = Tensor::randn(&dev, &[4, 5])?;
    let before = dev.counters();
    // One matmul, then a chain of elementwise ops and a reduction: three kernels.
    let h = x.matmul(&w)?.mul(0.5)?.tanh()?.add(1.0)?.square()?;
    let y = h.mean(&[1], false)?;
    println!("y = {:?}", y.to_vec::<f32>()?);
    let d = dev.counters() - before;
    println!(
        "submits {} dispatches {} pipelines compiled {} buffers created {}",
        d.submits, d.dispatches, d.pipelines_compiled, d.buffers_created
    );
    Ok(())
}

/// Scores each checkpoint on one device; a file that cannot be scored is
/// reported and the others still are, and the exit status is then 1.
fn eval(checkpoints: &[std::path::PathBuf]) -> shadergrad::Result<()> {
    // The device is dropped before the process exits: exiting with a live
    // Vulkan device let the driver's teardown race its own threads (a
    // lavapipe eval was killed by a signal at exit).
    let failed = {
        let dev = Device::new()?;
        let mut failed = false;
        for path in checkpoints {
            match shadergrad_cli::tour::eval::evaluate(&dev, path) {
                Ok(e) => println!("{e}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            }
        }
        failed
    };
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn bench(opts: shadergrad_cli::bench::Options) -> shadergrad::Result<()> {
    match shadergrad_cli::bench::cli(&opts)? {
        0 => Ok(()),
        code => std::process::exit(code),
    }
}
