"""The Telegram bot and the command line: the only package that knows core and storage both."""

import os

# python-telegram-bot's documented opt-in: media durations as datetime.timedelta, the type
# they will have in its next major version (and no deprecation warnings until then).
os.environ.setdefault("PTB_TIMEDELTA", "1")
