"""Going on from a result: "tracks like this one" from its stored vector (a 🔁 N button or
`/similar N`), and the "other artists" switch, remembered per user.

Result N means the N-th line of the list the user was shown last (their latest query, as their
switch shows it now); a button names its track by its place in the saved ranking, so it keeps
meaning that track however the list is filtered later.
"""

from html import escape

from telegram import Update, User

from bot.answering import (
    PAGE_SIZE,
    Reply,
    answer_in_line,
    answer_reply,
    other_artists_for,
    send_page,
    users_list,
)
from bot.context import BotContext, pressed, sender
from bot.rendering import HEADER_NAME_BUDGET, plain, shorten
from bot.texts import Texts, texts_for
from catalog.links import display_name
from catalog.numbers import SQLITE_INT_MAX, parse_number
from catalog.recommender import RESULTS_KEPT
from storage import Query, SentMedia, Track
from storage.errors import DiskFullError


async def explore(
    context: BotContext, chat_id: int, user: User, texts: Texts, track: Track
) -> None:
    """The answer to a catalog track, in the user's line: no download, no embedding."""
    resources = context.resources
    name = display_name(track)

    async def work() -> Reply:
        sent = SentMedia("similar", name, duration=track.duration)
        answer = await resources.recommender.answer_track(track, user_id=user.id, sent=sent)
        title = texts.similar_title
        return await answer_reply(resources, texts, user.id, answer, name, title=title)

    await answer_in_line(context, chat_id, user, texts, name, work)


async def similar_command(update: Update, context: BotContext) -> None:
    """/similar N: tracks like result N of the list the user was shown last."""
    message, user = sender(update)
    texts, resources = texts_for(user.language_code), context.resources
    args = context.args or []
    number = parse_number(args[0], 1, RESULTS_KEPT) if len(args) == 1 else None
    if number is None:
        await message.reply_text(texts.similar_usage)
        return
    query = await resources.database.queries.latest_for_user(user.id)
    if query is None:
        await message.reply_text(texts.no_query)
        return
    other = await other_artists_for(resources, user.id, query.sent)
    shown = await resources.recommender.shown(query.track_ids, query.scores, other)
    if number > len(shown):
        await message.reply_text(texts.similar_missing.format(number=number, count=len(shown)))
        return
    await explore(context, message.chat_id, user, texts, shown[number - 1].track)


async def on_similar(update: Update, context: BotContext) -> None:
    """A 🔁 N button (`sim:QUERY:ENTRY`): tracks like that result of that list."""
    callback, user, data = pressed(update)
    texts, resources = texts_for(user.language_code), context.resources
    _, query_text, entry_text = data.split(":")
    entry = parse_number(entry_text, 0, SQLITE_INT_MAX)
    query = await users_list(resources, user.id, query_text)
    track = None
    if query is not None and entry is not None and entry < len(query):
        track = await resources.database.tracks.get(int(query.track_ids[entry]))
    if track is None:  # another user's list, a forged button, or a track removed since
        await callback.answer(texts.expired_button, show_alert=True)
        return
    await callback.answer()
    chat_id = callback.message.chat.id if callback.message is not None else user.id
    await explore(context, chat_id, user, texts, track)


def list_title(texts: Texts, query: Query) -> str:
    """The header line of a list shown again: what it was asked about."""
    name = escape(shorten(query.sent.file_name or "🎵", HEADER_NAME_BUDGET))
    template = {
        "similar": texts.similar_title,
        "album": texts.album_title,
        "playlist": texts.playlist_title,
    }.get(query.sent.kind, texts.results_title)
    return template.format(name=name)


async def on_artists_switch(update: Update, context: BotContext) -> None:
    """The 👥 button (`artists:QUERY:ON`): the user's switch set, remembered, and the list it
    sits under shown again from its start as the switch now shows it. The list shown again is
    saved as the user's latest, so /top, More and /similar N follow what they now see."""
    callback, user, data = pressed(update)
    texts, resources = texts_for(user.language_code), context.resources
    _, query_text, on_text = data.split(":")
    query = await users_list(resources, user.id, query_text)
    if query is None:
        await callback.answer(texts.expired_button, show_alert=True)
        return
    on = on_text == "1"
    place = resources.paging.admit(user.id)  # one page at a time, like More and /top
    if place is None:
        await callback.answer(texts.page_in_flight)
        return
    async with place:
        await place.turn()
        try:
            await resources.database.users.set_other_artists(user.id, on)
            again = await resources.database.queries.save(
                user.id, query.sent, query.model_id, query.track_ids, query.scores, query.elapsed
            )
        except DiskFullError:
            await callback.answer(plain(texts.disk_full), show_alert=True)
            return
        await callback.answer(texts.other_artists_now_on if on else texts.other_artists_now_off)
        saved = await resources.database.queries.get(again)
        assert saved is not None, "just saved"
        chat_id = callback.message.chat.id if callback.message is not None else user.id
        header = [list_title(texts, saved)]
        if on:
            header.append(texts.other_artists_line)
        header.append("")
        await send_page(context, chat_id, texts, user.id, saved, 0, PAGE_SIZE, header)
