"""A fake Telegram Bot API server for end-to-end tests of the bot.

The real python-telegram-bot stack (an `Application` in the test's event loop, or `python -m bot`
in a subprocess) talks to it over real HTTP on 127.0.0.1, so the tests exercise PTB's request
encoding, error mapping and polling loop exactly as in production:

    with FakeTelegram() as tg:
        bot = telegram.Bot(tg.token, base_url=tg.api_base_url, base_file_url=tg.file_base_url)
        tg.push_update(tg.text_message(FakeUser(42, "Ann"), "/start"))
        ...
        tg.wait_for("sendMessage")

It mimics the Telegram behaviours a bot most often gets wrong, as the real server answers them:
HTML that Telegram cannot parse, texts over 4096 characters, editing a message to the same
content ("message is not modified"), `editMessageText` dropping an inline keyboard it is not
given again, callback data over 64 bytes, unknown chats, downloads over the cloud's 20 MB,
two pollers at once (409 Conflict). Markdown is passed through unchecked (the bot sends HTML).
`fail_next` injects errors (429, a 5xx or a proxy's 502 page, once or more, for any method or
the file download), `push_updates` a burst of updates in one batch, and `delay_next` a slow
Telegram: a call applied at once but answered late, or a download that stalls midway.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import hashlib
import itertools
import json
import re
import secrets
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

BOT_USERNAME = "soundalike_test_bot"
BOT_FIRST_NAME = "Soundalike Test"
DOWNLOAD = "download"  # pseudo-method of a file download, for calls(), wait_for(), fail_next()
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files unless local_mode
MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units of the text after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_LONG_POLL = 50.0  # seconds; Telegram caps getUpdates' timeout about there
PROXY_502_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

# PTB sends str values as they are and everything else JSON-encoded, so "42" may be the text
# "42" or the number 42. These parameters are strings in the Bot API: never JSON-decode them.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "file_id",
        "action",
        "url",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "secret_token",
        "ip_address",
        "emoji",
        "name",
        "title",
        "performer",
        "description",
        "short_description",
        "query",
        "next_offset",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "address",
        # media given as a file_id or URL (uploads arrive as file parts instead)
        "audio",
        "document",
        "voice",
        "photo",
        "video",
        "animation",
        "sticker",
        "video_note",
        "thumbnail",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Methods the bot may call for its setup or niceties; the fake just says yes.
_HARMLESS = frozenset(
    {
        "logOut",
        "close",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "setChatMenuButton",
        "setMyDefaultAdministratorRights",
        "setMessageReaction",
        "pinChatMessage",
        "unpinChatMessage",
        "unpinAllChatMessages",
        "deleteMessages",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_URL_RE = re.compile(r"(?<!\S)https?://[^\s<>\"]+")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class FakeUser:
    """A Telegram user writing to the bot; their private chat has the same id."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"

    def as_dict(self) -> dict[str, Any]:
        """The Bot API `User` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat(self) -> dict[str, Any]:
        """The Bot API `Chat` object of the private chat with the bot."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (what the bot uploaded)."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Call:
    """One request as the server saw it: the method (`DOWNLOAD` for a file GET), the parameters
    with JSON values decoded, and how it was answered (status 200 and the result, or the error)."""

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    body: bytes | None


@dataclass
class _Delay:
    seconds: float
    after_bytes: int  # of the response body sent before the pause (0: the whole answer waits)


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    file_size: int


class _ApiError(Exception):
    """Answer the request with a Bot API error instead of a result."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def _bad_request(what: str) -> _ApiError:
    return _ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {what}")


def _utf16_len(text: str) -> int:
    """Telegram measures offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _unique_id(file_id: str) -> str:
    return "AgAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]


