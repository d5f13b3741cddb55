"""Peak RSS of `import-yandex` offered a 2 GiB mp3 body (issue 16.2): three runs, the median.

    .venv/bin/python bench/yandex_download_rss.py

Each run is a fresh `python -m bot import-yandex` (mfcc model, one worker) under
/usr/bin/time -v against the stand-in (tests/fake_yandex.py); the body stops at the 200 MB cap.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_yandex import FakeYandex  # noqa: E402


def main() -> None:
    peaks = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder, FakeYandex(Path(folder)) as fake:
            track = fake.add_track("Huge", "A", b"\xff\xfb\x90\x00" * 256)
            fake.serve_body(track, size=2 << 30)
            env = {**os.environ, **fake.env(), "MODEL": "mfcc", "WORKERS": "1",
                   "DATABASE_PATH": str(Path(folder) / "c.sqlite3")}  # fmt: skip
            done = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-m", "bot", "import-yandex",
                 f"https://music.yandex.ru/track/{track}"],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
            assert found, done.stderr
            peaks.append(int(found.group(1)) / 1024)
            print(f"peak RSS {peaks[-1]:.0f} MB, exit {done.returncode}: {done.stdout.strip()}")
    print(f"median peak RSS of 3 runs: {statistics.median(peaks):.0f} MB")


if __name__ == "__main__":
    main()
