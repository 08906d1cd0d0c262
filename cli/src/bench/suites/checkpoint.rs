//! Checkpoints (src/checkpoint/): save and load throughput of a state dict
//! of one f32 tensor (100 MB; 4 MB in quick mode) beside the plain copy of
//! the same file on the same disk (copy, then fsync: what an atomic save
//! costs at least). Bytes: the file's, once.
//!
//! - `checkpoint.save`: read back from the GPU, serialize, write a temporary
//!   file, fsync, rename, fsync the directory.
//! - `checkpoint.load`: one read, the header checked, the tensor uploaded.

use std::path::PathBuf;

use shadergrad::{DType, Error, Result, checkpoint};

use crate::bench::case::{Case, Method};
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};

fn io(e: std::io::Error, file: &std::path::Path) -> Error {
    Error::Data {
        file: file.display().to_string(),
        at: "bench".into(),
        msg: e.to_string(),
    }
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["checkpoint.save", "checkpoint.load", "checkpoint.copy"]) {
        return Ok(());
    }
    let mb = if ctx.quick() { 4 } else { 100 };
    let n = mb << 18;
    let sets = Sets::new(ctx.dev, 1, 21, &[Spec::new(&[n], -1.0, 1.0)])?;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("shadergrad-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
    let (saved, copy) = (dir.join("state.safetensors"), dir.join("copy.safetensors"));
    checkpoint::save(&saved, &[("w", &sets.get(0)[0])], &[])?;
    let host = &sets.host[0];
    let reference = |i: usize| (host[i], host[i].abs());
    for kind in ["copy", "save", "load"] {
        let (sets, saved, copy, dev) = (&sets, &saved, &copy, ctx.dev.clone());
        ctx.case(
            Case::new(
                &format!("checkpoint.{kind}"),
                "file",
                format!("{mb} MB"),
                DType::F32,
            )
            .work(0.0, (4 * n) as f64)
            .group(format!("checkpoint {mb} MB"))
            .baseline(kind == "copy")
            .chosen(kind != "copy")
            .method(Method::Wall)
            .run(move |_| {
                let t = sets.get(0)[0].clone();
                match kind {
                    "copy" => {
                        std::fs::copy(saved, copy).map_err(|e| io(e, copy))?;
                        let f = std::fs::File::open(copy).map_err(|e| io(e, copy))?;
                        f.sync_all().map_err(|e| io(e, copy))?;
                        Ok(vec![t])
                    }
                    "save" => {
                        checkpoint::save(copy, &[("w", &t)], &[])?;
                        Ok(vec![t])
                    }
                    _ => Ok(vec![checkpoint::load(&dev, saved)?.tensors.remove(0).1]),
                }
            })
            .check(move |o| gate(o, 1, |o| check::elements(&o[0], n, n, Tol::F32, reference))),
        );
    }
    // The files are the suite's own: none is left behind.
    std::fs::remove_dir_all(&dir).map_err(|e| io(e, &dir))
}
