"""RedactToken on a real logging handler: the token leaves neither a message nor a traceback."""

import io
import logging

from bot.app import RedactToken

TOKEN = "1234567:AAsecret-but-not-shaped-like-a-real-one"


def test_a_logged_traceback_is_redacted_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactToken(TOKEN))
    log = logging.getLogger("test_redact_token")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
        except ValueError:
            log.exception("getMe failed for %s", TOKEN, stack_info=True)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "was rejected" in text and "Stack (most recent" in text
    assert TOKEN not in text and "<token>" in text
