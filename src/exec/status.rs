//! Status words: a realize whose kernels can meet a bad index gets a word of
//! its own, zeroed before its pass; its updates skip their writes when it is
//! raised. The values it computes carry it (and the words their inputs
//! carried) until a readback sees it: a read copies the words its value
//! depends on in the same submit, and a raised one makes the read an error,
//! every time, for every value computed from it.

use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::RunStatus;
use crate::kernels::{STATUS_CLASS_INDEX, STATUS_GATHER};
use crate::pool::{BufferKind, GpuBuffer};

/// More unread words than this under one value are read now (one wait), so
/// a value carried through many realizes (an RNN's state) carries few.
const MAX_CARRIED: usize = 8;

/// A fresh, zeroed word for one realize.
pub(crate) fn fresh(dev: &Device) -> Arc<RunStatus> {
    let buf = dev.pool().acquire(BufferKind::Storage, 16);
    dev.queue().write_buffer(&buf.buffer, 0, &[0u8; 16]);
    Arc::new(RunStatus::new(buf))
}

/// The GPU buffers of the words not yet read.
fn buffers(words: &[Arc<RunStatus>]) -> Vec<Arc<GpuBuffer>> {
    words
        .iter()
        .filter_map(|w| {
            let b = w.buffer.lock().unwrap_or_else(|e| e.into_inner());
            b.clone()
        })
        .collect()
}

/// Copies each word into `staging` from byte `at` on, in `encoder`.
pub(crate) fn copy_words(
    encoder: &mut wgpu::CommandEncoder,
    words: &[Arc<RunStatus>],
    staging: &GpuBuffer,
    at: u64,
) {
    for (i, b) in buffers(words).iter().enumerate() {
        encoder.copy_buffer_to_buffer(&b.buffer, 0, &staging.buffer, at + 4 * i as u64, 4);
    }
}

/// Bytes `copy_words` needs for `words`.
pub(crate) fn bytes(words: &[Arc<RunStatus>]) -> u64 {
    (4 * buffers(words).len() as u64).max(4)
}

/// Records the words read back (`raw`, in `copy_words`' order) and fails if
/// any of `words` is raised.
pub(crate) fn check(words: &[Arc<RunStatus>], raw: &[u8]) -> Result<()> {
    let mut i = 0;
    for w in words {
        if w.bits.get().is_none() {
            let bits = u32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().expect("4 bytes"));
            w.set(bits);
            i += 1;
        }
    }
    let bits = words
        .iter()
        .fold(0, |a, w| a | w.bits.get().copied().unwrap_or(0));
    if bits == 0 {
        return Ok(());
    }
    let op = if bits & STATUS_GATHER != 0 {
        "gather"
    } else if bits & STATUS_CLASS_INDEX != 0 {
        "class index (one_hot / cross_entropy)"
    } else {
        "kernel"
    };
    Err(Error::IndexOutOfRange { op })
}

/// Reads the words now (one submit and wait) when there are too many, or
/// when `updating`: an in-place update must not apply a step computed from
/// values a bad index produced.
pub(crate) fn bound(dev: &Device, words: &[Arc<RunStatus>], updating: bool) -> Result<()> {
    let unread = words.iter().filter(|w| w.bits.get().is_none()).count();
    if unread == 0 {
        return check(words, &[]);
    }
    if !updating && words.len() <= MAX_CARRIED {
        return Ok(());
    }
    let n = bytes(words);
    let staging = dev.pool().acquire(BufferKind::Readback, n);
    let mut encoder = dev
        .wgpu_device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("shadergrad status"),
        });
    copy_words(&mut encoder, words, &staging, 0);
    dev.queue().submit([encoder.finish()]);
    let c = dev.counter_set();
    c.add(&c.submits, 1);
    let raw = super::map_read(dev, &staging, n)?;
    check(words, &raw)
}
