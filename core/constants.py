"""Every audio and analysis constant of the project, named once.

Model front ends, the decoder's guard rails and the patch budget all read from here, so a change
of one number is a change in one place (and a new model id where it changes the vectors).
"""

from typing import Final

# --- musicnn models (MSD_vgg, MSD_musicnn): the values the checkpoints were trained with -------
MUSICNN_SAMPLE_RATE: Final = 16_000
MUSICNN_FFT_SIZE: Final = 512
MUSICNN_HOP: Final = 256
MUSICNN_MEL_BANDS: Final = 96
MUSICNN_PATCH_FRAMES: Final = 187  # librosa.time_to_frames(3 s) + 1: ≈ 3 s of audio per patch
MUSICNN_LOG_GAIN: Final = 10_000.0  # features are log10(MUSICNN_LOG_GAIN · mel + 1)
# The embedding layers of the two MSD checkpoints and their widths; an architecture's first layer
# is the one its spec names without a layer ("msd-vgg" is "msd-vgg/pool5", core/models/spec.py).
# "mean_max_pool" is mean_pool followed by max_pool.
MUSICNN_LAYERS: Final[dict[str, dict[str, int]]] = {
    "msd-vgg": {"pool5": 256},
    "msd-musicnn": {"penultimate": 200, "mean_pool": 753, "max_pool": 753, "mean_max_pool": 1506},
}

# --- the seed-compatible CNN (the original project's Model.h5) ---------------------------------
SEED_SAMPLE_RATE: Final = 44_100
SEED_FFT_SIZE: Final = 2048  # librosa's default, as the original used
SEED_HOP: Final = 512  # librosa's default, as the original used
SEED_MEL_BANDS: Final = 128
SEED_MEL_FMAX: Final = 8_000.0
SEED_TILE_FRAMES: Final = 128  # 128×128 grey images ≈ 1.5 s each

# --- aisfx (A.B. Ma and A. Lerch's CNN9 trained on sound-effects libraries): its front end -----
AISFX_SAMPLE_RATE: Final = 44_100
AISFX_FFT_SIZE: Final = 2048
AISFX_HOP: Final = 1024
AISFX_MEL_BANDS: Final = 96  # HTK mel scale, each filter normalised to unit area, 0–22050 Hz
AISFX_MEL_FMAX: Final = 22_050.0
AISFX_LOG_GAIN: Final = 10_000.0  # features are log10(AISFX_LOG_GAIN · mel + 1) / AISFX_LOG_SCALE
AISFX_LOG_SCALE: Final = 9.457798957824707  # the package's "original" min-max normalisation
AISFX_BLOCK_FRAMES: Final = 100  # 100 frames ≈ 2.32 s per block
AISFX_MAX_BLOCKS_PER_TRACK: Final = 12  # evenly spaced, like the musicnn patches (docs/quality.md)

# --- clips: naming the track a short recording comes from ------------------------------------
# A track's vector is the mean over the whole track, so a 15-s clip of it can sit closer to
# another track's mean than to its own. Each track also keeps SECTIONS_PER_TRACK section vectors
# (the means of consecutive groups of its patches); a query analysed for at most CLIP_SECONDS
# is a clip, and the best section match among its CLIP_CANDIDATES best-ranked tracks leads its
# answer. Dev corpus, fusion: excerpt recall@1 .901 → .962 (docs/quality.md "Clips").
SECTIONS_PER_TRACK: Final = 6
CLIP_SECONDS: Final = 30.0
CLIP_CANDIDATES: Final = 100

# --- decoding guard rails ----------------------------------------------------------------------
MIN_TRACK_SECONDS: Final = 3.0  # shorter clips cannot fill one patch
MAX_ANALYSIS_SECONDS: Final = 600.0  # decoding stops here, whatever length the file claims
DECODE_TIMEOUT_SECONDS: Final = 60.0  # wall clock for one ffmpeg run
SILENCE_RMS: Final = 10 ** (-60 / 20)  # below −60 dBFS overall a track counts as silent
# What a file's header may claim before ffmpeg is run on it: ffmpeg sizes its buffers by these,
# so a 400 KB flac claiming 1 Hz made it allocate 5 GB. AMR voice is 8 kHz, studio masters
# reach 384 kHz; more than 7.1 channels is no music file.
MIN_SOURCE_SAMPLE_RATE: Final = 4_000
MAX_SOURCE_SAMPLE_RATE: Final = 384_000
MAX_SOURCE_CHANNELS: Final = 8
# Address-space ceiling (RLIMIT_AS) of every ffmpeg run, the bound for the bombs a header check
# cannot see. Debian's ffmpeg 5.1 maps about 280 MB, mostly shared libraries, decoding a
# 10-minute 44.1 kHz stereo mp3 or a 384 kHz 8-channel flac single-threaded; resident it stays
# near 60 MB. 512 MiB leaves ~230 MB for a build that links more libraries.
FFMPEG_MEMORY_CEILING_BYTES: Final = 512 * 2**20

