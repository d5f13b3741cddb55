"""The command line: `python -m bot COMMAND ...`.

Each command opens what it needs (model, database) once, does its work and closes it again;
errors a user can fix are printed as one line, with a non-zero exit status, never a traceback.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from core.errors import AudioError, ModelFileError
from core.models import DEFAULT_MODEL, load_model


def format_tags(tags: Sequence[tuple[str, float]]) -> str:
    """`rock 0.61 · indie 0.40 · guitar 0.22`."""
    return " · ".join(f"{name} {probability:.2f}" for name, probability in tags)


def embed_command(arguments: argparse.Namespace) -> int:
    """Print each file's top tags and timing; the model loads once for all files."""
    from core.embedding import embed_file, warm_up

    started = time.perf_counter()
    model = load_model(arguments.model)
    warm_up(model)
    print(f"model {model.model_id} loaded in {time.perf_counter() - started:.1f} s", flush=True)
    failures = 0
    for path in arguments.files:
        started = time.perf_counter()
        try:
            embedding = embed_file(path, model)
        except AudioError as error:
            failures += 1
            print(f"{path}\terror: {error.reason}", flush=True)
            continue
        seconds = time.perf_counter() - started
        tags = format_tags(embedding.top_tags(arguments.tags)) or f"{model.embedding_dim}-d vector"
        print(f"{path}\t{tags}\t{seconds:.2f} s", flush=True)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Soundalike: find music that sounds like a track."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    embed = commands.add_parser("embed", help="print the top tags of audio files, with timings")
    embed.add_argument("files", nargs="+", type=Path, metavar="FILE")
    embed.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    embed.add_argument("--tags", type=int, default=3, help="how many tags to show (default 3)")
    embed.set_defaults(handler=embed_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(arguments.handler(arguments))
    except (ModelFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
