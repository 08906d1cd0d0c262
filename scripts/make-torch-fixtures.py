"""Writes tests/fixtures/torch-{cnn,mlp}.safetensors with PyTorch (pip install
torch safetensors; run by hand, not in CI): each model's state_dict under
`model.`, one input batch, its labels, the eval-mode outputs, and the
train-mode cross-entropy loss with every parameter's gradient (`grad.*`).
tests/torch_interop.rs loads them into the same architectures built with
shadergrad and matches outputs and gradients.

With `--check DIR`, does the reverse: loads the state dicts shadergrad wrote
there (SHADERGRAD_TORCH_REVERSE=DIR cargo test --release --test torch_interop)
into the same torch models with strict=True and compares their outputs."""
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 3, 3),
    ).double()


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(5, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    ).double()


def mha():
    return torch.nn.MultiheadAttention(8, 2, batch_first=True).double()


def write_mha():
    """Self-attention outputs, and the gradients of mean(out^2)."""
    model = mha()
    sd = {k: v.float() for k, v in model.state_dict().items()}
    model.load_state_dict(sd, strict=True)
    x = torch.randn(2, 5, 8).float().double()
    out = model(x, x, x, need_weights=False)[0]
    (out ** 2).mean().backward()
    t = {f"model.{k}": v for k, v in sd.items()}
    t["input"] = x.float()
    t["output.eval"] = out.detach().float()
    for k, p in model.named_parameters():
        t[f"grad.{k}"] = p.grad.float()
    path = "tests/fixtures/torch-mha.safetensors"
    save_file({k: v.contiguous() for k, v in t.items()}, path, metadata={"torch": torch.__version__})
    print(path, len(t), "tensors")


def inputs(name):
    return torch.randn(6, 1, 7, 7) if name == "cnn" else torch.randn(6, 5)


def write(name, make):
    model = make()
    x = inputs(name).double()
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    model.train()
    # Move batch norm's running statistics off their start.
    for _ in range(3):
        model(torch.randn_like(x))
    # The file holds f32: the references are float64 from those f32 values.
    sd = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(sd, strict=True)
    x = x.float().double()
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    t = {f"model.{k}": v for k, v in sd.items()}
    t["input"] = x.float()
    t["labels"] = y
    t["output.eval"] = out.float()
    t["loss.train"] = loss.detach().float()
    for k, p in model.named_parameters():
        t[f"grad.{k}"] = p.grad.float()
    path = f"tests/fixtures/torch-{name}.safetensors"
    save_file({k: v.contiguous() for k, v in t.items()}, path, metadata={"torch": torch.__version__})
    print(path, len(t), "tensors")


def check(dir):
    for name, make in [("cnn", cnn), ("mlp", mlp), ("mha", mha)]:
        model = make()
        t = load_file(f"{dir}/{name}.safetensors")
        missing, unexpected = model.load_state_dict(t, strict=True)
        io = load_file(f"{dir}/{name}-io.safetensors")
        model.eval()
        with torch.no_grad():
            x = io["input"].double()
            out = (model(x, x, x, need_weights=False)[0] if name == "mha" else model(x)).float()
        err = ((out - io["output.eval"]).abs() / (io["output.eval"].abs() + 1e-6)).max().item()
        print(f"{name}: loaded strict ({len(t)} tensors, "
              f"{', '.join(sorted(t))}); "
              f"outputs match to {err:.2e} relative")
        assert err < 1e-5, err


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write("cnn", cnn)
        write("mlp", mlp)
        write_mha()
