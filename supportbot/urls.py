from django.contrib import admin
from django.urls import include, path

from conversations.transports.api import api

admin.site.site_header = "Supportbot"
admin.site.site_title = "Supportbot"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("agents/", include("conversations.transports.agent_urls")),
    path("", include("conversations.transports.urls")),
]
