"""/dataset add and /dataset list.

`add` answers within Discord's window (an early refusal for a declared size over the limit, else a deferral),
lets `DatasetService` download and store the file, shows the result, then waits — never holding anything but
this interaction — for the upload to ORA and edits the message with its outcome. Failures are ephemeral: after a
public deferral the "thinking" message is deleted and the error goes out as an ephemeral follow-up.

An upload the bot's restart interrupts resumes at the next start; the interaction token is not kept across the
restart, so the outcome then shows in `/dataset list` (which shows every upload's state) rather than in the
original message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

import hikari
import lightbulb

from ora.replies import Replies, new_error_id
from ora.services.datasets import (
    AddResult,
    DatasetEntry,
    DatasetError,
    DatasetService,
    UploadOutcome,
)
from ora.store import DatasetRecord
from ora.store.models import UploadState

log = logging.getLogger(__name__)
loader = lightbulb.Loader()

#: Interaction tokens live 15 minutes; stop waiting for ORA a little before so the last edit still works.
EDIT_WINDOW_SECONDS = 14 * 60
LIST_LIMIT = 10
LIST_NAME_CHARS = 60
_MARKDOWN = re.compile(r"([\\*_~`|>#<@\[\]()])")
_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """`512 B`, `1.5 KiB`, `25.0 MiB` (binary units, as file managers show them)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def escape_markdown(text: str) -> str:
    """Show `text` literally in a Discord message (names are user input)."""
    return _MARKDOWN.sub(r"\\\1", text)


def discord_time(timestamp: float) -> str:
    """A timestamp every reader sees in their own time zone and language."""
    return f"<t:{int(timestamp)}:f>"


def _error_text(ctx: lightbulb.Context, replies: Replies, error: DatasetError, error_id: str) -> str:
    values: dict[str, object] = {"error_id": error_id, "size_note": "", "status_note": "", "limit": "?", "used": "?"}
    if error.limit is not None:
        values["limit"] = human_size(error.limit)
    if error.used is not None:
        values["used"] = human_size(error.used)
    if error.size is not None:
        values["size_note"] = replies.text(ctx, "datasets.error.too_large.size_note", size=human_size(error.size))
    if error.status is not None:
        values["status_note"] = replies.text(ctx, "datasets.error.download_failed.status_note", status=error.status)
    return replies.text(ctx, f"datasets.error.{error.code}", **values)


def _status_text(
    ctx: lightbulb.Context, replies: Replies, state: UploadState, remote_id: str | None, error: str | None
) -> str:
    """The upload's end (uploaded or failed); anything else is still on its way to ORA."""
    if state == "uploaded":
        if remote_id:
            # Shown in a code span, where backslash escapes would show literally: only backticks must go.
            return replies.text(ctx, "datasets.status.uploaded", remote_id=remote_id.replace("`", "'"))
        return replies.text(ctx, "datasets.status.uploaded_no_id")
    if state == "failed":
        return replies.text(ctx, "datasets.status.failed", reason=escape_markdown(error or "?"))
    return replies.text(ctx, "datasets.add.upload_later")


def _stored_status(ctx: lightbulb.Context, replies: Replies, datasets: DatasetService, record: DatasetRecord) -> str:
    """What the answer says about ORA when no upload is running for this add."""
    if not datasets.ora_enabled and record.upload_state != "uploaded":
        return replies.text(ctx, "datasets.status.local_only")
    return _status_text(ctx, replies, record.upload_state, record.remote_id, record.upload_error)


def _outcome_text(ctx: lightbulb.Context, replies: Replies, outcome: UploadOutcome | None) -> str:
    if outcome is None:
        return replies.text(ctx, "datasets.add.still_uploading")
    return _status_text(ctx, replies, outcome.state, outcome.remote_id, outcome.error)


def _summary(ctx: lightbulb.Context, replies: Replies, result: AddResult) -> str:
    record = result.record
    name = escape_markdown(record.name)
    if result.duplicate:
        date = discord_time(record.created_at)
        return replies.text(ctx, "datasets.add.duplicate", name=name, size=human_size(record.size_bytes), date=date)
    return replies.text(
        ctx, "datasets.add.stored", name=name, size=human_size(record.size_bytes), sha=record.sha256[:12]
    )


def _list_status(ctx: lightbulb.Context, replies: Replies, datasets: DatasetService, entry: DatasetEntry) -> str:
    record = entry.record
    if record.upload_state == "uploaded":
        return replies.text(ctx, "datasets.list.status.uploaded")
    if record.upload_state == "failed":
        reason = (record.upload_error or "?")[:80]
        return replies.text(ctx, "datasets.list.status.failed", reason=escape_markdown(reason))
    if not datasets.ora_enabled:
        return replies.text(ctx, "datasets.list.status.local_only")
    if entry.uploading and record.upload_state == "pending" and record.upload_error:
        return replies.text(
            ctx,
            "datasets.list.status.retrying",
            attempt=record.upload_attempts,
            attempts=datasets.upload_attempts,
            reason=escape_markdown(record.upload_error[:80]),
        )
    if entry.uploading:
        return replies.text(ctx, "datasets.list.status.uploading")
    return replies.text(ctx, "datasets.list.status.waiting")


