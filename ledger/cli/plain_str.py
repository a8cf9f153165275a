"""Typer's `str` parameters without pydantic: the value the command line gives is already the answer.

Typer (0.2x) coerces every parameter's value through a pydantic `TypeAdapter`, built the first time
the parameter is parsed, so even `ledger projections status --format table` imported pydantic:
about a third of that command's start-up (issue 12). For a plain `str` parameter (no `parser=`, no
file) typer's adapter runs `str(value)` and then pydantic's `str` check, which give back exactly
the `str` the command line, an environment variable or the default gave. `install()` makes those
parameters return such a value as it is, and defers building typer's own coercion (adapter, file
or pass-through, chosen by typer) until a value needs it: anything else given to a `str` parameter,
and any value of another annotation (int, float, bool, Path, Enum, lists…). A missing value (None)
needs none: typer's `coerce` answers it before asking the adapter. So what a command receives and
every error message stay typer's.

This leans on typer's private `typer.core.build_runtime_param`; when a typer release moves it,
`install()` does nothing and the CLI is as fast as typer makes it (tests/unit/test_cli_startup.py
then fails, saying pydantic came back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def install() -> None:
    try:
        import typer.core as core
        from typer._coercion import RuntimeParam, TypeDescriptor
    except ImportError:  # another typer: leave its coercion alone
        return
    found = getattr(core, "build_runtime_param", None)
    if found is None or getattr(found, "plain_str", False):  # moved, or installed already
        return
    typers_own: Callable[[TypeDescriptor], Any] = found

    @dataclass(frozen=True)
    class Deferred(RuntimeParam):
        """Typer's coercion of one parameter, built when a value first needs it: never for a plain
        `str` parameter given a `str`, nor for a value that is missing (typer's `coerce` answers
        None or () for those without asking its adapter)."""

        descriptor: TypeDescriptor
        built: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is str and self.plain:
                return value
            if not self.built:
                self.built.append(typers_own(self.descriptor))
            return self.built[0]._coerce_value(value, param=param, ctx=ctx)

        @property
        def plain(self) -> bool:
            d = self.descriptor
            return d.annotation is str and d.file_annotation is None and d.parameter_info.parser is None

    def build_runtime_param(descriptor: TypeDescriptor) -> Any:
        try:
            return Deferred(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                            descriptor=descriptor)
        except (AttributeError, TypeError):  # typer's RuntimeParam changed shape: its own coercion
            return typers_own(descriptor)

    build_runtime_param.plain_str = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param
