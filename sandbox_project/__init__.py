"""The sandbox project. Its Celery app is loaded with Django, so ``@shared_task``
tasks (ormai_django.tasks) bind to it; without Celery installed the sandbox still runs."""

from importlib.util import find_spec

if find_spec("celery") is not None:
    from .celery import app as celery_app

    __all__ = ["celery_app"]
