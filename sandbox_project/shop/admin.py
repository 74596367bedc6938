"""Django admin for the sandbox shop, with django-simple-history's history view on every model
and, on customers, subscriptions and orders, what the agent did to each (AgentHistoryMixin).

Humans see the raw data here (the admin is not an agent); secrets are shown
read-only so nobody edits a password hash or an API token by accident.
"""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ormai_django.admin import AgentHistoryMixin
from sandbox_project.shop.models import Customer, Note, Order, Subscription


@admin.register(Customer)
class CustomerAdmin(AgentHistoryMixin, SimpleHistoryAdmin):
    list_display = (
        "id",
        "name",
        "tenant_id",
        "email",
        "preferred_language",
        "is_vip",
        "created_at",
    )
    list_filter = ("tenant_id", "is_vip", "preferred_language")
    search_fields = ("=id", "name", "preferred_name", "email", "phone")
    readonly_fields = ("password_hash", "api_token")
    date_hierarchy = "created_at"
    ordering = ("id",)


@admin.register(Subscription)
class SubscriptionAdmin(AgentHistoryMixin, SimpleHistoryAdmin):
    list_display = (
        "id",
        "customer",
        "tenant_id",
        "plan",
        "status",
        "seats",
        "monthly_price",
        "renews_on",
    )
    list_filter = ("tenant_id", "status", "plan")
    search_fields = ("=id", "customer__name", "customer__email")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    ordering = ("id",)


@admin.register(Order)
class OrderAdmin(AgentHistoryMixin, SimpleHistoryAdmin):
    list_display = ("id", "customer", "tenant_id", "status", "total", "created_at", "shipped_at")
    list_filter = ("tenant_id", "status", "currency")
    search_fields = ("=id", "customer__name", "customer__email")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")

    @admin.display(description="total", ordering="total_cents")
    def total(self, obj: Order) -> str:
        return f"{obj.total_cents / 100:,.2f} {obj.currency}"


@admin.register(Note)
class NoteAdmin(SimpleHistoryAdmin):
    # The admin shows soft-deleted notes too (agents never see them); filter them out here.
    list_display = ("id", "customer", "tenant_id", "author_email", "created_at", "deleted_at")
    list_filter = ("tenant_id", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("=id", "body", "author_email", "customer__name")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
