"""How a 2D toy's samples are shared out over the data's parts: base, reweighted by the critic's
density ratio, and refined. Why the EMD rises while the other toy scores improve (the toy cards).

    python tests/reference/proportions.py models/25gaussians --dgflow DGFLOW --seeds 1,2,3 \
        --out models/25gaussians/PROPORTIONS.md

For each seed, `dgflow refine` (the bundle's recommended settings, DGflow-KL, 4,096 samples)
writes each sample before and after refinement with its critic logit d. Parts: the 25 modes for
25 Gaussians (a sample within 4σ of a mode's centre counts for it), and for the Swiss roll 20
equal bands of the distance from the centre, which is the position along the roll (the data fill
them equally; a sample outside the roll's range counts for none). Each part's share of the samples
that fall in some part, as a multiple of an equal share (1 in every part for the data), gives the
columns: how much of the mass is in the wrong part (the total variation distance to equal shares:
the share of samples that would have to move to another part), how many parts hold less than half
an equal share, and the largest share. The rows: the base samples; the base samples
weighted by e^d, what exact rejection sampling with this critic would deliver (an exact log ratio
d = log p_data/p_G would make every share 1, as far as the base samples cover the parts); and the
samples after 25 steps. The toys' geometry is written here from the data's definition (as in
DOT), independently of src/data/toy2d.rs.
"""

import argparse
import csv
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tables import write_table  # noqa: E402

SAMPLES = 4096
# 25 Gaussians: centres {−4, −2, 0, 2, 4}², σ = 0.05, all divided by 2.828.
GRID_STEP, GRID_SIGMA = 2 / 2.828, 0.05 / 2.828
# Swiss roll: sklearn's make_swiss_roll, t ∈ [1.5π, 4.5π] at radius t, divided by 7.5.
ROLL_INNER, ROLL_OUTER, ROLL_BANDS = 1.5 * math.pi / 7.5, 4.5 * math.pi / 7.5, 20


def part_of(toy, x, y):
    """The index of the part (x, y) falls in, or None."""
    if toy == "25gaussians":
        i, j = round(x / GRID_STEP), round(y / GRID_STEP)
        near = math.hypot(x - i * GRID_STEP, y - j * GRID_STEP) < 4 * GRID_SIGMA
        return (i + 2) * 5 + (j + 2) if near and abs(i) <= 2 and abs(j) <= 2 else None
    band = math.floor((math.hypot(x, y) - ROLL_INNER) / (ROLL_OUTER - ROLL_INNER) * ROLL_BANDS)
    return band if 0 <= band < ROLL_BANDS else None


def imbalance(toy, points, weights):
    """Mass in the wrong part, parts under half an equal share, and the largest share."""
    parts = 25 if toy == "25gaussians" else ROLL_BANDS
    mass = np.zeros(parts)
    for (x, y), w in zip(points, weights):
        k = part_of(toy, x, y)
        if k is not None:
            mass[k] += w
    share = mass / mass.sum() * parts
    return [0.5 * np.abs(share - 1).sum() / parts, float((share < 0.5).sum()), share.max()]


def refine(dgflow, model, seed, work):
    """(base points, refined points, base logits) of one `dgflow refine` run."""
    out = Path(work) / f"seed-{seed}.csv"
    command = [dgflow, "refine", "--model", str(model), "--method", "dgflow-kl", "--seed", str(seed),
               "--batch", str(SAMPLES), "--out", str(out)]
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        sys.exit(f"{dgflow}: no such program; pass the dgflow CLI (e.g. after ./build.sh) as --dgflow")
    except subprocess.CalledProcessError as e:
        sys.exit(f"`{' '.join(command)}` failed (exit {e.returncode}); its error is above")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    base = [(float(r["x_before"]), float(r["y_before"])) for r in rows]
    after = [(float(r["x_after"]), float(r["y_after"])) for r in rows]
    return base, after, np.array([float(r["logit_before"]) for r in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dgflow", required=True, help="the dgflow CLI")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out")
    args = parser.parse_args()
    toy = args.model.name
    if toy not in ("25gaussians", "swissroll"):
        sys.exit(f"{args.model}: expected the 25gaussians or swissroll bundle (its folder's name)")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        sys.exit(f"--seeds {args.seeds}: expected whole numbers separated by commas, e.g. 1,2,3")
    rows = {"base samples": [], "base samples weighted by the critic's ratio e^d": [], "after 25 DGflow-KL steps": []}
    with tempfile.TemporaryDirectory() as work:
        for seed in seeds:
            base, after, d = refine(args.dgflow, args.model, seed, work)
            ones = np.ones(len(base))
            rows["base samples"].append(imbalance(toy, base, ones))
            rows["base samples weighted by the critic's ratio e^d"].append(imbalance(toy, base, np.exp(d - d.max())))
            rows["after 25 DGflow-KL steps"].append(imbalance(toy, after, ones))
    parts = "the 25 modes" if toy == "25gaussians" else f"{ROLL_BANDS} equal bands along the roll"
    command = f"python tests/reference/proportions.py {args.model} --dgflow <the CLI> --seeds {args.seeds}"
    heading = (f"Written by `{command}`: "
               f"{SAMPLES} samples per seed, the bundle's recommended settings; how the samples in {parts} are "
               f"shared out over them (the data: equally); mean ± sd over seeds {args.seeds}.")
    metrics = ["mass in the wrong part", "parts under ½ an equal share", "largest share (× equal)"]
    write_table(heading, "samples", metrics, rows, args.out)


if __name__ == "__main__":
    main()
