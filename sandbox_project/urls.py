import os

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ormai/", include("ormai_django.api.urls")),
]

# The bare-ORM baseline of manage.py ormai_loadtest: only in the server that command starts.
if os.environ.get("ORMAI_LOADTEST") == "1":
    urlpatterns.append(path("loadtest/", include("sandbox_project.loadtest_urls")))
