"""Writes tests/fixtures/torch-{rnn,lstm,gru}.safetensors with PyTorch (pip
install torch safetensors; run by hand, not in CI): a recurrent module's
state_dict under `model.`, an input batch, initial states, per-sequence
lengths (run as a packed sequence), the outputs (padded back, zero past each
end), h_n and c_n, and the gradients of sum(out * r_out) + sum(h_n * r_h)
(+ sum(c_n * r_c)) for fixed random r's. tests/torch_recurrent.rs matches
them with shadergrad's Rnn, Lstm and Gru."""
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors.torch import save_file

torch.manual_seed(0)

CASES = {
    # name: (module, batch_first, lengths or None, initial states given, T, B)
    "lstm": (lambda: torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True), True, [7, 3, 1], True, 7, 3),
    "gru": (lambda: torch.nn.GRU(3, 5, num_layers=2, batch_first=False), False, [2, 5, 4], False, 5, 3),
    "rnn": (lambda: torch.nn.RNN(3, 33, bidirectional=True), False, None, True, 5, 3),
    "lstm-single": (lambda: torch.nn.LSTM(3, 1), False, None, False, 1, 1),
}


def run(name):
    make, batch_first, lengths, given, T, B = CASES[name]
    m = make().double()
    sd = {k: v.float() for k, v in m.state_dict().items()}
    m.load_state_dict(sd, strict=True)
    shape = (B, T, 3) if batch_first else (T, B, 3)
    x = torch.randn(*shape).float().double().requires_grad_()
    layers = m.num_layers * (2 if m.bidirectional else 1)
    h0 = torch.randn(layers, B, m.hidden_size).float().double().requires_grad_()
    c0 = torch.randn(layers, B, m.hidden_size).float().double().requires_grad_()
    init = None
    if given:
        init = (h0, c0) if name.startswith("lstm") else h0
    inp = x
    if lengths is not None:
        inp = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, state = m(inp, init)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    h_n, c_n = state if name.startswith("lstm") else (state, None)
    r_out, r_h = torch.randn_like(out), torch.randn_like(h_n)
    loss = (out * r_out).sum() + (h_n * r_h).sum()
    t = {f"model.{k}": v for k, v in sd.items()}
    if c_n is not None:
        r_c = torch.randn_like(c_n)
        loss = loss + (c_n * r_c).sum()
        t["r_c"], t["c_n"] = r_c.float(), c_n.detach().float()
    loss.backward()
    t.update({"input": x.detach().float(), "output": out.detach().float(), "h_n": h_n.detach().float(),
              "r_out": r_out.float(), "r_h": r_h.float(), "grad.input": x.grad.float()})
    if given:
        t["h0"], t["grad.h0"] = h0.detach().float(), h0.grad.float()
        if name.startswith("lstm"):
            t["c0"], t["grad.c0"] = c0.detach().float(), c0.grad.float()
    if lengths is not None:
        t["lengths"] = torch.tensor(lengths)
    for k, p in m.named_parameters():
        t[f"grad.{k}"] = p.grad.float()
    path = f"tests/fixtures/torch-{name}.safetensors"
    save_file({k: v.contiguous() for k, v in t.items()}, path, metadata={"torch": torch.__version__})
    print(path, len(t), "tensors")


for name in CASES:
    run(name)
