//! Inputs: seeded values made on the CPU (the correctness gate needs them
//! there), uploaded as several sets that the timed runs rotate through.

use shadergrad::DType;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;

/// A rotation of input sets should hold at least this many bytes, twice a
/// common last-level cache (32 MiB), so repeated runs do not measure a cache.
pub(crate) const ROTATE_BYTES: usize = 64 << 20;

/// How many input sets of `bytes` each to rotate through: enough to fill
/// `ROTATE_BYTES`, at least 2 (each run's input differs from the last run's)
/// and at most 8 (uploads and memory stay modest).
pub(crate) fn sets_for(bytes: usize) -> usize {
    ROTATE_BYTES.div_ceil(bytes.max(1)).clamp(2, 8)
}

/// splitmix64: fast, seeded, good enough for benchmark inputs.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_BE4C_0000_0000)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| lo + (hi - lo) * self.unit() as f32)
            .collect()
    }
}

/// One input of a workload: its shape, value range and element type.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub shape: Vec<usize>,
    pub lo: f32,
    pub hi: f32,
    pub dtype: DType,
}

impl Spec {
    pub fn new(shape: &[usize], lo: f32, hi: f32) -> Spec {
        Spec {
            shape: shape.to_vec(),
            lo,
            hi,
            dtype: DType::F32,
        }
    }

    /// Integers in [0, hi) (class labels, indices), as i32.
    pub fn index(shape: &[usize], hi: usize) -> Spec {
        Spec {
            shape: shape.to_vec(),
            lo: 0.0,
            hi: hi as f32,
            dtype: DType::I32,
        }
    }

    pub fn dtype(mut self, dtype: DType) -> Spec {
        self.dtype = dtype;
        self
    }

    pub fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size_bytes()
    }
}

/// Uploads values as `dtype`; f16 values are rounded on the CPU, and `host`
/// is rounded the same way, so the reference sees exactly what the GPU sees.
pub(crate) fn upload(
    dev: &Device,
    host: &mut [f32],
    shape: &[usize],
    dtype: DType,
) -> Result<Tensor> {
    match dtype {
        DType::F16 => {
            let h: Vec<shadergrad::f16> =
                host.iter().map(|&x| shadergrad::f16::from_f32(x)).collect();
            for (v, r) in host.iter_mut().zip(&h) {
                *v = r.to_f32();
            }
            Tensor::from_slice(dev, &h, shape)
        }
        DType::I32 => {
            let v: Vec<i32> = host.iter().map(|&x| x as i32).collect();
            for (v, r) in host.iter_mut().zip(&v) {
                *v = *r as f32;
            }
            Tensor::from_slice(dev, &v, shape)
        }
        _ => Tensor::from_slice(dev, host, shape),
    }
}

/// Input sets: `t[set][input]` on the device, and the values of set 0 on the
/// CPU, exactly as uploaded, in the float64 the references take.
pub(crate) struct Sets {
    pub t: Vec<Vec<Tensor>>,
    pub host: Vec<Vec<f64>>,
}

impl Sets {
    /// `n` sets of the inputs `specs`, uniform in each spec's range, seeded.
    pub fn new(dev: &Device, n: usize, seed: u64, specs: &[Spec]) -> Result<Sets> {
        let mut rng = Rng::new(seed);
        let mut t = Vec::with_capacity(n);
        let mut host = Vec::new();
        for s in 0..n.max(1) {
            let mut set = Vec::with_capacity(specs.len());
            for spec in specs {
                let numel: usize = spec.shape.iter().product();
                let mut v = if spec.dtype == DType::I32 {
                    (0..numel)
                        .map(|_| rng.below(spec.hi as usize) as f32)
                        .collect()
                } else {
                    rng.vec(numel, spec.lo, spec.hi)
                };
                set.push(upload(dev, &mut v, &spec.shape, spec.dtype)?);
                if s == 0 {
                    host.push(shadergrad_reference::widen(&v));
                }
            }
            t.push(set);
        }
        Ok(Sets { t, host })
    }

    /// As `new`, with as many sets as `sets_for` gives for these inputs.
    pub fn rotating(dev: &Device, seed: u64, specs: &[Spec]) -> Result<Sets> {
        let bytes = specs.iter().map(Spec::bytes).sum();
        Sets::new(dev, sets_for(bytes), seed, specs)
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Set 0's input `k` as integers (class labels, indices).
    pub fn indices(&self, k: usize) -> Vec<usize> {
        self.host[k].iter().map(|&v| v as usize).collect()
    }

    /// Set 0's input `k` as class labels.
    pub fn labels(&self, k: usize) -> Vec<i32> {
        self.host[k].iter().map(|&v| v as i32).collect()
    }

    /// The inputs of run `i`.
    pub fn get(&self, i: usize) -> &[Tensor] {
        &self.t[i % self.t.len()]
    }
}
