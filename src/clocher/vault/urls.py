from django.urls import path, re_path

from clocher.vault import import_views, views
from clocher.vault.dav import nextcloud

app_name = "vault"
urlpatterns = [
    path("c/<str:insee>/coffre/", views.home, name="home"),
    path("c/<str:insee>/coffre/dossiers/<int:node_id>/", views.folder, name="folder"),
    path("c/<str:insee>/coffre/dossiers/<int:node_id>/envoyer", views.upload, name="upload"),
    path(
        "c/<str:insee>/coffre/dossiers/<int:node_id>/nouveau-dossier",
        views.create_folder,
        name="create_folder",
    ),
    path(
        "c/<str:insee>/coffre/dossiers/<int:node_id>/importer",
        import_views.import_zip,
        name="import_zip",
    ),
    path(
        "c/<str:insee>/coffre/imports/<int:import_id>/",
        import_views.import_status,
        name="import_status",
    ),
    path("c/<str:insee>/coffre/fichiers/<int:node_id>/", views.file, name="file"),
    path(
        "c/<str:insee>/coffre/fichiers/<int:node_id>/telecharger",
        views.download,
        name="download",
    ),
    path("c/<str:insee>/coffre/fichiers/<int:node_id>/apercu.png", views.preview, name="preview"),
    path(
        "c/<str:insee>/coffre/fichiers/<int:node_id>/versions/<int:version_id>/restaurer",
        views.version_restore,
        name="version_restore",
    ),
    path("c/<str:insee>/coffre/elements/<int:node_id>/action", views.node_action, name="action"),
    path("c/<str:insee>/coffre/espaces/<int:space_id>/corbeille/", views.trash, name="trash"),
    path(
        "c/<str:insee>/coffre/corbeille/<int:node_id>/action",
        views.trash_action,
        name="trash_action",
    ),
    path(
        "c/<str:insee>/coffre/partages/<int:share_id>/revoquer",
        views.share_revoke,
        name="share_revoke",
    ),
    path("c/<str:insee>/coffre/groupes/", views.groups, name="groups"),
    path(
        "c/<str:insee>/coffre/groupes/<int:space_id>/membres",
        views.group_members,
        name="group_members",
    ),
    path(
        "c/<str:insee>/coffre/groupes/<int:group_id>/renommer",
        views.group_rename,
        name="group_rename",
    ),
    path(
        "c/<str:insee>/coffre/groupes/<int:group_id>/supprimer",
        views.group_remove,
        name="group_remove",
    ),
    path("partage/<str:token>/", views.public_share, name="public_share"),
    path(
        "partage/<str:token>/telecharger/<int:node_id>",
        views.public_download,
        name="public_download",
    ),
    path(
        "partage/<str:token>/apercu/<int:node_id>.png",
        views.public_preview,
        name="public_preview",
    ),
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
