"""Stored messages and attachments, and applying a create/edit body to a message."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .bodies import ParsedBody, UploadedFile
from .errors import ApiError
from .events import MessageSource, SentFile
from .snowflake import SnowflakeFactory, iso_now
from .world import StandinUser

__all__ = [
    "EPHEMERAL",
    "LOADING",
    "MessageStore",
    "StoredAttachment",
    "StoredMessage",
]

EPHEMERAL = 1 << 6
LOADING = 1 << 7
_SETTABLE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)  # suppress embeds/notifications, components v2


@dataclass
class StoredAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    description: str | None
    url: str

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            body["description"] = self.description
        return body

    def as_sent_file(self) -> SentFile:
        return SentFile(self.filename, self.data, self.content_type, self.description)


@dataclass
class StoredMessage:
    """One message as Discord holds it; edits mutate it, deletes flag it."""

    id: int
    channel_id: int
    source: MessageSource
    author: StandinUser | None
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    webhook_id: int | None = None
    username: str | None = None
    avatar_url: str | None = None
    reference_id: int | None = None
    allowed_mentions: dict[str, Any] | None = None
    extra_mention_ids: list[int] = field(default_factory=list)
    interaction_metadata: dict[str, Any] | None = None
    application_id: int | None = None
    thread_id: int | None = None
    ephemeral_for: int | None = None
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    edit_count: int = 0
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def author_id(self) -> int:
        if self.webhook_id is not None and self.author is None:
            return self.webhook_id
        assert self.author is not None
        return self.author.id

    @property
    def author_name(self) -> str:
        if self.username is not None:
            return self.username
        return "" if self.author is None else self.author.name

    @property
    def sent_files(self) -> list[SentFile]:
        return [a.as_sent_file() for a in self.attachments]


class MessageStore:
    def __init__(self, ids: SnowflakeFactory) -> None:
        self._ids = ids
        self._messages: dict[int, StoredMessage] = {}
        self._attachments: dict[int, StoredAttachment] = {}
        self.cdn_base = ""

    def add(self, message: StoredMessage) -> StoredMessage:
        self._messages[message.id] = message
        return message

    def new_id(self) -> int:
        return self._ids.next()

    def find(self, message_id: int) -> StoredMessage | None:
        message = self._messages.get(message_id)
        return None if message is None or message.deleted else message

    def get(self, message_id: int, channel_id: int | None = None) -> StoredMessage:
        message = self.find(message_id)
        if message is None or (channel_id is not None and message.channel_id != channel_id):
            raise ApiError.unknown("Message", 10008)
        return message

    def all(self) -> Iterator[StoredMessage]:
        return iter(sorted(self._messages.values(), key=lambda m: m.id))

    def in_channel(self, channel_id: int) -> list[StoredMessage]:
        return [m for m in self.all() if m.channel_id == channel_id and not m.deleted]

    def attachment(self, attachment_id: int) -> StoredAttachment | None:
        return self._attachments.get(attachment_id)

    def apply(self, message: StoredMessage, body: ParsedBody, *, editing: bool) -> dict[str, Any]:
        """Apply the fields present in `body` to `message`; returns the fields that were set."""
        payload = body.payload
        changed: dict[str, Any] = {}
        if "content" in payload:
            message.content = "" if payload["content"] is None else str(payload["content"])
            changed["content"] = message.content
        for key in ("embeds", "components"):
            if key in payload:
                setattr(message, key, list(payload[key] or []))
                changed[key] = getattr(message, key)
        if "flags" in payload and payload["flags"] is not None:
            kept = message.flags & ~_SETTABLE_FLAGS
            message.flags = kept | (int(payload["flags"]) & _SETTABLE_FLAGS)
            changed["flags"] = message.flags
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
            changed["allowed_mentions"] = message.allowed_mentions
        if "attachments" in payload or body.files:
            message.attachments = self._attachments_for(message, payload, body.files, editing)
            changed["attachments"] = [a.filename for a in message.attachments]
        return changed

    def _attachments_for(
        self, message: StoredMessage, payload: dict[str, Any],
        files: list[UploadedFile], editing: bool,
    ) -> list[StoredAttachment]:
        existing = {a.id: a for a in message.attachments} if editing else {}
        uploads = {f.index: f for f in files}
        result: list[StoredAttachment] = []
        used: set[int] = set()
        if "attachments" in payload:
            for entry in payload["attachments"] or []:
                raw = int(entry.get("id", -1))
                if raw in existing:
                    result.append(existing[raw])
                elif raw in uploads:
                    used.add(raw)
                    result.append(self._store(message, uploads[raw], entry))
        else:
            result.extend(existing.values())
        result.extend(self._store(message, f, {}) for f in files if f.index not in used)
        return result

    def _store(
        self, message: StoredMessage, upload: UploadedFile, entry: dict[str, Any]
    ) -> StoredAttachment:
        attachment_id = self._ids.next()
        filename = str(entry.get("filename") or upload.filename)
        guessed = mimetypes.guess_type(filename)[0]
        attachment = StoredAttachment(
            id=attachment_id,
            filename=filename,
            data=upload.data,
            content_type=guessed or upload.content_type,
            description=entry.get("description"),
            url=f"{self.cdn_base}/attachments/{message.channel_id}/{attachment_id}/{filename}",
        )
        self._attachments[attachment_id] = attachment
        return attachment

    def store_user_attachment(
        self, message: StoredMessage, filename: str, data: bytes, content_type: str | None
    ) -> StoredAttachment:
        return self._store(message, UploadedFile(0, filename, data, content_type), {})
