"""What a recipe does with a bundle once `export` has written and checked it in f32: note the
check beside it, store it as the page wants it, and calibrate its critic for MH-GAN."""

import subprocess
from pathlib import Path

from .check import report


def finish(result, bundle, dgflow, encoding, written_by):
    """EXPORT.md with the check's report, then `dgflow pack --encoding ENCODING` and
    `dgflow calibrate` on `bundle`. `written_by` names the command, for EXPORT.md's first line."""
    bundle = Path(bundle)
    (bundle / "EXPORT.md").write_text(
        f"Written by `{written_by}` (the exporter's check of the f32 export, "
        f"before `dgflow pack` stores it as {encoding}):\n\n{report(result, 16)[1]}.\n"
    )
    subprocess.run([dgflow, "pack", str(bundle), "--encoding", encoding], check=True)
    subprocess.run([dgflow, "calibrate", "--model", str(bundle)], check=True)
