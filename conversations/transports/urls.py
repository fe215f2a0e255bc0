from django.urls import path

from conversations.transports import help_pages, pages, widget

urlpatterns = [
    path("", pages.demo_store, name="demo-store"),
    path("healthz", pages.healthz, name="healthz"),
    path("help/<slug:bot_slug>/", help_pages.help_center, name="help-center"),
    path("help/<slug:bot_slug>/<int:article_id>/", help_pages.help_article, name="help-article"),
    path("widget/demo", widget.demo_embed, name="widget-demo"),
    path("widget/<str:public_key>/session", widget.session, name="widget-session"),
    path(
        "widget/<str:public_key>/attachments",
        widget.attachment_upload,
        name="widget-attachment-upload",
    ),
    path(
        "widget/<str:public_key>/attachments/<uuid:attachment_id>",
        widget.attachment_content,
        name="widget-attachment",
    ),
]
