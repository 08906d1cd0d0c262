// grid_sample.wgsl: bilinear sampling (the spatial transformer's sampler) and
// its gradients with respect to BOTH the input and the grid, so a
// localisation network's theta learns through it.
//
//   forward    y[b, c, oh, ow] = sum of the 4 neighbours of (ix, iy) in x[b, c],
//              weighted bilinearly, zero outside the image, where (ix, iy) is
//              grid[b, oh, ow] = (gx, gy) in [-1, 1] mapped to pixels:
//              ix = (gx + 1) / 2 * (W - 1)           (ALIGN, corners on pixel centres)
//              ix = ((gx + 1) * W - 1) / 2           (otherwise, PyTorch's default)
//   grad x     dx[b, c, yy, xx] += weight * dy[b, c, oh, ow]: a scatter, so
//              fill_zero first, then a compare-and-swap add on the f32 bits
//              (WGSL has no float atomics; the loop is portable). The adds
//              into one pixel race, so their order, and the sum's last bits,
//              can change run to run; deterministic mode groups the (point,
//              corner) pairs by pixel (buckets.wgsl, scratch binding 4) and
//              grid_sample_grad_input_sum adds each pixel's in a fixed order
//   grad grid  dgrid[b, oh, ow] = sum_c dy * d(y)/d(ix, iy) * d(ix, iy)/d(gx, gy):
//              one invocation per sample point, looping over channels
//
// Bindings: out, then the inputs as each entry needs them (x, grid, dy).
// Geometry is override (one pipeline per layer shape).

override B: u32 = 1u;
override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override HO: u32 = 1u;
override WO: u32 = 1u;
override ALIGN: bool = false;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;    // (B, C, H, W)
@group(0) @binding(2) var<storage, read> grid: array<f32>; // (B, HO, WO, 2)
@group(0) @binding(3) var<storage, read> dy: array<f32>;   // (B, C, HO, WO)

// The input gradient sees the output as atomic words and has no x.
@group(0) @binding(0) var<storage, read_write> acc: array<atomic<u32>>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Pixel coordinate of a normalised one, and d(pixel)/d(normalised).
fn unnormalize(g: f32, size: u32) -> vec2<f32> {
    if (ALIGN) {
        return vec2<f32>((g + 1.0) * 0.5 * f32(size - 1u), 0.5 * f32(size - 1u));
    }
    return vec2<f32>(((g + 1.0) * f32(size) - 1.0) * 0.5, 0.5 * f32(size));
}

struct Corners {
    // Pixel indices of the four neighbours (x0, y0), (x1, y0), (x0, y1), (x1, y1),
    // as flat offsets within a plane, and whether each is inside.
    at: vec4<u32>,
    inside: vec4<bool>,
    // Fractional position: wx1 = ix - x0, wy1 = iy - y0.
    f: vec2<f32>,
    // d(ix)/d(gx), d(iy)/d(gy).
    scale: vec2<f32>,
}

fn corners(point: u32) -> Corners {
    let ux = unnormalize(grid[point * 2u], W);
    let uy = unnormalize(grid[point * 2u + 1u], H);
    let x0 = floor(ux.x);
    let y0 = floor(uy.x);
    let xs = vec4<i32>(i32(x0), i32(x0) + 1, i32(x0), i32(x0) + 1);
    let ys = vec4<i32>(i32(y0), i32(y0), i32(y0) + 1, i32(y0) + 1);
    let inside = (xs >= vec4<i32>(0)) & (xs < vec4<i32>(i32(W))) & (ys >= vec4<i32>(0)) & (ys < vec4<i32>(i32(H)));
    let at = select(vec4<u32>(0u), vec4<u32>(ys) * W + vec4<u32>(xs), inside);
    return Corners(at, inside, vec2<f32>(ux.x - x0, uy.x - y0), vec2<f32>(ux.y, uy.y));
}

fn weights(k: Corners) -> vec4<f32> {
    let wx = vec2<f32>(1.0 - k.f.x, k.f.x);
    let wy = vec2<f32>(1.0 - k.f.y, k.f.y);
    return vec4<f32>(wx.x * wy.x, wx.y * wy.x, wx.x * wy.y, wx.y * wy.y);
}

