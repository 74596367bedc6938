"""factory-boy factories for every model of the sandbox. Tenant 7 unless told otherwise."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from sandbox_project.shop.models import Customer, Note, Order, Refund, Subscription


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    tenant_id = 7
    name = factory.Faker("name")
    preferred_name = ""
    preferred_language = "en"
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1 415 555 {n:04d}")
    password_hash = factory.Sequence(lambda n: f"pbkdf2_sha256$secret{n}")
    api_token = factory.Sequence(lambda n: f"tok_{n:08d}")
    is_vip = False
    created_at = factory.LazyFunction(timezone.now)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    tenant_id = factory.SelfAttribute("customer.tenant_id")
    plan = "basic"
    status = "active"
    seats = 1
    monthly_price = Decimal("29.00")
    renews_on = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=30))


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    tenant_id = factory.SelfAttribute("customer.tenant_id")
    status = "pending"
    total_cents = 4_200
    currency = "EUR"
    created_at = factory.LazyFunction(timezone.now)
    shipped_at = None


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    customer = factory.SubFactory(CustomerFactory)
    tenant_id = factory.SelfAttribute("customer.tenant_id")
    body = factory.Faker("sentence")
    author_email = factory.Sequence(lambda n: f"agent{n}@support.example.com")
    created_at = factory.LazyFunction(timezone.now)
    deleted_at = None


class RefundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Refund

    order = factory.SubFactory(OrderFactory, status="paid")
    tenant_id = factory.SelfAttribute("order.tenant_id")
    amount_cents = 1_000
    reason = "Arrived broken"
    created_at = factory.LazyFunction(timezone.now)
    reversed_at = None


class UserFactory(factory.django.DjangoModelFactory):
    """A Django user; ``UserFactory(approver=True)`` holds the approve permission."""

    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@shop.test")
    is_active = True

    @factory.post_generation
    def approver(user, create, extracted, **kwargs):
        if extracted:
            from django.contrib.auth.models import Permission

            user.user_permissions.add(Permission.objects.get(codename="approve_approvalrequest"))
