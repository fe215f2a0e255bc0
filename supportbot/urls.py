from django.contrib import admin
from django.urls import include, path

from conversations.api import api

admin.site.site_header = "Supportbot"
admin.site.site_title = "Supportbot"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("agents/", include("conversations.agents.urls")),
    path("", include("conversations.urls")),
]
