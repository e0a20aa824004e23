"""The markdown tables the reference's analysis scripts write beside a card (saturation.py,
corrector.py): one row per variant, each cell the mean ± sample sd over seeds."""

from pathlib import Path

import numpy as np


def cell(values):
    """Mean ± sd over seeds ("–" where a value is undefined, the mean alone for one seed)."""
    if np.isnan(values).any():
        return "–"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def write_table(heading, label, metrics, rows, out=None):
    """`heading`, then a table with a `label` column and one column per metric; `rows` maps each
    row's name to its per-seed lists of values, in the metrics' order. Printed, and written to
    `out` when given."""
    lines = [heading, "", f"| {label} | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, per_seed in rows.items():
        lines.append(f"| {name} | " + " | ".join(cell([r[i] for r in per_seed]) for i in range(len(metrics))) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        Path(out).write_text(text)
