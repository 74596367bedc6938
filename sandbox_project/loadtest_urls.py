"""URLs of the load test's baseline endpoint; ``sandbox_project/urls.py`` includes them only
when ``ORMAI_LOADTEST=1`` (the server ``manage.py ormai_loadtest`` starts), so a normal
sandbox doesn't expose them."""

from django.urls import path

from sandbox_project.shop.loadtest.baseline import PlainOrderStatusUpdate

urlpatterns = [
    path("orders/status/", PlainOrderStatusUpdate.as_view(), name="loadtest-order-status"),
]
