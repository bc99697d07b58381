"""Record the SHA-256 of every weights file in a checkpoint folder's ``manifest.json`` (its ``sha256`` entry).

Recipes record them when they save (:func:`humo_lite.recipes.save_pipeline`, the VAE's ``save_vae``);
this adds them to folders written before manifests carried checksums. Loading checks them
(:func:`humo_lite.io.verify_checksums`, called by every ``from_pretrained`` / ``load_vae`` / ``load_judge``).

    python scripts/record_checksums.py                      # every shipped folder in data_samples/checkpoints
    python scripts/record_checksums.py outputs/humo-micro/pipeline
"""

import sys
from pathlib import Path

from humo_lite.io import record_checksums
from humo_lite.shipped import data_samples_dir

if __name__ == "__main__":
    folders = [Path(a) for a in sys.argv[1:]] or sorted(
        p for p in (data_samples_dir() / "checkpoints").iterdir() if (p / "manifest.json").is_file())
    for folder in folders:
        sums = record_checksums(folder)
        print(f"{folder}: {len(sums)} weights file(s) recorded")
