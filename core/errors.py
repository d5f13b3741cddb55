"""Typed reasons why a track cannot be analysed.

Each error carries `reason`, an English sentence a person can read (the CLI prints it); the bot
maps the error's class to its own localised text.
"""


class AudioError(Exception):
    """A file that cannot be turned into a track embedding."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAudioError(AudioError):
    """The file is not audio, or ffmpeg cannot decode it."""


class NoSoundError(NotAudioError):
    """The file decodes but has no audio stream (a silent video, a GIF)."""


class TooShortError(AudioError):
    """Less audio than one analysis needs (MIN_TRACK_SECONDS)."""


class SilentError(AudioError):
    """The audio is (near) digital silence: there is nothing to compare."""


class DecodeTimeoutError(AudioError):
    """The decoder ran past its wall-clock limit."""


class ModelFileError(Exception):
    """A model's weight file is missing, corrupt or of the wrong architecture."""


class NoWorkersError(RuntimeError):
    """No embedding worker is left to take a track (a Ray cluster lost them all) and none came
    back in time; the caller should say the service is unavailable and try later."""


class RayUnavailableError(RuntimeError):
    """RAY_ADDRESS names a cluster, but `ray` is not installed or the cluster cannot be reached."""
