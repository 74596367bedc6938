"""Model names: a class, ``"app_label.Model"`` or a case-insensitive class name."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


class ModelNameError(LookupError):
    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


def model_label(model: type[models.Model]) -> str:
    return model._meta.label


def resolve_model(
    name: str | type[models.Model], candidates: Iterable[type[models.Model]]
) -> type[models.Model]:
    """Find ``name`` among ``candidates``; raise ``ModelNameError`` if unknown or ambiguous."""
    candidates = list(candidates)
    if isinstance(name, type) and issubclass(name, models.Model):
        if name in candidates:
            return name
        raise ModelNameError(f"model {name._meta.label} is not among the registered models")
    if not isinstance(name, str) or not name:
        raise ModelNameError(f"a model name must be a non-empty string, not {name!r}")
    wanted = name.lower()
    if "." in wanted:
        found = [m for m in candidates if m._meta.label_lower == wanted]
    else:
        found = [m for m in candidates if m._meta.model_name == wanted]
    if not found:
        raise ModelNameError(f"unknown model {name!r}")
    if len(found) > 1:
        labels = ", ".join(sorted(m._meta.label for m in found))
        raise ModelNameError(
            f"model name {name!r} is ambiguous ({labels}); use app_label.Model", ambiguous=True
        )
    return found[0]
