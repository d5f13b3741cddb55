"""Result lists as Telegram HTML messages: escaped, linked, split under the 4096-character
limit, with the "More" and feedback buttons."""

from collections.abc import Sequence
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot.links import display_name, track_url
from bot.recommender import Recommendation
from bot.texts import Texts
from storage import Track

MESSAGE_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096


def linked(track: Track) -> str:
    """`<a href="…">Artist — Title</a>`, escaped."""
    return f'<a href="{escape(track_url(track), quote=True)}">{escape(display_name(track))}</a>'


def result_lines(items: Sequence[Recommendation], texts: Texts) -> list[str]:
    return [
        texts.result_line.format(
            position=item.position, track=linked(item.track), percent=item.percent
        )
        for item in items
    ]


def split_messages(header: Sequence[str], lines: Sequence[str]) -> list[str]:
    """Join `header` and `lines` into as few messages as fit MESSAGE_LIMIT, never splitting
    a line."""
    messages: list[str] = []
    current = "\n".join(header)
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MESSAGE_LIMIT and current:
            messages.append(current)
            candidate = line[:MESSAGE_LIMIT]
        current = candidate
    if current:
        messages.append(current)
    return messages


def header_lines(
    texts: Texts, name: str, tags: Sequence[str], in_catalog: Track | None
) -> list[str]:
    """Title, the query's top tags and, when it is a catalog track, which one."""
    lines = [texts.results_title.format(name=escape(name))]
    if tags:
        lines.append(texts.tags_line.format(tags=escape(" · ".join(tags))))
    if in_catalog is not None:
        lines.append(texts.in_catalog.format(track=linked(in_catalog)))
    lines.append("")
    return lines


def result_keyboard(query_id: int, texts: Texts, more: bool) -> InlineKeyboardMarkup:
    """👍 👎 under every result list, and "More ▸" while results remain."""
    votes = [
        InlineKeyboardButton(texts.like_button, callback_data=f"vote:{query_id}:1"),
        InlineKeyboardButton(texts.dislike_button, callback_data=f"vote:{query_id}:-1"),
    ]
    rows = [votes]
    if more:
        rows.append([InlineKeyboardButton(texts.more_button, callback_data=f"more:{query_id}")])
    return InlineKeyboardMarkup(rows)
