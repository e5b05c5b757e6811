from django.urls import path, re_path

from clocher.vault.dav import nextcloud

app_name = "vault"
urlpatterns = [
    # Nextcloud clients' endpoints (the DAV tree itself is WsgiDAV's, see dav/app.py).
    path("status.php", nextcloud.status, name="nc_status"),
    path("ocs/v1.php/cloud/capabilities", nextcloud.capabilities, {"version": 1}, name="ocs1_caps"),
    path("ocs/v2.php/cloud/capabilities", nextcloud.capabilities, {"version": 2}, name="ocs2_caps"),
    path("ocs/v1.php/cloud/user", nextcloud.user_info, {"version": 1}, name="ocs1_user"),
    path("ocs/v2.php/cloud/user", nextcloud.user_info, {"version": 2}, name="ocs2_user"),
    path("index.php/login/v2", nextcloud.login_v2_start, name="login_v2_start"),
    path("index.php/login/v2/poll", nextcloud.login_v2_poll, name="login_v2_poll"),
    path(
        "index.php/login/v2/flow/<str:flow_token>",
        nextcloud.login_v2_flow,
        name="login_v2_flow",
    ),
    re_path(
        r"^remote\.php/dav/uploads/(?P<login>[^/]+)/(?P<transfer>[^/]+)/?$",
        nextcloud.upload_session,
        name="nc_upload_session",
    ),
    re_path(
        r"^remote\.php/dav/uploads/(?P<login>[^/]+)/(?P<transfer>[^/]+)/(?P<part>[^/]+)$",
        nextcloud.upload_part,
        name="nc_upload_part",
    ),
]
