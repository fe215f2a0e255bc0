from django.urls import path

from conversations.agents import views

app_name = "agents"

urlpatterns = [
    path("", views.queue_page, name="queue"),
    path("conversations/<uuid:conversation_id>/", views.conversation_page, name="conversation"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
