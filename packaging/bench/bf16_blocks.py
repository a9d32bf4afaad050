#!/usr/bin/env python3
"""Per-block bf16 reference for Kestrel's CPU bf16 test (issue: bf16 accuracy per layer).

The random-weight models are chaotic under bf16, so whole-model outputs say nothing; instead
each residual block gets the f32 model's own input activation, and its bf16 output is compared
with its f32 output. This script computes, with PyTorch/open_clip on the tiny MS-CLIP fixture:
  - every block's f32 input and f32 output (image tower on a deterministic pseudo-image, text
    tower on the benchmark query), and
  - PyTorch bf16's error on the same block (block.to(bfloat16) on the bf16-rounded input,
    relative L2 error ||y_bf16 - y_f32|| / ||y_f32||),
and writes tests/fixtures/bf16_blocks/bf16_blocks.safetensors (tensors) and
bf16_blocks.json (PyTorch's errors, versions). The Rust test runs Kestrel's bf16 block on the
same input and requires its error to be at most 1.5x PyTorch's.

    /tmp/venv-ref/bin/python packaging/bench/bf16_blocks.py
"""
import copy
import json
import os

import torch
import torch.nn as nn
import open_clip
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "tests", "fixtures", "msclip_tiny")
OUT = os.path.join(ROOT, "tests", "fixtures", "bf16_blocks")
QUERY_IDS = [49406, 320, 10316, 2867, 539, 320, 2473, 49407]


def main():
    cfg = json.load(open(os.path.join(FIX, "open_clip_config.json")))
    model = open_clip.CLIP(**cfg["model_cfg"])
    old = model.visual.conv1
    model.visual.conv1 = nn.Conv2d(cfg["in_channels"], old.out_channels, old.kernel_size,
                                   old.stride, bias=False)
    model.load_state_dict(load_file(os.path.join(FIX, "msclip_random.safetensors")), strict=True)
    model = model.float().eval()
    size = cfg["model_cfg"]["vision_cfg"]["image_size"]
    n = cfg["in_channels"] * size * size
    # The same deterministic pixels as Kestrel's bench (values in [-1, 1)).
    pix = torch.tensor([((i * 7919) % 1000) / 500.0 - 1.0 for i in range(n)], dtype=torch.float32)
    image = pix.reshape(1, cfg["in_channels"], size, size)
    ctx = cfg["model_cfg"]["text_cfg"]["context_length"]
    ids = torch.zeros(1, ctx, dtype=torch.long)
    ids[0, :len(QUERY_IDS)] = torch.tensor(QUERY_IDS)

    towers = {"visual": model.visual.transformer, "text": model.transformer}
    captured = {}
    hooks = []
    for tname, tr in towers.items():
        for i, blk in enumerate(tr.resblocks):
            def hook(mod, args, kwargs, out, key=f"{tname}.{i}"):
                captured[key] = (args[0].detach().clone(), out.detach().clone(),
                                 kwargs.get("attn_mask", args[1] if len(args) > 1 else None))
            hooks.append(blk.register_forward_hook(hook, with_kwargs=True))
    with torch.inference_mode():
        model.encode_image(image)
        model.encode_text(ids)
    for h in hooks:
        h.remove()

    tensors, errors = {}, {}
    for tname, tr in towers.items():
        for i, blk in enumerate(tr.resblocks):
            key = f"{tname}.{i}"
            x, y, mask = captured[key]
            # open_clip >= 2.2x runs blocks batch-first; keep [batch, seq, width].
            if x.shape[0] != 1:
                x, y = x.transpose(0, 1), y.transpose(0, 1)
                batch_first = False
            else:
                batch_first = True
            tensors[f"{key}.input"] = x.contiguous()
            tensors[f"{key}.output"] = y.contiguous()
            b16 = copy.deepcopy(blk).to(torch.bfloat16)
            xin = x if batch_first else x.transpose(0, 1)
            m16 = None if mask is None else mask.to(torch.bfloat16)
            with torch.inference_mode():
                yb = b16(xin.to(torch.bfloat16), attn_mask=m16).float()
            if not batch_first:
                yb = yb.transpose(0, 1)
            errors[key] = ((yb - y).norm() / y.norm()).item()
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "bf16_blocks.safetensors"))
    json.dump({"metric": "relative L2 error ||y_bf16 - y_f32|| / ||y_f32|| per residual block, "
                         "on the f32 model's own block input",
               "torch_bf16": errors, "text_causal": True,
               "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__}},
              open(os.path.join(OUT, "bf16_blocks.json"), "w"), indent=1)
    print(json.dumps(errors, indent=1))


if __name__ == "__main__":
    main()
