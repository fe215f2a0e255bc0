from django.contrib import admin
from django.urls import include, path, re_path

from conversations.transports.api import api, api_not_found

admin.site.site_header = "Supportbot"
admin.site.site_title = "Supportbot"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    path("agents/", include("conversations.transports.agent_urls")),
    path("", include("conversations.transports.urls")),
]
