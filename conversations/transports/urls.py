from django.urls import path

from conversations.transports import pages, widget

urlpatterns = [
    path("", pages.demo_store, name="demo-store"),
    path("healthz", pages.healthz, name="healthz"),
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
