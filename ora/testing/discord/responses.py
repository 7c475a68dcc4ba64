"""Interaction response semantics, independent of HTTP.

Implements what Discord does with ``POST /interactions/{id}/{token}/callback`` and the interaction webhook
(``/webhooks/{app}/{token}`` and ``.../messages/@original|{id}``): one initial response within the deadline
(else 404 code 10062 "Unknown interaction"; a second one gets 400 code 40060 "Interaction has already been
acknowledged."), a deferral's loading message replaced by the first follow-up or an edit, message validation
(2000 characters, 10 embeds, no empty messages). Each method returns ``(status, json_body_or_None)`` and
records what happened on the :class:`~ora.testing.discord.records.InteractionRecord`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ora.testing.discord import payloads
from ora.testing.discord.attachments import StoredAttachment
from ora.testing.discord.payloads import JSON
from ora.testing.discord.records import EPHEMERAL, LOADING, InteractionRecord, UploadedFile
from ora.testing.discord.state import EmulatorState

__all__ = ["InteractionResponder", "Result"]

Result = tuple[int, JSON | None]

_UNKNOWN_INTERACTION: Result = (404, payloads.error_body(10062, "Unknown interaction"))
_ALREADY_ACKED: Result = (400, payloads.error_body(40060, "Interaction has already been acknowledged."))
_UNKNOWN_WEBHOOK: Result = (404, payloads.error_body(10015, "Unknown Webhook"))
_UNKNOWN_MESSAGE: Result = (404, payloads.error_body(10008, "Unknown Message"))
_INVALID_TOKEN: Result = (401, payloads.error_body(50027, "Invalid Webhook Token"))
#: interaction type -> allowed callback types
_ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    1: frozenset({1}),
    2: frozenset({4, 5, 9, 12}),
    3: frozenset({4, 5, 6, 7, 9, 12}),
    4: frozenset({8}),
    5: frozenset({4, 5, 6, 7, 12}),
}


def _form_error(field: str, code: str, message: str) -> JSON:
    return payloads.error_body(50035, "Invalid Form Body", {field: {"_errors": [{"code": code, "message": message}]}})


def validate_message(body: Mapping[str, Any], *, creating: bool, files: int) -> tuple[str, JSON] | None:
    """Discord's message checks: returns ``(error text, error body)`` or ``None``."""
    content = body.get("content")
    if content is not None and len(str(content)) > 2000:
        return (
            f"content too long ({len(str(content))} > 2000 characters)",
            _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."),
        )
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        return "more than 10 embeds", _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if creating and not (content or embeds or body.get("components") or files or body.get("poll")):
        return "empty message", payloads.error_body(50006, "Cannot send an empty message")
    return None


