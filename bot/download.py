"""Downloading a Telegram file straight into a private temp file, chunk by chunk.

PTB 22.8's `File.download_to_drive` fetches the whole file into memory (`BaseRequest.retrieve`
returns bytes) before writing it: 20 files of 13.6 MB at once grew the bot from 60 to 557 MB.
Here the body streams to disk in CHUNK_BYTES pieces with the same timeouts. With a local Bot API
server (`local_mode`) `file_path` is a path on this machine and PTB already copies the file
without reading it whole, so that case stays with PTB.
"""

from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from telegram import File
from telegram.error import NetworkError, TimedOut

CHUNK_BYTES = 256 * 1024
CONNECT_TIMEOUT = 10.0


def _url(file_path: str) -> str:
    """The file URL with non-ASCII path characters encoded, as PTB's `_get_encoded_url` does."""
    parts = urlsplit(file_path)
    return urlunsplit(parts._replace(path=quote(parts.path)))


async def download(remote: File, path: Path, *, timeout: float) -> Path:
    """Save `remote` at `path`; `timeout` bounds every read and write, not the whole transfer.

    Raises telegram.error.NetworkError (TimedOut on a timeout) like PTB's download does.
    """
    file_path = remote.file_path
    if not file_path:
        raise RuntimeError(f"file {remote.file_id} has no file_path to download")
    if urlsplit(file_path).scheme not in ("http", "https"):  # local_mode: a path on this host
        return await remote.download_to_drive(path, read_timeout=timeout, write_timeout=timeout)
    limits = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
    try:
        async with (
            httpx.AsyncClient(timeout=limits) as client,
            client.stream("GET", _url(file_path)) as response,
        ):
            if response.status_code != httpx.codes.OK:
                raise NetworkError(f"download answered HTTP {response.status_code}")
            with path.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    out.write(chunk)
    except httpx.TimeoutException as error:
        raise TimedOut(f"download timed out ({type(error).__name__})") from error
    except httpx.HTTPError as error:
        raise NetworkError(f"download failed ({type(error).__name__})") from error
    return path
