"""/ping, /say and /health: what every bot has."""

from ora.core.feature import Feature, Strings
from ora.features.core_commands import strings
from ora.features.core_commands.commands import loader

feature = Feature(name="core_commands", loader=loader, strings=Strings(en=strings.EN, ja=strings.JA))