class InteractionResponder:
    """Applies callbacks, edits and follow-ups to interaction records."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # ------------------------------------------------------------------ helpers

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _fail(self, rec: InteractionRecord, error: str, result: Result) -> Result:
        rec.errors.append(error)
        rec.changed()
        return result

    def _attachments(
        self, rec: InteractionRecord, body: Mapping[str, Any], files: Sequence[UploadedFile]
    ) -> list[JSON]:
        """Attachment objects for a message: kept ones (by id) plus uploads, served by the emulated CDN."""
        st = self.state
        meta = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, Mapping)}
        out: list[JSON] = []
        for index, upload in enumerate(files):
            info = meta.get(str(index), {})
            item = StoredAttachment(
                id=st.ids.next(),
                channel_id=int(rec.payload["channel_id"]),
                filename=str(info.get("filename") or upload.filename),
                content_type=upload.content_type,
                size=len(upload.data),
                content=upload.data,
                seed=0,
                fault=None,
                description=info.get("description"),
            )
            st.attachment_store.add(item)
            out.append(st.attachment_store.object(item, st.base_url))
        return out

    def _message(
        self,
        rec: InteractionRecord,
        body: Mapping[str, Any],
        *,
        message_id: int,
        flags: int,
        attachments: Sequence[JSON],
        message_type: int,
        edited: bool = False,
        timestamp: str | None = None,
    ) -> JSON:
        st = self.state
        payload = rec.payload
        user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        metadata = {
            "id": str(rec.id),
            "type": payload["type"],
            "user": user,
            "authorizing_integration_owners": payload["authorizing_integration_owners"],
        }
        if rec.original is not None and message_type != 20:
            metadata["original_response_message_id"] = rec.original["id"]
        return payloads.message(
            message_id=message_id,
            channel_id=int(payload["channel_id"]),
            author=st.bot_user,
            body={**body, "flags": flags},
            message_type=message_type,
            application_id=st.application_id,
            interaction=metadata,
            attachments=attachments,
            edited=edited,
            timestamp=timestamp,
        )

    def _merge_edit(
        self, rec: InteractionRecord, old: JSON, body: Mapping[str, Any], files: Sequence[UploadedFile]
    ) -> JSON:
        loading = bool(int(old.get("flags") or 0) & LOADING)
        keep_ids = {str(a.get("id")) for a in body.get("attachments") or [] if isinstance(a, Mapping)}
        attachments = old.get("attachments") or []
        if "attachments" in body:
            attachments = [a for a in attachments if a["id"] in keep_ids]
        attachments = [*attachments, *self._attachments(rec, body, files)]
        merged: JSON = {k: old[k] for k in ("content", "embeds", "components") if k in old}
        merged.update({k: body[k] for k in ("content", "embeds", "components") if k in body and body[k] is not None})
        flags = int(old.get("flags") or 0) & ~LOADING
        new = self._message(
            rec,
            merged,
            message_id=int(old["id"]),
            flags=flags,
            attachments=attachments,
            message_type=int(old["type"]),
            edited=not loading,
            timestamp=str(old["timestamp"]),
        )
        if "interaction_metadata" in old:
            new["interaction_metadata"] = old["interaction_metadata"]
        return new

    # ------------------------------------------------------------------ callback

    def on_deadline(self, rec: InteractionRecord) -> None:
        """Timer: the deadline passed; note it if nothing answered."""
        rec.deadline_handle = None
        if not rec.callbacks:
            rec.errors.append(f"no initial response within {self.state.interaction_deadline:g} s")
            rec.changed()

    def callback(
        self,
        interaction_id: int,
        token: str,
        body: Any,
        files: Sequence[UploadedFile],
        *,
        with_response: bool,
    ) -> Result:
        """``POST /interactions/{id}/{token}/callback``."""
        rec = self.state.interactions.get(interaction_id)
        if rec is None or rec.token != token:
            return _UNKNOWN_INTERACTION
        if not isinstance(body, Mapping) or "type" not in body:
            return self._fail(
                rec,
                "callback without a type",
                (400, _form_error("type", "BASE_TYPE_REQUIRED", "This field is required")),
            )
        ctype = int(body["type"])
        if rec.callbacks:
            return self._fail(rec, f"second initial response (type {ctype})", _ALREADY_ACKED)
        if rec.delivered_at is None or self._now() > rec.delivered_at + self.state.interaction_deadline:
            return self._fail(
                rec, f"initial response after {self.state.interaction_deadline:g} s deadline", _UNKNOWN_INTERACTION
            )
        itype = int(rec.payload["type"])
        if ctype not in _ALLOWED_CALLBACKS.get(itype, frozenset()):
            return self._fail(
                rec,
                f"callback type {ctype} is invalid for interaction type {itype}",
                (
                    400,
                    payloads.error_body(
                        50035,
                        "Invalid Form Body",
                        {
                            "type": {
                                "_errors": [
                                    {
                                        "code": "INTERACTION_CALLBACK_TYPE_INVALID",
                                        "message": "Interaction callback type is invalid.",
                                    }
                                ]
                            }
                        },
                    ),
                ),
            )
        data: Mapping[str, Any] = body.get("data") or {}
        if ctype == 4:
            invalid = validate_message(data, creating=True, files=len(files))
            if invalid is not None:
                return self._fail(rec, f"initial response rejected: {invalid[0]}", (400, invalid[1]))
        if ctype == 8 and len(data.get("choices") or []) > 25:
            return self._fail(
                rec,
                "more than 25 autocomplete choices",
                (400, _form_error("choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")),
            )

        rec.callbacks.append(dict(body))
        rec.uploads.extend(files)
        rec.responded_at = self._now()
        if rec.deadline_handle is not None:
            rec.deadline_handle.cancel()
            rec.deadline_handle = None
        ephemeral = int(data.get("flags") or 0) & EPHEMERAL
        if ctype in {4, 5}:
            flags = int(data.get("flags") or 0) if ctype == 4 else ephemeral | LOADING
            rec.original = self._message(
                rec,
                data if ctype == 4 else {},
                message_id=self.state.ids.next(),
                flags=flags,
                attachments=self._attachments(rec, data, files) if ctype == 4 else [],
                message_type=20,
            )
        rec.changed()
        if not with_response:
            return 204, None
        interaction: JSON = {
            "id": str(rec.id),
            "type": itype,
            "response_message_loading": ctype == 5,
            "response_message_ephemeral": bool(ephemeral),
        }
        answer: JSON = {"interaction": interaction}
        if rec.original is not None and ctype in {4, 5}:
            interaction["response_message_id"] = rec.original["id"]
        if rec.original is not None and ctype == 4:
            # Discord's docs: the resource's message "only present if type is either 4 or 7"; the document
            # describes no resource for a deferral or an autocomplete result.
            answer["resource"] = {"type": ctype, "message": rec.original}
        return 200, answer

    # ------------------------------------------------------------------ webhook

    def _webhook_record(self, application_id: int, token: str, action: str) -> InteractionRecord | Result:
        """The interaction behind a webhook token, or Discord's answer for an unknown or invalid token.

        The token dies 3 s after delivery without an initial response (Discord's docs: "the token will be
        invalidated") and ``token_lifetime`` (15 min) after delivery in any case: then 401 code 50027.
        """
        st = self.state
        rec = st.interactions_by_token.get(token)
        if rec is None or application_id != st.application_id:
            return _UNKNOWN_WEBHOOK
        if rec.delivered_at is None:
            return rec
        age = self._now() - rec.delivered_at
        if not rec.callbacks and age > st.interaction_deadline:
            return self._fail(
                rec,
                f"{action} with a token invalidated: no initial response within {st.interaction_deadline:g} s",
                _INVALID_TOKEN,
            )
        if age > st.token_lifetime:
            return self._fail(
                rec, f"{action} after the interaction token expired ({st.token_lifetime:g} s)", _INVALID_TOKEN
            )
        return rec

    def _resolve_message(self, rec: InteractionRecord, message: str) -> tuple[str, JSON] | None:
        if message == "@original" or (rec.original is not None and message == rec.original["id"]):
            if rec.original is None or rec.original_deleted:
                return None
            return "@original", rec.original
        try:
            mid = int(message)
        except ValueError:
            return None
        found = rec.followup_messages.get(mid)
        return (str(mid), found) if found is not None else None

    def get_message(self, application_id: int, token: str, message: str) -> Result:
        """``GET /webhooks/{app}/{token}/messages/{message}``."""
        rec = self._webhook_record(application_id, token, f"GET {message}")
        if not isinstance(rec, InteractionRecord):
            return rec
        found = self._resolve_message(rec, message)
        return (200, found[1]) if found is not None else _UNKNOWN_MESSAGE

    def edit_message(
        self,
        application_id: int,
        token: str,
        message: str,
        body: Any,
        files: Sequence[UploadedFile],
    ) -> Result:
        """``PATCH /webhooks/{app}/{token}/messages/{message}`` (``@original`` or a follow-up id)."""
        rec = self._webhook_record(application_id, token, f"edit of {message}")
        if not isinstance(rec, InteractionRecord):
            return rec
        if not isinstance(body, Mapping):
            body = {}
        found = self._resolve_message(rec, message)
        if found is None:
            what = "before the initial response" if not rec.callbacks else "of an unknown or deleted message"
            return self._fail(rec, f"edit of {message} {what}", _UNKNOWN_MESSAGE)
        invalid = validate_message(body, creating=False, files=len(files))
        if invalid is not None:
            return self._fail(rec, f"edit rejected: {invalid[0]}", (400, invalid[1]))
        key, old = found
        new = self._merge_edit(rec, old, body, files)
        rec.uploads.extend(files)
        if key == "@original":
            rec.original = new
            rec.edits.append(dict(body))
        else:
            rec.followup_messages[int(key)] = new
            rec.edits.append({**body, "_message_id": key})
        rec.changed()
        return 200, new

    def delete_message(self, application_id: int, token: str, message: str) -> Result:
        """``DELETE /webhooks/{app}/{token}/messages/{message}``."""
        rec = self._webhook_record(application_id, token, f"delete of {message}")
        if not isinstance(rec, InteractionRecord):
            return rec
        found = self._resolve_message(rec, message)
        if found is None:
            return _UNKNOWN_MESSAGE
        if found[0] == "@original":
            rec.original_deleted = True
        else:
            del rec.followup_messages[int(found[0])]
        rec.changed()
        return 204, None

    def followup(
        self,
        application_id: int,
        token: str,
        body: Any,
        files: Sequence[UploadedFile],
        *,
        wait: bool,
    ) -> Result:
        """``POST /webhooks/{app}/{token}``: a follow-up (the first after a deferral fills the loading message)."""
        rec = self._webhook_record(application_id, token, "follow-up")
        if not isinstance(rec, InteractionRecord):
            return rec
        if not isinstance(body, Mapping):
            body = {}
        if not rec.callbacks:
            return self._fail(rec, "follow-up before the initial response", _UNKNOWN_WEBHOOK)
        invalid = validate_message(body, creating=True, files=len(files))
        if invalid is not None:
            return self._fail(rec, f"follow-up rejected: {invalid[0]}", (400, invalid[1]))
        rec.followups.append(dict(body))
        rec.uploads.extend(files)
        original = rec.original
        if original is not None and not rec.original_deleted and int(original.get("flags") or 0) & LOADING:
            # Discord: after a deferral, the first follow-up becomes the response (keeps the deferral's flags).
            new = self._merge_edit(rec, original, body, files)
            rec.original = new
        else:
            flags = int(body.get("flags") or 0) & (EPHEMERAL | (1 << 2) | (1 << 12))
            new = self._message(
                rec,
                body,
                message_id=self.state.ids.next(),
                flags=flags,
                attachments=self._attachments(rec, body, files),
                message_type=0,
            )
            rec.followup_messages[int(new["id"])] = new
        rec.changed()
        return (200, new) if wait else (204, None)
