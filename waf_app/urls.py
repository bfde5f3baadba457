from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("site_management.api.urls")),
]

handler404 = "site_management.api.errors.not_found"
handler500 = "site_management.api.errors.server_error"
