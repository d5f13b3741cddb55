"""Peak RSS of `import-yandex` offered a 2 GiB mp3 body (issue 16.2): three runs, the median.

    .venv/bin/python bench/yandex_download_rss.py

Each run is a fresh `python -m bot import-yandex` (mfcc model, one worker) against the stand-in
(tests/support/fake_yandex.py); the body stops at the 200 MB cap. Two peaks are printed: the
importer's own process (getrusage of itself at exit: the download streams through it) and the
largest process of the run (/usr/bin/time -v: the embedding worker, whose size is TensorFlow's).
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from fake_yandex import FakeYandex  # noqa: E402

# `python -m bot ARGS` that reports its own peak RSS (not its children's) as it exits
OWN_PEAK = (
    "import atexit, resource, runpy, sys\n"
    "atexit.register(lambda: print('importer peak RSS: %d kB'\n"
    "    % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
    "sys.argv[0] = 'bot'\n"
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)\n"
)


def main() -> None:
    peaks: list[float] = []
    importer: list[float] = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder, FakeYandex(Path(folder)) as fake:
            track = fake.add_track("Huge", "A", b"\xff\xfb\x90\x00" * 256)
            fake.serve_body(track, size=2 << 30)
            env = {**os.environ, **fake.env(), "MODEL": "mfcc", "WORKERS": "1",
                   "DATABASE_PATH": str(Path(folder) / "c.sqlite3")}  # fmt: skip
            done = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-c", OWN_PEAK, "import-yandex",
                 f"https://music.yandex.ru/track/{track}"],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
            own = re.search(r"importer peak RSS: (\d+) kB", done.stderr)
            assert found and own, done.stderr
            peaks.append(int(found.group(1)) / 1024)
            importer.append(int(own.group(1)) / 1024)
            print(
                f"importer {importer[-1]:.0f} MB, largest process {peaks[-1]:.0f} MB, "
                f"exit {done.returncode}: {done.stdout.strip()}"
            )
    print(
        f"median of 3 runs ({os.cpu_count()} cores): importer peak RSS "
        f"{statistics.median(importer):.0f} MB, largest process {statistics.median(peaks):.0f} MB"
    )


if __name__ == "__main__":
    main()
