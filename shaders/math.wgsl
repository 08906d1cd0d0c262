// math.wgsl: scalar helpers that generated kernels (elementwise, reduce) call.
// Not a kernel: prepended to the generated source. Each helper exists because
// the WGSL builtin is either missing (erf, a NaN-propagating max) or not
// guaranteed accurate or overflow-free on every driver (tanh, pow of a
// negative base).

// A quiet NaN, made at run time: WGSL rejects a NaN constant expression.
fn sg_nan(seed: f32) -> f32 {
    return bitcast<f32>(0x7fc00000u | (bitcast<u32>(seed) & 0u));
}

// NaN test on the bits: a compiler that assumes no NaN (llvmpipe does) may
// fold `x != x` to false, but it cannot fold integer arithmetic.
fn sg_isnan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn sg_isfinite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// tanh with exact sign and no overflow: a series near 0 (where 1 - e^-2|x|
// would cancel), the exponential form elsewhere.
fn sg_tanh(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.55) {
        let x2 = x * x;
        return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254
            + x2 * (0.021869488 + x2 * (-0.0088632355 + x2 * 0.0035921280))))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}

fn sg_sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// erfc for z >= 0 (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7), in product form
// so the tail keeps its relative accuracy.
fn sg_erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return p * exp(-z * z);
}

// erf: a Taylor series near 0 (where 1 - erfc cancels), erfc beyond.
fn sg_erf(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.5) {
        let x2 = x * x;
        return 1.1283791671 * x * (1.0 + x2 * (-0.33333333 + x2 * (0.1 + x2 * (-0.023809524
            + x2 * (0.0046296296 + x2 * (-0.00075757576 + x2 * 0.00010683761))))));
    }
    return sign(x) * (1.0 - sg_erfc_pos(a));
}

// GELU with the exact normal CDF: x * 0.5 * erfc(-x / sqrt 2), written so that
// large negative x keeps its (tiny) relative accuracy.
fn sg_gelu(x: f32) -> f32 {
    let z = x * 0.70710678118;
    if (z < -0.5) {
        return 0.5 * x * sg_erfc_pos(-z);
    }
    return 0.5 * x * (1.0 + sg_erf(z));
}

fn sg_gelu_tanh(x: f32) -> f32 {
    return 0.5 * x * (1.0 + sg_tanh(0.7978845608 * (x + 0.044715 * x * x * x)));
}

// log(1 + e^x) without overflow.
fn sg_softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// x ** y with PyTorch's meaning for a negative base: defined (with sign) for an
// integer exponent, NaN otherwise; x ** 0 is 1 for every x.
fn sg_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0) {
        return 1.0;
    }
    let m = pow(abs(x), y);
    if (sg_isnan(x)) {
        return x;
    }
    if (x >= 0.0) {
        return m;
    }
    if (fract(y) != 0.0) {
        return sg_nan(x);
    }
    return select(m, -m, fract(y * 0.5) != 0.0);
}

// max/min where NaN wins, as torch.maximum and torch.minimum do.
fn sg_max(a: f32, b: f32) -> f32 {
    return select(max(a, b), a + b, sg_isnan(a) || sg_isnan(b));
}

fn sg_min(a: f32, b: f32) -> f32 {
    return select(min(a, b), a + b, sg_isnan(a) || sg_isnan(b));
}

// Counter-based random numbers: element i of a tensor with seed (s0, s1) is a
// hash of both, so a value does not depend on which kernel computes it.
fn sg_hash(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

fn sg_rand_bits(s0: u32, s1: u32, i: u32) -> u32 {
    return sg_hash(sg_hash(i ^ sg_hash(s0)) + s1);
}

// Uniform in [0, 1) with 24 random bits.
fn sg_rand(s0: u32, s1: u32, i: u32) -> f32 {
    return f32(sg_rand_bits(s0, s1, i) >> 8u) * 5.9604645e-8;
}

// Standard normal by Box-Muller from two independent draws.
fn sg_randn(s0: u32, s1: u32, i: u32) -> f32 {
    let u1 = (f32(sg_rand_bits(s0, s1, 2u * i) >> 8u) + 1.0) * 5.9604645e-8;
    let u2 = f32(sg_rand_bits(s0, s1, 2u * i + 1u) >> 8u) * 5.9604645e-8;
    return sqrt(-2.0 * log(u1)) * cos(6.2831853 * u2);
}

// Division by a runtime divisor without a division instruction, for kernels
// whose sizes come from a uniform: on lavapipe a vector integer division is
// a loop over the lanes, where these are a dozen vector multiplies and adds.
// `d` is (divisor, magic, shift1, shift2) from the host (Granlund and
// Montgomery's round-up method), exact for every u32 numerator.
fn sg_mulhi(a: u32, b: u32) -> u32 {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn sg_div(n: u32, d: vec4<u32>) -> u32 {
    let t = sg_mulhi(d.y, n);
    return (t + ((n - t) >> d.z)) >> d.w;
}

fn sg_rem(n: u32, d: vec4<u32>) -> u32 {
    return n - sg_div(n, d) * d.x;
}
