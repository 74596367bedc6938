import os
from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]

# Slack's interactivity URL is <site>/ormai/slack/interactions/ (the slack extra installed).
if find_spec("slack_sdk") is not None:
    urlpatterns.append(path("ormai/slack/", include("ormai_django.slack.urls")))

# The bare-ORM baseline of manage.py ormai_loadtest: only in the server that command starts.
if os.environ.get("ORMAI_LOADTEST") == "1":
    urlpatterns.append(path("loadtest/", include("sandbox_project.loadtest_urls")))

# Last under its prefix: the API answers every other path below ormai/ with a JSON 404.
urlpatterns.append(path("ormai/", include("ormai_django.api.urls")))
