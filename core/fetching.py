"""Fetching audio from a URL a server handed us: the rules every fetch keeps, and one fetcher.

A link from an API answer is data from outside. Whoever serves it (or a proxy in between) may
send an endless body, a 2 GiB body, a trickle that never ends, or redirect to plain http. So a
fetch streams to disk, stops past `max_bytes`, gives the whole body `deadline` seconds and a
minimum average rate (checked after `grace` seconds), and never follows a redirect from https
to http. The local worker pool (`stream`, aiohttp, on the event loop: a cancelled run stops at
once) and the Ray actors (`fetch`, urllib, in the actor) keep the same `FetchLimits`; both raise
FetchError, whose `transient` is the one retry rule (`status_is_transient`).
"""

import asyncio
import hashlib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_FETCH_BYTES = 200 * 1024 * 1024  # a long track at 320 kbps (an hour is ≈ 144 MB)
FETCH_CHUNK = 1 << 20
MAX_REDIRECTS = 5


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


def trust(ca_pem: str | None) -> ssl.SSLContext:
    """The system's trust (and SSL_CERT_FILE's), plus the authorities in `ca_pem`."""
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context


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
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=trust(ca_pem)), _Redirects
    )
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


async def stream(
    url: str,
    path: Path,
    limits: FetchLimits,
    ca_pem: str | None = None,
    deadline: float | None = None,
) -> tuple[str, int]:
    """`fetch` from the event loop: an https `url` (redirects followed by hand, never to http)
    into `path` within `limits` and `deadline` seconds; (sha256, size). On failure `path` is
    removed. Raises FetchError."""
    import aiohttp  # not in the Ray actors, which fetch with urllib

    if urlsplit(url).scheme != "https":
        raise FetchError("the download link is not https", transient=False)
    timeout = aiohttp.ClientTimeout(sock_connect=limits.timeout, sock_read=limits.timeout)
    allowed = limits.deadline if deadline is None else deadline
    context = trust(ca_pem)
    digest, size = hashlib.sha256(), 0
    try:
        async with (
            asyncio.timeout(max(allowed, 0.0)) as cap,
            aiohttp.ClientSession(timeout=timeout) as session,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(url, allow_redirects=False, ssl=context) as answer:
                    if answer.status in (301, 302, 303, 307, 308):
                        target = urljoin(url, answer.headers.get("Location", ""))
                        refused = refused_redirect(url, target)
                        if refused is not None:
                            raise FetchError(refused, transient=False, status=answer.status)
                        url = target
                        continue
                    if answer.status != 200:
                        raise FetchError(
                            f"HTTP {answer.status}",
                            transient=status_is_transient(answer.status),
                            status=answer.status,
                        )
                    start = time.monotonic()
                    with path.open("wb") as file:
                        async for chunk in answer.content.iter_chunked(FETCH_CHUNK):
                            size += len(chunk)
                            limits.check(size, time.monotonic() - start)
                            digest.update(chunk)
                            file.write(chunk)
                    break
            else:
                raise FetchError(f"more than {MAX_REDIRECTS} redirects", transient=False)
    except BaseException as error:
        path.unlink(missing_ok=True)
        if isinstance(error, TimeoutError):
            if cap.expired():
                raise FetchError(
                    f"not whole within the {limits.deadline:.0f} s deadline", transient=False
                ) from None
            raise FetchError("timed out", transient=True) from None
        if isinstance(error, aiohttp.ClientError):
            raise FetchError(f"connection failed ({type(error).__name__})", True) from None
        if isinstance(error, OSError):  # the file: a full disk, say
            raise FetchError(f"cannot write the file ({error.strerror})", False) from None
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise FetchError("the server sent an empty file", transient=False)
    return digest.hexdigest(), size
