//! Every shader parses and validates with naga, so a broken shader fails here
//! with naga's message instead of at its first dispatch: the hand-written ones
//! with each element-type prelude (and as a device without subgroups compiles
//! them), and the generated ones as the planner emits them.

use shadergrad::kernels::{
    INCLUDED, SHADERS, shader_source, validate_wgsl, validate_wgsl_without_subgroups,
    without_subgroups,
};
use shadergrad::{DType, Device, Tensor};

#[test]
fn hand_written_shaders_validate_with_each_prelude() {
    for (name, _) in SHADERS {
        let src = shader_source(name);
        match *name {
            "math" => validate_wgsl(src).unwrap_or_else(|e| panic!("math.wgsl:\n{e}")),
            // Templates are validated as generated (below).
            "elementwise" | "reduce" => {}
            // Pasted into the shaders that include it, validated there.
            n if INCLUDED.contains(&n) => {}
            _ => {
                for prelude in ["alias elem = f32;\n", "enable f16;\nalias elem = f16;\n"] {
                    let full = format!("{prelude}{src}");
                    validate_wgsl(&full)
                        .unwrap_or_else(|e| panic!("{name}.wgsl with `{prelude}`:\n{e}"));
                }
                // What a device without SUBGROUP compiles.
                let plain = format!("alias elem = f32;\n{}", without_subgroups(src));
                validate_wgsl_without_subgroups(&plain)
                    .unwrap_or_else(|e| panic!("{name}.wgsl without subgroups:\n{e}"));
            }
        }
    }
}

#[test]
fn generated_kernels_validate() {
    let d = Device::new().unwrap();
    let x = Tensor::randn(&d, &[5, 7]).unwrap();
    let i = Tensor::arange(&d, 0.0, 7.0, 1.0, DType::I32).unwrap();
    let mut outs = vec![
        x.exp()
            .unwrap()
            .log()
            .unwrap()
            .tanh()
            .unwrap()
            .sigmoid()
            .unwrap()
            .gelu()
            .unwrap(),
        x.pow(&x)
            .unwrap()
            .maximum(0.1)
            .unwrap()
            .erf()
            .unwrap()
            .softplus(1.0, 20.0)
            .unwrap(),
        x.gt(0.0).unwrap().select(&x, &x.neg().unwrap()).unwrap(),
        Tensor::cat(&[&x, &x.t().unwrap().reshape(&[5, 7]).unwrap()], 0).unwrap(),
        x.sum(&[0], false).unwrap(),
        x.max(&[1], true).unwrap(),
        x.argmax(1, false).unwrap().cast(DType::F32).unwrap(),
        x.mul(2.0)
            .unwrap()
            .argmin(0, false)
            .unwrap()
            .cast(DType::F32)
            .unwrap(),
        i.one_hot(9).unwrap(),
        i.cast(DType::F32).unwrap().round().unwrap(),
        x.softmax(-1).unwrap(),
        x.matmul(&x.t().unwrap()).unwrap(),
    ];
    if d.caps().f16 {
        outs.push(
            x.cast(DType::F16)
                .unwrap()
                .mul(3.0)
                .unwrap()
                .sum(&[1], false)
                .unwrap()
                .cast(DType::F32)
                .unwrap(),
        );
    }
    for o in &outs {
        o.to_vec::<f32>().unwrap();
    }
    let kernels = d.compiled_kernels();
    assert!(kernels.len() >= 10);
    for (name, entry, src) in kernels {
        validate_wgsl(&src)
            .unwrap_or_else(|e| panic!("{name}::{entry}:\n{e}\n--- source ---\n{src}"));
    }
}

#[test]
fn a_broken_shader_is_reported_with_naga_s_message() {
    let e = validate_wgsl("fn f() -> f32 { return 1u; }").unwrap_err();
    assert!(e.contains("return"), "{e}");
}
