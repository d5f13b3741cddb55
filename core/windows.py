"""Which stretches of a track a windowed model analyses, chosen from its duration alone.

A windowed model (the fusion, `core.models.fusion`) answers a query without the whole track:
each of its networks looks at a few evenly spaced stretches of about 3 s, fixed by the duration
the header gives and decoded one by one (`core.audio.decode_windows`, one ffmpeg process seeking
to each). Short tracks, and files whose header gives no trustworthy duration, are decoded whole
and embedded as the catalog's tracks are.

Every decoded window is `lead` + `span` + `tail` samples: the analysed `span` plus margins. The
lead absorbs what a decoder gets wrong right after a seek (an mp3 frame decoded without its bit
reservoir: measured < 2,000 samples at 44.1 kHz) and both margins absorb the edges of the
in-process resampler. Models read the span only.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.constants import (
    WINDOW_LEAD_SECONDS,
    WINDOW_LEVEL_COUNT,
    WINDOW_SLOTS,
    WINDOW_SPAN_SECONDS,
    WINDOW_TAIL_SECONDS,
)
from core.patch_selection import evenly_spaced


@dataclass(frozen=True)
class WindowPlan:
    """Where a track's windows are: `starts` (samples at `rate`, each window's first decoded
    sample), each `length` samples long, of which [lead, lead + span) is analysed."""

    rate: int
    starts: tuple[int, ...]
    lead: int
    span: int
    tail: int

    @property
    def length(self) -> int:
        return self.lead + self.span + self.tail

    @property
    def count(self) -> int:
        return len(self.starts)

    def seconds(self, index: int) -> float:
        """Where window `index`'s decoding starts, in seconds (exact to the sample)."""
        return self.starts[index] / self.rate


def window_sizes(rate: int) -> tuple[int, int, int]:
    """(lead, span, tail) in samples at `rate`."""
    return (
        round(WINDOW_LEAD_SECONDS * rate),
        math.ceil(WINDOW_SPAN_SECONDS * rate),
        round(WINDOW_TAIL_SECONDS * rate),
    )


def plan_windows(samples: int, rate: int, slots: int = WINDOW_SLOTS) -> WindowPlan:
    """At most `slots` windows spread evenly over a track of `samples` samples at `rate`.

    As many as fit without overlapping, first at the start, last ending at the end; a track
    shorter than one window but at least one span long gets one window (cut from the whole
    decode and zero-padded); a shorter one gets none.
    """
    lead, span, tail = window_sizes(rate)
    length = lead + span + tail
    if samples < span:
        return WindowPlan(rate, (), lead, span, tail)
    count = max(1, min(slots, samples // length))
    last = max(0, samples - length)
    if count == 1:
        starts: tuple[int, ...] = (0,)
    else:
        starts = tuple(round(i * last / (count - 1)) for i in range(count))
    return WindowPlan(rate, starts, lead, span, tail)


def level_windows(count: int) -> npt.NDArray[np.intp]:
    """The windows a track's level is measured on: WINDOW_LEVEL_COUNT evenly spaced ones."""
    return evenly_spaced(count, WINDOW_LEVEL_COUNT)


def part_windows(count: int, cap: int) -> npt.NDArray[np.intp]:
    """The windows a part with `cap` reads of a plan's `count`: below WINDOW_LEVEL_COUNT, an
    evenly spaced subset of the level windows (so that nothing more is decoded), else
    `evenly_spaced(count, cap)` (which holds the level windows when cap is a multiple)."""
    level = level_windows(count)
    if cap < level.shape[0]:
        return level[evenly_spaced(level.shape[0], cap)]
    return evenly_spaced(count, cap)


def used_windows(count: int, caps: tuple[int, ...]) -> npt.NDArray[np.intp]:
    """The windows some part reads (`part_windows` of each cap), with the level windows."""
    chosen = [part_windows(count, cap) for cap in caps] + [level_windows(count)]
    return np.unique(np.concatenate(chosen))


@dataclass(frozen=True)
class Windows:
    """A track's decoded windows: `audio` (len(indices), plan.length) mono float32 at
    plan.rate, window `indices[k]` of `plan` in row k; `duration`: the track's seconds (as
    analysed: at most MAX_ANALYSIS_SECONDS)."""

    plan: WindowPlan
    indices: npt.NDArray[np.intp]
    audio: npt.NDArray[np.float32]
    duration: float

    def spans(self, indices: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        """The analysed spans of windows `indices` (of the plan), (len(indices), span)."""
        rows = np.searchsorted(self.indices, indices)
        if not np.array_equal(self.indices[rows], indices):
            raise ValueError("a window that was not decoded")
        lead = self.plan.lead
        return self.audio[rows, lead : lead + self.plan.span]

    def rows(self, indices: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        """Whole decoded windows `indices` (of the plan), margins included."""
        rows = np.searchsorted(self.indices, indices)
        if not np.array_equal(self.indices[rows], indices):
            raise ValueError("a window that was not decoded")
        return self.audio[rows]
