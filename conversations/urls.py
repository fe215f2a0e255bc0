from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.demo_store, name="demo-store"),
    path("healthz", views.healthz, name="healthz"),
]