def _list_line(ctx: lightbulb.Context, replies: Replies, datasets: DatasetService, entry: DatasetEntry) -> str:
    record: DatasetRecord = entry.record
    name = record.name if len(record.name) <= LIST_NAME_CHARS else record.name[: LIST_NAME_CHARS - 1] + "…"
    return replies.text(
        ctx,
        "datasets.list.line",
        name=escape_markdown(name),
        size=human_size(record.size_bytes),
        date=discord_time(record.created_at),
        status=_list_status(ctx, replies, datasets, entry),
    )


async def _edit(ctx: lightbulb.Context, replies: Replies, content: str) -> None:
    """Replace the deferred (or earlier) answer; a message the user dismissed is not an error worth more."""
    try:
        await replies.edit(ctx, content)
    except hikari.HikariError as error:
        log.warning("could not update the /dataset add answer for user %s: %s", ctx.user.id, error)


async def _fail_after_defer(ctx: lightbulb.Context, replies: Replies, ephemeral: bool, content: str) -> None:
    """An ephemeral failure message even when the deferral was public (its first follow-up would not be)."""
    try:
        await replies.send_private(ctx, content)
    except hikari.HikariError as error:
        log.warning("could not tell user %s that /dataset add failed: %s", ctx.user.id, error)


dataset = lightbulb.Group("commands.dataset.name", "commands.dataset.description", localize=True)
loader.command(dataset)


@dataset.register
class AddDataset(
    lightbulb.SlashCommand,
    name="commands.dataset.add.name",
    description="commands.dataset.add.description",
    localize=True,
):
    file = lightbulb.attachment(
        "commands.dataset.add.options.file.name", "commands.dataset.add.options.file.description", localize=True
    )
    name = lightbulb.string(
        "commands.dataset.add.options.name.name",
        "commands.dataset.add.options.name.description",
        localize=True,
        default=None,
        max_length=100,
    )

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, datasets: DatasetService) -> None:
        started = time.monotonic()
        attachment = self.file
        size_limit = ctx.interaction.attachment_size_limit
        limit = datasets.limit_for(size_limit)
        if attachment.size > limit:  # no need to defer: refuse at once
            log.info("/dataset add by user %s refused: %d bytes > limit %d", ctx.user.id, attachment.size, limit)
            error = DatasetError("too_large", "declared size", limit=limit, size=attachment.size)
            await replies.send(ctx, _error_text(ctx, replies, error, ""), ephemeral=True)
            return
        ephemeral = await replies.defer(ctx)
        try:
            result = await datasets.add(
                owner_id=ctx.user.id,
                guild_id=ctx.guild_id,
                attachment_url=attachment.url,
                declared_size=attachment.size,
                filename=attachment.filename,
                content_type=attachment.media_type,
                name=self.name,
                size_limit=size_limit,
            )
        except DatasetError as error:
            error_id = new_error_id()
            log.info("/dataset add by user %s failed [%s]: %s", ctx.user.id, error_id, error)
            await _fail_after_defer(ctx, replies, ephemeral, _error_text(ctx, replies, error, error_id))
            return
        except Exception:
            error_id = new_error_id()
            log.exception("/dataset add by user %s failed (error id %s)", ctx.user.id, error_id)
            text = replies.text(ctx, "datasets.error.unexpected", error_id=error_id)
            await _fail_after_defer(ctx, replies, ephemeral, text)
            return

        summary = _summary(ctx, replies, result)
        if result.upload is None:
            await _edit(ctx, replies, f"{summary}\n{_stored_status(ctx, replies, datasets, result.record)}")
            return
        waiting = "datasets.add.retrying_upload" if result.duplicate else "datasets.add.uploading"
        await _edit(ctx, replies, f"{summary}\n{replies.text(ctx, waiting)}")
        remaining = max(0.0, EDIT_WINDOW_SECONDS - (time.monotonic() - started))
        try:
            outcome = await result.upload.wait(remaining)
        except asyncio.CancelledError:  # the bot is stopping: say so while the REST client still works
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await _edit(ctx, replies, f"{summary}\n{replies.text(ctx, 'datasets.add.interrupted')}")
            raise
        await _edit(ctx, replies, f"{summary}\n{_outcome_text(ctx, replies, outcome)}")


@dataset.register
class ListDatasets(
    lightbulb.SlashCommand,
    name="commands.dataset.list.name",
    description="commands.dataset.list.description",
    localize=True,
):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, replies: Replies, datasets: DatasetService) -> None:
        try:
            entries = await datasets.list(ctx.user.id, ctx.guild_id, LIST_LIMIT)
        except Exception:
            error_id = new_error_id()
            log.exception("/dataset list by user %s failed (error id %s)", ctx.user.id, error_id)
            await replies.fail(ctx, "datasets.error.list_failed", error_id=error_id)
            return
        if not entries:
            await replies.say(ctx, "datasets.list.empty")
            return
        lines = [replies.text(ctx, "datasets.list.header")]
        lines += [_list_line(ctx, replies, datasets, entry) for entry in entries]
        await replies.send(ctx, "\n".join(lines))
