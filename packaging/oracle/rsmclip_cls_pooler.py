"""Seeded references for an RS-M-CLIP-layout model whose XLM-R text tower pools with open_clip's
`cls_pooler` (the transformers pooler: tanh(dense(h[<s>])), the tower built with
add_pooling_layer=True), made by ../shared/oracle/rgb/rgbclip_oracle.py itself: this only adds
"RSMCLIP-Tiny-ClsPooler" (RSMCLIP-Tiny's config with hf_pooler_type "cls_pooler") to its model
table and runs it, so every key is the one ORACLE-RGB.md explains.

No released model uses it (RS-M-CLIP pools by mean), and open_clip 3.3.0's `max_pooler` cannot run
at all (it hands masked_fill an int64 mask, which torch refuses), so this is the one HF pooler left
to check. Usage (packaging/oracle.sh runs it):

    python rsmclip_cls_pooler.py --shared ../shared/oracle/rgb --out-root /tmp/oracle-rgb
"""
import argparse
import copy
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--shared", required=True, help="the folder of rgbclip_oracle.py")
ap.add_argument("--out-root", required=True)
args = ap.parse_args()
shared = os.path.abspath(args.shared)
out_root = os.path.abspath(args.out_root)
sys.path.insert(0, shared)
os.chdir(shared)
import rgbclip_oracle as o  # noqa: E402

NAME = "RSMCLIP-Tiny-ClsPooler"
cfg = copy.deepcopy(o.TINY_CONFIGS["RSMCLIP-Tiny"])
cfg["text_cfg"]["hf_pooler_type"] = "cls_pooler"
o.TINY_CONFIGS[NAME] = cfg
o.MODELS[NAME] = dict(family="rsmclip", arch=NAME, hf=o.XLMR_TINY_CONFIG)
o.DEFAULT_SET.append(NAME)
sys.argv = [o.__file__, "--seed", "0", "--models", NAME, "--xlmr-tokenizer", "xlmr-test-tokenizer.json",
            "--out-root", out_root]
o.main()
