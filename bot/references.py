"""Which message an answer answers, shown only where it is not obvious.

When several people talk to one agent at once, answers interleave: each would sit under
the wrong question. A bot's own message can be a real Discord reply
(``message_reference``); a webhook post cannot, so an answer posted through the agent's
webhook starts, when needed, with one small grey line naming the asker (a mention that
pings nobody: every post carries ``allowed_mentions`` none) and linking to the message
(a jump link, shown by Discord as a chip)::

    -# ↪ @alice · https://discord.com/channels/<guild>/<channel>/<message>

It is needed when the answer would not sit right under its question: someone wrote in
that channel or thread since the question, another answer was posted there since, or
another reply is being written there at the same time. A lone question answered straight
away gets no line (nor does an answer whose only predecessor is its own plan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.posting import Poster

__all__ = ["Asked", "PlaceActivity", "ReferencedPoster"]

_ACTIVITY_MAX = 4096


@dataclass(frozen=True, slots=True)
class Asked:
    """The message an answer answers."""

    message_id: int
    place_id: int
    author_id: int
    jump_url: str

    @classmethod
    def of(cls, message: discord.Message) -> Asked:
        return cls(message.id, message.channel.id, message.author.id, message.jump_url)

    @property
    def line(self) -> str:
        return f"-# ↪ <@{self.author_id}> · {self.jump_url}"


class PlaceActivity:
    """The newest message id seen in each channel or thread: people's messages (from the
    gateway) and the answers' own posts."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}

    def saw(self, place_id: int, message_id: int) -> None:
        if message_id > self._latest.get(place_id, 0):
            self._latest[place_id] = message_id
        if len(self._latest) > _ACTIVITY_MAX:
            self._latest.pop(next(iter(self._latest)))

    def since(self, place_id: int, message_id: int) -> bool:
        """True when something newer than ``message_id`` was seen there."""
        return self._latest.get(place_id, 0) > message_id


class ReferencedPoster:
    """A :class:`~bot.posting.Poster` whose first message starts with the asker's line when
    ``needed()`` says so at the moment it is posted (edits keep the line)."""

    def __init__(self, inner: Poster, asked: Asked, activity: PlaceActivity,
                 needed: Callable[[], bool]) -> None:
        self._inner = inner
        self._asked = asked
        self._activity = activity
        self._needed = needed
        self._line = asked.line + "\n"
        self._first: int | None = None
        self._shown = False

    @property
    def limit(self) -> int:
        return self._inner.limit - len(self._line)

    @property
    def channel_id(self) -> int:
        return self._inner.channel_id

    async def send(self, content: str) -> int:
        first = self._first is None
        if first:
            self._shown = self._needed() or self._activity.since(self._asked.place_id,
                                                                 self._asked.message_id)
        message_id = await self._inner.send(self._line + content if first and self._shown
                                            else content)
        if first:
            self._first = message_id
        self._activity.saw(self._asked.place_id, message_id)
        return message_id

    async def edit(self, message_id: int, content: str) -> None:
        if message_id == self._first and self._shown:
            content = self._line + content
        await self._inner.edit(message_id, content)
