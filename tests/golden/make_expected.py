"""Write tests/golden/expected.json: the golden recording's vectors from each model family.

    .venv/bin/python tests/golden/make_expected.py

Run it only after bumping a front-end version in core/constants.py for a change that moves the
vectors on purpose; tests/core/test_golden.py then checks the new id and vectors.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.embedding import embed_file
from core.models import parse_model_spec

HERE = Path(__file__).resolve().parent
RECORDING = HERE / "warm_ink_excerpt.mp3"
EXPECTED = HERE / "expected.json"
# One spec per front-end version in core/constants.py (musicnn, mfcc, seed, aisfx, fusion).
GOLDEN_SPECS = (
    "msd-vgg/pool5",
    "msd-musicnn/penultimate",
    "mfcc",
    "seed-random",
    "aisfx",
    "fusion:aisfx+msd-vgg",
)


def golden_vectors(specs: tuple[str, ...] = GOLDEN_SPECS) -> dict[str, dict[str, object]]:
    """Each golden spec's model id, vector and tag probabilities for the recording."""
    result: dict[str, dict[str, object]] = {}
    for text in specs:
        embedding = embed_file(RECORDING, parse_model_spec(text).load())
        result[text] = {
            "model_id": embedding.model_id,
            "vector": [round(float(x), 6) for x in embedding.vector],
            "tags": [round(float(x), 6) for x in embedding.tag_probabilities],
        }
    return result


if __name__ == "__main__":
    # `make_expected.py SPEC…` (re)writes only those specs' entries, keeping the others
    only = tuple(sys.argv[1:]) or GOLDEN_SPECS
    stored = json.loads(EXPECTED.read_text()) if EXPECTED.is_file() else {}
    stored.update(golden_vectors(only))
    EXPECTED.write_text(json.dumps(stored, indent=1) + "\n")
    print(f"wrote {EXPECTED}")
