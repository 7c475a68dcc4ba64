"""/dataset add and /dataset list.

`add` answers within Discord's window (an early refusal for a declared size over the limit, else a deferral),
lets `DatasetService` download and store the file, and shows the result. The upload to ORA is a job that any
process may run (`uploads.py`): the reply says it is on its way, and the job edits it with the outcome — after
a restart too, while Discord still accepts edits (15 minutes). Failures are ephemeral: after a public deferral
the "thinking" message is deleted and the error goes out as an ephemeral follow-up.
"""

from __future__ import annotations

import logging

import hikari
import lightbulb

from ora.core.interactions import InteractionLedger
from ora.core.jobs import JobQueue
from ora.core.replies import Replies, new_error_id
from ora.features.datasets import messages
from ora.features.datasets.errors import DatasetError
from ora.features.datasets.queries import UPLOAD_JOB, upload_subject
from ora.features.datasets.service import AddResult, DatasetService

log = logging.getLogger(__name__)
loader = lightbulb.Loader()

FEATURE = "datasets"
LIST_LIMIT = 10


def _text(ctx: lightbulb.Context, replies: Replies) -> messages.Text:
    def text(key: str, /, **values: object) -> str:
        return replies.text(ctx, key, **values)

    return text


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
    async def invoke(
        self,
        ctx: lightbulb.Context,
        replies: Replies,
        datasets: DatasetService,
        jobs: JobQueue,
        ledger: InteractionLedger,
    ) -> None:
        text = _text(ctx, replies)
        attachment = self.file
        size_limit = ctx.interaction.attachment_size_limit
        limit = datasets.limit_for(size_limit)
        if attachment.size > limit:  # no need to defer: refuse at once
            log.info("/dataset add by user %s refused: %d bytes > limit %d", ctx.user.id, attachment.size, limit)
            error = DatasetError("too_large", "declared size", limit=limit, size=attachment.size)
            await replies.send(ctx, messages.error_text(text, error, ""), ephemeral=True)
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
            await _fail_after_defer(ctx, replies, ephemeral, messages.error_text(text, error, error_id))
            return
        except Exception:
            error_id = new_error_id()
            log.exception("/dataset add by user %s failed (error id %s)", ctx.user.id, error_id)
            await _fail_after_defer(ctx, replies, ephemeral, text("datasets.error.unexpected", error_id=error_id))
            return
        await _show_result(ctx, replies, datasets, jobs, ledger, result)


async def _show_result(
    ctx: lightbulb.Context,
    replies: Replies,
    datasets: DatasetService,
    jobs: JobQueue,
    ledger: InteractionLedger,
    result: AddResult,
) -> None:
    text = _text(ctx, replies)
    record, upload = result.record, result.upload
    summary = messages.summary(text, record, duplicate=result.duplicate)
    if not datasets.ora_enabled or upload is None or upload.finished or result.interrupted:
        status = messages.upload_status(text, record, upload, ora_enabled=datasets.ora_enabled)
        await _edit(ctx, replies, f"{summary}\n{status}")
        return
    # The job (in whichever process runs it) edits this reply when it ends: it learns of the reply before the reply
    # says "on its way", so that a crash after that moment cannot leave the reply saying so for ever. If the job
    # ended meanwhile, its edit may come before ours: the state is read again after ours.
    recorded = await ledger.record(ctx.interaction, FEATURE, answering=False, context={"summary": summary})
    if recorded:
        await jobs.attach_interaction(upload, ctx.interaction.id)
    waiting = "datasets.add.retrying_upload" if result.duplicate else "datasets.add.uploading"
    await _edit(ctx, replies, f"{summary}\n{text(waiting)}")
    if not recorded:
        return
    latest = await jobs.get(UPLOAD_JOB, upload_subject(record.id))
    if latest is not None and latest.finished:
        status = messages.upload_status(text, record, latest, ora_enabled=True)
        await _edit(ctx, replies, f"{summary}\n{status}")
        await ledger.forget(ctx.interaction.id)


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
        text = _text(ctx, replies)
        attempts = datasets.upload_attempts
        lines = [text("datasets.list.header")]
        lines += [
            messages.list_line(text, entry, ora_enabled=datasets.ora_enabled, attempts=attempts) for entry in entries
        ]
        await replies.send(ctx, "\n".join(lines))
