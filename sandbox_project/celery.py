"""The sandbox's Celery app: a worker with beat expires unanswered approvals.

    celery -A sandbox_project worker --beat -l info

Broker and result backend are Redis (``CELERY_BROKER_URL``, default
``redis://127.0.0.1:6379/0``); the schedule is ``CELERY_BEAT_SCHEDULE`` in the settings.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings")

app = Celery("sandbox_project")
# Every CELERY_* Django setting configures the app (CELERY_BROKER_URL -> broker_url).
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds ormai_django.tasks (and any other installed app's tasks module) lazily.
app.autodiscover_tasks()
