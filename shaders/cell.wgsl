// cell.wgsl: one time step of a recurrent cell's gate maths, forward and
// backward, each in one dispatch: an invocation per (row b, unit u) of the
// (B, H) state, striding over the rest (no barrier, no workgroup memory).
// The matmuls stay outside: the forward reads the step's input projection
// xp = x W_ih^T + b_ih (a (T, B, G) tensor, at the runtime offset sc[0]),
// the recurrent projection hp = h W_hh^T (B, G) and b_hh (G), G = gates H.
//
//   KIND 0 tanh RNN:  h' = tanh(xp + hp + b)
//   KIND 1 relu RNN:  h' = relu(xp + hp + b)
//   KIND 2 LSTM (i, f, g, o): c' = f c + i g, h' = o tanh(c')
//   KIND 3 GRU (r, z, n): n = tanh(xn + r (hn + b_hn)), h' = (1 - z) n + z h
//
// Outputs are packed blocks of B x H, row-major:
//   forward   rnn: h'    lstm: h', c', i, f, g, o    gru: h', r, z, n
//   backward  rnn: dpre (B, H)
//             lstm: dgates (B, 4H), dc (B, H)
//             gru: dxp (B, 3H), dhp (B, 3H), dh (B, H) (the direct z dh' part)
// The activated gates are kept for the backward, which recomputes only
// tanh(c') (LSTM) and hn (GRU).
//
// Bindings: out; forward: xp, hp, state, b_hh; backward: dy (the packed
// output's gradient), y (the packed output), state, hp, b_hh. The state (c
// for the LSTM, h for the GRU; unread by the RNN) is a (B, H) tensor or the
// previous step's packed output, read from element dims.z on. Inputs a kind
// does not read are bound to another input.

// #include math

override KIND: u32 = 0u;
override BIAS: bool = true;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read> state: array<f32>;
@group(0) @binding(4) var<storage, read> in4: array<f32>;
@group(0) @binding(5) var<storage, read> in5: array<f32>;
// B, H, the state's first element, unused.
@group(0) @binding(6) var<uniform> dims: vec4<u32>;
// The forward's element offset into xp (the time step), a runtime scalar.
@group(0) @binding(7) var<uniform> sc: array<vec4<u32>, 1>;

fn first(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn stride(nwg: vec3<u32>) -> u32 {
    return nwg.x * nwg.y * WG;
}

fn sig_grad(y: f32) -> f32 {
    return y * (1.0 - y);
}

// Gate k's pre-activation at (b, u): input side + hidden side + b_hh.
fn pre(b: u32, u: u32, k: u32) -> f32 {
    let h = dims.y;
    let g = gates() * h;
    var v = in1[sc[0].x + b * g + k * h + u] + in2[b * g + k * h + u];
    if (BIAS) {
        v += in4[k * h + u];
    }
    return v;
}

fn gates() -> u32 {
    switch KIND {
        case 2u: { return 4u; }
        case 3u: { return 3u; }
        default: { return 1u; }
    }
}

fn forward_at(e: u32, n: u32) {
    let h = dims.y;
    let b = e / h;
    let u = e % h;
    if (KIND == 2u) {
        let i = sg_sigmoid(pre(b, u, 0u));
        let f = sg_sigmoid(pre(b, u, 1u));
        let g = sg_tanh(pre(b, u, 2u));
        let o = sg_sigmoid(pre(b, u, 3u));
        let c = f * state[dims.z + e] + i * g;
        out[e] = o * sg_tanh(c);
        out[n + e] = c;
        out[2u * n + e] = i;
        out[3u * n + e] = f;
        out[4u * n + e] = g;
        out[5u * n + e] = o;
    } else if (KIND == 3u) {
        let r = sg_sigmoid(pre(b, u, 0u));
        let z = sg_sigmoid(pre(b, u, 1u));
        var hn = in2[b * 3u * h + 2u * h + u];
        if (BIAS) {
            hn += in4[2u * h + u];
        }
        let nn = sg_tanh(in1[sc[0].x + b * 3u * h + 2u * h + u] + r * hn);
        // (1 - z) n + z h, as n + z (h - n), as the composed form writes it.
        out[e] = nn + z * (state[dims.z + e] - nn);
        out[n + e] = r;
        out[2u * n + e] = z;
        out[3u * n + e] = nn;
    } else if (KIND == 1u) {
        out[e] = max(pre(b, u, 0u), 0.0);
    } else {
        out[e] = sg_tanh(pre(b, u, 0u));
    }
}

@compute @workgroup_size(WG)
fn cell_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = dims.x * dims.y;
    for (var e = first(wid, nwg, lid); e < n; e += stride(nwg)) {
        forward_at(e, n);
    }
}

fn backward_at(e: u32, n: u32) {
    let h = dims.y;
    let b = e / h;
    let u = e % h;
    let dh = in1[e];
    if (KIND == 2u) {
        let c = in2[n + e];
        let i = in2[2u * n + e];
        let f = in2[3u * n + e];
        let g = in2[4u * n + e];
        let o = in2[5u * n + e];
        let tc = sg_tanh(c);
        let dc = in1[n + e] + dh * o * (1.0 - tc * tc);
        let row = b * 4u * h + u;
        out[row] = dc * g * sig_grad(i);
        out[row + h] = dc * state[dims.z + e] * sig_grad(f);
        out[row + 2u * h] = dc * i * (1.0 - g * g);
        out[row + 3u * h] = dh * tc * sig_grad(o);
        out[4u * n + e] = dc * f;
    } else if (KIND == 3u) {
        let r = in2[n + e];
        let z = in2[2u * n + e];
        let nn = in2[3u * n + e];
        var hn = in4[b * 3u * h + 2u * h + u];
        if (BIAS) {
            hn += in5[2u * h + u];
        }
        let dn = dh * (1.0 - z) * (1.0 - nn * nn);
        let dr = dn * hn * sig_grad(r);
        let dz = dh * (state[dims.z + e] - nn) * sig_grad(z);
        let row = b * 3u * h + u;
        out[row] = dr;
        out[row + h] = dz;
        out[row + 2u * h] = dn;
        out[3u * n + row] = dr;
        out[3u * n + row + h] = dz;
        out[3u * n + row + 2u * h] = dn * r;
        out[6u * n + e] = dh * z;
    } else if (KIND == 1u) {
        out[e] = select(0.0, dh, in2[e] > 0.0);
    } else {
        let y = in2[e];
        out[e] = dh * (1.0 - y * y);
    }
}

@compute @workgroup_size(WG)
fn cell_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = dims.x * dims.y;
    for (var e = first(wid, nwg, lid); e < n; e += stride(nwg)) {
        backward_at(e, n);
    }
}
