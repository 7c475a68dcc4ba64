"""/dataset add and /dataset list: files members share, stored on disk and sent to ORA by a durable job."""

import aiohttp

from ora.core.assembly import FeatureStart
from ora.core.config import Settings
from ora.core.downloads import UrlPolicy
from ora.core.feature import Feature, Service, Strings
from ora.core.interactions import InteractionLedger
from ora.core.jobs import JobQueue
from ora.core.ora_api import OraApiClient
from ora.core.replicas import Presence
from ora.core.store import Schema
from ora.core.store.leases import Leases
from ora.features.datasets import strings
from ora.features.datasets.commands import loader
from ora.features.datasets.queries import DatasetQueries
from ora.features.datasets.service import DatasetService
from ora.features.datasets.settings import SECTION, DatasetSettings
from ora.features.datasets.uploads import Uploads


async def make_service(
    queries: DatasetQueries,
    leases: Leases,
    jobs: JobQueue,
    datasets: DatasetSettings,
    settings: Settings,
    http: aiohttp.ClientSession,
    presence: Presence,
    ora: OraApiClient | None,
) -> DatasetService:
    service = DatasetService(
        queries,
        leases,
        jobs,
        datasets,
        ora_enabled=ora is not None,
        url_policy=UrlPolicy.for_discord(settings.discord_rest_url),
        session=http,
        incoming=presence.replica.folder_name,
    )
    await service.start(await presence.live_owners())
    return service


async def start(ctx: FeatureStart) -> None:
    service = await ctx.get(DatasetService)
    presence = await ctx.get(Presence)

    async def remove_stale_downloads() -> int:
        return await service.remove_stale_downloads(await presence.live_owners())

    ctx.add_purge("downloads of stopped processes", remove_stale_downloads)
    ora = await ctx.get_optional(OraApiClient)
    if ora is not None:  # without ORA the upload jobs wait (pending) until it is configured
        jobs = await ctx.get(JobQueue)
        uploads = Uploads(await ctx.get(DatasetQueries), service, ora, jobs, await ctx.get(InteractionLedger))
        jobs.register(uploads.job_type())


feature = Feature(
    name="datasets",
    loader=loader,
    strings=Strings(en=strings.EN, ja=strings.JA),
    settings=SECTION,
    schema=Schema("datasets", __name__),
    services=[
        Service(type=DatasetQueries, factory=DatasetQueries),
        Service(type=DatasetService, factory=make_service, teardown=DatasetService.close, eager=True),
    ],
    start=start,
)