# --- windows: what a windowed model (the fusion) decodes of a track (core/windows.py) ----------
# Up to WINDOW_SLOTS evenly spaced stretches, placed by the track's duration; each model reads
# the evenly spaced `cap` of them, so only those are decoded (one ffmpeg process seeking to each).
WINDOW_SLOTS: Final = 24
# The analysed stretch: one musicnn patch, (187 − 1) · 256 + 512 samples at 16 kHz, which holds
# one aisfx block (2.345 s) in its middle.
WINDOW_SPAN_SECONDS: Final = 3.008
# Decoded before and after the span and thrown away: the lead covers an mp3 frame decoded without
# its bit reservoir right after a seek (< 2,000 samples at 44.1 kHz, tests/core/test_windows.py),
# both cover the edges of the in-process resampler.
WINDOW_LEAD_SECONDS: Final = 0.1
WINDOW_TAIL_SECONDS: Final = 0.05
# The level (RMS for MSD_vgg's loudness normalisation, peak for aisfx) of a query's windows is
# measured over this many evenly spaced windows: those both parts read, so nothing else is decoded.
WINDOW_LEVEL_COUNT: Final = 8
# A query's windows each part reads (evenly spaced among the level windows). The catalog side
# reads each part's own budget of the whole track (AISFX_MAX_BLOCKS_PER_TRACK blocks,
# MAX_PATCHES_PER_TRACK patches): on the development corpus 8 + 8 query windows against that
# catalog keep P@10 and mAP (6 + 6 lose .014 P@10), and the dense catalog keeps excerpt recall.
FUSION_AISFX_BLOCKS: Final = 8
FUSION_MSD_PATCHES: Final = 8
# Windows are decoded one by one only when they are at most this share of the track; a shorter
# track is decoded whole and cut (the same windows, so the same vector up to float rounding).
WINDOWED_DECODE_MAX_SHARE: Final = 0.5
# A windowed ffmpeg run opens the file once per window, one demuxer thread each: glibc's malloc
# arena per thread (64 MB of address space each) and 8 MB stacks would hit the memory ceiling at
# about 12 windows, so those runs get one arena and 2 MB stacks (48 windows fit, measured).
WINDOWED_FFMPEG_STACK_BYTES: Final = 2 * 2**20

# --- embedding workers ------------------------------------------------------------------------
# A worker whose parent is gone exits: at once on Linux (the kernel's parent-death signal), else
# within this many seconds (a thread watching its parent pid).
WORKER_PARENT_POLL_SECONDS: Final = 1.0

# --- loudness: every track is brought to this RMS level before features ----------------------
TARGET_RMS: Final = 10 ** (-20 / 20)  # −20 dBFS
PEAK_LIMIT: Final = 1.0  # after the gain, samples are clipped to ±PEAK_LIMIT

# --- patch budget: which stretches of a track are embedded -------------------------------------
# A 4-minute track has 80 musicnn patches; embedding evenly spaced ones up to this cap keeps
# the CPU cost per track bounded (see bench/ and the eval command for the quality it costs).
MAX_PATCHES_PER_TRACK: Final = 24

# --- front-end versions: part of every stored model id (core/models/spec.py) ----------------------
# Bump a model family's version with any change that alters the vectors it makes: decoding,
# loudness, its features, the patch choice or the pooling. The new id keeps the new vectors apart
# from a catalog's old ones; tests/core/test_golden.py fails until the version moves.
MUSICNN_FRONT_END: Final = 1
SEED_FRONT_END: Final = 1
MFCC_FRONT_END: Final = 1
AISFX_FRONT_END: Final = 1
# A fusion decodes once at its highest rate and resamples in-process for the other parts, so
# its parts' vectors differ slightly from theirs alone: its own version, bumped with any part's.
# 2: windowed (core/windows.py) on both sides. 3: the catalog side embeds the whole track, each
# part with its own budget and the whole track's level; only a query (the bot answering a user)
# reads FUSION_AISFX_BLOCKS + FUSION_MSD_PATCHES windows, the level theirs.
FUSION_FRONT_END: Final = 3
