from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "sandbox_project.shop"
    label = "shop"
    verbose_name = "Sandbox shop"
