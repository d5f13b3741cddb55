"""Offline evaluation: which model and vector finds music that sounds alike, in figures.

A folder holds one sub-folder per group (an album, a soundtrack). Every track queries all the
others (same group = a right answer: precision@5/@10, mean average precision), and a 15-s excerpt
from its middle (the nearest audible stretch), re-encoded as a 64 kbps mono mp3, queries the
full-track catalog (recall@1/@5 and median rank of its own track). Each model embeds exactly as
the bot does, through the same core functions (passes.py). From the patch vectors kept per track
we derive pooled variants (mean, mean+std), each raw and standardised over the catalog, the tag
probabilities and a fusion of the two MSD models.

Models run here, in this process, one sample rate at a time; worker processes
(core.embedding_service) would decode once per model and return only the pooled vector. Patch
vectors are cached per model (by file sha256 and model id), so a rerun, or a run adding one
model, costs only what is new.

Modules, one job each: specs (which models), corpus (the grouped folder), excerpts (ffmpeg
copies), cache, runners (loaded models), passes (embedding), metrics, pooling, report, run.
This package imports core only; the bot's `eval` command and bench/ import it.
"""

from evaluation.errors import EvalUsageError
from evaluation.metrics import Report, Row
from evaluation.report import cell, format_report
from evaluation.run import evaluate_folder
from evaluation.specs import DEFAULT_SPECS, parse_specs

__all__ = [
    "DEFAULT_SPECS",
    "EvalUsageError",
    "Report",
    "Row",
    "cell",
    "evaluate_folder",
    "format_report",
    "parse_specs",
]
