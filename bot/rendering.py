"""Result lists as Telegram HTML messages: escaped, linked, within Telegram's real limits, with
the "More" and feedback buttons.

Telegram limits a message to 4096 UTF-16 code units of its text *after* entity parsing: tags do
not count, "&amp;" counts one, an emoji outside the BMP counts two. So lengths are measured that
way, over-long names are shortened (as plain text, before escaping, so a cut never lands inside a
tag or an entity) and messages are split between lines only.
"""

import re
from collections.abc import Sequence
from html import escape, unescape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot.texts import Texts
from catalog.links import display_name, track_url
from catalog.recommender import Recommendation
from storage import Track

MESSAGE_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096 UTF-16 code units after entity parsing
# A name's share of a line: ten result lines and a header stay well inside one message.
NAME_BUDGET = 300  # UTF-16 code units
HEADER_NAME_BUDGET = 200
BUTTON_NAME_BUDGET = 48  # a button's text wider than the chat is cut by the app anyway
ELLIPSIS = "…"
_TAG = re.compile(r"<[^<>]*>")


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(html: str) -> int:
    """UTF-16 length of what Telegram shows for our HTML (tags dropped, entities resolved)."""
    return utf16_length(unescape(_TAG.sub("", html)))


def plain(html: str) -> str:
    """What Telegram shows for our HTML, for places that show no markup (a button's toast)."""
    return unescape(_TAG.sub("", html))


def shorten(text: str, budget: int) -> str:
    """`text` cut to at most `budget` UTF-16 units, ending in "…" when cut; never splits a
    surrogate pair (the cut is made on code points)."""
    if utf16_length(text) <= budget:
        return text
    kept, used = [], utf16_length(ELLIPSIS)
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def linked(track: Track, budget: int = NAME_BUDGET) -> str:
    """`<a href="…">Artist — Title</a>`, the name shortened to `budget`, escaped."""
    name = escape(shorten(display_name(track), budget))
    return f'<a href="{escape(track_url(track), quote=True)}">{name}</a>'


def result_lines(items: Sequence[Recommendation], texts: Texts) -> list[str]:
    return [
        texts.result_line.format(
            position=item.position, track=linked(item.track), percent=item.percent
        )
        for item in items
    ]


def _fit(line: str) -> str:
    """A line that alone exceeds a message (none of ours does) as shortened plain text."""
    if visible_length(line) <= MESSAGE_LIMIT:
        return line
    return escape(shorten(unescape(_TAG.sub("", line)), MESSAGE_LIMIT))


def split_messages(header: Sequence[str], lines: Sequence[str]) -> list[str]:
    """Join `header` and `lines` into as few messages as fit MESSAGE_LIMIT (measured as
    Telegram measures), splitting between lines only."""
    messages: list[str] = []
    current, size = "\n".join(_fit(line) for line in header), 0
    size = visible_length(current)
    for line in map(_fit, lines):
        length = visible_length(line)
        if current and size + 1 + length > MESSAGE_LIMIT:
            messages.append(current)
            current, size = line, length
        elif current:
            current, size = f"{current}\n{line}", size + 1 + length
        else:
            current, size = line, length
    if current.strip():
        messages.append(current)
    return messages


def header_lines(
    texts: Texts,
    name: str,
    tags: Sequence[str],
    in_catalog: Track | None,
    *,
    title: str | None = None,
    other_artists: bool = False,
) -> list[str]:
    """Title (`title`, a template with {name}: the file's by default), the query's top tags,
    when it is a catalog track which one, and whether other artists only are shown."""
    template = title or texts.results_title
    lines = [template.format(name=escape(shorten(name, HEADER_NAME_BUDGET)))]
    if tags:
        lines.append(texts.tags_line.format(tags=escape(" · ".join(tags))))
    if in_catalog is not None:
        lines.append(texts.in_catalog.format(track=linked(in_catalog)))
    if other_artists:
        lines.append(texts.other_artists_line)
    lines.append("")
    return lines


SIMILAR_BUTTONS_PER_ROW = 5


def result_keyboard(
    query_id: int,
    texts: Texts,
    more_from: int | None,
    items: Sequence[Recommendation] = (),
    other_artists: bool = False,
) -> InlineKeyboardMarkup:
    """Under every result list: 👍 👎; "🔁 N" for each result shown (tracks like it); the
    "other artists" switch, showing its state; and "More ▸" while results remain.

    Buttons name ranking entries, not list numbers, so they mean the same track whichever way
    the list is filtered later. The More button names the entry its page starts at
    (`more:QUERY:START`), so a second press of the same button is recognised as a repeat, not
    a wish for the page after.
    """
    votes = [
        InlineKeyboardButton(texts.like_button, callback_data=f"vote:{query_id}:1"),
        InlineKeyboardButton(texts.dislike_button, callback_data=f"vote:{query_id}:-1"),
    ]
    similar = [
        InlineKeyboardButton(
            texts.similar_button.format(number=item.position),
            callback_data=f"sim:{query_id}:{item.entry}",
        )
        for item in items
    ]
    rows = [votes]
    rows += [
        similar[start : start + SIMILAR_BUTTONS_PER_ROW]
        for start in range(0, len(similar), SIMILAR_BUTTONS_PER_ROW)
    ]
    switch = texts.other_artists_on if other_artists else texts.other_artists_off
    last = [
        InlineKeyboardButton(switch, callback_data=f"artists:{query_id}:{int(not other_artists)}")
    ]
    if more_from is not None:
        more = InlineKeyboardButton(texts.more_button, callback_data=f"more:{query_id}:{more_from}")
        last.append(more)
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def without_more(keyboard: InlineKeyboardMarkup) -> InlineKeyboardMarkup:
    """`keyboard` without its "More ▸" button: a list whose next page was sent."""
    rows = [
        [button for button in row if not str(button.callback_data or "").startswith("more:")]
        for row in keyboard.inline_keyboard
    ]
    return InlineKeyboardMarkup([row for row in rows if row])


def track_label(artist: str | None, title: str, seconds: float | None) -> str:
    """A search result's button: `Artist — Title (m:ss)`, shortened to fit a button."""
    name = f"{artist} — {title}" if artist else title
    length = f" ({int(seconds) // 60}:{int(seconds) % 60:02d})" if seconds else ""
    return shorten(name, BUTTON_NAME_BUDGET) + length
