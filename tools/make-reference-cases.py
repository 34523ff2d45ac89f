"""Make extra reference cases (grouped-query ratios, depths, tied embeddings, odd lengths, RoPE bases)
with the float64 PyTorch reference model, in the layout of ../shared/fixtures/reference.

Usage: /usr/bin/python3 tools/make-reference-cases.py ../shared/reference test/fixtures/extra
(needs Debian's python3-torch; the generated folders are committed so tests need no Python).
"""
import json, math, os, struct, sys

sys.path.insert(0, sys.argv[1])
import torch
import ref_model as R

OUT = sys.argv[2]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make_case(name, cfg, B, T, seed):
    torch.manual_seed(seed)
    cfg = {"rope_theta": 10000.0, "norm_eps": 1e-5, "subln_eps": 1e-5, "tie_embeddings": False, **cfg}
    P = {}
    for pname, shape in R.param_shapes(cfg).items():
        if pname.endswith("norm.weight") or "subln" in pname:
            t = 1 + 0.1 * torch.randn(shape, dtype=R.DT)
        elif "lambda_" in pname and "proj" not in pname:
            t = 0.3 * torch.randn(shape, dtype=R.DT)
        else:
            t = torch.randn(shape, dtype=R.DT) / math.sqrt(shape[-1])
        P[pname] = t.to(torch.float32).to(R.DT).requires_grad_(True)  # values exactly representable in float32
    tokens = torch.randint(0, cfg["vocab_size"], (B, T + 1))
    maps = {}
    logits = R.forward(cfg, P, tokens[:, :-1], maps)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), tokens[:, 1:].reshape(-1))
    loss.backward()
    prompt = tokens[0, : max(1, T // 2)].tolist()
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(8):
            seq.append(int(R.forward(cfg, P, torch.tensor([seq]))[0, -1].argmax()))
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), P)
    expected = {"logits": logits}
    expected.update({"grad." + k: v.grad for k, v in P.items()})
    expected.update(maps)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected)
    case = {"tokens": tokens.tolist(), "inputs": "tokens[:, :-1]", "targets": "tokens[:, 1:]", "loss": loss.item(),
            "loss_reduction": "mean over all B*T positions, natural log",
            "greedy": {"prompt": prompt, "continuation": seq[len(prompt):]}}
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f)
    print(name, "loss", round(loss.item(), 4))


base = dict(vocab_size=50, ffn_hidden=40)
make_case("diff-gqa2-theta640k", dict(base, variant="diff", d_model=64, n_layers=3, n_heads=4, n_kv_heads=2, head_dim=8, rope_theta=640000.0), 2, 13, 1)
make_case("diff-mqa-tied-deep", dict(base, variant="diff", d_model=16, n_layers=5, n_heads=2, n_kv_heads=1, head_dim=4, tie_embeddings=True), 2, 7, 2)
make_case("baseline-gqa4-tied", dict(base, variant="baseline", d_model=32, n_layers=2, n_heads=8, n_kv_heads=2, head_dim=4, tie_embeddings=True, rope_theta=500.0), 2, 11, 3)
make_case("diffv2-gqa2-deep", dict(base, variant="diffv2", d_model=24, n_layers=4, n_heads=4, n_kv_heads=2, head_dim=6), 3, 9, 4)
make_case("diffv2-mqa-tied", dict(base, variant="diffv2", d_model=16, n_layers=2, n_heads=2, n_kv_heads=1, head_dim=8, tie_embeddings=True), 1, 5, 5)
make_case("diff-one-head-short", dict(base, variant="diff", d_model=16, n_layers=1, n_heads=1, n_kv_heads=1, head_dim=8), 2, 3, 6)
