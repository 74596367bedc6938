"""The Slack endpoint, for the project's urls.py:

    path("ormai/slack/", include("ormai_django.slack.urls")),

Slack's interactivity request URL is then ``https://<host>/ormai/slack/interactions/``.
"""

from django.urls import path

from ormai_django.slack import views

app_name = "ormai_slack"

urlpatterns = [
    path("interactions/", views.interactions, name="interactions"),
]
