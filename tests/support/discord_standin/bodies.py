"""Request bodies as discord.py sends them: JSON, or multipart with `payload_json` + `files[n]`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .errors import ApiError

__all__ = ["ParsedBody", "UploadedFile", "parse_body"]

_FILE_FIELD = re.compile(r"files\[(\d+)\]|file(\d*)")


@dataclass(frozen=True)
class UploadedFile:
    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class ParsedBody:
    payload: dict[str, Any]
    files: list[UploadedFile] = field(default_factory=list)


def _decode(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc
    if not isinstance(value, dict):
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    return value


async def parse_body(request: web.Request) -> ParsedBody:
    if not request.can_read_body:
        return ParsedBody({})
    if not request.content_type.startswith("multipart/"):
        return ParsedBody(_decode(await request.text()))
    payload: dict[str, Any] = {}
    files: list[UploadedFile] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "payload_json":
            payload = _decode(await part.text())
            continue
        match = _FILE_FIELD.fullmatch(part.name or "")
        if match is None:
            continue
        index = int(match.group(1) or match.group(2) or len(files))
        data = bytes(await part.read())
        filename = part.filename or f"file{index}"
        files.append(UploadedFile(index, filename, data, part.headers.get("Content-Type")))
    return ParsedBody(payload, files)
