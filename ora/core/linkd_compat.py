"""Work-around for linkd regenerating a method's dependency resolver on every call (remove once fixed upstream).

lightbulb 3.2 injects services into commands through linkd. linkd (0.6.5 and earlier) wraps each injected
function in an `AutoInjecting` descriptor that code-generates a *resolver* (`_codegen_dependency_func`:
`inspect.signature`, annotation evaluation, `exec`) the first time it is called, and keeps it on itself.
For a method, though, `AutoInjecting.__get__` returns a fresh bound copy carrying the descriptor's resolver,
which is still `None`: the copy generates one, uses it once and is thrown away, and the descriptor never keeps
it. lightbulb makes a new command instance and looks its `invoke` up on every interaction, so every command
with injected parameters pays for the code generation on every call (a third of the bot's CPU per /ping).

`cache_injection_resolvers()` replaces `AutoInjecting.__get__` with one that keeps the resolver on the
descriptor: generated on the first call through any bound copy, then handed to every later copy. This is safe
to share: the resolver depends only on the function's signature (one per descriptor, so one per callable) and
takes the container, the positional offset of `self`, `args` and `kwargs` as arguments. It holds no instance;
each bound copy still carries its own `self`.

Version guard, by behaviour rather than by version number (the fix may land in any release): before patching,
a probe calls a method through one bound copy and checks whether a second copy gets the resolver. If it does,
the installed linkd is fixed; the layer stays off and says so in the log.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from linkd.container import Container
from linkd.solver import AutoInjecting

log = logging.getLogger(__name__)

Resolver = Callable[[Container | None, int, Sequence[Any], Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
_ORIGINAL_GET = "_ora_original_get"


def linkd_version() -> str:
    try:
        return importlib.metadata.version("linkd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_injection_resolvers(cls: type[AutoInjecting] = AutoInjecting) -> bool:
    """Make `cls` keep each method's resolver, unless it already does. Returns whether the layer is on.

    Idempotent. `cls` is linkd's `AutoInjecting` (a subclass in tests).
    """
    if _ORIGINAL_GET in cls.__dict__:
        return True
    try:
        regenerates = resolver_is_regenerated(cls)
    except Exception:
        log.warning(
            "linkd %s: could not check how it caches dependency resolvers; compatibility layer off",
            linkd_version(),
            exc_info=True,
        )
        return False
    if not regenerates:
        log.info(
            "linkd %s keeps injected methods' dependency resolvers: ora.core.linkd_compat is off and can be removed",
            linkd_version(),
        )
        return False
    setattr(cls, _ORIGINAL_GET, cls.__dict__.get("__get__"))  # None: inherited
    setattr(cls, "__get__", _binding_with_cached_resolver(cls))  # noqa: B010  # a dunder: mypy rejects `cls.__get__ =`
    log.info(
        "linkd %s regenerates the dependency resolver of an injected method on every call: "
        "ora.core.linkd_compat caches it per method",
        linkd_version(),
    )
    return True


def remove_injection_resolver_cache(cls: type[AutoInjecting] = AutoInjecting) -> None:
    """Undo `cache_injection_resolvers(cls)` (for tests)."""
    if _ORIGINAL_GET not in cls.__dict__:
        return
    original = cls.__dict__[_ORIGINAL_GET]
    delattr(cls, _ORIGINAL_GET)
    if original is None:
        delattr(cls, "__get__")
    else:
        setattr(cls, "__get__", original)  # noqa: B010


def resolver_is_regenerated(cls: type[AutoInjecting]) -> bool:
    """Whether a method called through one bound copy of `cls` leaves a later bound copy without its resolver."""

    class Probe:
        async def method(self) -> None:
            return None

    descriptor = cls(Probe.method)
    _run_without_suspending(descriptor.__get__(Probe(), Probe)())
    return descriptor.__get__(Probe(), Probe)._dependency_func is None


def _run_without_suspending(awaitable: Awaitable[Any]) -> None:
    """Drive a coroutine that never waits on anything (the probe has no dependencies) to its end."""
    if not isinstance(awaitable, Coroutine):
        raise TypeError(f"expected a coroutine, got {type(awaitable).__name__}")
    try:
        awaitable.send(None)
    except StopIteration:
        return
    awaitable.close()
    raise RuntimeError("the probe call suspended; it should finish at once")


def _binding_with_cached_resolver(cls: type[AutoInjecting]) -> Callable[..., AutoInjecting]:
    def get(self: AutoInjecting, instance: object, owner: type[Any] | None = None) -> AutoInjecting:
        if instance is None:
            return self
        if self._dependency_func is None:
            self._dependency_func = _generate_on_first_call(self)
        return cls(self._func, instance, self._dependency_func)

    return get


def _generate_on_first_call(descriptor: AutoInjecting) -> Resolver:
    """Stands in for the resolver until the first call generates it (on the call, as linkd itself does)."""

    async def resolve(
        container: Container | None, offset: int, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        resolver = descriptor._dependency_func
        if resolver is None or resolver is resolve:
            resolver = descriptor._codegen_dependency_func()
            descriptor._dependency_func = resolver
        return await resolver(container, offset, args, kwargs)

    return resolve
