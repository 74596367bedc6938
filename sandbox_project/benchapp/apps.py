from django.apps import AppConfig


class BenchAppConfig(AppConfig):
    name = "sandbox_project.benchapp"
    label = "benchapp"
    verbose_name = "ormai_bench (django-pghistory)"
    default_auto_field = "django.db.models.BigAutoField"
