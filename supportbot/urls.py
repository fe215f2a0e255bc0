from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from conversations.transports.api import api, api_not_found

admin.site.site_header = "Supportbot"
admin.site.site_title = "Supportbot"
# The app list beside every page left a conversation list half its width on a laptop (its
# status column scrolled out of sight); the home page and breadcrumbs still lead everywhere.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    # Where a newcomer types the API's address by hand: the docs page.
    re_path(r"^api(?:/|/docs)?$", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("api/", api.urls),
    re_path(r"^api/(?P<path>.*)$", api_not_found),
    path("agents/", include("conversations.transports.agent_urls")),
    path("", include("conversations.transports.urls")),
]
