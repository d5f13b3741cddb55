"""Peak memory of the bot's process for 20 concurrent downloads of 13.6 MB (issue 10, point 12).

    .venv/bin/python bench/download_memory.py ptb|stream [--files 20] [--mb 13.6]

The fake Bot API server (tests/support/fake_telegram.py) runs in a child process with the files, so
only the downloading side is measured: `ptb` uses PTB's File.download_to_drive (the file is held
whole in memory, then written), `stream` uses bot.download.download (chunks to disk). Prints
this process's peak RSS before and after the downloads.
"""

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(files: int, size: int, pipe: Connection) -> None:
    """Child: a fake Bot API server holding `files` files of `size` bytes, until told to stop."""
    from fake_telegram import FakeTelegram  # tests/ helper

    content = os.urandom(size)
    with FakeTelegram() as fake:
        for index in range(files):
            fake.add_file(f"track-{index}", content)
        pipe.send((fake.token, fake.api_base_url, fake.file_base_url))
        pipe.recv()


async def fetch(how: str, files: int, token: str, base_url: str, file_url: str) -> float:
    from telegram import Bot

    from bot.download import download

    before = peak_mb()
    async with Bot(token, base_url, file_url) as bot:
        remotes = [await bot.get_file(f"track-{index}") for index in range(files)]
        with tempfile.TemporaryDirectory() as folder:
            paths = [Path(folder, f"{index}.mp3") for index in range(files)]
            pairs = zip(remotes, paths, strict=True)
            if how == "ptb":
                jobs = [r.download_to_drive(p, read_timeout=60) for r, p in pairs]
            else:
                jobs = [download(r, p, timeout=60) for r, p in pairs]
            await asyncio.gather(*jobs)
    return before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("how", choices=("ptb", "stream"))
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--mb", type=float, default=13.6)
    arguments = parser.parse_args()
    size = int(arguments.mb * 1024 * 1024)
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(arguments.files, size, theirs)
    )
    server.start()
    try:
        token, base_url, file_url = ours.recv()
        before = asyncio.run(fetch(arguments.how, arguments.files, token, base_url, file_url))
    finally:
        ours.send("stop")
        server.join(timeout=10)
    after = peak_mb()
    print(
        f"{arguments.how}: {arguments.files} downloads of {arguments.mb} MB at once: "
        f"peak RSS {before:.0f} MB before, {after:.0f} MB after (+{after - before:.0f} MB)"
    )


if __name__ == "__main__":
    main()
