from django.urls import path

from conversations.transports import agent_pages

app_name = "agents"

urlpatterns = [
    path("", agent_pages.queue_page, name="queue"),
    path(
        "conversations/<uuid:conversation_id>/", agent_pages.conversation_page, name="conversation"
    ),
    path(
        "conversations/<uuid:conversation_id>/customer/",
        agent_pages.customer_panel_page,
        name="customer-panel",
    ),
    path(
        "conversations/<uuid:conversation_id>/saved-replies/",
        agent_pages.saved_replies,
        name="saved-replies",
    ),
    path("avatars/<int:user_id>/", agent_pages.agent_avatar, name="avatar"),
    path("dashboard/", agent_pages.dashboard, name="dashboard"),
    path("unanswered/", agent_pages.unanswered, name="unanswered"),
]
