// gather.wgsl: torch.gather, and through it index_select and embedding lookup.
//
//   out[c] = src[c with c[axis] replaced by index[c]]
//
// Bindings: out (index's shape) elem, src (any shape, strided) elem,
// index (out's shape, strided: index_select passes a broadcast 1-D index
// with stride 0, so it is never copied) as i32, cfg, status.
// Shapes of rank up to 8 arrive in the uniform (one pipeline for every shape);
// coordinates are decoded with one division per dim.
// An index outside [0, src_dim) writes 0 and sets bit 1 of the status word,
// which the next readback turns into Error::IndexOutOfRange: never a silent
// out-of-bounds read.

struct Meta {
    numel: u32,
    rank: u32,
    axis: u32,
    src_dim: u32,
    src_offset: u32,
    idx_offset: u32,
    _pad0: u32,
    _pad1: u32,
    inner: array<vec4<u32>, 2>,      // elements per step of each output dim
    dims: array<vec4<u32>, 2>,       // output dims
    src_stride: array<vec4<u32>, 2>,
    idx_stride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> out: array<elem>;
@group(0) @binding(1) var<storage, read> src: array<elem>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<uniform> cfg: Meta;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= cfg.numel) {
        return;
    }
    var s = cfg.src_offset;
    var t = cfg.idx_offset;
    for (var d = 0u; d < cfg.rank; d++) {
        let c = (i / cfg.inner[d / 4u][d % 4u]) % cfg.dims[d / 4u][d % 4u];
        t += c * cfg.idx_stride[d / 4u][d % 4u];
        if (d != cfg.axis) {
            s += c * cfg.src_stride[d / 4u][d % 4u];
        }
    }
    let j = index[t];
    if (j < 0 || u32(j) >= cfg.src_dim) {
        atomicOr(&status[0], 1u);
        out[i] = elem(0);
        return;
    }
    out[i] = src[s + u32(j) * cfg.src_stride[cfg.axis / 4u][cfg.axis % 4u]];
}
