"""Every text a Telegram user reads, per language: Russian for Russian-language users, English
otherwise. Texts are HTML (the bot sends with parse_mode=HTML); placeholders are filled with
already-escaped values."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Texts:
    help: str
    analysing: str
    queued: str
    queue_full: str
    results_title: str
    tags_line: str
    in_catalog: str
    result_line: str
    no_more: str
    no_query: str
    more_button: str
    like_button: str
    dislike_button: str
    thanks_vote: str
    top_usage: str
    too_big: str
    not_audio_document: str
    not_audio: str
    undecodable: str
    too_short: str
    silent: str
    timeout: str
    empty_catalog: str
    failed: str
    failed_command: str
    disk_full: str
    page_in_flight: str
    already_sent: str
    unavailable: str
    send_audio: str
    stranger: str
    not_allowed: str
    allow_usage: str
    deny_usage: str
    allowed: str
    denied: str
    not_in_list: str
    cannot_deny_admin: str
    users_header: str
    users_empty: str
    expired_button: str


ENGLISH = Texts(
    help=(
        "🎧 <b>Soundalike</b> finds music that sounds like yours.\n\n"
        "Send me a track — an mp3 or other audio file, as audio, as a document or as a voice "
        "note — and I will answer with the most similar-sounding tracks of my catalog, each "
        "with a Yandex Music link.\n\n"
        "<b>Commands</b>\n"
        "/top — the next 10 results of your last track\n"
        "/top N — the top N results (1–50)\n"
        "/help — this message"
    ),
    analysing="🎧 Analysing {name}…",
    queued="⏳ {name} is queued: I will analyse it right after your current track.",
    queue_full="✋ You already have {count} tracks waiting. Send this one again when they are "
    "done.",
    results_title="🎶 <b>Sounds like {name}</b>",
    tags_line="<i>{tags}</i>",
    in_catalog="📀 This track is already in the catalog: {track}",
    result_line="{position}. {track} — {percent}%",
    no_more="That was everything I found for your last track. Send me another one!",
    no_query="Send me a track first, then /top shows more results.",
    more_button="More ▸",
    like_button="👍",
    dislike_button="👎",
    thanks_vote="Thanks for the feedback!",
    top_usage="Use /top for the next 10 results, or /top N with N from 1 to 50.",
    too_big="📦 This file is {size} MB; I can take files up to {limit} MB. Please send a shorter "
    "or more compressed version.",
    not_audio_document="📄 This document is not an audio file. Send an mp3, ogg, m4a, flac or wav.",
    not_audio="🎵 That is not something I can listen to. Send an audio file or a voice note.",
    undecodable="🤔 I could not decode this file: it seems damaged or is not audio.",
    too_short="⏱ This track is too short: I need at least {seconds} seconds of audio.",
    silent="🔇 This track is silent — there is nothing to compare.",
    timeout="⌛ Decoding this file took too long. Try another copy of the track.",
    empty_catalog="📭 The catalog is empty, so I have nothing to compare with yet. Ask an admin "
    "to import tracks.",
    failed="😕 Something went wrong while analysing this track. Please try again.",
    failed_command="😕 Something went wrong. Please try again.",
    disk_full="💾 Could not save: the server's disk is full. Nothing was changed; please try "
    "again later (an admin needs to free space).",
    page_in_flight="⏳ Your results are on their way — one page at a time.",
    already_sent="This page was already sent: see the messages below.",
    unavailable="🛠 The analysis service is unavailable right now. Please try again later.",
    send_audio="Send me a track (audio, document or voice note) and I will find similar music.",
    stranger="🔒 Sorry, this bot is private. Ask an admin to add you; your Telegram id is "
    "<code>{user_id}</code>.",
    not_allowed="⛔ This command is for admins only.",
    allow_usage="Usage: /allow TELEGRAM_ID",
    deny_usage="Usage: /deny TELEGRAM_ID",
    allowed="✅ User <code>{user_id}</code> may use the bot now.",
    denied="🚫 User <code>{user_id}</code> may no longer use the bot.",
    not_in_list="User <code>{user_id}</code> was not on the whitelist.",
    cannot_deny_admin="Admins are set by ADMIN_IDS and cannot be denied here.",
    users_header="<b>Whitelisted users</b> ({count}):",
    users_empty="Nobody is whitelisted yet (admins are always allowed).",
    expired_button="These results are no longer available.",
)

RUSSIAN = Texts(
    help=(
        "🎧 <b>Soundalike</b> находит музыку, похожую на вашу.\n\n"
        "Пришлите трек — mp3 или другой аудиофайл, как аудио, документ или голосовое "
        "сообщение, — и я отвечу списком самых похожих по звучанию треков из каталога со "
        "ссылками на Яндекс Музыку.\n\n"
        "<b>Команды</b>\n"
        "/top — следующие 10 результатов по последнему треку\n"
        "/top N — первые N результатов (1–50)\n"
        "/help — эта справка"
    ),
    analysing="🎧 Слушаю {name}…",
    queued="⏳ {name} в очереди: займусь им сразу после текущего трека.",
    queue_full="✋ У вас уже ждут {count} трека. Пришлите этот снова, когда они будут готовы.",
    results_title="🎶 <b>Похоже на {name}</b>",
    tags_line="<i>{tags}</i>",
    in_catalog="📀 Этот трек уже есть в каталоге: {track}",
    result_line="{position}. {track} — {percent}%",
    no_more="Это всё, что я нашёл по последнему треку. Пришлите другой!",
    no_query="Сначала пришлите трек, тогда /top покажет больше результатов.",
    more_button="Ещё ▸",
    like_button="👍",
    dislike_button="👎",
    thanks_vote="Спасибо за отзыв!",
    top_usage="/top — следующие 10 результатов, /top N — первые N (от 1 до 50).",
    too_big="📦 Файл весит {size} МБ, а я принимаю до {limit} МБ. Пришлите версию покороче "
    "или посильнее сжатую.",
    not_audio_document="📄 Этот документ не аудиофайл. Пришлите mp3, ogg, m4a, flac или wav.",
    not_audio="🎵 Это я послушать не могу. Пришлите аудиофайл или голосовое сообщение.",
    undecodable="🤔 Не удалось декодировать файл: похоже, он повреждён или это не аудио.",
    too_short="⏱ Трек слишком короткий: нужно хотя бы {seconds} секунды звука.",
    silent="🔇 В треке тишина — сравнивать нечего.",
    timeout="⌛ Файл декодировался слишком долго. Попробуйте другую копию трека.",
    empty_catalog="📭 Каталог пока пуст, сравнивать не с чем. Попросите администратора "
    "импортировать треки.",
    failed="😕 Что-то пошло не так при анализе трека. Попробуйте ещё раз.",
    failed_command="😕 Что-то пошло не так. Попробуйте ещё раз.",
    disk_full="💾 Не удалось сохранить: на сервере закончилось место на диске. Ничего не "
    "изменилось; попробуйте позже (администратору нужно освободить место).",
    page_in_flight="⏳ Результаты уже в пути — по одной странице за раз.",
    already_sent="Эта страница уже отправлена: смотрите сообщения ниже.",
    unavailable="🛠 Сервис анализа сейчас недоступен. Попробуйте позже.",
    send_audio="Пришлите трек (аудио, документ или голосовое), и я найду похожую музыку.",
    stranger="🔒 Извините, это закрытый бот. Попросите администратора добавить вас; ваш "
    "Telegram id — <code>{user_id}</code>.",
    not_allowed="⛔ Эта команда только для администраторов.",
    allow_usage="Использование: /allow TELEGRAM_ID",
    deny_usage="Использование: /deny TELEGRAM_ID",
    allowed="✅ Пользователь <code>{user_id}</code> теперь может пользоваться ботом.",
    denied="🚫 Пользователь <code>{user_id}</code> больше не может пользоваться ботом.",
    not_in_list="Пользователя <code>{user_id}</code> не было в списке.",
    cannot_deny_admin="Администраторы задаются в ADMIN_IDS, их нельзя отключить здесь.",
    users_header="<b>Пользователи в списке</b> ({count}):",
    users_empty="В списке пока никого нет (администраторам доступ открыт всегда).",
    expired_button="Эти результаты больше недоступны.",
)


def texts_for(language_code: str | None) -> Texts:
    """Russian for a Russian-language Telegram client, English for everyone else."""
    return RUSSIAN if (language_code or "").lower().startswith("ru") else ENGLISH
