#!/usr/bin/env python3
"""Write a full Sentinel-2 tile sized test scene for `kestrel bench-index`: a GDAL VRT of
10980 x 10980 px, 12 Int16 bands in MajorTOM L2A order (B01..B12 without B10, named in the
band descriptions), made by tiling the five MS-CLIP example chips 49 x 49 times (plus the
4 px edge). No pixel is copied: the VRT points at the chips, so it costs nothing on disk.

Usage: python3 packaging/bench/big_scene_vrt.py OUT.vrt [CHIP_DIR]
(CHIP_DIR defaults to tests/fixtures/chips next to this script's repository.)
"""
import os
import sys
from xml.sax.saxutils import escape

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
SIZE, CHIP = 10980, 224


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    chip_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "tests", "fixtures", "chips")
    chips = sorted(os.path.abspath(os.path.join(chip_dir, f)) for f in os.listdir(chip_dir) if f.endswith(".tif"))
    if not chips:
        sys.exit(f"no .tif chips in {chip_dir}")
    n = (SIZE + CHIP - 1) // CHIP  # 50 placements per side, the last 4 px wide
    lines = [f'<VRTDataset rasterXSize="{SIZE}" rasterYSize="{SIZE}">',
             "  <SRS>EPSG:32632</SRS>",
             "  <GeoTransform>499980, 10, 0, 6400020, 0, -10</GeoTransform>"]
    for b, name in enumerate(BANDS, start=1):
        lines.append(f'  <VRTRasterBand dataType="Int16" band="{b}">')
        lines.append(f"    <Description>{name}</Description>")
        for i in range(n):
            for j in range(n):
                chip = chips[(i * n + j) % len(chips)]
                w = min(CHIP, SIZE - j * CHIP)
                h = min(CHIP, SIZE - i * CHIP)
                lines.append(
                    f'    <SimpleSource><SourceFilename relativeToVRT="0">{escape(chip)}</SourceFilename>'
                    f"<SourceBand>{b}</SourceBand>"
                    f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
                    f'<DstRect xOff="{j * CHIP}" yOff="{i * CHIP}" xSize="{w}" ySize="{h}"/></SimpleSource>'
                )
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}: {SIZE}x{SIZE} px, {len(BANDS)} bands, {n * n} placements of {len(chips)} chips")


if __name__ == "__main__":
    main()