def _decode_param(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | UploadedFile]]:
    """Fields of a multipart/form-data body; file parts (those with a filename) as UploadedFile."""
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise _bad_request("multipart boundary is missing")
    fields: list[tuple[str, str | UploadedFile]] = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace") + "\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_filename()
        if filename is None:
            fields.append((name, content.decode("utf-8")))
        else:
            fields.append((name, UploadedFile(filename, headers.get("content-type"), content)))
    return fields


def _html_to_text(source: str) -> str:
    """The plain text Telegram shows for HTML `source`, or the 400 it answers for bad markup."""

    def fail(message: str, pos: int) -> _ApiError:
        offset = len(source[:pos].encode())
        return _bad_request(f"can't parse entities: {message} at byte offset {offset}")

    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "<":
            match = _TAG_RE.match(source, pos)
            if match is None:
                word = re.match(r"</?([^\s>]*)", source[pos:])
                name = word.group(1) if word else ""
                raise fail(f'Unsupported start tag "{name}"', pos)
            closing, name = match.group(1) == "/", match.group(2).lower()
            if name not in _HTML_TAGS:
                raise fail(f'Unsupported {"end" if closing else "start"} tag "{name}"', pos)
            if closing:
                if not stack or stack[-1] != name:
                    expected = f'"</{stack[-1]}>"' if stack else "no end tag"
                    raise fail(f'Unmatched end tag, expected {expected}, found "</{name}>"', pos)
                stack.pop()
            else:
                stack.append(name)
            pos = match.end()
        elif char == "&" and (entity := _HTML_ENTITY_RE.match(source, pos)):
            ref = entity.group(1)
            if ref.startswith("#x"):
                out.append(chr(int(ref[2:], 16)))
            elif ref.startswith("#"):
                out.append(chr(int(ref[1:])))
            else:
                out.append(_NAMED_ENTITIES[ref])
            pos = entity.end()
        else:
            out.append(char)
            pos += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"', len(source))
    return "".join(out)


def _render(text: str, parse_mode: Any) -> str:
    if not parse_mode:
        return text
    if str(parse_mode).lower() == "html":
        return _html_to_text(text)
    if str(parse_mode).lower() in ("markdown", "markdownv2"):
        return text
    raise _bad_request(f"unsupported parse_mode {parse_mode}")


def _check_markup(markup: Any) -> dict[str, Any] | None:
    """Telegram's checks of an inline keyboard that catch real bot bugs."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise _bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise _bad_request("BUTTON_DATA_INVALID")
            if len(button) < 2:
                raise _bad_request("text buttons are unallowed in the inline keyboard")
    return markup


def _entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and url entities Telegram detects in a user's text."""
    found = [(m, "bot_command") for m in _COMMAND_RE.finditer(text)]
    found += [(m, "url") for m in _URL_RE.finditer(text)]
    found.sort(key=lambda item: item[0].start())
    return [
        {
            "type": kind,
            "offset": _utf16_len(text[: m.start()]),
            "length": _utf16_len(m.group()),
        }
        for m, kind in found
    ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTelegram


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as httpx expects; all logic lives in FakeTelegram."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the calls are recorded instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except OSError:
            self.close_connection = True
            return
        fake = self.server.fake
        fake._local.delay = None
        try:
            status, payload, content_type = fake._respond(self.path, self.headers, body)
        except Exception as exc:  # a bug in the fake: answer like a broken server, loudly
            status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "application/json"
            error = {"ok": False, "error_code": 500, "description": f"FakeTelegram bug: {exc!r}"}
            payload = json.dumps(error).encode()
        delay: _Delay | None = fake._local.delay
        try:
            if delay is not None and not delay.after_bytes:
                time.sleep(delay.seconds)  # applied already; the answer is late
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if delay is not None and delay.after_bytes:
                self.wfile.write(payload[: delay.after_bytes])
                self.wfile.flush()
                time.sleep(delay.seconds)
                payload = payload[delay.after_bytes :]
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. PTB cancelled a long poll on shutdown).
            self.close_connection = True


