"""Yandex Music ids that name a catalog track besides its own `tracks.yandex_track_id`.

Yandex lists the same recording under several track ids (a single, its album, a compilation, a
re-issue). The catalog keeps one track per audio file (by sha256), and so one id in `tracks`;
the others are kept here, so that `import-yandex` recognises them on a rerun without
downloading the audio again, and a link to any of them finds the track.
"""

from storage.session import Connector


class YandexIdRepository:
    """The `yandex_ids` table: extra Yandex track id → catalog track (removed with it)."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def add(self, track_id: int, yandex_track_id: str) -> bool:
        """Record `yandex_track_id` as another id of the track; False when it was known
        already (as this track's own id, or as an extra id of any track: the first wins)."""
        yandex_track_id = str(yandex_track_id).strip()
        return (
            await self._sql.execute(
                """INSERT INTO yandex_ids (yandex_track_id, track_id)
                   SELECT ?, id FROM tracks WHERE id = ? AND yandex_track_id IS NOT ?
                   ON CONFLICT (yandex_track_id) DO NOTHING""",
                (yandex_track_id, track_id, yandex_track_id),
            )
            > 0
        )

    async def of_track(self, track_id: int) -> list[str]:
        """The track's extra Yandex ids, in the order they were recorded."""
        rows = await self._sql.fetchall(
            "SELECT yandex_track_id FROM yandex_ids WHERE track_id = ? ORDER BY rowid",
            (track_id,),
        )
        return [row[0] for row in rows]
