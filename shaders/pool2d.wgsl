// pool2d.wgsl: max and average pooling over KH x KW windows with stride,
// padding and dilation (PyTorch's max_pool2d / avg_pool2d), and their
// gradients.
//
//   forward   y[b, c, oh, ow] = max / mean of x over the window's taps
//             (oh*SH - PH + i*DH, ow*SW - PW + j*DW), i < KH, j < KW.
//             Padding never wins a max (a window of padding only is -inf,
//             as in PyTorch); the mean divides by the window's positions
//             inside the padded input (COUNT_PAD: count_include_pad) or
//             inside the input. HO and WO (ceil_mode) are the host's.
//   backward  dx[b, c, ih, iw] = sum over the windows with a tap at (ih, iw)
//             of dy (max: only where (ih, iw) is the window's argmax, the
//             first in row-major order on ties, recomputed from x; mean:
//             over that window's divisor)
//
// The backward is written from the input's side (one invocation per input
// element, looping over the at most ceil(span/S)^2 windows that contain it),
// so it needs no atomics and every element is written exactly once.
// FIXED_DIVISOR says every mean divides by KH*KW (padding counted, no window
// past the padded input: the host knows), so the common case keeps a
// constant divisor.
// Bindings: out, x (B, C, H, W), dy (B, C, HO, WO; backward only). Geometry
// is override.

override MAX: bool = true;
override FIXED_DIVISOR: bool = true;
override COUNT_PAD: bool = true;
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
override DH: u32 = 1u;
override DW: u32 = 1u;
override NUMEL: u32 = 1u;
override WG: u32 = 256u;
override PER: u32 = 1u; // outputs per invocation, WG apart (more on CPU adapters)

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (B, C, H, W)
@group(0) @binding(2) var<storage, read> dy: array<f32>; // (B, C, HO, WO)

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG * PER + lid;
}

struct Window {
    value: f32,
    // Flat position of the max within the plane (-1: the window is all padding).
    at: i32,
}

// The mean's divisor for the window whose first tap is (h0, w0) (input
// coordinates, down to -P): its positions inside the padded input, or
// inside the input.
fn divisor(h0: i32, w0: i32) -> f32 {
    if (FIXED_DIVISOR) {
        return f32(KH * KW);
    }
    var lo = vec2<i32>(h0, w0);
    var hi = min(lo + vec2<i32>(i32(KH), i32(KW)), vec2<i32>(i32(H + PH), i32(W + PW)));
    if (!COUNT_PAD) {
        lo = max(lo, vec2<i32>(0));
        hi = min(hi, vec2<i32>(i32(H), i32(W)));
    }
    let n = hi - lo;
    return f32(n.x * n.y);
}

// The window's max (or mean) for plane `base` and output (oh, ow).
fn window(base: u32, oh: u32, ow: u32) -> Window {
    let h0 = i32(oh * SH) - i32(PH);
    let w0 = i32(ow * SW) - i32(PW);
    // -inf from its bits: stays the max of a window of padding only.
    var best = bitcast<f32>(0xff800000u);
    var at = -1;
    var sum = 0.0;
    for (var i = 0u; i < KH; i++) {
        for (var j = 0u; j < KW; j++) {
            let ih = h0 + i32(i * DH);
            let iw = w0 + i32(j * DW);
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
    return Window(sum / divisor(h0, w0), 0);
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
    // Windows (oh, ow) with oh*SH <= ih < oh*SH + span, span = (KH-1)*DH + 1;
    // a dilated one has a tap at ih only when DH divides the offset.
    let span_h = i32((KH - 1u) * DH + 1u);
    let span_w = i32((KW - 1u) * DW + 1u);
    let oh_lo = max(0, (ih - span_h + i32(SH)) / i32(SH));
    let oh_hi = min(i32(HO) - 1, ih / i32(SH));
    let ow_lo = max(0, (iw - span_w + i32(SW)) / i32(SW));
    let ow_hi = min(i32(WO) - 1, iw / i32(SW));
    var g = 0.0;
    for (var oh = oh_lo; oh <= oh_hi; oh++) {
        if ((ih - oh * i32(SH)) % i32(DH) != 0) {
            continue;
        }
        for (var ow = ow_lo; ow <= ow_hi; ow++) {
            if ((iw - ow * i32(SW)) % i32(DW) != 0) {
                continue;
            }
            let d = dy[(plane * HO + u32(oh)) * WO + u32(ow)];
            if (MAX) {
                if (window(plane * H * W, u32(oh), u32(ow)).at == i32(pos)) {
                    g += d;
                }
            } else {
                g += d / divisor(oh * i32(SH) - i32(PH), ow * i32(SW) - i32(PW));
            }
        }
    }
    out[i] = g;
}