class FakeTelegram:
    """A Bot API server on 127.0.0.1:<ephemeral port>, served from a background thread.

    All state sits behind one lock with one condition variable: getUpdates long polls and
    wait_for() sleep on it and every recorded call or pushed update wakes them.
    """

    def __init__(self, *, local_mode: bool = False, bot_id: int | None = None) -> None:
        self.local_mode = local_mode
        self.bot_id = bot_id if bot_id is not None else 7_000_000_000 + secrets.randbelow(10**8)
        self.token = f"{self.bot_id}:AA{secrets.token_urlsafe(33)[:33]}"
        self.bot_username = BOT_USERNAME
        self._cond = threading.Condition(threading.RLock())  # re-entrant: helpers nest
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(800_000_001)
        self._poll_generation = 0
        self._stopping = False
        self._webhook_url = ""
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._callback_ids: set[str] = set()
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, str] = {}  # file_path -> file_id
        self._file_counter = itertools.count(1)
        self._downloads: dict[str, int] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._delays: dict[str, deque[_Delay]] = {}
        self._local = threading.local()  # per request thread: the delay its answer gets
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._connections: set[socket.socket] = set()
        self._local_dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda _: self.bot_user,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "sendAudio": lambda p: self._send_media("audio", p),
            "sendDocument": lambda p: self._send_media("document", p),
            "sendVoice": lambda p: self._send_media("voice", p),
            "sendPhoto": lambda p: self._send_media("photo", p),
        }
        for name in _HARMLESS:
            self._methods.setdefault(name, lambda _: True)
        # Bot API method names are case-insensitive.
        self._by_lower = {name.lower(): name for name in self._methods}

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeTelegram:
        """Bind an ephemeral port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeTelegram is already started")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeTelegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake every long poll, stop serving and drop open keep-alive connections."""
        server = self._server
        if server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._local_dir is not None:
            self._local_dir.cleanup()
        self._server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT — what TELEGRAM_API_URL would be."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        """For `Bot(base_url=...)` / `ApplicationBuilder().base_url(...)`."""
        return f"{self.base_url}/bot"

    @property
    def file_base_url(self) -> str:
        """For `Bot(base_file_url=...)` / `ApplicationBuilder().base_file_url(...)`."""
        return f"{self.base_url}/file/bot"

    def env(self) -> dict[str, str]:
        """Environment for `python -m bot` pointed at this server."""
        return {
            "BOT_TOKEN": self.token,
            "TELEGRAM_API_URL": self.base_url,
            "TELEGRAM_LOCAL_MODE": "true" if self.local_mode else "false",
        }

    @property
    def bot_user(self) -> dict[str, Any]:
        """The getMe result."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ----------------------------------------------------------------- recording

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request so far, failed ones included, optionally of one method."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def mark(self) -> int:
        """A position in the call log, for `wait_for(..., since=mark)`."""
        with self._cond:
            return len(self._calls)

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Params of the successful sendMessage calls (JSON decoded), plus the `message_id`
        the server gave each."""
        messages = []
        for call in self.calls("sendMessage"):
            if call.ok and (chat_id is None or call.params.get("chat_id") == chat_id):
                messages.append({**call.params, "message_id": call.result["message_id"]})
        return messages

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A message as it stands now (after edits), None once deleted or never sent."""
        with self._cond:
            stored = self._messages.get((chat_id, message_id))
            return json.loads(json.dumps(stored)) if stored else None

    def downloads(self, file_id: str) -> int:
        """How many times the bytes of `file_id` were fetched from /file/."""
        with self._cond:
            return self._downloads.get(file_id, 0)

    @property
    def pending_update_count(self) -> int:
        """Updates pushed but not yet confirmed by a later getUpdates offset."""
        with self._cond:
            return len(self._updates)

    def _matcher(self, what: str | Callable[[Call], bool]) -> Callable[[Call], bool]:
        if callable(what):
            return what
        return lambda call: call.method == what and call.ok

    def _matches(self, match: Callable[[Call], bool], since: int) -> list[Call]:
        return [c for c in self._calls[since:] if match(c)]

    def _timeout_message(self, what: object, count: int, found: int, timeout: float) -> str:
        recent = [c for c in self._calls if c.method != "getUpdates"][-25:]
        polls = sum(c.method == "getUpdates" for c in self._calls)
        lines = [
            f"FakeTelegram: waited {timeout:g}s for {count} call(s) matching {what!r}, "
            f"found {found}. Recent calls ({polls} getUpdates omitted):"
        ]
        for c in recent:
            outcome = "ok" if c.ok else f"{c.status} {c.description}"
            lines.append(f"  {c.method} {c.params!r} -> {outcome}")
        return "\n".join(lines)

    def wait_for(
        self,
        what: str | Callable[[Call], bool],
        count: int = 1,
        timeout: float = 30.0,
        *,
        since: int = 0,
    ) -> list[Call]:
        """Block until `count` calls match (a method name matches its successful calls; a
        predicate sees every Call), for tests driving a subprocess. Returns the matches."""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            raise TypeError("wait_for would block the event loop; use await wait_for_async()")
        match = self._matcher(what)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self._matches(match, since)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(what, count, len(found), timeout))
                self._cond.wait(remaining)
            return found

    async def wait_for_async(
        self,
        what: str | Callable[[Call], bool],
        count: int = 1,
        timeout: float = 30.0,
        *,
        since: int = 0,
    ) -> list[Call]:
        """wait_for() for a test whose Application runs in the same event loop."""
        match = self._matcher(what)
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        waiter = (loop, woken)
        deadline = loop.time() + timeout
        with self._cond:
            self._async_waiters.add(waiter)
        try:
            while True:
                woken.clear()
                with self._cond:
                    found = self._matches(match, since)
                    if len(found) >= count:
                        return found
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        message = self._timeout_message(what, count, len(found), timeout)
                        raise AssertionError(message)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), remaining)
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)

    def _notify(self) -> None:
        """Wake sync and async waiters; the caller holds the lock."""
        self._cond.notify_all()
        for loop, woken in list(self._async_waiters):
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(woken.set)

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._notify()

    # ----------------------------------------------------------------- failures

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = HTTPStatus.TOO_MANY_REQUESTS,
        description: str | None = None,
        retry_after: int | None = None,
        *,
        body: bytes | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (or `DOWNLOAD`) with an error.

        A Bot API JSON error by default, with parameters.retry_after when given (PTB raises
        RetryAfter); `body` sends those raw bytes instead, like a proxy's 502 page
        (`PROXY_502_PAGE`) or b"", which PTB turns into a NetworkError.
        """
        if description is None:
            phrase = HTTPStatus(status).phrase
            description = phrase
            if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is not None:
                description = f"{phrase}: retry after {retry_after}"
        key = method if method == DOWNLOAD else self._by_lower.get(method.lower(), method)
        with self._cond:
            queue = self._failures.setdefault(key, deque())
            queue.extend(_Failure(status, description, retry_after, body) for _ in range(times))

    def delay_next(
        self, method: str, seconds: float, times: int = 1, *, after_bytes: int = 0
    ) -> None:
        """Answer the next `times` calls of `method` `seconds` late, after applying them (as a
        slow Telegram does: the client may give up on an edit that still happens). For
        `DOWNLOAD`, `after_bytes` sends that much of the file first, then stalls."""
        key = method if method == DOWNLOAD else self._by_lower.get(method.lower(), method)
        with self._cond:
            queue = self._delays.setdefault(key, deque())
            queue.extend(_Delay(seconds, after_bytes) for _ in range(times))

    def _take_delay(self, method: str) -> None:
        """Mark this request thread's answer for a delay, when one is queued for `method`."""
        with self._cond:
            queue = self._delays.get(method)
            self._local.delay = queue.popleft() if queue else None

    def _take_failure(self, method: str) -> _Failure | None:
        with self._cond:
            queue = self._failures.get(method)
            return queue.popleft() if queue else None

    # ----------------------------------------------------------------- updates

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates, numbering it; returns it with its update_id."""
        with self._cond:
            queued = {"update_id": next(self._update_ids), **update}
            for key in ("message", "edited_message"):
                if message := queued.get(key):
                    chat = message["chat"]
                    self._chats.setdefault(chat["id"], chat)
                    self._messages[(chat["id"], message["message_id"])] = message
            self._updates.append(queued)
            self._notify()
            return queued

    def push_updates(self, updates: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Queue `updates` in one step, so the next getUpdates returns them as one batch: what
        a bot sees when a user presses a button or sends a command many times within a second
        (the Application then handles them concurrently)."""
        with self._cond:
            return [self.push_update(update) for update in updates]

    def add_chat(self, user: FakeUser) -> None:
        """Make the user's private chat known without an update (as if they had /start-ed)."""
        with self._cond:
            self._chats.setdefault(user.id, user.chat())

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count per chat, shared by the user's and the bot's messages."""
        with self._cond:
            return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _user_message(self, user: FakeUser, **content: Any) -> dict[str, Any]:
        self.add_chat(user)
        message = {
            "message_id": self._next_message_id(user.id),
            "from": user.as_dict(),
            "chat": user.chat(),
            "date": int(time.time()),
            **{k: v for k, v in content.items() if v is not None},
        }
        return {"message": message}

    def text_message(self, user: FakeUser, text: str) -> dict[str, Any]:
        """A private text message; "/cmd args" and "/cmd@bot args" get a bot_command entity at
        offset 0 spanning "/cmd@bot" (what PTB's CommandHandler checks), URLs a url entity."""
        return self._user_message(user, text=text, entities=_entities(text) or None)

    def _file_fields(self, file_id: str, file_size: int | None) -> dict[str, Any]:
        if file_size is None and (stored := self._files.get(file_id)):
            file_size = stored.file_size
        fields: dict[str, Any] = {"file_id": file_id, "file_unique_id": _unique_id(file_id)}
        if file_size is not None:
            fields["file_size"] = file_size
        return fields

    def audio_message(
        self,
        user: FakeUser,
        file_id: str,
        file_size: int | None = None,
        duration: int = 180,
        mime_type: str | None = "audio/mpeg",
        file_name: str | None = "track.mp3",
        title: str | None = None,
        performer: str | None = None,
        *,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """An audio file sent as music (file_size defaults to that of a registered file)."""
        audio = {**self._file_fields(file_id, file_size), "duration": duration}
        extra = {"mime_type": mime_type, "file_name": file_name, "title": title}
        audio |= {k: v for k, v in (extra | {"performer": performer}).items() if v is not None}
        return self._user_message(user, audio=audio, caption=caption)

    def document_message(
        self,
        user: FakeUser,
        file_id: str,
        file_size: int | None = None,
        mime_type: str | None = "audio/mpeg",
        file_name: str | None = "track.mp3",
        *,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A file sent as a document (e.g. an mp3 sent "as file")."""
        document = self._file_fields(file_id, file_size)
        extra = {"mime_type": mime_type, "file_name": file_name}
        document |= {k: v for k, v in extra.items() if v is not None}
        return self._user_message(user, document=document, caption=caption)

    def voice_message(
        self,
        user: FakeUser,
        file_id: str,
        file_size: int | None = None,
        duration: int = 10,
        mime_type: str = "audio/ogg",
    ) -> dict[str, Any]:
        """A voice note (Opus in Ogg)."""
        voice = {**self._file_fields(file_id, file_size), "duration": duration}
        return self._user_message(user, voice={**voice, "mime_type": mime_type})

    def video_message(
        self,
        user: FakeUser,
        file_id: str,
        file_size: int | None = None,
        kind: str = "video",
        duration: int = 12,
        file_name: str | None = "clip.mp4",
    ) -> dict[str, Any]:
        """A video (`kind` "video"), a round video note ("video_note") or a GIF ("animation",
        which Telegram also sends as the message's `document`, as the real server does)."""
        media = {**self._file_fields(file_id, file_size), "duration": duration}
        if kind == "video_note":
            return self._user_message(user, video_note={**media, "length": 240})
        media |= {"width": 320, "height": 240, "mime_type": "video/mp4"}
        if file_name is not None:
            media["file_name"] = file_name
        if kind == "animation":
            document = {k: media[k] for k in media if k not in ("duration", "width", "height")}
            return self._user_message(user, animation=media, document=document)
        return self._user_message(user, video=media)

    def callback_query(self, user: FakeUser, message_id: int, data: str) -> dict[str, Any]:
        """The user pressing an inline button of bot message `message_id` in their chat."""
        with self._cond:
            message = self._messages.get((user.id, message_id))
            if message is None or message["from"]["id"] != self.bot_id:
                raise LookupError(f"no bot message {message_id} in chat {user.id}")
            query_id = str(4_000_000_000_000_000_000 + secrets.randbelow(10**18))
            self._callback_ids.add(query_id)
            return {
                "callback_query": {
                    "id": query_id,
                    "from": user.as_dict(),
                    "message": json.loads(json.dumps(message)),
                    "chat_instance": str(-(10**18) - user.id),
                    "data": data,
                }
            }

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling: wait on the condition until an update is queued, the timeout passes,
        the server stops, or a newer getUpdates takes over (the older one gets 409)."""
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, min(MAX_LONG_POLL, float(params.get("timeout") or 0)))
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise _ApiError(
                    HTTPStatus.CONFLICT,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            self._confirm(offset)
            while True:
                if generation != self._poll_generation:
                    raise _ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if self._updates or self._stopping:
                    return json.loads(json.dumps(self._updates[:limit]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._webhook_url = str(params.get("url") or "")
        return True

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    # ----------------------------------------------------------------- messages

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    def _stored(self, params: dict[str, Any], action: str) -> dict[str, Any]:
        chat = self._chat(params)
        message = self._messages.get((chat["id"], params.get("message_id")))
        if message is None:
            raise _bad_request(f"message to {action} not found")
        return message

    def _new_bot_message(
        self, chat: dict[str, Any], params: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        reply_to = None
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id", params.get("reply_to_message_id"))
        if reply_id is not None:
            reply_to = self._messages.get((chat["id"], reply_id))
            allowed = reply.get("allow_sending_without_reply")
            if reply_to is None and not (allowed or params.get("allow_sending_without_reply")):
                raise _bad_request("message to be replied not found")
        markup = _check_markup(params.get("reply_markup"))
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat["id"], message["message_id"])] = message
        return json.loads(json.dumps(message))

    def _message_text(self, params: dict[str, Any]) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        plain = _render(text, params.get("parse_mode"))
        if not plain.strip():
            raise _bad_request("message text is empty")
        if _utf16_len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return plain

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            chat = self._chat(params)
            return self._new_bot_message(chat, params, text=self._message_text(params))

    def _editable(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored bot message an edit targets; None for inline messages (answer True)."""
        if params.get("inline_message_id"):
            return None
        message = self._stored(params, "edit")
        if message["from"]["id"] != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        current = {key: message.get(key) for key in changes}
        if current == changes:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return json.loads(json.dumps(message))

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        with self._cond:
            text = self._message_text(params)
            markup = _check_markup(params.get("reply_markup"))
            message = self._editable(params)
            if message is None:
                return True
            if "text" not in message:
                raise _bad_request("there is no text in the message to edit")
            # Without reply_markup, Telegram removes the inline keyboard.
            return self._apply_edit(message, {"text": text, "reply_markup": markup})

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        with self._cond:
            markup = _check_markup(params.get("reply_markup"))
            message = self._editable(params)
            if message is None:
                return True
            return self._apply_edit(message, {"reply_markup": markup})

    def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        with self._cond:
            caption = _render(str(params.get("caption") or ""), params.get("parse_mode"))
            markup = _check_markup(params.get("reply_markup"))
            message = self._editable(params)
            if message is None:
                return True
            if "text" in message:
                raise _bad_request("there is no caption in the message to edit")
            return self._apply_edit(message, {"caption": caption or None, "reply_markup": markup})

    def _delete_message(self, params: dict[str, Any]) -> bool:
        with self._cond:
            message = self._stored(params, "delete")
            del self._messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        with self._cond:
            if params.get("callback_query_id") not in self._callback_ids:
                raise _bad_request(
                    "query is too old and response timeout expired or query ID is invalid"
                )
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            chat = self._chat(params)
        gifts = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
        }
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    def _send_media(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            chat = self._chat(params)
            media = params.get(kind)
            if isinstance(media, UploadedFile):
                file_id = f"BQACAgIAAx{secrets.token_urlsafe(24)}"
                self._add_file_locked(file_id, media.data, None, None)
                fields: dict[str, Any] = self._file_fields(file_id, None)
                if media.filename and kind in ("audio", "document"):
                    fields["file_name"] = media.filename
            elif isinstance(media, str) and media:
                fields = self._file_fields(media, None)
            else:
                raise _bad_request(f"there is no {kind} in the request")
            if kind in ("audio", "voice"):
                fields["duration"] = int(params.get("duration") or 0)
            content: dict[str, Any] = {kind: [fields | {"width": 1, "height": 1}]}
            if kind != "photo":
                content = {kind: fields}
            caption = params.get("caption")
            if caption:
                plain = _render(str(caption), params.get("parse_mode"))
                if _utf16_len(plain) > MAX_CAPTION_LENGTH:
                    raise _bad_request("message caption is too long")
                content["caption"] = plain
            return self._new_bot_message(chat, params, **content)

    # ----------------------------------------------------------------- commands

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not _BOT_COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be 1-256 characters")
        with self._cond:
            self._commands[self._commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._commands.pop(self._commands_key(params), None)
        return True

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[Any]:
        """The command list set for a scope and language (default: the default one)."""
        return self._get_my_commands({"scope": scope, "language_code": language_code})

    # ----------------------------------------------------------------- files

    def add_file(
        self,
        file_id: str,
        content: bytes,
        file_path: str | None = None,
        *,
        file_size: int | None = None,
    ) -> dict[str, Any]:
        """Register bytes the bot may getFile and download; `file_size` may claim more than
        `content` holds, to test size limits without big buffers. Returns the File object."""
        with self._cond:
            stored = self._add_file_locked(file_id, content, file_path, file_size)
            return self._file_object(stored)

    def _add_file_locked(
        self, file_id: str, content: bytes, file_path: str | None, file_size: int | None
    ) -> _StoredFile:
        path = file_path or f"documents/file_{next(self._file_counter)}"
        stored = _StoredFile(
            file_id, _unique_id(file_id), content, path.lstrip("/"), file_size or len(content)
        )
        if self.local_mode:
            if self._local_dir is None:
                self._local_dir = tempfile.TemporaryDirectory(prefix="fake-telegram-")
            local = Path(self._local_dir.name, self.token.replace(":", "_"), stored.file_path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            stored.file_path = str(local)
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = file_id
        return stored

    @staticmethod
    def _file_object(stored: _StoredFile) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            stored = self._files.get(str(params.get("file_id") or ""))
            if stored is None:
                raise _bad_request("invalid file_id")
            if not self.local_mode and stored.file_size > CLOUD_DOWNLOAD_LIMIT:
                raise _bad_request("file is too big")
            return self._file_object(stored)

    def _download(self, token: str, file_path: str) -> tuple[int, bytes, str]:
        with self._cond:
            file_id = self._file_paths.get(file_path)
        params: dict[str, Any] = {"file_path": file_path, "file_id": file_id}
        if token != self.token:
            return self._error(DOWNLOAD, params, _ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized"))
        if file_id is None:
            return self._error(DOWNLOAD, params, _ApiError(HTTPStatus.NOT_FOUND, "Not Found"))
        if failure := self._take_failure(DOWNLOAD):
            return self._injected(DOWNLOAD, params, failure)
        with self._cond:
            self._downloads[file_id] = self._downloads.get(file_id, 0) + 1
            content = self._files[file_id].content
        self._take_delay(DOWNLOAD)
        self._record(Call(DOWNLOAD, params, result=len(content)))
        return HTTPStatus.OK, content, "application/octet-stream"

    # ----------------------------------------------------------------- HTTP

    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @staticmethod
    def _params(query: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Query string and form fields (urlencoded or multipart), PTB's JSON values decoded."""
        fields: list[tuple[str, str | UploadedFile]] = list(
            parse_qsl(query, keep_blank_values=True)
        )
        content_type = headers.get("Content-Type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded":
            fields += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        elif media_type == "multipart/form-data":
            fields += _parse_multipart(body, content_type)
        elif media_type == "application/json" and body.strip():
            decoded = json.loads(body)
            return {k: v for k, v in decoded.items() if v is not None}
        return {
            name: value if isinstance(value, UploadedFile) else _decode_param(name, value)
            for name, value in fields
        }

    def _error(
        self, method: str, params: dict[str, Any], error: _ApiError
    ) -> tuple[int, bytes, str]:
        self._record(Call(method, params, error.status, description=error.description))
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": error.status,
            "description": error.description,
        }
        if error.retry_after is not None:
            payload["parameters"] = {"retry_after": error.retry_after}
        return error.status, json.dumps(payload).encode(), "application/json"

    def _injected(
        self, method: str, params: dict[str, Any], failure: _Failure
    ) -> tuple[int, bytes, str]:
        if failure.body is None:
            error = _ApiError(failure.status, failure.description, failure.retry_after)
            return self._error(method, params, error)
        self._record(Call(method, params, failure.status, description=failure.description))
        return failure.status, failure.body, "text/html"

    def _respond(
        self, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        """Route one HTTP request; returns (status, body, content type)."""
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        if match := re.fullmatch(r"/file/bot([^/]+)/(.+)", path):
            return self._download(match.group(1), match.group(2))
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z0-9_]*)", path)
        if match is None:
            return self._error(path, {}, _ApiError(HTTPStatus.NOT_FOUND, "Not Found"))
        token, requested = match.groups()
        method = self._by_lower.get(requested.lower(), requested)
        try:
            params = self._params(parts.query, headers, body)
        except (ValueError, UnicodeDecodeError, _ApiError) as exc:
            return self._error(method, {}, _bad_request(f"can't parse request: {exc}"))
        if token != self.token:
            return self._error(method, params, _ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized"))
        handler = self._methods.get(method)
        if handler is None:
            return self._error(method, params, _ApiError(HTTPStatus.NOT_FOUND, "Not Found"))
        if failure := self._take_failure(method):
            return self._injected(method, params, failure)
        self._take_delay(method)
        try:
            result = handler(params)
        except _ApiError as error:
            return self._error(method, params, error)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return self._error(method, params, _bad_request(f"{type(exc).__name__}: {exc}"))
        self._record(Call(method, params, result=result))
        return (
            HTTPStatus.OK,
            json.dumps({"ok": True, "result": result}).encode(),
            "application/json",
        )


@pytest.fixture
def fake_tg() -> Iterator[FakeTelegram]:
    """A started FakeTelegram, stopped after the test (import it into a test module to use)."""
    with FakeTelegram() as server:
        yield server
