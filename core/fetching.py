"""Fetching audio from a URL a server handed us: the rules every fetch keeps, and one fetcher.

A link from an API answer is data from outside. Whoever serves it (or a proxy in between) may
send an endless body, a 2 GiB body, a trickle that never ends, or redirect to plain http. So a
fetch streams to disk, stops past `max_bytes`, gives the whole body `deadline` seconds and a
minimum average rate (checked after `grace` seconds), and never follows a redirect from https
to http. The local Yandex download (aiohttp) and the Ray actors (`fetch`, urllib) keep the same
`FetchLimits`; both raise FetchError.
"""

import hashlib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_FETCH_BYTES = 200 * 1024 * 1024  # a long track at 320 kbps (an hour is ≈ 144 MB)
FETCH_CHUNK = 1 << 20


class FetchError(Exception):
    """A URL's audio could not be fetched. `transient`: worth another try, with a fresh
    link (timeouts, dropped connections, 410 for an expired link, 429, 5xx); `status`: the HTTP
    status when there was one."""

    def __init__(self, reason: str, transient: bool, status: int | None = None) -> None:
        super().__init__(reason, transient, status)
        self.reason = reason
        self.transient = transient
        self.status = status


@dataclass(frozen=True)
class FetchLimits:
    """What one track's download may take. 128 kbps is 16 KB/s of real time: a body slower
    than twice that, or not whole within `deadline`, holds a download slot for nothing."""

    max_bytes: int = MAX_FETCH_BYTES
    deadline: float = 600.0  # seconds for the whole track, every attempt included
    min_rate: float = 32 * 1024  # bytes per second, averaged since the body started
    grace: float = 15.0  # seconds before the rate counts (connection set-up, a slow start)
    timeout: float = 30.0  # seconds for each connect and each read

    def check(self, size: int, elapsed: float) -> None:
        """Raise FetchError once `size` bytes after `elapsed` seconds break a limit."""
        if size > self.max_bytes:
            raise FetchError(
                f"the file is larger than {self.max_bytes // (1 << 20)} MB", transient=False
            )
        if elapsed > self.grace and size < self.min_rate * elapsed:
            raise FetchError(
                f"too slow ({size / elapsed / 1024:.1f} KB/s after {elapsed:.0f} s; "
                f"at least {self.min_rate / 1024:.0f} KB/s is needed)",
                transient=True,
            )


def status_is_transient(status: int) -> bool:
    """410 (an expired link), 429 and 5xx are worth a fresh link; other statuses are final."""
    return status in (410, 429) or status >= 500


def refused_redirect(source: str, target: str) -> str | None:
    """Why a redirect from `source` to `target` is not followed, or None when it may be:
    http(s) only, and never from https down to plain http."""
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        return f"redirected to a {scheme or 'relative'} URL, which is not fetched"
    if scheme == "http" and urlsplit(source).scheme.lower() != "http":
        return "redirected to plain http, which is not followed (https only)"
    return None


class _Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        refused = refused_redirect(req.full_url, newurl)
        if refused is not None:
            raise FetchError(refused, transient=False, status=code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(
    url: str,
    path: Path,
    limits: FetchLimits,
    ca_pem: str | None = None,
    deadline: float | None = None,
) -> tuple[str, int]:
    """Stream `url` into `path` within `limits`; (sha256, size) of what arrived.

    `deadline`: seconds left for this attempt (default `limits.deadline`); `ca_pem` adds
    certificate authorities to trust (besides the system's and SSL_CERT_FILE's).
    Raises FetchError.
    """
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _Redirects)
    allowed = limits.deadline if deadline is None else deadline
    digest, size, start = hashlib.sha256(), 0, time.monotonic()
    try:
        with opener.open(url, timeout=limits.timeout) as answer, path.open("wb") as file:
            while chunk := answer.read1(FETCH_CHUNK):  # read1: returns what one read brought
                size += len(chunk)
                elapsed = time.monotonic() - start
                limits.check(size, elapsed)
                if elapsed > allowed:
                    raise FetchError(
                        f"not whole within the {limits.deadline:.0f} s deadline", transient=False
                    )
                digest.update(chunk)
                file.write(chunk)
    except urllib.error.HTTPError as error:
        raise FetchError(
            f"download failed (HTTP {error.code})",
            transient=status_is_transient(error.code),
            status=error.code,
        ) from None
    except (urllib.error.URLError, OSError) as error:  # refused, reset, timed out, TLS
        reason = getattr(error, "reason", error)
        raise FetchError(f"download failed ({type(reason).__name__})", transient=True) from None
    if size == 0:
        raise FetchError("the server sent an empty file", transient=False)
    return digest.hexdigest(), size
