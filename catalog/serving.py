"""Which model the bot and `recommend` answer with while a catalog moves to a new one, and the
adoption of vectors stored under a model's earlier ids: one decision for the bot, `import`,
`reindex` and `recommend`."""

from core.models import DEFAULT_MODEL, ModelSpec, parse_model_spec
from storage import Database

# The models a catalog may hold vectors of, besides the configured one: today's and earlier
# defaults and the other shipped networks (seed specs need their file and are not guessed).
KNOWN_SPECS = (DEFAULT_MODEL, "msd-vgg/pool5", "aisfx", "msd-musicnn/penultimate", "mfcc")


async def adopt_previous_vectors(database: Database, model: ModelSpec) -> int:
    """Move vectors stored under the model's earlier ids (the same vectors, before ids carried
    the front-end version) to its id, so an existing catalog keeps working; how many moved."""
    moved = 0
    for previous in model.previous_ids:
        moved += await database.embeddings.rename_model(previous, model.model_id)
    return moved


async def serving_model(database: Database, configured: ModelSpec) -> tuple[ModelSpec, str]:
    """The model to answer with, and a log line saying which and why.

    The configured model when it covers the whole catalog (or nothing covers more); otherwise
    the known model whose vectors cover most tracks, until `reindex` has finished.
    """
    stats = await database.tracks.stats()
    counts = stats.embeddings
    have = counts.get(configured.model_id, 0)
    if have >= stats.tracks:
        return configured, f"serving with {configured.model_id} ({have} tracks)"
    best = configured
    for text in KNOWN_SPECS:
        spec = parse_model_spec(text)
        if counts.get(spec.model_id, 0) > counts.get(best.model_id, 0):
            best = spec
    return best, (
        f"serving with {best.model_id} ({configured.model_id} covers {have} of "
        f"{stats.tracks} tracks; run python -m bot reindex)"
    )
