// pool2d.wgsl: max and average pooling over KH x KW windows with stride and
// padding, and their gradients.
//
//   forward   y[b, c, oh, ow] = max / mean of x over the window at
//             (oh*SH - PH, ow*SW - PW); padding never wins a max, and counts
//             in the mean's divisor (PyTorch's count_include_pad default)
//   backward  dx[b, c, ih, iw] = sum over the windows that contain (ih, iw)
//             of dy (max: only where (ih, iw) is the window's argmax, the
//             first in row-major order on ties, recomputed from x)
//
// The backward is written from the input's side (one invocation per input
// element, looping over the at most ceil(K/S)^2 windows that contain it), so it
// needs no atomics and every element is written exactly once.
// Bindings: out, x (B, C, H, W), dy (backward only). Geometry is override.

override MAX: bool = true;
override H: u32 = 1u;
override W: u32 = 1u;
override HO: u32 = 1u;
override WO: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override SH: u32 = 1u;
override SW: u32 = 1u;
override PH: u32 = 0u;
override PW: u32 = 0u;
override NUMEL: u32 = 1u;
override WG: u32 = 256u;
override PER: u32 = 1u; // outputs per invocation, WG apart (more on CPU adapters)

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG * PER + lid;
}

struct Window {
    value: f32,
    // Flat position of the max within the plane (-1: the window is all padding).
    at: i32,
}

// The window's max (or mean) for plane `base` and output (oh, ow).
fn window(base: u32, oh: u32, ow: u32) -> Window {
    let h0 = i32(oh * SH) - i32(PH);
    let w0 = i32(ow * SW) - i32(PW);
    var best = 0.0;
    var at = -1;
    var sum = 0.0;
    for (var i = 0u; i < KH; i++) {
        for (var j = 0u; j < KW; j++) {
            let ih = h0 + i32(i);
            let iw = w0 + i32(j);
            if (ih < 0 || ih >= i32(H) || iw < 0 || iw >= i32(W)) {
                continue;
            }
            let v = x[base + u32(ih) * W + u32(iw)];
            sum += v;
            // Bits-level NaN check: llvmpipe folds `v != v` away.
            let nan = (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
            if (at < 0 || v > best || (nan && !((bitcast<u32>(best) & 0x7fffffffu) > 0x7f800000u))) {
                best = v;
                at = ih * i32(W) + iw;
            }
        }
    }
    if (MAX) {
        return Window(best, at);
    }
    return Window(sum / f32(KH * KW), 0);
}

@compute @workgroup_size(WG)
fn pool2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i0 = element(wid, nwg, lid);
    for (var k = 0u; k < PER; k++) {
        let i = i0 + k * WG;
        if (i >= NUMEL) {
            return;
        }
        pool2d_at(i);
    }
}

fn pool2d_at(i: u32) {
    let plane = i / (HO * WO);
    let o = i % (HO * WO);
    out[i] = window(plane * H * W, o / WO, o % WO).value;
}

@compute @workgroup_size(WG)
fn pool2d_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i0 = element(wid, nwg, lid);
    for (var k = 0u; k < PER; k++) {
        let i = i0 + k * WG;
        if (i >= NUMEL) {
            return;
        }
        pool2d_backward_at(i);
    }
}

fn pool2d_backward_at(i: u32) {
    let plane = i / (H * W);
    let pos = i % (H * W);
    let ih = i32(pos / W) + i32(PH);
    let iw = i32(pos % W) + i32(PW);
    // Windows (oh, ow) with oh*SH <= ih < oh*SH + KH.
    let oh_lo = max(0, (ih - i32(KH) + i32(SH)) / i32(SH));
    let oh_hi = min(i32(HO) - 1, ih / i32(SH));
    let ow_lo = max(0, (iw - i32(KW) + i32(SW)) / i32(SW));
    let ow_hi = min(i32(WO) - 1, iw / i32(SW));
    var g = 0.0;
    for (var oh = oh_lo; oh <= oh_hi; oh++) {
        for (var ow = ow_lo; ow <= ow_hi; ow++) {
            let d = dy[(plane * HO + u32(oh)) * WO + u32(ow)];
            if (MAX) {
                if (window(plane * H * W, u32(oh), u32(ow)).at == i32(pos)) {
                    g += d;
                }
            } else {
                g += d / f32(KH * KW);
            }
        }
    }
    out[i] = g;
}
