#!/usr/bin/env python3
"""Companion benchmark: the same shapes as `kestrel bench-model`, in PyTorch/open_clip.

Builds open_clip ViT-B-16 with a 10-channel patch embedding (Llama3-MS-CLIP's shape) with
random weights, times `encode_image` on a batch and `encode_text` on one query (open_clip
always runs the full 77-token context), then runs the Kestrel binary's `bench-model --json`
in the same process tree and prints both and the ratios.

Usage (needs torch and open_clip_torch, e.g. the oracle venv of ../shared/oracle/ORACLE.md):
    /tmp/venv-ref/bin/python packaging/bench/torch_msclip.py [--kestrel target/release/kestrel]
        [--batch 8] [--iters 3] [--threads N] [--device cpu|cuda] [--dtype f32|bf16]
Without torch installed it says so and only runs the Kestrel side.

`--kestrel` may also be the model crate's bench example (no GUI build needed):
    cargo build --release -p kestrel-model --example bench
    .../torch_msclip.py --kestrel target/release/examples/bench --dtype bf16
On the CPU, `--dtype bf16` compares Kestrel's bf16 products (AMX) with PyTorch's bf16
weights (model.to(torch.bfloat16), oneDNN). `KESTREL_CPU_KERNELS=avx2` (in the environment)
makes Kestrel use a lower kernel, to compare paths on one machine. The CPU's model name and
its SIMD/AMX flags are printed with the figures.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

QUERY_IDS = [49406, 320, 10316, 2867, 539, 320, 2473, 49407]  # "a satellite image of a river"


def torch_bench(args):
    import torch
    import torch.nn as nn
    import open_clip

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = open_clip.create_model("ViT-B-16", pretrained=None)
    old = model.visual.conv1
    model.visual.conv1 = nn.Conv2d(10, old.out_channels, old.kernel_size, old.stride, bias=False)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    model = model.to(device=device, dtype=dtype).eval()
    g = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 10, 224, 224, generator=g).to(device=device, dtype=dtype)
    ids = torch.zeros(1, 77, dtype=torch.long)
    ids[0, : len(QUERY_IDS)] = torch.tensor(QUERY_IDS)
    ids = ids.to(device)

    def timed(fn, runs):
        """(median, best) seconds."""
        fn()
        out = []
        for _ in range(runs):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out.append(time.perf_counter() - t)
        return statistics.median(out), min(out)

    with torch.inference_mode():
        cpu0 = time.process_time()
        img_s, img_best = timed(lambda: model.encode_image(images), args.iters)
        img_cpu = time.process_time() - cpu0
        txt_s, txt_best = timed(lambda: model.encode_text(ids), args.iters * 10)
    return {
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "image_batch_s": img_s,
        "image_img_per_s": args.batch / img_s,
        "image_img_per_s_best": args.batch / img_best,
        # the warm-up call is inside the CPU-time window: iters + 1 batches
        "image_img_per_cpu_s": args.batch * (args.iters + 1) / img_cpu,
        "text_query_ms": txt_s * 1e3,
        "text_query_ms_best": txt_best * 1e3,
    }


def kestrel_bench(args):
    exe = args.kestrel or shutil.which("kestrel")
    if not exe or not os.path.exists(exe):
        for cand in ("target/release/kestrel", "target/debug/kestrel"):
            if os.path.exists(cand):
                exe = cand
                break
    if not exe:
        sys.exit("kestrel binary not found: build it (cargo build --release) or pass --kestrel PATH")
    if os.path.basename(exe) == "bench":  # kestrel-model's example: CPU only, JSON always
        cmd = [exe, "--full-shape", "--batch", str(args.batch), "--iters", str(args.iters),
               "--dtype", args.dtype]
    else:
        cmd = [exe, "bench-model", "--json", "--full-shape", "--batch", str(args.batch),
               "--iters", str(args.iters), "--device", args.device, "--dtype", args.dtype]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_info():
    """lscpu's model name and the SIMD/AMX flags that decide the kernels."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    info = {}
    for line in out.splitlines():
        key, _, val = line.partition(":")
        if key.strip() == "Model name":
            info["model"] = val.strip()
        if key.strip() == "Flags":
            wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
            info["flags"] = [f for f in val.split() if f in wanted]
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kestrel", help="path to the kestrel binary (default: target/release/kestrel)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate the two sides this many times and keep each side's best round")
    args = ap.parse_args()

    try:
        import torch  # noqa: F401
        import open_clip  # noqa: F401
        have_torch = True
    except ImportError as e:
        print(f"PyTorch/open_clip not installed ({e}); running the Kestrel side only", file=sys.stderr)
        have_torch = False

    sides = [("torch", torch_bench)] if have_torch else []
    sides.append(("kestrel", kestrel_bench))
    res = {}
    for r in range(max(1, args.rounds)):
        order = sides if r % 2 == 0 else list(reversed(sides))
        for name, fn in order:
            out = fn(args)
            best = res.get(name)
            if best is None or out.get("image_img_per_s_best", 0) > best.get("image_img_per_s_best", 0):
                res[name] = out
    res["cpu"] = cpu_info()
    print(json.dumps(res, indent=1))
    print(f"cpu: {res['cpu'].get('model')} flags {' '.join(res['cpu'].get('flags', []))}; "
          f"kestrel kernels: {res['kestrel'].get('cpu_kernels')}, matmul {res['kestrel'].get('matmul_kernel')}; "
          f"dtype {args.dtype}")
    if have_torch:
        k, t = res["kestrel"], res["torch"]
        if k.get("image_img_per_s"):
            print(f"images (median): kestrel {k['image_img_per_s']:.2f} img/s, torch {t['image_img_per_s']:.2f} img/s "
                  f"-> ratio {k['image_img_per_s'] / t['image_img_per_s']:.2f}x")
            print(f"images (best run): kestrel {k['image_img_per_s_best']:.2f} img/s, "
                  f"torch {t['image_img_per_s_best']:.2f} img/s "
                  f"-> ratio {k['image_img_per_s_best'] / t['image_img_per_s_best']:.2f}x")
            if k.get("image_img_per_cpu_s"):
                print(f"images per CPU-second (x{k['threads']} threads = idle-machine estimate): "
                      f"kestrel {k['image_img_per_cpu_s']:.2f}, torch {t['image_img_per_cpu_s']:.2f} "
                      f"-> ratio {k['image_img_per_cpu_s'] / t['image_img_per_cpu_s']:.2f}x")
        print(f"text (1 query, median): kestrel {k['text_query_ms']:.1f} ms ({k['text_query_tokens']} tokens), "
              f"torch {t['text_query_ms']:.1f} ms (77 tokens) -> {t['text_query_ms'] / k['text_query_ms']:.2f}x faster")
        print(f"text (1 query, best): kestrel {k['text_query_ms_best']:.1f} ms, torch {t['text_query_ms_best']:.1f} ms")
        if k.get("text_full_context_ms"):
            print(f"text, full 77-token context: kestrel {k['text_full_context_ms']:.1f} ms "
                  f"-> {t['text_query_ms'] / k['text_full_context_ms']:.2f}x torch")


if __name__ == "__main__":
    main()
