#!/usr/bin/env python3
"""Companion benchmark for RemoteCLIP's and RS-M-CLIP's architectures: image throughput and
one-query latency of open_clip's RN50, ViT-B-32 and ViT-L-14 and of RS-M-CLIP's
xlm-roberta-base-ViT-B-32 (random weights, f32, CPU) against Kestrel's, in one run.

For each architecture it times `model.encode_image` on a batch of random 3x224x224 images
and `model.encode_text` on one 8-token query (open_clip runs the whole 77-token context;
Kestrel stops at the end token, which is how it answers a query), then runs Kestrel's
model-crate bench example on the same shapes (`--arch`, or `--config` for RS-M-CLIP) and
prints both and the ratios (Kestrel / PyTorch for img/s, PyTorch / Kestrel for latency;
above 1 is Kestrel faster).

Usage (needs torch, open_clip_torch==3.3.0 and, for RS-M-CLIP, transformers):
    cargo build --release -p kestrel-model --example bench
    .dev/venv-oracle/bin/python packaging/bench/torch_remoteclip.py \
        --kestrel target/release/examples/bench [--batch 8] [--iters 3] [--threads 2] \
        [--archs RN50 ViT-B-32 ViT-L-14 RS-M-CLIP]
(`packaging/oracle.sh` makes that venv.) Without torch it says so and only runs the Kestrel
side. Nothing is downloaded: the XLM-R config is restated below.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

# xlm-roberta-base's config.json (the hub file, restated so nothing is fetched).
XLMR_BASE = {
    "architectures": ["XLMRobertaForMaskedLM"], "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "model_type": "xlm-roberta",
    "num_attention_heads": 12, "num_hidden_layers": 12, "output_past": True, "pad_token_id": 1,
    "position_embedding_type": "absolute", "type_vocab_size": 1, "use_cache": True,
    "vocab_size": 250002,
}
RSM_CONFIG = os.path.join(os.path.dirname(__file__), "rsmclip_vit_b32_config.json")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                want = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
                return " ".join(f for f in want if f in have)
    except OSError:
        pass
    return "?"


def open_clip_model(arch):
    import open_clip

    if arch != "RS-M-CLIP":
        return open_clip.create_model(arch, pretrained=None).eval()
    # RS-M-CLIP: the open_clip config with its HF text tower pointed at a local config.json.
    d = tempfile.mkdtemp(prefix="kestrel-bench-xlmr-")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(XLMR_BASE, f)
    cfg = json.load(open(RSM_CONFIG))["model_cfg"]
    cfg["text_cfg"]["hf_model_name"] = d
    cfg["text_cfg"]["hf_tokenizer_name"] = d
    path = os.path.join(d, "RSM-bench.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    open_clip.add_model_config(path)
    return open_clip.create_model("RSM-bench", pretrained=None, pretrained_text=False).eval()


def query_ids(arch):
    """One 8-token query padded to 77, as each tokenizer lays it out."""
    import torch

    ids = torch.zeros(1, 77, dtype=torch.long)
    if arch == "RS-M-CLIP":
        ids[:] = 1  # <pad>
        ids[0, :8] = torch.tensor([0, 3293, 83, 10, 51042, 111, 26146, 2])
    else:
        ids[0, :8] = torch.tensor([49406, 320, 1125, 539, 320, 2368, 3309, 49407])
    return ids


def torch_side(arch, batch, iters, threads):
    import torch

    torch.set_num_threads(threads)
    model = open_clip_model(arch)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 224, 224, generator=g)
    ids = query_ids(arch)
    times, text = [], []
    with torch.inference_mode():
        model.encode_image(x)
        for _ in range(iters):
            t = time.perf_counter()
            model.encode_image(x)
            times.append(time.perf_counter() - t)
        model.encode_text(ids)
        for _ in range(iters * 10):
            t = time.perf_counter()
            model.encode_text(ids)
            text.append((time.perf_counter() - t) * 1e3)
    return batch / statistics.median(times), statistics.median(text)


def kestrel_side(exe, arch, batch, iters):
    which = ["--config", RSM_CONFIG] if arch == "RS-M-CLIP" else ["--arch", arch]
    out = subprocess.run(
        [exe, *which, "--batch", str(batch), "--iters", str(iters)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out)
    return r["image_img_per_s"], r["text_query_ms"], r.get("cpu_kernels", "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kestrel", default="target/release/examples/bench")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", nargs="+", default=["RN50", "ViT-B-32", "ViT-L-14", "RS-M-CLIP"])
    args = ap.parse_args()
    print(f"CPU: {cpu_model()} ({cpu_flags()}); {os.cpu_count()} CPUs, {args.threads} threads; "
          f"batch {args.batch}, {args.iters} timed runs, f32")
    for arch in args.archs:
        k_img, k_q, kernels = kestrel_side(args.kestrel, arch, args.batch, args.iters)
        try:
            t_img, t_q = torch_side(arch, args.batch, args.iters, args.threads)
        except ImportError as e:
            print(f"{arch}: Kestrel {k_img:.2f} img/s, query {k_q:.1f} ms (no PyTorch: {e})")
            continue
        print(f"{arch}: images Kestrel {k_img:.2f} vs PyTorch {t_img:.2f} img/s, "
              f"{k_img / t_img:.2f}x; one query Kestrel {k_q:.1f} ms vs PyTorch {t_q:.1f} ms, "
              f"{t_q / k_q:.2f}x (Kestrel kernels: {kernels})")


if __name__ == "__main__":
    main()
