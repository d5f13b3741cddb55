"""`python -m bot recommend FILE [--top N] [--json]`: the list the bot would send for FILE."""

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import EXIT_FAILURES, embedder, open_database, shown
from bot.cli.embed import format_tags
from bot.config import Settings
from bot.numbers import number_argument
from catalog.links import track_url
from catalog.names import printable
from core.errors import AudioError
from storage import Track

if TYPE_CHECKING:  # imported when a command runs: `--help` need not load them
    from catalog.recommender import Answer, Recommendation, Recommender

TOP_MAX = 100  # the stored ranking keeps 100 tracks (catalog.recommender.RESULTS_KEPT)


def track_json(track: Track) -> dict[str, object]:
    return {
        "track_id": track.id,
        "artist": track.artist,
        "title": track.title,
        "url": track_url(track),
    }


async def recommend_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """The ranked list the bot would send for FILE, printed (or as JSON)."""
    from catalog.recommender import Recommender
    from catalog.serving import adopt_previous_vectors, serving_model

    async with open_database(settings, writes=False) as database:
        if not database.read_only:  # adopting renames vectors: a write
            await adopt_previous_vectors(database, settings.model)
        # the model the bot answers with, so that both give the same list
        model, serving = await serving_model(database, settings.model)
        if model != settings.model:
            print(serving, file=sys.stderr)
        async with embedder(settings, workers=1, model=model) as service:
            answer, items = await _recommend(Recommender(database, service, model), arguments)
    if answer is None:
        return EXIT_FAILURES
    return _print_recommendations(arguments, answer, items)


async def _recommend(
    recommender: "Recommender", arguments: argparse.Namespace
) -> tuple["Answer | None", list["Recommendation"]]:
    """The answer and its first page, or (None, []) after saying why there is none."""
    from catalog.recommender import EmptyCatalogError

    try:
        answer = await recommender.answer(arguments.file)
    except AudioError as error:
        print(f"{arguments.file}: {error.reason}", file=sys.stderr)
        return None, []
    except EmptyCatalogError as error:
        print(f"{error}; add some with: python -m bot import FOLDER", file=sys.stderr)
        return None, []
    page = await recommender.page_from(answer.track_ids, answer.scores, 0, arguments.top)
    return answer, page.items


def _print_recommendations(
    arguments: argparse.Namespace, answer: "Answer", items: list["Recommendation"]
) -> int:
    """The list as text lines, or as JSON with --json."""
    assert answer.embedding is not None, "a file's answer has its embedding"
    tags = answer.embedding.top_tags(3)
    own = answer.in_catalog
    if arguments.json:
        document = {
            "file": str(arguments.file),
            "model": answer.embedding.model_id,
            "seconds": round(answer.seconds, 3),
            "tags": dict(tags),
            "in_catalog": track_json(own) if own else None,
            "results": [
                {
                    "rank": item.position,
                    **track_json(item.track),
                    "similarity": round(item.similarity, 4),
                }
                for item in items
            ],
        }
        # still JSON, and the same names once parsed: printable escapes as JSON does
        for line in json.dumps(document, ensure_ascii=False, indent=2).split("\n"):
            print(printable(line))
        return 0
    print(f"{arguments.file}: {format_tags(tags)} ({answer.seconds:.2f} s)")
    if own:
        print(f"already in the catalog: {shown(own)} (#{own.id})  {track_url(own)}")
    for item in items:
        print(f"{item.position:3d}. {shown(item.track)}  {item.percent}%  {item.url}")
    return 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    similar = commands.add_parser("recommend", help="print the catalog tracks most like FILE")
    similar.add_argument("file", type=Path, metavar="FILE")
    similar.add_argument(
        "--top",
        type=number_argument(1, TOP_MAX),
        default=10,
        help=f"how many, 1 to {TOP_MAX} (default 10)",
    )
    similar.add_argument("--json", action="store_true", help="print JSON")
    similar.set_defaults(handler=recommend_command)
