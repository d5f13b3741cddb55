"""Yandex Music in the chat: a track link is a question like a file, an album or playlist link
asks for tracks like its tracks; a few words are a search whose best tracks come back as
buttons, and a tap on one asks about that track.

What the chat says for each link it does not answer (an artist, the chart, a link it cannot
read, another site's link) is specific; of several links in a message the first counts; and no
link reaches the network before the user passed the gate and got a place in their line.
Search runs in private chats only: in a group, every whitelisted member's small talk would be
searched for.
"""

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.constants import ChatType

from bot.answering import Reply, answer_in_line, answer_reply
from bot.context import BotContext, pressed, sender
from bot.rendering import shorten, track_label
from bot.texts import Texts, texts_for
from catalog.yandex.links import (
    AlbumLink,
    ArtistLink,
    LinkError,
    PlaylistLink,
    TrackLink,
    UserPlaylistLink,
    describe,
    links_in,
    parse_link,
)
from catalog.yandex.questions import ManyTracks

SEARCH_MAX_CHARS = 100  # an artist and a title; a longer text is not a search
SEARCH_MIN_CHARS = 2
SHOWN_QUERY_CHARS = 60
_OTHER_LINK_SCHEMES = ("http://", "https://", "www.")


def link_kind(target: object, texts: Texts) -> str:
    """What a link the chat does not answer names (an artist, the chart), in the user's words."""
    return texts.link_artist if isinstance(target, ArtistLink) else texts.link_chart


async def on_text(update: Update, context: BotContext) -> None:
    """A text message: a Yandex Music link is answered, other text is searched for."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    text = message.text or ""
    links = links_in(text)
    if links:
        try:
            target = parse_link(links[0])
        except LinkError:
            await message.reply_text(texts.bad_link)
            return
        if isinstance(target, TrackLink | AlbumLink | PlaylistLink | UserPlaylistLink):
            await answer_link(context, message.chat_id, user, texts, target)
        else:
            kind = link_kind(target, texts)
            await message.reply_text(texts.not_a_track_link.format(kind=kind))
        return
    if any(scheme in text.lower() for scheme in _OTHER_LINK_SCHEMES):
        await message.reply_text(texts.other_link)
        return
    if message.chat.type != ChatType.PRIVATE:
        return  # small talk in a group is not a question for the bot
    words = " ".join(text.split())
    if len(words) > SEARCH_MAX_CHARS:
        await message.reply_text(texts.search_too_long.format(limit=SEARCH_MAX_CHARS))
    elif len(words) < SEARCH_MIN_CHARS:
        await message.reply_text(texts.send_audio)
    else:
        await search(context, message.chat_id, user, texts, words)


async def answer_link(
    context: BotContext, chat_id: int, user: User, texts: Texts, link: TrackLink | ManyTracks
) -> None:
    """The answer to a Yandex Music track, album or playlist, in the user's line."""
    resources = context.resources

    async def work() -> Reply:
        if isinstance(link, TrackLink):
            found = await resources.questions.answer(link, user_id=user.id)
            # a catalog track is named by the title; a new one may turn out to be one
            title = None if found.downloaded else texts.results_title
        else:
            found = await resources.questions.answer_many(link, user_id=user.id)
            album = isinstance(link, AlbumLink)
            title = texts.album_title if album else texts.playlist_title
        return await answer_reply(resources, texts, user.id, found.answer, found.name, title=title)

    name = describe(link)
    await answer_in_line(context, chat_id, user, texts, name, work, status_text=texts.looking_up)


async def search(context: BotContext, chat_id: int, user: User, texts: Texts, words: str) -> None:
    """Yandex Music's best tracks for `words` as buttons, in the user's line."""
    resources = context.resources

    async def work() -> Reply:
        found = await resources.questions.search(words)
        if not found:
            shown = escape(shorten(words, SHOWN_QUERY_CHARS))
            return Reply([texts.search_nothing.format(text=shown)])
        buttons = [
            [
                InlineKeyboardButton(
                    track_label(track.artist, track.title, track.duration),
                    callback_data=f"ym:{track.track_id}:{track.album_id}"
                    if track.album_id
                    else f"ym:{track.track_id}",
                )
            ]
            for track in found
        ]
        return Reply([texts.search_results], InlineKeyboardMarkup(buttons))

    status = texts.searching.format(text=escape(shorten(words, SHOWN_QUERY_CHARS)))
    await answer_in_line(context, chat_id, user, texts, words, work, status_text=status, quick=True)


async def on_search_pick(update: Update, context: BotContext) -> None:
    """A tap on a search result (`ym:TRACK[:ALBUM]`, ids checked by the handler's pattern):
    answered as a link to that track would be."""
    callback, user, data = pressed(update)
    texts = texts_for(user.language_code)
    _, track_id, *album = data.split(":")
    await callback.answer()
    chat_id = callback.message.chat.id if callback.message is not None else user.id
    link = TrackLink(track_id, album[0] if album else None)
    await answer_link(context, chat_id, user, texts, link)
