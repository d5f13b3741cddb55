"""`python -m bot embed FILE...`: each file's top tags and timing; the model loads once."""

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from bot.cli.common import EXIT_FAILURES
from bot.config import Settings
from bot.numbers import number_argument
from core.errors import AudioError
from core.models import DEFAULT_MODEL, parse_model_spec


def format_tags(tags: Sequence[tuple[str, float]]) -> str:
    """`rock 0.61 · indie 0.40 · guitar 0.22`."""
    return " · ".join(f"{name} {probability:.2f}" for name, probability in tags)


def embed_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Print each file's top tags and timing; the model loads once for all files."""
    from core.embedding import embed_file, warm_up

    started = time.perf_counter()
    spec = parse_model_spec(arguments.model) if arguments.model else settings.model
    model = spec.load()
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
    return EXIT_FAILURES if failures else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    embed = commands.add_parser("embed", help="print the top tags of audio files, with timings")
    embed.add_argument("files", nargs="+", type=Path, metavar="FILE")
    embed.add_argument("--model", help=f"model spec (default: MODEL setting, else {DEFAULT_MODEL})")
    embed.add_argument(
        "--tags", type=number_argument(0, 50), default=3, help="how many tags to show (default 3)"
    )
    embed.set_defaults(handler=embed_command)
