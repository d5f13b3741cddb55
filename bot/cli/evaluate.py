"""`python -m bot eval DIR`: the command line of the offline evaluation (evaluation/).

Only the arguments, the default cache folder (beside DATABASE_PATH) and the output live here;
what is measured and how is the evaluation package's.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from bot.cli.common import EXIT_FAILURES, EXIT_USAGE
from bot.config import Settings
from core.audio import ffmpeg_binary
from core.errors import ModelFileError
from evaluation import (
    DEFAULT_SPECS,
    EvalUsageError,
    cell,
    evaluate_folder,
    format_report,
    parse_specs,
)
from evaluation.excerpts import REENCODE_BITRATE, REENCODE_EVERY


async def eval_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """`eval DIR [--models A,B] [--json] [--duplicates] [--cache DIR]`."""
    started = time.perf_counter()
    try:
        ffmpeg_binary()
        specs = parse_specs(arguments.models)
        cache_dir = arguments.cache or settings.database_path.parent / "eval-cache"
        report = await evaluate_folder(arguments.folder, specs, cache_dir, arguments.duplicates)
    except (EvalUsageError, ModelFileError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not report.rows:
        print(
            f"error: fewer than two tracks of {arguments.folder} could be analysed", file=sys.stderr
        )
        for path, reason in report.left_out:
            print(f"  left out: {path}: {reason}", file=sys.stderr)
        return EXIT_FAILURES
    seconds = time.perf_counter() - started
    if arguments.json:
        print(json.dumps([row.as_json() for row in report.rows], ensure_ascii=False, indent=2))
        print(
            f"{report.tracks} tracks in {report.groups} groups, chance P@10 "
            f"{cell(report.chance_p_at_10)}, {seconds:.1f} s",
            file=sys.stderr,
        )
        for path, reason in report.left_out:
            print(f"left out: {path}: {reason}", file=sys.stderr)
    else:
        print(format_report(report, arguments.folder, arguments.duplicates))
        print(f"\n{seconds:.1f} s")
    return EXIT_FAILURES if report.left_out else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "eval", help="compare models on a folder with one sub-folder per album or soundtrack"
    )
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_SPECS),
        help=f"comma-separated model specs (default: {','.join(DEFAULT_SPECS)})",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--duplicates",
        action="store_true",
        help=f"also re-encode every {REENCODE_EVERY}th track at {REENCODE_BITRATE}bps for the "
        "near-duplicate threshold figures",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="where per-model results are kept (default: eval-cache beside DATABASE_PATH)",
    )
    parser.set_defaults(handler=eval_command)
