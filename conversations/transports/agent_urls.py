from django.urls import path

from conversations.transports import agent_pages

app_name = "agents"

urlpatterns = [
    path("", agent_pages.queue_page, name="queue"),
    path(
        "conversations/<uuid:conversation_id>/", agent_pages.conversation_page, name="conversation"
    ),
    path("dashboard/", agent_pages.dashboard, name="dashboard"),
    path("unanswered/", agent_pages.unanswered, name="unanswered"),
]
