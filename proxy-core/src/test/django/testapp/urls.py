from django.urls import path

from testapp import views

urlpatterns = [
    path("", views.index),
    path("headers", views.headers),
    path("echo", views.echo),
    path("form", views.form),
    path("healthz", views.healthz),
    path("slow", views.slow),
    path("fail", views.fail),
    path("stream", views.stream),
    path("download", views.download),
    path("static-page", views.static_page),
]
