"""``python manage.py seed_sandbox [--reset]``: the sandbox's demo data and admin user."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox_project.shop.seed import (
    ADMIN_PASSWORD,
    ADMIN_URL,
    ADMIN_USERNAME,
    TENANTS,
    ShopNotEmptyError,
    ensure_demo_admin,
    seed_shop,
)


class Command(BaseCommand):
    help = (
        "Fill the sandbox shop with the same demo data every time (two tenants, customers, "
        "subscriptions, orders, notes) and create the demo admin user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the shop's rows and their history first (audit rows are kept).",
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        try:
            summary = seed_shop(reset=reset)
        except ShopNotEmptyError as exc:
            raise CommandError(str(exc)) from None
        ensure_demo_admin()
        tenants = ", ".join(f"{tid} {name!r}" for tid, name in TENANTS.items())
        self.stdout.write(
            f"Seeded tenants {tenants}: {summary.customers} customers, "
            f"{summary.subscriptions} subscriptions, {summary.orders} orders, "
            f"{summary.notes} notes ({summary.soft_deleted_notes} soft-deleted)."
        )
        self.stdout.write(f"Admin login: {ADMIN_USERNAME} / {ADMIN_PASSWORD} at {ADMIN_URL}")
