from django.apps import AppConfig


class OrmaiDjangoConfig(AppConfig):
    name = "ormai_django"
    verbose_name = "Agent tools (ormai)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ormai_django import checks

        checks.register()
