"""Small Hugging Face model folders (DiffLlama and Llama layouts) with their float64 logits, for the
import/export tests (test/interchange-hf.test.ts).

This is an independent float64 reference of the two Hugging Face architectures, written from their
semantics (transformers' modeling_diffllama.py / modeling_llama.py), in *their* layout: heads split
into two halves (DIFF head i = query heads i and H/2 + i), keys through repeat_kv, values
cat(v[i // g], v[(H/2 + i) // g]), RoPE rotate_half, a weightless RMSNorm over 2·head_dim with
eps = rms_norm_eps, λ_init(layer) = 0.8 − 0.6·exp(−0.3·layer).

Usage: /usr/bin/python3 tools/make-hf-fixtures.py test/fixtures/hf
       /usr/bin/python3 tools/make-hf-fixtures.py --check DIR TOKENS_JSON
         (prints the logits of the Hugging Face folder DIR for the token ids in TOKENS_JSON as JSON,
          e.g. to check a folder written by `diff-transformer export --format hf`)
Needs Debian's python3-torch only; the generated folders are committed, so the tests need no Python.
"""
import json, math, os, struct, sys

import torch

DT = torch.float64
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


# ---------------------------------------------------------------- safetensors (by hand)

def encode_tensor(t, dtype):
    t = t.detach().to(DTYPES[dtype]).contiguous()
    if dtype == "BF16":
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        data = encode_tensor(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        chunk = bytearray(raw[8 + n + b : 8 + n + e])
        if info["dtype"] == "BF16":
            t = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(chunk, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).to(DT)
    return out


def read_folder_weights(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if not os.path.exists(index):
        return read_safetensors(os.path.join(folder, "model.safetensors"))
    with open(index) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for name in files:
        out.update(read_safetensors(os.path.join(folder, name)))
    return out


# ---------------------------------------------------------------- the two architectures (float64)

def rms_norm(x, weight, eps):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if weight is None else y * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(T, d, theta):
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=DT) / d)  # [d/2]
    freqs = torch.arange(T, dtype=DT)[:, None] * inv_freq[None, :]  # [T, d/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, d]
    return emb.cos(), emb.sin()


def repeat_kv(x, n):  # [B, Hkv, T, d] → [B, Hkv·n, T, d], each kv head repeated n times in place
    B, H, T, d = x.shape
    return x[:, :, None].expand(B, H, n, T, d).reshape(B, H * n, T, d)


def theta_of(cfg):
    return cfg["rope_theta"] if "rope_theta" in cfg else cfg["rope_parameters"]["rope_theta"]


