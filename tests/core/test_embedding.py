"""Real audio, encoded by ffmpeg, through the real pretrained model."""

from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, reencode_excerpt, synth_music

from core.constants import MAX_PATCHES_PER_TRACK, MUSICNN_SAMPLE_RATE, SECTIONS_PER_TRACK
from core.embedding import embed_audio, embed_file, fused_sections, load_for, section_vectors
from core.errors import NotAudioError, TooShortError
from core.models.musicnn import MSD_TAGS, MusicnnModel


def test_a_track_becomes_a_unit_vector_with_tags(music_file: Path, vgg_model: MusicnnModel) -> None:
    embedding = embed_file(music_file, vgg_model)
    assert embedding.model_id == "msd-vgg/pool5@fe1"
    assert embedding.vector.shape == (256,) and embedding.vector.dtype == np.float32
    assert np.linalg.norm(embedding.vector) == pytest.approx(1.0, abs=1e-5)
    assert embedding.tag_probabilities.shape == (50,)
    assert ((embedding.tag_probabilities >= 0) & (embedding.tag_probabilities <= 1)).all()
    assert embedding.tag_names == MSD_TAGS
    assert embedding.patch_count == 6  # 20 s ≈ 6.7 patches of 3 s
    assert embedding.seconds_analysed == pytest.approx(20.0, abs=0.1)
    top = embedding.top_tags(3)
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0][1] == pytest.approx(float(embedding.tag_probabilities.max()))


def test_long_tracks_spend_at_most_the_patch_budget(vgg_model: MusicnnModel) -> None:
    audio = synth_music(200.0, sample_rate=MUSICNN_SAMPLE_RATE, seed=7)
    embedding = embed_audio(audio, vgg_model)
    assert embedding.patch_count == MAX_PATCHES_PER_TRACK
    assert np.isfinite(embedding.vector).all()


def test_level_does_not_move_a_track(tmp_path: Path, vgg_model: MusicnnModel) -> None:
    music = synth_music(15.0, seed=11)
    loud = embed_file(encode(music, tmp_path / "loud.mp3"), vgg_model)
    quiet = embed_file(encode(music * 10 ** (-12 / 20), tmp_path / "quiet.mp3"), vgg_model)
    assert float(loud.vector @ quiet.vector) > 0.995


def test_an_excerpt_is_closer_to_its_track_than_other_tracks_are(
    tmp_path: Path, vgg_model: MusicnnModel
) -> None:
    tracks = [
        encode(synth_music(40.0, seed=s, base_hz=hz), tmp_path / f"t{s}.mp3", channels=2)
        for s, hz in ((1, 110.0), (2, 330.0), (3, 660.0))
    ]
    vectors = np.stack([embed_file(t, vgg_model).vector for t in tracks])
    excerpt = reencode_excerpt(tracks[1], tmp_path / "excerpt.mp3", start=12.0, seconds=15.0)
    scores = vectors @ embed_file(excerpt, vgg_model).vector
    assert int(np.argmax(scores)) == 1


def test_a_clip_is_closest_to_the_section_it_was_cut_from(
    tmp_path: Path, vgg_model: MusicnnModel
) -> None:
    """A track whose second half differs from its first: the track's mean sits between the
    halves, the sections of the second half hold a clip cut from it."""
    low = synth_music(60.0, seed=4, base_hz=110.0)
    high = synth_music(60.0, seed=5, base_hz=880.0, note_seconds=0.125, harmonics=3)
    track = encode(np.concatenate([low, high]), tmp_path / "two_halves.mp3")
    embedding = embed_file(track, vgg_model)
    assert embedding.sections.shape == (SECTIONS_PER_TRACK, 256)
    assert embedding.sections.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embedding.sections, axis=1), 1.0, atol=1e-5)
    clip = embed_file(reencode_excerpt(track, tmp_path / "clip.mp3", 85.0, 15.0), vgg_model)
    by_section = embedding.sections @ clip.vector
    whole = float(embedding.vector @ clip.vector)
    print(f"\nclip vs sections {np.round(by_section, 3)}, vs the track {whole:.3f}")
    assert int(np.argmax(by_section)) >= SECTIONS_PER_TRACK // 2  # a second-half section
    assert by_section.max() > whole


def test_section_vectors_are_the_unit_means_of_consecutive_patches() -> None:
    patches = np.array([[1, 0], [3, 0], [0, 2], [0, 1], [1, 1]], np.float32)
    # patches 0–2 (mean (4/3, 2/3)) and 3–4 (mean (1/2, 1)), each brought to unit length
    unit = 5**-0.5
    np.testing.assert_allclose(section_vectors(patches, 2), [[2 * unit, unit], [unit, 2 * unit]])
    assert section_vectors(patches, 9).shape == (5, 2)  # no more sections than patches
    joined = fused_sections([patches, np.array([[0, 0, 5], [4, 0, 0]], np.float32)])
    assert joined.shape == (2, 5)  # as many sections as the part with fewest patches
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(joined[0] * 2**0.5, [2 * unit, unit, 0, 0, 1], atol=1e-6)


def test_clipping_loud_audio_gives_finite_vectors(vgg_model: MusicnnModel) -> None:
    t = np.arange(10 * MUSICNN_SAMPLE_RATE) / MUSICNN_SAMPLE_RATE
    square = np.sign(np.sin(2 * np.pi * 80 * t)).astype(np.float32)
    embedding = embed_audio(square, vgg_model)
    assert np.isfinite(embedding.vector).all() and np.isfinite(embedding.tag_probabilities).all()


def test_bad_input_raises_typed_errors(tmp_path: Path, vgg_model: MusicnnModel) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(NotAudioError):
        embed_file(text, vgg_model)
    with pytest.raises(TooShortError):
        embed_audio(np.ones(MUSICNN_SAMPLE_RATE, np.float32) * 0.1, vgg_model)


def test_every_format_reaches_the_model(tmp_path: Path, vgg_model: MusicnnModel) -> None:
    music = synth_music(8.0, seed=21)
    reference = embed_file(encode(music, tmp_path / "a.wav"), vgg_model).vector
    for suffix in (".mp3", ".ogg", ".m4a", ".flac"):
        vector = embed_file(encode(music, tmp_path / f"a{suffix}"), vgg_model).vector
        assert float(vector @ reference) > 0.97, suffix


def test_a_track_is_loudness_normalised_before_features(
    tmp_path: Path, vgg_model: MusicnnModel
) -> None:
    quiet = encode(0.02 * synth_music(5.0), tmp_path / "q.flac")
    audio = load_for(quiet, vgg_model)
    assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) == pytest.approx(0.1, rel=0.05)
