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
    looking_up: str
    similar_title: str
    album_title: str
    playlist_title: str
    similar_usage: str
    similar_missing: str
    similar_button: str
    other_artists_on: str
    other_artists_off: str
    other_artists_now_on: str
    other_artists_now_off: str
    other_artists_line: str
    no_sound: str
    no_token: str
    track_unavailable: str
    not_a_track_link: str
    link_artist: str
    link_chart: str
    searching: str
    bad_link: str
    other_link: str
    yandex_down: str
    yandex_not_found: str
    yandex_refused: str
    too_long: str
    search_results: str
    search_nothing: str
    search_too_long: str


ENGLISH = Texts(
    help=(
        "🎧 <b>Soundalike</b> finds music that sounds like yours.\n\n"
        "<b>Ask me about a track</b> in any of these ways, and I answer with the most "
        "similar-sounding tracks of my catalog, each with a Yandex Music link:\n"
        "• a <b>Yandex Music link</b> to a track (Share → Copy link in the app), "
        "e.g. music.yandex.ru/album/123/track/456, or to an album or a playlist\n"
        "• a <b>few words</b>: the artist and the title, e.g. <code>Кино Группа крови</code> or "
        "<code>Radiohead - Creep</code>; tap one of the tracks I find\n"
        "• a <b>file</b>: an mp3 or other audio, as audio, as a document or as a voice note\n"
        "• a <b>video</b>, a video note or a GIF with sound: I listen to its sound track\n\n"
        "<b>Under every list</b>\n"
        "🔁 N — tracks like result N (go on from any result you like)\n"
        "👥 Other artists — on: leave out the artist you asked about, at most 2 tracks per "
        "artist, no duplicate songs; off: plain similarity (the default). I remember it.\n"
        "More ▸ — the next 10 results\n\n"
        "<b>Commands</b>\n"
        "/top — the next 10 results of your last list\n"
        "/top N — the top N results (1–50)\n"
        "/similar N — tracks like result N of the list I showed you last\n"
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
    no_query="Send me a track first (a file, a Yandex Music link or an artist and a title), "
    "then /top shows more results.",
    more_button="More ▸",
    like_button="👍",
    dislike_button="👎",
    thanks_vote="Thanks for the feedback!",
    top_usage="Use /top for the next 10 results, or /top N with N from 1 to 50.",
    too_big="📦 This file is {size} MB; I can take files up to {limit} MB. Please send a shorter "
    "or more compressed version.",
    not_audio_document="📄 This document is not an audio file. Send an mp3, ogg, m4a, flac or wav.",
    not_audio="🎵 That is not something I can listen to. Send an audio file, a voice note, a "
    "video with sound, a Yandex Music link or an artist and a title.",
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
    send_audio="Send me a track (a file, a voice note, a video), a Yandex Music link or an "
    "artist and a title, and I will find similar music.",
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
    looking_up="🔎 Looking up the Yandex Music track…",
    similar_title="🔁 <b>Tracks like: {name}</b>",
    album_title="💿 <b>Tracks like the album: {name}</b>",
    playlist_title="📃 <b>Tracks like the playlist: {name}</b>",
    similar_usage="Use /similar N, with N the number of a result in the list I showed you last "
    "(e.g. /similar 3).",
    similar_missing="Your last list has no result {number}: it has {count}.",
    similar_button="🔁 {number}",
    other_artists_on="👥 Other artists: on",
    other_artists_off="👥 Other artists: off",
    other_artists_now_on="Other artists only: on. Here is the list again.",
    other_artists_now_off="Other artists only: off. Here is the list again.",
    other_artists_line="<i>👥 Other artists only</i>",
    no_sound="🔇 This video has no sound — there is nothing for me to listen to. Send one with "
    "sound, or the track itself.",
    no_token="🔑 That is not in my catalog yet, and this bot is not set up to download "
    "from Yandex Music (the admin has not given it a Yandex Music token). Send me the track as "
    "a file instead.",
    track_unavailable="🚫 Yandex Music will not give me this track: it was removed, is not "
    "available in this region, or only a preview is offered. Send me the track as a file "
    "instead.",
    not_a_track_link="💿 That is a link to {kind}. Send me a link to a track, an album or a "
    "playlist: open it in Yandex Music and choose Share → Copy link.",
    link_artist="an artist",
    link_chart="the chart",
    searching="🔎 Searching Yandex Music for {text}…",
    bad_link="🤔 I could not read this Yandex Music link. A track link looks like "
    "https://music.yandex.ru/album/123/track/456",
    other_link="🔗 I understand Yandex Music links (music.yandex.ru). Send one to a track, a "
    "few words to search for, or the track itself.",
    yandex_down="🌐 Yandex Music is not answering right now. Please try again in a minute.",
    yandex_not_found="🔍 Yandex Music has no track at this link. Check the link and try again.",
    yandex_refused="🔑 Yandex Music refused this bot's token. Please tell the admin; until it "
    "is renewed, send tracks as files.",
    too_long="⏱ This track is too long for me: its file would be about {size} MB, and I take "
    "up to {limit} MB.",
    search_results="🔎 Found on Yandex Music — tap a track to hear what sounds like it:",
    search_nothing="🔍 Yandex Music found nothing for “{text}”. Try the artist and the title, "
    "e.g. <code>Кино Группа крови</code> or <code>Radiohead - Creep</code>.",
    search_too_long="✂️ That is a lot of words. Send an artist and a title (up to {limit} "
    "characters), a Yandex Music link or the track itself.",
)

RUSSIAN = Texts(
    help=(
        "🎧 <b>Soundalike</b> находит музыку, похожую на вашу.\n\n"
        "<b>Спросите меня о треке</b> любым способом — я отвечу списком самых похожих по "
        "звучанию треков из каталога со ссылками на Яндекс Музыку:\n"
        "• <b>ссылка на трек в Яндекс Музыке</b> (в приложении: Поделиться → Скопировать "
        "ссылку), например music.yandex.ru/album/123/track/456, или на альбом или плейлист\n"
        "• <b>пара слов</b>: исполнитель и название, например <code>Кино Группа крови</code> "
        "или <code>Radiohead - Creep</code>; нажмите на один из найденных треков\n"
        "• <b>файл</b>: mp3 или другое аудио — как аудио, документ или голосовое\n"
        "• <b>видео</b>, кружок или GIF со звуком: я послушаю его звуковую дорожку\n\n"
        "<b>Под каждым списком</b>\n"
        "🔁 N — треки, похожие на результат N (идите дальше от понравившегося)\n"
        "👥 Другие исполнители — вкл.: без исполнителя, о котором вы спросили, не больше 2 "
        "треков одного исполнителя, без повторов песен; выкл.: просто по похожести (по "
        "умолчанию). Я запоминаю выбор.\n"
        "Ещё ▸ — следующие 10 результатов\n\n"
        "<b>Команды</b>\n"
        "/top — следующие 10 результатов последнего списка\n"
        "/top N — первые N результатов (1–50)\n"
        "/similar N — треки, похожие на результат N последнего списка\n"
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
    no_query="Сначала пришлите трек (файл, ссылку на Яндекс Музыку или исполнителя и "
    "название), тогда /top покажет больше результатов.",
    more_button="Ещё ▸",
    like_button="👍",
    dislike_button="👎",
    thanks_vote="Спасибо за отзыв!",
    top_usage="/top — следующие 10 результатов, /top N — первые N (от 1 до 50).",
    too_big="📦 Файл весит {size} МБ, а я принимаю до {limit} МБ. Пришлите версию покороче "
    "или посильнее сжатую.",
    not_audio_document="📄 Этот документ не аудиофайл. Пришлите mp3, ogg, m4a, flac или wav.",
    not_audio="🎵 Это я послушать не могу. Пришлите аудиофайл, голосовое, видео со звуком, "
    "ссылку на Яндекс Музыку или исполнителя и название.",
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
    send_audio="Пришлите трек (файл, голосовое, видео), ссылку на Яндекс Музыку или "
    "исполнителя и название, и я найду похожую музыку.",
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
    looking_up="🔎 Ищу трек в Яндекс Музыке…",
    similar_title="🔁 <b>Похожие на: {name}</b>",
    album_title="💿 <b>Похожие на альбом: {name}</b>",
    playlist_title="📃 <b>Похожие на плейлист: {name}</b>",
    similar_usage="/similar N — треки, похожие на результат N последнего списка (например, "
    "/similar 3).",
    similar_missing="В последнем списке нет результата {number}: в нём {count}.",
    similar_button="🔁 {number}",
    other_artists_on="👥 Другие исполнители: вкл.",
    other_artists_off="👥 Другие исполнители: выкл.",
    other_artists_now_on="Только другие исполнители: вкл. Вот список заново.",
    other_artists_now_off="Только другие исполнители: выкл. Вот список заново.",
    other_artists_line="<i>👥 Только другие исполнители</i>",
    no_sound="🔇 В этом видео нет звука — мне нечего слушать. Пришлите видео со звуком или сам "
    "трек.",
    no_token="🔑 Этого пока нет в каталоге, а скачивать из Яндекс Музыки этот бот не "
    "настроен (администратор не дал ему токен Яндекс Музыки). Пришлите трек файлом.",
    track_unavailable="🚫 Яндекс Музыка не отдаёт этот трек: он удалён, недоступен в этом "
    "регионе или доступен только фрагмент. Пришлите трек файлом.",
    not_a_track_link="💿 Это ссылка на {kind}. Пришлите ссылку на трек, альбом или плейлист: "
    "откройте его в Яндекс Музыке и выберите «Поделиться» → «Скопировать ссылку».",
    link_artist="исполнителя",
    link_chart="чарт",
    searching="🔎 Ищу в Яндекс Музыке: {text}…",
    bad_link="🤔 Не получилось разобрать ссылку на Яндекс Музыку. Ссылка на трек выглядит так: "
    "https://music.yandex.ru/album/123/track/456",
    other_link="🔗 Я понимаю ссылки на Яндекс Музыку (music.yandex.ru). Пришлите ссылку на "
    "трек, пару слов для поиска или сам трек.",
    yandex_down="🌐 Яндекс Музыка сейчас не отвечает. Попробуйте через минуту.",
    yandex_not_found="🔍 В Яндекс Музыке нет трека по этой ссылке. Проверьте ссылку.",
    yandex_refused="🔑 Яндекс Музыка не принимает токен этого бота. Сообщите администратору; "
    "пока его не обновят, присылайте треки файлами.",
    too_long="⏱ Этот трек для меня слишком длинный: его файл весил бы около {size} МБ, а я "
    "принимаю до {limit} МБ.",
    search_results="🔎 Нашёл в Яндекс Музыке — нажмите на трек, чтобы услышать похожие:",
    search_nothing="🔍 Яндекс Музыка ничего не нашла по запросу «{text}». Напишите исполнителя "
    "и название, например <code>Кино Группа крови</code> или <code>Radiohead - Creep</code>.",
    search_too_long="✂️ Слишком много слов. Пришлите исполнителя и название (до {limit} "
    "символов), ссылку на Яндекс Музыку или сам трек.",
)


def texts_for(language_code: str | None) -> Texts:
    """Russian for a Russian-language Telegram client, English for everyone else."""
    return RUSSIAN if (language_code or "").lower().startswith("ru") else ENGLISH
