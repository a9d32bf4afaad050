#!/usr/bin/env python3
"""Companion benchmark for RemoteCLIP's architectures: image throughput of open_clip's RN50
and ViT-B-32 (random weights, f32, CPU) against Kestrel's, in one run.

For each architecture it times `model.encode_image` on a batch of random 3x224x224 images,
then runs Kestrel's model-crate bench example with `--arch` on the same shapes and prints
both and the ratio (Kestrel / PyTorch; above 1 is faster).

Usage (needs torch and open_clip_torch==3.3.0):
    cargo build --release -p kestrel-model --example bench
    /tmp/venv-torch/bin/python packaging/bench/torch_remoteclip.py \
        --kestrel target/release/examples/bench [--batch 8] [--iters 3] [--threads 2]
Without torch it says so and only runs the Kestrel side.
"""
import argparse
import json
import platform
import statistics
import subprocess
import time


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def torch_img_per_s(arch, batch, iters, threads):
    import torch
    import open_clip

    torch.set_num_threads(threads)
    model = open_clip.create_model(arch, pretrained=None).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 224, 224, generator=g)
    times = []
    with torch.inference_mode():
        model.encode_image(x)
        for _ in range(iters):
            t = time.perf_counter()
            model.encode_image(x)
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def kestrel_img_per_s(exe, arch, batch, iters):
    out = subprocess.run(
        [exe, "--arch", arch, "--batch", str(batch), "--iters", str(iters)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["image_img_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kestrel", default="target/release/examples/bench")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}; batch {args.batch}, {args.iters} timed runs, f32")
    for arch in ["RN50", "ViT-B-32"]:
        k = kestrel_img_per_s(args.kestrel, arch, args.batch, args.iters)
        try:
            t = torch_img_per_s(arch, args.batch, args.iters, args.threads)
        except ImportError as e:
            print(f"{arch}: Kestrel {k:.2f} img/s (no PyTorch: {e})")
            continue
        print(f"{arch}: Kestrel {k:.2f} img/s, PyTorch {t:.2f} img/s, ratio {k / t:.2f}x")


if __name__ == "__main__":
    main()
