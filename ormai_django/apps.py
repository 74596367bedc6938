from importlib.util import find_spec

from django.apps import AppConfig


class OrmaiDjangoConfig(AppConfig):
    name = "ormai_django"
    verbose_name = "Agent tools (ormai)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from ormai_django import checks

        # Every installed app's agent_tools.py declares its domain tools (@agent_tool).
        autodiscover_modules("agent_tools")
        checks.register()
        if find_spec("celery") is not None:
            # Notifications are posted by a Celery task; the core itself never needs Celery.
            from ormai_django import tasks

            tasks.connect()
