"""Interaction callbacks, follow-ups and `@original` edits (interaction tokens)."""

from __future__ import annotations

from aiohttp import web

from .bodies import ParsedBody, parse_body
from .errors import ApiError
from .events import FollowUp, InteractionRejected, InteractionResponse
from .interactions import APPLICATION_COMMAND, MODAL_SUBMIT, StoredInteraction
from .messages import EPHEMERAL, LOADING, StoredMessage
from .payloads import JSON, user_payload
from .rest_helpers import API, json_ok, no_content, snowflake, truthy
from .state import StandinState
from .validation import check_message, check_payload

__all__ = ["InteractionRoutes"]

CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
CHAT_INPUT_REPLY = 20


class InteractionRoutes:
    def __init__(self, state: StandinState) -> None:
        self._state = state

    def routes(self) -> list[web.RouteDef]:
        path = f"{API}/interactions/{{interaction_id}}/{{token}}/callback"
        return [web.post(path, self.callback)]

    # -- POST /interactions/{id}/{token}/callback -----------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        state = self._state
        interaction = state.interactions.get(
            snowflake(request, "interaction_id"), request.match_info["token"]
        )
        self._check_fresh(interaction)
        body = await parse_body(request)
        response_type = int(body.payload.get("type", 0))
        data: JSON = body.payload.get("data") or {}
        message = await self._respond(interaction, response_type, ParsedBody(data, body.files))
        interaction.response_type = response_type
        state.recorder.record(
            InteractionResponse(
                interaction_id=interaction.id, response_type=response_type, data=data,
                files=[] if message is None else message.sent_files,
                message_id=None if message is None else message.id,
                ephemeral=bool(int(data.get("flags") or 0) & EPHEMERAL),
                latency=interaction.age,
            )
        )
        if not truthy(request.query.get("with_response")):
            return no_content()
        return json_ok(self._callback_body(interaction, response_type, message))

    def _check_fresh(self, interaction: StoredInteraction) -> None:
        recorder = self._state.recorder
        if interaction.age > self._state.config.interaction_timeout:
            recorder.record(
                InteractionRejected(interaction_id=interaction.id, reason="expired", code=10062)
            )
            raise ApiError.unknown("interaction", 10062)
        if interaction.acknowledged:
            recorder.record(
                InteractionRejected(
                    interaction_id=interaction.id, reason="already acknowledged", code=40060
                )
            )
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")

    async def _respond(
        self, interaction: StoredInteraction, response_type: int, body: ParsedBody
    ) -> StoredMessage | None:
        from_message = interaction.source_message_id is not None
        if response_type in (CHANNEL_MESSAGE, DEFERRED_MESSAGE):
            return await self._new_response(interaction, body, loading=response_type == 5)
        if response_type in (DEFERRED_UPDATE, UPDATE_MESSAGE) and from_message:
            assert interaction.source_message_id is not None
            interaction.original_message_id = interaction.source_message_id
            source = self._state.store.get(interaction.source_message_id)
            if response_type == UPDATE_MESSAGE:
                check_payload(body.payload)
                changed = self._state.store.apply(source, body, editing=True)
                check_message(source)
                await self._state.publisher.edited(source, changed, "interaction")
            return source
        if response_type == AUTOCOMPLETE_RESULT:
            return None
        if response_type == MODAL and interaction.type != MODAL_SUBMIT:
            for key in ("custom_id", "title", "components"):
                if not body.payload.get(key):
                    raise ApiError.invalid_form(f"data.{key}", "This field is required")
            interaction.modal = body.payload
            return None
        raise ApiError.invalid_form("type", f"Interaction response type {response_type} is invalid")

    async def _new_response(
        self, interaction: StoredInteraction, body: ParsedBody, *, loading: bool
    ) -> StoredMessage:
        flags = int(body.payload.get("flags") or 0)
        message = self.interaction_message(interaction, ephemeral=bool(flags & EPHEMERAL))
        if loading:
            message.flags |= LOADING
        else:
            check_payload(body.payload)
            self._state.store.apply(message, body, editing=False)
            message.flags |= flags & EPHEMERAL
            check_message(message)
        interaction.original_message_id = message.id
        await self._state.publisher.created(message, interaction_id=interaction.id)
        return message

    def interaction_message(
        self, interaction: StoredInteraction, *, ephemeral: bool
    ) -> StoredMessage:
        world = self._state.world
        metadata: JSON = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user_payload(interaction.user),
            "authorizing_integration_owners": {"0": str(world.guild_id)},
        }
        if interaction.source_message_id is not None:
            metadata["interacted_message_id"] = str(interaction.source_message_id)
        message = StoredMessage(
            self._state.store.new_id(), interaction.channel_id, "interaction", world.bot_user,
            type=CHAT_INPUT_REPLY if interaction.type == APPLICATION_COMMAND else 0,
            webhook_id=world.application_id, application_id=world.application_id,
            interaction_metadata=metadata,
            ephemeral_for=interaction.user.id if ephemeral else None,
        )
        if ephemeral:
            message.flags |= EPHEMERAL
        return message

    def _callback_body(
        self, interaction: StoredInteraction, response_type: int, message: StoredMessage | None
    ) -> JSON:
        info: JSON = {"id": str(interaction.id), "type": interaction.type}
        if message is not None:
            info["response_message_id"] = str(message.id)
            info["response_message_loading"] = message.loading
            info["response_message_ephemeral"] = message.ephemeral
        body: JSON = {"interaction": info}
        if message is not None:
            message_body = self._state.publisher.payload(message)
            body["resource"] = {"type": response_type, "message": message_body}
        return body

    # -- /webhooks/{application_id}/{interaction_token}... ----------------------------------------

    async def follow_up(self, interaction: StoredInteraction, request: web.Request) -> web.Response:
        if not interaction.acknowledged:
            raise ApiError.unknown("Webhook", 10015)
        state = self._state
        body = await parse_body(request)
        check_payload(body.payload)
        original = self._original(interaction, required=False)
        replaced = (
            original is not None and original.loading
            and interaction.response_type == DEFERRED_MESSAGE
        )
        if replaced:
            assert original is not None
            message = original
            changed = state.store.apply(message, body, editing=True)
            message.flags &= ~LOADING
            check_message(message)
            await state.publisher.edited(message, changed, "followup")
        else:
            flags = int(body.payload.get("flags") or 0)
            message = self.interaction_message(interaction, ephemeral=bool(flags & EPHEMERAL))
            message.source = "followup"
            state.store.apply(message, body, editing=False)
            check_message(message)
            await state.publisher.created(message, interaction_id=interaction.id)
        interaction.followup_ids.append(message.id)
        state.recorder.record(
            FollowUp(
                interaction_id=interaction.id, message_id=message.id, content=message.content,
                embeds=list(message.embeds), files=message.sent_files,
                ephemeral=message.ephemeral, replaced_loading=replaced,
            )
        )
        if not truthy(request.query.get("wait")):
            return no_content()
        return json_ok(state.publisher.payload(message))

    def _original(
        self, interaction: StoredInteraction, *, required: bool = True
    ) -> StoredMessage | None:
        found = (
            None if interaction.original_message_id is None
            else self._state.store.find(interaction.original_message_id)
        )
        if found is None and required:
            raise ApiError.unknown("Message", 10008)
        return found

    def _target(self, interaction: StoredInteraction, message_ref: str) -> StoredMessage:
        if message_ref == "@original":
            found = self._original(interaction)
            assert found is not None
            return found
        message_id = int(message_ref) if message_ref.isdigit() else -1
        known = {*interaction.followup_ids, interaction.original_message_id}
        if message_id not in known:
            raise ApiError.unknown("Message", 10008)
        return self._state.store.get(message_id)

    async def message_op(
        self, interaction: StoredInteraction, message_ref: str, request: web.Request
    ) -> web.Response:
        state = self._state
        message = self._target(interaction, message_ref)
        if request.method == "GET":
            return json_ok(state.publisher.payload(message))
        if request.method == "DELETE":
            await state.publisher.deleted(message, "interaction")
            return no_content()
        body = await parse_body(request)
        check_payload(body.payload)
        changed = state.store.apply(message, body, editing=True)
        message.flags &= ~LOADING
        check_message(message)
        return json_ok(await state.publisher.edited(message, changed, "interaction"))
