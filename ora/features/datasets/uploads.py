"""The upload of a stored dataset to ORA, as a durable job (`ora.core.jobs`, kind `datasets.upload`).

Whichever process claims the job streams the file to `POST /api/datasets/ingest`: retried on 5xx, 429 and
timeouts with back-off until `ORA_UPLOAD_ATTEMPTS` attempts are used (an attempt a crash cut off counts; one the
bot's own shutdown cut off is given back), final on other answers. The local copy is kept whatever ORA answers.
When the job ends and the /dataset add reply can still be edited (its interaction is recorded and its token
valid), the reply shows the outcome — also after a restart, and from another process than the one that stored
the file.
"""

from __future__ import annotations

import logging
import random
import time

import hikari

from ora.core.interactions import InteractionLedger, RecordedInteraction
from ora.core.jobs import Done, Failed, JobQueue, JobResult, JobType, Retry
from ora.core.ora_api import DatasetUpload, OraApiClient, OraApiError
from ora.core.store.jobs import Job
from ora.features.datasets import messages
from ora.features.datasets.queries import UPLOAD_JOB, DatasetQueries
from ora.features.datasets.service import DatasetService

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


class Uploads:
    def __init__(
        self,
        queries: DatasetQueries,
        service: DatasetService,
        ora: OraApiClient,
        jobs: JobQueue,
        ledger: InteractionLedger | None,
        *,
        retry_delay: float = 1.0,
    ) -> None:
        self._queries = queries
        self._service = service
        self._jobs = jobs
        self._ora = ora
        self._ledger = ledger
        self._retry_delay = retry_delay

    @property
    def attempts(self) -> int:
        return self._service.upload_attempts

    def job_type(self) -> JobType:
        return JobType(
            kind=UPLOAD_JOB,
            run=self.run,
            finished=self.report,
            interrupted=self.report_interrupted,
            concurrency=self._service.settings.upload_concurrency,
        )

    def backoff(self, attempt: int) -> float:
        return min(self._retry_delay * 2.0 ** (attempt - 1), _MAX_BACKOFF) * random.uniform(0.5, 1.0)

    async def run(self, job: Job) -> JobResult:
        dataset_id = int(job.subject)
        record = await self._queries.get(dataset_id)
        if record is None:
            return Failed("the dataset is gone", counted=False)
        if job.attempts > self.attempts:  # a crash cut off the last attempt: this claim tries nothing
            return Failed(job.last_error or "the bot stopped during the last attempt", counted=False)
        upload = DatasetUpload(
            path=self._service.path_of(record),
            filename=record.original_filename,
            name=record.name,
            sha256=record.sha256,
            size=record.size_bytes,
            discord_user_id=record.owner_id,
            guild_id=record.guild_id,
            content_type=record.content_type,
        )
        started = time.monotonic()
        try:
            result = await self._ora.ingest_dataset(upload)
        except OraApiError as error:
            if error.retryable and job.attempts < self.attempts:
                delay = self.backoff(job.attempts)
                log.warning(
                    "dataset %d: ORA upload attempt %d/%d failed (%s); retrying in %.1f s",
                    dataset_id,
                    job.attempts,
                    self.attempts,
                    error.detail,
                    delay,
                )
                return Retry(delay, error.detail)
            log.warning("dataset %d: ORA upload failed after %d attempt(s): %s", dataset_id, job.attempts, error.detail)
            return Failed(error.detail)
        except FileNotFoundError:
            log.warning("dataset %d: the stored file %s is missing", dataset_id, upload.path)
            return Failed("the stored file is missing")
        await self._queries.set_remote_id(dataset_id, result.remote_id)
        elapsed = time.monotonic() - started
        log.info(
            "dataset %d uploaded to ORA as %s (attempt %d, %.2f s)", dataset_id, result.remote_id, job.attempts, elapsed
        )
        return Done()

    async def report(self, job: Job) -> None:
        """Show how the upload ended in the /dataset add reply, while it can be edited."""
        if not job.finished:
            return
        await self._tell(job, None)

    async def report_interrupted(self, job: Job) -> None:
        # The reply may have been attached to the job after this attempt claimed it: read it again.
        current = await self._jobs.get(job.kind, job.subject)
        await self._tell(current or job, "datasets.add.interrupted")

    async def _tell(self, job: Job, key: str | None) -> None:
        if self._ledger is None or job.interaction_id is None:
            return
        recorded = await self._ledger.get(job.interaction_id)
        if recorded is None:
            return
        content = await self.reply_text(recorded, job, key)
        if content is None:
            return
        try:
            await self._ledger.edit(recorded, content)
        except hikari.HikariError as error:
            log.warning("could not show the upload of dataset %s in its reply: %s", job.subject, error)
        if key is None:
            await self._ledger.forget(recorded.interaction_id)

    async def reply_text(self, recorded: RecordedInteraction, job: Job, key: str | None = None) -> str | None:
        """The whole reply: the summary the command showed, then the upload's state (or `key`'s text)."""
        assert self._ledger is not None
        ledger = self._ledger
        record = await self._queries.get(int(job.subject))
        if record is None:
            return None

        def text(name: str, /, **values: object) -> str:
            return ledger.text(recorded, name, **values)

        summary = str(recorded.context.get("summary") or messages.summary(text, record, duplicate=False))
        status = text(key) if key else messages.upload_status(text, record, job, ora_enabled=True)
        return f"{summary}\n{status}"