// The four neighbours' values in plane `base` (zero outside).
fn values(base: u32, k: Corners) -> vec4<f32> {
    return select(
        vec4<f32>(0.0),
        vec4<f32>(x[base + k.at.x], x[base + k.at.y], x[base + k.at.z], x[base + k.at.w]),
        k.inside,
    );
}

@compute @workgroup_size(WG)
fn grid_sample(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = element(wid, nwg, lid); // (b, c, oh, ow)
    if (i >= B * C * HO * WO) {
        return;
    }
    let b = i / (C * HO * WO);
    let c = (i / (HO * WO)) % C;
    let k = corners(b * HO * WO + i % (HO * WO));
    out[i] = dot(weights(k), values((b * C + c) * H * W, k));
}

@compute @workgroup_size(WG)
fn grid_sample_fill_zero(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = element(wid, nwg, lid);
    if (i < B * C * H * W) {
        atomicStore(&acc[i], 0u);
    }
}

fn add(i: u32, v: f32) {
    var old = atomicLoad(&acc[i]);
    loop {
        let r = atomicCompareExchangeWeak(&acc[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

@compute @workgroup_size(WG)
fn grid_sample_grad_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = element(wid, nwg, lid); // (b, c, oh, ow) of dy
    if (i >= B * C * HO * WO) {
        return;
    }
    let b = i / (C * HO * WO);
    let c = (i / (HO * WO)) % C;
    let k = corners(b * HO * WO + i % (HO * WO));
    let w = weights(k) * dy[i];
    let base = (b * C + c) * H * W;
    for (var j = 0u; j < 4u; j++) {
        if (k.inside[j] && w[j] != 0.0) {
            add(base + k.at[j], w[j]);
        }
    }
}

@compute @workgroup_size(WG)
fn grid_sample_grad_grid(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let point = element(wid, nwg, lid); // (b, oh, ow)
    if (point >= B * HO * WO) {
        return;
    }
    let b = point / (HO * WO);
    let o = point % (HO * WO);
    let k = corners(point);
    // d(weights)/d(ix) and d(weights)/d(iy), corner by corner.
    let wx = vec2<f32>(1.0 - k.f.x, k.f.x);
    let wy = vec2<f32>(1.0 - k.f.y, k.f.y);
    let dwx = vec4<f32>(-wy.x, wy.x, -wy.y, wy.y);
    let dwy = vec4<f32>(-wx.x, -wx.y, wx.x, wx.y);
    var g = vec2<f32>(0.0);
    for (var c = 0u; c < C; c++) {
        let v = values((b * C + c) * H * W, k);
        let d = dy[(b * C + c) * HO * WO + o];
        g += d * vec2<f32>(dot(dwx, v), dot(dwy, v));
    }
    out[point * 2u] = g.x * k.scale.x;
    out[point * 2u + 1u] = g.y * k.scale.y;
}

// ---- deterministic mode: each pixel of dx sums its samples in a fixed order ---

@group(0) @binding(4) var<storage, read_write> bk: array<atomic<u32>>;

// Targets are the pixels of each image (b, yy, xx), shared by its channels;
// sources the (point, corner) pairs, point * 4 + corner.
fn bucket_targets() -> u32 {
    return B * H * W;
}

fn bucket_sources() -> u32 {
    return B * HO * WO * 4u;
}

fn bucket_of(s: u32) -> u32 {
    let point = s / 4u;
    let k = corners(point);
    if (!k.inside[s % 4u]) {
        return BUCKET_NONE;
    }
    return point / (HO * WO) * H * W + k.at[s % 4u];
}

// #include buckets

@compute @workgroup_size(WG)
fn grid_sample_grad_input_sum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = element(wid, nwg, lid); // (b, c, yy, xx) of dx
    if (i >= B * C * H * W) {
        return;
    }
    let b = i / (C * H * W);
    let plane = (i / (H * W)) * HO * WO; // dy's (b, c) plane
    let r = bucket_range(b * H * W + i % (H * W));
    var sum = 0.0;
    for (var q = r.x; q < r.y; q++) {
        let s = atomicLoad(&bk[q]);
        let point = s / 4u;
        // The same product the atomic form adds, skipped where it skips.
        let w = weights(corners(point))[s % 4u] * dy[plane + point % (HO * WO)];
        if (w != 0.0) {
            sum += w;
        }
    }
    out[i] = sum;
}