def attention(cfg, W, p, x, layer):
    B, T, _ = x.shape
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // H
    q = (x @ W[p + "q_proj.weight"].T).view(B, T, H, d).transpose(1, 2)  # [B, H, T, d]
    k = (x @ W[p + "k_proj.weight"].T).view(B, T, Hkv, d).transpose(1, 2)  # [B, Hkv, T, d]
    v = (x @ W[p + "v_proj.weight"].T).view(B, T, Hkv, d).transpose(1, 2)  # [B, Hkv, T, d]
    cos, sin = rope_cos_sin(T, d, theta_of(cfg))
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k = repeat_kv(k, H // Hkv)  # [B, H, T, d]
    v = repeat_kv(v, H // Hkv)  # [B, H, T, d]
    diff = cfg["model_type"] == "diffllama"
    if diff:
        first, second = torch.chunk(v, 2, dim=1)  # [B, H/2, T, d] each
        v = torch.cat((first, second), dim=-1).repeat(1, 2, 1, 1)  # [B, H, T, 2d]
    scores = q @ k.transpose(2, 3) / math.sqrt(d)  # [B, H, T, T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
    out = probs @ v  # [B, H, T, d or 2d]
    if diff:
        lam_init = 0.8 - 0.6 * math.exp(-0.3 * layer)
        lam = (
            torch.exp((W[p + "lambda_q1"] * W[p + "lambda_k1"]).sum())
            - torch.exp((W[p + "lambda_q2"] * W[p + "lambda_k2"]).sum())
            + lam_init
        )
        o1, o2 = torch.chunk(out, 2, dim=1)  # [B, H/2, T, 2d] each
        out = (1 - lam_init) * rms_norm(o1 - lam * o2, None, cfg["rms_norm_eps"])
    out = out.transpose(1, 2).reshape(B, T, -1)
    return out @ W[p + "o_proj.weight"].T


def forward(cfg, W, tokens):  # tokens [B, T] → logits [B, T, V]
    eps = cfg["rms_norm_eps"]
    x = W["model.embed_tokens.weight"][tokens]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = x + attention(cfg, W, p + "self_attn.", rms_norm(x, W[p + "input_layernorm.weight"], eps), layer)
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(h @ W[p + "mlp.gate_proj.weight"].T)
        x = x + (g * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return rms_norm(x, W["model.norm.weight"], eps) @ head.T


# ---------------------------------------------------------------- fixtures

def shapes(cfg):
    V, D, F = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"]
    H, Hkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    out = {"model.embed_tokens.weight": [V, D]}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        out[p + "input_layernorm.weight"] = [D]
        out[p + "self_attn.q_proj.weight"] = [H * d, D]
        out[p + "self_attn.k_proj.weight"] = [Hkv * d, D]
        out[p + "self_attn.v_proj.weight"] = [Hkv * d, D]
        out[p + "self_attn.o_proj.weight"] = [D, H * d]
        if cfg["model_type"] == "diffllama":
            for name in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
                out[p + "self_attn." + name] = [d]
        out[p + "post_attention_layernorm.weight"] = [D]
        out[p + "mlp.gate_proj.weight"] = [F, D]
        out[p + "mlp.up_proj.weight"] = [F, D]
        out[p + "mlp.down_proj.weight"] = [D, F]
    out["model.norm.weight"] = [D]
    if not cfg.get("tie_word_embeddings"):
        out["lm_head.weight"] = [cfg["vocab_size"], D]
    return out


def hf_config(model_type, **fields):
    arch = {"diffllama": "DiffLlamaForCausalLM", "llama": "LlamaForCausalLM"}[model_type]
    cfg = {
        "architectures": [arch],
        "model_type": model_type,
        "hidden_act": "silu",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "rms_norm_eps": 1e-5,
        "rope_scaling": None,
        "max_position_embeddings": 64,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 1,
    }
    if model_type == "diffllama":
        cfg["lambda_std_dev"] = 0.1
    else:
        cfg["mlp_bias"] = False
    cfg.update(fields)
    return cfg


def make_case(out_dir, name, cfg, dtype, seed, shards=1, B=2, T=7):
    torch.manual_seed(seed)
    W = {}
    for pname, shape in shapes(cfg).items():
        if pname.endswith("norm.weight"):
            t = 1 + 0.1 * torch.randn(shape, dtype=DT)
        elif "lambda_" in pname:
            t = 0.3 * torch.randn(shape, dtype=DT)
        else:
            t = torch.randn(shape, dtype=DT) / math.sqrt(shape[-1])
        W[pname] = t.to(DTYPES[dtype]).to(DT)  # values exactly representable in the stored dtype
    tokens = torch.randint(0, cfg["vocab_size"], (B, T))
    with torch.no_grad():
        logits = forward(cfg, W, tokens)
        prompt = tokens[0, :3].tolist()
        seq = list(prompt)
        for _ in range(8):
            seq.append(int(forward(cfg, W, torch.tensor([seq]))[0, -1].argmax()))
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = list(W)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), W, dtype)
    else:
        weight_map, per = {}, math.ceil(len(names) / shards)
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: W[n] for n in names[s * per : (s + 1) * per]}
            write_safetensors(os.path.join(d, file), part, dtype)
            weight_map.update({n: file for n in part})
        total = sum(W[n].numel() * (4 if dtype == "F32" else 2) for n in names)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    case = {
        "tokens": tokens.tolist(),
        "dtype": dtype,
        "greedy": {"prompt": prompt, "continuation": seq[len(prompt) :]},
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f)
    write_safetensors(os.path.join(d, "expected.safetensors"), {"logits": logits}, "F32")


def main():
    if sys.argv[1] == "--check":
        folder = sys.argv[2]
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        with open(sys.argv[3]) as f:
            tokens = torch.tensor(json.load(f))
        with torch.no_grad():
            print(json.dumps(forward(cfg, read_folder_weights(folder), tokens).tolist()))
        return
    out = sys.argv[1]
    make_case(
        out,
        "diffllama-gqa-f32",
        hf_config(
            "diffllama", vocab_size=48, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=10000.0,
        ),
        "F32",
        seed=1,
    )
    make_case(
        out,
        "diffllama-mha-bf16-sharded",
        hf_config(
            "diffllama", vocab_size=40, hidden_size=24, intermediate_size=32, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=4, head_dim=6, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 500.0},
        ),
        "BF16",
        seed=2,
        shards=2,
    )
    make_case(
        out,
        "llama-gqa-tied-f16",
        hf_config(
            "llama", vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=10000.0,
            tie_word_embeddings=True,
        ),
        "F16",
        seed=3,
    )


if __name__ == "__main__":
    main()
