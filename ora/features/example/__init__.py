"""A minimal feature to copy: /hello greets the user in their language and counts their greetings.

It has every part a feature may have — commands, strings, a setting, a table with its migrations, queries, a
service in dependency injection, a web route — in a few lines each. It is not in `ora.app.FEATURES`: load it
with `ORA_EXTRA_FEATURES=ora.features.example` (the test suite does), or copy the folder and add yours to the list.
"""

from ora.core.assembly import FeatureStart
from ora.core.feature import Feature, Service, Strings
from ora.core.store import Schema
from ora.features.example import strings
from ora.features.example.commands import loader
from ora.features.example.queries import Greetings
from ora.features.example.routes import greeting_routes
from ora.features.example.settings import SECTION


async def start(ctx: FeatureStart) -> None:
    ctx.add_routes(greeting_routes(await ctx.get(Greetings)))


feature = Feature(
    name="example",
    loader=loader,
    strings=Strings(en=strings.EN, ja=strings.JA),
    settings=SECTION,
    schema=Schema("example", __name__),
    services=[Service(type=Greetings, factory=Greetings)],
    start=start,
)
