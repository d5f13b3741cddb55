"""A real recording through each model family, compared with the vectors stored for it.

Any change to decoding, loudness, a front end, the patch choice or the pooling moves these
vectors. When that is intended, bump the family's front-end version in core/constants.py (the
stored model id changes with it, so a catalog's old vectors are never ranked against new ones)
and regenerate with `.venv/bin/python tests/golden/make_expected.py`.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from core.constants import SECTIONS_PER_TRACK
from core.embedding import embed_file
from core.models import parse_model_spec

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
sys.path.insert(0, str(GOLDEN))
from make_expected import EXPECTED, GOLDEN_SPECS, RECORDING  # noqa: E402

# Well above float noise between CPUs and BLAS builds (≈1e-6), well below what a front-end
# change does to a unit vector.
TOLERANCE = 1e-3
BUMP = "bump its front-end version in core/constants.py and run tests/golden/make_expected.py"


@pytest.mark.parametrize("text", GOLDEN_SPECS)
def test_the_golden_recording_embeds_as_stored(text: str) -> None:
    stored = json.loads(EXPECTED.read_text())[text]
    spec = parse_model_spec(text)
    assert spec.model_id == stored["model_id"], f"the model id changed without new vectors: {BUMP}"
    embedding = embed_file(RECORDING, spec.load())
    assert embedding.vector.shape == (spec.vector_size,)
    assert abs(float(np.linalg.norm(embedding.vector)) - 1.0) < 1e-5
    difference = float(np.max(np.abs(embedding.vector - np.asarray(stored["vector"]))))
    assert difference < TOLERANCE, f"{text} vectors moved by {difference:.2e}: {BUMP}"
    np.testing.assert_allclose(embedding.tag_probabilities, stored["tags"], atol=TOLERANCE)
    # the section vectors live in the same space: unit rows whose mean points where the track does
    count, width = embedding.sections.shape
    assert (
        1 <= count <= min(SECTIONS_PER_TRACK, embedding.patch_count) and width == spec.vector_size
    )
    np.testing.assert_allclose(np.linalg.norm(embedding.sections, axis=1), 1.0, atol=1e-5)
    mean = embedding.sections.mean(axis=0)
    assert float(mean @ embedding.vector) / float(np.linalg.norm(mean)) > 0.99


def test_the_golden_recording_is_small_and_credited() -> None:
    assert RECORDING.stat().st_size < 300_000
    assert "CC BY 3.0" in (GOLDEN / "LICENSE.md").read_text()
