"""Messages people posted in the past, while no bot was listening (for catch-up tests).

Discord's ids carry the time a message was sent; a message made here gets an id (and a
``timestamp``) ``age_s`` seconds old, is stored like any other (history, fetch) and is
dispatched to nobody.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .events import UserMessage
from .messages import StoredMessage
from .server import StandinDiscord
from .snowflake import DISCORD_EPOCH_MS
from .world import ChannelRef, UserRef

__all__ = ["past_message"]

_LOW_BITS = (1 << 22) - 1


def past_message(standin: StandinDiscord, channel: ChannelRef, author: UserRef, content: str,
                 *, age_s: float) -> StoredMessage:
    """Store a message ``author`` sent in ``channel`` ``age_s`` seconds ago (no dispatch)."""
    state = standin.state
    world = state.world
    sent_at = time.time() - age_s
    unique = state.store.new_id() & _LOW_BITS
    message_id = ((int(sent_at * 1000) - DISCORD_EPOCH_MS) << 22) | unique
    where, user = world.channel(channel), world.user(author)
    message = StoredMessage(message_id, where.id, "user", user, content=content,
                            timestamp=datetime.fromtimestamp(sent_at, UTC).isoformat())
    state.store.add(message)
    state.recorder.record(UserMessage(message_id=message.id, channel_id=where.id,
                                      author_id=user.id, content=content))
    return message
