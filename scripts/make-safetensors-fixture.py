"""Writes tests/fixtures/numpy-written.safetensors with the reference
safetensors writer (pip install safetensors numpy; run by hand, not in CI):
one tensor of each dtype the engine reads, and metadata."""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "w": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    "h": np.array([0.5, -1.25, 3.0], dtype=np.float16),
    "n": np.array(7, dtype=np.int64),
    "idx": np.array([3, -2], dtype=np.int32),
}
save_file(tensors, "tests/fixtures/numpy-written.safetensors", metadata={"step": "5"})
