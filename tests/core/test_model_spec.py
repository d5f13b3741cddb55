"""One grammar for model specs: canonical names, ids with the front-end version, refusals."""

import pytest

from core.constants import MUSICNN_SAMPLE_RATE, SEED_SAMPLE_RATE
from core.models import DEFAULT_MODEL, UnknownModelError, parse_model_spec
from core.models.base import AudioModel


@pytest.mark.parametrize(
    ("text", "name", "size", "rate"),
    [
        (" msd-vgg ", "msd-vgg/pool5", 256, MUSICNN_SAMPLE_RATE),
        ("msd-musicnn", "msd-musicnn/penultimate", 200, MUSICNN_SAMPLE_RATE),
        ("msd-musicnn/mean_max_pool", "msd-musicnn/mean_max_pool", 1506, MUSICNN_SAMPLE_RATE),
        ("seed-random:0", "seed-random", 32, SEED_SAMPLE_RATE),
        ("seed-random:3", "seed-random:3", 32, SEED_SAMPLE_RATE),
        ("mfcc", "mfcc", 104, MUSICNN_SAMPLE_RATE),
    ],
)
def test_specs_have_one_spelling(text: str, name: str, size: int, rate: int) -> None:
    spec = parse_model_spec(text)
    assert (spec.name, spec.vector_size, spec.sample_rate) == (name, size, rate)
    assert parse_model_spec(spec.name) == spec


def test_the_model_id_carries_the_front_end_version() -> None:
    assert parse_model_spec(DEFAULT_MODEL).model_id == "fusion:aisfx+msd-vgg/pool5@fe3"
    spec = parse_model_spec("msd-vgg/pool5")
    assert spec.model_id == "msd-vgg/pool5@fe1"
    # vectors stored before ids carried the version are the same vectors: adopted, not redone
    assert spec.previous_ids == ("msd-vgg/pool5",)
    assert parse_model_spec("seed-random:2").model_id == "seed-random-2@fe1"


def test_near_duplicate_thresholds_are_per_model() -> None:
    assert parse_model_spec("msd-vgg").near_duplicate_similarity == 0.98
    # nobody tuned one for these: they never claim that a query is a catalog track
    assert parse_model_spec("msd-musicnn").near_duplicate_similarity is None
    assert parse_model_spec("mfcc").near_duplicate_similarity is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("msd-vgg/pool9", "has no layer 'pool9'"),
        ("mtt-vgg", "unknown model 'mtt-vgg'; known: msd-vgg, msd-musicnn"),
        ("seed-random:x", "whole number seed"),
        ("seed-random:²", "whole number seed"),
        ("", "unknown model ''"),
    ],
)
def test_unknown_specs_are_refused_with_the_known_ones(text: str, message: str) -> None:
    with pytest.raises(UnknownModelError, match=message):
        parse_model_spec(text)


def test_the_spec_describes_the_model_it_loads(vgg_model: AudioModel) -> None:
    spec = parse_model_spec("msd-vgg/pool5")
    assert vgg_model.model_id == spec.model_id
    assert (vgg_model.embedding_dim, vgg_model.sample_rate) == (spec.vector_size, spec.sample_rate)
    mfcc = parse_model_spec("mfcc").load()
    assert (mfcc.model_id, mfcc.embedding_dim) == ("mfcc-stats@fe1", 104)


def test_aisfx_and_the_fusion_are_specs_of_their_own() -> None:
    aisfx = parse_model_spec("aisfx")
    assert (aisfx.model_id, aisfx.sample_rate, aisfx.vector_size) == ("aisfx@fe1", 44_100, 512)
    assert aisfx.max_patches == 12 and not aisfx.standardised
    fused = parse_model_spec(" fusion:aisfx+msd-vgg ")
    assert fused.name == "fusion:aisfx+msd-vgg/pool5"
    assert fused.model_id == "fusion:aisfx+msd-vgg/pool5@fe3"
    assert fused.part_sizes == (512, 256) and fused.vector_size == 768
    assert fused.sample_rate == 44_100 and fused.standardised
    assert parse_model_spec("msd-vgg").part_sizes == (256,)
    for bad in ("fusion:aisfx", "fusion:aisfx+mfcc", "fusion:aisfx+aisfx", "fusion:nope+aisfx"):
        with pytest.raises(UnknownModelError):
            parse_model_spec(bad)
