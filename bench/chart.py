#!/usr/bin/env python3
"""Draws the bench's ratios to the ceiling as a bar chart (SVG), from the rows bench/lib/report.sh keeps.

usage: bench/chart.py ROWS.tsv OUT.svg "title"
ROWS.tsv: one load a line, tab-separated as report.sh's ROWS (scenario, Tally/s, ceiling/s, ratio, ...); rows
without a ratio (nothing beside them) are left out. The batch loads (scenarios named batch...) are drawn below
the others under a heading of their own: their ratio is transfers/s to the ceiling's batch mode.
Plain SVG, no plotting library: a few rectangles and labels.
"""

import sys
from html import escape

BAR, GAP, LEFT, TOP, WIDTH = 22, 10, 150, 46, 420
HEADING = 28  # room for the batches' heading


def main(rows_path: str, out_path: str, title: str) -> None:
    bars = []
    with open(rows_path, encoding="utf-8") as rows:
        for line in rows:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            try:
                bars.append((fields[0], float(fields[3])))
            except ValueError:
                continue  # "-": nothing beside this load
    singles = [bar for bar in bars if not bar[0].startswith("batch")]
    batches = [bar for bar in bars if bar[0].startswith("batch")]
    height = TOP + len(bars) * (BAR + GAP) + (HEADING if batches else 0) + 30
    scale = WIDTH / max([1.0] + [ratio for _, ratio in bars])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 80}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<text x="10" y="20" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="36" fill="#555">Tally\'s rate as a ratio to the ceiling measured in the same run</text>',
    ]
    y = TOP
    for group, heading in ((singles, None), (batches, "batches: transfers/s to the ceiling's batch mode (--batch N)")):
        if not group:
            continue
        if heading:
            parts.append(f'<text x="10" y="{y + HEADING - 10}" fill="#555">{escape(heading)}</text>')
            y += HEADING
        for name, ratio in group:
            parts.append(f'<text x="{LEFT - 8}" y="{y + BAR - 6}" text-anchor="end">{escape(name)}</text>')
            parts.append(f'<rect x="{LEFT}" y="{y}" width="{ratio * scale:.1f}" height="{BAR}" fill="#3a6ea5"/>')
            parts.append(f'<text x="{LEFT + ratio * scale + 6:.1f}" y="{y + BAR - 6}">{ratio:.2f}</text>')
            y += BAR + GAP
    one = LEFT + scale
    parts.append(f'<line x1="{one:.1f}" y1="{TOP - 4}" x2="{one:.1f}" y2="{height - 24}" stroke="#b33" '
                 f'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{one:.1f}" y="{height - 8}" text-anchor="middle" fill="#b33">1.0 = the ceiling</text>')
    parts.append("</svg>")
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
